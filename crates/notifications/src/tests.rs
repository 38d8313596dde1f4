//! Unit tests of the pure parts: the reminder's parsing, the inbox document and its pages, the
//! webhook's signature and answer classes. The routes are tested on the harness
//! (tests/tests/notifications.rs).
use crate::inbox::{InboxDoc, InboxEntry, InboxQuery, Inserted, MAX_ENTRIES, MAX_LIMIT, inbox_key};
use crate::reminder::{Reminder, ReminderId, dedupe_key};
use crate::webhook::{Webhook, body, classify, signature, timeout_from_variable};
use chrono::{DateTime, TimeDelta, Utc};
use component_kit::subscriber::Rejection;
use dapr_client::{CloudEvent, TransportError};
use serde_json::{Value, json};
use uuid::Uuid;

const TASK: &str = "0b5e3c2a-6a55-4a8e-9a3e-0c1c9c1f7d10";

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn data(version: u64) -> Value {
    json!({
        "schema_version": 1, "user_id": "alice", "task_id": TASK, "task_title": "stretch",
        "due_date": "2026-03-02T07:00:00Z", "remind_at": "2026-03-02T06:45:00Z",
        "reminder_id": format!("{TASK}:{version}")
    })
}

fn event(data: Value) -> CloudEvent {
    CloudEvent::new("e1", "chat-api", "reminder.triggered", data)
}

fn reminder(version: u64, remind_at: &str) -> Reminder {
    let mut data = data(version);
    data["remind_at"] = remind_at.into();
    Reminder::from_event(&event(data)).unwrap()
}

#[test]
fn reminder_ids_have_one_spelling() {
    let id = ReminderId::parse(&format!("{TASK}:3")).unwrap();
    assert_eq!(id.version, 3);
    assert_eq!(id.to_string(), format!("{TASK}:3"));
    for bad in [
        format!("{TASK}:0"),
        format!("{TASK}:03"),
        format!("{TASK}:"),
        format!("{}:3", TASK.to_uppercase()),
        format!("{}:3", TASK.replace('-', "")),
        TASK.to_owned(),
        format!("{TASK}:3:4"),
        "x:1".to_owned(),
    ] {
        assert_eq!(ReminderId::parse(&bad), None, "{bad}");
    }
}

#[test]
fn the_dedupe_key_is_the_reminder_id_not_the_event_id() {
    assert_eq!(dedupe_key(&event(data(4))), Some(format!("{TASK}:4")));
    let mut bad = data(4);
    bad["reminder_id"] = "a||b".into();
    assert_eq!(dedupe_key(&event(bad)), None);
    let mut missing = data(4);
    missing.as_object_mut().unwrap().remove("reminder_id");
    assert_eq!(dedupe_key(&event(missing)), None);
}

#[test]
fn reminders_parse_from_the_event_data_or_give_a_reason() {
    let reminder = Reminder::from_event(&event(data(2))).unwrap();
    assert_eq!(reminder.user_id, "alice");
    assert_eq!(reminder.task_id, Uuid::parse_str(TASK).unwrap());
    assert_eq!(reminder.remind_at, t("2026-03-02T06:45:00Z"));

    let wrong_type = CloudEvent::new("e1", "chat-api", "task.created", data(2));
    assert!(
        Reminder::from_event(&wrong_type)
            .unwrap_err()
            .contains("type")
    );
    let mut other_task = data(2);
    other_task["reminder_id"] = "00000000-0000-4000-8000-000000000001:2".into();
    assert!(
        Reminder::from_event(&event(other_task))
            .unwrap_err()
            .contains("does not belong")
    );
    let mut no_title = data(2);
    no_title.as_object_mut().unwrap().remove("task_title");
    assert!(
        Reminder::from_event(&event(no_title))
            .unwrap_err()
            .contains("task_title")
    );
    let mut blank_user = data(2);
    blank_user["user_id"] = " ".into();
    assert!(Reminder::from_event(&event(blank_user)).is_err());
}

#[test]
fn inbox_keys_escape_the_user() {
    assert_eq!(inbox_key("alice"), "inbox:{alice}");
    assert_eq!(inbox_key("a||b:{c}"), "inbox:{a%7C%7Cb%3A%7Bc%7D}");
}

fn entry(version: u64, remind_at: &str) -> InboxEntry {
    InboxEntry::new(&reminder(version, remind_at), t("2026-03-02T07:00:00Z"))
}

