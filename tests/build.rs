//! Builds the app's Spin components for wasm32-wasip2 so the tests can load them.
//!
//! For each component id in [`COMPONENTS`], spin.toml's `[component.<id>]` table gives the
//! `source` (the .wasm the tests load — the same file `spin up` runs) and the cargo package (the
//! `-p <crate>` of its `[component.<id>.build] command`). All of them are built with ONE nested
//! `cargo build --target wasm32-wasip2 --release --target-dir <workspace>/target/wasm -p ...`
//! (a separate target dir: a nested cargo on the outer target dir would wait on the outer cargo's
//! lock forever). The test crate gets, per component:
//! - `<ID>_WASM` (e.g. `CHAT_API_WASM`): absolute path of the built .wasm;
//! - `<ID>_ALLOWED_OUTBOUND_HOSTS`: its `allowed_outbound_hosts`, joined with `,`.
//!
//! Set `TODO_TESTS_SKIP_WASM_BUILD=1` to skip the nested build (e.g. for an IDE running build
//! scripts); the paths are exported all the same.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Component ids (spin.toml `[component.<id>]`) the tests load. Adding one is one line here.
const COMPONENTS: &[&str] = &["chat-api"];

const WASM_TARGET: &str = "wasm32-wasip2";

/// Inputs of the component builds, relative to the workspace root.
const WATCH: &[&str] = &[
    "components",
    "crates/todo-domain",
    "crates/dapr-client",
    "crates/task-api",
    "Cargo.toml",
    "Cargo.lock",
    "spin.toml",
    "rust-toolchain.toml",
];

struct Component {
    id: String,
    package: String,
    source: PathBuf,
    allowed_outbound_hosts: Vec<String>,
}

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().unwrap().to_path_buf();
    for path in WATCH {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=TODO_TESTS_SKIP_WASM_BUILD");

    let spin_toml = std::fs::read_to_string(workspace.join("spin.toml"))
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", workspace.join("spin.toml").display()));
    let components: Vec<Component> = COMPONENTS
        .iter()
        .map(|id| component_from_manifest(&spin_toml, id, &workspace))
        .collect();

    let target_dir = workspace.join("target").join("wasm");
    for c in &components {
        let expected = target_dir
            .join(WASM_TARGET)
            .join("release")
            .join(format!("{}.wasm", c.package.replace('-', "_")));
        if c.source != expected {
            panic!(
                "spin.toml: component {} has source {} but `cargo build -p {}` into {} writes {}",
                c.id,
                c.source.display(),
                c.package,
                target_dir.display(),
                expected.display()
            );
        }
    }

    let skip = std::env::var("TODO_TESTS_SKIP_WASM_BUILD").is_ok_and(|v| !v.is_empty() && v != "0");
    if !skip {
        ensure_wasm_target();
        build(&workspace, &target_dir, &components);
    }

    for c in &components {
        let var = c.id.to_ascii_uppercase().replace('-', "_");
        println!("cargo:rustc-env={var}_WASM={}", c.source.display());
        println!(
            "cargo:rustc-env={var}_ALLOWED_OUTBOUND_HOSTS={}",
            c.allowed_outbound_hosts.join(",")
        );
    }
}

/// Environment the outer cargo sets for build scripts (or the user set for the host build) that
/// would leak into, or redirect, the nested wasm build.
fn is_outer_build_env(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTDOCFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WORKSPACE_WRAPPER", // clippy-driver under `cargo clippy`
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_CRATE_NAME",
        "CARGO_MAKEFLAGS", // the outer jobserver; see build()
        "MAKEFLAGS",
        "MFLAGS",
        "TARGET",
        "HOST",
        "OUT_DIR",
        "OPT_LEVEL",
        "PROFILE",
        "DEBUG",
        "NUM_JOBS",
        "RUSTC_LINKER",
        "CARGO_RUSTC_CURRENT_DIR",
    ];
    const PREFIXES: &[&str] = &[
        "CARGO_CFG_",
        "CARGO_FEATURE_",
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
    ];
    EXACT.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p))
}

