//! Delivery of accepted messages to subscribed apps, as daprd's subscription handler
//! (`pkg/runtime/subscription/subscription.go`) and HTTP postman
//! (`pkg/runtime/subscription/postman/http/http.go`) do it.
//!
//! * One worker (a tokio task) per consumer = (app id, pub/sub, topic): messages of one topic
//!   reach one app in publish order, one at a time; a failing app only holds up its own queue.
//!   Each app id is its own consumer group, so every subscribed app gets every message.
//! * `POST {route}` with `Content-Type: application/cloudevents+json`, the envelope as
//!   published, headers `pubsubName`, `traceparent`/`tracestate` (from the envelope) and
//!   `dapr-api-token` when the sidecar has an app API token.
//! * Reply: 2xx with an empty/unparseable body, `{}` or `{"status":"SUCCESS"}` → acknowledged;
//!   2xx `RETRY` or an unknown status → retry; 2xx `DROP` or 404 → dropped; any other status or
//!   no connection → retry.
//! * Retries follow the Resiliency retry policy targeting `components.<pubsub>.inbound` (or a
//!   `Default…RetryPolicy`), with its timeout per attempt. When the policy runs out, the message
//!   goes to the subscription's dead-letter topic if it has one, else it is dropped (logged).
//! * Without a policy, daprd makes one attempt and then hands the failure to the broker: with a
//!   dead-letter topic the message is dead-lettered right away; without one, the broker (Redis
//!   Streams, Kafka) redelivers it. This sidecar redelivers after 1 s, 2 s, 4 s … capped at 60 s,
//!   forever, so a message is never lost while its app is down.
//! * Dropped messages (DROP, 404, expired, no matching route, routing error, body that is not a
//!   CloudEvent) go to the dead-letter topic when there is one, as in daprd — including events
//!   that match no rule.
//! * Delivery is at least once: a message is acknowledged in the store only after the app's
//!   answer, so a restart between the two redelivers it (and so does a `kill -9` before a batch of
//!   acknowledgements is written, `store`). Apps deduplicate on the CloudEvent `id`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde_json::{Map, Value};
use tokio::sync::{Notify, watch};

use super::PublishedMessage;
use super::store::{ConsumerKey, DeadRecord, Pending, Store};
use super::subscriptions::{ActiveSubscription, parse_programmatic};
use crate::app_channel::AppChannel;
use crate::clock::Clock;
use crate::go_json::{self, Numbers};
use crate::metrics::Metrics;
use crate::resources::{BackoffKind, Resources, RetryPolicy};

const CLOUD_EVENT_CONTENT_TYPE: &str = "application/cloudevents+json";
/// Redelivery without a retry policy: 1 s doubling up to this.
const BROKER_REDELIVERY_MAX: Duration = Duration::from_secs(60);

pub(crate) const EGRESS_COUNT: &str = "dapr_component_pubsub_egress_count";
pub(crate) const EGRESS_LATENCIES: &str = "dapr_component_pubsub_egress_latencies";
pub(crate) const INGRESS_COUNT: &str = "dapr_component_pubsub_ingress_count";
pub(crate) const INGRESS_LATENCIES: &str = "dapr_component_pubsub_ingress_latencies";
pub(crate) const DEAD_LETTERED: &str = "todo_pubsub_dead_lettered_total";

/// What the delivery engine shares between the API (publish) and the workers.
pub(crate) struct Shared {
    pub store: Store,
    pub routing: Mutex<Routing>,
    pub resources: Arc<Resources>,
    pub pubsubs: Vec<String>,
    pub apps: Vec<String>,
    pub app_channel: Arc<dyn AppChannel>,
    pub app_api_token: Option<String>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
}

/// Subscriptions in force and the workers' wake-ups.
#[derive(Default)]
pub(crate) struct Routing {
    /// Set once `start()` has collected every subscription; until then messages wait
    /// undistributed.
    pub ready: bool,
    pub subscriptions: Vec<Arc<ActiveSubscription>>,
    pub wakers: BTreeMap<ConsumerKey, Arc<Notify>>,
}

