//! HTTP handlers of the Secrets API (daprd `pkg/api/http/secrets.go`): the body is the secret's
//! map (or a map of maps for bulk) as Go's `encoding/json` writes it (sorted keys).

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Map, Value};

use super::{SecretError, SecretStore, SecretStores};
use crate::error::{ApiError, json_response};
use crate::go_json::{self, Numbers};

fn legacy(status: StatusCode, code: &'static str, message: String) -> ApiError {
    ApiError::Dapr {
        status,
        code,
        message,
        details: Vec::new(),
    }
}

fn resolve<'a>(
    stores: &'a SecretStores,
    app_id: &str,
    store: &str,
) -> Result<&'a SecretStore, ApiError> {
    let visible = stores.for_app(app_id);
    if visible.is_empty() {
        return Err(legacy(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR_SECRET_STORES_NOT_CONFIGURED",
            "secret store is not configured".to_owned(),
        ));
    }
    visible.get(store).copied().ok_or_else(|| {
        legacy(
            StatusCode::UNAUTHORIZED,
            "ERR_SECRET_STORE_NOT_FOUND",
            format!("failed finding secret store with key {store}"),
        )
    })
}

fn to_json(map: impl IntoIterator<Item = (String, Value)>) -> Bytes {
    let object: Map<String, Value> = map.into_iter().collect();
    Bytes::from(go_json::marshal(&Value::Object(object), Numbers::Precise))
}

/// `GET /v1.0/secrets/{store}/{name}` → 200 `{key: value}`.
pub(crate) fn get(
    stores: &SecretStores,
    app_id: &str,
    store: &str,
    name: &str,
) -> Result<Response<Bytes>, ApiError> {
    let secret_store = resolve(stores, app_id, store)?;
    let secret = secret_store
        .get(name)
        .map_err(|SecretError::NotFound(err)| {
            legacy(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ERR_SECRET_GET",
                format!("failed getting secret with key {name} from secret store {store}: {err}"),
            )
        })?;
    Ok(json_response(
        StatusCode::OK,
        to_json(secret.into_iter().map(|(k, v)| (k, Value::String(v)))),
    ))
}

/// `GET /v1.0/secrets/{store}/bulk` → 200 `{name: {key: value}}`.
pub(crate) fn bulk(
    stores: &SecretStores,
    app_id: &str,
    store: &str,
) -> Result<Response<Bytes>, ApiError> {
    let secret_store = resolve(stores, app_id, store)?;
    let all = secret_store.bulk().into_iter().map(|(name, secret)| {
        let inner: Map<String, Value> = secret
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        (name, Value::Object(inner))
    });
    Ok(json_response(StatusCode::OK, to_json(all)))
}
