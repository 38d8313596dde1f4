//! Every endpoint, every validation rule, auth and isolation, pagination, idempotency, If-Match.
use crate::support::TestApp;
use serde_json::{Value, json};

fn validate(schema: &str, value: &Value) {
    contract_schemas::validate(schema, value)
        .unwrap_or_else(|e| panic!("{schema}: {e}\n{value:#}"));
}

#[tokio::test]
async fn health_and_openapi_need_no_token() {
    let app = TestApp::spawn();
    let health = app.request("GET", "/api/healthz", None, None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    let openapi = app.request("GET", "/api/openapi.json", None, None).await;
    assert_eq!(openapi.status, 200);
    assert_eq!(openapi.json(), contract_schemas::openapi());
}

#[tokio::test]
async fn create_returns_201_with_location_etag_and_a_valid_task() {
    let app = TestApp::spawn();
    let response = app
        .request(
            "POST",
            "/api/tasks",
            Some("alice"),
            Some(
                json!({"title": "  Pay rent ", "priority": "high", "tags": ["Home", "money"],
                        "due_date": "2036-12-01T09:00:00+01:00", "time_zone": "Europe/Berlin",
                        "reminder_offset_minutes": 60, "recurrence_rule": "monthly"}),
            ),
        )
        .await;
    assert_eq!(
        response.status,
        201,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let task = response.json();
    validate("task.schema.json", &task);
    let id = task["id"].as_str().unwrap();
    assert_eq!(
        response.header("location"),
        Some(format!("/api/tasks/{id}").as_str())
    );
    assert_eq!(response.header("etag"), Some("\"1\""));
    assert_eq!(task["title"], "Pay rent");
    assert_eq!(task["user_id"], "alice");
    assert_eq!(task["tags"], json!(["home", "money"]));
    assert_eq!(task["due_date"], "2036-12-01T08:00:00Z");
    assert_eq!(task["remind_at"], "2036-12-01T07:00:00Z");
    assert_eq!(task["is_recurring"], true);
    assert_eq!(task["series_id"], task["id"]);

    let fetched = app
        .request("GET", &format!("/api/tasks/{id}"), Some("alice"), None)
        .await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json(), task);
    assert_eq!(fetched.header("etag"), Some("\"1\""));
}

#[tokio::test]
async fn every_change_publishes_one_cloudevent_typed_by_the_change() {
    let app = TestApp::spawn();
    let task = app.create("alice", json!({"title": "x"})).await;
    let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
    assert_eq!(
        app.request("PATCH", &path, Some("alice"), Some(json!({"title": "y"})))
            .await
            .status,
        200
    );
    assert_eq!(
        app.request("POST", &format!("{path}/complete"), Some("alice"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.request("POST", &format!("{path}/reopen"), Some("alice"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.request("PUT", &path, Some("alice"), Some(json!({"title": "z"})))
            .await
            .status,
        200
    );
    assert_eq!(
        app.request("DELETE", &path, Some("alice"), None)
            .await
            .status,
        204
    );

    let events = app.task_events();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "task.created",
            "task.updated",
            "task.completed",
            "task.reopened",
            "task.updated",
            "task.deleted"
        ]
    );
    for event in &events {
        validate("task-event.schema.json", event);
        assert_eq!(event["source"], "chat-api");
        assert_eq!(event["subject"], task["id"]);
        assert_eq!(event["data"]["user_id"], "alice");
        assert_eq!(event["topic"], "task-events");
    }
    let ids: std::collections::HashSet<&str> =
        events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "event ids are unique");
    assert_eq!(events[1]["data"]["changed_fields"], json!(["title"]));
    assert_eq!(
        events[5]["data"]["task"]["title"], "z",
        "deleted carries the last snapshot"
    );
    assert_eq!(events[5]["data"]["changed_fields"], json!([]));
}

#[tokio::test]
async fn completing_twice_changes_nothing_and_publishes_nothing() {
    let app = TestApp::spawn();
    let task = app.create("alice", json!({"title": "x"})).await;
    let path = format!("/api/tasks/{}/complete", task["id"].as_str().unwrap());
    let first = app.request("POST", &path, Some("alice"), None).await.json();
    let second = app.request("POST", &path, Some("alice"), None).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.json(), first);
    assert_eq!(first["version"], 2);
    assert_eq!(app.task_events().len(), 2);
    let reopen = format!("/api/tasks/{}/reopen", task["id"].as_str().unwrap());
    app.request("POST", &reopen, Some("alice"), None).await;
    app.request("POST", &reopen, Some("alice"), None).await;
    assert_eq!(app.task_events().len(), 3);
}

#[tokio::test]
async fn patch_null_clears_and_put_replaces() {
    let app = TestApp::spawn();
    let task = app
        .create(
            "alice",
            json!({"title": "x", "description": "d", "priority": "high", "tags": ["a"]}),
        )
        .await;
    let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
    let patched = app
        .request(
            "PATCH",
            &path,
            Some("alice"),
            Some(json!({"description": null})),
        )
        .await
        .json();
    assert_eq!(patched["description"], Value::Null);
    assert_eq!(patched["priority"], "high");
    let replaced = app
        .request("PUT", &path, Some("alice"), Some(json!({"title": "new"})))
        .await
        .json();
    assert_eq!(
        replaced["priority"], "medium",
        "PUT resets omitted fields to defaults"
    );
    assert_eq!(replaced["tags"], json!([]));
    assert_eq!(replaced["version"], 3);
    assert_eq!(replaced["created_at"], task["created_at"]);
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let app = TestApp::spawn();
    let cases = [
        (json!({}), "title"),
        (json!({"title": ""}), "title"),
        (json!({"title": "x".repeat(256)}), "title"),
        (
            json!({"title": "x", "description": "d".repeat(2001)}),
            "description",
        ),
        (json!({"title": "x", "status": "done"}), "status"),
        (json!({"title": "x", "priority": "urgent"}), "priority"),
        (json!({"title": "x", "tags": ["y".repeat(51)]}), "tags"),
        (
            json!({"title": "x", "tags": (0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            "tags",
        ),
        (json!({"title": "x", "tags": "a,b"}), "tags"),
        (
            json!({"title": "x", "due_date": "2026-01-01T10:00:00+00:00Z"}),
            "due_date",
        ),
        (
            json!({"title": "x", "due_date": "2026-01-01T10:00:00"}),
            "due_date",
        ),
        (json!({"title": "x", "time_zone": "Mars/Base"}), "time_zone"),
        (
            json!({"title": "x", "reminder_offset_minutes": 10}),
            "reminder_offset_minutes",
        ),
        (
            json!({"title": "x", "due_date": "2026-01-01T10:00:00Z", "remind_at": "2026-01-01T11:00:00Z"}),
            "remind_at",
        ),
        (
            json!({"title": "x", "recurrence_rule": "daily"}),
            "recurrence_rule",
        ),
        (
            json!({"title": "x", "due_date": "2026-01-01T10:00:00Z", "recurrence_rule": "fortnightly"}),
            "recurrence_rule",
        ),
        (
            json!({"title": "x", "id": "00000000-0000-0000-0000-000000000000"}),
            "id",
        ),
        (json!({"title": "x", "colour": "red"}), "colour"),
    ];
    for (body, field) in cases {
        let response = app
            .request("POST", "/api/tasks", Some("alice"), Some(body.clone()))
            .await;
        assert_eq!(response.status, 400, "{body}");
        assert_eq!(response.error_code(), "validation_failed", "{body}");
        assert_eq!(response.error_field().as_deref(), Some(field), "{body}");
    }
    assert!(
        app.task_events().is_empty(),
        "rejected input publishes nothing"
    );
}

#[tokio::test]
async fn bad_bodies_get_400_413_415() {
    let app = TestApp::spawn();
    let token = format!("Bearer {}", TestApp::token("alice"));
    let send = |content_type: &'static str, body: Vec<u8>| {
        http::Request::post("http://localhost:3000/api/tasks")
            .header("authorization", token.clone())
            .header("content-type", content_type)
            .body(bytes::Bytes::from(body))
            .unwrap()
    };
    let malformed = app
        .send(send("application/json", b"{\"title\":".to_vec()))
        .await;
    assert_eq!(
        (malformed.status, malformed.error_code().as_str()),
        (400, "malformed_json")
    );
    let not_json = app.send(send("text/plain", b"title=x".to_vec())).await;
    assert_eq!(
        (not_json.status, not_json.error_code().as_str()),
        (415, "unsupported_media_type")
    );
    let big = format!(
        "{{\"title\":\"x\",\"description\":\"{}\"}}",
        "d".repeat(70 * 1024)
    );
    let too_big = app.send(send("application/json", big.into_bytes())).await;
    assert_eq!(
        (too_big.status, too_big.error_code().as_str()),
        (413, "payload_too_large")
    );
    let array = app.send(send("application/json", b"[1]".to_vec())).await;
    assert_eq!(
        (array.status, array.error_code().as_str()),
        (400, "malformed_json")
    );
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401() {
    let app = TestApp::spawn();
    let none = app.request("GET", "/api/tasks", None, None).await;
    assert_eq!(
        (none.status, none.error_code().as_str()),
        (401, "unauthorized")
    );
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    let forged = todo_domain::auth::issue_token(
        b"not-the-secret",
        "alice",
        chrono::Utc::now().timestamp() as u64,
        60,
    );
    let response = app
        .request_with(
            "GET",
            "/api/tasks",
            None,
            None,
            &[("authorization", &format!("Bearer {forged}"))],
        )
        .await;
    assert_eq!(response.status, 401);
    let expired =
        todo_domain::auth::issue_token(crate::support::SECRET.as_bytes(), "alice", 1_000_000, 60);
    let response = app
        .request_with(
            "GET",
            "/api/tasks",
            None,
            None,
            &[("authorization", &format!("Bearer {expired}"))],
        )
        .await;
    assert_eq!(response.status, 401);
}

#[tokio::test]
async fn another_users_task_does_not_exist_for_you() {
    let app = TestApp::spawn();
    let task = app.create("alice", json!({"title": "secret"})).await;
    let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"title": "mine"}))),
        ("PUT", Some(json!({"title": "mine"}))),
        ("DELETE", None),
    ] {
        let response = app.request(method, &path, Some("mallory"), body).await;
        assert_eq!(
            (response.status, response.error_code().as_str()),
            (404, "not_found"),
            "{method}"
        );
    }
    let complete = app
        .request("POST", &format!("{path}/complete"), Some("mallory"), None)
        .await;
    assert_eq!(complete.status, 404);
    let list = app
        .request("GET", "/api/tasks", Some("mallory"), None)
        .await
        .json();
    assert_eq!(list["items"], json!([]));
    let unchanged = app.request("GET", &path, Some("alice"), None).await.json();
    assert_eq!(unchanged, task);
    assert_eq!(app.task_events().len(), 1);
}

