//! The app side of a Dapr pub/sub delivery, for every subscriber component.
//!
//! A delivery route calls [`Subscriber::admit`], runs its handler on an admitted event, and
//! answers what [`Subscriber::settle`] says. Together they
//! - parses the delivered CloudEvent: structured (a JSON envelope, as Dapr delivers the events we
//!   publish, with its own attributes added; or the bare envelope of a `rawPayload` subscription)
//!   or binary (`ce-*` headers, the body as `data`);
//! - DROPs what can never be handled: no CloudEvent, an unknown `data.schema_version`, no dedupe
//!   key (docs/contracts.md: consumers DROP events whose `schema_version` they do not know);
//! - dedupes at least once delivery on a record `processed:{key}` in the app's own key space (Dapr
//!   prefixes keys with the app-id), kept [`PROCESSED_TTL_SECONDS`], written after the handler's
//!   side effect: a message seen before is acknowledged without running the handler again
//!   ([`Subscriber::admit_idempotent`] skips the record for a handler whose writes are
//!   idempotent merges already, such as audit-service's: a read and a write fewer per message);
//! - answers Dapr's statuses as a typed [`DeliveryStatus`] (`200 {"status": …}`), so nothing ends
//!   in an accidental 404 (which daprd reads as DROP).
use crate::log::{RequestLog, warn};
use crate::request::header;
use crate::{Request, Runtime};
use chrono::{DateTime, Utc};
use dapr_client::{CloudEvent, DaprClient, DeliveryStatus, StateItem};
use serde_json::Value;

/// How long a `processed:{id}` record is kept: longer than any redelivery (Resiliency retries,
/// a replayed dead letter within a week).
pub const PROCESSED_TTL_SECONDS: u64 = 7 * 24 * 60 * 60;

/// The state key of a handled message's record.
pub fn processed_key(dedupe_key: &str) -> String {
    format!("processed:{dedupe_key}")
}

/// Why a handler did not handle a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// It can never be handled (bad data): to the dead-letter topic.
    Drop(String),
    /// A transient failure (a dependency unreachable): deliver again later.
    Retry(String),
}

/// Read a delivered message as a CloudEvent (structured or binary mode).
pub fn parse_delivery(request: &Request) -> Result<CloudEvent, String> {
    if let Some(specversion) = header(request, "ce-specversion") {
        return binary_event(request, specversion);
    }
    let value: Value =
        serde_json::from_slice(request.body()).map_err(|e| format!("the body is not JSON: {e}"))?;
    if !value.get("specversion").is_some_and(Value::is_string) {
        return Err("the body is not a CloudEvent (no specversion)".to_owned());
    }
    let event: CloudEvent =
        serde_json::from_value(value).map_err(|e| format!("malformed CloudEvent: {e}"))?;
    check_envelope(event)
}

fn binary_event(request: &Request, specversion: &str) -> Result<CloudEvent, String> {
    let attribute = |name: &str| header(request, &format!("ce-{name}")).map(str::to_owned);
    let required = |name: &str| attribute(name).ok_or_else(|| format!("missing ce-{name}"));
    let data = if request.body().is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(request.body()).map_err(|e| format!("data is not JSON: {e}"))?
    };
    let time = match attribute("time") {
        Some(raw) => Some(
            DateTime::parse_from_rfc3339(&raw)
                .map_err(|e| format!("ce-time {raw:?}: {e}"))?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    check_envelope(CloudEvent {
        specversion: specversion.to_owned(),
        id: required("id")?,
        source: required("source")?,
        event_type: required("type")?,
        subject: attribute("subject"),
        time,
        datacontenttype: header(request, "content-type").map(str::to_owned),
        data,
        extensions: serde_json::Map::new(),
    })
}

fn check_envelope(event: CloudEvent) -> Result<CloudEvent, String> {
    if event.specversion != "1.0" {
        return Err(format!("unsupported specversion {:?}", event.specversion));
    }
    if event.id.is_empty() {
        return Err("empty CloudEvent id".to_owned());
    }
    Ok(event)
}

/// `data.schema_version` must be one this consumer knows.
pub fn check_schema_version(event: &CloudEvent, known: &[u32]) -> Result<u32, String> {
    let version = event
        .data
        .get("schema_version")
        .and_then(Value::as_u64)
        .ok_or_else(|| "data.schema_version is missing".to_owned())?;
    u32::try_from(version)
        .ok()
        .filter(|v| known.contains(v))
        .ok_or_else(|| {
            format!("unknown data.schema_version {version}; this consumer knows {known:?}")
        })
}

/// The dedupe key of an event: its CloudEvent id (for events that carry their own dedupe key,
/// such as reminders' `data.reminder_id`, pass another extractor to [`Subscriber::admit`]).
pub fn event_id(event: &CloudEvent) -> Option<String> {
    Some(event.id.clone())
}

/// A subscriber's view of Dapr: where it keeps its `processed:` records and which `data`
/// versions it understands.
pub struct Subscriber<'a, R> {
    pub dapr: &'a DaprClient<R>,
    pub state_store: &'a str,
    pub known_schema_versions: &'a [u32],
}

