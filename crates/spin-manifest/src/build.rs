//! Building components: `[component.<id>.build]` `command`, run in its `workdir` when the
//! component's `source` is missing or older than a file its `watch` globs match.
//!
//! The one copy of these helpers, used by `todo-dev build`/`todo-dev up`, by the test crate's
//! build script (`tests/build.rs`, which runs every component's cargo build as a nested cargo) and by
//! the test harness (a component of another manifest, built on demand).
//!
//! A build started from inside another cargo (`cargo run`, `cargo test`, a build script) must
//! not inherit that cargo's settings: see [`is_outer_build_env`].

use crate::{Component, Manifest};
use anyhow::{Context as _, bail};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

/// The target our components are built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// One component [`build_stale`] built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub id: String,
    /// Why it was stale (`target/.../x.wasm is missing`, `src/lib.rs changed`).
    pub reason: String,
    pub duration: Duration,
}

/// Build every selected component whose source is stale; error if a source is still missing.
/// Progress goes to stderr, prefixed with `who` (`todo-dev: building chat-api …`).
pub fn build_stale(
    manifest: &Manifest,
    selected: &[String],
    who: &str,
) -> anyhow::Result<Vec<Built>> {
    let mut built = Vec::new();
    let mut checked_target = false;
    for id in selected {
        let component = manifest
            .components
            .get(id)
            .with_context(|| format!("no component {id:?} in the manifest"))?;
        let source = manifest.source_path(component);
        let Some(reason) = stale_reason(manifest, component)? else {
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
        let workdir = workdir(manifest, component);
        if !checked_target && build.command.contains(WASM_TARGET) {
            ensure_wasm_target(&workdir)?;
            checked_target = true;
        }
        eprintln!("{who}: building {id} ({reason})… `{}`", build.command);
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
        let duration = started.elapsed();
        eprintln!(
            "{who}: building {id}… done in {:.1}s",
            duration.as_secs_f64()
        );
        if !source.exists() {
            bail!(
                "component {id}: the build succeeded but {} was not written (check `source`)",
                source.display()
            );
        }
        built.push(Built {
            id: id.clone(),
            reason,
            duration,
        });
    }
    Ok(built)
}

/// Where a component's build command runs: its `workdir` (relative to the manifest's
/// directory), else the manifest's directory.
pub fn workdir(manifest: &Manifest, component: &Component) -> PathBuf {
    match component.build.as_ref().and_then(|b| b.workdir.as_ref()) {
        Some(dir) => manifest.dir.join(dir),
        None => manifest.dir.clone(),
    }
}

/// The files a component's `watch` globs match now (relative patterns start at its
/// [`workdir`]), in pattern order, each once. Files created later are not in the list.
pub fn watched_files(manifest: &Manifest, component: &Component) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let Some(build) = &component.build else {
        return Ok(files);
    };
    let workdir = workdir(manifest, component);
    for pattern in &build.watch {
        let full = workdir.join(pattern);
        let paths = glob::glob(&full.to_string_lossy()).with_context(|| {
            format!(
                "component.{}.build.watch: invalid pattern {pattern:?}",
                component.id
            )
        })?;
        for path in paths.flatten() {
            if path.is_file() && !files.contains(&path) {
                files.push(path);
            }
        }
    }
    Ok(files)
}

