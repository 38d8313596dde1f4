use super::*;

const MINIMAL: &str = r#"
spin_manifest_version = 2

[application]
name = "app"
version = "0.1.0"

[variables]
dapr_url = { default = "http://127.0.0.1:3500" }
dapr_host = { default = "127.0.0.1:3500" }
jwt_secret = { required = true, secret = true }
app_api_token = { default = "", secret = true }

[[trigger.http]]
route = "/api/..."
component = "chat-api"

[[trigger.http]]
route = "/api/healthz"
component = "health"

[[trigger.http]]
route = "/..."
component = "web"

[[trigger.http]]
route = "/api/admin/..."
component = "admin"

[component.chat-api]
source = "target/chat_api.wasm"
allowed_outbound_hosts = ["http://{{ dapr_host }}", "http://localhost:3500"]
environment = { RUST_LOG = "info" }

[component.chat-api.variables]
dapr_url = "{{ dapr_url }}"
jwt_secret = "{{jwt_secret}}"
greeting = "hello {{ dapr_host }}!"

[component.chat-api.build]
command = "cargo build -p chat-api"
watch = ["src/**/*.rs"]

[component.health]
source = "health.wasm"

[component.web]
source = "/abs/web.wasm"

[component.admin]
source = "admin.wasm"
"#;

fn manifest() -> Manifest {
    Manifest::parse(MINIMAL, Path::new("/app")).unwrap()
}

fn parse_err(text: &str) -> String {
    format!(
        "{:#}",
        Manifest::parse(text, Path::new("/app")).unwrap_err()
    )
}

/// MINIMAL with `from` replaced by `to` (which must occur).
fn variant(from: &str, to: &str) -> String {
    assert!(MINIMAL.contains(from), "{from}");
    MINIMAL.replacen(from, to, 1)
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn parses_application_variables_triggers_components() {
    let m = manifest();
    assert_eq!(m.application.name, "app");
    assert_eq!(m.application.version.as_deref(), Some("0.1.0"));
    assert_eq!(m.variables.len(), 4);
    assert!(m.variables["jwt_secret"].required && m.variables["jwt_secret"].secret);
    assert_eq!(m.triggers.len(), 4);
    assert_eq!(m.triggers[0].route, Route::Wildcard("/api".into()));
    assert_eq!(m.triggers[1].route, Route::Exact("/api/healthz".into()));
    assert_eq!(m.triggers[2].route, Route::Wildcard("".into()));
    let chat = &m.components["chat-api"];
    assert_eq!(chat.environment["RUST_LOG"], "info");
    let build = chat.build.as_ref().unwrap();
    assert_eq!(build.command, "cargo build -p chat-api");
    assert_eq!(build.watch, vec!["src/**/*.rs".to_string()]);
    assert_eq!(
        m.source_path(chat),
        PathBuf::from("/app/target/chat_api.wasm")
    );
    assert_eq!(
        m.source_path(&m.components["web"]),
        PathBuf::from("/abs/web.wasm")
    );
}

#[test]
fn the_repository_manifest_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml");
    let m = Manifest::load(&path).unwrap();
    assert!(m.components.contains_key("chat-api"));
    let router = m.router(&m.component_ids());
    assert_eq!(router.route("/api/tasks").unwrap().component, "chat-api");
    assert_eq!(router.route("/job/reminder").unwrap().route, "/job/...");
    // The page's catch-all answers it (404, as any unknown file).
    assert_eq!(router.route("/dapr/subscribe").unwrap().component, "web");
}

#[test]
fn exact_route_beats_wildcard_and_longest_prefix_wins() {
    let m = manifest();
    let router = m.router(&m.component_ids());
    let hit = |p: &str| {
        let m = router.route(p).unwrap();
        (m.component.to_string(), m.route)
    };
    assert_eq!(
        hit("/api/healthz"),
        ("health".into(), "/api/healthz".into())
    );
    assert_eq!(
        hit("/api/healthz/"),
        ("health".into(), "/api/healthz".into())
    );
    assert_eq!(
        hit("/api/healthz/x"),
        ("chat-api".into(), "/api/...".into())
    );
    assert_eq!(
        hit("/api/tasks?x=1"),
        ("chat-api".into(), "/api/...".into())
    );
    assert_eq!(hit("/api"), ("chat-api".into(), "/api/...".into()));
    assert_eq!(hit("/api/admin"), ("admin".into(), "/api/admin/...".into()));
    assert_eq!(
        hit("/api/admin/users"),
        ("admin".into(), "/api/admin/...".into())
    );
    // Segment boundaries: /apix is not under /api.
    assert_eq!(hit("/apix"), ("web".into(), "/...".into()));
    assert_eq!(hit("/"), ("web".into(), "/...".into()));
}