/// A delivery that passed the checks and was not seen before: run its handler, then
/// [`Subscriber::settle`] it.
#[derive(Debug)]
pub struct Accepted {
    pub event: CloudEvent,
    /// The `processed:` record to write once handled; `None` for an idempotent handler.
    record: Option<String>,
}

/// What [`Subscriber::admit`] decided.
#[derive(Debug)]
pub enum Admission {
    /// Handle the event.
    Handle(Box<Accepted>),
    /// Answer this without handling: a duplicate (SUCCESS), undeliverable (DROP), or the
    /// dedupe record unreadable (RETRY).
    Answer(DeliveryStatus),
}

impl<R: Runtime> Subscriber<'_, R> {
    /// Check a delivery and its dedupe record (see the module docs):
    ///
    /// ```text
    /// match subscriber.admit(&request, event_id, log).await {
    ///     Admission::Answer(status) => status,
    ///     Admission::Handle(accepted) => {
    ///         let outcome = handle(&accepted.event).await;
    ///         subscriber.settle(accepted, outcome, log).await
    ///     }
    /// }
    /// ```
    pub async fn admit(
        &self,
        request: &Request,
        dedupe_key: impl Fn(&CloudEvent) -> Option<String>,
        log: &mut RequestLog,
    ) -> Admission {
        let event = match self.checked_event(request, log) {
            Ok(event) => event,
            Err(answer) => return answer,
        };
        let Some(key) = dedupe_key(&event) else {
            return Admission::Answer(dropped(
                &format!("event {}", event.id),
                "no dedupe key",
                log,
            ));
        };
        let record = processed_key(&key);
        match self
            .dapr
            .get_state::<Value>(self.state_store, &record)
            .await
        {
            Ok(Some(_)) => Admission::Answer(DeliveryStatus::Success),
            Ok(None) => Admission::Handle(Box::new(Accepted {
                event,
                record: Some(record),
            })),
            Err(error) => Admission::Answer(retried(
                &format!("event {}: dedupe read", event.id),
                &error.to_string(),
                log,
            )),
        }
    }

    /// [`Subscriber::admit`] for a handler that is its own dedupe: every write it makes is a
    /// merge that changes nothing when repeated, so a redelivery runs it again harmlessly and no
    /// `processed:` record is read or written.
    pub fn admit_idempotent(&self, request: &Request, log: &mut RequestLog) -> Admission {
        match self.checked_event(request, log) {
            Ok(event) => Admission::Handle(Box::new(Accepted {
                event,
                record: None,
            })),
            Err(answer) => answer,
        }
    }

    /// The delivered CloudEvent, if it is one whose `schema_version` this consumer knows.
    fn checked_event(
        &self,
        request: &Request,
        log: &mut RequestLog,
    ) -> Result<CloudEvent, Admission> {
        let event = parse_delivery(request)
            .map_err(|reason| Admission::Answer(dropped("undeliverable message", &reason, log)))?;
        log.event_ids.push(event.id.clone());
        if let Err(reason) = check_schema_version(&event, self.known_schema_versions) {
            return Err(Admission::Answer(dropped(
                &format!("event {}", event.id),
                &reason,
                log,
            )));
        }
        Ok(event)
    }

    /// The answer for a handled delivery; on success the `processed:` record (if any) is written
    /// first.
    pub async fn settle(
        &self,
        accepted: Box<Accepted>,
        outcome: Result<(), Rejection>,
        log: &mut RequestLog,
    ) -> DeliveryStatus {
        let event = &accepted.event;
        match outcome {
            Ok(()) => {}
            Err(Rejection::Drop(reason)) => {
                return dropped(&format!("event {}", event.id), &reason, log);
            }
            Err(Rejection::Retry(reason)) => {
                return retried(&format!("event {}", event.id), &reason, log);
            }
        }
        let Some(record) = accepted.record else {
            return DeliveryStatus::Success;
        };
        let now = self.dapr.transport().now();
        let item = StateItem::new(record, serde_json::json!({ "processed_at": now }))
            .with_ttl_seconds(PROCESSED_TTL_SECONDS);
        if let Err(error) = self.dapr.save_state(self.state_store, &[item]).await {
            // The effect happened: acknowledge. A redelivery may repeat it, which handlers
            // tolerate anyway (at least once); answering RETRY would repeat it for certain.
            warn(
                &format!(
                    "event {}: handled, but its processed record was not saved",
                    event.id
                ),
                &error.to_string(),
            );
        }
        DeliveryStatus::Success
    }
}

