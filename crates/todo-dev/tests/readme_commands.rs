//! The README's run command is `cargo run -p todo-dev -- up`. Running cargo from a test would wait
//! on the build lock the test run holds, so this checks what makes that command resolve: with
//! several binaries in the crate, `default-run` must name `todo-dev`.
#[test]
fn cargo_run_p_todo_dev_picks_the_todo_dev_binary() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let bins = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/bin"))
        .map(|dir| dir.count())
        .unwrap_or(0);
    if bins > 0 {
        assert!(
            manifest
                .lines()
                .any(|l| l.trim() == r#"default-run = "todo-dev""#),
            "crates/todo-dev has {bins} extra binaries but no `default-run = \"todo-dev\"`: the README's `cargo run -p todo-dev -- up` would fail"
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
    assert!(readme.contains("cargo run -p todo-dev -- up"));
    assert!(readme.contains("\ncargo test\n"));
}