#[test]
fn unmatched_path_has_no_route() {
    let m = manifest();
    let router = m.router(&["chat-api".to_string(), "health".to_string()]);
    assert!(router.route("/other").is_none());
    assert!(router.route("/").is_none());
    assert_eq!(router.route("/api/x").unwrap().component, "chat-api");
}

#[test]
fn paths_are_matched_as_spin_matches_them() {
    // Spin's router (routefinder) ignores leading and trailing slashes of the path, so these
    // reach a component under Spin, which then sees the path as sent.
    let m = manifest();
    let router = m.router(&["chat-api".to_string(), "health".to_string()]);
    let hit = |p: &str| router.route(p).map(|m| (m.component.to_string(), m.route));
    assert_eq!(
        hit("//api/tasks"),
        Some(("chat-api".into(), "/api/...".into()))
    );
    assert_eq!(
        hit("///api/healthz//"),
        Some(("health".into(), "/api/healthz".into()))
    );
    // An inner `//` is kept: not the exact route, but still under the wildcard.
    assert_eq!(
        hit("/api//healthz"),
        Some(("chat-api".into(), "/api/...".into()))
    );
    assert_eq!(hit("//apix"), None);
    assert_eq!(hit("//"), None);
}

#[test]
fn path_info_is_what_spin_captures_after_the_wildcard() {
    let api = Route::parse("/api/...").unwrap();
    for (path, info) in [
        ("/api", Some("")),
        ("/api/", Some("/")),
        ("/api/tasks/1", Some("/tasks/1")),
        ("/api/tasks/1/", Some("/tasks/1/")),
        ("//api/tasks", Some("/tasks")),
        ("/api//tasks", Some("//tasks")),
        ("/apix", None),
        ("/other", None),
    ] {
        assert_eq!(api.path_info(path).as_deref(), info, "{path}");
    }
    let all = Route::parse("/...").unwrap();
    assert_eq!(all.path_info("/").as_deref(), Some("/"));
    assert_eq!(all.path_info("/health").as_deref(), Some("/health"));
    assert_eq!(all.path_info("//a/b").as_deref(), Some("/a/b"));
    let exact = Route::parse("/api/healthz/").unwrap();
    assert_eq!(exact, Route::Exact("/api/healthz".into()));
    assert_eq!(exact.path_info("//api/healthz/").as_deref(), Some(""));
    assert_eq!(exact.path_info("/api/healthz/x"), None);
    assert_eq!(Route::parse("//api/...").unwrap(), api);
}

#[test]
fn router_of_one_component_sees_only_its_routes() {
    let m = manifest();
    let router = m.router(&["chat-api".to_string()]);
    // /api/healthz belongs to another app: chat-api's own wildcard takes it here.
    assert_eq!(router.route("/api/healthz").unwrap().component, "chat-api");
    assert!(router.route("/elsewhere").is_none());
}

#[test]
fn duplicate_routes_are_an_error() {
    let text = variant(
        "route = \"/api/healthz\"\ncomponent = \"health\"",
        "route = \"/api/...\"\ncomponent = \"health\"",
    );
    let err = parse_err(&text);
    assert!(
        err.contains("trigger.http: duplicate route /api/..."),
        "{err}"
    );
    assert!(err.contains("chat-api") && err.contains("health"), "{err}");

    let text = variant("route = \"/api/healthz\"", "route = \"/api/healthz/\"");
    let text = text.replacen("route = \"/api/admin/...\"", "route = \"/api/healthz\"", 1);
    let err = parse_err(&text);
    assert!(err.contains("duplicate route /api/healthz"), "{err}");
}