#[test]
fn entries_are_kept_once_newest_first() {
    let mut doc = InboxDoc::default();
    assert_eq!(
        doc.insert(entry(1, "2026-03-02T06:00:00Z")),
        Inserted::Added
    );
    assert_eq!(
        doc.insert(entry(3, "2026-03-02T08:00:00Z")),
        Inserted::Added
    );
    // A late delivery of an older reminder lands in its place.
    assert_eq!(
        doc.insert(entry(2, "2026-03-02T07:00:00Z")),
        Inserted::Added
    );
    let mut again = entry(2, "2026-03-02T07:00:00Z");
    again.task_title = "changed".into();
    assert_eq!(doc.insert(again), Inserted::AlreadyThere);
    let versions: Vec<String> = doc.entries.iter().map(|e| e.id.clone()).collect();
    assert_eq!(
        versions,
        [
            format!("{TASK}:3"),
            format!("{TASK}:2"),
            format!("{TASK}:1")
        ]
    );
    assert_eq!(doc.entries[1].task_title, "stretch");
}

#[test]
fn a_full_inbox_drops_its_oldest_entries() {
    let start = t("2026-03-01T00:00:00Z");
    let mut doc = InboxDoc::default();
    for n in 0..MAX_ENTRIES as u64 {
        let at = (start + TimeDelta::minutes(n as i64 + 1)).to_rfc3339();
        assert_eq!(doc.insert(entry(n + 1, &at)), Inserted::Added);
    }
    let older = (start - TimeDelta::minutes(1)).to_rfc3339();
    assert_eq!(doc.insert(entry(9999, &older)), Inserted::TooOld);
    let newer = (start + TimeDelta::days(30)).to_rfc3339();
    assert_eq!(doc.insert(entry(10_000, &newer)), Inserted::Added);
    assert_eq!(doc.entries.len(), MAX_ENTRIES);
    assert_eq!(doc.entries[0].id, format!("{TASK}:10000"));
    // The oldest (version 1) made room.
    assert_eq!(doc.entries.last().unwrap().id, format!("{TASK}:2"));
}

#[test]
fn marking_read_keeps_the_first_time_and_counts_unread() {
    let mut doc = InboxDoc::default();
    doc.insert(entry(1, "2026-03-02T06:00:00Z"));
    doc.insert(entry(2, "2026-03-02T07:00:00Z"));
    assert_eq!(doc.unread_count(), 2);
    let id = format!("{TASK}:1");
    let (first, changed) = doc.mark_read(&id, t("2026-03-03T00:00:00Z")).unwrap();
    assert!(changed);
    assert_eq!(first.read_at, Some(t("2026-03-03T00:00:00Z")));
    let (second, changed) = doc.mark_read(&id, t("2026-03-04T00:00:00Z")).unwrap();
    assert!(!changed);
    assert_eq!(second.read_at, Some(t("2026-03-03T00:00:00Z")));
    assert_eq!(doc.unread_count(), 1);
    assert!(
        doc.mark_read(&format!("{TASK}:9"), t("2026-03-04T00:00:00Z"))
            .is_none()
    );
}

fn parse(query: &[(&str, &str)]) -> Result<InboxQuery, todo_domain::FieldError> {
    InboxQuery::parse(query.iter().copied())
}

