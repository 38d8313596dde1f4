//! Every shell script of the repository parses (`bash -n`) and passes `shellcheck`. shellcheck is
//! an extra tool: the test skips without it, except under `.ci/run`, which installs it.
use std::path::{Path, PathBuf};
use std::process::Command;
use todo_tests::skip::require_tool;

/// `.ci/run` and every `*.sh` outside `target/` and `.git/`.
fn scripts() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut found = vec![root.join(".ci/run")];
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(
                    name.as_str(),
                    "target" | ".git" | "node_modules" | ".todo-dev"
                ) {
                    dirs.push(path);
                }
            } else if name.ends_with(".sh") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn run(command: &mut Command) -> (bool, String) {
    let output = command.output().expect("command runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn every_script_parses() {
    let scripts = scripts();
    assert!(scripts.iter().any(|s| s.ends_with(".ci/run")));
    for script in scripts {
        let (ok, text) = run(Command::new("bash").arg("-n").arg(&script));
        assert!(ok, "{}: {text}", script.display());
    }
}

#[test]
fn every_script_passes_shellcheck() {
    let Some(shellcheck) = require_tool("shellcheck", "every_script_passes_shellcheck") else {
        return;
    };
    for script in scripts() {
        let (ok, text) = run(Command::new(&shellcheck).arg(&script));
        assert!(ok, "shellcheck {}:\n{text}", script.display());
    }
}