fn cargo() -> Command {
    // The same cargo as the outer build (same toolchain), falling back to the rustup proxy.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    for (key, _) in std::env::vars_os() {
        if let Some(key) = key.to_str()
            && is_outer_build_env(key)
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn build(workspace: &Path, target_dir: &Path, components: &[Component]) {
    let mut cmd = cargo();
    cmd.current_dir(workspace)
        .args([
            "build",
            "--target",
            WASM_TARGET,
            "--release",
            "--target-dir",
        ])
        .arg(target_dir);
    for c in components {
        cmd.args(["-p", &c.package]);
    }
    // The outer jobserver is not passed on (see is_outer_build_env): cap the nested build at the
    // outer build's job count instead so the two together do not swamp the machine.
    if let Ok(jobs) = std::env::var("NUM_JOBS") {
        cmd.args(["-j", &jobs]);
    }
    cmd.env("CARGO_TERM_COLOR", "never");
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("failed to run the nested cargo ({cmd:?}): {e}"));
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        for line in stderr.lines() {
            println!("cargo:warning={line}");
        }
        panic!(
            "building the Spin components for {WASM_TARGET} failed ({}): {cmd:?}\n{stderr}",
            output.status
        );
    }
    for c in components {
        if !c.source.is_file() {
            panic!(
                "the nested cargo succeeded but {} was not written",
                c.source.display()
            );
        }
    }
}

/// rust-toolchain.toml lists wasm32-wasip2, but rustup does not always install missing targets on
/// its own (e.g. with RUSTUP_AUTO_INSTALL=0): add it if this toolchain's sysroot lacks it.
fn ensure_wasm_target() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(sysroot) = sysroot else { return };
    if sysroot.join("lib/rustlib").join(WASM_TARGET).is_dir() {
        return;
    }
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", WASM_TARGET]);
    if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
        cmd.args(["--toolchain", &toolchain]);
    }
    match cmd.output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "the {WASM_TARGET} target is missing and `rustup target add {WASM_TARGET}` failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!(
            "the {WASM_TARGET} target is missing from {} and rustup could not be run ({e}); \
             install it with `rustup target add {WASM_TARGET}`",
            sysroot.display()
        ),
    }
}

/// Read `[component.<id>]` (source, allowed_outbound_hosts) and `[component.<id>.build]`
/// (command's `-p <crate>`) from spin.toml. A deliberately small reader of the one-line
/// `key = value` entries our manifest uses; anything it cannot find is a build error.
fn component_from_manifest(spin_toml: &str, id: &str, workspace: &Path) -> Component {
    let table = format!("[component.{id}]");
    let build_table = format!("[component.{id}.build]");
    let mut current = String::new();
    let (mut source, mut command, mut allowed) = (None, None, None);
    for line in spin_toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            current = line.to_string();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if current == table && key == "source" {
            source = Some(unquote(value));
        } else if current == table && key == "allowed_outbound_hosts" {
            allowed = Some(string_list(value));
        } else if current == build_table && key == "command" {
            command = Some(unquote(value));
        }
    }
    let source =
        source.unwrap_or_else(|| panic!("spin.toml: {table} has no one-line `source = \"...\"`"));
    let command = command
        .unwrap_or_else(|| panic!("spin.toml: {build_table} has no one-line `command = \"...\"`"));
    let words: Vec<&str> = command.split_whitespace().collect();
    let package = words
        .windows(2)
        .find(|w| w[0] == "-p" || w[0] == "--package")
        .map(|w| w[1].to_string())
        .unwrap_or_else(|| {
            panic!("spin.toml: {build_table} command {command:?} has no `-p <crate>`")
        });
    Component {
        id: id.to_string(),
        package,
        source: workspace.join(source),
        allowed_outbound_hosts: allowed.unwrap_or_default(),
    }
}

fn unquote(value: &str) -> String {
    value.trim().trim_matches('"').to_string()
}

fn string_list(value: &str) -> Vec<String> {
    value
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(unquote)
        .filter(|s| !s.is_empty())
        .collect()
}