#[test]
fn invalid_routes_name_the_field() {
    for (route, expect) in [
        ("api/...", "must start with '/'"),
        ("/users/:id", "not supported"),
        ("/a/.../b", "must end with '/...'"),
        ("/a/.../b/...", "'...' may only end a route"),
        ("/a...", "must end with '/...'"),
    ] {
        let err = parse_err(&variant(
            "route = \"/api/healthz\"",
            &format!("route = \"{route}\""),
        ));
        assert!(err.contains("trigger.http[1].route"), "{err}");
        assert!(err.contains(expect), "{route}: {err}");
    }
}

#[test]
fn trigger_for_unknown_component_is_an_error() {
    let err = parse_err(&variant("component = \"health\"", "component = \"nope\""));
    assert!(
        err.contains("trigger.http[1].component: no [component.nope]"),
        "{err}"
    );
}

#[test]
fn invalid_component_fields_name_the_field() {
    let cases = [
        (
            "source = \"target/chat_api.wasm\"",
            "source = 3",
            "component.chat-api.source: expected a path to a .wasm file, found integer 3",
        ),
        (
            "source = \"target/chat_api.wasm\"",
            "source = { url = \"https://x\", digest = \"sha256:0\" }",
            "component.chat-api.source: remote sources",
        ),
        (
            "source = \"target/chat_api.wasm\"",
            "description = \"x\"",
            "component.chat-api.source: missing",
        ),
        (
            "allowed_outbound_hosts = [\"http://{{ dapr_host }}\", \"http://localhost:3500\"]",
            "allowed_outbound_hosts = \"http://x\"",
            "component.chat-api.allowed_outbound_hosts: expected an array of strings",
        ),
        (
            "allowed_outbound_hosts = [\"http://{{ dapr_host }}\", \"http://localhost:3500\"]",
            "allowed_outbound_hosts = [\"http://x\", 5]",
            "component.chat-api.allowed_outbound_hosts[1]: expected a string",
        ),
        (
            "environment = { RUST_LOG = \"info\" }",
            "environment = { RUST_LOG = 1 }",
            "component.chat-api.environment.RUST_LOG: expected a string",
        ),
        (
            "environment = { RUST_LOG = \"info\" }",
            "allowed_http_hosts = [\"x\"]",
            "component.chat-api.allowed_http_hosts: not supported",
        ),
        (
            "environment = { RUST_LOG = \"info\" }",
            "enviroment = {}",
            "component.chat-api.enviroment: unknown field",
        ),
        (
            "greeting = \"hello {{ dapr_host }}!\"",
            "Greeting = \"x\"",
            "component.chat-api.variables.Greeting: invalid variable name",
        ),
        (
            "command = \"cargo build -p chat-api\"",
            "command = [\"cargo\"]",
            "component.chat-api.build.command: expected a string",
        ),
        (
            "[component.health]",
            "[component.Health]",
            "component.Health: component id \"Health\" must start with a lowercase letter",
        ),
        (
            "jwt_secret = { required = true, secret = true }",
            "jwt_secret = { required = true, default = \"x\" }",
            "variables.jwt_secret: a variable cannot be both required and have a default",
        ),
        (
            "jwt_secret = { required = true, secret = true }",
            "jwt_secret = { secret = true }",
            "variables.jwt_secret: a variable needs a default or `required = true`",
        ),
        (
            "jwt_secret = { required = true, secret = true }",
            "jwt_secret = { required = \"yes\" }",
            "variables.jwt_secret.required: expected true or false",
        ),
        (
            "jwt_secret = { required = true, secret = true }",
            "jwt_secret = \"x\"",
            "variables.jwt_secret: expected a table",
        ),
        (
            "jwt_secret = { required = true, secret = true }",
            "jwt_secret = { required = true, sekret = true }",
            "variables.jwt_secret.sekret: unknown field",
        ),
        (
            "spin_manifest_version = 2",
            "spin_manifest_version = 1",
            "spin_manifest_version: expected 2, found integer 1",
        ),
        (
            "[application]\nname = \"app\"",
            "[application]\nversion2 = \"app\"",
            "application.name: missing",
        ),
    ];
    for (from, to, expect) in cases {
        let err = parse_err(&variant(from, to));
        assert!(
            err.contains(expect),
            "{to}:\n  got: {err}\n  want: {expect}"
        );
    }
}

