//! Contract tests of Publish and Bulk Publish against daprd's source (dapr/dapr v1.16
//! `pkg/api/http/http.go`: `onPublish`, `onBulkPublish`; `pkg/api/http/util.go`;
//! `pkg/runtime/pubsub/cloudevents.go`) and components-contrib `pubsub/envelope.go`.

use chrono::Duration;
use dapr_sidecar::testing::*;
use dapr_sidecar::{PublishedMessage, Sidecar};
use serde_json::{Value, json};

const PUBLISH: &str = "/v1.0/publish/pubsub/tasks";

async fn publish(
    sidecar: &Sidecar,
    uri: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> http::Response<bytes::Bytes> {
    let headers: Vec<(&str, &str)> = content_type
        .map(|ct| ("content-type", ct))
        .into_iter()
        .collect();
    sidecar
        .handle("publisher", request_with("POST", uri, &headers, body))
        .await
}

fn only_message(sidecar: &Sidecar) -> PublishedMessage {
    let mut published = sidecar.published();
    assert_eq!(published.len(), 1, "exactly one message: {published:?}");
    published.remove(0)
}

fn only_event(sidecar: &Sidecar) -> Value {
    only_message(sidecar).event.expect("an envelope")
}

// ---- envelope of a plain body --------------------------------------------------------------

#[tokio::test]
async fn publish_answers_204_and_the_broker_gets_one_cloudevent() {
    let (sidecar, _) = sidecar();
    let response = publish(&sidecar, PUBLISH, Some("application/json"), br#"{"id":7}"#).await;
    assert_eq!(response.status(), 204);
    assert!(response.body().is_empty());
    let message = only_message(&sidecar);
    assert_eq!(
        (message.pubsub.as_str(), message.topic.as_str()),
        ("pubsub", "tasks")
    );
    assert_eq!(message.content_type, "application/cloudevents+json");
    let parsed: Value = serde_json::from_slice(&message.body).expect("body is JSON");
    assert_eq!(Some(parsed), message.event, "body and event agree");
}

#[tokio::test]
async fn a_json_body_is_wrapped_with_every_envelope_field() {
    let (sidecar, _) = sidecar();
    publish(
        &sidecar,
        PUBLISH,
        Some("application/json"),
        br#"{"title":"milk"}"#,
    )
    .await;
    let mut event = only_event(&sidecar);
    let id = event["id"].as_str().expect("id").to_owned();
    let uuid = uuid::Uuid::parse_str(&id).expect("id is a UUID");
    assert_eq!(uuid.get_version_num(), 4);
    event.as_object_mut().expect("object").remove("id");
    assert_eq!(
        event,
        json!({
            "data": {"title": "milk"},
            "datacontenttype": "application/json",
            "pubsubname": "pubsub",
            "source": "publisher",
            "specversion": "1.0",
            "time": "2026-01-01T00:00:00Z",
            "topic": "tasks",
            "traceid": "",
            "traceparent": "",
            "tracestate": "",
            "type": "com.dapr.event.sent",
        })
    );
}

#[tokio::test]
async fn the_envelope_is_serialized_as_daprd_does_with_sorted_keys() {
    let (sidecar, _) = sidecar();
    publish(&sidecar, PUBLISH, Some("text/plain"), b"<hi>").await;
    let body = String::from_utf8(only_message(&sidecar).body.to_vec()).expect("utf-8");
    assert!(
        body.starts_with(r#"{"data":"\u003chi\u003e","datacontenttype":"text/plain","id":""#),
        "{body}"
    );
}

#[tokio::test]
async fn json_with_a_charset_parameter_is_still_parsed() {
    let (sidecar, _) = sidecar();
    publish(
        &sidecar,
        PUBLISH,
        Some("application/json; charset=utf-8"),
        b"[1,2]",
    )
    .await;
    let event = only_event(&sidecar);
    assert_eq!(event["data"], json!([1, 2]));
    assert_eq!(event["datacontenttype"], "application/json; charset=utf-8");
}

#[tokio::test]
async fn invalid_json_under_application_json_becomes_a_string() {
    let (sidecar, _) = sidecar();
    publish(&sidecar, PUBLISH, Some("application/json"), b"not json").await;
    assert_eq!(only_event(&sidecar)["data"], "not json");
}

#[tokio::test]
async fn octet_stream_goes_to_data_base64() {
    let (sidecar, _) = sidecar();
    publish(
        &sidecar,
        PUBLISH,
        Some("application/octet-stream"),
        &[0, 159, 146, 150],
    )
    .await;
    let event = only_event(&sidecar);
    assert_eq!(event["data_base64"], "AJ+Slg==");
    assert!(event.get("data").is_none());
}

#[tokio::test]
async fn a_body_without_content_type_is_text_plain_string_data() {
    let (sidecar, _) = sidecar();
    publish(&sidecar, PUBLISH, None, b"hello").await;
    let event = only_event(&sidecar);
    assert_eq!(event["datacontenttype"], "text/plain");
    assert_eq!(event["data"], "hello");
}

#[tokio::test]
async fn any_other_content_type_carries_the_body_as_a_string() {
    let (sidecar, _) = sidecar();
    publish(&sidecar, PUBLISH, Some("application/xml"), b"<a>1</a>").await;
    let event = only_event(&sidecar);
    assert_eq!(event["datacontenttype"], "application/xml");
    assert_eq!(event["data"], "<a>1</a>");
}

#[tokio::test]
async fn the_topic_may_contain_slashes() {
    let (sidecar, _) = sidecar();
    let response = publish(
        &sidecar,
        "/v1.0/publish/pubsub/tasks/created/v2",
        None,
        b"x",
    )
    .await;
    assert_eq!(response.status(), 204);
    assert_eq!(only_message(&sidecar).topic, "tasks/created/v2");
    assert_eq!(only_event(&sidecar)["topic"], "tasks/created/v2");
}

#[tokio::test]
async fn put_publishes_like_post() {
    let (sidecar, _) = sidecar();
    let response = sidecar
        .handle("publisher", request("PUT", PUBLISH, "x"))
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(sidecar.published().len(), 1);
}

#[tokio::test]
async fn the_callers_trace_context_goes_into_the_envelope() {
    let (sidecar, _) = sidecar();
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let headers = [
        ("traceparent", traceparent),
        ("tracestate", "congo=t61rcWkgMzE"),
    ];
    sidecar
        .handle("publisher", request_with("POST", PUBLISH, &headers, b"x"))
        .await;
    let event = only_event(&sidecar);
    assert_eq!(event["traceid"], traceparent);
    assert_eq!(event["traceparent"], traceparent);
    assert_eq!(event["tracestate"], "congo=t61rcWkgMzE");
}

// ---- metadata ------------------------------------------------------------------------------

#[tokio::test]
async fn cloudevent_metadata_overrides_envelope_fields() {
    let (sidecar, _) = sidecar();
    let uri = format!(
        "{PUBLISH}?metadata.cloudevent.id=my-id&metadata.cloudevent.source=my-src\
         &metadata.cloudevent.type=task.completed&metadata.cloudevent.subject=task-1\
         &metadata.cloudevent.traceparent=00-abc-def-01"
    );
    publish(&sidecar, &uri, Some("application/json"), b"{}").await;
    let event = only_event(&sidecar);
    assert_eq!(event["id"], "my-id");
    assert_eq!(event["source"], "my-src");
    assert_eq!(event["type"], "task.completed");
    assert_eq!(event["subject"], "task-1");
    assert_eq!(event["traceid"], "00-abc-def-01");
    assert_eq!(event["traceparent"], "00-abc-def-01");
    assert_eq!(
        event["topic"], "tasks",
        "routing fields cannot be overridden"
    );
}

#[tokio::test]
async fn ttl_in_seconds_adds_an_expiration() {
    let (sidecar, clock) = sidecar();
    clock.advance(Duration::seconds(30));
    publish(
        &sidecar,
        &format!("{PUBLISH}?metadata.ttlInSeconds=90"),
        None,
        b"x",
    )
    .await;
    let message = only_message(&sidecar);
    assert_eq!(
        message.metadata.get("ttlInSeconds").map(String::as_str),
        Some("90")
    );
    assert_eq!(
        message.event.expect("envelope")["expiration"],
        "2026-01-01T00:02:00Z"
    );
}

#[tokio::test]
async fn raw_payload_true_publishes_the_body_unwrapped() {
    let (sidecar, _) = sidecar();
    let uri = format!("{PUBLISH}?metadata.rawPayload=true");
    let response = publish(
        &sidecar,
        &uri,
        Some("application/json"),
        br#"{"raw": 1.50}"#,
    )
    .await;
    assert_eq!(response.status(), 204);
    let message = only_message(&sidecar);
    assert_eq!(message.body.as_ref(), br#"{"raw": 1.50}"#);
    assert_eq!(message.event, None);
    assert_eq!(message.content_type, "application/json");
}

#[tokio::test]
async fn raw_payload_false_still_wraps() {
    let (sidecar, _) = sidecar();
    publish(
        &sidecar,
        &format!("{PUBLISH}?metadata.rawPayload=False"),
        None,
        b"x",
    )
    .await;
    assert!(only_message(&sidecar).event.is_some());
}

#[tokio::test]
async fn a_bad_raw_payload_value_answers_400_and_publishes_nothing() {
    let (sidecar, _) = sidecar();
    let response = publish(
        &sidecar,
        &format!("{PUBLISH}?metadata.rawPayload=yes"),
        None,
        b"x",
    )
    .await;
    let message = assert_error(&response, 400, "ERR_PUBSUB_REQUEST_METADATA");
    assert_eq!(
        message,
        "failed deserializing metadata. Error: rawPayload value must be a valid boolean: actual is 'yes'"
    );
    assert!(sidecar.published().is_empty());
}

// ---- the app's own CloudEvent --------------------------------------------------------------

#[tokio::test]
async fn cloudevent_passthrough_keeps_the_apps_id_and_type() {
    let (sidecar, _) = sidecar();
    let own = json!({
        "specversion": "1.0",
        "id": "evt-42",
        "type": "task.completed",
        "source": "tasks",
        "topic": "spoofed",
        "pubsubname": "spoofed",
        "data": {"taskId": 1},
    });
    let response = publish(
        &sidecar,
        PUBLISH,
        Some("application/cloudevents+json"),
        own.to_string().as_bytes(),
    )
    .await;
    assert_eq!(response.status(), 204);
    let event = only_event(&sidecar);
    assert_eq!(event["id"], "evt-42");
    assert_eq!(event["type"], "task.completed");
    assert_eq!(event["source"], "tasks");
    assert_eq!(event["topic"], "tasks", "Dapr overwrites topic");
    assert_eq!(event["pubsubname"], "pubsub", "Dapr overwrites pubsubname");
    assert_eq!(
        event["time"], "2026-01-01T00:00:00Z",
        "time added when missing"
    );
    assert_eq!(
        event["traceid"], "",
        "trace fields added when traceid is missing"
    );
    assert_eq!(event["data"], json!({"taskId": 1}));
}

#[tokio::test]
async fn cloudevent_passthrough_generates_no_id_and_fills_defaults() {
    let (sidecar, _) = sidecar();
    let own = br#"{"data":"x","time":"2020-01-01T00:00:00Z","traceid":"mine"}"#;
    publish(&sidecar, PUBLISH, Some("application/cloudevents+json"), own).await;
    let event = only_event(&sidecar);
    assert!(event.get("id").is_none(), "no id generated: {event}");
    assert_eq!(event["source"], "Dapr");
    assert_eq!(event["type"], "com.dapr.event.sent");
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(
        event["time"], "2020-01-01T00:00:00Z",
        "the app's time is kept"
    );
    assert_eq!(event["traceid"], "mine", "the app's trace id is kept");
}

#[tokio::test]
async fn cloudevent_metadata_overrides_do_not_apply_to_the_apps_own_cloudevent() {
    let (sidecar, _) = sidecar();
    let uri = format!("{PUBLISH}?metadata.cloudevent.type=other");
    publish(
        &sidecar,
        &uri,
        Some("application/cloudevents+json"),
        br#"{"type":"mine","id":"1"}"#,
    )
    .await;
    assert_eq!(only_event(&sidecar)["type"], "mine");
}

#[tokio::test]
async fn a_cloudevent_body_that_is_not_a_json_object_answers_500() {
    let (sidecar, _) = sidecar();
    let response = publish(
        &sidecar,
        PUBLISH,
        Some("application/cloudevents+json"),
        b"[1]",
    )
    .await;
    assert_error(&response, 500, "ERR_PUBSUB_CLOUD_EVENTS_SER");
    assert!(sidecar.published().is_empty());
}

// ---- errors --------------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_pubsub_answers_404_pubsub_not_found() {
    let (sidecar, _) = sidecar();
    let response = publish(&sidecar, "/v1.0/publish/kafka/tasks", None, b"x").await;
    let message = assert_error(&response, 404, "ERR_PUBSUB_NOT_FOUND");
    assert_eq!(message, "pubsub kafka not found");
    assert!(sidecar.published().is_empty());
}

#[tokio::test]
async fn an_empty_pubsub_name_or_topic_answers_404() {
    let (sidecar, _) = sidecar();
    for uri in [
        "/v1.0/publish/pubsub/",
        "/v1.0/publish/pubsub",
        "/v1.0/publish//tasks",
    ] {
        assert_eq!(
            publish(&sidecar, uri, None, b"x").await.status(),
            404,
            "{uri}"
        );
    }
    assert!(sidecar.published().is_empty());
}

#[tokio::test]
async fn a_broker_failure_answers_500_and_records_nothing() {
    let (sidecar, _) = sidecar();
    sidecar.faults().fail_next_publishes(1);
    let response = publish(&sidecar, PUBLISH, None, b"x").await;
    let message = assert_error(&response, 500, "ERR_PUBSUB_PUBLISH_MESSAGE");
    assert!(message.starts_with("error when publishing to topic tasks in pubsub pubsub: "));
    assert!(sidecar.published().is_empty());
    assert_eq!(
        publish(&sidecar, PUBLISH, None, b"x").await.status(),
        204,
        "next one goes through"
    );
}

// ---- bulk publish --------------------------------------------------------------------------

const BULK: &str = "/v1.0-alpha1/publish/bulk/pubsub/tasks";

async fn bulk(sidecar: &Sidecar, uri: &str, body: &str) -> http::Response<bytes::Bytes> {
    send(sidecar, "publisher", "POST", uri, body).await
}

#[tokio::test]
async fn bulk_publish_answers_204_and_wraps_each_entry() {
    let (sidecar, _) = sidecar();
    for uri in [BULK, "/v1.0/publish/bulk/pubsub/tasks"] {
        let body = r#"[
            {"entryId":"1","event":{"n":1},"contentType":"application/json"},
            {"entryId":"2","event":"plain","contentType":"text/plain"}
        ]"#;
        let response = bulk(&sidecar, uri, body).await;
        assert_eq!(response.status(), 204, "{uri}: {}", text(&response));
    }
    let events: Vec<Value> = sidecar
        .published()
        .into_iter()
        .map(|m| m.event.expect("envelope"))
        .collect();
    assert_eq!(events.len(), 4);
    assert_eq!(events[0]["data"], json!({"n": 1}));
    assert_eq!(events[1]["data"], "plain");
    assert_eq!(events[1]["source"], "publisher");
    assert_ne!(events[0]["id"], events[1]["id"]);
}

#[tokio::test]
async fn bulk_entry_metadata_overrides_apply_per_entry() {
    let (sidecar, _) = sidecar();
    let body = r#"[
        {"entryId":"1","event":{},"contentType":"application/json","metadata":{"cloudevent.type":"task.created"}},
        {"entryId":"2","event":{},"contentType":"application/json"}
    ]"#;
    bulk(&sidecar, BULK, body).await;
    let events: Vec<Value> = sidecar
        .published()
        .into_iter()
        .map(|m| m.event.expect("envelope"))
        .collect();
    assert_eq!(events[0]["type"], "task.created");
    assert_eq!(events[1]["type"], "com.dapr.event.sent");
}

/// daprd decodes the body with Go's encoding/json into `[]bulkPublishMessageEntry`:
/// `EntryID string json:"entryId,omitempty"`, `Event interface{} json:"event"`, `ContentType
/// string json:"contentType"`, `Metadata map[string]string json:"metadata,omitempty"`. Names
/// match case-insensitively (Dapr's JavaScript SDK sends `entryID`), unknown fields are ignored,
/// the last duplicate key wins and `null` leaves a string as it was.
#[tokio::test]
async fn bulk_entries_are_decoded_by_gos_rules() {
    let (sidecar, _) = sidecar();
    let body = r#"[
        {"entryID":"js-1","event":{"n":1},"contentType":"application/json","sdk":"js"},
        {"ENTRYID":"2","EVENT":"plain","ContentType":"text/plain","Metadata":{"cloudevent.type":"t.x"}},
        {"entryId":"a","entryID":"3","event":"x","contentType":"text/plain","contentType":null,"metadata":null}
    ]"#;
    let response = bulk(&sidecar, BULK, body).await;
    assert_eq!(response.status(), 204, "{}", text(&response));
    let events: Vec<Value> = sidecar
        .published()
        .into_iter()
        .map(|m| m.event.expect("envelope"))
        .collect();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["data"], json!({"n": 1}));
    assert_eq!(events[1]["data"], "plain");
    assert_eq!(events[1]["type"], "t.x");
    assert_eq!(events[2]["data"], "x");
    assert_eq!(events[2]["datacontenttype"], "text/plain");

    // The first entry's id is "b" (the later key), so the second one duplicates it.
    let duplicated = r#"[{"entryId":"a","entryID":"b","event":"x","contentType":"text/plain"},
                         {"EntryId":"b","event":"y","contentType":"text/plain"}]"#;
    assert_error(
        &bulk(&sidecar, BULK, duplicated).await,
        400,
        "ERR_PUBSUB_EVENTS_SER",
    );
}

