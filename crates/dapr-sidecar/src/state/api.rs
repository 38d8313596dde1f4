//! HTTP handlers of the State API, following daprd `pkg/api/http/http.go` (`onGetState`,
//! `onPostState`, `onDeleteState`, `onBulkGetState`, `onPostStateTransaction`) and the
//! components-contrib in-memory store for what the store itself checks (options, TTL, etags).

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use super::{Concurrency, StateStore, StateStoreConfig, WriteOp, storage_key};
use crate::Clock;
use crate::error::{ApiError, StoreError, empty_response, json_response};
use crate::faults::Faults;
use crate::go_json::decode::{self as go_decode, GoType};
use crate::go_json::{self, Numbers};
use crate::request::ApiRequest;

/// Everything a state handler needs: the resolved store and who is calling.
pub(crate) struct StateContext<'a> {
    pub config: &'a StateStoreConfig,
    pub store: &'a dyn StateStore,
    pub app_id: &'a str,
    pub clock: &'a dyn Clock,
    pub faults: &'a Faults,
}

impl StateContext<'_> {
    fn key(&self, key: &str) -> Result<String, ApiError> {
        storage_key(self.config, self.app_id, key)
    }

    /// Runs a write through fault injection and the store.
    fn write(&self, ops: &[WriteOp]) -> Result<(), StoreError> {
        if self.faults.take_state_write_failure() {
            return Err(StoreError::Other("injected state store failure".into()));
        }
        self.store.apply(ops, self.clock.now())
    }
}

// The Go types daprd decodes state bodies into, for Go's decoding rules (`go_json::decode`).
// The Rust structs below carry the same JSON names.

/// components-contrib `state.SetStateOption` / `DeleteStateOption`: `Concurrency string
/// json:"concurrency,omitempty"`, `Consistency string json:"consistency"`.
const GO_STATE_OPTION: GoType = GoType::Struct(
    "SetStateOption",
    &[
        ("concurrency", GoType::String),
        ("consistency", GoType::String),
    ],
);

/// components-contrib `state.SetRequest`: `Key string json:"key"`, `Value any json:"value"`,
/// `ETag *string json:"etag,omitempty"`, `Metadata map[string]string json:"metadata,omitempty"`,
/// `Options SetStateOption json:"options,omitempty"`, `ContentType *string
/// json:"contentType,omitempty"`.
const GO_SET_REQUEST: GoType = GoType::Struct(
    "SetRequest",
    &[
        ("key", GoType::String),
        ("value", GoType::Any),
        ("etag", GoType::Ptr(&GoType::String)),
        ("metadata", GoType::Map(&GoType::String)),
        ("options", GO_STATE_OPTION),
        ("contentType", GoType::Ptr(&GoType::String)),
    ],
);

/// `onPostState` decodes `[]state.SetRequest`.
const GO_SAVE_BODY: GoType = GoType::Slice(&GO_SET_REQUEST);

/// components-contrib `state.DeleteRequest`: `Key string json:"key"`, `ETag *string
/// json:"etag,omitempty"`, `Metadata map[string]string json:"metadata"`, `Options
/// DeleteStateOption json:"options,omitempty"`.
const GO_DELETE_REQUEST: GoType = GoType::Struct(
    "DeleteRequest",
    &[
        ("key", GoType::String),
        ("etag", GoType::Ptr(&GoType::String)),
        ("metadata", GoType::Map(&GoType::String)),
        ("options", GO_STATE_OPTION),
    ],
);

/// daprd `pkg/api/http/requests.go` `BulkGetRequest`: `Metadata map[string]string
/// json:"metadata"`, `Keys []string json:"keys"`, `Parallelism int json:"parallelism"`.
const GO_BULK_GET_REQUEST: GoType = GoType::Struct(
    "BulkGetRequest",
    &[
        ("metadata", GoType::Map(&GoType::String)),
        ("keys", GoType::Slice(&GoType::String)),
        ("parallelism", GoType::Number("int")),
    ],
);

/// daprd `stateTransactionRequestBody`: `Operations []stateTransactionRequestBodyOperation
/// json:"operations"`, `Metadata map[string]string json:"metadata,omitempty"`; an operation is
/// `Operation string json:"operation"`, `Request interface{} json:"request"` (then decoded into
/// `SetRequest` / `DeleteRequest` with `mapstructure`, which matches names the same way).
const GO_TRANSACTION_REQUEST: GoType = GoType::Struct(
    "stateTransactionRequestBody",
    &[
        (
            "operations",
            GoType::Slice(&GoType::Struct(
                "stateTransactionRequestBodyOperation",
                &[("operation", GoType::String), ("request", GoType::Any)],
            )),
        ),
        ("metadata", GoType::Map(&GoType::String)),
    ],
);

