//! What a subscriber answers Dapr for one delivered message (the app side of the pub/sub
//! contract: `200 {"status": "SUCCESS" | "RETRY" | "DROP"}`). daprd reads the `status` field
//! case-insensitively; any 2xx without a body counts as SUCCESS, a 404 as DROP (with a warning),
//! any other status as RETRY. Subscribers answer explicitly, so nothing depends on those defaults.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DeliveryStatus {
    /// Handled (or already handled before): acknowledge.
    Success,
    /// A transient failure: deliver again later (Resiliency policy, then the dead-letter topic).
    Retry,
    /// Can never be handled: send to the dead-letter topic, do not retry.
    Drop,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::Retry => "RETRY",
            Self::Drop => "DROP",
        }
    }

    /// The response body Dapr expects: `{"status":"SUCCESS"}`.
    pub fn body(self) -> Vec<u8> {
        format!("{{\"status\":\"{}\"}}", self.as_str()).into_bytes()
    }

    /// The whole response (always 200: the status is in the body).
    pub fn into_response(self) -> http::Response<Vec<u8>> {
        http::Response::builder()
            .status(200)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(self.body())
            .expect("valid response")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_written_as_dapr_reads_them() {
        for (status, wire) in [
            (DeliveryStatus::Success, r#"{"status":"SUCCESS"}"#),
            (DeliveryStatus::Retry, r#"{"status":"RETRY"}"#),
            (DeliveryStatus::Drop, r#"{"status":"DROP"}"#),
        ] {
            let response = status.into_response();
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["content-type"], "application/json");
            assert_eq!(String::from_utf8(response.into_body()).unwrap(), wire);
            let parsed: serde_json::Value = serde_json::from_str(wire).unwrap();
            assert_eq!(
                serde_json::from_value::<DeliveryStatus>(parsed["status"].clone()).unwrap(),
                status
            );
        }
    }
}