/// `"event": null` after `"event": "x"` leaves `Event` nil (an interface), which no content
/// type accepts: the whole request is refused, as daprd refuses it.
#[tokio::test]
async fn a_null_event_clears_an_earlier_duplicate() {
    let (sidecar, _) = sidecar();
    let body = r#"[{"entryId":"1","event":"x","event":null,"contentType":"text/plain"}]"#;
    let response = bulk(&sidecar, BULK, body).await;
    assert_eq!(response.status(), 500, "{}", text(&response));
    assert!(sidecar.published().is_empty());
}

#[tokio::test]
async fn bulk_entries_without_a_unique_entry_id_answer_400_and_publish_nothing() {
    let (sidecar, _) = sidecar();
    let missing = r#"[{"event":"x","contentType":"text/plain"}]"#;
    let duplicated = r#"[{"entryId":"1","event":"x","contentType":"text/plain"},{"entryId":"1","event":"y","contentType":"text/plain"}]"#;
    for body in [missing, duplicated] {
        let message = assert_error(
            &bulk(&sidecar, BULK, body).await,
            400,
            "ERR_PUBSUB_EVENTS_SER",
        );
        assert!(
            message.ends_with("entryId is duplicated or not present for entry"),
            "{message}"
        );
    }
    assert!(sidecar.published().is_empty());
}