#[test]
fn pages_walk_the_inbox_newest_first_without_repeats() {
    let mut doc = InboxDoc::default();
    let start = t("2026-03-01T00:00:00Z");
    for n in 1..=7u64 {
        let at = (start + TimeDelta::minutes(n as i64)).to_rfc3339();
        doc.insert(entry(n, &at));
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut pairs = vec![("limit", "3")];
        if let Some(cursor) = &cursor {
            pairs.push(("cursor", cursor.as_str()));
        }
        let page = parse(&pairs).unwrap().page(&doc);
        assert!(page.items.len() <= 3);
        assert_eq!(page.unread_count, 7);
        seen.extend(page.items.iter().map(|e| e.id.clone()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = (1..=7u64).rev().map(|n| format!("{TASK}:{n}")).collect();
    assert_eq!(seen, expected);

    // An entry added between pages neither repeats nor shifts the rest.
    let first = parse(&[("limit", "2")]).unwrap().page(&doc);
    doc.insert(entry(8, &(start + TimeDelta::hours(1)).to_rfc3339()));
    let cursor = first.next_cursor.unwrap();
    let second = parse(&[("limit", "2"), ("cursor", &cursor)])
        .unwrap()
        .page(&doc);
    assert_eq!(second.items[0].id, format!("{TASK}:5"));
}

#[test]
fn every_query_parameter_is_checked() {
    assert_eq!(parse(&[]).unwrap().limit, 20);
    assert_eq!(parse(&[("limit", "100")]).unwrap().limit, MAX_LIMIT);
    let field = |pairs: &[(&str, &str)]| parse(pairs).unwrap_err().field.unwrap();
    for bad in ["0", "101", "-1", "x", ""] {
        assert_eq!(field(&[("limit", bad)]), "limit", "{bad}");
    }
    assert_eq!(field(&[("cursor", "nope")]), "cursor");
    let foreign =
        todo_domain::query::encode_cursor(&json!({"remind_at": "2026-03-01T00:00:00Z", "id": "x"}));
    assert_eq!(field(&[("cursor", &foreign)]), "cursor");
    assert_eq!(field(&[("unread", "true")]), "unread");
    assert_eq!(field(&[("limit", "1"), ("limit", "2")]), "limit");
}

#[test]
fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
    // Computed independently: python3 -c 'import hmac, hashlib;
    // print(hmac.new(b"key", b"1772434200.{\"a\":1}", hashlib.sha256).hexdigest())'
    assert_eq!(
        signature(b"key", "1772434200", br#"{"a":1}"#),
        "sha256=edc68275ac4404a423dec3de0278fb10b9a654b4710a5649cad52dee2226de33"
    );
    assert_ne!(signature(b"key", "1", b"{}"), signature(b"key", "2", b"{}"));
    assert_ne!(
        signature(b"key", "1", b"{}"),
        signature(b"other", "1", b"{}")
    );
}

#[test]
fn the_webhook_request_is_signed_and_keyed_by_the_reminder() {
    let webhook = Webhook::from_variables(Some("https://hooks.example.com/todo"), Some("s3"))
        .unwrap()
        .unwrap();
    let reminder = reminder(2, "2026-03-02T06:45:00Z");
    let entry = InboxEntry::new(&reminder, t("2026-03-02T06:45:01.5Z"));
    let request = webhook.request(&reminder, &entry, t("2026-03-02T06:50:00Z"));
    assert_eq!(request.uri(), "https://hooks.example.com/todo");
    let header = |name: &str| request.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header("x-timestamp"), "1772434200");
    assert_eq!(header("idempotency-key"), format!("{TASK}:2"));
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(
        header("x-signature"),
        signature(b"s3", "1772434200", request.body())
    );
    let sent: Value = serde_json::from_slice(request.body()).unwrap();
    assert_eq!(
        sent,
        json!({
            "schema_version": 1, "type": "reminder.triggered", "reminder_id": format!("{TASK}:2"),
            "user_id": "alice", "task_id": TASK, "task_title": "stretch",
            "due_date": "2026-03-02T07:00:00Z", "remind_at": "2026-03-02T06:45:00Z",
            "delivered_at": "2026-03-02T06:45:01.500Z"
        })
    );
    // The body does not depend on when it is sent: retries send the same bytes.
    assert_eq!(body(&reminder, &entry), *request.body());
}

#[test]
fn webhook_variables_disable_or_configure_it_and_refuse_half_a_configuration() {
    assert_eq!(Webhook::from_variables(None, None), Ok(None));
    assert_eq!(Webhook::from_variables(Some(" "), Some("s")), Ok(None));
    assert!(
        Webhook::from_variables(Some("https://h/x"), None)
            .unwrap_err()
            .contains("secret")
    );
    assert!(Webhook::from_variables(Some("https://h/x"), Some("")).is_err());
    for bad in ["h/x", "ftp://h/x", "/x", "not a url"] {
        assert!(
            Webhook::from_variables(Some(bad), Some("s")).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn webhook_answers_decide_the_delivery() {
    let answer = |status: u16| {
        Ok(http::Response::builder()
            .status(status)
            .body(b"no".to_vec())
            .unwrap())
    };
    for status in [200, 201, 202, 204] {
        assert_eq!(classify(answer(status), "r"), Ok(status));
    }
    for status in [500, 502, 503, 504, 408, 429] {
        assert!(
            matches!(classify(answer(status), "r"), Err(Rejection::Retry(_))),
            "{status}"
        );
    }
    for status in [400, 401, 403, 404, 410, 422, 301] {
        assert!(
            matches!(classify(answer(status), "r"), Err(Rejection::Drop(_))),
            "{status}"
        );
    }
    let timeout = Err(TransportError("timed out".into()));
    assert!(matches!(classify(timeout, "r"), Err(Rejection::Retry(_))));
}

#[test]
fn the_webhook_timeout_is_milliseconds_within_a_minute() {
    use std::time::Duration;
    assert_eq!(timeout_from_variable(None), Ok(Duration::from_secs(5)));
    assert_eq!(timeout_from_variable(Some("")), Ok(Duration::from_secs(5)));
    assert_eq!(
        timeout_from_variable(Some("250")),
        Ok(Duration::from_millis(250))
    );
    assert_eq!(
        timeout_from_variable(Some("60000")),
        Ok(Duration::from_secs(60))
    );
    for bad in ["0", "60001", "5s", "-1", "1.5"] {
        assert!(timeout_from_variable(Some(bad)).is_err(), "{bad}");
    }
}