fn dropped(what: &str, reason: &str, log: &mut RequestLog) -> DeliveryStatus {
    warn(&format!("{what}: dropped to the dead-letter topic"), reason);
    log.error = Some(format!("DROP: {reason}"));
    DeliveryStatus::Drop
}

fn retried(what: &str, reason: &str, log: &mut RequestLog) -> DeliveryStatus {
    warn(&format!("{what}: will be retried"), reason);
    log.error = Some(format!("RETRY: {reason}"));
    DeliveryStatus::Retry
}

#[cfg(test)]
mod tests {
    use super::*;
    use dapr_client::{Transport, TransportError};
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;

    /// A Dapr state API over a map (GET one key, POST a save), or a dead sidecar.
    #[derive(Default)]
    struct FakeDapr {
        state: RefCell<BTreeMap<String, Value>>,
        saves: RefCell<Vec<Value>>,
        down: Cell<bool>,
    }

    impl Transport for FakeDapr {
        async fn send(
            &self,
            request: http::Request<Vec<u8>>,
        ) -> Result<http::Response<Vec<u8>>, TransportError> {
            if self.down.get() {
                return Err(TransportError("connection refused".to_owned()));
            }
            let path = request.uri().path().to_owned();
            let key = path.trim_start_matches("/v1.0/state/statestore");
            let response = if request.method() == http::Method::GET {
                match self.state.borrow().get(key.trim_start_matches('/')) {
                    Some(value) => (200, serde_json::to_vec(value).unwrap()),
                    None => (204, Vec::new()),
                }
            } else {
                let items: Vec<Value> = serde_json::from_slice(request.body()).unwrap();
                for item in items {
                    let key = item["key"].as_str().unwrap().to_owned();
                    self.state.borrow_mut().insert(key, item["value"].clone());
                    self.saves.borrow_mut().push(item);
                }
                (204, Vec::new())
            };
            Ok(http::Response::builder()
                .status(response.0)
                .body(response.1)
                .unwrap())
        }
    }

    impl Runtime for FakeDapr {
        fn now(&self) -> DateTime<Utc> {
            "2026-03-01T08:00:00Z".parse().unwrap()
        }
        async fn sleep(&self, _: std::time::Duration) {}
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        // The fake never suspends, so one poll completes the future.
        let mut future = std::pin::pin!(future);
        match future
            .as_mut()
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
        {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => panic!("fake suspended"),
        }
    }

    fn structured(id: &str, data: Value) -> Request {
        let mut event =
            serde_json::to_value(CloudEvent::new(id, "chat-api", "task.created", data)).unwrap();
        event["topic"] = "task-events".into();
        event["pubsubname"] = "pubsub".into();
        http::Request::post("/audit/task-events")
            .header("content-type", "application/cloudevents+json")
            .body(serde_json::to_vec(&event).unwrap())
            .unwrap()
    }

