//! Proves the claim that adding a component takes its folder and its spin.toml entry, nothing
//! else: a copy of spin.toml with one extra component — a tiny spin-sdk crate written to a temp
//! dir, known to nothing but that copy — is built by the harness from that manifest (the
//! `[component.throwaway.build]` command, run by the same build code as `todo-dev build`),
//! compiled, loaded and served.
//!
//! The throwaway crate is its own workspace (so the workspace around `target/` does not claim
//! it) and builds into `target/wasm` with the workspace's release profile and a copy of its
//! Cargo.lock (the same versions, no registry lookup). Cargo reuses an artifact only when its
//! features match too, and chat-api's larger graph turns on other features of spin-sdk's
//! dependencies (syn, semver, futures, ...): the first run compiles spin-sdk and its
//! dependencies once (about 45 s on 2 cores); they stay in `target/wasm`, and later runs compile
//! and link the crate only (about 2 s).

use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

const ID: &str = "throwaway";

const LIB_RS: &str = r###"//! A throwaway Spin component, written by tests/tests/throwaway_component.rs.
use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(_request: Request) -> impl IntoResponse {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(r#"{"hello":"throwaway"}"#)
        .build()
}
"###;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The workspace's `[profile.release]` table, verbatim: same settings, reusable artifacts.
fn release_profile(cargo_toml: &str) -> &str {
    let start = cargo_toml
        .find("[profile.release]")
        .expect("Cargo.toml has a [profile.release]");
    let rest = &cargo_toml[start..];
    let end = rest[1..].find("\n[").map_or(rest.len(), |i| i + 1);
    rest[..end].trim_end()
}

/// Writes the throwaway crate to `dir/throwaway` and `dir/spin.toml` (the workspace's spin.toml
/// plus the throwaway's entry); returns the manifest's path.
fn write_app(dir: &Path, target_dir: &Path) -> PathBuf {
    let ws = workspace();
    let crate_dir = dir.join("throwaway");
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    let root_cargo_toml = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let cargo_toml = format!(
        r#"[package]
name = "throwaway-component"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
spin-sdk = {{ version = "=5.2.0", default-features = false }}

# Its own workspace: not a member of the one around target/.
[workspace]

{}
"#,
        release_profile(&root_cargo_toml)
    );
    std::fs::write(crate_dir.join("Cargo.toml"), cargo_toml).unwrap();
    std::fs::write(crate_dir.join("src/lib.rs"), LIB_RS).unwrap();
    // The workspace's versions of spin-sdk and its dependencies (and no registry lookup).
    std::fs::copy(ws.join("Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();

    let spin_toml = std::fs::read_to_string(ws.join("spin.toml")).unwrap();
    let wasm = target_dir.join("wasm32-wasip2/release/throwaway_component.wasm");
    let entry = format!(
        r#"
# Added by tests/tests/throwaway_component.rs, in this copy only.
[[trigger.http]]
route = "/throwaway/..."
component = "{ID}"

[component.{ID}]
source = "{wasm}"
allowed_outbound_hosts = []

[component.{ID}.build]
command = "cargo build --target wasm32-wasip2 --release --target-dir '{target_dir}'"
workdir = "throwaway"
watch = ["src/**/*.rs", "Cargo.toml"]
"#,
        wasm = wasm.display(),
        target_dir = target_dir.display(),
    );
    let manifest = dir.join("spin.toml");
    std::fs::write(&manifest, spin_toml + &entry).unwrap();
    manifest
}

#[tokio::test]
async fn a_component_added_only_to_a_spin_toml_copy_is_built_loaded_and_served() {
    let started = Instant::now();
    let since = SystemTime::now();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("throwaway-component-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let target_dir = workspace().join("target").join("wasm");
    let manifest_path = write_app(&dir, &target_dir);

    let app = todo_tests::App::load(&manifest_path).unwrap_or_else(|e| panic!("{e:#}"));
    let everything = app.manifest().component_ids();
    assert!(everything.contains(&ID.to_string()), "{everything:?}");
    let router = app.manifest().router(&everything);
    assert_eq!(router.route("/throwaway/hello").unwrap().component, ID);
    assert_eq!(router.route("/api/tasks").unwrap().component, "chat-api");

    let building = Instant::now();
    let built = app.build(&[ID]).unwrap_or_else(|e| panic!("{e:#}"));
    let build_time = building.elapsed();
    assert_eq!(built.len(), 1, "{built:?}");
    assert_eq!(built[0].id, ID);
    let wasm = app.manifest().source_path(&app.manifest().components[ID]);
    let written = std::fs::metadata(&wasm).unwrap().modified().unwrap();
    assert!(written >= since, "{} was not rebuilt", wasm.display());

    let compiling = Instant::now();
    let component = app.component(ID);
    let compile_time = compiling.elapsed();
    let request = http::Request::get("/throwaway/hello")
        .body(Bytes::new())
        .unwrap();
    let response = component.send(request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.body().as_ref(), br#"{"hello":"throwaway"}"#);

    eprintln!(
        "throwaway component: build {build_time:.1?} ({}), compile + load {compile_time:.1?}, whole test {:.1?}",
        built[0].reason,
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
