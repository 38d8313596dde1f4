//! Pub/Sub: what a publish produces ([`PublishedMessage`]), the CloudEvent envelope rules
//! (`envelope`), the broker that accepts messages, and the HTTP handlers (`api`).
//!
//! The broker only records messages for now; delivery to subscribers will read the same log.

pub(crate) mod api;
mod envelope;

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use serde_json::Value;

/// A message accepted by a publish, as the broker holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedMessage {
    /// Pub/sub component name.
    pub pubsub: String,
    pub topic: String,
    /// `application/cloudevents+json` for an envelope; with `rawPayload`, the publisher's
    /// content type ("" when it gave none).
    pub content_type: String,
    /// The bytes subscribers will be handed: the envelope as daprd serializes it, or the raw
    /// payload.
    pub body: Bytes,
    /// The parsed envelope; `None` for a raw payload.
    pub event: Option<Value>,
    /// Request metadata (`metadata.*`), e.g. `rawPayload`, `ttlInSeconds`.
    pub metadata: BTreeMap<String, String>,
}

/// The in-memory broker behind every pub/sub component: an ordered log of accepted messages.
#[derive(Debug, Default)]
pub(crate) struct InMemoryBroker {
    log: Mutex<Vec<PublishedMessage>>,
}

impl InMemoryBroker {
    pub fn publish(&self, message: PublishedMessage) {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(message);
    }

    pub fn messages(&self) -> Vec<PublishedMessage> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// components-contrib `contenttype.isContentType`: case-insensitive, parameters ignored.
pub(crate) fn is_content_type(content_type: &str, expected: &str) -> bool {
    let lower = content_type.to_ascii_lowercase();
    let media_type = lower.split_once(';').map_or(lower.as_str(), |(m, _)| m);
    media_type == expected
}

/// Go's `strconv.ParseBool`, which daprd uses for `metadata.rawPayload`.
pub(crate) fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_match_like_components_contrib() {
        assert!(is_content_type(
            "Application/JSON; charset=utf-8",
            "application/json"
        ));
        assert!(!is_content_type(
            "application/merge-patch+json",
            "application/json"
        ));
    }

    #[test]
    fn booleans_parse_like_go() {
        assert_eq!(parse_go_bool("True"), Some(true));
        assert_eq!(parse_go_bool("yes"), None);
    }
}