    /// Deliver `request` as a route does, to a handler that counts its runs and answers
    /// `outcome`.
    fn deliver_with(
        dapr: &DaprClient<FakeDapr>,
        request: &Request,
        dedupe_key: impl Fn(&CloudEvent) -> Option<String>,
        runs: &Cell<u32>,
        outcome: Result<(), Rejection>,
    ) -> DeliveryStatus {
        let subscriber = Subscriber {
            dapr,
            state_store: "statestore",
            known_schema_versions: &[1],
        };
        let mut log = RequestLog::default();
        block_on(async {
            match subscriber.admit(request, dedupe_key, &mut log).await {
                Admission::Answer(status) => status,
                Admission::Handle(accepted) => {
                    runs.set(runs.get() + 1);
                    subscriber.settle(accepted, outcome, &mut log).await
                }
            }
        })
    }

    fn deliver(
        dapr: &DaprClient<FakeDapr>,
        request: &Request,
        runs: &Cell<u32>,
        outcome: Result<(), Rejection>,
    ) -> DeliveryStatus {
        deliver_with(dapr, request, event_id, runs, outcome)
    }

    fn client() -> DaprClient<FakeDapr> {
        DaprClient::new("http://127.0.0.1:3500", FakeDapr::default())
    }

    #[test]
    fn an_idempotent_handler_runs_on_every_delivery_without_a_record_but_bad_events_drop() {
        let dapr = client();
        // A record that `admit` would find (and so skip the handler), were it read.
        dapr.transport()
            .state
            .borrow_mut()
            .insert("processed:e1".into(), serde_json::json!({}));
        let subscriber = Subscriber {
            dapr: &dapr,
            state_store: "statestore",
            known_schema_versions: &[1],
        };
        let runs = Cell::new(0);
        let deliver = |request: &Request, outcome: Result<(), Rejection>| {
            let mut log = RequestLog::default();
            block_on(async {
                match subscriber.admit_idempotent(request, &mut log) {
                    Admission::Answer(status) => status,
                    Admission::Handle(accepted) => {
                        runs.set(runs.get() + 1);
                        subscriber.settle(accepted, outcome, &mut log).await
                    }
                }
            })
        };
        let request = structured("e1", serde_json::json!({"schema_version": 1}));
        assert_eq!(deliver(&request, Ok(())), DeliveryStatus::Success);
        assert_eq!(deliver(&request, Ok(())), DeliveryStatus::Success);
        assert_eq!(
            runs.get(),
            2,
            "no record is read: the handler is its own dedupe"
        );
        assert!(
            dapr.transport().saves.borrow().is_empty(),
            "no record is written"
        );
        assert_eq!(
            deliver(&request, Err(Rejection::Retry("store down".into()))),
            DeliveryStatus::Retry
        );
        let unknown = structured("e2", serde_json::json!({"schema_version": 9}));
        assert_eq!(deliver(&unknown, Ok(())), DeliveryStatus::Drop);
        assert_eq!(runs.get(), 3, "an unknown schema_version is never handled");
    }

    #[test]
    fn a_message_delivered_twice_is_handled_once() {
        let dapr = client();
        let runs = Cell::new(0);
        let request = structured("e1", serde_json::json!({"schema_version": 1}));
        assert_eq!(
            deliver(&dapr, &request, &runs, Ok(())),
            DeliveryStatus::Success
        );
        assert_eq!(
            deliver(&dapr, &request, &runs, Ok(())),
            DeliveryStatus::Success
        );
        assert_eq!(runs.get(), 1);
        let saves = dapr.transport().saves.borrow();
        assert_eq!(saves.len(), 1);
        assert_eq!(saves[0]["key"], "processed:e1");
        assert_eq!(saves[0]["metadata"]["ttlInSeconds"], "604800");
    }