impl Routing {
    fn consumers_of(&self, pubsub: &str, topic: &str) -> Vec<ConsumerKey> {
        self.subscriptions
            .iter()
            .filter(|s| s.pubsub == pubsub && s.topic == topic)
            .map(|s| ConsumerKey {
                app_id: s.app_id.clone(),
                pubsub: s.pubsub.clone(),
                topic: s.topic.clone(),
            })
            .collect()
    }

    fn wake(&self, consumers: &[ConsumerKey]) {
        for consumer in consumers {
            if let Some(notify) = self.wakers.get(consumer) {
                notify.notify_one();
            }
        }
    }
}

/// How one attempt ended.
#[derive(Debug)]
enum Outcome {
    Success,
    Retry { reason: String, status: Option<u16> },
    Drop(String),
}

impl Outcome {
    fn process_status(&self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Retry { .. } => "retry",
            Outcome::Drop(_) => "drop",
        }
    }
}

/// The sidecar is shutting down (the [`super::Broker`] was dropped).
struct Shutdown;

impl Shared {
    fn lock_routing(&self) -> std::sync::MutexGuard<'_, Routing> {
        self.routing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores `message` (and its deliveries, once subscriptions are known) before returning.
    pub fn publish(&self, publisher: &str, message: PublishedMessage) -> Result<(), String> {
        let started = std::time::Instant::now();
        let routing = self.lock_routing();
        let consumers = routing
            .ready
            .then(|| routing.consumers_of(&message.pubsub, &message.topic));
        let result = self.store.append(&message, consumers.as_deref());
        if let (Ok(_), Some(consumers)) = (&result, &consumers) {
            routing.wake(consumers);
        }
        drop(routing);
        self.record_egress(publisher, &message.pubsub, &message.topic, result.is_ok());
        let labels = [
            ("app_id", publisher),
            ("component", message.pubsub.as_str()),
            ("topic", message.topic.as_str()),
            ("success", if result.is_ok() { "true" } else { "false" }),
        ];
        self.metrics.observe_ms(
            EGRESS_LATENCIES,
            "The latency of the response from the pub/sub component (ms).",
            &labels,
            started.elapsed().as_secs_f64() * 1000.0,
        );
        result.map(drop)
    }

    pub fn record_egress(&self, publisher: &str, pubsub: &str, topic: &str, success: bool) {
        self.metrics.inc(
            EGRESS_COUNT,
            "The number of outbound pub/sub messages (published).",
            &[
                ("app_id", publisher),
                ("component", pubsub),
                ("topic", topic),
                ("success", if success { "true" } else { "false" }),
            ],
        );
    }

    /// Asks every app for its subscriptions, adds the declarative ones, fans out the messages
    /// that waited, and spawns one worker per consumer.
    pub async fn start(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        let mut subscriptions: Vec<ActiveSubscription> = Vec::new();
        for app_id in &self.apps {
            let programmatic = self.discover(app_id).await;
            let mut own: Vec<ActiveSubscription> = Vec::new();
            for sub in programmatic {
                self.add_subscription(&mut own, sub);
            }
            for declared in self
                .resources
                .subscriptions
                .iter()
                .filter(|s| s.applies_to(app_id))
            {
                match ActiveSubscription::from_declared(app_id, declared) {
                    Ok(sub) => self.add_subscription(&mut own, sub),
                    Err(err) => tracing::error!(app_id, "{}: {err}", declared.file.display()),
                }
            }
            subscriptions.extend(own);
        }
        let subscriptions: Vec<Arc<ActiveSubscription>> =
            subscriptions.into_iter().map(Arc::new).collect();

        let mut routing = self.lock_routing();
        routing.subscriptions = subscriptions.clone();
        routing.ready = true;
        for sub in &subscriptions {
            let key = ConsumerKey {
                app_id: sub.app_id.clone(),
                pubsub: sub.pubsub.clone(),
                topic: sub.topic.clone(),
            };
            let notify = Arc::new(Notify::new());
            routing.wakers.insert(key.clone(), notify.clone());
            tokio::spawn(run_consumer(
                self.clone(),
                key,
                sub.clone(),
                notify,
                shutdown.clone(),
            ));
        }
        match self
            .store
            .distribute(|pubsub, topic| routing.consumers_of(pubsub, topic))
        {
            Ok(0) => {}
            Ok(n) => tracing::info!("{n} message(s) published before start fanned out"),
            Err(err) => tracing::error!("cannot fan out waiting messages: {err}"),
        }
        // Deliveries left by an earlier run for consumers that no longer subscribe stay stored.
        if let Ok(pending) = self.store.consumers_with_pending() {
            for key in pending.iter().filter(|k| !routing.wakers.contains_key(*k)) {
                tracing::warn!(
                    app_id = key.app_id,
                    topic = key.topic,
                    "undelivered messages kept for {} on {}/{}: the app no longer subscribes",
                    key.app_id,
                    key.pubsub,
                    key.topic
                );
            }
        }
        for notify in routing.wakers.values() {
            notify.notify_one();
        }
    }

