//! `Idempotency-Key` on creates (docs/contracts.md): the key, the stored record, the request
//! fingerprint and the replay of the first answer.
//!
//! The record `idempotency:{user}:{key}` is written in the same transaction as the create, with
//! `first-write` concurrency, so two concurrent retries of one create cannot both commit; kept 24 h.
use crate::ApiError;
use crate::store::{BUCKET_SCHEMA_VERSION, escape_user, unreadable};
use chrono::{DateTime, Utc};
use dapr_client::{DaprClient, DaprError, StateItem, TransactionOp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use todo_domain::{FieldError, Task};

pub const IDEMPOTENCY_TTL_SECONDS: u64 = 24 * 60 * 60;

/// A client's `Idempotency-Key`: 1–255 visible ASCII characters other than `|`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if (1..=255).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic() && b != b'|')
        {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                "Idempotency-Key",
                "must be 1–255 visible ASCII characters other than |",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A request made idempotent: its key and the fingerprint of what it asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub key: IdempotencyKey,
    pub fingerprint: String,
}

impl Idempotency {
    /// `body` is the parsed request body: equal JSON gives an equal fingerprint, whatever its
    /// whitespace or key order.
    pub fn new(key: IdempotencyKey, body: &Value) -> Self {
        Self {
            key,
            fingerprint: fingerprint(body),
        }
    }

    /// The record's state key, scoped to the user.
    pub fn state_key(&self, user: &str) -> String {
        format!(
            "idempotency:{}:{}",
            escape_user(user),
            escape_user(self.key.as_str())
        )
    }

    /// The record of a first answer, to write with the change it answers.
    pub fn record_write(
        &self,
        user: &str,
        status: u16,
        task: &Task,
        now: DateTime<Utc>,
    ) -> TransactionOp {
        let body = serde_json::to_value(task).expect("serialisable");
        self.record_body_write(user, status, body, now)
    }

    /// The record of a first answer whose body is any JSON (e.g. a chat response).
    pub fn record_body_write(
        &self,
        user: &str,
        status: u16,
        body: Value,
        now: DateTime<Utc>,
    ) -> TransactionOp {
        let record = IdempotencyRecord {
            schema_version: BUCKET_SCHEMA_VERSION,
            fingerprint: self.fingerprint.clone(),
            status,
            body,
            created_at: now,
        };
        let item = StateItem::new(
            self.state_key(user),
            serde_json::to_value(&record).expect("serialisable"),
        )
        .expecting(None)
        .with_ttl_seconds(IDEMPOTENCY_TTL_SECONDS);
        TransactionOp::Upsert(item)
    }

    /// The first answer to this key, if there was one: the same request replays it, another
    /// request with the same key is `422 idempotency_key_reused`.
    pub async fn replay<T: dapr_client::Transport>(
        &self,
        dapr: &DaprClient<T>,
        state_store: &str,
        user: &str,
    ) -> Result<Option<Task>, ApiError> {
        let Some(body) = self.replay_body(dapr, state_store, user).await? else {
            return Ok(None);
        };
        // Through the byte parser that reads tasks from the store: `from_value` would link a
        // second, `Value`-based `Task` deserializer (~14 KB of chat-api), for a rare replay.
        serde_json::from_slice(&serde_json::to_vec(&body).expect("serialisable"))
            .map(Some)
            .map_err(|e| ApiError::Internal(format!("idempotency record holds no task: {e}")))
    }

    /// [`Idempotency::replay`] for a first answer of any JSON body.
    pub async fn replay_body<T: dapr_client::Transport>(
        &self,
        dapr: &DaprClient<T>,
        state_store: &str,
        user: &str,
    ) -> Result<Option<Value>, ApiError> {
        let key = self.state_key(user);
        let record = match dapr.get_state::<IdempotencyRecord>(state_store, &key).await {
            Ok(entry) => entry.map(|e| e.value),
            Err(DaprError::Decode(e)) => return Err(unreadable(&key, &e)),
            Err(e) => return Err(e.into()),
        };
        let Some(record) = record else {
            return Ok(None);
        };
        if record.fingerprint != self.fingerprint {
            return Err(ApiError::IdempotencyKeyReused);
        }
        Ok(Some(record.body))
    }
}

/// The stored first answer (`idempotency-record.schema.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub schema_version: u32,
    pub fingerprint: String,
    pub status: u16,
    pub body: Value,
    pub created_at: DateTime<Utc>,
}

/// A stable digest of a request body: serde_json's maps are ordered, so equal JSON hashes equal.
pub fn fingerprint(body: &Value) -> String {
    let digest = Sha256::digest(body.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_visible_ascii_without_the_separator() {
        assert_eq!(
            IdempotencyKey::parse("abc-123").unwrap().as_str(),
            "abc-123"
        );
        for bad in ["", "a b", "a|b", "é", &"k".repeat(256)] {
            let err = IdempotencyKey::parse(bad).unwrap_err();
            assert_eq!(err.field.as_deref(), Some("Idempotency-Key"), "{bad:?}");
        }
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
    }

    #[test]
    fn fingerprints_ignore_key_order_and_whitespace_and_keys_are_scoped_per_user() {
        let a: Value = serde_json::from_str(r#"{"title":"x", "priority":"low"}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "priority" : "low","title":"x"}"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&json!({"title": "y"})));
        assert_eq!(fingerprint(&a).len(), 64);
        let key = Idempotency::new(
            IdempotencyKey::parse("k|".trim_end_matches('|')).unwrap(),
            &a,
        );
        assert_eq!(key.state_key("a||b"), "idempotency:a%7C%7Cb:k");
    }
}
