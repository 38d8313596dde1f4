//! `GET /v1.0/healthz` and `GET /v1.0/healthz/outbound` (daprd `pkg/api/http/healthz.go`).
//!
//! - `/healthz`: 204 once the sidecar is started ([`crate::Sidecar::start`]: daprd is "ready"
//!   when its runtime, app channel included, is up); before that 500 `ERR_HEALTH_NOT_READY`.
//!   With `?appid=x`, an app id other than the caller's is 500 `ERR_HEALTH_APPID_NOT_MATCH`.
//! - `/healthz/outbound`: 204 when the components are ready. Components (state stores, secret
//!   stores, resources) are loaded by `Sidecar::try_new`, which fails rather than produce a
//!   sidecar with a broken component, so this is 204 for every sidecar that exists.

use bytes::Bytes;
use http::{Response, StatusCode};

use crate::error::{ApiError, empty_response};
use crate::request::ApiRequest;

fn legacy(code: &'static str, message: &str) -> ApiError {
    ApiError::Dapr {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code,
        message: message.to_owned(),
        details: Vec::new(),
    }
}

pub(crate) fn healthz(
    started: bool,
    app_id: &str,
    req: &ApiRequest,
) -> Result<Response<Bytes>, ApiError> {
    if !started {
        return Err(legacy("ERR_HEALTH_NOT_READY", "dapr is not ready"));
    }
    let expected = req.query_param("appid");
    if !expected.is_empty() && expected != app_id {
        return Err(legacy(
            "ERR_HEALTH_APPID_NOT_MATCH",
            "dapr app-id does not match",
        ));
    }
    Ok(empty_response())
}

pub(crate) fn outbound() -> Result<Response<Bytes>, ApiError> {
    Ok(empty_response())
}
