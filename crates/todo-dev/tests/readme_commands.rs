//! The README's run command is `cargo run --profile fast -p todo-dev -- up`. Running cargo from a
//! test would compete with the test run's own build, so this checks what makes that command resolve:
//! `todo-dev` is the crate's only binary (the benchmark's native server lives in the `todo-tests`
//! crate), or else `default-run` must name it.
#[test]
fn cargo_run_p_todo_dev_picks_the_todo_dev_binary() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let declared = manifest.lines().filter(|l| l.trim() == "[[bin]]").count();
    // Cargo also discovers every file and directory under src/bin as a binary.
    let discovered = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/bin"))
        .map(|dir| dir.count())
        .unwrap_or(0);
    let binaries = declared.max(1) + discovered;
    if binaries > 1 {
        assert!(
            manifest
                .lines()
                .any(|l| l.trim() == r#"default-run = "todo-dev""#),
            "crates/todo-dev has {binaries} binaries but no `default-run = \"todo-dev\"`: the README's `cargo run --profile fast -p todo-dev -- up` would fail"
        );
    }
    assert_eq!(
        env!("CARGO_BIN_EXE_todo-dev").rsplit('/').next(),
        Some("todo-dev")
    );
}

#[test]
fn the_readme_shows_the_run_and_test_commands() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    assert!(readme.contains("\ncargo run --profile fast -p todo-dev -- up\n"));
    assert!(readme.contains("\ncargo test\n"));
}

/// The profile the README runs with exists, optimises, and is not the release profile's
/// size-first LTO build (meant for the wasm components, and far slower to build natively).
#[test]
fn the_readme_profile_builds_an_optimised_host() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml")).unwrap();
    let section: Vec<&str> = manifest
        .lines()
        .skip_while(|l| l.trim() != "[profile.fast]")
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .map(str::trim)
        .collect();
    assert!(section.contains(&"opt-level = 3"), "{section:?}");
    assert!(section.contains(&"lto = false"), "{section:?}");
}
