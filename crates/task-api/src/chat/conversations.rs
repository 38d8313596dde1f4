//! Conversations and chat settings in chat-api's state (docs/contracts.md "Stored documents").
//!
//! - `chat:{user}:{conversation_id}` (`chat-conversation-record.schema.json`): the conversation's
//!   newest [`MAX_MESSAGES`] messages and the offline assistant's [`assistant::Memory`]; expires
//!   [`CONVERSATION_TTL_SECONDS`] after its last message. The user is part of the key, so another
//!   user's conversation is simply not there (404).
//! - `chat-settings:{user}` (`chat-settings.schema.json`): the time zone the user last sent.
//!
//! A message is saved with one ETag-guarded transaction (with the request's idempotency record,
//! when it has one). Two messages racing into one conversation both land: the loser re-reads and
//! appends its messages to the winner's.
use crate::ApiError;
use crate::idempotency::Idempotency;
use crate::store::{escape_user, unreadable};
use assistant::Memory;
use chrono::{DateTime, Utc};
use dapr_client::{DaprClient, DaprError, StateEntry, StateItem, TransactionOp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use todo_domain::TimeZone;
use uuid::Uuid;

pub const CONVERSATION_SCHEMA_VERSION: u32 = 1;
/// Messages a conversation keeps (user and assistant messages alike); older ones are dropped.
pub const MAX_MESSAGES: usize = 100;
/// Items a stored `list_tasks` result keeps (the response itself carries them all).
pub const MAX_STORED_LIST_ITEMS: usize = 20;
/// A conversation nobody writes to for 90 days expires.
pub const CONVERSATION_TTL_SECONDS: u64 = 90 * 24 * 60 * 60;

/// One tool call of a chat turn, as answered and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCallRecord {
    pub name: String,
    pub arguments: Value,
    pub result: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// One message of a conversation (`chat-conversation.schema.json#/$defs/Message`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub role: Role,
    pub content: String,
    pub created_at: DateTime<Utc>,
    /// The assistant's tool calls for this message (empty for the user's).
    pub tool_calls: Vec<ToolCallRecord>,
}

/// The stored conversation (`chat-conversation-record.schema.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversation {
    pub schema_version: u32,
    pub conversation_id: Uuid,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub messages: Vec<Message>,
    /// The offline assistant's memory (kept as JSON: one that no longer parses is forgotten,
    /// not an error).
    pub memory: Value,
}

impl Conversation {
    pub fn new(id: Uuid, user: &str, now: DateTime<Utc>) -> Self {
        Self {
            schema_version: CONVERSATION_SCHEMA_VERSION,
            conversation_id: id,
            user_id: user.to_owned(),
            created_at: now,
            updated_at: now,
            messages: Vec::new(),
            memory: json!({}),
        }
    }

    pub fn memory(&self) -> Memory {
        serde_json::from_value(self.memory.clone()).unwrap_or_default()
    }

    /// Append `messages` (list results trimmed), keep the newest [`MAX_MESSAGES`], remember
    /// `memory`.
    pub fn append(&mut self, messages: &[Message], memory: &Memory, now: DateTime<Utc>) {
        self.messages
            .extend(messages.iter().cloned().map(trimmed_for_storage));
        let excess = self.messages.len().saturating_sub(MAX_MESSAGES);
        self.messages.drain(..excess);
        self.memory = serde_json::to_value(memory).expect("serialisable");
        self.updated_at = now;
    }

    /// The `GET /api/chat/{conversation_id}` body (`chat-conversation.schema.json`).
    pub fn history(&self) -> Value {
        json!({
            "conversation_id": self.conversation_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "messages": self.messages,
        })
    }
}

/// A stored list result keeps its first [`MAX_STORED_LIST_ITEMS`] items, so one "show
/// everything" cannot make every later read of the conversation heavy.
fn trimmed_for_storage(mut message: Message) -> Message {
    for call in &mut message.tool_calls {
        if call.name == "list_tasks"
            && let Some(items) = call.result.get_mut("items").and_then(Value::as_array_mut)
        {
            items.truncate(MAX_STORED_LIST_ITEMS);
        }
    }
    message
}

/// The user's chat settings (`chat-settings.schema.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub schema_version: u32,
    /// The zone the user last sent with a message.
    pub time_zone: TimeZone,
    pub updated_at: DateTime<Utc>,
}

pub fn conversation_key(user: &str, id: Uuid) -> String {
    format!("chat:{}:{id}", escape_user(user))
}

pub fn settings_key(user: &str) -> String {
    format!("chat-settings:{}", escape_user(user))
}

/// Conversations and settings of one state store.
pub struct Conversations<'a, T> {
    pub dapr: &'a DaprClient<T>,
    pub state_store: &'a str,
}

/// What one message adds to a conversation, saved by [`Conversations::save`].
pub struct Exchange<'a> {
    pub messages: &'a [Message],
    pub memory: &'a Memory,
    /// Set when the request named a zone other than the stored one.
    pub time_zone: Option<TimeZone>,
    /// The request's `Idempotency-Key` and its answer, recorded in the same transaction.
    pub idempotency: Option<(&'a Idempotency, &'a Value)>,
}

