//! The health answer of every component (`health.schema.json`): `200 {"status":"ok","app_id"}`,
//! no auth, `GET` or `HEAD`.
use crate::{ApiError, Response, json_response, only};

pub fn health(method: &http::Method, app_id: &str) -> Result<Response, ApiError> {
    only(
        method,
        &[http::Method::GET, http::Method::HEAD],
        "GET, HEAD",
    )?;
    Ok(json_response(
        200,
        &serde_json::json!({ "status": "ok", "app_id": app_id }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_names_the_app_and_refuses_writes() {
        let response = health(&http::Method::GET, "audit-service").unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.body(),
            br#"{"app_id":"audit-service","status":"ok"}"#
        );
        assert_eq!(health(&http::Method::POST, "x").unwrap_err().status(), 405);
    }
}
