//! The one error type of the HTTP boundary, mapped to status codes in one place.
use dapr_client::DaprError;
use serde_json::json;
use todo_domain::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Validation(FieldError),
    #[error("malformed JSON body: {0}")]
    MalformedJson(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("{0}")]
    Conflict(String),
    #[error("the task has changed since the version given in If-Match")]
    PreconditionFailed,
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    /// Dapr could not be reached at all.
    #[error("the Dapr sidecar is unavailable: {0}")]
    DependencyUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        Self::Validation(error)
    }
}

impl From<DaprError> for ApiError {
    fn from(error: DaprError) -> Self {
        match error {
            DaprError::Transport(e) => Self::DependencyUnavailable(e.to_string()),
            other => Self::Internal(format!("dapr: {other}")),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            Self::Validation(_) | Self::MalformedJson(_) => 400,
            Self::Unauthorized(_) => 401,
            Self::NotFound => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::Conflict(_) => 409,
            Self::PreconditionFailed => 412,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType => 415,
            Self::IdempotencyKeyReused => 422,
            Self::Internal(_) => 500,
            Self::DependencyUnavailable(_) => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation_failed",
            Self::MalformedJson(_) => "malformed_json",
            Self::Unauthorized(_) => "unauthorized",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::PreconditionFailed => "precondition_failed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::Internal(_) => "internal",
            Self::DependencyUnavailable(_) => "dependency_unavailable",
        }
    }

    /// The JSON error body. Internal causes are logged, not shown.
    pub fn into_response(self) -> http::Response<Vec<u8>> {
        let message = match &self {
            Self::Internal(_) => "internal error; see the server log".to_owned(),
            Self::Validation(e) => e.message.clone(),
            other => other.to_string(),
        };
        let mut error = json!({ "code": self.code(), "message": message });
        if let Self::Validation(FieldError {
            field: Some(field), ..
        }) = &self
        {
            error["field"] = json!(field);
        }
        let mut response = http::Response::builder()
            .status(self.status())
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Self::Unauthorized(_) = self {
            response = response.header(http::header::WWW_AUTHENTICATE, "Bearer");
        }
        if let Self::MethodNotAllowed { allow } = self {
            response = response.header(http::header::ALLOW, allow);
        }
        response
            .body(serde_json::to_vec(&json!({ "error": error })).expect("serialisable"))
            .expect("valid response")
    }
}
