//! Runs `[component.<id>.build] command` when a component's `source` is missing or older than
//! any file its `watch` globs match.

use crate::BuildArgs;
use anyhow::{Context as _, bail};
use spin_host::manifest::{Component, Manifest};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

const WASM_TARGET: &str = "wasm32-wasip2";

pub fn build_command(args: &BuildArgs) -> anyhow::Result<()> {
    let manifest = Manifest::load(&args.common.manifest)?;
    let selected = manifest.select_components(&args.component_ids)?;
    build_stale(&manifest, &selected)
}

/// Build every selected component whose source is stale; error if a source is still missing.
pub fn build_stale(manifest: &Manifest, selected: &[String]) -> anyhow::Result<()> {
    let mut checked_target = false;
    for id in selected {
        let component = &manifest.components[id];
        let source = manifest.source_path(component);
        let Some(reason) = stale_reason(manifest, component, &source)? else {
            continue;
        };
        let Some(build) = &component.build else {
            if !source.exists() {
                bail!(
                    "component {id}: {} does not exist and [component.{id}.build] has no command",
                    source.display()
                );
            }
            continue;
        };
        let workdir = build_workdir(manifest, component);
        if !checked_target && build.command.contains(WASM_TARGET) {
            ensure_wasm_target(&workdir)?;
            checked_target = true;
        }
        eprintln!("todo-dev: building {id} ({reason})… `{}`", build.command);
        let started = Instant::now();
        let status = shell(&build.command)
            .current_dir(&workdir)
            .status()
            .with_context(|| format!("component {id}: cannot run `{}`", build.command))?;
        if !status.success() {
            bail!(
                "component {id}: build command `{}` failed ({status}) in {}",
                build.command,
                workdir.display()
            );
        }
        eprintln!(
            "todo-dev: building {id}… done in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        if !source.exists() {
            bail!(
                "component {id}: the build succeeded but {} was not written (check `source`)",
                source.display()
            );
        }
    }
    Ok(())
}

fn build_workdir(manifest: &Manifest, component: &Component) -> PathBuf {
    match component.build.as_ref().and_then(|b| b.workdir.as_ref()) {
        Some(dir) => manifest.dir.join(dir),
        None => manifest.dir.clone(),
    }
}

/// Why the component must be built, or `None` when its source is up to date.
fn stale_reason(
    manifest: &Manifest,
    component: &Component,
    source: &Path,
) -> anyhow::Result<Option<String>> {
    let built = match std::fs::metadata(source).and_then(|m| m.modified()) {
        Ok(t) => t,
        Err(_) => {
            return Ok(Some(format!(
                "{} is missing",
                display_rel(manifest, source)
            )));
        }
    };
    let Some(build) = &component.build else {
        return Ok(None);
    };
    let workdir = build_workdir(manifest, component);
    for pattern in &build.watch {
        let full = workdir.join(pattern);
        let full = full.to_string_lossy();
        let paths = glob::glob(&full).with_context(|| {
            format!(
                "component.{}.build.watch: invalid pattern {pattern:?}",
                component.id
            )
        })?;
        for path in paths.flatten() {
            let modified = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            if modified > built {
                return Ok(Some(format!("{} changed", display_rel(manifest, &path))));
            }
        }
    }
    Ok(None)
}

fn display_rel(manifest: &Manifest, path: &Path) -> String {
    path.strip_prefix(&manifest.dir)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn shell(command: &str) -> Command {
    let mut cmd = if cfg!(windows) {
        let mut c = Command::new("cmd");
        c.args(["/C", command]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", command]);
        c
    };
    // When run by `cargo run`/`cargo test`, don't let the outer cargo's settings redirect the
    // nested build (the build command names its own target and target dir).
    for (key, _) in std::env::vars_os() {
        if let Some(key) = key.to_str()
            && is_outer_build_env(key)
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn is_outer_build_env(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
    ];
    const PREFIXES: &[&str] = &["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_EXE_"];
    EXACT.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p))
}

/// rust-toolchain.toml lists wasm32-wasip2, but rustup does not always install a missing target
/// (e.g. with RUSTUP_AUTO_INSTALL=0): add it when rustup exists and the sysroot lacks it.
fn ensure_wasm_target(workdir: &Path) -> anyhow::Result<()> {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(workdir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(sysroot) = sysroot else {
        return Ok(()); // no rustc on PATH: let the build command report it
    };
    if sysroot.join("lib/rustlib").join(WASM_TARGET).is_dir() {
        return Ok(());
    }
    eprintln!("todo-dev: adding the {WASM_TARGET} target (rustup target add {WASM_TARGET})…");
    match Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .current_dir(workdir)
        .status()
    {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => bail!("`rustup target add {WASM_TARGET}` failed ({s})"),
        Err(e) => bail!(
            "the {WASM_TARGET} target is missing from {} and rustup could not be run ({e}); install the target",
            sysroot.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn manifest_in(dir: &Path, watch: &str, command: &str) -> Manifest {
        let text = format!(
            r#"
spin_manifest_version = 2
[application]
name = "t"
[[trigger.http]]
route = "/..."
component = "c"
[component.c]
source = "out/c.wasm"
[component.c.build]
command = "{command}"
watch = ["{watch}"]
"#
        );
        Manifest::parse(&text, dir).unwrap()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("todo-dev-builder-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src/sub")).unwrap();
        dir
    }

    #[test]
    fn missing_source_is_stale_and_the_command_builds_it() {
        let dir = temp_dir("missing");
        let m = manifest_in(
            &dir,
            "src/**/*.rs",
            "mkdir -p out && echo wasm > out/c.wasm",
        );
        let c = &m.components["c"];
        let reason = stale_reason(&m, c, &m.source_path(c)).unwrap().unwrap();
        assert!(reason.contains("out/c.wasm is missing"), "{reason}");
        build_stale(&m, &["c".into()]).unwrap();
        assert!(dir.join("out/c.wasm").exists());
        assert_eq!(stale_reason(&m, c, &m.source_path(c)).unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_newer_watched_file_makes_it_stale() {
        let dir = temp_dir("newer");
        std::fs::create_dir_all(dir.join("out")).unwrap();
        std::fs::write(dir.join("out/c.wasm"), "old").unwrap();
        let m = manifest_in(&dir, "src/**/*.rs", "true");
        let c = &m.components["c"];
        assert_eq!(stale_reason(&m, c, &m.source_path(c)).unwrap(), None);
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(dir.join("src/sub/lib.rs"), "// new").unwrap();
        let reason = stale_reason(&m, c, &m.source_path(c)).unwrap().unwrap();
        assert!(reason.contains("src/sub/lib.rs changed"), "{reason}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failing_build_command_is_an_error() {
        let dir = temp_dir("fails");
        let m = manifest_in(&dir, "src/*.rs", "exit 3");
        let err = format!("{:#}", build_stale(&m, &["c".into()]).unwrap_err());
        assert!(
            err.contains("component c: build command `exit 3` failed"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
