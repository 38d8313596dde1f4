//! Subscriptions and delivery to apps, against daprd's source (dapr/dapr v1.16
//! `pkg/runtime/subscription/subscription.go`, `pkg/runtime/subscription/postman/http/http.go`,
//! `pkg/runtime/pubsub/subscriptions.go`) and dapr/dapr#8297 for unmatched events. Time is paused
//! (tokio `start_paused`), so back-offs of seconds take no real time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dapr_sidecar::testing::{FakeApps, Reply, data_dir, resources_dir};
use dapr_sidecar::{Sidecar, SidecarConfig, SubscriptionKind};
use http::Request;
use serde_json::{Value, json};

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

fn config(apps: &Arc<FakeApps>, app_ids: &[&str], resources_dir: Option<PathBuf>) -> SidecarConfig {
    SidecarConfig {
        app_channel: apps.clone(),
        apps: app_ids.iter().map(|s| (*s).to_owned()).collect(),
        resources_dir,
        ..SidecarConfig::default()
    }
}

/// `name` subscribes app(s) `scopes` (empty = all) to `topic` with `routes` (YAML).
fn subscription(name: &str, topic: &str, routes: &str, extra: &str, scopes: &[&str]) -> String {
    let scopes = if scopes.is_empty() {
        String::new()
    } else {
        format!("scopes: [{}]\n", scopes.join(", "))
    };
    format!(
        "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata:\n  name: {name}\nspec:\n  pubsubname: pubsub\n  topic: {topic}\n  routes:\n{routes}\n{extra}{scopes}"
    )
}

fn default_route(path: &str) -> String {
    format!("    default: {path}")
}

/// Retries every 100 ms, `max_retries` times, for deliveries from `pubsub`.
fn constant_retries(max_retries: i64) -> String {
    format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata:\n  name: r\nspec:\n  policies:\n    retries:\n      inbound:\n        policy: constant\n        duration: 100ms\n        maxRetries: {max_retries}\n  targets:\n    components:\n      pubsub:\n        inbound:\n          retry: inbound\n"
    )
}

async fn publish_json(sidecar: &Sidecar, topic: &str, body: Value) -> u16 {
    publish_with(sidecar, topic, "application/json", &[], &body.to_string()).await
}

async fn publish_with(
    sidecar: &Sidecar,
    topic: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> u16 {
    let mut builder =
        Request::post(format!("/v1.0/publish/pubsub/{topic}")).header("content-type", content_type);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Bytes::copy_from_slice(body.as_bytes()))
        .expect("request");
    sidecar.handle("chat-api", request).await.status().as_u16()
}

/// Waits (in paused time: up to 10 virtual minutes) until `condition` holds.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..60_000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Lets the workers run for `seconds` of (paused) time.
async fn settle(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

fn ingress(sidecar: &Sidecar, app: &str, topic: &str, status: &str) -> f64 {
    sidecar.metrics().counter(
        "dapr_component_pubsub_ingress_count",
        &[
            ("app_id", app),
            ("component", "pubsub"),
            ("topic", topic),
            ("process_status", status),
        ],
    )
}

fn repo_dapr_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dapr")
}

// ------------------------------------------------------------------------------------------
// The reply table
// ------------------------------------------------------------------------------------------

/// One message to app `a` (default route, retries every 100 ms up to 3 times, dead letters on
/// `dlq`, which app `b` reads), the app answering `first` and then 200: how many deliveries `a`
/// got, and whether the message was dead-lettered.
async fn run_reply(first: Reply) -> (usize, usize, Sidecar) {
    let apps = FakeApps::new();
    apps.script("a", &[first]);
    let dir = resources_dir(&[
        (
            "sub.yaml",
            &subscription(
                "s",
                "t",
                &default_route("/in"),
                "  deadLetterTopic: dlq\n",
                &["a"],
            ),
        ),
        (
            "dlq.yaml",
            &subscription("d", "dlq", &default_route("/dead"), "", &["b"]),
        ),
        ("resiliency.yaml", &constant_retries(3)),
    ]);
    let sidecar = Sidecar::new(config(&apps, &["a", "b"], Some(dir)));
    sidecar.start();
    assert_eq!(publish_json(&sidecar, "t", json!({"n": 1})).await, 204);
    eventually("the message to be settled", || {
        let done = ingress(&sidecar, "a", "t", "success") + ingress(&sidecar, "a", "t", "drop");
        done >= 1.0
    })
    .await;
    settle(5).await;
    let to_a = apps.deliveries_to("a").len();
    let dead = apps.deliveries_to("b").len();
    (to_a, dead, sidecar)
}

