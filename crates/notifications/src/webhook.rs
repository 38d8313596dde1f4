//! The operator's webhook: which URL and secret (Spin variables), the signed request, and what
//! its answer means for the delivery. Pure: the caller sends.
//!
//! ```text
//! POST <notification_webhook_url>
//! Content-Type: application/json
//! X-Timestamp: 1772352000                        (unix seconds when sent)
//! X-Signature: sha256=<hex HMAC-SHA256(secret, X-Timestamp + "." + body)>
//! Idempotency-Key: <reminder_id>                 (the same on every attempt)
//!
//! {"schema_version":1,"type":"reminder.triggered","reminder_id":…,"user_id":…,"task_id":…,
//!  "task_title":…,"due_date":…,"remind_at":…,"delivered_at":…}
//! ```
//!
//! The body (`notification-webhook.schema.json`) is the same on every attempt: `delivered_at` is
//! when the inbox entry was first stored. Only the timestamp and signature change.
//! Each attempt may take `notification_webhook_timeout_ms` (default 5 s) to connect and again to
//! the first byte of the answer.
use crate::inbox::InboxEntry;
use crate::reminder::{REMINDER_EVENT_TYPE, Reminder};
use chrono::{DateTime, SecondsFormat, Utc};
use component_kit::subscriber::Rejection;
use dapr_client::TransportError;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::time::Duration;
use uuid::Uuid;

pub const WEBHOOK_SCHEMA_VERSION: u32 = 1;
/// How long the webhook may take to accept the connection, and then to answer, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest `notification_webhook_timeout_ms` accepted: Dapr waits for the delivery's answer.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// The prefix of `X-Signature`'s value, naming the algorithm.
pub const SIGNATURE_PREFIX: &str = "sha256=";

/// A configured webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: http::Uri,
    secret: Vec<u8>,
}

impl Webhook {
    /// From the variables: no URL = no webhook; a URL needs an absolute `http(s)` form and a
    /// secret (never send unsigned). `Err` is a configuration error, with the reason.
    pub fn from_variables(
        url: Option<&str>,
        secret: Option<&str>,
    ) -> Result<Option<Webhook>, String> {
        let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("notification_webhook_url {url:?} is not a URL: {e}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(format!(
                "notification_webhook_url {url:?} must be an absolute http:// or https:// URL"
            ));
        }
        let secret = secret.filter(|s| !s.is_empty()).ok_or_else(|| {
            "notification_webhook_url is set but notification_webhook_secret is empty".to_owned()
        })?;
        Ok(Some(Webhook {
            url: uri,
            secret: secret.as_bytes().to_vec(),
        }))
    }

    /// The signed request for `reminder`, whose inbox entry is `entry`, sent at `now`.
    pub fn request(
        &self,
        reminder: &Reminder,
        entry: &InboxEntry,
        now: DateTime<Utc>,
    ) -> http::Request<Vec<u8>> {
        let body = body(reminder, entry);
        let timestamp = now.timestamp().to_string();
        http::Request::post(self.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-timestamp", &timestamp)
            .header("x-signature", signature(&self.secret, &timestamp, &body))
            .header("idempotency-key", reminder.reminder_id.to_string())
            .header(
                http::header::USER_AGENT,
                "todo-chatbot-notification-service",
            )
            .body(body)
            .expect("valid request")
    }
}

/// The timeout of a webhook call from `notification_webhook_timeout_ms` (1–60000; empty: 5 s).
pub fn timeout_from_variable(raw: Option<&str>) -> Result<Duration, String> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(DEFAULT_TIMEOUT),
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|ms| (1..=MAX_TIMEOUT_MS).contains(ms))
            .map(Duration::from_millis)
            .ok_or_else(|| {
                format!(
                    "notification_webhook_timeout_ms {raw:?} is not a whole number of milliseconds from 1 to {MAX_TIMEOUT_MS}"
                )
            }),
    }
}

/// The webhook's JSON body.
#[derive(Serialize)]
struct Body<'a> {
    schema_version: u32,
    #[serde(rename = "type")]
    event_type: &'static str,
    reminder_id: String,
    user_id: &'a str,
    task_id: Uuid,
    task_title: &'a str,
    due_date: String,
    remind_at: String,
    delivered_at: String,
}

pub fn body(reminder: &Reminder, entry: &InboxEntry) -> Vec<u8> {
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    serde_json::to_vec(&Body {
        schema_version: WEBHOOK_SCHEMA_VERSION,
        event_type: REMINDER_EVENT_TYPE,
        reminder_id: reminder.reminder_id.to_string(),
        user_id: &reminder.user_id,
        task_id: reminder.task_id,
        task_title: &reminder.task_title,
        due_date: time(reminder.due_date),
        remind_at: time(reminder.remind_at),
        delivered_at: time(entry.delivered_at),
    })
    .expect("serialisable")
}

/// `X-Signature`: `sha256=` + lowercase hex HMAC-SHA256(`secret`, `timestamp` + "." + `body`).
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(SIGNATURE_PREFIX.len() + 64);
    out.push_str(SIGNATURE_PREFIX);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// What the webhook's answer means for the delivery:
///
/// | answer | delivery |
/// |---|---|
/// | 2xx | SUCCESS |
/// | 5xx, 408, 429; timeout, no connection | RETRY (the resiliency policy backs off) |
/// | any other (4xx, a redirect) | DROP to `reminders-dlq`, with an `error` line: the receiver refuses this body or the URL is wrong, and repeating will not change that |
pub fn classify(
    answer: Result<http::Response<Vec<u8>>, TransportError>,
    reminder_id: &str,
) -> Result<u16, Rejection> {
    let response = match answer {
        Ok(response) => response,
        Err(error) => {
            return Err(Rejection::Retry(format!(
                "reminder {reminder_id}: the webhook did not answer: {}",
                error.0
            )));
        }
    };
    let status = response.status().as_u16();
    match status {
        200..=299 => Ok(status),
        408 | 429 | 500..=599 => Err(Rejection::Retry(format!(
            "reminder {reminder_id}: the webhook answered {status}"
        ))),
        _ => {
            let message = format!(
                "reminder {reminder_id}: the webhook refused it with {status}; the event goes to \
                 reminders-dlq (the inbox has it): fix the receiver or the URL, then replay"
            );
            eprintln!(
                "{}",
                serde_json::json!({
                    "level": "error",
                    "msg": message,
                    "reminder_id": reminder_id,
                    "status": status,
                    "body": excerpt(response.body()),
                })
            );
            Err(Rejection::Drop(message))
        }
    }
}

/// The start of a response body, for a log line.
fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}
