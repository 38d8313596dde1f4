use super::*;
use std::fs::File;

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
        std::env::temp_dir().join(format!("spin-manifest-build-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src/sub")).unwrap();
    dir
}

fn set_mtime(path: &Path, time: SystemTime) {
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
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
    let reason = stale_reason(&m, c).unwrap().unwrap();
    assert!(reason.contains("out/c.wasm is missing"), "{reason}");
    let built = build_stale(&m, &["c".into()], "test").unwrap();
    assert_eq!(built.len(), 1);
    assert_eq!(built[0].id, "c");
    assert_eq!(built[0].reason, reason);
    assert!(dir.join("out/c.wasm").exists());
    assert_eq!(stale_reason(&m, c).unwrap(), None);
    // Up to date now: nothing to build.
    assert_eq!(build_stale(&m, &["c".into()], "test").unwrap(), vec![]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_newer_watched_file_makes_it_stale() {
    let dir = temp_dir("newer");
    std::fs::create_dir_all(dir.join("out")).unwrap();
    let source = dir.join("out/c.wasm");
    std::fs::write(&source, "old").unwrap();
    let built_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    set_mtime(&source, built_at);
    let m = manifest_in(&dir, "src/**/*.rs", "true");
    let c = &m.components["c"];
    assert_eq!(stale_reason(&m, c).unwrap(), None);

    let input = dir.join("src/sub/lib.rs");
    std::fs::write(&input, "// old").unwrap();
    set_mtime(&input, built_at - Duration::from_secs(1));
    assert_eq!(stale_reason(&m, c).unwrap(), None);
    set_mtime(&input, built_at);
    assert_eq!(stale_reason(&m, c).unwrap(), None, "as old as the source");

    set_mtime(&input, built_at + Duration::from_secs(1));
    let reason = stale_reason(&m, c).unwrap().unwrap();
    assert!(reason.contains("src/sub/lib.rs changed"), "{reason}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_build_command_is_an_error() {
    let dir = temp_dir("fails");
    let m = manifest_in(&dir, "src/*.rs", "exit 3");
    let err = format!("{:#}", build_stale(&m, &["c".into()], "test").unwrap_err());
    assert!(
        err.contains("component c: build command `exit 3` failed"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unknown_component_is_an_error() {
    let dir = temp_dir("unknown");
    let m = manifest_in(&dir, "src/*.rs", "true");
    let err = build_stale(&m, &["nope".into()], "test").unwrap_err();
    assert_eq!(err.to_string(), "no component \"nope\" in the manifest");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn watched_files_are_the_glob_matches_once_each() {
    let dir = temp_dir("watched");
    std::fs::write(dir.join("src/a.rs"), "").unwrap();
    std::fs::write(dir.join("src/sub/b.rs"), "").unwrap();
    std::fs::write(dir.join("src/sub/notes.txt"), "").unwrap();
    let text = r#"
spin_manifest_version = 2
[application]
name = "t"
[component.c]
source = "c.wasm"
[component.c.build]
command = "true"
watch = [
    "src/**/*.rs",
    "src/a.rs",
]
"#;
    let m = Manifest::parse(text, &dir).unwrap();
    let files = watched_files(&m, &m.components["c"]).unwrap();
    assert_eq!(files, vec![dir.join("src/a.rs"), dir.join("src/sub/b.rs")]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_outer_build_env_is_removed_from_build_commands() {
    for key in [
        "CARGO_TARGET_DIR",
        "RUSTFLAGS",
        "CARGO_MAKEFLAGS",
        "RUSTC_WRAPPER",
        "CARGO_BIN_NAME",
        "NUM_JOBS",
        "OUT_DIR",
        "CARGO_PKG_NAME",
        "CARGO_MANIFEST_DIR",
        "CARGO_BIN_EXE_todo-dev",
        "CARGO_CFG_TARGET_OS",
        "CARGO_FEATURE_STD",
    ] {
        assert!(is_outer_build_env(key), "{key}");
    }
    for key in [
        "PATH",
        "HOME",
        "CARGO_HOME",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
        "CARGO",
    ] {
        assert!(!is_outer_build_env(key), "{key}");
    }
    // `cargo test` sets CARGO_PKG_NAME and CARGO_MANIFEST_DIR for this process.
    assert!(std::env::var_os("CARGO_PKG_NAME").is_some());
    let out = shell("env").output().unwrap();
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");
    assert!(!env.contains("CARGO_PKG_NAME="), "{env}");
    assert!(!env.contains("CARGO_MANIFEST_DIR="), "{env}");
}

#[test]
fn cargo_build_commands_parse_into_options_and_packages() {
    let command =
        "cargo build --target wasm32-wasip2 --release --target-dir target/wasm -p chat-api";
    let build = CargoBuild::parse(command).unwrap();
    assert_eq!(
        build.options,
        [
            "--target",
            "wasm32-wasip2",
            "--release",
            "--target-dir",
            "target/wasm"
        ]
    );
    assert_eq!(build.packages, ["chat-api"]);
    assert_eq!(build.option("--target-dir"), Some("target/wasm"));
    assert_eq!(
        build.wasm_artifact(Path::new("/ws"), "chat-api"),
        Some(PathBuf::from(
            "/ws/target/wasm/wasm32-wasip2/release/chat_api.wasm"
        ))
    );

    let build =
        CargoBuild::parse("cargo build --package a --target=wasm32-wasip2 --package=b -p c")
            .unwrap();
    assert_eq!(build.packages, ["a", "b", "c"]);
    assert_eq!(build.option("--target"), Some("wasm32-wasip2"));
    assert_eq!(
        build.wasm_artifact(Path::new("/ws"), "b"),
        Some(PathBuf::from("/ws/target/wasm32-wasip2/debug/b.wasm"))
    );
    let build = CargoBuild::parse("cargo build --target x --profile dev -p a").unwrap();
    assert_eq!(
        build.wasm_artifact(Path::new("/ws"), "a"),
        Some(PathBuf::from("/ws/target/x/debug/a.wasm"))
    );
    assert_eq!(
        CargoBuild::parse("cargo build -p a")
            .unwrap()
            .wasm_artifact(Path::new("/ws"), "a"),
        None
    );

    let cmd = CargoBuild::parse(command).unwrap().command("/bin/cargo");
    assert_eq!(cmd.get_program(), "/bin/cargo");
    let args: Vec<_> = cmd.get_args().map(|a| a.to_str().unwrap()).collect();
    assert_eq!(
        args,
        [
            "build",
            "--target",
            "wasm32-wasip2",
            "--release",
            "--target-dir",
            "target/wasm",
            "-p",
            "chat-api"
        ]
    );
}

#[test]
fn other_commands_are_not_cargo_builds() {
    for command in [
        "cargo build",
        "cargo build --release",
        "cargo build -p",
        "cargo test -p a",
        "cargo component build -p a",
        "npm run build",
        "cargo build -p a && wasm-opt x.wasm",
        "cargo build -p \"a\"",
        "cargo build -p $PKG",
        "cargo build -p a > log",
    ] {
        assert_eq!(CargoBuild::parse(command), None, "{command}");
    }
}