#[tokio::test]
async fn a_malformed_bulk_body_answers_400() {
    let (sidecar, _) = sidecar();
    assert_error(
        &bulk(&sidecar, BULK, r#"{"entryId":"1"}"#).await,
        400,
        "ERR_PUBSUB_EVENTS_SER",
    );
}

#[tokio::test]
async fn a_bulk_event_that_does_not_fit_its_content_type_answers_500() {
    let (sidecar, _) = sidecar();
    let body = r#"[{"entryId":"1","event":{"not":"text"},"contentType":"text/plain"}]"#;
    assert_error(
        &bulk(&sidecar, BULK, body).await,
        500,
        "ERR_PUBSUB_CLOUD_EVENTS_SER",
    );
}

#[tokio::test]
async fn bulk_to_an_unknown_pubsub_answers_404() {
    let (sidecar, _) = sidecar();
    let response = bulk(&sidecar, "/v1.0-alpha1/publish/bulk/nope/tasks", "[]").await;
    assert_error(&response, 404, "ERR_PUBSUB_NOT_FOUND");
}

#[tokio::test]
async fn bulk_with_a_bad_raw_payload_value_answers_400() {
    let (sidecar, _) = sidecar();
    let response = bulk(&sidecar, &format!("{BULK}?metadata.rawPayload=nope"), "[]").await;
    assert_error(&response, 400, "ERR_PUBSUB_REQUEST_METADATA");
}

#[tokio::test]
async fn bulk_raw_payload_publishes_the_decoded_events() {
    let (sidecar, _) = sidecar();
    let body = r#"[{"entryId":"1","event":"aGk=","contentType":"application/octet-stream"}]"#;
    bulk(&sidecar, &format!("{BULK}?metadata.rawPayload=true"), body).await;
    let message = only_message(&sidecar);
    assert_eq!(message.body.as_ref(), b"hi");
    assert_eq!(message.content_type, "application/octet-stream");
    assert!(message.event.is_none());
}

#[tokio::test]
async fn a_bulk_broker_failure_answers_500_with_the_failed_entries() {
    let (sidecar, _) = sidecar();
    sidecar.faults().fail_next_publishes(1);
    let body = r#"[
        {"entryId":"a","event":"1","contentType":"text/plain"},
        {"entryId":"b","event":"2","contentType":"text/plain"}
    ]"#;
    let response = bulk(&sidecar, BULK, body).await;
    assert_eq!(response.status(), 500);
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    assert_eq!(
        json(&response),
        json!({
            "failedEntries": [{"entryId": "a", "error": "injected broker failure"}],
            "errorCode": "ERR_PUBSUB_PUBLISH_MESSAGE",
        })
    );
    let published = sidecar.published();
    assert_eq!(
        published.len(),
        1,
        "the entry that succeeded stays published"
    );
    assert_eq!(published[0].event.as_ref().expect("envelope")["data"], "2");
}
