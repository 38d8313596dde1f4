//! Every error the sidecar answers with, and the one place (`ApiError::into_response`) where an
//! error becomes an HTTP response.
//!
//! The constructors mirror daprd: `pkg/messages/predefined.go` (legacy `APIError`s, body
//! `{"errorCode","message"}`) and `pkg/api/errors/{state,pubsub}.go` (dapr/kit rich errors, body
//! `{"errorCode","message","details":[…]}` with gRPC-style `ErrorInfo`/`ResourceInfo`/`BadRequest`
//! details). Status codes, error codes and messages are copied from there.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::go_json::{self, Numbers};

const TYPE_ERROR_INFO: &str = "type.googleapis.com/google.rpc.ErrorInfo";
const TYPE_RESOURCE_INFO: &str = "type.googleapis.com/google.rpc.ResourceInfo";
const TYPE_BAD_REQUEST: &str = "type.googleapis.com/google.rpc.BadRequest";

/// An error answer, as daprd would write it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// A JSON error body `{"errorCode","message","details"?}`.
    #[error("{status} {code}: {message}")]
    Dapr {
        status: StatusCode,
        code: &'static str,
        message: String,
        /// Rich error details (dapr/kit errors only; empty for legacy `APIError`s).
        details: Vec<Value>,
    },
    /// A plain-text body, as Go's `http.Error` writes (daprd uses it for URL parameters it cannot
    /// unescape).
    #[error("{status}: {text}")]
    PlainText { status: StatusCode, text: String },
}

/// Why a state store refused a write: daprd maps the kinds to 409 / 400 / 500
/// (`pkg/api/http/http.go` `stateErrorResponse`/`etagError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// `state.ETagMismatch` (also first-write on an existing key): 409 outside transactions.
    #[error("possible etag mismatch. error from state store: {0}")]
    ETagMismatch(String),
    /// `state.ETagInvalid`: the etag cannot be one this store produced: 400 outside transactions.
    #[error("invalid etag value: {0}")]
    ETagInvalid(String),
    /// Anything else (bad options, bad TTL, injected failure): 500.
    #[error("{0}")]
    Other(String),
}

impl StoreError {
    fn status(&self) -> StatusCode {
        match self {
            StoreError::ETagMismatch(_) => StatusCode::CONFLICT,
            StoreError::ETagInvalid(_) => StatusCode::BAD_REQUEST,
            StoreError::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

fn error_info(reason: &str, metadata: Option<&Map<String, Value>>) -> Value {
    json!({
        "@type": TYPE_ERROR_INFO,
        "domain": "dapr.io",
        "reason": reason,
        "metadata": metadata.map_or(Value::Null, |m| Value::Object(m.clone())),
    })
}

fn resource_info(resource_type: &str, name: &str, description: &str) -> Value {
    json!({
        "@type": TYPE_RESOURCE_INFO,
        "resource_type": resource_type,
        "resource_name": name,
        "owner": "",
        "description": description,
    })
}

fn string_map<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
        .collect()
}

impl ApiError {
    fn dapr(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Dapr {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    fn with_details(mut self, extra: impl IntoIterator<Item = Value>) -> Self {
        if let ApiError::Dapr { details, .. } = &mut self {
            details.extend(extra);
        }
        self
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Dapr { status, .. } | ApiError::PlainText { status, .. } => *status,
        }
    }

    /// The `errorCode`, for JSON errors.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            ApiError::Dapr { code, .. } => Some(code),
            ApiError::PlainText { .. } => None,
        }
    }

    // ---- common -------------------------------------------------------------------------

    /// `messages.ErrMalformedRequest`: a body that does not decode.
    pub(crate) fn malformed_body(err: impl std::fmt::Display) -> Self {
        Self::dapr(
            StatusCode::BAD_REQUEST,
            "ERR_MALFORMED_REQUEST",
            format!("failed deserializing HTTP body: {err}"),
        )
    }

    /// `ERR_MALFORMED_REQUEST` with a bare message (daprd's save handler does not prefix it).
    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Self::dapr(StatusCode::BAD_REQUEST, "ERR_MALFORMED_REQUEST", message)
    }

    /// `messages.ErrDirectInvokeNoAppID`: daprd's fallback route (service invocation) answers
    /// every path no other route matched, and without a target app id it is a 404.
    pub(crate) fn no_route() -> Self {
        Self::dapr(
            StatusCode::NOT_FOUND,
            "ERR_DIRECT_INVOKE",
            "failed getting app id either from the URL path or the header dapr-app-id",
        )
    }

    /// `messages.ErrDirectInvoke` (500): invoking `target` failed (unknown or unreachable app, or
    /// a denial, which `invoke` relays as 403).
    pub(crate) fn direct_invoke(target: &str, err: &str) -> Self {
        Self::dapr(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_DIRECT_INVOKE",
            format!("failed to invoke, id: {target}, err: {err}"),
        )
    }

    /// A URL parameter that `url.QueryUnescape` rejects (daprd `unescapeRequestParametersHandler`).
    pub(crate) fn bad_url_parameter(name: &str, err: &str) -> Self {
        ApiError::PlainText {
            status: StatusCode::BAD_REQUEST,
            text: format!("failed to unescape request parameter {name:?}. Error: {err}"),
        }
    }

