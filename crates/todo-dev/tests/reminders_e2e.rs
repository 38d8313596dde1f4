//! Reminders end to end on the real `todo-dev` binary (chat-api and notification-service, the
//! repository's `dapr/`), over real HTTP, where a process matters: a `kill -9` between scheduling
//! and firing, and the dead letters on the admin port. The rest of the reminder flow runs on the
//! same stack in process, on a manual clock: tests/tests/reminders/.
//!
//! `todo-dev` runs on the system clock, so a reminder here is set a few seconds ahead; the tests
//! wait for the event itself (notification-service's log line, the webhook call), bounded by
//! [`support::HANG`] against a hang only.
mod support;

use chrono::{SecondsFormat, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;
use support::{Dev, HANG, User, request, temp_dir};

const COMPONENTS: [&str; 4] = [
    "--component-id",
    "chat-api",
    "--component-id",
    "notification-service",
];
const HOOK_SECRET: &str = "reminders-e2e-hook-secret";

/// A reminder `seconds` from now, and a due date after it.
fn reminder_in(seconds: i64) -> Value {
    let at = |d: TimeDelta| (Utc::now() + d).to_rfc3339_opts(SecondsFormat::Secs, true);
    json!({"title": "Water the plants", "remind_at": at(TimeDelta::seconds(seconds)),
           "due_date": at(TimeDelta::hours(1))})
}

fn reminder_id(task: &Value) -> String {
    format!("{}:{}", task["id"].as_str().unwrap(), task["version"])
}

/// notification-service's log line for `reminder_id` (one per delivery attempt).
fn wait_for_reminder_line(dev: &Dev, reminder_id: &str) -> Value {
    dev.wait_for_guest_line(
        &format!("the delivery of {reminder_id}"),
        |component, line| {
            component == "notification-service"
                && line["msg"] == "reminder"
                && line["reminder_id"] == reminder_id
        },
    )
}

fn inbox_ids(user: &User<'_>) -> Vec<String> {
    let (status, page) = user.call("GET", "/notifications/inbox", None);
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_reminder_scheduled_before_a_kill_9_arrives_after_the_restart() {
    let data = temp_dir("reminder-kill-9");
    let dev = Dev::start(&data, &COMPONENTS);
    let (task, remind_at) = {
        let user = User::new(&dev, "alice");
        let task = user.create(reminder_in(4));
        let remind_at: chrono::DateTime<Utc> = task["remind_at"].as_str().unwrap().parse().unwrap();
        (task, remind_at)
    };
    dev.kill_9();
    assert!(
        Utc::now() < remind_at,
        "killed after the reminder was due: the test proves nothing on a machine this slow"
    );

    let dev = Dev::start(&data, &COMPONENTS);
    let rid = reminder_id(&task);
    let line = wait_for_reminder_line(&dev, &rid);
    assert_eq!(line["inbox"], "added", "{line}");
    let user = User::new(&dev, "alice");
    assert_eq!(inbox_ids(&user), [rid]);
    dev.stop();
    let _ = std::fs::remove_dir_all(&data);
}

/// What the receiver got in one call.
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

/// A webhook receiver on 127.0.0.1 (a thread per connection) answering the scripted statuses,
/// then 204.
struct Hook {
    addr: SocketAddr,
    script: Arc<Mutex<VecDeque<u16>>>,
    received: Arc<(Mutex<Vec<Received>>, Condvar)>,
}

impl Hook {
    fn start(script: &[u16]) -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let received = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let (s, r) = (script.clone(), received.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (script, received) = (s.clone(), r.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut headers = Vec::new();
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    loop {
                        line.clear();
                        reader.read_line(&mut line).unwrap();
                        let Some((k, v)) = line.trim_end().split_once(':') else {
                            break;
                        };
                        headers.push((k.trim().to_owned(), v.trim().to_owned()));
                    }
                    let length = headers
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                        .map_or(0, |(_, v)| v.parse().unwrap());
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let status = script.lock().unwrap().pop_front().unwrap_or(204);
                    let (list, added) = &*received;
                    list.lock().unwrap().push(Received { headers, body });
                    added.notify_all();
                    let answer = format!(
                        "HTTP/1.1 {status} Scripted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = (&stream).write_all(answer.as_bytes());
                });
            }
        });
        Hook {
            addr,
            script,
            received,
        }
    }

    /// Waits until `n` calls have arrived; runs `check` on them.
    fn wait_for_calls<T>(&self, n: usize, check: impl FnOnce(&[Received]) -> T) -> T {
        let (list, added) = &*self.received;
        let deadline = Instant::now() + HANG;
        let mut calls = list.lock().unwrap();
        while calls.len() < n {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("{n} webhook calls expected within {HANG:?}"));
            calls = added.wait_timeout(calls, left).unwrap().0;
        }
        check(&calls)
    }
}

