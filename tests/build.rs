//! Builds the app's Spin components for wasm32-wasip2 so the tests can load them, and tells the
//! test crate which components there are.
//!
//! spin.toml is read with `spin-manifest`. Every component with a `[component.<id>.build]`
//! command is built by that command, one component after another, as `spin build` and `todo-dev
//! build` do: a `cargo build ... -p <crate>` runs as a nested cargo, any other command as written,
//! through the shell. The cargo builds are not merged into one invocation: cargo unifies the
//! features of the packages it builds together, so a merged build made other `.wasm` files than
//! `spin build` (chat-api 21 KB larger once audit-service's serde_json had `raw_value`). Adding a
//! component is its folder and its spin.toml entry; nothing here names one.
//!
//! Nested-cargo caveats:
//! - the nested build uses its own target dir (`target/wasm`, from the build command): a nested
//!   cargo on the outer target dir would wait on the outer cargo's lock forever;
//! - the outer cargo's environment is removed (`spin_manifest::build::is_outer_build_env`),
//!   including its jobserver (`CARGO_MAKEFLAGS`): instead the nested cargo gets `-j $NUM_JOBS`,
//!   the outer build's job count, so the two together do not swamp the machine;
//! - it is the same cargo as the outer build (`$CARGO`), so the same toolchain.
//!
//! The test crate gets `$OUT_DIR/components.rs` (included by `src/lib.rs`): the manifest's
//! path, the `.cwasm-cache` dir, and per component its id, absolute `.wasm` path,
//! `allowed_outbound_hosts` and routes as written in spin.toml.
//!
//! The build reruns when spin.toml, Cargo.toml, Cargo.lock, rust-toolchain.toml or a file that a
//! component's `watch` globs match changes (a new source file is picked up with the change to
//! an existing file that declares it). Set `TODO_TESTS_SKIP_WASM_BUILD=1` to skip the nested
//! build (e.g. for an IDE running build scripts); the component list is written all the same.

use spin_manifest::Manifest;
use spin_manifest::build::{self, CargoBuild};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().unwrap().to_path_buf();
    let manifest_path = workspace.join("spin.toml");
    for file in [
        "spin.toml",
        "Cargo.toml",
        "Cargo.lock",
        "rust-toolchain.toml",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(file).display());
    }
    println!("cargo:rerun-if-env-changed=TODO_TESTS_SKIP_WASM_BUILD");

    let manifest = Manifest::load(&manifest_path).unwrap_or_else(|e| panic!("{e:#}"));
    for component in manifest.components.values() {
        let files = build::watched_files(&manifest, component).unwrap_or_else(|e| panic!("{e:#}"));
        for file in files {
            println!("cargo:rerun-if-changed={}", file.display());
        }
    }

    let skip = std::env::var("TODO_TESTS_SKIP_WASM_BUILD").is_ok_and(|v| !v.is_empty() && v != "0");
    if !skip {
        build_all(&manifest);
    }

    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("components.rs");
    std::fs::write(&out, generated(&manifest, &manifest_path, &workspace))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}

/// One build: a merged cargo invocation or a command run as written.
enum Step {
    Cargo(CargoBuild),
    Shell(String),
}

/// Build every component that has a build command; panic (failing the test build) on error.
fn build_all(manifest: &Manifest) {
    let mut steps = Vec::new();
    for (id, component) in &manifest.components {
        let Some(b) = &component.build else { continue };
        let workdir = build::workdir(manifest, component);
        let Some(parsed) = CargoBuild::parse(&b.command) else {
            steps.push((workdir, Step::Shell(b.command.clone()), vec![id.clone()]));
            continue;
        };
        // A spin.toml `source` that is not what its build writes would load a stale file.
        let source = manifest.source_path(component);
        if let [package] = parsed.packages.as_slice()
            && let Some(artifact) = parsed.wasm_artifact(&workdir, package)
            && artifact != source
        {
            panic!(
                "spin.toml: component {id} has source {} but its build command `{}` writes {}",
                source.display(),
                b.command,
                artifact.display()
            );
        }
        steps.push((workdir, Step::Cargo(parsed), vec![id.clone()]));
    }

    let mut checked_target = false;
    for (workdir, step, ids) in steps {
        let (mut cmd, text) = match &step {
            Step::Cargo(cargo) => {
                let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
                let mut cmd = cargo.command(program);
                // Cap the nested build at the outer build's job count (see the file's docs).
                if let Ok(jobs) = std::env::var("NUM_JOBS") {
                    cmd.args(["-j", &jobs]);
                }
                let text = format!("cargo build {}", cargo_args(cargo));
                (cmd, text)
            }
            Step::Shell(command) => (build::shell(command), command.clone()),
        };
        if !checked_target && text.contains(build::WASM_TARGET) {
            build::ensure_wasm_target(&workdir).unwrap_or_else(|e| panic!("{e:#}"));
            checked_target = true;
        }
        cmd.current_dir(&workdir).env("CARGO_TERM_COLOR", "never");
        let output = cmd
            .output()
            .unwrap_or_else(|e| panic!("failed to run `{text}` ({cmd:?}): {e}"));
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            for line in stderr.lines() {
                println!("cargo:warning={line}");
            }
            panic!(
                "building component(s) {} failed ({}): `{text}` in {}\n{stderr}",
                ids.join(", "),
                output.status,
                workdir.display()
            );
        }
        for id in &ids {
            let source = manifest.source_path(&manifest.components[id]);
            if !source.is_file() {
                panic!(
                    "component {id}: `{text}` succeeded but {} was not written (check `source`)",
                    source.display()
                );
            }
        }
    }
}

fn cargo_args(cargo: &CargoBuild) -> String {
    let mut words = cargo.options.clone();
    for package in &cargo.packages {
        words.extend(["-p".to_string(), package.clone()]);
    }
    words.join(" ")
}

/// `components.rs`: the data `src/lib.rs` includes (string literals via `{:?}`).
fn generated(manifest: &Manifest, manifest_path: &Path, workspace: &Path) -> String {
    let mut out = String::from("// Generated by tests/build.rs from spin.toml. Do not edit.\n\n");
    let _ = writeln!(
        out,
        "pub const MANIFEST: &str = {:?};",
        path_str(manifest_path)
    );
    let cache = workspace.join("target").join("wasm").join(".cwasm-cache");
    let _ = writeln!(
        out,
        "pub const CWASM_CACHE_DIR: &str = {:?};",
        path_str(&cache)
    );
    out.push_str("pub const COMPONENTS: &[BuiltComponent] = &[\n");
    for (id, component) in &manifest.components {
        let routes: Vec<String> = manifest
            .triggers
            .iter()
            .filter(|t| &t.component == id)
            .map(|t| t.route.as_spin_route())
            .collect();
        let _ = writeln!(
            out,
            "    BuiltComponent {{ id: {id:?}, wasm: {:?}, allowed_outbound_hosts: &{:?}, routes: &{routes:?} }},",
            path_str(&manifest.source_path(component)),
            component.allowed_outbound_hosts,
        );
    }
    out.push_str("];\n");
    out
}

fn path_str(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("{} is not UTF-8", path.display()))
}
