//! The web page end to end in a real headless Chromium (Debian's `chromium`, driven over the
//! DevTools protocol: `cdp`), against the whole app served as `todo-dev up` serves it
//! (`server`): sign in with a minted token, see tasks created through REST, add one by chat
//! (in the browser's time zone), read a fired reminder, complete a task with the keyboard, edit
//! and delete others, filter, page with "More" — and check every change through the API. Also:
//! no script error, no CSP violation, no horizontal scrolling at 360 px.
//!
//! The chat step is [`chat_adds_a_task`]: chat-api serves `POST /api/chat`, so a 404 there is a
//! failure, not a reason to check something else.
//!
//! Screenshots go to `target/browser/`; `TODO_TESTS_UPDATE_SCREENSHOT=1` also writes the
//! README's `docs/screenshot.png`.
mod cdp;
mod server;

use cdp::Browser;
use serde_json::{Value, json};
use server::{APP_TOKEN, Server};
use std::path::Path;

const USER: &str = "browser-alice";

fn token(user: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    todo_domain::auth::issue_token(todo_tests::TEST_JWT_SECRET.as_bytes(), user, now, 3600)
}

/// What the test does through the API, as the signed-in user.
struct Api<'a> {
    server: &'a Server,
    bearer: String,
}

impl Api<'_> {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let (status, _, json) = self.server.request(
            method,
            path,
            &[("Authorization", self.bearer.as_str())],
            body,
        );
        (status, json)
    }

    fn create(&self, task: Value) -> Value {
        let (status, task) = self.call("POST", "/api/tasks", Some(&task));
        assert_eq!(status, 201, "{task}");
        task
    }

    fn task(&self, id: &str) -> Value {
        let (status, task) = self.call("GET", &format!("/api/tasks/{id}"), None);
        assert_eq!(status, 200, "{task}");
        task
    }

    fn tasks(&self) -> Vec<Value> {
        let (status, page) = self.call("GET", "/api/tasks?limit=500", None);
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().clone()
    }
}

/// A fired reminder for `task`, delivered to notification-service as Dapr delivers it (the
/// delivery answers once the inbox has it).
fn deliver_reminder(server: &Server, task: &Value) -> String {
    let reminder_id = format!("{}:{}", task["id"].as_str().unwrap(), task["version"]);
    let event = json!({
        "specversion": "1.0",
        "id": uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, reminder_id.as_bytes()),
        "source": "chat-api", "type": "reminder.triggered", "subject": task["id"],
        "time": task["remind_at"], "datacontenttype": "application/json",
        "data": {
            "schema_version": 1, "user_id": USER, "task_id": task["id"],
            "task_title": task["title"], "due_date": task["due_date"],
            "remind_at": task["remind_at"], "reminder_id": reminder_id
        },
        "topic": "reminders", "pubsubname": "pubsub"
    });
    let (status, _, answer) = server.request(
        "POST",
        "/notifications/reminders",
        &[
            ("dapr-api-token", APP_TOKEN),
            ("Content-Type", "application/cloudevents+json"),
        ],
        Some(&event),
    );
    assert_eq!((status, answer["status"].as_str()), (200, Some("SUCCESS")));
    reminder_id
}

/// `document.querySelector` of the task row titled `title`, as a JS expression.
fn row(title: &str) -> String {
    format!(
        "[...document.querySelectorAll('#task-list li.task')].find(li => \
         li.querySelector('.title').textContent === {})",
        json!(title)
    )
}