    /// One subscription per app, pub/sub and topic: the first one wins (programmatic first).
    fn add_subscription(&self, own: &mut Vec<ActiveSubscription>, sub: ActiveSubscription) {
        if !self.pubsubs.contains(&sub.pubsub) {
            tracing::warn!(
                app_id = sub.app_id,
                "{}: pubsub {:?} not found, subscription to topic {:?} ignored",
                sub.origin,
                sub.pubsub,
                sub.topic
            );
            return;
        }
        if let Some(existing) = own
            .iter()
            .find(|s| s.pubsub == sub.pubsub && s.topic == sub.topic)
        {
            tracing::warn!(
                app_id = sub.app_id,
                "two identical subscriptions found (sources: {}, {}). pubsubname: {}, topic: {}; keeping the first",
                existing.origin,
                sub.origin,
                sub.pubsub,
                sub.topic
            );
            return;
        }
        own.push(sub);
    }

    /// `GET /dapr/subscribe`: 404, an unreachable app or a malformed answer mean none.
    async fn discover(&self, app_id: &str) -> Vec<ActiveSubscription> {
        let mut request =
            http::Request::get("/dapr/subscribe").header("content-type", "application/json");
        if let Some(token) = &self.app_api_token {
            request = request.header("dapr-api-token", token);
        }
        let Ok(request) = request.body(Bytes::new()) else {
            return Vec::new();
        };
        match self.app_channel.call(app_id, request).await {
            Ok(response) if response.status() == StatusCode::OK => {
                parse_programmatic(app_id, response.body()).unwrap_or_else(|err| {
                    tracing::error!(app_id, "error getting topics from app: {err}");
                    Vec::new()
                })
            }
            Ok(response) if response.status() == StatusCode::NOT_FOUND => Vec::new(),
            Ok(response) => {
                tracing::error!(
                    app_id,
                    "app returned http status code {} from subscription endpoint",
                    response.status().as_u16()
                );
                Vec::new()
            }
            Err(err) => {
                tracing::warn!(app_id, "no programmatic subscriptions: {err}");
                Vec::new()
            }
        }
    }

    /// The message goes to the subscription's dead-letter topic (republished there and
    /// recorded), or is dropped with a log line when it has none.
    fn dead_letter_or_drop(&self, sub: &ActiveSubscription, pending: &Pending, reason: &str) {
        let Some(dlq) = &sub.dead_letter_topic else {
            tracing::warn!(
                app_id = sub.app_id,
                topic = sub.topic,
                "message {} dropped: {reason}",
                event_id(&pending.message)
            );
            if let Err(err) = self.store.ack(pending.id) {
                tracing::error!("{err}");
            }
            return;
        };
        let mut republished = pending.message.clone();
        republished.topic.clone_from(dlq);
        let record = DeadRecord {
            app_id: sub.app_id.clone(),
            pubsub: sub.pubsub.clone(),
            dead_letter_topic: dlq.clone(),
            original_topic: sub.topic.clone(),
            reason: reason.to_owned(),
            at: self.clock.now(),
        };
        let routing = self.lock_routing();
        let consumers = routing.consumers_of(&sub.pubsub, dlq);
        match self
            .store
            .dead_letter(pending.id, pending.seq, record, &republished, &consumers)
        {
            Ok(_) => {
                routing.wake(&consumers);
                drop(routing);
                self.expire_dead_letters();
                tracing::warn!(
                    app_id = sub.app_id,
                    topic = sub.topic,
                    "message {} sent to dead letter topic {dlq}: {reason}",
                    event_id(&pending.message)
                );
                self.record_egress(&sub.app_id, &sub.pubsub, dlq, true);
                self.metrics.inc(
                    DEAD_LETTERED,
                    "Messages sent to a dead-letter topic by this sidecar.",
                    &[
                        ("app_id", sub.app_id.as_str()),
                        ("component", sub.pubsub.as_str()),
                        ("topic", sub.topic.as_str()),
                        ("dead_letter_topic", dlq.as_str()),
                    ],
                );
            }
            Err(err) => {
                tracing::error!("error sending message to dead letter {dlq}: {err}");
            }
        }
    }