#[test]
fn invalid_toml_is_an_error_not_a_panic() {
    let err = parse_err("spin_manifest_version = \n[");
    assert!(!err.is_empty());
    let err = parse_err("spin_manifest_version = 2\n");
    assert!(err.contains("application: missing"), "{err}");
    let err =
        parse_err("spin_manifest_version = 2\n[application]\nname=\"a\"\n[trigger]\nhttp = 1\n");
    assert!(
        err.contains("trigger.http: expected an array of tables"),
        "{err}"
    );
}

#[test]
fn variables_come_from_env_then_default_and_required_must_have_a_value() {
    let m = manifest();
    let env = |key: &str| match key {
        "SPIN_VARIABLE_DAPR_URL" => Some("http://localhost:3999".to_string()),
        "SPIN_VARIABLE_JWT_SECRET" => Some("s3cret".to_string()),
        _ => None,
    };
    let resolver = VariableResolver::with_env(&m, env);
    assert_eq!(resolver.get("dapr_url").unwrap(), "http://localhost:3999");
    assert_eq!(resolver.get("dapr_host").unwrap(), "127.0.0.1:3500");
    assert_eq!(resolver.get("jwt_secret").unwrap(), "s3cret");
    assert_eq!(resolver.get("app_api_token").unwrap(), "");

    let resolver = VariableResolver::with_env(&m, no_env);
    let err = format!("{:#}", resolver.get("jwt_secret").unwrap_err());
    assert!(
        err.contains("variables.jwt_secret: required variable has no value"),
        "{err}"
    );
    assert!(err.contains("SPIN_VARIABLE_JWT_SECRET"), "{err}");
    let err = format!("{:#}", resolver.get("undeclared").unwrap_err());
    assert!(
        err.contains("no application variable \"undeclared\""),
        "{err}"
    );
}

#[test]
fn overrides_beat_defaults_env_beats_overrides_fallbacks_fill_required() {
    let m = manifest();
    let mut resolver = VariableResolver::with_env(&m, |key| {
        (key == "SPIN_VARIABLE_DAPR_HOST").then(|| "env-host:1".to_string())
    });
    resolver.set_override("app_api_token", "generated");
    resolver.set_override("dapr_host", "override-host:2");
    resolver.set_fallback("jwt_secret", "dev-secret");
    resolver.set_fallback("dapr_url", "unused");
    assert_eq!(resolver.get("app_api_token").unwrap(), "generated");
    assert_eq!(resolver.get("dapr_host").unwrap(), "env-host:1");
    assert_eq!(resolver.get("jwt_secret").unwrap(), "dev-secret");
    assert_eq!(resolver.get("dapr_url").unwrap(), "http://127.0.0.1:3500");
    assert!(!resolver.has_value_without_fallback("jwt_secret"));
    assert!(resolver.has_value_without_fallback("dapr_url"));
}

#[test]
fn select_components_checks_ids() {
    let m = manifest();
    assert_eq!(m.select_components(&[]).unwrap().len(), 4);
    assert_eq!(
        m.select_components(&["health".into(), "health".into()])
            .unwrap(),
        vec!["health".to_string()]
    );
    let err = m
        .select_components(&["nope".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("no component \"nope\""), "{err}");
}

#[test]
fn variable_names_spin_accepts() {
    for name in [
        "a",
        "abc",
        "a1b2c3",
        "a_1",
        "a_1_b_3",
        "dapr_url",
        "jwt_secret",
    ] {
        assert_eq!(validate_variable_name(name), Ok(()), "{name}");
    }
}

#[test]
fn variable_names_spin_rejects() {
    for name in [
        "", "aX", "1bc", "_x", "x.y", "x_", "a__b", "x-y", "DAPR_URL", "é",
    ] {
        assert!(validate_variable_name(name).is_err(), "{name}");
    }
}