#[tokio::test]
async fn unknown_ids_routes_and_methods() {
    let app = TestApp::spawn();
    let missing = app
        .request(
            "GET",
            "/api/tasks/5b0a8c3e-0000-4000-8000-000000000000",
            Some("alice"),
            None,
        )
        .await;
    assert_eq!(missing.status, 404);
    let not_uuid = app
        .request("GET", "/api/tasks/not-a-uuid", Some("alice"), None)
        .await;
    assert_eq!(not_uuid.status, 404);
    let method = app
        .request("DELETE", "/api/tasks", Some("alice"), None)
        .await;
    assert_eq!(
        (method.status, method.error_code().as_str()),
        (405, "method_not_allowed")
    );
    assert_eq!(method.header("allow"), Some("GET, POST"));
}

#[tokio::test]
async fn if_match_guards_writes() {
    let app = TestApp::spawn();
    let task = app.create("alice", json!({"title": "x"})).await;
    let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
    let ok = app
        .request_with(
            "PATCH",
            &path,
            Some("alice"),
            Some(json!({"title": "y"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("etag"), Some("\"2\""));
    let stale = app
        .request_with(
            "PATCH",
            &path,
            Some("alice"),
            Some(json!({"title": "z"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(
        (stale.status, stale.error_code().as_str()),
        (412, "precondition_failed")
    );
    let stale_delete = app
        .request_with(
            "DELETE",
            &path,
            Some("alice"),
            None,
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(stale_delete.status, 412);
    let bad = app
        .request_with(
            "PATCH",
            &path,
            Some("alice"),
            Some(json!({"title": "z"})),
            &[("if-match", "yesterday")],
        )
        .await;
    assert_eq!(bad.error_field().as_deref(), Some("If-Match"));
    let current = app.request("GET", &path, Some("alice"), None).await.json();
    assert_eq!(current["title"], "y");
    assert_eq!(app.task_events().len(), 2);
}

#[tokio::test]
async fn a_retried_create_with_the_same_idempotency_key_returns_the_first_result() {
    let app = TestApp::spawn();
    let body = json!({"title": "once"});
    let key = [("idempotency-key", "create-42")];
    let first = app
        .request_with(
            "POST",
            "/api/tasks",
            Some("alice"),
            Some(body.clone()),
            &key,
        )
        .await;
    let second = app
        .request_with(
            "POST",
            "/api/tasks",
            Some("alice"),
            Some(body.clone()),
            &key,
        )
        .await;
    assert_eq!(first.status, 201);
    assert_eq!(second.status, 201);
    assert_eq!(second.json(), first.json());
    assert_eq!(second.header("location"), first.header("location"));
    assert_eq!(second.header("idempotency-replayed"), Some("true"));
    assert_eq!(
        app.task_events().len(),
        1,
        "the retry publishes nothing new"
    );
    let list = app
        .request("GET", "/api/tasks", Some("alice"), None)
        .await
        .json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    let reused = app
        .request_with(
            "POST",
            "/api/tasks",
            Some("alice"),
            Some(json!({"title": "other"})),
            &key,
        )
        .await;
    assert_eq!(
        (reused.status, reused.error_code().as_str()),
        (422, "idempotency_key_reused")
    );
    // Keys are per user: bob's identical key is a different request.
    let bob = app
        .request_with("POST", "/api/tasks", Some("bob"), Some(body), &key)
        .await;
    assert_eq!(bob.status, 201);
    assert_ne!(bob.json()["id"], first.json()["id"]);
}

#[tokio::test]
async fn list_filters_sorts_and_validates_parameters() {
    let app = TestApp::spawn();
    app.create(
        "alice",
        json!({"title": "Buy milk", "tags": ["home"], "priority": "low"}),
    )
    .await;
    app.create("alice", json!({"title": "Write report", "description": "quarterly NUMBERS", "priority": "high", "due_date": "2026-03-05T00:00:00Z"})).await;
    app.create(
        "alice",
        json!({"title": "Call mum", "status": "completed", "due_date": "2026-02-01T00:00:00Z"}),
    )
    .await;
    app.create("alice", json!({"title": "Pay rent", "tags": ["home", "money"], "due_date": "2026-03-01T09:00:00Z", "recurrence_rule": "monthly"})).await;
    app.create("bob", json!({"title": "Bob's task", "tags": ["home"]}))
        .await;

    let titles = |v: Value| -> Vec<String> {
        validate("task-list-response.schema.json", &v);
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = |query: &'static str| {
        let app = &app;
        async move {
            let response = app
                .request("GET", &format!("/api/tasks?{query}"), Some("alice"), None)
                .await;
            assert_eq!(
                response.status,
                200,
                "{query}: {}",
                String::from_utf8_lossy(&response.body)
            );
            response.json()
        }
    };
    assert_eq!(titles(list("search=numbers").await), ["Write report"]);
    assert_eq!(
        titles(list("tags=home&sort=title").await),
        ["Buy milk", "Pay rent"]
    );
    assert_eq!(titles(list("status=completed").await), ["Call mum"]);
    assert_eq!(
        titles(list("status=active&sort=title").await),
        ["Buy milk", "Pay rent", "Write report"]
    );
    assert_eq!(
        titles(list("priority=high,low&sort=priority").await),
        ["Write report", "Buy milk"]
    );
    assert_eq!(
        titles(list("sort=due_date").await),
        ["Call mum", "Pay rent", "Write report", "Buy milk"]
    );
    assert_eq!(
        titles(list("sort=due_date&order=desc").await),
        ["Write report", "Pay rent", "Call mum", "Buy milk"]
    );
    assert_eq!(titles(list("is_recurring=true").await), ["Pay rent"]);
    assert_eq!(titles(list("has_due_date=false").await), ["Buy milk"]);
    assert_eq!(
        titles(list("due_after=2026-03-02T00:00:00Z").await),
        ["Write report"]
    );
    assert_eq!(
        titles(list("due_before=2026-03-02T00:00:00Z&sort=title").await),
        ["Call mum", "Pay rent"]
    );
    assert_eq!(
        titles(list("overdue=true&sort=title").await),
        ["Pay rent", "Write report"]
    );
    assert_eq!(titles(list("search=%20MILK%20").await), ["Buy milk"]);

    for (query, field) in [
        ("sort=colour", "sort"),
        ("limit=501", "limit"),
        ("status=done", "status"),
        ("overdue=perhaps", "overdue"),
        ("cursor=abc", "cursor"),
        ("colour=red", "colour"),
    ] {
        let response = app
            .request("GET", &format!("/api/tasks?{query}"), Some("alice"), None)
            .await;
        assert_eq!(response.status, 400, "{query}");
        assert_eq!(response.error_field().as_deref(), Some(field), "{query}");
    }
}

#[tokio::test]
async fn pagination_is_complete_and_stable_under_concurrent_inserts() {
    let app = TestApp::spawn();
    for n in 0..23 {
        app.create("alice", json!({"title": format!("task {n:02}")}))
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page_number in 0.. {
        let path = match &cursor {
            Some(c) => format!("/api/tasks?sort=title&limit=10&cursor={c}"),
            None => "/api/tasks?sort=title&limit=10".to_owned(),
        };
        let page = app.request("GET", &path, Some("alice"), None).await.json();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["title"].as_str().unwrap().to_owned()),
        );
        // Inserts between pages, before and after the cursor, must not repeat or skip items.
        app.create(
            "alice",
            json!({"title": format!("a inserted {page_number}")}),
        )
        .await;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut expected: Vec<String> = (0..23).map(|n| format!("task {n:02}")).collect();
    expected.sort();
    assert_eq!(seen, expected);
    let default_page = app
        .request("GET", "/api/tasks", Some("alice"), None)
        .await
        .json();
    assert_eq!(default_page["items"].as_array().unwrap().len(), 26);
    assert_eq!(default_page["next_cursor"], Value::Null);
}

/// The last request line chat-api logged: its route template and status.
fn last_logged_route(app: &TestApp) -> (String, u64) {
    let logs = app.logs();
    let line = logs
        .lines()
        .rev()
        .find(|l| l.contains("\"msg\":\"request\""))
        .expect("a request log line");
    let entry: Value = serde_json::from_str(line).expect("log lines are JSON");
    (
        entry["route"].as_str().unwrap().to_owned(),
        entry["status"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn every_route_in_the_openapi_document_is_served_by_that_route() {
    let app = TestApp::spawn();
    let openapi = contract_schemas::openapi();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut documented = 0;
    for (template, operations) in openapi["paths"].as_object().unwrap() {
        for method in operations
            .as_object()
            .unwrap()
            .keys()
            .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
        {
            let path = template
                .replace("{id}", "5b0a8c3e-0000-4000-8000-000000000000")
                .replace("{conversation_id}", "5b0a8c3e-0000-4000-8000-000000000000");
            let body =
                matches!(method.as_str(), "post" | "put" | "patch").then(|| json!({"title": "x"}));
            app.request(&method.to_uppercase(), &path, Some("alice"), body)
                .await;
            let (route, status) = last_logged_route(&app);
            assert_eq!(
                &route, template,
                "{method} {template} is answered by another route"
            );
            assert_ne!(
                status, 405,
                "{method} {template} is documented but not allowed"
            );
            documented += 1;
        }
    }
    assert_eq!(documented, 12, "every operation of the API is documented");
    // And nothing undocumented is routed.
    app.request("GET", "/api/conversations", Some("alice"), None)
        .await;
    assert_eq!(last_logged_route(&app).0, "unmatched");
}