    /// Forgets the dead letters whose message has expired (its CloudEvent `expiration`, from
    /// `ttlInSeconds`, has passed): a replay would only drop them, and the log lets go of them.
    pub(crate) fn expire_dead_letters(&self) {
        let now = self.clock.now();
        let expired = |message: &PublishedMessage| {
            message
                .event
                .as_ref()
                .is_some_and(|event| has_expired(event, now))
        };
        if let Err(err) = self.store.expire_dead_letters(expired) {
            tracing::error!("{err}");
        }
    }

    fn record_ingress(&self, sub: &ActiveSubscription, status: &str, elapsed: Option<Duration>) {
        let labels = [
            ("app_id", sub.app_id.as_str()),
            ("component", sub.pubsub.as_str()),
            ("topic", sub.topic.as_str()),
            ("process_status", status),
        ];
        self.metrics.inc(
            INGRESS_COUNT,
            "The number of inbound pub/sub messages (delivered to the app).",
            &labels,
        );
        if let Some(elapsed) = elapsed {
            self.metrics.observe_ms(
                INGRESS_LATENCIES,
                "The time the app took to process a pub/sub message (ms).",
                &labels,
                elapsed.as_secs_f64() * 1000.0,
            );
        }
    }
}

fn event_id(message: &PublishedMessage) -> String {
    message
        .event
        .as_ref()
        .and_then(|e| e.get("id"))
        .and_then(Value::as_str)
        .unwrap_or("(raw payload)")
        .to_owned()
}

async fn run_consumer(
    shared: Arc<Shared>,
    key: ConsumerKey,
    sub: Arc<ActiveSubscription>,
    notify: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (policy, timeout) = shared
        .resources
        .component_inbound_policy(&key.app_id, &key.pubsub);
    let worker = Worker {
        shared: &shared,
        sub: &sub,
        policy: policy.as_ref(),
        timeout,
    };
    loop {
        let head = match shared.store.head(&key) {
            Ok(head) => head,
            Err(err) => {
                tracing::error!(app_id = key.app_id, "{err}");
                if sleep_or_shutdown(Duration::from_secs(1), &mut shutdown)
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
        };
        let outcome = match head {
            Some(pending) => worker.process(pending, &mut shutdown).await,
            None => {
                // Caught up: write the acknowledgements that wait rather than leave them to
                // the next batch.
                if let Err(err) = shared.store.flush_acks() {
                    tracing::error!(app_id = key.app_id, "{err}");
                }
                tokio::select! {
                    () = notify.notified() => Ok(()),
                    _ = shutdown.changed() => Err(Shutdown),
                }
            }
        };
        if outcome.is_err() {
            return;
        }
    }
}

async fn sleep_or_shutdown(
    duration: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), Shutdown> {
    tokio::select! {
        () = tokio::time::sleep(duration) => Ok(()),
        _ = shutdown.changed() => Err(Shutdown),
    }
}

struct Worker<'a> {
    shared: &'a Shared,
    sub: &'a ActiveSubscription,
    policy: Option<&'a RetryPolicy>,
    timeout: Option<Duration>,
}

