//! `TestApp`: one chat-api instance with its own sidecar, and request helpers.
use bytes::Bytes;
use dapr_sidecar::{Sidecar, SidecarConfig};
use serde_json::Value;
use std::sync::Arc;

pub const SECRET: &str = "component-test-secret";
pub const APP_TOKEN: &str = "component-test-app-token";

pub struct TestApp {
    pub sidecar: Sidecar,
    component: todo_tests::TestComponent,
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error body's code, asserting the documented error shape.
    pub fn error_code(&self) -> String {
        let body = self.json();
        contract_schemas::validate("error.schema.json", &body)
            .unwrap_or_else(|e| panic!("{e}\n{body}"));
        body["error"]["code"].as_str().unwrap().to_owned()
    }

    pub fn error_field(&self) -> Option<String> {
        self.json()["error"]["field"].as_str().map(str::to_owned)
    }
}

impl TestApp {
    pub fn spawn() -> Self {
        Self::spawn_with(SidecarConfig::default())
    }

    /// A chat-api with its own sidecar, sharing the test binary's compiled component.
    pub fn spawn_with(config: SidecarConfig) -> Self {
        let sidecar = Sidecar::new(config);
        let component = todo_tests::component_with(
            "chat-api",
            Arc::new(todo_tests::SidecarOutbound(sidecar.clone())),
            &[("jwt_secret", SECRET), ("app_api_token", APP_TOKEN)],
        );
        Self { sidecar, component }
    }

    pub fn token(user: &str) -> String {
        let now = chrono::Utc::now().timestamp() as u64;
        todo_domain::auth::issue_token(SECRET.as_bytes(), user, now, 3600)
    }

    /// Send a request as `user` (None: no Authorization header). `body` is sent as JSON.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        user: Option<&str>,
        body: Option<Value>,
    ) -> TestResponse {
        self.request_with(method, path, user, body, &[]).await
    }

    pub async fn request_with(
        &self,
        method: &str,
        path: &str,
        user: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(format!("http://localhost:3000{path}"));
        if let Some(user) = user {
            builder = builder.header("authorization", format!("Bearer {}", Self::token(user)));
        }
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let body = body
            .map(|b| Bytes::from(serde_json::to_vec(&b).unwrap()))
            .unwrap_or_default();
        self.send(builder.body(body).unwrap()).await
    }

    pub async fn send(&self, request: http::Request<Bytes>) -> TestResponse {
        let response = self.component.send(request).await;
        let (parts, body) = response.into_parts();
        TestResponse {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    pub async fn create(&self, user: &str, body: Value) -> Value {
        let response = self
            .request("POST", "/api/tasks", Some(user), Some(body))
            .await;
        assert_eq!(
            response.status,
            201,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        response.json()
    }

    /// Every CloudEvent published on `task-events`, in order.
    pub fn task_events(&self) -> Vec<Value> {
        self.sidecar
            .published()
            .into_iter()
            .filter(|m| m.topic == "task-events")
            .map(|m| m.event.expect("task events are CloudEvents"))
            .collect()
    }

    pub fn logs(&self) -> String {
        self.component.logs()
    }
}
