//! Pub/Sub: what a publish produces ([`PublishedMessage`]), the CloudEvent envelope rules
//! (`envelope`), the HTTP handlers (`api`), and the broker behind every pub/sub component: a log
//! of accepted messages (`store`, in memory or SQLite), the subscriptions in force
//! (`subscriptions`, with routing rules in a CEL subset, `cel`) and their delivery to apps
//! (`delivery`). `metadata` answers `GET /v1.0/metadata`.

pub(crate) mod api;
pub(crate) mod cel;
mod delivery;
mod envelope;
pub(crate) mod metadata;
mod store;
mod subscriptions;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use crate::app_channel::AppChannel;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::resources::Resources;
use delivery::{Routing, Shared};
use store::Store;
pub use subscriptions::SubscriptionKind;

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

/// A message that could not be delivered to a subscription and was republished on the
/// subscription's dead-letter topic.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// Pass to [`crate::Sidecar::replay_dead_letter`].
    pub id: u64,
    pub pubsub: String,
    /// The dead-letter topic.
    pub topic: String,
    /// The topic the message was published on.
    pub original_topic: String,
    /// The subscriber that could not take it.
    pub app_id: String,
    /// The CloudEvent (for a raw payload: the body as JSON, or as a string).
    pub event: Value,
    /// Why: the app's answer, "expired", "no matching route", …
    pub reason: String,
    pub time: DateTime<Utc>,
}

/// Why a dead letter could not be replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("no dead letter with id {0}")]
    NotFound(u64),
    #[error("{0}")]
    Store(String),
}

/// A subscription in force for one app (`GET /v1.0/metadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionInfo {
    pub pubsub: String,
    pub topic: String,
    /// `(match, path)` in order; the default route last, with an empty match.
    pub rules: Vec<(String, String)>,
    pub dead_letter_topic: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub kind: SubscriptionKind,
}

/// What the broker needs from the sidecar's configuration.
pub(crate) struct BrokerConfig<'a> {
    pub pubsubs: Vec<String>,
    pub apps: Vec<String>,
    pub data_dir: Option<&'a Path>,
    pub resources: Arc<Resources>,
    pub app_channel: Arc<dyn AppChannel>,
    pub app_api_token: Option<String>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
}

/// The broker behind every pub/sub component. Dropping it stops its delivery workers.
pub(crate) struct Broker {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    started: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Broker {
    pub fn open(config: BrokerConfig<'_>) -> Result<Self, String> {
        let store = Store::open(config.data_dir)?;
        let shared = Shared {
            store,
            routing: Mutex::new(Routing::default()),
            resources: config.resources,
            pubsubs: config.pubsubs,
            apps: config.apps,
            app_channel: config.app_channel,
            app_api_token: config.app_api_token,
            clock: config.clock,
            metrics: config.metrics,
        };
        Ok(Broker {
            shared: Arc::new(shared),
            shutdown: watch::channel(false).0,
            started: AtomicBool::new(false),
        })
    }

    /// Accepts a message published by app `publisher`: stored (on disk with a data dir) before
    /// this returns; delivered later by the workers.
    pub fn publish(&self, publisher: &str, message: PublishedMessage) -> Result<(), String> {
        self.shared.publish(publisher, message)
    }

    /// Counts a publish that failed before reaching the broker (injected faults).
    pub fn record_failed_publish(&self, publisher: &str, pubsub: &str, topic: &str) {
        self.shared.record_egress(publisher, pubsub, topic, false);
    }

    /// The last messages accepted (see [`store::PUBLISHED_HISTORY`]).
    pub fn messages(&self) -> Vec<PublishedMessage> {
        self.shared.store.messages()
    }

    /// How many messages the stored log holds (only those still owed to a subscriber or kept
    /// by a dead letter).
    pub fn log_len(&self) -> usize {
        self.shared.store.log_len().unwrap_or_else(|err| {
            tracing::error!("{err}");
            0
        })
    }

    /// Deliveries not yet settled plus messages not yet fanned out (see
    /// [`crate::Sidecar::pending_deliveries`]).
    pub fn pending(&self) -> usize {
        self.shared.store.pending().unwrap_or_else(|err| {
            tracing::error!("{err}");
            0
        })
    }

    /// Discovers subscriptions and starts delivering (once; later calls do nothing). Outside a
    /// tokio runtime it does nothing.
    pub fn start(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("pub/sub delivery not started: no tokio runtime");
            return;
        };
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        runtime.spawn(self.shared.clone().start(self.shutdown.subscribe()));
    }

    /// The dead letters not yet replayed, oldest first (expired ones are forgotten first).
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.shared.expire_dead_letters();
        let stored = self.shared.store.dead_letters().unwrap_or_else(|err| {
            tracing::error!("{err}");
            Vec::new()
        });
        stored
            .into_iter()
            .map(|dead| {
                let event = dead.message.event.clone().unwrap_or_else(|| {
                    serde_json::from_slice(&dead.message.body).unwrap_or_else(|_| {
                        Value::String(String::from_utf8_lossy(&dead.message.body).into_owned())
                    })
                });
                DeadLetter {
                    id: u64::try_from(dead.id).unwrap_or_default(),
                    pubsub: dead.record.pubsub,
                    topic: dead.record.dead_letter_topic,
                    original_topic: dead.record.original_topic,
                    app_id: dead.record.app_id,
                    event,
                    reason: dead.record.reason,
                    time: dead.record.at,
                }
            })
            .collect()
    }

    pub fn replay_dead_letter(&self, id: u64) -> Result<(), ReplayError> {
        let stored_id = i64::try_from(id).map_err(|_| ReplayError::NotFound(id))?;
        let routing = lock(&self.shared.routing);
        match self.shared.store.replay(stored_id) {
            Ok(Some(key)) => {
                if let Some(notify) = routing.wakers.get(&key) {
                    notify.notify_one();
                }
                Ok(())
            }
            Ok(None) => Err(ReplayError::NotFound(id)),
            Err(err) => Err(ReplayError::Store(err)),
        }
    }

    /// The subscriptions of app `app_id`: once started, those in force; before, the
    /// declarative ones that apply to it.
    pub fn subscriptions_of(&self, app_id: &str) -> Vec<SubscriptionInfo> {
        let info = |sub: &subscriptions::ActiveSubscription| SubscriptionInfo {
            pubsub: sub.pubsub.clone(),
            topic: sub.topic.clone(),
            rules: sub
                .rules
                .iter()
                .map(|rule| {
                    let source = rule.expr.as_ref().map(|e| e.source().to_owned());
                    (source.unwrap_or_default(), rule.path.clone())
                })
                .collect(),
            dead_letter_topic: sub.dead_letter_topic.clone(),
            metadata: sub.metadata.clone(),
            kind: sub.kind,
        };
        let routing = lock(&self.shared.routing);
        if routing.ready {
            return routing
                .subscriptions
                .iter()
                .filter(|s| s.app_id == app_id)
                .map(|s| info(s))
                .collect();
        }
        self.shared
            .resources
            .subscriptions
            .iter()
            .filter(|s| s.applies_to(app_id))
            .filter_map(|s| subscriptions::ActiveSubscription::from_declared(app_id, s).ok())
            .map(|s| info(&s))
            .collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
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