impl<T: crate::Runtime> Conversations<'_, T> {
    async fn read<V: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<StateEntry<V>>, ApiError> {
        match self.dapr.get_state::<V>(self.state_store, key).await {
            Ok(entry) => Ok(entry),
            Err(DaprError::Decode(e)) => Err(unreadable(key, &e)),
            Err(e) => Err(e.into()),
        }
    }

    /// The user's conversation `id` with its ETag; `None` when it does not exist (or is another
    /// user's).
    pub async fn load(
        &self,
        user: &str,
        id: Uuid,
    ) -> Result<Option<StateEntry<Conversation>>, ApiError> {
        self.read(&conversation_key(user, id)).await
    }

    pub async fn settings(&self, user: &str) -> Result<Option<StateEntry<Settings>>, ApiError> {
        self.read(&settings_key(user)).await
    }

    /// Append `exchange` to `conversation` (as read with `etag`; `None` = new) and store it, with
    /// the settings and idempotency record; on a lost race re-read and append again. `Some(answer)`
    /// when a concurrent retry of the same request was saved first: its answer is the one to give.
    pub async fn save(
        &self,
        user: &str,
        mut conversation: Conversation,
        mut etag: Option<String>,
        exchange: Exchange<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<Value>, ApiError> {
        let id = conversation.conversation_id;
        for attempt in 0..crate::store::MAX_WRITE_ATTEMPTS {
            if attempt > 0 {
                crate::store::backoff(self.dapr.transport(), attempt - 1).await;
                if let Some((idempotency, _)) = exchange.idempotency
                    && let Some(first) = idempotency
                        .replay_body(self.dapr, self.state_store, user)
                        .await?
                {
                    return Ok(Some(first));
                }
                match self.load(user, id).await? {
                    Some(entry) => {
                        conversation = entry.value;
                        etag = entry.etag;
                    }
                    // Expired or new meanwhile: start again from what we have.
                    None => etag = None,
                }
            }
            let mut updated = conversation.clone();
            updated.append(exchange.messages, exchange.memory, now);
            let mut operations = vec![TransactionOp::Upsert(
                StateItem::new(
                    conversation_key(user, id),
                    serde_json::to_value(&updated).expect("serialisable"),
                )
                .expecting(etag.clone())
                .with_ttl_seconds(CONVERSATION_TTL_SECONDS),
            )];
            if let Some(zone) = exchange.time_zone {
                let settings = Settings {
                    schema_version: CONVERSATION_SCHEMA_VERSION,
                    time_zone: zone,
                    updated_at: now,
                };
                // Last writer wins: the zone is a preference, not a count.
                operations.push(TransactionOp::Upsert(StateItem::new(
                    settings_key(user),
                    serde_json::to_value(&settings).expect("serialisable"),
                )));
            }
            operations.extend(exchange.idempotency.map(|(idempotency, answer)| {
                idempotency.record_body_write(user, 200, answer.clone(), now)
            }));
            match self.dapr.transact(self.state_store, &operations).await {
                Ok(()) => return Ok(None),
                Err(error) if error.is_conflict() => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(ApiError::Conflict(
            "too many concurrent messages to this conversation; retry the request".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(role: Role, text: &str) -> Message {
        Message {
            role,
            content: text.to_owned(),
            created_at: "2026-03-01T10:00:00Z".parse().unwrap(),
            tool_calls: Vec::new(),
        }
    }

    #[test]
    fn keys_are_scoped_per_user_and_escaped() {
        let id = Uuid::from_u128(1);
        assert_eq!(conversation_key("a||b", id), format!("chat:a%7C%7Cb:{id}"));
        assert_eq!(settings_key("alice"), "chat-settings:alice");
    }

    #[test]
    fn a_conversation_keeps_its_newest_messages_and_trims_stored_lists() {
        let now = "2026-03-01T10:00:00Z".parse().unwrap();
        let mut conversation = Conversation::new(Uuid::from_u128(1), "alice", now);
        for n in 0..(MAX_MESSAGES + 7) {
            conversation.append(
                &[message(Role::User, &n.to_string())],
                &Memory::default(),
                now,
            );
        }
        assert_eq!(conversation.messages.len(), MAX_MESSAGES);
        assert_eq!(conversation.messages[0].content, "7");
        let mut listed = message(Role::Assistant, "your tasks");
        listed.tool_calls.push(ToolCallRecord {
            name: "list_tasks".to_owned(),
            arguments: json!({}),
            result: json!({"items": vec![json!({}); 60], "next_cursor": "c"}),
        });
        conversation.append(&[listed], &Memory::default(), now);
        let stored = &conversation.messages.last().unwrap().tool_calls[0].result;
        assert_eq!(
            stored["items"].as_array().unwrap().len(),
            MAX_STORED_LIST_ITEMS
        );
        assert_eq!(stored["next_cursor"], "c");
    }

    #[test]
    fn an_unreadable_memory_is_forgotten() {
        let now = "2026-03-01T10:00:00Z".parse().unwrap();
        let mut conversation = Conversation::new(Uuid::from_u128(1), "alice", now);
        conversation.memory = json!({"last_list": "not a list"});
        assert_eq!(conversation.memory(), Memory::default());
    }
}