    #[test]
    fn a_retried_message_is_handled_on_redelivery_and_recorded_only_then() {
        let dapr = client();
        let runs = Cell::new(0);
        let request = structured("e2", serde_json::json!({"schema_version": 1}));
        let retry = Err(Rejection::Retry("chat-api unreachable".to_owned()));
        assert_eq!(
            deliver(&dapr, &request, &runs, retry),
            DeliveryStatus::Retry
        );
        assert!(dapr.transport().saves.borrow().is_empty());
        assert_eq!(
            deliver(&dapr, &request, &runs, Ok(())),
            DeliveryStatus::Success
        );
        assert_eq!(
            deliver(&dapr, &request, &runs, Ok(())),
            DeliveryStatus::Success
        );
        assert_eq!(runs.get(), 2);
        assert_eq!(dapr.transport().saves.borrow().len(), 1);
    }

    #[test]
    fn what_can_never_be_handled_is_dropped_without_running_the_handler() {
        let dapr = client();
        let runs = Cell::new(0);
        let unknown_version = structured("e3", serde_json::json!({"schema_version": 2}));
        let no_version = structured("e4", serde_json::json!({"x": 1}));
        let not_an_event = http::Request::post("/x")
            .body(br#"{"hello":"world"}"#.to_vec())
            .unwrap();
        let not_json = http::Request::post("/x").body(b"<xml/>".to_vec()).unwrap();
        for request in [unknown_version, no_version, not_an_event, not_json] {
            assert_eq!(
                deliver(&dapr, &request, &runs, Ok(())),
                DeliveryStatus::Drop
            );
        }
        assert_eq!(runs.get(), 0);
        let bad = structured("e5", serde_json::json!({"schema_version": 1}));
        let drop = Err(Rejection::Drop("bad data".to_owned()));
        assert_eq!(deliver(&dapr, &bad, &runs, drop), DeliveryStatus::Drop);
        assert!(dapr.transport().saves.borrow().is_empty());
    }

    #[test]
    fn an_unreachable_sidecar_means_retry() {
        let dapr = client();
        dapr.transport().down.set(true);
        let runs = Cell::new(0);
        let request = structured("e6", serde_json::json!({"schema_version": 1}));
        assert_eq!(
            deliver(&dapr, &request, &runs, Ok(())),
            DeliveryStatus::Retry
        );
        assert_eq!(runs.get(), 0);
    }

    #[test]
    fn binary_mode_events_parse_from_ce_headers() {
        let request = http::Request::post("/x")
            .header("ce-specversion", "1.0")
            .header("ce-id", "b1")
            .header("ce-source", "chat-api")
            .header("ce-type", "task.updated")
            .header("ce-time", "2026-03-01T08:00:00Z")
            .header("content-type", "application/json")
            .body(br#"{"schema_version":1}"#.to_vec())
            .unwrap();
        let event = parse_delivery(&request).unwrap();
        assert_eq!(event.id, "b1");
        assert_eq!(event.event_type, "task.updated");
        assert_eq!(event.data["schema_version"], 1);
        assert_eq!(
            event.time.unwrap().to_rfc3339(),
            "2026-03-01T08:00:00+00:00"
        );
        let missing_id = http::Request::post("/x")
            .header("ce-specversion", "1.0")
            .body(Vec::new())
            .unwrap();
        assert!(parse_delivery(&missing_id).is_err());
    }

    #[test]
    fn a_custom_dedupe_key_merges_distinct_event_ids() {
        let dapr = client();
        let runs = Cell::new(0);
        let by_reminder = |e: &CloudEvent| e.data["reminder_id"].as_str().map(str::to_owned);
        for id in ["r-event-1", "r-event-2"] {
            let data = serde_json::json!({"schema_version": 1, "reminder_id": "t:3"});
            let status = deliver_with(&dapr, &structured(id, data), by_reminder, &runs, Ok(()));
            assert_eq!(status, DeliveryStatus::Success);
        }
        assert_eq!(runs.get(), 1);
        assert!(
            dapr.transport()
                .state
                .borrow()
                .contains_key("processed:t:3")
        );
        let no_key = structured("r-event-3", serde_json::json!({"schema_version": 1}));
        let status = deliver_with(&dapr, &no_key, by_reminder, &runs, Ok(()));
        assert_eq!(status, DeliveryStatus::Drop);
    }
}
