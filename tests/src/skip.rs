//! The one rule for tests that need a tool beyond cargo (kubectl, a pip or npm package, a
//! browser): where the tool is missing they skip, saying what is missing — unless
//! `TODO_TESTS_REQUIRE_ALL=1` (set by `.ci/run`), where a skip is a failure. Every skip prints a
//! line starting with [`SKIP_MARKER`], which `.ci/run` also counts as a failure.

/// The environment variable that turns skips into failures.
pub const REQUIRE_ALL_ENV: &str = "TODO_TESTS_REQUIRE_ALL";
/// How a skip announces itself on stderr.
pub const SKIP_MARKER: &str = "SKIPPED:";

/// Whether a missing tool must fail the test run (`TODO_TESTS_REQUIRE_ALL` set to anything but
/// empty or `0`).
pub fn skips_are_failures() -> bool {
    std::env::var(REQUIRE_ALL_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Call at the top of a test that needs `tool`: `Some(path)` when it is on the PATH; otherwise
/// `None` after printing the skip line (the test then returns), or a panic under
/// `TODO_TESTS_REQUIRE_ALL`.
pub fn require_tool(tool: &str, test: &str) -> Option<std::path::PathBuf> {
    let found = find_on_path(tool, std::env::var_os("PATH").as_deref());
    let decided = decide(found, tool, test, skips_are_failures())
        .unwrap_or_else(|message| panic!("{message}"));
    if decided.is_none() {
        // Straight to stderr, not eprintln!: libtest captures the print macros of passing
        // tests, and .ci/run must see this line.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr().lock(),
            "{SKIP_MARKER} {test}: `{tool}` is not on the PATH (bash .ci/run installs it)"
        );
    }
    decided
}

/// The decision, apart from the environment and the output: the tool, a skip (`Ok(None)`), or
/// the failure message.
fn decide(
    found: Option<std::path::PathBuf>,
    tool: &str,
    test: &str,
    required: bool,
) -> Result<Option<std::path::PathBuf>, String> {
    match found {
        Some(path) => Ok(Some(path)),
        None if required => Err(format!(
            "{test} needs `{tool}`, which is not on the PATH, and {REQUIRE_ALL_ENV} forbids skipping \
             (.ci/run installs it)"
        )),
        None => Ok(None),
    }
}

fn find_on_path(tool: &str, path: Option<&std::ffi::OsStr>) -> Option<std::path::PathBuf> {
    std::env::split_paths(path?)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_skips_locally_and_fails_when_everything_is_required() {
        assert_eq!(decide(None, "kubectl", "t", false), Ok(None));
        let message = decide(None, "kubectl", "t", true).unwrap_err();
        assert!(message.contains("needs `kubectl`"), "{message}");
        let found = Some(std::path::PathBuf::from("/usr/bin/kubectl"));
        assert_eq!(decide(found.clone(), "kubectl", "t", true), Ok(found));
    }

    #[test]
    fn tools_are_looked_up_on_the_path() {
        let sh = find_on_path(
            "sh",
            Some(std::ffi::OsStr::new("/nonexistent:/bin:/usr/bin")),
        );
        assert!(sh.is_some_and(|p| p.ends_with("sh")));
        assert_eq!(
            find_on_path("no-such-tool-xyz", Some(std::ffi::OsStr::new("/bin"))),
            None
        );
        assert_eq!(find_on_path("sh", None), None);
    }
}