#[derive(Debug, Default, Deserialize)]
struct WriteOptions {
    #[serde(default)]
    concurrency: Option<String>,
    #[serde(default)]
    consistency: Option<String>,
}

/// One item of a save, or the `request` of a transaction upsert (`state.SetRequest`).
#[derive(Debug, Deserialize)]
struct SetRequest {
    #[serde(default)]
    key: Option<String>,
    /// Moved in by [`set_request`], not deserialized (`go_decode::split_field`).
    #[serde(skip)]
    value: Value,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    options: Option<WriteOptions>,
}

/// The `request` of a transaction delete (`state.DeleteRequest`).
#[derive(Debug, Deserialize)]
struct DeleteRequest {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // deletes take no TTL; accepted like daprd
    metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    options: Option<WriteOptions>,
}

#[derive(Debug, Default, Deserialize)]
struct BulkGetRequest {
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)] // accepted like daprd; an in-memory read needs no parallelism
    parallelism: Option<i64>,
    #[serde(default)]
    #[allow(dead_code)]
    metadata: Option<BTreeMap<String, String>>,
}

/// A transaction operation (`stateTransactionRequestBodyOperation`) but for its `request`,
/// which [`go_decode::split_field`] moves out. (The body's request-level `metadata` goes to the
/// store; the sidecar's stores ignore it, so the body is not deserialized beyond
/// `operations`.)
#[derive(Debug, Deserialize)]
struct TransactionOperation {
    #[serde(default)]
    operation: String,
}

/// A `state.SetRequest` from its decoded tree, its value moved in.
fn set_request(tree: Value) -> Result<SetRequest, String> {
    let (mut item, value): (SetRequest, _) = go_decode::split_field(tree, "value")?;
    item.value = value.unwrap_or(Value::Null);
    Ok(item)
}

/// The elements of a decoded slice (`Null`: a nil or absent slice).
fn elements(tree: Value) -> Vec<Value> {
    match tree {
        Value::Array(items) => items,
        _ => Vec::new(),
    }
}

/// `state.CheckRequestOptions`: the store rejects unknown option values (a 500, not a 400).
fn check_options(concurrency: &str, consistency: &str) -> Result<Concurrency, StoreError> {
    if !matches!(consistency, "" | "eventual" | "strong") {
        return Err(StoreError::Other(format!(
            "unrecognized consistency model '{consistency}'"
        )));
    }
    match concurrency {
        "" | "last-write" => Ok(Concurrency::LastWrite),
        "first-write" => Ok(Concurrency::FirstWrite),
        other => Err(StoreError::Other(format!(
            "unrecognized concurrency model '{other}'"
        ))),
    }
}

/// The `ttlInSeconds` metadata as the in-memory store reads it (`strconv.Atoi`; a value of zero
/// or below, e.g. `-1`, means no expiry).
fn parse_ttl(metadata: &BTreeMap<String, String>) -> Result<Option<u64>, StoreError> {
    let Some(raw) = metadata.get("ttlInSeconds").filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    match raw.parse::<i64>() {
        Ok(seconds) => Ok(u64::try_from(seconds).ok().filter(|s| *s > 0)),
        Err(_) => {
            let digits = raw.strip_prefix(['+', '-']).unwrap_or(raw);
            let reason = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                "value out of range"
            } else {
                "invalid syntax"
            };
            Err(StoreError::Other(format!(
                "strconv.Atoi: parsing {raw:?}: {reason}"
            )))
        }
    }
}

/// Query-string metadata overrides the item's own (daprd `maps.Copy(item, query)`).
fn merged(
    own: Option<BTreeMap<String, String>>,
    query: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut metadata = own.unwrap_or_default();
    metadata.extend(query.iter().map(|(k, v)| (k.clone(), v.clone())));
    metadata
}

fn upsert_op(
    key: String,
    item: SetRequest,
    query: &BTreeMap<String, String>,
) -> Result<WriteOp, StoreError> {
    let options = item.options.unwrap_or_default();
    let concurrency = check_options(
        options.concurrency.as_deref().unwrap_or(""),
        options.consistency.as_deref().unwrap_or(""),
    )?;
    let ttl_seconds = parse_ttl(&merged(item.metadata, query))?;
    Ok(WriteOp::Upsert {
        key,
        // daprd decodes the value into `interface{}` and the store `json.Marshal`s it back.
        value: Bytes::from(go_json::marshal(&item.value, Numbers::Float64)),
        etag: item.etag,
        concurrency,
        ttl_seconds,
    })
}

