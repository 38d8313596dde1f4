//! Who may call: users with a JWT (`Authorization: Bearer`, docs/contracts.md "Auth"), and Dapr
//! itself on the routes only it calls (deliveries, `/job/…`, invocations), recognised by the
//! `dapr-api-token` header carrying the app's `app_api_token`.
use crate::log::RequestLog;
use crate::request::header;
use crate::{ApiError, Request};
use chrono::{DateTime, Utc};
use todo_domain::auth::{AuthError, authenticate};

/// The user id (`sub`) of a request's bearer token, recorded in the request log.
pub fn authenticate_user(
    request: &Request,
    jwt_secret: &[u8],
    now: DateTime<Utc>,
    log: &mut RequestLog,
) -> Result<String, ApiError> {
    let now = now.timestamp().max(0) as u64;
    match authenticate(header(request, "authorization"), jwt_secret, now) {
        Ok(user) => {
            log.user = Some(user.clone());
            Ok(user)
        }
        Err(AuthError::NoSecret) => Err(ApiError::Internal(
            "the jwt_secret variable is empty".to_owned(),
        )),
        Err(error) => Err(ApiError::Unauthorized(error.to_string())),
    }
}

/// A call only Dapr may make (deliveries, `/job/…`, invocations) must carry
/// `dapr-api-token: <app_api_token>`. Fails closed: with no token configured (`None` or empty,
/// e.g. `spin up` without `SPIN_VARIABLE_APP_API_TOKEN`, or a cluster whose operator forgot the
/// variable) nobody may call, rather than everybody.
pub fn check_app_token(request: &Request, app_api_token: Option<&str>) -> Result<(), ApiError> {
    match app_api_token {
        Some(token) if !token.is_empty() => {
            if header(request, "dapr-api-token") == Some(token) {
                Ok(())
            } else {
                Err(ApiError::Unauthorized(
                    "missing or wrong dapr-api-token".to_owned(),
                ))
            }
        }
        _ => Err(ApiError::Unauthorized(
            "this route only accepts calls through Dapr, and no app_api_token is configured"
                .to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut builder = http::Request::post("/job/x");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Vec::new()).unwrap()
    }

    #[test]
    fn the_app_token_is_required_and_fails_closed_without_one_configured() {
        let with_token = request(&[("dapr-api-token", "s3")]);
        assert!(check_app_token(&with_token, Some("s3")).is_ok());
        for wrong in [request(&[]), request(&[("dapr-api-token", "nope")])] {
            assert_eq!(
                check_app_token(&wrong, Some("s3")).unwrap_err().status(),
                401
            );
        }
        for unset in [None, Some("")] {
            assert_eq!(
                check_app_token(&with_token, unset).unwrap_err().status(),
                401
            );
            let empty = request(&[("dapr-api-token", "")]);
            assert_eq!(check_app_token(&empty, unset).unwrap_err().status(), 401);
        }
    }

    #[test]
    fn a_user_is_the_tokens_subject() {
        let now: DateTime<Utc> = "2026-03-01T08:00:00Z".parse().unwrap();
        let token = todo_domain::auth::issue_token(b"k", "alice", now.timestamp() as u64, 60);
        let mut log = RequestLog::default();
        let bearer = format!("Bearer {token}");
        let user = authenticate_user(&request(&[("authorization", &bearer)]), b"k", now, &mut log)
            .unwrap();
        assert_eq!(user, "alice");
        assert_eq!(log.user.as_deref(), Some("alice"));
        let err = authenticate_user(&request(&[]), b"k", now, &mut log).unwrap_err();
        assert_eq!(err.status(), 401);
        let err = authenticate_user(&request(&[("authorization", &bearer)]), b"", now, &mut log)
            .unwrap_err();
        assert_eq!(err.status(), 500);
    }
}