/// Why the component must be built, or `None` when its source is up to date: the source is
/// missing, or a file its `watch` globs match is newer than it.
pub fn stale_reason(manifest: &Manifest, component: &Component) -> anyhow::Result<Option<String>> {
    let source = manifest.source_path(component);
    let built = match std::fs::metadata(&source).and_then(|m| m.modified()) {
        Ok(t) => t,
        Err(_) => {
            return Ok(Some(format!(
                "{} is missing",
                display_rel(manifest, &source)
            )));
        }
    };
    for path in watched_files(manifest, component)? {
        let modified = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        if modified > built {
            return Ok(Some(format!("{} changed", display_rel(manifest, &path))));
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

/// A build command run by the platform shell (`sh -c`, `cmd /C`), without the outer cargo's
/// environment ([`remove_outer_build_env`]). The caller sets the working directory.
pub fn shell(command: &str) -> Command {
    let mut cmd = if cfg!(windows) {
        let mut c = Command::new("cmd");
        c.args(["/C", command]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", command]);
        c
    };
    remove_outer_build_env(&mut cmd);
    cmd
}

/// Remove from `cmd`'s environment every variable [`is_outer_build_env`] names.
pub fn remove_outer_build_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if let Some(key) = key.to_str()
            && is_outer_build_env(key)
        {
            cmd.env_remove(key);
        }
    }
}

/// Environment that a surrounding cargo sets (for `cargo run`/`cargo test` processes or for
/// build scripts), or that a user set for the native build, and that would leak into or
/// redirect a nested build. The build commands name their own target and target dir.
///
/// - where and for what to build: `CARGO_TARGET_DIR`, `CARGO_BUILD_TARGET`,
///   `CARGO_BUILD_TARGET_DIR`, and the build-script facts `TARGET`, `HOST`, `OUT_DIR`,
///   `OPT_LEVEL`, `PROFILE`, `DEBUG`, `NUM_JOBS`, `RUSTC_LINKER`, `CARGO_CFG_*`,
///   `CARGO_FEATURE_*`;
/// - compiler flags and wrappers meant for the native build: `RUSTFLAGS`,
///   `CARGO_ENCODED_RUSTFLAGS`, `CARGO_BUILD_RUSTFLAGS`, `RUSTDOCFLAGS`,
///   `CARGO_ENCODED_RUSTDOCFLAGS`, `RUSTC_WRAPPER`, `RUSTC_WORKSPACE_WRAPPER` (clippy-driver
///   under `cargo clippy`);
/// - the outer jobserver (`CARGO_MAKEFLAGS`, `MAKEFLAGS`, `MFLAGS`): a nested cargo that joined
///   it could wait on tokens the outer build holds; callers cap the nested build's jobs instead
///   (`tests/build.rs` passes `-j $NUM_JOBS`);
/// - facts about the outer package: `CARGO_PKG_*`, `CARGO_MANIFEST_*`, `CARGO_PRIMARY_PACKAGE`,
///   `CARGO_CRATE_NAME`, `CARGO_BIN_NAME`, `CARGO_BIN_EXE_*`, `CARGO_RUSTC_CURRENT_DIR`.
///
/// The list is the union of what `todo-dev` (run by `cargo run`) and `tests/build.rs` (a build
/// script) used to remove each on their own. Generic names like `HOST`, `DEBUG` and `PROFILE`
/// are removed even when a user set them: a build command that needs one must set it itself.
pub fn is_outer_build_env(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTDOCFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_RUSTC_CURRENT_DIR",
        "TARGET",
        "HOST",
        "OUT_DIR",
        "OPT_LEVEL",
        "PROFILE",
        "DEBUG",
        "NUM_JOBS",
        "RUSTC_LINKER",
    ];
    const PREFIXES: &[&str] = &[
        "CARGO_CFG_",
        "CARGO_FEATURE_",
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_BIN_EXE_",
    ];
    EXACT.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p))
}

/// rust-toolchain.toml lists wasm32-wasip2, but rustup does not always install a missing target
/// (e.g. with `RUSTUP_AUTO_INSTALL=0`, or when the toolchain was already installed): add it when
/// the sysroot of the toolchain that builds in `workdir` lacks it. `$RUSTC` (set for build
/// scripts) is that compiler when set, and `$RUSTUP_TOOLCHAIN` names the toolchain to add the
/// target to. Without rustc on PATH this does nothing: the build command will say so.
pub fn ensure_wasm_target(workdir: &Path) -> anyhow::Result<()> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .current_dir(workdir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(sysroot) = sysroot else {
        return Ok(());
    };
    if sysroot.join("lib/rustlib").join(WASM_TARGET).is_dir() {
        return Ok(());
    }
    eprintln!("adding the {WASM_TARGET} target (rustup target add {WASM_TARGET})…");
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", WASM_TARGET])
        .current_dir(workdir);
    if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
        cmd.args(["--toolchain", &toolchain]);
    }
    match cmd.output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => bail!(
            "the {WASM_TARGET} target is missing and `rustup target add {WASM_TARGET}` failed ({}):\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => bail!(
            "the {WASM_TARGET} target is missing from {} and rustup could not be run ({e}); \
             install it with `rustup target add {WASM_TARGET}`",
            sysroot.display()
        ),
    }
}