/// `GET /v1.0/state/{store}/{key}`: 200 with the value and its `ETag`, 204 when missing.
pub(crate) fn get(ctx: &StateContext<'_>, key: &str) -> Result<Response<Bytes>, ApiError> {
    let stored_key = ctx.key(key)?;
    let item = ctx
        .store
        .get(&stored_key, ctx.clock.now())
        .map_err(|err| ApiError::state_save(&ctx.config.name, &err))?;
    let Some(item) = item else {
        return Ok(empty_response());
    };
    let mut response = json_response(StatusCode::OK, item.value);
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&item.etag) {
        headers.insert(http::header::ETAG, etag);
    }
    if let Some(at) = item.expires_at {
        let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if let Ok(value) = HeaderValue::from_str(&at) {
            headers.insert("metadata.ttlExpireTime", value);
        }
    }
    Ok(response)
}

/// `POST|PUT /v1.0/state/{store}`: saves every item or none.
pub(crate) fn save(ctx: &StateContext<'_>, req: &ApiRequest) -> Result<Response<Bytes>, ApiError> {
    let items: Vec<SetRequest> = go_decode::decode_tree(&req.body, &GO_SAVE_BODY)
        .map(elements)
        .and_then(|items| items.into_iter().map(set_request).collect())
        .map_err(ApiError::malformed)?;
    if items.is_empty() {
        return Ok(empty_response());
    }
    let query = req.metadata();
    let mut keyed = Vec::with_capacity(items.len());
    for item in items {
        let key = item.key.clone().unwrap_or_default();
        if key.is_empty() {
            return Err(ApiError::malformed(r#""key" is a required field"#));
        }
        keyed.push((ctx.key(&key)?, item));
    }
    let store_error = |err: StoreError| ApiError::state_save(&ctx.config.name, &err);
    let ops = keyed
        .into_iter()
        .map(|(key, item)| upsert_op(key, item, &query))
        .collect::<Result<Vec<_>, _>>()
        .map_err(store_error)?;
    ctx.write(&ops).map_err(store_error)?;
    Ok(empty_response())
}

/// `DELETE /v1.0/state/{store}/{key}`, optionally guarded by `If-Match`.
pub(crate) fn delete(
    ctx: &StateContext<'_>,
    req: &ApiRequest,
    key: &str,
) -> Result<Response<Bytes>, ApiError> {
    let stored_key = ctx.key(key)?;
    let delete_error = |err: StoreError| ApiError::state_delete(key, &err);
    let concurrency = check_options(
        req.query_param("concurrency"),
        req.query_param("consistency"),
    )
    .map_err(delete_error)?;
    let etag = req
        .headers
        .get(http::header::IF_MATCH)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let op = WriteOp::Delete {
        key: stored_key,
        etag,
        concurrency,
    };
    ctx.write(&[op]).map_err(delete_error)?;
    Ok(empty_response())
}

/// `POST|PUT /v1.0/state/{store}/bulk`: 200 `[{key, data?, etag?}]`, in request order; a missing
/// key comes back with only `key`.
pub(crate) fn bulk_get(
    ctx: &StateContext<'_>,
    req: &ApiRequest,
) -> Result<Response<Bytes>, ApiError> {
    let request: BulkGetRequest =
        go_decode::decode::<Option<BulkGetRequest>>(&req.body, &GO_BULK_GET_REQUEST)
            .map_err(ApiError::malformed_body)?
            .unwrap_or_default();
    let stored_keys = request
        .keys
        .iter()
        .map(|k| ctx.key(k))
        .collect::<Result<Vec<_>, _>>()?;
    let now = ctx.clock.now();
    // Written field by field to keep daprd's struct order (key, data, etag, metadata).
    let mut body = String::from("[");
    for (i, (key, stored_key)) in request.keys.iter().zip(&stored_keys).enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str("{\"key\":");
        go_json::write_string(&mut body, key);
        match ctx.store.get(stored_key, now) {
            Ok(Some(item)) => {
                body.push_str(",\"data\":");
                // Stored values are the JSON this sidecar wrote: valid UTF-8, checked by the fast
                // path (`from_utf8_lossy`'s chunked scan was 14% of a list's CPU).
                match std::str::from_utf8(&item.value) {
                    Ok(text) => body.push_str(text),
                    Err(_) => body.push_str(&String::from_utf8_lossy(&item.value)),
                }
                body.push_str(",\"etag\":");
                go_json::write_string(&mut body, &item.etag);
                if let Some(at) = item.expires_at {
                    body.push_str(",\"metadata\":{\"ttlExpireTime\":");
                    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                    go_json::write_string(&mut body, &at);
                    body.push('}');
                }
            }
            Ok(None) => {}
            Err(err) => {
                body.push_str(",\"error\":");
                go_json::write_string(&mut body, &err.to_string());
            }
        }
        body.push('}');
    }
    // Go's json.Encoder ends its output with a newline.
    body.push_str("]\n");
    Ok(json_response(StatusCode::OK, Bytes::from(body)))
}

/// A decoded transaction operation whose store-side checks are still to come.
enum Pending {
    Upsert(String, SetRequest),
    Delete(String, DeleteRequest),
}

/// `POST|PUT /v1.0/state/{store}/transaction`: all operations or none; any store failure is a
/// 500 `ERR_STATE_TRANSACTION`.
pub(crate) fn transaction(
    ctx: &StateContext<'_>,
    req: &ApiRequest,
) -> Result<Response<Bytes>, ApiError> {
    let operations = match go_decode::decode_tree(&req.body, &GO_TRANSACTION_REQUEST)
        .map_err(ApiError::malformed_body)?
    {
        Value::Object(mut body) => elements(body.remove("operations").unwrap_or(Value::Null)),
        _ => Vec::new(),
    };
    if operations.is_empty() {
        return Ok(empty_response());
    }
    let query = req.metadata();
    let tx_error = |err: StoreError| ApiError::state_transaction(&err);
    // Decoding and key checks come first, in order, as in daprd; store checks after.
    let mut pending = Vec::with_capacity(operations.len());
    for operation in operations {
        let (operation, request): (TransactionOperation, _) =
            go_decode::split_field(operation, "request").map_err(ApiError::malformed_body)?;
        let request = request.unwrap_or(Value::Null);
        match operation.operation.as_str() {
            "upsert" => {
                let item = go_decode::decode_value_tree(request, &GO_SET_REQUEST)
                    .and_then(set_request)
                    .map_err(ApiError::malformed_body)?;
                // daprd does not require a key here: an empty key is stored as `appid||`.
                let key = ctx.key(item.key.as_deref().unwrap_or(""))?;
                pending.push(Pending::Upsert(key, item));
            }
            "delete" => {
                let item: DeleteRequest = go_decode::decode_value(request, &GO_DELETE_REQUEST)
                    .map_err(ApiError::malformed_body)?;
                let key = ctx.key(item.key.as_deref().unwrap_or(""))?;
                pending.push(Pending::Delete(key, item));
            }
            other => return Err(ApiError::unsupported_state_operation(other)),
        }
    }
    let write_ops = pending
        .into_iter()
        .map(|op| match op {
            Pending::Upsert(key, item) => upsert_op(key, item, &query),
            Pending::Delete(key, item) => {
                let options = item.options.unwrap_or_default();
                let concurrency = check_options(
                    options.concurrency.as_deref().unwrap_or(""),
                    options.consistency.as_deref().unwrap_or(""),
                )?;
                Ok(WriteOp::Delete {
                    key,
                    etag: item.etag,
                    concurrency,
                })
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(tx_error)?;
    ctx.write(&write_ops).map_err(tx_error)?;
    Ok(empty_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_of_minus_one_means_forever() {
        let meta = BTreeMap::from([("ttlInSeconds".to_owned(), "-1".to_owned())]);
        assert_eq!(parse_ttl(&meta), Ok(None));
    }

    #[test]
    fn ttl_that_is_not_a_number_is_a_store_error_like_atoi() {
        let meta = BTreeMap::from([("ttlInSeconds".to_owned(), "soon".to_owned())]);
        assert_eq!(
            parse_ttl(&meta),
            Err(StoreError::Other(
                r#"strconv.Atoi: parsing "soon": invalid syntax"#.into()
            ))
        );
    }

    #[test]
    fn unknown_concurrency_is_rejected() {
        assert!(check_options("whatever", "").is_err());
        assert_eq!(
            check_options("first-write", "strong"),
            Ok(Concurrency::FirstWrite)
        );
    }
}