    // ---- state --------------------------------------------------------------------------

    /// `apierrors.StateStore(name).NotFound(appID)`.
    pub(crate) fn state_store_not_found(store: &str, app_id: &str) -> Self {
        let meta = (!app_id.is_empty()).then(|| string_map([("appID", app_id)]));
        Self::dapr(
            StatusCode::BAD_REQUEST,
            "ERR_STATE_STORE_NOT_FOUND",
            format!("state store {store} is not found"),
        )
        .with_details([error_info("DAPR_STATE_NOT_FOUND", meta.as_ref())])
    }

    /// `apierrors.StateStore(name).InvalidKeyName(key, msg)`: a key containing `||`.
    pub(crate) fn invalid_key(store: &str, key: &str) -> Self {
        let msg = format!("input key/keyPrefix '{key}' can't contain '||'");
        Self::dapr(
            StatusCode::BAD_REQUEST,
            "ERR_MALFORMED_REQUEST",
            msg.clone(),
        )
        .with_details([
            json!({
                "@type": TYPE_BAD_REQUEST,
                "field_violations": [{"field": key, "description": msg}],
            }),
            resource_info("state", store, ""),
            error_info("DAPR_STATE_ILLEGAL_KEY", None),
        ])
    }

    /// `ERR_STATE_SAVE`, with the status daprd derives from the store error.
    pub(crate) fn state_save(store: &str, err: &StoreError) -> Self {
        Self::dapr(
            err.status(),
            "ERR_STATE_SAVE",
            format!("failed saving state in state store {store}: {err}"),
        )
    }

    /// `ERR_STATE_DELETE`, with the status daprd derives from the store error.
    pub(crate) fn state_delete(key: &str, err: &StoreError) -> Self {
        Self::dapr(
            err.status(),
            "ERR_STATE_DELETE",
            format!("failed deleting state with key {key}: {err}"),
        )
    }

    /// `ERR_STATE_TRANSACTION`: every store failure inside a transaction is a 500, etag
    /// mismatches included.
    pub(crate) fn state_transaction(err: &StoreError) -> Self {
        Self::dapr(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_STATE_TRANSACTION",
            format!("error while executing state transaction: {err}"),
        )
    }

    /// `ERR_NOT_SUPPORTED_STATE_OPERATION`: a transaction operation other than upsert/delete.
    pub(crate) fn unsupported_state_operation(operation: &str) -> Self {
        Self::dapr(
            StatusCode::BAD_REQUEST,
            "ERR_NOT_SUPPORTED_STATE_OPERATION",
            format!("operation type {operation} not supported"),
        )
    }

    // ---- pub/sub ------------------------------------------------------------------------

    /// `apierrors.PubSubNotFound`: 404 (not 400) on the publish path.
    pub(crate) fn pubsub_not_found(name: &str, metadata: &Map<String, Value>) -> Self {
        let message = format!("pubsub {name} not found");
        Self::dapr(
            StatusCode::NOT_FOUND,
            "ERR_PUBSUB_NOT_FOUND",
            message.clone(),
        )
        .with_details([
            error_info("DAPR_PUBSUB_NOT_FOUND", Some(metadata)),
            resource_info("pubsub", name, &message),
        ])
    }

    /// `apierrors.PubSubTopicEmpty`.
    pub(crate) fn topic_empty(name: &str, metadata: &Map<String, Value>) -> Self {
        let message = format!("topic is empty in pubsub {name}");
        Self::dapr(StatusCode::NOT_FOUND, "ERR_TOPIC_EMPTY", message.clone()).with_details([
            error_info("DAPR_PUBSUB_TOPIC_NAME_EMPTY", Some(metadata)),
            resource_info("pubsub", name, &message),
        ])
    }

    /// `apierrors.PubSubMetadataDeserialize`: e.g. `metadata.rawPayload=maybe`.
    pub(crate) fn pubsub_metadata(name: &str, metadata: &Map<String, Value>, err: &str) -> Self {
        let message = format!("failed deserializing metadata. Error: {err}");
        Self::dapr(
            StatusCode::BAD_REQUEST,
            "ERR_PUBSUB_REQUEST_METADATA",
            message.clone(),
        )
        .with_details([
            error_info("DAPR_PUBSUB_METADATA_DESERIALIZATION", Some(metadata)),
            resource_info("pubsub", name, &message),
        ])
    }

    /// `apierrors.PubSubCloudEventCreation`: an `application/cloudevents+json` body that is not
    /// a JSON object.
    pub(crate) fn cloud_event_creation(name: &str, app_id: &str, err: &str) -> Self {
        let message = "cannot create cloudevent";
        Self::dapr(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_PUBSUB_CLOUD_EVENTS_SER",
            message,
        )
        .with_details([
            error_info(
                "DAPR_PUBSUB_CLOUD_EVENT_CREATION",
                Some(&string_map([("appID", app_id), ("error", err)])),
            ),
            resource_info("pubsub", name, message),
        ])
    }

