//! Contract tests of the Secrets API (and the health endpoints) against daprd's source (dapr/dapr
//! v1.16 `pkg/api/http/secrets.go`, `pkg/api/errors/secrets.go`, `pkg/api/http/healthz.go`) and
//! components-contrib `secretstores/local/{file,env}`.

use std::path::{Path, PathBuf};

use dapr_sidecar::testing::{assert_error, header, json, resources_dir, send};
use dapr_sidecar::{Sidecar, SidecarConfig, SidecarError};
use serde_json::json;

fn repo_resources() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../dapr"))
}

fn sidecar_with(resources: &Path) -> Sidecar {
    Sidecar::new(SidecarConfig {
        resources_dir: Some(resources.to_path_buf()),
        ..SidecarConfig::default()
    })
}

fn file_store(name: &str, secrets_file: &Path, extra: &str) -> String {
    format!(
        "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: secretstores.local.file\n  version: v1\n  metadata:\n    - name: secretsFile\n      value: {}\n{extra}",
        secrets_file.display()
    )
}

// ---- the repo's secret store ----------------------------------------------------------------

#[tokio::test]
async fn a_secret_of_the_repos_file_store_answers_200_with_its_key_and_value() {
    let sidecar = sidecar_with(&repo_resources());
    let response = send(
        &sidecar,
        "chat-api",
        "GET",
        "/v1.0/secrets/secretstore/jwt-secret",
        "",
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    assert_eq!(
        json(&response),
        json!({"jwt-secret": "dev-only-jwt-secret-change-me"})
    );
}

#[tokio::test]
async fn bulk_answers_every_secret_as_a_map_of_maps() {
    let sidecar = sidecar_with(&repo_resources());
    let response = send(
        &sidecar,
        "chat-api",
        "GET",
        "/v1.0/secrets/secretstore/bulk",
        "",
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        json(&response),
        json!({
            "app-api-token": {"app-api-token": "dev-only-app-api-token-change-me"},
            "jwt-secret": {"jwt-secret": "dev-only-jwt-secret-change-me"},
        })
    );
}

#[tokio::test]
async fn a_missing_secret_answers_500_secret_get() {
    let sidecar = sidecar_with(&repo_resources());
    let response = send(
        &sidecar,
        "chat-api",
        "GET",
        "/v1.0/secrets/secretstore/nope",
        "",
    )
    .await;
    let message = assert_error(&response, 500, "ERR_SECRET_GET");
    assert_eq!(
        message,
        "failed getting secret with key nope from secret store secretstore: secret nope not found"
    );
}

#[tokio::test]
async fn an_unknown_store_answers_401_secret_store_not_found() {
    let sidecar = sidecar_with(&repo_resources());
    for uri in ["/v1.0/secrets/vault/jwt-secret", "/v1.0/secrets/vault/bulk"] {
        let response = send(&sidecar, "chat-api", "GET", uri, "").await;
        let message = assert_error(&response, 401, "ERR_SECRET_STORE_NOT_FOUND");
        assert_eq!(message, "failed finding secret store with key vault");
    }
}

#[tokio::test]
async fn without_any_secret_store_answers_500_not_configured() {
    let sidecar = Sidecar::new(SidecarConfig::default());
    let response = send(&sidecar, "app", "GET", "/v1.0/secrets/secretstore/x", "").await;
    assert_error(&response, 500, "ERR_SECRET_STORES_NOT_CONFIGURED");
}

// ---- local.file options -------------------------------------------------------------------

#[tokio::test]
async fn nested_secrets_are_flattened_with_the_nested_separator() {
    let dir = resources_dir(&[(
        "secrets.json",
        r#"{"db":{"user":"u","hosts":["a","b"]},"port":5432}"#,
    )]);
    let component = file_store(
        "nested",
        &dir.join("secrets.json"),
        "    - name: nestedSeparator\n      value: \".\"\n",
    );
    std::fs::write(dir.join("store.yaml"), component).expect("write");
    let sidecar = sidecar_with(&dir);
    let get = |uri: &'static str| send(&sidecar, "app", "GET", uri, "");
    assert_eq!(
        json(&get("/v1.0/secrets/nested/db.user").await),
        json!({"db.user": "u"})
    );
    assert_eq!(
        json(&get("/v1.0/secrets/nested/db.hosts.1").await),
        json!({"db.hosts.1": "b"})
    );
    assert_eq!(
        json(&get("/v1.0/secrets/nested/port").await),
        json!({"port": "%!s(float64=5432)"}),
        "the component formats non-strings with Go's %s"
    );
}

#[tokio::test]
async fn a_multi_valued_file_store_returns_each_top_level_object_as_one_secret() {
    let dir = resources_dir(&[(
        "secrets.json",
        r#"{"db":{"user":"u","password":"p","tls":{"ca":"x"}},"single":"v"}"#,
    )]);
    let component = file_store(
        "multi",
        &dir.join("secrets.json"),
        "    - name: multiValued\n      value: \"true\"\n",
    );
    std::fs::write(dir.join("store.yaml"), component).expect("write");
    let sidecar = sidecar_with(&dir);
    let response = send(&sidecar, "app", "GET", "/v1.0/secrets/multi/db", "").await;
    assert_eq!(
        json(&response),
        json!({"user": "u", "password": "p", "tls:ca": "x"})
    );
    let bulk = send(&sidecar, "app", "GET", "/v1.0/secrets/multi/bulk", "").await;
    assert_eq!(json(&bulk)["single"], json!({"single": "v"}));
}

#[tokio::test]
async fn a_file_store_without_its_file_fails_to_start_unless_it_ignores_errors() {
    let missing = file_store("broken", Path::new("/nonexistent/secrets.json"), "");
    let dir = resources_dir(&[("store.yaml", &missing)]);
    let err = Sidecar::try_new(SidecarConfig {
        resources_dir: Some(dir),
        ..SidecarConfig::default()
    })
    .expect_err("a broken component");
    assert!(matches!(err, SidecarError::Resources(_)), "{err}");
    let ignored = missing.replace(
        "  type: secretstores",
        "  ignoreErrors: true\n  type: secretstores",
    );
    let dir = resources_dir(&[("store.yaml", &ignored)]);
    let sidecar = sidecar_with(&dir);
    let response = send(&sidecar, "app", "GET", "/v1.0/secrets/broken/x", "").await;
    assert_error(&response, 500, "ERR_SECRET_STORES_NOT_CONFIGURED");
}

#[tokio::test]
async fn a_scoped_store_is_invisible_to_other_apps() {
    let dir = resources_dir(&[("secrets.json", r#"{"k":"v"}"#)]);
    let component = file_store(
        "scoped",
        &dir.join("secrets.json"),
        "scopes:\n  - chat-api\n",
    );
    std::fs::write(dir.join("store.yaml"), component).expect("write");
    let sidecar = sidecar_with(&dir);
    let allowed = send(&sidecar, "chat-api", "GET", "/v1.0/secrets/scoped/k", "").await;
    assert_eq!(allowed.status(), 200);
    let other = send(
        &sidecar,
        "audit-service",
        "GET",
        "/v1.0/secrets/scoped/k",
        "",
    )
    .await;
    assert_eq!(other.status(), 500, "no store at all for this app");
}

// ---- local.env ------------------------------------------------------------------------------

#[tokio::test]
async fn the_env_store_reads_variables_with_its_prefix_and_hides_the_app_api_token() {
    let env_store = |name: &str, prefix: &str| {
        format!(
            "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: secretstores.local.env\n  version: v1\n  metadata:\n    - name: prefix\n      value: \"{prefix}\"\n"
        )
    };
    let dir = resources_dir(&[
        ("env.yaml", &env_store("env", "")),
        ("prefixed.yaml", &env_store("prefixed", "PA")),
    ]);
    let sidecar = sidecar_with(&dir);
    let path = std::env::var("PATH").expect("PATH is set");
    let get = |uri: &'static str| send(&sidecar, "app", "GET", uri, "");
    assert_eq!(
        json(&get("/v1.0/secrets/env/PATH").await),
        json!({"PATH": path})
    );
    assert_eq!(
        json(&get("/v1.0/secrets/prefixed/TH").await),
        json!({"TH": path})
    );
    let missing = get("/v1.0/secrets/env/TODO_SIDECAR_SURELY_UNSET").await;
    assert_eq!(missing.status(), 200, "a missing variable is not an error");
    assert_eq!(json(&missing), json!({"TODO_SIDECAR_SURELY_UNSET": ""}));
    let token = get("/v1.0/secrets/env/APP_API_TOKEN").await;
    assert_eq!(
        json(&token),
        json!({"APP_API_TOKEN": ""}),
        "never handed out"
    );
    let bulk = json(&get("/v1.0/secrets/prefixed/bulk").await);
    assert_eq!(bulk["TH"], json!({"TH": path}));
    assert!(
        bulk.as_object()
            .expect("object")
            .keys()
            .all(|k| k != "PATH")
    );
}

// ---- health ---------------------------------------------------------------------------------

#[tokio::test]
async fn healthz_answers_500_until_started_then_204() {
    let sidecar = Sidecar::new(SidecarConfig::default());
    let before = send(&sidecar, "app", "GET", "/v1.0/healthz", "").await;
    let message = assert_error(&before, 500, "ERR_HEALTH_NOT_READY");
    assert_eq!(message, "dapr is not ready");
    sidecar.start();
    let after = send(&sidecar, "app", "GET", "/v1.0/healthz", "").await;
    assert_eq!(after.status(), 204);
    assert!(after.body().is_empty());
    let wrong = send(&sidecar, "app", "GET", "/v1.0/healthz?appid=other", "").await;
    assert_error(&wrong, 500, "ERR_HEALTH_APPID_NOT_MATCH");
    let right = send(&sidecar, "app", "GET", "/v1.0/healthz?appid=app", "").await;
    assert_eq!(right.status(), 204);
}

#[tokio::test]
async fn outbound_healthz_answers_204_once_components_are_loaded() {
    let sidecar = sidecar_with(&repo_resources());
    let response = send(&sidecar, "app", "GET", "/v1.0/healthz/outbound", "").await;
    assert_eq!(response.status(), 204);
}
