//! Headless Chromium driven over the DevTools protocol through `--remote-debugging-pipe`: the
//! browser reads NUL-terminated JSON commands on fd 3 and writes answers and events on fd 4. A
//! shell maps the child's stdin/stdout onto those descriptors, so no WebSocket client (and no
//! browser-automation crate) is needed.
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bounds a hang only: every wait ends when what it waits for happens.
pub const HANG: Duration = Duration::from_secs(60);
/// The browser's time zone (UTC+9 all year).
pub const TIME_ZONE: &str = "Asia/Tokyo";

pub struct Browser {
    child: Child,
    commands: ChildStdin,
    messages: mpsc::Receiver<Value>,
    /// Events read while waiting for an answer, for [`Browser::wait_event`].
    events: VecDeque<Value>,
    next_id: u64,
    /// The page target's flat session.
    session: String,
    profile: PathBuf,
}

impl Browser {
    /// Start `chromium` headless with a fresh profile and open one blank page.
    pub fn launch(chromium: &Path) -> Browser {
        let profile = std::env::temp_dir().join(format!(
            "todo-tests-chromium-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let mut child = Command::new("sh")
            // fd 3 = our commands (the child's stdin), fd 4 = its answers (the child's stdout).
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null"#)
            .arg(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--remote-debugging-pipe",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            // A zone without DST and far from UTC: the page must send it for "tomorrow 9am".
            .env("TZ", TIME_ZONE)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let commands = child.stdin.take().unwrap();
        let answers = child.stdout.take().unwrap();
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(answers);
            let mut message = Vec::new();
            while reader.read_until(0, &mut message).is_ok_and(|n| n > 0) {
                if message.last() == Some(&0) {
                    message.pop();
                }
                if let Ok(value) = serde_json::from_slice::<Value>(&message)
                    && tx.send(value).is_err()
                {
                    break;
                }
                message.clear();
            }
        });
        let mut browser = Browser {
            child,
            commands,
            messages,
            events: VecDeque::new(),
            next_id: 0,
            session: String::new(),
            profile,
        };
        let target = browser.browser_call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = browser.browser_call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        browser.call("Page.enable", json!({}));
        browser.call("Runtime.enable", json!({}));
        browser
    }

    /// A command to the browser itself.
    fn browser_call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    /// A command to the page.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(method, params, Some(&session))
    }

    fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        let id = self.post(method, params, session);
        let deadline = Instant::now() + HANG;
        loop {
            let message = self.next_message(deadline, method);
            if message["id"] == id {
                if let Some(error) = message.get("error") {
                    panic!("{method} failed: {error}");
                }
                return message["result"].clone();
            }
            if message.get("method").is_some() {
                self.events.push_back(message);
            }
        }
    }

    /// Send a command without waiting for its answer (which is then ignored); its id.
    fn post(&mut self, method: &str, params: Value, session: Option<&str>) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&command).unwrap();
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .and_then(|()| self.commands.flush())
            .unwrap_or_else(|e| panic!("chromium is gone ({e}) before {method}"));
        id
    }

    fn next_message(&mut self, deadline: Instant, waiting_for: &str) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        self.messages
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no answer from chromium to {waiting_for}: {e}"))
    }

    /// The next page event `method` (one received earlier included).
    pub fn wait_event(&mut self, method: &str) -> Value {
        if let Some(i) = self.events.iter().position(|e| e["method"] == method) {
            return self.events.remove(i).unwrap();
        }
        let deadline = Instant::now() + HANG;
        loop {
            let message = self.next_message(deadline, method);
            if message["method"] == method {
                return message;
            }
            if message.get("method").is_some() {
                self.events.push_back(message);
            }
        }
    }

    /// Events of kind `method` received so far (taken out of the buffer).
    pub fn take_events(&mut self, method: &str) -> Vec<Value> {
        while let Ok(message) = self.messages.try_recv() {
            if message.get("method").is_some() {
                self.events.push_back(message);
            }
        }
        let (taken, kept) = self.events.drain(..).partition(|e| e["method"] == method);
        self.events = kept;
        taken.into()
    }

    /// Load `url` and wait for its `load` event.
    pub fn navigate(&mut self, url: &str) {
        self.take_events("Page.loadEventFired");
        let result = self.call("Page.navigate", json!({"url": url}));
        assert!(
            result.get("errorText").is_none(),
            "navigate {url}: {result}"
        );
        self.wait_event("Page.loadEventFired");
    }

    /// Evaluate `expression` in the page (promises awaited); its JSON value. A thrown exception
    /// fails the test.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression}\nthrew: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Wait until the JS `condition` is truthy, re-checking on every DOM change (no polling);
    /// its value.
    pub fn wait_for(&mut self, condition: &str) -> Value {
        // The page gives up first, so the failure names the condition.
        let limit = (HANG - Duration::from_secs(10)).as_millis();
        self.eval(&format!(
            r#"new Promise((resolve, reject) => {{
                const condition = () => {{ try {{ return ({condition}); }} catch (e) {{ return null; }} }};
                const first = condition();
                if (first) return resolve(first);
                const observer = new MutationObserver(() => {{
                    const value = condition();
                    if (value) {{ observer.disconnect(); clearTimeout(timer); resolve(value); }}
                }});
                observer.observe(document, {{subtree: true, childList: true, attributes: true, characterData: true}});
                const timer = setTimeout(() => {{
                    observer.disconnect();
                    reject(new Error('timed out waiting for: ' + {quoted}));
                }}, {limit});
            }})"#,
            quoted = json!(condition),
        ))
    }

    /// A real mouse click in the middle of the element `selector` (scrolled into view).
    pub fn click(&mut self, selector: &str) {
        let (x, y) = self.center_of(selector);
        for kind in ["mousePressed", "mouseReleased"] {
            self.call("Input.dispatchMouseEvent", mouse(kind, x, y));
        }
    }

    /// Click `selector`, which opens a `confirm()` dialog, and answer it; the dialog's message.
    /// (The click's own answer only comes once the dialog is closed, so it is not waited for.)
    pub fn click_and_answer_dialog(&mut self, selector: &str, accept: bool) -> String {
        let (x, y) = self.center_of(selector);
        self.call("Input.dispatchMouseEvent", mouse("mousePressed", x, y));
        let session = self.session.clone();
        self.post(
            "Input.dispatchMouseEvent",
            mouse("mouseReleased", x, y),
            Some(&session),
        );
        let dialog = self.wait_event("Page.javascriptDialogOpening");
        self.call("Page.handleJavaScriptDialog", json!({"accept": accept}));
        dialog["params"]["message"].as_str().unwrap().to_owned()
    }

    fn center_of(&mut self, selector: &str) -> (f64, f64) {
        let point = self.eval(&format!(
            "(() => {{ const e = document.querySelector({s}); e.scrollIntoView({{block: 'center'}}); \
             const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()",
            s = json!(selector)
        ));
        (point[0].as_f64().unwrap(), point[1].as_f64().unwrap())
    }

    /// Focus `selector` and type `text` into it as keyboard input.
    pub fn type_into(&mut self, selector: &str, text: &str) {
        self.eval(&format!(
            "document.querySelector({}).focus()",
            json!(selector)
        ));
        self.call("Input.insertText", json!({"text": text}));
    }

    /// Press and release a key (`"Enter"`, `" "`) on the focused element.
    pub fn press(&mut self, key: &str) {
        let (code, key_code, text) = match key {
            "Enter" => ("Enter", 13, "\r"),
            " " => ("Space", 32, " "),
            other => panic!("no key mapping for {other:?}"),
        };
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyDown", "key": key, "code": code,
                   "windowsVirtualKeyCode": key_code, "text": text}),
        );
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": key_code}),
        );
    }

    /// Emulate a viewport of `width` × `height` CSS pixels.
    pub fn viewport(&mut self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        );
    }

    /// A PNG of the whole page.
    pub fn screenshot(&mut self) -> Vec<u8> {
        use base64::Engine as _;
        let size = self.call("Page.getLayoutMetrics", json!({}))["cssContentSize"].clone();
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true, "clip": {
                "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}),
        );
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }
}

fn mouse(kind: &str, x: f64, y: f64) -> Value {
    json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask first, so the browser takes its helper processes down with it.
        let mut close = serde_json::to_vec(&json!({"id": 0, "method": "Browser.close"})).unwrap();
        close.push(0);
        let _ = self.commands.write_all(&close);
        let _ = self.commands.flush();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
