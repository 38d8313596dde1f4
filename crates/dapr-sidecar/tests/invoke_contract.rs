//! Contract tests of service invocation against daprd's source (dapr/dapr v1.16
//! `pkg/api/http/directmessaging.go`, `pkg/acl/acl.go`) and docs/contracts.md ("Spin
//! variables": with `app_api_token` set, every call into an app carries `dapr-api-token`).
//! Access control comes from the repo's own `dapr/config.yaml` (chat-api accepts only
//! `POST /api/internal/*` from the recurring service).

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use dapr_sidecar::testing::{FakeApps, Reply, assert_error, header, request_with, send, text};
use dapr_sidecar::{Sidecar, SidecarConfig};

fn repo_resources() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../dapr"))
}

fn sidecar(apps: &Arc<FakeApps>, token: Option<&str>, resources: bool) -> Sidecar {
    Sidecar::new(SidecarConfig {
        app_channel: apps.clone(),
        apps: [
            "chat-api",
            "recurring-task-service",
            "audit-service",
            "notes",
        ]
        .map(str::to_owned)
        .to_vec(),
        app_api_token: token.map(str::to_owned),
        resources_dir: resources.then(repo_resources),
        ..SidecarConfig::default()
    })
}

#[tokio::test]
async fn invocation_forwards_method_path_query_headers_and_body_and_adds_caller_and_callee() {
    let apps = FakeApps::new();
    let sidecar = sidecar(&apps, None, false);
    let req = request_with(
        "PUT",
        "/v1.0/invoke/notes/method/api/notes/n%201?draft=true&tag=a&tag=b",
        &[
            ("content-type", "application/json"),
            ("x-request-id", "r-1"),
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
        ],
        br#"{"text":"hi"}"#,
    );
    sidecar.handle("chat-api", req).await;
    let calls = apps.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.app_id, "notes");
    assert_eq!(call.method, "PUT");
    assert_eq!(call.uri, "/api/notes/n%201?draft=true&tag=a&tag=b");
    assert_eq!(call.body.as_ref(), br#"{"text":"hi"}"#);
    assert_eq!(call.header("content-type"), Some("application/json"));
    assert_eq!(call.header("x-request-id"), Some("r-1"));
    assert!(call.header("traceparent").is_some());
    assert_eq!(call.header("dapr-caller-app-id"), Some("chat-api"));
    assert_eq!(call.header("dapr-callee-app-id"), Some("notes"));
    assert_eq!(
        call.header("dapr-api-token"),
        None,
        "no app token configured"
    );
}