/// The receiver's own check of the signature: `sha256=` hex HMAC of timestamp "." body.
fn assert_signed(call: &Received) {
    let mut mac = Hmac::<Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    mac.update(call.header("x-timestamp").as_bytes());
    mac.update(b".");
    mac.update(&call.body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(call.header("x-signature"), format!("sha256={hex}"));
}

#[test]
fn a_refused_webhook_dead_letters_the_reminder_on_the_admin_port_and_a_replay_delivers_it() {
    let hook = Hook::start(&[422]);
    let data = temp_dir("reminder-dlq");
    let url = format!("http://{}/hooks/reminders", hook.addr);
    let origin = format!("http://{}", hook.addr);
    let dev = Dev::start_with_env(
        &data,
        &[&COMPONENTS[..], &["--ephemeral"]].concat(),
        &[
            ("SPIN_VARIABLE_NOTIFICATION_WEBHOOK_URL", &url),
            ("SPIN_VARIABLE_NOTIFICATION_WEBHOOK_SECRET", HOOK_SECRET),
            ("SPIN_VARIABLE_NOTIFICATION_WEBHOOK_ORIGIN", &origin),
        ],
    );
    let user = User::new(&dev, "alice");
    let task = user.create(reminder_in(2));
    let rid = reminder_id(&task);

    hook.wait_for_calls(1, |calls| {
        assert_signed(&calls[0]);
        assert_eq!(calls[0].header("idempotency-key"), rid);
    });
    // The DROP goes to `reminders-dlq`; the admin port lists it once the sidecar has moved it.
    let deadline = Instant::now() + HANG;
    let letter = loop {
        let (status, letters) = request(dev.admin, "GET", "/dead-letters", &[], None);
        assert_eq!(status, 200, "{letters}");
        if let Some(letter) = letters.as_array().unwrap().first() {
            break letter.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no dead letter within {HANG:?}\n{}",
            dev.logs()
        );
    };
    assert_eq!(letter["topic"], "reminders-dlq");
    assert_eq!(letter["original_topic"], "reminders");
    assert_eq!(letter["app_id"], "notification-service");
    assert_eq!(letter["event"]["data"]["reminder_id"], rid.as_str());
    // The inbox has the reminder already: the webhook's refusal does not take it back.
    assert_eq!(inbox_ids(&user), [rid.as_str()]);

    let replay = format!("/dead-letters/{}/replay", letter["id"]);
    let (status, body) = request(dev.admin, "POST", &replay, &[], None);
    assert_eq!(status, 200, "{body}");
    hook.wait_for_calls(2, |calls| {
        assert_signed(&calls[1]);
        assert_eq!(calls[1].header("idempotency-key"), rid);
        assert_eq!(calls[1].body, calls[0].body);
    });
    let deadline = Instant::now() + HANG;
    loop {
        let (_, letters) = request(dev.admin, "GET", "/dead-letters", &[], None);
        if letters.as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replayed letter stayed: {letters}"
        );
    }
    assert_eq!(inbox_ids(&user), [rid]);
    assert_eq!(hook.script.lock().unwrap().len(), 0);
    dev.stop();
    let _ = std::fs::remove_dir_all(&data);
}