#[test]
fn the_page_signs_in_lists_completes_edits_and_shows_reminders() {
    let Some(chromium) = todo_tests::skip::require_tool(
        "chromium",
        "browser::the_page_signs_in_lists_completes_edits_and_shows_reminders",
    ) else {
        return;
    };
    let server = Server::start();
    let api = Api {
        server: &server,
        bearer: format!("Bearer {}", token(USER)),
    };
    let in_an_hour = (chrono::Utc::now() + chrono::TimeDelta::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let milk = api.create(json!({"title": "Buy oat milk", "tags": ["shopping"]}));
    let passport = api.create(json!({
        "title": "Renew passport", "priority": "high", "tags": ["admin"],
        "due_date": in_an_hour, "reminder_offset_minutes": 30,
    }));
    api.create(json!({"title": "Water the plants", "priority": "low", "recurrence_rule": "every 3 days", "due_date": in_an_hour}));
    let reminder_id = deliver_reminder(&server, &passport);

    let mut browser = Browser::launch(&chromium);
    browser.call(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": "window.__violations = []; document.addEventListener(\
            'securitypolicyviolation', e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"}),
    );
    browser.viewport(1000, 900, false);
    browser.navigate(&server.url("/"));

    // Signed out: the sign-in form with the instructions for a dev token.
    let help = browser.wait_for("!document.getElementById('sign-in').hidden && document.getElementById('token-help').textContent");
    assert!(
        help.as_str()
            .unwrap()
            .contains("cargo run --profile fast -p todo-dev -- token --user alice"),
        "{help}"
    );
    browser.type_into("#token", &token(USER));
    browser.click("#sign-in-form button[type=submit]");

    // The tasks made through REST are listed (default filter: open tasks).
    browser.wait_for(&format!(
        "{} && {}",
        row("Buy oat milk"),
        row("Renew passport")
    ));
    assert_eq!(
        browser.eval("document.getElementById('who').textContent"),
        json!(format!("Signed in as {USER}"))
    );

    // The chat box: a task added by chat, in the browser's time zone.
    chat_adds_a_task(&mut browser, &api);

    // The fired reminder is in the inbox panel; marking it read reaches notification-service.
    browser.wait_for("!document.getElementById('reminders').hidden && document.querySelector('#reminder-list button')");
    take_screenshot(&mut browser, "page.png", true);
    browser.click("#reminder-list button");
    browser.wait_for("!document.querySelector('#reminder-list button')");
    let (status, inbox) = api.call("GET", "/notifications/inbox", None);
    assert_eq!(status, 200, "{inbox}");
    assert_eq!(inbox["items"][0]["id"], json!(reminder_id));
    assert!(inbox["items"][0]["read_at"].is_string(), "{inbox}");
    assert_eq!(inbox["unread_count"], 0);

    // Complete with the keyboard: focus the checkbox, press Space.
    browser.eval(&format!(
        "({}).querySelector('.done').focus()",
        row("Buy oat milk")
    ));
    browser.press(" ");
    browser.wait_for(&format!(
        "{}.classList.contains('completed')",
        row("Buy oat milk")
    ));
    let milk_now = api.task(milk["id"].as_str().unwrap());
    assert_eq!(milk_now["status"], "completed");
    assert_eq!(milk_now["version"], 2, "one change, sent with If-Match");

    // Edit a title and the priority in the inline form.
    browser.click(&format!(
        "#task-list li[data-id=\"{}\"] .edit",
        passport["id"].as_str().unwrap()
    ));
    browser.wait_for("document.querySelector('.edit-form')");
    browser.eval("document.querySelector('.edit-form [name=title]').select()");
    browser.call(
        "Input.insertText",
        json!({"text": "Renew passport (photos!)"}),
    );
    choose(&mut browser, ".edit-form [name=priority]", "medium");
    browser.click(".edit-form button[type=submit]");
    browser.wait_for(&row("Renew passport (photos!)"));
    let passport_now = api.task(passport["id"].as_str().unwrap());
    assert_eq!(passport_now["title"], "Renew passport (photos!)");
    assert_eq!(passport_now["priority"], "medium");
    assert_eq!(
        passport_now["due_date"], passport["due_date"],
        "unchanged fields stay"
    );

    // Filters: completed tasks only.
    choose(&mut browser, "#f-status", "completed");
    browser.wait_for(&format!(
        "{} && !{}",
        row("Buy oat milk"),
        row("Water the plants")
    ));
    choose(&mut browser, "#f-status", "active");
    browser.wait_for(&format!(
        "!{} && {}",
        row("Buy oat milk"),
        row("Water the plants")
    ));

    // Delete, confirmed in the browser's dialog.
    let plants = api
        .tasks()
        .into_iter()
        .find(|t| t["title"] == "Water the plants")
        .unwrap();
    let message = browser.click_and_answer_dialog(
        &format!(
            "#task-list li[data-id=\"{}\"] .delete",
            plants["id"].as_str().unwrap()
        ),
        true,
    );
    assert_eq!(message, "Delete \"Water the plants\"?");
    browser.wait_for(&format!("!{}", row("Water the plants")));
    let (status, _) = api.call(
        "GET",
        &format!("/api/tasks/{}", plants["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(status, 404, "deleted through the API");

    // Paging: a search with more matches than a page (50) shows "More", which loads the rest.
    browser.type_into("#f-search", "chore");
    browser.wait_for("document.getElementById('task-count').textContent === 'No tasks match.'");
    for n in 1..=51 {
        api.create(json!({"title": format!("Chore {n:02}")}));
    }
    choose(&mut browser, "#f-sort", "title");
    let rows = "document.querySelectorAll('#task-list li.task')";
    browser.wait_for(&format!(
        "{rows}.length === 50 && {rows}[0].querySelector('.title').textContent === 'Chore 01' \
         && !document.getElementById('more').hidden"
    ));
    browser.click("#more");
    browser.wait_for(&format!(
        "{rows}.length === 51 && document.getElementById('more').hidden"
    ));
    assert_eq!(
        browser.eval("document.querySelector('#task-list li.task:last-child .title').textContent"),
        json!("Chore 51"),
        "sorted by title across pages"
    );

    // A phone-sized screen: nothing wider than the viewport.
    browser.viewport(360, 740, true);
    let overflow = browser.eval("document.documentElement.scrollWidth");
    assert!(
        overflow.as_u64().unwrap() <= 360,
        "page is {overflow}px wide at 360px"
    );
    take_screenshot(&mut browser, "page-360px.png", false);

    assert_eq!(
        browser.eval("window.__violations"),
        json!([]),
        "CSP violations"
    );
    let exceptions = browser.take_events("Runtime.exceptionThrown");
    assert!(exceptions.is_empty(), "script errors: {exceptions:#?}");
}

/// Type a request in the chat box, see the assistant's reply and the new task in the list, and
/// find it through the API.
fn chat_adds_a_task(browser: &mut Browser, api: &Api<'_>) {
    browser.type_into("#chat-message", "add buy bread tomorrow at 9am #shopping");
    browser.press("Enter");
    let reply = browser.wait_for("document.querySelector('#chat-log li.assistant')?.textContent");
    assert!(!reply.as_str().unwrap().is_empty());
    browser.wait_for(
        "[...document.querySelectorAll('#task-list .title')].some(t => /bread/i.test(t.textContent))",
    );
    let bread: Vec<Value> = api
        .tasks()
        .into_iter()
        .filter(|t| {
            t["title"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("bread")
        })
        .collect();
    assert_eq!(bread.len(), 1, "{bread:#?}");
    assert_eq!(bread[0]["tags"], json!(["shopping"]));
    // "tomorrow at 9am" in the browser's zone (UTC+9): midnight UTC, 9–33 hours from now.
    assert_eq!(
        bread[0]["time_zone"],
        cdp::TIME_ZONE,
        "the page sends its zone"
    );
    let due: chrono::DateTime<chrono::Utc> =
        bread[0]["due_date"].as_str().unwrap().parse().unwrap();
    assert_eq!(due.format("%H:%M").to_string(), "00:00", "{due}");
    let ahead = due - chrono::Utc::now();
    assert!(
        (chrono::TimeDelta::hours(9)..=chrono::TimeDelta::hours(33)).contains(&ahead),
        "{due}"
    );
}

/// Pick `value` in the `<select>` `selector`, as a user's choice does (a `change` event).
fn choose(browser: &mut Browser, selector: &str, value: &str) {
    browser.eval(&format!(
        "(() => {{ const s = document.querySelector({}); s.value = {}; \
         s.dispatchEvent(new Event('change', {{bubbles: true}})); }})()",
        json!(selector),
        json!(value)
    ));
}

/// Save a PNG under target/browser/; `readme`: also docs/screenshot.png when
/// `TODO_TESTS_UPDATE_SCREENSHOT=1`.
fn take_screenshot(browser: &mut Browser, name: &str, readme: bool) {
    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = workspace.join("target/browser");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), &png).unwrap();
    if readme && std::env::var("TODO_TESTS_UPDATE_SCREENSHOT").is_ok_and(|v| v == "1") {
        std::fs::write(workspace.join("docs/screenshot.png"), &png).unwrap();
    }
}
