//! The host routes as Spin does (issue 11, item 9): Spin's router ignores the leading and
//! trailing slashes of a path, so `//api/tasks` reaches chat-api (which answers its own JSON 404),
//! and a path no route matches gets Spin's own empty-bodied 404.
use bytes::Bytes;
use dapr_sidecar::AppChannel as _;
use spin_host::RequestContext;
use spin_host::apps::{Apps, AppsChannel};
use std::sync::Arc;

fn get(path: &str) -> http::Request<Bytes> {
    http::Request::get(path).body(Bytes::new()).unwrap()
}

#[tokio::test]
async fn a_doubled_slash_reaches_chat_api_and_an_unknown_path_gets_an_empty_404() {
    let app = todo_tests::app();
    let apps = Apps::new(app.manifest(), vec![app.compiled("chat-api")]);

    let matched = apps
        .route("//api/tasks")
        .expect("Spin routes //api/tasks to /api/...");
    assert_eq!(matched.component.id(), "chat-api");
    assert_eq!(matched.route, "/api/...");
    let response = matched
        .component
        .handle_with_context(
            get("//api/tasks"),
            &RequestContext::for_route(matched.route.as_str()),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    contract_schemas::validate("error.schema.json", &body).unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    assert!(apps.route("/nowhere").is_none());
    assert!(apps.route("/apix/tasks").is_none());

    // Dapr calling into the app (subscriptions, jobs, invocation) meets the same router.
    let channel = AppsChannel::new(Arc::new(apps), "localhost:3000");
    let response = channel
        .call("chat-api", get("/dapr/subscribe"))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.body().is_empty());
    assert!(response.headers().get("content-type").is_none());
}