impl Worker<'_> {
    async fn process(
        &self,
        pending: Pending,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), Shutdown> {
        let shared = self.shared;
        let sub = self.sub;
        let (event, body) = match self.cloud_event(&pending.message) {
            Ok(pair) => pair,
            Err(err) => {
                shared.record_ingress(sub, "drop", None);
                shared.dead_letter_or_drop(sub, &pending, &err);
                return Ok(());
            }
        };
        if has_expired(&event, shared.clock.now()) {
            shared.record_ingress(sub, "drop", None);
            shared.dead_letter_or_drop(sub, &pending, "expired");
            return Ok(());
        }
        let path = match sub.route(&event) {
            Ok(Some(path)) => normalize_path(path),
            Ok(None) => {
                shared.record_ingress(sub, "drop", None);
                if sub.dead_letter_topic.is_some() {
                    shared.dead_letter_or_drop(sub, &pending, "no matching route");
                } else if let Err(err) = shared.store.ack(pending.id) {
                    tracing::error!("{err}");
                }
                return Ok(());
            }
            Err(err) => {
                shared.record_ingress(sub, "drop", None);
                let reason = format!("error finding matching route: {err}");
                shared.dead_letter_or_drop(sub, &pending, &reason);
                return Ok(());
            }
        };

        let first_attempt = tokio::time::Instant::now();
        let mut attempts = pending.attempts;
        loop {
            attempts += 1;
            let request = self.request(&path, &event, body.clone());
            let started = tokio::time::Instant::now();
            let outcome = tokio::select! {
                outcome = self.attempt(request) => outcome,
                _ = shutdown.changed() => return Err(Shutdown),
            };
            shared.record_ingress(sub, outcome.process_status(), Some(started.elapsed()));
            match outcome {
                Outcome::Success => {
                    if let Err(err) = shared.store.ack(pending.id) {
                        tracing::error!("{err}");
                    }
                    return Ok(());
                }
                Outcome::Drop(reason) => {
                    shared.dead_letter_or_drop(sub, &pending, &reason);
                    return Ok(());
                }
                Outcome::Retry { reason, status } => {
                    // Counted once it failed (a commit per failure, none per success): after a
                    // restart the count goes on, and an attempt cut short by the restart is not
                    // counted, as daprd keeps no count across restarts at all.
                    if let Err(err) = shared.store.set_attempts(pending.id, attempts) {
                        tracing::error!("{err}");
                    }
                    tracing::warn!(
                        app_id = sub.app_id,
                        topic = sub.topic,
                        attempt = attempts,
                        "retriable failure delivering message {}: {reason}",
                        event_id(&pending.message)
                    );
                    match self.next_delay(attempts, first_attempt.elapsed(), status) {
                        Some(delay) => sleep_or_shutdown(delay, shutdown).await?,
                        None => {
                            let reason =
                                format!("delivery failed after {attempts} attempt(s): {reason}");
                            shared.dead_letter_or_drop(sub, &pending, &reason);
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    /// The CloudEvent routing sees and the bytes the app gets.
    fn cloud_event(&self, message: &PublishedMessage) -> Result<(Value, Bytes), String> {
        if self.sub.raw_payload() {
            // components-contrib `FromRawPayload`.
            let mut event = Map::new();
            event.insert("id".into(), uuid::Uuid::new_v4().to_string().into());
            event.insert("specversion".into(), "1.0".into());
            event.insert("datacontenttype".into(), "application/octet-stream".into());
            event.insert("source".into(), "".into());
            event.insert("type".into(), "com.dapr.event.sent".into());
            event.insert("topic".into(), self.sub.topic.clone().into());
            event.insert("pubsubname".into(), self.sub.pubsub.clone().into());
            event.insert("data_base64".into(), STANDARD.encode(&message.body).into());
            let event = Value::Object(event);
            let body = Bytes::from(go_json::marshal(&event, Numbers::Precise));
            return Ok((event, body));
        }
        let event = match &message.event {
            Some(event) => event.clone(),
            None => match serde_json::from_slice::<Value>(&message.body) {
                Ok(event @ Value::Object(_)) => event,
                Ok(_) => return Err("error deserializing cloud event: not a JSON object".into()),
                Err(err) => return Err(format!("error deserializing cloud event: {err}")),
            },
        };
        Ok((event, message.body.clone()))
    }

    fn request(&self, path: &str, event: &Value, body: Bytes) -> http::Request<Bytes> {
        let mut builder = http::Request::post(path)
            .header("content-type", CLOUD_EVENT_CONTENT_TYPE)
            .header("pubsubName", self.sub.pubsub.as_str());
        let text = |field: &str| {
            event
                .get(field)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        if let Some(traceparent) = text("traceparent").or_else(|| text("traceid")) {
            builder = builder.header("traceparent", traceparent);
        }
        if let Some(tracestate) = text("tracestate") {
            builder = builder.header("tracestate", tracestate);
        }
        if let Some(token) = &self.shared.app_api_token {
            builder = builder.header("dapr-api-token", token.as_str());
        }
        builder.body(body.clone()).unwrap_or_else(|_| {
            // A header value that is not valid HTTP (e.g. a traceparent with a newline): send
            // without the optional headers.
            let mut fallback = http::Request::post(path)
                .header("content-type", CLOUD_EVENT_CONTENT_TYPE)
                .header("pubsubName", self.sub.pubsub.as_str());
            if let Some(token) = &self.shared.app_api_token {
                fallback = fallback.header("dapr-api-token", token.as_str());
            }
            fallback.body(body).unwrap_or_default()
        })
    }

    async fn attempt(&self, request: http::Request<Bytes>) -> Outcome {
        let call = self.shared.app_channel.call(&self.sub.app_id, request);
        let result = match self.timeout {
            Some(timeout) => match tokio::time::timeout(timeout, call).await {
                Ok(result) => result,
                Err(_) => {
                    return Outcome::Retry {
                        reason: format!("timed out after {timeout:?}"),
                        status: None,
                    };
                }
            },
            None => call.await,
        };
        match result {
            Err(err) => Outcome::Retry {
                reason: format!("error returned from app channel: {err}"),
                status: None,
            },
            Ok(response) => classify(response.status(), response.body()),
        }
    }

    /// The wait before the next attempt, or `None` when no retry is left.
    fn next_delay(
        &self,
        attempts: u32,
        elapsed: Duration,
        status: Option<u16>,
    ) -> Option<Duration> {
        let retries_done = attempts.saturating_sub(1);
        let Some(policy) = self.policy else {
            if self.sub.dead_letter_topic.is_some() {
                return None;
            }
            let exponent = retries_done.min(6);
            return Some((Duration::from_secs(1) * 2u32.pow(exponent)).min(BROKER_REDELIVERY_MAX));
        };
        if let (Some(codes), Some(status)) = (&policy.http_status_codes, status)
            && !codes
                .iter()
                .any(|(low, high)| (*low..=*high).contains(&status))
        {
            return None;
        }
        if policy.max_retries >= 0 && i64::from(retries_done) >= policy.max_retries {
            return None;
        }
        match policy.policy {
            BackoffKind::Constant => Some(policy.duration),
            BackoffKind::Exponential => {
                if !policy.max_elapsed_time.is_zero() && elapsed > policy.max_elapsed_time {
                    return None;
                }
                let base = policy.initial_interval.as_secs_f64()
                    * policy
                        .multiplier
                        .powi(i32::try_from(retries_done).unwrap_or(i32::MAX));
                let base = base.min(policy.max_interval.as_secs_f64());
                let factor = policy.randomization_factor.clamp(0.0, 1.0);
                let random = (uuid::Uuid::new_v4().as_u128() % 1_000_000) as f64 / 1_000_000.0;
                let delay = base - factor * base + random * (2.0 * factor * base);
                Some(Duration::from_secs_f64(delay.max(0.0)))
            }
        }
    }
}

/// The reply table of daprd's HTTP postman.
fn classify(status: StatusCode, body: &[u8]) -> Outcome {
    let code = status.as_u16();
    if status.is_success() {
        return match app_status(body) {
            None => Outcome::Success,
            Some(s) if s.is_empty() || s == "SUCCESS" => Outcome::Success,
            Some(s) if s == "RETRY" => Outcome::Retry {
                reason: "RETRY status returned from app".into(),
                status: None,
            },
            Some(s) if s == "DROP" => Outcome::Drop("DROP status returned from app".into()),
            Some(s) => Outcome::Retry {
                reason: format!("unknown status returned from app: {s}"),
                status: None,
            },
        };
    }
    let text = String::from_utf8_lossy(body);
    if status == StatusCode::NOT_FOUND {
        return Outcome::Drop(format!(
            "non-retriable error returned from app: {text}. status code returned: 404"
        ));
    }
    Outcome::Retry {
        reason: format!("retriable error returned from app: {text}. status code returned: {code}"),
        status: Some(code),
    }
}

/// `json.NewDecoder(body).Decode(&AppResponse{})`: the `status` field of the first JSON value;
/// `None` when that decode fails (empty body, not JSON, not an object, `status` not a string).
fn app_status(body: &[u8]) -> Option<String> {
    use crate::go_json::decode::{GoType, decode};
    /// daprd `AppResponse`: `Status AppResponseStatus json:"status"` (a string).
    const GO_APP_RESPONSE: GoType = GoType::Struct("AppResponse", &[("status", GoType::String)]);
    let value: Value = decode(body, &GO_APP_RESPONSE).ok()?;
    Some(
        value
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    )
}

/// components-contrib `HasExpired`: an RFC 3339 `expiration` in the past.
pub(crate) fn has_expired(event: &Value, now: DateTime<Utc>) -> bool {
    event
        .get("expiration")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .is_some_and(|expiration| expiration < now)
}

fn normalize_path(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(code: u16, body: &str) -> &'static str {
        classify(StatusCode::from_u16(code).expect("code"), body.as_bytes()).process_status()
    }

    #[test]
    fn replies_map_like_daprd() {
        assert_eq!(status_of(200, ""), "success");
        assert_eq!(status_of(204, ""), "success");
        assert_eq!(status_of(200, "not json"), "success");
        assert_eq!(status_of(200, "[1]"), "success");
        assert_eq!(status_of(200, "null"), "success");
        assert_eq!(status_of(200, "{}"), "success");
        assert_eq!(status_of(200, r#"{"status":"SUCCESS"}"#), "success");
        assert_eq!(status_of(200, r#"{"status":1}"#), "success");
        assert_eq!(status_of(200, r#"{"status":"RETRY"}"#), "retry");
        assert_eq!(status_of(200, r#"{"Status":"RETRY"}"#), "retry");
        assert_eq!(status_of(200, r#"{"status":"success"}"#), "retry");
        assert_eq!(status_of(200, r#"{"status":"DROP"}"#), "drop");
        assert_eq!(status_of(404, ""), "drop");
        assert_eq!(status_of(500, ""), "retry");
        assert_eq!(status_of(400, ""), "retry");
        assert_eq!(status_of(302, ""), "retry");
    }

    /// daprd decodes a 2xx reply into `AppResponse` (`Status AppResponseStatus json:"status"`)
    /// with Go's encoding/json: any case, the last duplicate wins, `null` leaves it empty.
    #[test]
    fn the_reply_status_is_decoded_by_gos_rules() {
        assert_eq!(status_of(200, r#"{"STATUS":"DROP","extra":1}"#), "drop");
        assert_eq!(
            status_of(200, r#"{"status":"DROP","Status":"RETRY"}"#),
            "retry"
        );
        assert_eq!(
            status_of(200, r#"{"status":"RETRY","status":null}"#),
            "retry"
        );
    }

    #[test]
    fn expiration_is_checked_against_now() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:10Z")
            .expect("time")
            .with_timezone(&Utc);
        let event = |at: &str| serde_json::json!({"expiration": at});
        assert!(has_expired(&event("2026-01-01T00:00:09Z"), now));
        assert!(!has_expired(&event("2026-01-01T00:00:11Z"), now));
        assert!(!has_expired(&serde_json::json!({}), now));
    }

    #[test]
    fn paths_get_one_leading_slash() {
        assert_eq!(normalize_path("a/b"), "/a/b");
        assert_eq!(normalize_path("//a"), "/a");
        assert_eq!(normalize_path(""), "/");
    }
}
