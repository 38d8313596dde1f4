//! `dapr/dapr.yaml` (the `dapr run -f` file `todo-dev sidecar` reads too) runs every component of
//! `spin.toml` as SpinKube does: one app-id per component, its own ports, `spin up` of only that
//! component, and a `dapr_url` that is its own sidecar and that spin.toml lets it call.

use spin_host::{AllowedHosts, ComponentConfig, Manifest, VariableResolver};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use todo_dev::run_file::{DAPR_URL_ENV, RunFile, option_values};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn repo_files() -> (Manifest, RunFile) {
    let manifest = Manifest::load(&workspace().join("spin.toml")).unwrap();
    let run = RunFile::load(&workspace().join("dapr/dapr.yaml")).unwrap();
    (manifest, run)
}

#[test]
fn every_component_is_an_app_with_its_own_ports_and_command() {
    let (manifest, run) = repo_files();
    assert_eq!(run.problems(&manifest), Vec::<String>::new());

    // The same, spelled out, so that a change to `problems` cannot hide a gap.
    let components = manifest.component_ids();
    let apps: Vec<String> = run.apps.iter().map(|a| a.app_id.clone()).collect();
    assert_eq!(
        apps.iter().cloned().collect::<BTreeSet<_>>(),
        components.iter().cloned().collect::<BTreeSet<_>>(),
        "dapr/dapr.yaml apps vs spin.toml components"
    );
    assert_eq!(apps.len(), components.len(), "an app is listed twice");
    let mut ports = BTreeSet::new();
    for app in &run.apps {
        let id = app.app_id.as_str();
        for port in [app.app_port, app.dapr_http_port] {
            let port =
                port.unwrap_or_else(|| panic!("{id}: appPort and daprHTTPPort are required"));
            assert!(ports.insert(port), "{id}: port {port} is used twice");
        }
        assert_eq!(&app.command[..2], ["spin", "up"], "{id}");
        assert_eq!(option_values(&app.command, &["--component-id"]), [id]);
        assert_eq!(
            option_values(&app.command, &["--listen"]),
            [format!("127.0.0.1:{}", app.app_port.unwrap())]
        );
        assert_eq!(
            run.env_of(app).get(DAPR_URL_ENV),
            Some(&format!("http://127.0.0.1:{}", app.dapr_http_port.unwrap())),
            "{id}"
        );
    }
    // chat-api keeps the default Dapr port (the one a pod's sidecar has).
    assert_eq!(run.app("chat-api").unwrap().dapr_http_port, Some(3500));
}

#[test]
fn each_component_may_call_its_own_sidecar_and_no_other() {
    let (manifest, run) = repo_files();
    for app in &run.apps {
        let env = run.env_of(app);
        let mut resolver = VariableResolver::with_env(&manifest, |key| env.get(key).cloned());
        resolver.set_fallback("jwt_secret", "unused");
        let config = ComponentConfig::from_manifest(&manifest, &app.app_id, &resolver).unwrap();
        let allowed = AllowedHosts::parse(&config.allowed_outbound_hosts).unwrap();
        let own = format!("{}/v1.0/healthz", env[DAPR_URL_ENV]);
        // A component that uses Dapr reads `dapr_url`; one that does not (the page) calls none.
        let uses_dapr = config.variables.contains_key("dapr_url");
        assert_eq!(
            allowed.allows_uri(&own.parse().unwrap()),
            uses_dapr,
            "{}: {own} vs {:?}",
            app.app_id,
            config.allowed_outbound_hosts
        );
        if uses_dapr {
            assert_eq!(config.variables["dapr_url"], env[DAPR_URL_ENV]);
        }
        for other in run.apps.iter().filter(|o| o.app_id != app.app_id) {
            let port = other.dapr_http_port.unwrap();
            if port == 3500 && uses_dapr {
                continue; // the pod's sidecar port, allowed to every component
            }
            let theirs: http::Uri = format!("http://127.0.0.1:{port}/v1.0/healthz")
                .parse()
                .unwrap();
            assert!(
                !allowed.allows_uri(&theirs),
                "{} may call {}'s sidecar",
                app.app_id,
                other.app_id
            );
        }
    }
}

#[test]
fn the_readmes_port_table_is_the_run_files() {
    let (_, run) = repo_files();
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    for app in &run.apps {
        let row = format!(
            "| {} | 127.0.0.1:{} | {} |",
            app.app_id,
            app.app_port.unwrap(),
            app.dapr_http_port.unwrap()
        );
        assert!(readme.contains(&row), "README.md has no row {row:?}");
    }
}