/// A build command of the form `cargo build [options] -p <package>...`: plain words, no shell
/// syntax. (Two such commands are not merged into one invocation: cargo would unify the features
/// of their packages, and so build other artifacts than each command builds alone.)
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CargoBuild {
    /// The words after `cargo build`, without the package selection.
    pub options: Vec<String>,
    /// `-p`/`--package` values, in order.
    pub packages: Vec<String>,
}

impl CargoBuild {
    /// `None` unless `command` is `cargo build ...` selecting at least one package with
    /// `-p <pkg>`, `--package <pkg>` or `--package=<pkg>`, without quotes, variables,
    /// redirections or other shell syntax.
    pub fn parse(command: &str) -> Option<CargoBuild> {
        const SHELL: &[char] = &[
            '"', '\'', '`', '$', '\\', ';', '&', '|', '<', '>', '(', ')', '*', '?', '~', '#',
        ];
        if command.contains(SHELL) {
            return None;
        }
        let mut words = command.split_whitespace();
        if words.next() != Some("cargo") || words.next() != Some("build") {
            return None;
        }
        let mut build = CargoBuild {
            options: Vec::new(),
            packages: Vec::new(),
        };
        while let Some(word) = words.next() {
            if word == "-p" || word == "--package" {
                build.packages.push(words.next()?.to_string());
            } else if let Some(package) = word.strip_prefix("--package=") {
                build.packages.push(package.to_string());
            } else {
                build.options.push(word.to_string());
            }
        }
        (!build.packages.is_empty()).then_some(build)
    }

    /// The value of option `name` (`--target-dir x` or `--target-dir=x`).
    pub fn option(&self, name: &str) -> Option<&str> {
        let mut words = self.options.iter();
        while let Some(word) = words.next() {
            if word == name {
                return words.next().map(String::as_str);
            }
            if let Some(value) = word.strip_prefix(name).and_then(|v| v.strip_prefix('=')) {
                return Some(value);
            }
        }
        None
    }

    /// The `.wasm` cargo writes for `package` (a cdylib named after it), built in `workdir`:
    /// `<target-dir>/<target>/<profile>/<package with '-' as '_'>.wasm`. `None` without a
    /// `--target` (the native artifact is no component).
    pub fn wasm_artifact(&self, workdir: &Path, package: &str) -> Option<PathBuf> {
        let target = self.option("--target")?;
        let target_dir = self.option("--target-dir").unwrap_or("target");
        let release = self.options.iter().any(|o| o == "--release" || o == "-r");
        let profile = match self.option("--profile") {
            Some("dev") => "debug",
            Some(profile) => profile,
            None if release => "release",
            None => "debug",
        };
        Some(
            workdir
                .join(target_dir)
                .join(target)
                .join(profile)
                .join(format!("{}.wasm", package.replace('-', "_"))),
        )
    }

    /// `cargo build <options> -p <package>...` run by the program `cargo` (e.g. `$CARGO`, the
    /// outer build's own cargo), without the outer cargo's environment.
    pub fn command(&self, cargo: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(cargo);
        cmd.arg("build").args(&self.options);
        for package in &self.packages {
            cmd.args(["-p", package]);
        }
        remove_outer_build_env(&mut cmd);
        cmd
    }
}

#[cfg(test)]
mod tests;