#[tokio::test]
async fn every_http_method_is_forwarded_as_is() {
    let apps = FakeApps::new();
    let sidecar = sidecar(&apps, None, false);
    for method in ["GET", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS"] {
        send(
            &sidecar,
            "chat-api",
            method,
            "/v1.0/invoke/notes/method/x",
            "",
        )
        .await;
    }
    let methods: Vec<_> = apps.calls().into_iter().map(|c| c.method).collect();
    assert_eq!(
        methods,
        ["GET", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    );
}

#[tokio::test]
async fn the_upstream_status_headers_and_body_come_back_unchanged() {
    let apps = FakeApps::new();
    apps.reply_next(Reply::Full {
        status: 418,
        headers: vec![
            ("content-type".into(), "text/plain".into()),
            ("x-upstream".into(), "yes".into()),
        ],
        body: Bytes::from_static(b"I'm a teapot"),
    });
    let sidecar = sidecar(&apps, None, false);
    let response = send(
        &sidecar,
        "chat-api",
        "GET",
        "/v1.0/invoke/notes/method/brew",
        "",
    )
    .await;
    assert_eq!(response.status(), 418);
    assert_eq!(header(&response, "content-type"), Some("text/plain"));
    assert_eq!(header(&response, "x-upstream"), Some("yes"));
    assert_eq!(text(&response), "I'm a teapot");
}

#[tokio::test]
async fn a_dapr_app_id_header_names_the_target_and_the_whole_path_is_the_method() {
    let apps = FakeApps::new();
    let sidecar = sidecar(&apps, None, false);
    let req = request_with(
        "POST",
        "/api/notes?x=1",
        &[("dapr-app-id", "notes"), ("content-type", "text/plain")],
        b"body",
    );
    let response = sidecar.handle("chat-api", req).await;
    assert_eq!(response.status(), 204);
    let call = &apps.calls()[0];
    assert_eq!(call.app_id, "notes");
    assert_eq!(call.uri, "/api/notes?x=1");
    assert_eq!(call.header("dapr-app-id"), None, "daprd deletes the header");
    assert_eq!(call.header("dapr-caller-app-id"), Some("chat-api"));
}

#[tokio::test]
async fn invocations_carry_the_app_api_token_and_never_the_callers_own_token() {
    let apps = FakeApps::new();
    let sidecar = sidecar(&apps, Some("app-token"), false);
    let req = request_with(
        "GET",
        "/v1.0/invoke/notes/method/x",
        &[
            ("dapr-api-token", "callers-dapr-api-token"),
            ("dapr-caller-app-id", "forged"),
        ],
        b"",
    );
    sidecar.handle("chat-api", req).await;
    let call = &apps.calls()[0];
    assert_eq!(call.header("dapr-api-token"), Some("app-token"));
    assert_eq!(
        call.header("dapr-caller-app-id"),
        Some("chat-api"),
        "not forgeable"
    );
}

#[tokio::test]
async fn an_unknown_app_id_answers_500_direct_invoke() {
    let apps = FakeApps::new();
    let sidecar = sidecar(&apps, None, false);
    let response = send(
        &sidecar,
        "chat-api",
        "GET",
        "/v1.0/invoke/nobody/method/x",
        "",
    )
    .await;
    let message = assert_error(&response, 500, "ERR_DIRECT_INVOKE");
    assert!(
        message.starts_with("failed to invoke, id: nobody, err: "),
        "{message}"
    );
    assert!(apps.calls().is_empty());
}

#[tokio::test]
async fn an_unreachable_app_answers_500_direct_invoke() {
    let apps = FakeApps::only(&["chat-api"]);
    let sidecar = sidecar(&apps, None, false);
    let response = send(
        &sidecar,
        "chat-api",
        "GET",
        "/v1.0/invoke/notes/method/x",
        "",
    )
    .await;
    let message = assert_error(&response, 500, "ERR_DIRECT_INVOKE");
    assert!(message.contains("connection refused"), "{message}");
}

#[tokio::test]
async fn without_a_target_the_fallback_still_answers_404() {
    let apps = FakeApps::new();
    let sidecar = sidecar(&apps, None, false);
    let response = send(&sidecar, "chat-api", "GET", "/v1.0/invoke/notes", "").await;
    assert_error(&response, 404, "ERR_DIRECT_INVOKE");
}

// ---- access control -----------------------------------------------------------------------

#[tokio::test]
async fn the_acl_allows_the_recurring_service_to_post_internal_routes_of_chat_api() {
    let apps = FakeApps::new();
    let sidecar = sidecar(&apps, None, true);
    let response = send(
        &sidecar,
        "recurring-task-service",
        "POST",
        "/v1.0/invoke/chat-api/method/api/internal/occurrences",
        "{}",
    )
    .await;
    assert_eq!(response.status(), 204);
    assert_eq!(apps.calls().len(), 1);
}

#[tokio::test]
async fn the_acl_denies_other_verbs_paths_and_callers_with_403() {
    let apps = FakeApps::new();
    let sidecar = sidecar(&apps, None, true);
    for (caller, method, path) in [
        ("recurring-task-service", "GET", "api/internal/occurrences"),
        ("recurring-task-service", "POST", "api/tasks"),
        ("recurring-task-service", "POST", "api/internal/a/b"),
        ("audit-service", "POST", "api/internal/occurrences"),
    ] {
        let uri = format!("/v1.0/invoke/chat-api/method/{path}");
        let response = send(&sidecar, caller, method, &uri, "").await;
        let message = assert_error(&response, 403, "ERR_DIRECT_INVOKE");
        assert!(
            message.contains("access control policy has denied access to appid: "),
            "{message}"
        );
    }
    assert!(apps.calls().is_empty(), "denied calls never reach the app");
}

#[tokio::test]
async fn the_acl_applies_only_to_the_apps_its_configuration_scopes() {
    let apps = FakeApps::new();
    let sidecar = sidecar(&apps, None, true);
    let response = send(
        &sidecar,
        "audit-service",
        "GET",
        "/v1.0/invoke/notes/method/x",
        "",
    )
    .await;
    assert_eq!(response.status(), 204);
    let own = send(
        &sidecar,
        "chat-api",
        "GET",
        "/v1.0/invoke/chat-api/method/api/x",
        "",
    )
    .await;
    assert_eq!(
        own.status(),
        204,
        "an app calling itself is not subject to its ACL"
    );
}