#[tokio::test(start_paused = true)]
async fn success_replies_are_acknowledged_after_one_delivery() {
    for reply in [
        Reply::Status(200),
        Reply::Status(204),
        Reply::body(200, r#"{"status":"SUCCESS"}"#),
        Reply::body(200, "{}"),
        Reply::body(200, "not json at all"),
        Reply::body(202, r#"["an","array"]"#),
    ] {
        let (to_a, dead, sidecar) = run_reply(reply.clone()).await;
        assert_eq!((to_a, dead), (1, 0), "{reply:?}");
        assert_eq!(ingress(&sidecar, "a", "t", "success"), 1.0, "{reply:?}");
        assert!(sidecar.dead_letters().is_empty(), "{reply:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn retry_unknown_status_other_codes_and_no_connection_are_redelivered() {
    for reply in [
        Reply::body(200, r#"{"status":"RETRY"}"#),
        Reply::body(200, r#"{"status":"maybe"}"#),
        Reply::Status(500),
        Reply::Status(503),
        Reply::Status(400),
        Reply::Unreachable,
    ] {
        let (to_a, dead, sidecar) = run_reply(reply.clone()).await;
        assert_eq!((to_a, dead), (2, 0), "{reply:?}: one retry, then the 200");
        assert_eq!(ingress(&sidecar, "a", "t", "retry"), 1.0, "{reply:?}");
        assert_eq!(ingress(&sidecar, "a", "t", "success"), 1.0, "{reply:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn drop_and_404_are_not_retried_and_go_to_the_dead_letter_topic() {
    for (reply, reason) in [
        (Reply::body(200, r#"{"status":"DROP"}"#), "DROP status"),
        (Reply::Status(404), "status code returned: 404"),
    ] {
        let (to_a, dead, sidecar) = run_reply(reply.clone()).await;
        assert_eq!((to_a, dead), (1, 1), "{reply:?}");
        assert_eq!(ingress(&sidecar, "a", "t", "drop"), 1.0, "{reply:?}");
        let letters = sidecar.dead_letters();
        assert_eq!(letters.len(), 1, "{reply:?}");
        assert_eq!(letters[0].topic, "dlq");
        assert_eq!(letters[0].original_topic, "t");
        assert_eq!(letters[0].app_id, "a");
        assert!(letters[0].reason.contains(reason), "{}", letters[0].reason);
        assert_eq!(letters[0].event["data"], json!({"n": 1}));
    }
}

#[tokio::test(start_paused = true)]
async fn a_drop_without_a_dead_letter_topic_is_acknowledged_and_gone() {
    let apps = FakeApps::new();
    apps.script("a", &[Reply::Status(404)]);
    let dir = resources_dir(&[(
        "sub.yaml",
        &subscription("s", "t", &default_route("/in"), "", &[]),
    )]);
    let sidecar = Sidecar::new(config(&apps, &["a"], Some(dir)));
    sidecar.start();
    publish_json(&sidecar, "t", json!(1)).await;
    eventually("the drop", || ingress(&sidecar, "a", "t", "drop") == 1.0).await;
    settle(120).await;
    assert_eq!(apps.deliveries_to("a").len(), 1);
    assert!(sidecar.dead_letters().is_empty());
}

// ------------------------------------------------------------------------------------------
// Delivery request
// ------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_delivery_posts_the_envelope_as_published_with_daprs_headers() {
    let apps = FakeApps::new();
    let dir = resources_dir(&[(
        "sub.yaml",
        &subscription("s", "t", &default_route("in/path"), "", &[]),
    )]);
    let sidecar = Sidecar::new(SidecarConfig {
        app_api_token: Some("secret-token".into()),
        ..config(&apps, &["a"], Some(dir))
    });
    sidecar.start();
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let status = publish_with(
        &sidecar,
        "t",
        "application/json",
        &[("traceparent", traceparent), ("tracestate", "k=v")],
        r#"{"task":{"id":"t1"}}"#,
    )
    .await;
    assert_eq!(status, 204);
    eventually("the delivery", || apps.deliveries().len() == 1).await;
    let call = &apps.deliveries()[0];
    assert_eq!(call.app_id, "a");
    assert_eq!(call.uri, "/in/path");
    assert_eq!(
        call.header("content-type"),
        Some("application/cloudevents+json")
    );
    assert_eq!(call.header("pubsubname"), Some("pubsub"));
    assert_eq!(call.header("traceparent"), Some(traceparent));
    assert_eq!(call.header("tracestate"), Some("k=v"));
    assert_eq!(call.header("dapr-api-token"), Some("secret-token"));
    let published = sidecar.published();
    assert_eq!(
        call.body, published[0].body,
        "the envelope exactly as published"
    );
    let event = call.json();
    assert_eq!(event["type"], "com.dapr.event.sent");
    assert_eq!(event["source"], "chat-api");
    assert_eq!(event["data"]["task"]["id"], "t1");
    let subscribe = apps.subscribe_calls();
    assert_eq!(subscribe[0].header("dapr-api-token"), Some("secret-token"));
}

#[tokio::test(start_paused = true)]
async fn publishing_never_waits_for_delivery() {
    let apps = FakeApps::new();
    apps.default_reply("a", Reply::Hang);
    let dir = resources_dir(&[(
        "sub.yaml",
        &subscription("s", "t", &default_route("/in"), "", &[]),
    )]);
    let sidecar = Sidecar::new(config(&apps, &["a"], Some(dir)));
    sidecar.start();
    for n in 0..3 {
        let publish = publish_json(&sidecar, "t", json!(n));
        let status = tokio::time::timeout(Duration::from_millis(1), publish).await;
        assert_eq!(status, Ok(204), "publish {n} answered at once");
    }
    eventually("the first delivery", || apps.deliveries().len() == 1).await;
    settle(60).await;
    assert_eq!(
        apps.deliveries().len(),
        1,
        "the hanging app holds its own queue only"
    );
}

// ------------------------------------------------------------------------------------------
// Routing
// ------------------------------------------------------------------------------------------

const TASK_ROUTES: &str = "    rules:\n      - match: event.type == \"task.completed\"\n        path: /completed\n    default: /other";

#[tokio::test(start_paused = true)]
async fn a_plain_publish_falls_to_the_default_route_and_an_own_cloudevent_matches_its_rule() {
    let apps = FakeApps::new();
    let dir = resources_dir(&[(
        "sub.yaml",
        &subscription("s", "task-events", TASK_ROUTES, "", &[]),
    )]);
    let sidecar = Sidecar::new(config(&apps, &["recurring"], Some(dir)));
    sidecar.start();
    // Plain JSON: Dapr wraps it with type com.dapr.event.sent (the predecessor's defect 3).
    publish_json(&sidecar, "task-events", json!({"type": "task.completed"})).await;
    // The publisher's own CloudEvent keeps its type.
    let own = json!({"id": "e-1", "type": "task.completed", "source": "chat-api",
                     "specversion": "1.0", "data": {"taskId": "t1"}});
    publish_with(
        &sidecar,
        "task-events",
        "application/cloudevents+json",
        &[],
        &own.to_string(),
    )
    .await;
    // Or sets it through metadata.
    publish_with(
        &sidecar,
        "task-events?metadata.cloudevent.type=task.completed",
        "application/json",
        &[],
        "{}",
    )
    .await;
    eventually("three deliveries", || apps.deliveries().len() == 3).await;
    let paths: Vec<_> = apps.deliveries().iter().map(|c| c.uri.clone()).collect();
    assert_eq!(paths, ["/other", "/completed", "/completed"]);
    assert_eq!(apps.deliveries()[1].json()["id"], "e-1");
}

#[tokio::test(start_paused = true)]
async fn rules_are_tried_in_order_on_nested_data_and_no_match_is_not_delivered() {
    let apps = FakeApps::new();
    let routes = "    rules:\n      - match: has(event.data.task) && event.data.task.priority == 1\n        path: /urgent\n      - match: event.data.kind in ['a', 'b'] || event.type.startsWith('x.')\n        path: /ab";
    let dir = resources_dir(&[("sub.yaml", &subscription("s", "t", routes, "", &[]))]);
    let sidecar = Sidecar::new(config(&apps, &["a"], Some(dir)));
    sidecar.start();
    publish_json(&sidecar, "t", json!({"task": {"priority": 1}, "kind": "a"})).await;
    publish_json(&sidecar, "t", json!({"task": {"priority": 2}, "kind": "b"})).await;
    publish_json(&sidecar, "t", json!({"kind": "zzz"})).await; // no rule matches
    publish_json(&sidecar, "t", json!({"task": {"priority": 1}})).await;
    eventually("four settled", || {
        ingress(&sidecar, "a", "t", "success") + ingress(&sidecar, "a", "t", "drop") == 4.0
    })
    .await;
    let paths: Vec<_> = apps.deliveries().iter().map(|c| c.uri.clone()).collect();
    assert_eq!(paths, ["/urgent", "/ab", "/urgent"]);
    assert_eq!(
        ingress(&sidecar, "a", "t", "drop"),
        1.0,
        "the unmatched event"
    );
    assert!(
        sidecar.dead_letters().is_empty(),
        "no dead-letter topic: just acknowledged"
    );
}

#[tokio::test(start_paused = true)]
async fn the_repos_recurring_subscription_acknowledges_other_task_events_instead_of_dead_lettering_them()
 {
    // The repo's own folder: the recurring service routes task.completed to its handler and
    // everything else to /recurring/ignored, so nothing lands in task-events-dlq.
    let apps = FakeApps::new();
    let sidecar = Sidecar::new(config(
        &apps,
        &[
            "chat-api",
            "audit-service",
            "recurring-task-service",
            "notification-service",
        ],
        Some(repo_dapr_dir()),
    ));
    sidecar.start();
    publish_json(&sidecar, "task-events", json!({"task": "created"})).await;
    eventually("both deliveries", || {
        apps.deliveries_to("audit-service").len() == 1
            && apps.deliveries_to("recurring-task-service").len() == 1
    })
    .await;
    assert_eq!(
        apps.deliveries_to("recurring-task-service")[0].uri,
        "/recurring/ignored"
    );
    assert_eq!(
        apps.deliveries_to("audit-service")[0].uri,
        "/audit/task-events"
    );
    settle(5).await;
    assert!(sidecar.dead_letters().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_unmatched_event_goes_to_the_dead_letter_topic_when_there_is_one_as_in_daprd() {
    // dapr/dapr#8297: with rules, no default and a dead-letter topic, daprd dead-letters an
    // event that matches no rule.
    let apps = FakeApps::new();
    let routes = "    rules:\n      - match: event.type == \"task.completed\"\n        path: /done";
    let dir = resources_dir(&[(
        "sub.yaml",
        &subscription("s", "t", routes, "  deadLetterTopic: dlq\n", &[]),
    )]);
    let sidecar = Sidecar::new(config(&apps, &["a"], Some(dir)));
    sidecar.start();
    publish_json(&sidecar, "t", json!({"task": "created"})).await;
    eventually("the dead letter", || sidecar.dead_letters().len() == 1).await;
    assert!(apps.deliveries_to("a").is_empty());
    let letter = &sidecar.dead_letters()[0];
    assert_eq!(letter.app_id, "a");
    assert_eq!(letter.topic, "dlq");
    assert_eq!(letter.reason, "no matching route");
}

#[tokio::test(start_paused = true)]
async fn a_routing_rule_that_fails_to_evaluate_dead_letters_the_message() {
    let apps = FakeApps::new();
    let routes =
        "    rules:\n      - match: event.data.missing == 1\n        path: /x\n    default: /d";
    let dir = resources_dir(&[(
        "sub.yaml",
        &subscription("s", "t", routes, "  deadLetterTopic: dlq\n", &[]),
    )]);
    let sidecar = Sidecar::new(config(&apps, &["a"], Some(dir)));
    sidecar.start();
    publish_json(&sidecar, "t", json!({"other": 1})).await;
    eventually("the dead letter", || sidecar.dead_letters().len() == 1).await;
    assert!(
        sidecar.dead_letters()[0]
            .reason
            .contains("no such key: missing")
    );
    assert!(
        apps.deliveries().is_empty(),
        "CEL errors do not fall through to the default"
    );
}

#[tokio::test]
async fn an_unsupported_routing_expression_fails_loading_the_sidecar() {
    let apps = FakeApps::new();
    let routes = "    rules:\n      - match: size(event.data) * 2 > 1\n        path: /x";
    let dir = resources_dir(&[("bad.yaml", &subscription("bad-sub", "t", routes, "", &[]))]);
    let err = Sidecar::try_new(config(&apps, &["a"], Some(dir))).expect_err("load-time error");
    let message = err.to_string();
    assert!(message.contains("bad.yaml"), "{message}");
    assert!(message.contains("\"bad-sub\""), "{message}");
    assert!(message.contains("rules[0].match"), "{message}");
}

// ------------------------------------------------------------------------------------------
// Consumer groups and scopes
// ------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn every_subscribing_app_gets_every_message() {
    let apps = FakeApps::new();
    let dir = resources_dir(&[(
        "sub.yaml",
        &subscription("s", "t", &default_route("/in"), "", &[]),
    )]);
    let sidecar = Sidecar::new(config(&apps, &["audit", "recurring"], Some(dir)));
    sidecar.start();
    for n in 0..5 {
        publish_json(&sidecar, "t", json!(n)).await;
    }
    eventually("ten deliveries", || apps.deliveries().len() == 10).await;
    settle(5).await;
    for app in ["audit", "recurring"] {
        let data: Vec<_> = apps
            .deliveries_to(app)
            .iter()
            .map(|c| c.json()["data"].clone())
            .collect();
        assert_eq!(
            data,
            [json!(0), json!(1), json!(2), json!(3), json!(4)],
            "{app}: all, in order, once"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn scopes_limit_a_declarative_subscription_to_its_apps() {
    let apps = FakeApps::new();
    let dir = resources_dir(&[(
        "sub.yaml",
        &subscription("s", "t", &default_route("/in"), "", &["audit"]),
    )]);
    let sidecar = Sidecar::new(config(&apps, &["audit", "other"], Some(dir)));
    sidecar.start();
    publish_json(&sidecar, "t", json!(1)).await;
    eventually("delivery", || apps.deliveries().len() == 1).await;
    settle(5).await;
    assert_eq!(apps.deliveries().len(), 1);
    assert_eq!(apps.deliveries()[0].app_id, "audit");
    assert!(sidecar.subscriptions("other").is_empty());
}

#[tokio::test(start_paused = true)]
async fn one_failing_app_does_not_hold_up_another() {
    let apps = FakeApps::new();
    apps.default_reply("broken", Reply::Status(500));
    let dir = resources_dir(&[(
        "sub.yaml",
        &subscription("s", "t", &default_route("/in"), "", &[]),
    )]);
    let sidecar = Sidecar::new(config(&apps, &["broken", "healthy"], Some(dir)));
    sidecar.start();
    for n in 0..3 {
        publish_json(&sidecar, "t", json!(n)).await;
    }
    eventually("healthy got all", || {
        apps.deliveries_to("healthy").len() == 3
    })
    .await;
    // No policy and no dead-letter topic: the broker redelivers after 1, 2, 4, 8 … s, so in 20 s
    // "broken" gets attempts at 0, 1, 3, 7 and 15 s, every one of them the first message.
    settle(20).await;
    let broken: Vec<_> = apps
        .deliveries_to("broken")
        .iter()
        .map(|c| c.json()["data"].clone())
        .collect();
    assert_eq!(
        broken,
        vec![json!(0); 5],
        "in order: the first message blocks its own queue"
    );
    assert_eq!(apps.deliveries_to("healthy").len(), 3);
}

// ------------------------------------------------------------------------------------------
// Retries and dead letters
// ------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn retry_then_success_is_acknowledged_exactly_once_with_the_retries_counted() {
    let apps = FakeApps::new();
    apps.script(
        "a",
        &[
            Reply::body(200, r#"{"status":"RETRY"}"#),
            Reply::body(200, r#"{"status":"RETRY"}"#),
            Reply::body(200, r#"{"status":"SUCCESS"}"#),
        ],
    );
    let dir = resources_dir(&[
        (
            "sub.yaml",
            &subscription("s", "t", &default_route("/in"), "", &[]),
        ),
        ("resiliency.yaml", &constant_retries(5)),
    ]);
    let sidecar = Sidecar::new(config(&apps, &["a"], Some(dir)));
    sidecar.start();
    publish_json(&sidecar, "t", json!({"n": 1})).await;
    eventually("success", || ingress(&sidecar, "a", "t", "success") == 1.0).await;
    settle(60).await;
    assert_eq!(apps.deliveries().len(), 3);
    assert_eq!(ingress(&sidecar, "a", "t", "retry"), 2.0);
    assert_eq!(ingress(&sidecar, "a", "t", "success"), 1.0);
    let ids: Vec<_> = apps
        .deliveries()
        .iter()
        .map(|c| c.json()["id"].clone())
        .collect();
    assert!(ids[0].as_str().is_some_and(|id| !id.is_empty()), "{ids:?}");
    assert_eq!(ids, vec![ids[0].clone(); 3], "the same event each time");
    let metrics = sidecar.metrics().render();
    assert!(
        metrics.contains("dapr_component_pubsub_ingress_latencies_count"),
        "{metrics}"
    );
    assert_eq!(
        sidecar.metrics().counter(
            "dapr_component_pubsub_egress_count",
            &[
                ("app_id", "chat-api"),
                ("component", "pubsub"),
                ("topic", "t"),
                ("success", "true")
            ],
        ),
        1.0
    );
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_go_to_the_dead_letter_topic_and_can_be_replayed() {
    let apps = FakeApps::new();
    apps.default_reply("a", Reply::Status(500));
    let dir = resources_dir(&[
        (
            "sub.yaml",
            &subscription(
                "s",
                "t",
                &default_route("/in"),
                "  deadLetterTopic: t-dlq\n",
                &["a"],
            ),
        ),
        (
            "dlq.yaml",
            &subscription("d", "t-dlq", &default_route("/dead"), "", &["ops"]),
        ),
        ("resiliency.yaml", &constant_retries(2)),
    ]);
    let sidecar = Sidecar::new(config(&apps, &["a", "ops"], Some(dir)));
    sidecar.start();
    publish_json(&sidecar, "t", json!({"n": 1})).await;
    eventually("the dead letter", || sidecar.dead_letters().len() == 1).await;
    assert_eq!(
        apps.deliveries_to("a").len(),
        3,
        "one attempt and maxRetries 2"
    );
    eventually("the dead-letter subscriber", || {
        apps.deliveries_to("ops").len() == 1
    })
    .await;
    let dead_call = &apps.deliveries_to("ops")[0];
    assert_eq!(dead_call.uri, "/dead");
    assert_eq!(
        dead_call.body,
        sidecar.published()[0].body,
        "republished as is"
    );
    let letter = sidecar.dead_letters()[0].clone();
    assert!(letter.reason.contains("3 attempt(s)"), "{}", letter.reason);
    assert_eq!(
        sidecar.metrics().counter(
            "todo_pubsub_dead_lettered_total",
            &[
                ("app_id", "a"),
                ("component", "pubsub"),
                ("topic", "t"),
                ("dead_letter_topic", "t-dlq")
            ],
        ),
        1.0
    );

    // The app recovers; the operator replays.
    apps.default_reply("a", Reply::Status(200));
    sidecar.replay_dead_letter(letter.id).expect("replay");
    assert!(sidecar.dead_letters().is_empty());
    eventually("redelivery", || apps.deliveries_to("a").len() == 4).await;
    assert_eq!(apps.deliveries_to("a")[3].json()["id"], letter.event["id"]);
    eventually("ack", || ingress(&sidecar, "a", "t", "success") == 1.0).await;
    assert!(
        sidecar.replay_dead_letter(letter.id).is_err(),
        "gone once replayed"
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_policy_a_failure_is_dead_lettered_at_once_when_there_is_a_dead_letter_topic() {
    let apps = FakeApps::new();
    apps.default_reply("a", Reply::Status(500));
    let dir = resources_dir(&[(
        "sub.yaml",
        &subscription(
            "s",
            "t",
            &default_route("/in"),
            "  deadLetterTopic: dlq\n",
            &[],
        ),
    )]);
    let sidecar = Sidecar::new(config(&apps, &["a"], Some(dir)));
    sidecar.start();
    publish_json(&sidecar, "t", json!(1)).await;
    eventually("the dead letter", || sidecar.dead_letters().len() == 1).await;
    assert_eq!(apps.deliveries().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn without_a_policy_or_dead_letter_topic_the_message_is_redelivered_until_taken() {
    let apps = FakeApps::new();
    apps.script(
        "a",
        &[
            Reply::Unreachable,
            Reply::Unreachable,
            Reply::Unreachable,
            Reply::Unreachable,
        ],
    );
    let dir = resources_dir(&[(
        "sub.yaml",
        &subscription("s", "t", &default_route("/in"), "", &[]),
    )]);
    let sidecar = Sidecar::new(config(&apps, &["a"], Some(dir)));
    sidecar.start();
    publish_json(&sidecar, "t", json!(1)).await;
    let started = tokio::time::Instant::now();
    eventually("success", || ingress(&sidecar, "a", "t", "success") == 1.0).await;
    assert_eq!(apps.deliveries().len(), 5);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(15) && waited < Duration::from_secs(16),
        "1+2+4+8 s: {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn exponential_policies_back_off_from_daprds_defaults_and_give_up_after_max_retries() {
    let apps = FakeApps::new();
    apps.default_reply("a", Reply::Unreachable);
    // A retry policy sets only policy, duration, maxInterval, maxRetries (daprd's RetryPolicy
    // type); the back-off starts at cenkalti/backoff's 500 ms, ×1.5, ±50 %.
    let resiliency = "apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata:\n  name: r\nspec:\n  policies:\n    retries:\n      DefaultPubsubComponentInboundRetryPolicy:\n        policy: exponential\n        maxInterval: 1s\n        maxRetries: 3\n";
    let dir = resources_dir(&[
        (
            "sub.yaml",
            &subscription("s", "t", &default_route("/in"), "", &[]),
        ),
        ("resiliency.yaml", resiliency),
    ]);
    let sidecar = Sidecar::new(config(&apps, &["a"], Some(dir)));
    sidecar.start();
    let started = tokio::time::Instant::now();
    publish_json(&sidecar, "t", json!(1)).await;
    eventually("four attempts", || {
        ingress(&sidecar, "a", "t", "retry") == 4.0
    })
    .await;
    let waited = started.elapsed();
    // 0.5 s, 0.75 s, then min(1.125 s, maxInterval 1 s), each ±50 %: 1.125 s to 3.375 s.
    assert!(
        waited >= Duration::from_millis(1125) && waited <= Duration::from_millis(3400),
        "0.5 + 0.75 + 1 s ± 50 %: {waited:?}"
    );
    settle(2000).await;
    assert_eq!(
        apps.deliveries().len(),
        4,
        "dropped after maxRetries, no dead-letter topic"
    );
}

// ------------------------------------------------------------------------------------------
// Programmatic subscriptions
// ------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn programmatic_subscriptions_in_the_v1_and_v2_shapes_are_delivered() {
    let apps = FakeApps::new();
    apps.subscribe_reply(
        "a",
        Reply::body(
            200,
            r#"[{"pubsubname":"pubsub","topic":"v1","route":"/v1-in"},
                {"pubsubName":"pubsub","topic":"v2","routes":{"rules":[{"match":"event.data.k == 'x'","path":"/x"}],"default":"/v2-in"}}]"#,
        ),
    );
    apps.subscribe_reply("b", Reply::Status(404));
    apps.subscribe_reply("c", Reply::Unreachable);
    let sidecar = Sidecar::new(config(&apps, &["a", "b", "c"], None));
    sidecar.start();
    publish_json(&sidecar, "v1", json!({"k": "x"})).await;
    publish_json(&sidecar, "v2", json!({"k": "x"})).await;
    publish_json(&sidecar, "v2", json!({"k": "y"})).await;
    eventually("three deliveries", || apps.deliveries().len() == 3).await;
    settle(5).await;
    let deliveries = apps.deliveries();
    let mut calls: Vec<_> = deliveries
        .iter()
        .map(|c| (c.app_id.as_str(), c.uri.as_str()))
        .collect();
    calls.sort();
    assert_eq!(
        calls,
        [("a", "/v1-in"), ("a", "/v2-in"), ("a", "/x")],
        "404 and unreachable mean none"
    );
    let asked: Vec<_> = apps
        .subscribe_calls()
        .into_iter()
        .map(|c| c.app_id)
        .collect();
    assert_eq!(asked, ["a", "b", "c"], "asked once each");
    let mut subs: Vec<_> = sidecar
        .subscriptions("a")
        .into_iter()
        .map(|s| (s.topic, s.kind))
        .collect();
    subs.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        subs,
        [
            ("v1".to_owned(), SubscriptionKind::Programmatic),
            ("v2".to_owned(), SubscriptionKind::Programmatic)
        ]
    );
    assert!(sidecar.subscriptions("b").is_empty() && sidecar.subscriptions("c").is_empty());
}

#[tokio::test(start_paused = true)]
async fn messages_published_before_start_are_delivered_after_it() {
    let apps = FakeApps::new();
    apps.subscribe_reply(
        "a",
        Reply::body(
            200,
            r#"[{"pubsubname":"pubsub","topic":"t","route":"/in"}]"#,
        ),
    );
    let sidecar = Sidecar::new(config(&apps, &["a"], None));
    publish_json(&sidecar, "t", json!(1)).await;
    sidecar.start();
    eventually("delivery", || apps.deliveries().len() == 1).await;
}

// ------------------------------------------------------------------------------------------
// Durability
// ------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn an_unacknowledged_message_is_redelivered_once_after_a_restart() {
    let data_dir = data_dir();
    let dir = resources_dir(&[
        (
            "sub.yaml",
            &subscription("s", "t", &default_route("/in"), "", &[]),
        ),
        ("resiliency.yaml", &constant_retries(-1)),
    ]);
    let down = FakeApps::new();
    down.default_reply("a", Reply::Unreachable);
    let first = Sidecar::new(SidecarConfig {
        data_dir: Some(data_dir.clone()),
        ..config(&down, &["a"], Some(dir.clone()))
    });
    first.start();
    assert_eq!(
        publish_json(&first, "t", json!({"n": "durable"})).await,
        204
    );
    eventually("a failed attempt", || !down.deliveries().is_empty()).await;
    drop(first);
    settle(1).await;
    let attempts_before_restart = down.deliveries().len();
    settle(10).await;
    assert_eq!(
        down.deliveries().len(),
        attempts_before_restart,
        "the old workers stopped"
    );

    let up = FakeApps::new();
    let second = Sidecar::new(SidecarConfig {
        data_dir: Some(data_dir.clone()),
        ..config(&up, &["a"], Some(dir))
    });
    second.start();
    eventually("redelivery", || up.deliveries().len() == 1).await;
    settle(30).await;
    assert_eq!(up.deliveries().len(), 1, "delivered once");
    assert_eq!(up.deliveries()[0].json()["data"]["n"], "durable");
    assert_eq!(second.published().len(), 1, "the log survived too");
    drop(second);

    // A third start on the same data: nothing left to deliver.
    let again = FakeApps::new();
    let third = Sidecar::new(SidecarConfig {
        data_dir: Some(data_dir),
        ..config(
            &again,
            &["a"],
            Some(resources_dir(&[(
                "sub.yaml",
                &subscription("s", "t", &default_route("/in"), "", &[]),
            )])),
        )
    });
    third.start();
    settle(30).await;
    assert_eq!(third.subscriptions("a").len(), 1, "subscribed, and");
    assert_eq!(third.pending_deliveries(), 0, "nothing left to deliver");
    assert!(again.deliveries().is_empty());
}

#[tokio::test(start_paused = true)]
async fn dead_letters_survive_a_restart_and_replay_after_it() {
    let data_dir = data_dir();
    let dir = resources_dir(&[(
        "sub.yaml",
        &subscription(
            "s",
            "t",
            &default_route("/in"),
            "  deadLetterTopic: dlq\n",
            &[],
        ),
    )]);
    let apps = FakeApps::new();
    apps.script("a", &[Reply::Status(404)]);
    let first = Sidecar::new(SidecarConfig {
        data_dir: Some(data_dir.clone()),
        ..config(&apps, &["a"], Some(dir.clone()))
    });
    first.start();
    publish_json(&first, "t", json!(7)).await;
    eventually("dead letter", || first.dead_letters().len() == 1).await;
    drop(first);

    let second = Sidecar::new(SidecarConfig {
        data_dir: Some(data_dir),
        ..config(&apps, &["a"], Some(dir))
    });
    second.start();
    let letters = second.dead_letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].event["data"], json!(7));
    second.replay_dead_letter(letters[0].id).expect("replay");
    eventually("redelivered", || apps.deliveries().len() == 2).await;
}

// ------------------------------------------------------------------------------------------
// Metadata
// ------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn metadata_lists_the_components_and_the_callers_subscriptions() {
    let apps = FakeApps::new();
    let sidecar = Sidecar::new(config(
        &apps,
        &["chat-api", "recurring-task-service", "audit-service"],
        Some(repo_dapr_dir()),
    ));
    sidecar.start();
    eventually("subscriptions", || {
        !sidecar.subscriptions("audit-service").is_empty()
    })
    .await;
    let response = sidecar
        .handle(
            "recurring-task-service",
            Request::get("/v1.0/metadata")
                .body(Bytes::new())
                .expect("request"),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = serde_json::from_slice(response.body()).expect("json");
    assert_eq!(body["id"], "recurring-task-service");
    assert_eq!(body["runtimeVersion"], "1.16.0-embedded");
    assert_eq!(body["extended"]["daprRuntimeVersion"], "1.16.0-embedded");
    let components = body["components"].as_array().expect("components");
    let pubsub = components
        .iter()
        .find(|c| c["name"] == "pubsub")
        .expect("pubsub");
    assert_eq!(pubsub["type"], "pubsub.redis");
    assert_eq!(pubsub["version"], "v1");
    let store = components
        .iter()
        .find(|c| c["name"] == "statestore")
        .expect("statestore");
    assert_eq!(
        store["capabilities"],
        json!(["ETAG", "TRANSACTIONAL", "TTL"])
    );
    assert_eq!(
        body["subscriptions"],
        json!([{
            "pubsubname": "pubsub",
            "topic": "task-events",
            "rules": [
                {"match": "event.type == \"task.completed\"", "path": "/recurring/task-completed"},
                {"path": "/recurring/ignored"}
            ],
            "deadLetterTopic": "task-events-dlq",
            "type": "DECLARATIVE"
        }])
    );
    let chat = sidecar
        .handle(
            "chat-api",
            Request::get("/v1.0/metadata")
                .body(Bytes::new())
                .expect("request"),
        )
        .await;
    let chat: Value = serde_json::from_slice(chat.body()).expect("json");
    assert!(
        chat.get("subscriptions").is_none(),
        "omitted when empty, as daprd does"
    );
}

// ------------------------------------------------------------------------------------------
// Metrics and the size of the log
// ------------------------------------------------------------------------------------------

/// daprd's HTTP metrics mean here what they mean in daprd: `dapr_http_server_*` count the app's
/// requests to the Dapr API, `dapr_http_client_*` the sidecar's calls into the app; and every
/// metric rendered is one of `METRIC_NAMES`, with its type.
#[tokio::test(start_paused = true)]
async fn http_metrics_count_the_dapr_api_and_the_calls_into_apps() {
    let apps = FakeApps::new();
    let dir = resources_dir(&[(
        "sub.yaml",
        &subscription("s", "t", &default_route("/in"), "", &["a"]),
    )]);
    let sidecar = Sidecar::new(config(&apps, &["a"], Some(dir)));
    sidecar.start();
    assert_eq!(publish_json(&sidecar, "t", json!(1)).await, 204);
    let unknown = Request::get("/v1.0/state/nowhere/k")
        .body(Bytes::new())
        .expect("request");
    assert_eq!(sidecar.handle("chat-api", unknown).await.status(), 400);
    eventually("delivery", || ingress(&sidecar, "a", "t", "success") == 1.0).await;

    let metrics = sidecar.metrics();
    let api = |method: &str| {
        metrics.counter(
            "dapr_http_server_request_count",
            &[("app_id", "chat-api"), ("method", method)],
        )
    };
    assert_eq!((api("POST"), api("GET")), (1.0, 1.0));
    let answered = |status: &str| {
        metrics.counter(
            "dapr_http_server_response_count",
            &[
                ("app_id", "chat-api"),
                ("method", "GET"),
                ("status", status),
            ],
        )
    };
    assert_eq!((answered("400"), answered("200")), (1.0, 0.0));
    // The delivery into app `a` (and its `GET /dapr/subscribe`) are client calls, not API ones.
    let into_a = |method: &str, status: &str| {
        metrics.counter(
            "dapr_http_client_completed_count",
            &[("app_id", "a"), ("method", method), ("status", status)],
        )
    };
    assert_eq!(into_a("POST", "204"), 1.0);
    assert_eq!(
        metrics.counter(
            "dapr_http_server_request_count",
            &[("app_id", "a"), ("method", "POST")]
        ),
        0.0
    );

    let rendered = metrics.render();
    let mut types = 0;
    for line in rendered.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("name and type");
            assert!(
                dapr_sidecar::metrics::METRIC_NAMES.contains(&(name, kind)),
                "{name} {kind} is not in METRIC_NAMES"
            );
            types += 1;
        }
    }
    assert!(types >= 7, "{rendered}");
}

/// A long run of publishes to two subscribed apps, each acknowledged: the stored log (SQLite)
/// holds only what is still owed, so it ends empty however many messages went through.
#[tokio::test(start_paused = true)]
async fn the_log_stays_bounded_over_a_long_run() {
    let apps = FakeApps::new();
    let dir = resources_dir(&[(
        "sub.yaml",
        &subscription("s", "t", &default_route("/in"), "", &["a", "b"]),
    )]);
    let sidecar = Sidecar::new(SidecarConfig {
        data_dir: Some(data_dir()),
        ..config(&apps, &["a", "b"], Some(dir))
    });
    sidecar.start();
    let mut most = 0;
    for n in 0..150 {
        assert_eq!(publish_json(&sidecar, "t", json!({ "n": n })).await, 204);
        if n % 10 == 9 {
            eventually("both apps caught up", || sidecar.pending_deliveries() == 0).await;
            most = most.max(sidecar.pubsub_log_len());
        }
    }
    eventually("all delivered", || sidecar.pending_deliveries() == 0).await;
    assert_eq!(apps.deliveries().len(), 300, "every app got every message");
    assert_eq!(most, 0, "settled messages leave the log");
    assert_eq!(sidecar.pubsub_log_len(), 0);
    assert_eq!(
        sidecar.published().len(),
        150,
        "the in-memory history still has them"
    );
}
