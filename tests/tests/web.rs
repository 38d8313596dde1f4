//! The web component as it ships (the release `.wasm` in wasmtime): its embedded files and
//! headers, its 404 and 405, and spin.toml's routing with its catch-all `/...` in place — every
//! other component's routes still reach that component. The page in a real browser is
//! tests/tests/browser/.
use bytes::Bytes;
use spin_host::RequestContext;
use spin_host::apps::Apps;
use std::path::Path;

const WEB: &str = "web";

fn request(method: &str, path: &str) -> http::Request<Bytes> {
    http::Request::builder()
        .method(method)
        .uri(path)
        .body(Bytes::new())
        .unwrap()
}

fn header<'a>(response: &'a http::Response<Bytes>, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header: {:?}", response.headers()))
        .to_str()
        .unwrap()
}

fn static_file(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../components/web/static")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn the_page_and_its_files_are_served_as_built_from_static() {
    let web = todo_tests::component(WEB);
    for (path, file, content_type) in [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/index.html", "index.html", "text/html; charset=utf-8"),
        ("/app.js", "app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "style.css", "text/css; charset=utf-8"),
    ] {
        let r = web.send(request("GET", path)).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.body().as_ref(), static_file(file), "{path} is not {file}");
        assert_eq!(header(&r, "content-type"), content_type, "{path}");
        assert_eq!(header(&r, "cache-control"), "no-cache", "{path}");
        let csp = header(&r, "content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");

        // Revalidation: the ETag it gave answers 304 without a body.
        let etag = header(&r, "etag").to_owned();
        let mut again = request("GET", path);
        again
            .headers_mut()
            .insert("if-none-match", etag.parse().unwrap());
        let r = web.send(again).await;
        assert_eq!(r.status(), 304, "{path}");
        assert!(r.body().is_empty());
    }
    let index = String::from_utf8(static_file("index.html")).unwrap();
    assert!(
        index.contains(r#"src="/app.js""#) && index.contains(r#"href="/style.css""#),
        "index.html loads the other two files"
    );
    assert!(
        !index.contains("<script>") && !index.contains("style="),
        "no inline script or style (the CSP forbids them)"
    );
}

#[tokio::test]
async fn unknown_files_are_404_and_only_get_and_head_are_allowed() {
    let web = todo_tests::component(WEB);
    for path in [
        "/nope.js",
        "/favicon.ico",
        "/index.html/x",
        "/dapr/subscribe",
    ] {
        let r = web.send(request("GET", path)).await;
        assert_eq!(r.status(), 404, "{path}");
    }
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let r = web.send(request(method, "/")).await;
        assert_eq!(r.status(), 405, "{method}");
        assert_eq!(header(&r, "allow"), "GET, HEAD");
    }
    let head = web.send(request("HEAD", "/app.js")).await;
    assert_eq!(head.status(), 200);
    assert!(head.body().is_empty());
    assert_eq!(
        header(&head, "content-type"),
        "text/javascript; charset=utf-8"
    );
}

/// Every component of spin.toml behind its router, as `todo-dev up` serves them on one port.
fn all_apps() -> Apps {
    let app = todo_tests::app();
    let components = todo_tests::built_components()
        .iter()
        .map(|c| app.compiled(c.id))
        .collect();
    Apps::new(app.manifest(), components)
}

#[tokio::test]
async fn the_catch_all_shadows_no_other_component() {
    let apps = all_apps();
    let routed = |path: &str| {
        apps.route(path)
            .unwrap_or_else(|| panic!("no route for {path}"))
            .component
            .id()
            .to_owned()
    };
    for (path, id) in [
        ("/", WEB),
        ("/app.js", WEB),
        ("/dapr/subscribe", WEB),
        ("/api", "chat-api"),
        ("/api/tasks", "chat-api"),
        ("/api/chat", "chat-api"),
        ("/job/outbox-sweep", "chat-api"),
        ("/audit/log", "audit-service"),
        ("/recurring/task-completed", "recurring-task-service"),
        ("/notifications/inbox", "notification-service"),
    ] {
        assert_eq!(routed(path), id, "{path}");
    }
    // And the components answer there: each health check names its app-id.
    for (path, id) in [
        ("/api/healthz", "chat-api"),
        ("/audit/healthz", "audit-service"),
        ("/recurring/healthz", "recurring-task-service"),
        ("/notifications/healthz", "notification-service"),
    ] {
        let matched = apps.route(path).unwrap();
        let ctx = RequestContext {
            route: matched.route.clone(),
            ..RequestContext::default()
        };
        let r = matched
            .component
            .handle_with_context(request("GET", path), &ctx)
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(body["app_id"], id, "{path}");
    }
    // A path under another component's prefix that it does not serve is its 404 (JSON), not
    // the page's.
    let matched = apps.route("/api/nothing-here").unwrap();
    let r = matched
        .component
        .handle_with_context(
            request("GET", "/api/nothing-here"),
            &RequestContext {
                route: matched.route.clone(),
                ..RequestContext::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(header(&r, "content-type").starts_with("application/json"));
}