    /// `apierrors.PubSubMarshalEnvelope`: a bulk entry whose event does not fit its content type.
    pub(crate) fn marshal_envelope(name: &str, topic: &str, app_id: &str, err: &str) -> Self {
        let message =
            format!("error when marshalling cloud event envelope for topic {topic} pubsub {name}");
        Self::dapr(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_PUBSUB_CLOUD_EVENTS_SER",
            message.clone(),
        )
        .with_details([
            error_info(
                "DAPR_PUBSUB_MARSHAL_ENVELOPE",
                Some(&string_map([("appID", app_id), ("error", err)])),
            ),
            resource_info("pubsub", name, &message),
        ])
    }

    /// `apierrors.PubSubMarshalEvents`: a bulk entry without a unique `entryId`.
    pub(crate) fn marshal_events(name: &str, topic: &str, app_id: &str, err: &str) -> Self {
        let message = format!("error marshaling events to bytes for topic {topic} pubsub {name}");
        Self::dapr(
            StatusCode::BAD_REQUEST,
            "ERR_PUBSUB_EVENTS_SER",
            format!("{message}. error: {err}"),
        )
        .with_details([
            error_info(
                "DAPR_PUBSUB_MARSHAL_EVENTS",
                Some(&string_map([("appID", app_id), ("error", err)])),
            ),
            resource_info("pubsub", name, &message),
        ])
    }

    /// `apierrors.PubSubUnMarshalEvents`: a bulk body that is not an array of entries.
    pub(crate) fn unmarshal_events(name: &str, topic: &str, app_id: &str, err: &str) -> Self {
        let message =
            format!("error when unmarshaling the request for topic {topic} pubsub {name}: {err}");
        Self::dapr(
            StatusCode::BAD_REQUEST,
            "ERR_PUBSUB_EVENTS_SER",
            message.clone(),
        )
        .with_details([
            error_info(
                "DAPR_PUBSUB_UNMARSHAL_EVENTS",
                Some(&string_map([("appID", app_id)])),
            ),
            resource_info("pubsub", name, &message),
        ])
    }

    /// `apierrors.PubSubPublishMessage`: the broker refused the message.
    pub(crate) fn publish_message(name: &str, topic: &str, err: &str) -> Self {
        let message = format!("error when publishing to topic {topic} in pubsub {name}: {err}");
        Self::dapr(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_PUBSUB_PUBLISH_MESSAGE",
            message.clone(),
        )
        .with_details([
            error_info(
                "DAPR_PUBSUB_PUBLISH_MESSAGE",
                Some(&string_map([("topic", topic), ("error", err)])),
            ),
            resource_info("pubsub", name, &message),
        ])
    }

    /// The response daprd writes for this error: JSON errors are `application/json` without a
    /// trailing newline; plain-text ones are Go's `http.Error` output.
    pub fn into_response(self) -> Response<Bytes> {
        match self {
            ApiError::Dapr {
                status,
                code,
                message,
                details,
            } => {
                let mut body = String::from("{\"errorCode\":");
                go_json::write_string(&mut body, code);
                body.push_str(",\"message\":");
                go_json::write_string(&mut body, &message);
                if !details.is_empty() {
                    body.push_str(",\"details\":");
                    go_json::write_value(&mut body, &Value::Array(details), Numbers::Precise);
                }
                body.push('}');
                json_response(status, Bytes::from(body))
            }
            ApiError::PlainText { status, text } => {
                let mut response = Response::new(Bytes::from(format!("{text}\n")));
                *response.status_mut() = status;
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                headers.insert(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                );
                response
            }
        }
    }
}

/// A response with a JSON body (daprd's `respondWithData` default content type).
pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// daprd's `respondWithEmpty`: 204, no body, no content type.
pub(crate) fn empty_response() -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_errors_have_no_details() {
        let response = ApiError::malformed_body("EOF").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.body().as_ref(),
            br#"{"errorCode":"ERR_MALFORMED_REQUEST","message":"failed deserializing HTTP body: EOF"}"#
        );
    }

    #[test]
    fn rich_errors_carry_error_info_with_sorted_keys() {
        let response = ApiError::state_store_not_found("nope", "app").into_response();
        assert_eq!(
            std::str::from_utf8(response.body()).expect("utf-8"),
            r#"{"errorCode":"ERR_STATE_STORE_NOT_FOUND","message":"state store nope is not found","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","domain":"dapr.io","metadata":{"appID":"app"},"reason":"DAPR_STATE_NOT_FOUND"}]}"#
        );
    }

    #[test]
    fn store_errors_map_to_daprd_statuses() {
        let mismatch = StoreError::ETagMismatch("x".into());
        assert_eq!(
            ApiError::state_save("s", &mismatch).status(),
            StatusCode::CONFLICT
        );
        assert_eq!(
            ApiError::state_transaction(&mismatch).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let invalid = StoreError::ETagInvalid("x".into());
        assert_eq!(
            ApiError::state_delete("k", &invalid).status(),
            StatusCode::BAD_REQUEST
        );
    }
}
