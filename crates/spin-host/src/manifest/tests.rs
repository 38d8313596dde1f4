use super::*;
use std::path::{Path, PathBuf};

/// A component whose variables and outbound hosts are templates over application variables.
const MANIFEST: &str = r#"
spin_manifest_version = 2

[application]
name = "app"

[variables]
dapr_url = { default = "http://127.0.0.1:3500" }
dapr_host = { default = "127.0.0.1:3500" }
jwt_secret = { required = true, secret = true }

[[trigger.http]]
route = "/api/..."
component = "chat-api"

[component.chat-api]
source = "target/chat_api.wasm"
allowed_outbound_hosts = ["http://{{ dapr_host }}", "http://localhost:3500"]
environment = { RUST_LOG = "info" }

[component.chat-api.variables]
dapr_url = "{{ dapr_url }}"
jwt_secret = "{{jwt_secret}}"
greeting = "hello {{ dapr_host }}!"
"#;

fn manifest() -> Manifest {
    Manifest::parse(MANIFEST, Path::new("/app")).unwrap()
}

/// MANIFEST with `from` replaced by `to` (which must occur).
fn variant(from: &str, to: &str) -> String {
    assert!(MANIFEST.contains(from), "{from}");
    MANIFEST.replacen(from, to, 1)
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn component_config_expands_templates_in_variables_and_allowed_hosts() {
    let m = manifest();
    let mut resolver = VariableResolver::with_env(&m, no_env);
    resolver.set_fallback("jwt_secret", "dev");
    let config = ComponentConfig::from_manifest(&m, "chat-api", &resolver).unwrap();
    assert_eq!(config.id, "chat-api");
    assert_eq!(config.wasm_path, PathBuf::from("/app/target/chat_api.wasm"));
    assert_eq!(config.variables["dapr_url"], "http://127.0.0.1:3500");
    assert_eq!(config.variables["jwt_secret"], "dev");
    assert_eq!(config.variables["greeting"], "hello 127.0.0.1:3500!");
    assert_eq!(
        config.allowed_outbound_hosts,
        vec![
            "http://127.0.0.1:3500".to_string(),
            "http://localhost:3500".to_string()
        ]
    );
    assert_eq!(config.environment["RUST_LOG"], "info");
}

#[test]
fn component_config_errors_name_the_field() {
    let m = manifest();
    // Required variable without a value.
    let err = format!(
        "{:#}",
        ComponentConfig::from_manifest(&m, "chat-api", &VariableResolver::with_env(&m, no_env))
            .unwrap_err()
    );
    assert!(
        err.contains("component.chat-api.variables.jwt_secret"),
        "{err}"
    );
    assert!(err.contains("required variable has no value"), "{err}");

    // Reference to an undeclared variable.
    let text = variant(
        "greeting = \"hello {{ dapr_host }}!\"",
        "greeting = \"{{ nope }}\"",
    );
    let m = Manifest::parse(&text, Path::new("/app")).unwrap();
    let mut resolver = VariableResolver::with_env(&m, no_env);
    resolver.set_fallback("jwt_secret", "dev");
    let err = format!(
        "{:#}",
        ComponentConfig::from_manifest(&m, "chat-api", &resolver).unwrap_err()
    );
    assert!(
        err.contains("component.chat-api.variables.greeting"),
        "{err}"
    );
    assert!(err.contains("no application variable \"nope\""), "{err}");

    // Unterminated template.
    let text = variant(
        "greeting = \"hello {{ dapr_host }}!\"",
        "greeting = \"{{ dapr_host\"",
    );
    let m = Manifest::parse(&text, Path::new("/app")).unwrap();
    let mut resolver = VariableResolver::with_env(&m, no_env);
    resolver.set_fallback("jwt_secret", "dev");
    let err = format!(
        "{:#}",
        ComponentConfig::from_manifest(&m, "chat-api", &resolver).unwrap_err()
    );
    assert!(err.contains("unterminated"), "{err}");

    // A template in allowed_outbound_hosts that expands to an invalid host.
    let text = variant("greeting = \"hello {{ dapr_host }}!\"", "greeting = \"x\"");
    let m = Manifest::parse(&text, Path::new("/app")).unwrap();
    let mut resolver = VariableResolver::with_env(&m, |k| {
        (k == "SPIN_VARIABLE_DAPR_HOST").then(|| "bad host/x/y".to_string())
    });
    resolver.set_fallback("jwt_secret", "dev");
    let err = format!(
        "{:#}",
        ComponentConfig::from_manifest(&m, "chat-api", &resolver).unwrap_err()
    );
    assert!(
        err.contains("component.chat-api.allowed_outbound_hosts"),
        "{err}"
    );
}
