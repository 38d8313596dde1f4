//! The `dapr run -f` file (`dapr/dapr.yaml`, Dapr's Multi-App Run template): which app-ids run,
//! each app's port (`appPort`), its sidecar's HTTP port (`daprHTTPPort`), its command and env.
//!
//! `todo-dev sidecar` serves these ports with the embedded sidecar, so `dapr run -f` and
//! `todo-dev sidecar` agree on every port (one source of truth), and [`RunFile::problems`] checks
//! the file against `spin.toml` (a test runs it on the repository's files). Paths follow the
//! dapr CLI: `appDirPath` is relative to the run file, the app's command runs there.

use anyhow::{Context as _, bail};
use serde::Deserialize;
use spin_manifest::Manifest;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The env var a Spin component's `dapr_url` variable is read from.
pub const DAPR_URL_ENV: &str = "SPIN_VARIABLE_DAPR_URL";

/// A parsed run file (only the fields `todo-dev` uses; the others are accepted and ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct RunFile {
    pub version: u32,
    #[serde(default)]
    pub common: Common,
    #[serde(default)]
    pub apps: Vec<RunApp>,
    /// The directory of the file: relative `appDirPath`s start here.
    #[serde(skip)]
    pub dir: PathBuf,
}

/// `common:` — settings shared by every app.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Common {
    #[serde(default, deserialize_with = "scalar_map")]
    pub env: BTreeMap<String, String>,
}

/// One entry of `apps:`.
#[derive(Debug, Clone, Deserialize)]
pub struct RunApp {
    #[serde(rename = "appID")]
    pub app_id: String,
    #[serde(rename = "appDirPath")]
    pub app_dir_path: String,
    #[serde(rename = "appPort", default)]
    pub app_port: Option<u16>,
    #[serde(rename = "daprHTTPPort", default)]
    pub dapr_http_port: Option<u16>,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default, deserialize_with = "scalar_map")]
    pub env: BTreeMap<String, String>,
}

/// What `todo-dev sidecar` needs of one app: where to deliver, where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPorts {
    pub app_id: String,
    pub app_port: u16,
    pub dapr_http_port: u16,
}

/// An env map as the dapr CLI reads it: scalar values (`DEBUG: true`, `PORT: 3000`) as text.
fn scalar_map<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    use serde::de::Error as _;
    let raw = BTreeMap::<String, serde_yaml_ng::Value>::deserialize(deserializer)?;
    raw.into_iter()
        .map(|(key, value)| {
            let text = match value {
                serde_yaml_ng::Value::String(s) => s,
                serde_yaml_ng::Value::Bool(b) => b.to_string(),
                serde_yaml_ng::Value::Number(n) => n.to_string(),
                serde_yaml_ng::Value::Null => String::new(),
                _ => return Err(D::Error::custom(format!("env {key}: expected a scalar"))),
            };
            Ok((key, text))
        })
        .collect()
}

impl RunFile {
    pub fn load(path: &Path) -> anyhow::Result<RunFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the run file {}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Self::parse(&text, &dir).with_context(|| format!("run file {}", path.display()))
    }

    /// Parse run file `text` whose relative paths start at `dir`.
    pub fn parse(text: &str, dir: &Path) -> anyhow::Result<RunFile> {
        let mut run: RunFile = serde_yaml_ng::from_str(text)?;
        if run.version == 0 {
            bail!("required field 'version' not found");
        }
        run.dir = dir.to_path_buf();
        Ok(run)
    }

    pub fn app(&self, app_id: &str) -> Option<&RunApp> {
        self.apps.iter().find(|a| a.app_id == app_id)
    }

    /// The env an app's command gets: `common.env`, then the app's own `env` over it (the dapr
    /// CLI's precedence).
    pub fn env_of(&self, app: &RunApp) -> BTreeMap<String, String> {
        let mut env = self.common.env.clone();
        env.extend(app.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }

    /// The directory app `app`'s command runs in.
    pub fn app_dir(&self, app: &RunApp) -> PathBuf {
        self.dir.join(&app.app_dir_path)
    }

    /// The ports of each of `app_ids`, in that order: every one must be an app of this file with
    /// an `appPort` and a `daprHTTPPort`.
    pub fn ports_of(&self, app_ids: &[String]) -> anyhow::Result<Vec<AppPorts>> {
        app_ids
            .iter()
            .map(|id| {
                let Some(app) = self.app(id) else {
                    bail!(
                        "no app {id:?} in the run file (apps: {}); add one for every component of spin.toml",
                        self.apps.iter().map(|a| a.app_id.as_str()).collect::<Vec<_>>().join(", ")
                    );
                };
                let app_port = app.app_port.with_context(|| {
                    format!("app {id}: no appPort (where its `spin up --listen` serves it)")
                })?;
                let dapr_http_port = app.dapr_http_port.with_context(|| {
                    format!("app {id}: no daprHTTPPort (where its Dapr API is served)")
                })?;
                Ok(AppPorts {
                    app_id: id.clone(),
                    app_port,
                    dapr_http_port,
                })
            })
            .collect()
    }

    /// Everything that keeps this file from running `manifest`'s components the way SpinKube
    /// runs them (one app-id, one Spin process and one sidecar per component): a component
    /// without an app or an app without a component, shared or missing ports, a command that
    /// is not `spin up` of its own component on its own `appPort` from that manifest, or a
    /// `SPIN_VARIABLE_DAPR_URL` that is not its own Dapr port. Empty = consistent.
    pub fn problems(&self, manifest: &Manifest) -> Vec<String> {
        let mut problems = Vec::new();
        let components: BTreeSet<String> = manifest.components.keys().cloned().collect();
        for id in &components {
            if self.app(id).is_none() {
                problems.push(format!("component {id} of spin.toml has no app"));
            }
        }
        let mut app_ids = BTreeSet::new();
        let mut ports: BTreeMap<u16, String> = BTreeMap::new();
        for app in &self.apps {
            let id = &app.app_id;
            if !app_ids.insert(id.clone()) {
                problems.push(format!("app {id} is listed twice"));
            }
            if !components.contains(id) {
                problems.push(format!("app {id} is no component of spin.toml"));
            }
            for (what, port) in [
                ("appPort", app.app_port),
                ("daprHTTPPort", app.dapr_http_port),
            ] {
                match port {
                    None => problems.push(format!("app {id}: no {what}")),
                    Some(port) => {
                        if let Some(other) = ports.insert(port, format!("{what} of {id}")) {
                            problems.push(format!("app {id}: {what} {port} is also the {other}"));
                        }
                    }
                }
            }
            problems.extend(self.command_problems(app, manifest));
            let dapr_url = self.env_of(app).get(DAPR_URL_ENV).cloned();
            let expected = app
                .dapr_http_port
                .map(|port| format!("http://127.0.0.1:{port}"));
            if dapr_url.is_none() || dapr_url != expected {
                problems.push(format!(
                    "app {id}: env {DAPR_URL_ENV} is {dapr_url:?}, expected {expected:?} (its own sidecar)"
                ));
            }
        }
        problems
    }

    fn command_problems(&self, app: &RunApp, manifest: &Manifest) -> Vec<String> {
        let id = &app.app_id;
        let mut problems = Vec::new();
        let command = &app.command;
        if command.len() < 2 || command[0] != "spin" || command[1] != "up" {
            problems.push(format!("app {id}: command {command:?} is not `spin up …`"));
            return problems;
        }
        let components = option_values(command, &["--component-id", "-c"]);
        if components != [id.as_str()] {
            problems.push(format!(
                "app {id}: command runs components {components:?}, expected [{id:?}]"
            ));
        }
        let listen = option_values(command, &["--listen"]);
        let expected = app.app_port.map(|port| format!("127.0.0.1:{port}"));
        if listen.len() != 1 || Some(listen[0].to_owned()) != expected {
            problems.push(format!(
                "app {id}: command listens on {listen:?}, expected {expected:?} (its appPort)"
            ));
        }
        let from = option_values(command, &["--from", "-f", "--from-file", "--file"]);
        let manifest_path = self
            .app_dir(app)
            .join(from.first().copied().unwrap_or("spin.toml"));
        let same = match (
            manifest_path.canonicalize(),
            manifest.dir.join("spin.toml").canonicalize(),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if !same {
            problems.push(format!(
                "app {id}: command runs {}, not {}",
                manifest_path.display(),
                manifest.dir.join("spin.toml").display()
            ));
        }
        problems
    }
}

/// The values of `flags` in `command` (`--flag value` or `--flag=value`), in order.
pub fn option_values<'a>(command: &'a [String], flags: &[&str]) -> Vec<&'a str> {
    let mut values = Vec::new();
    let mut args = command.iter();
    while let Some(arg) = args.next() {
        if flags.contains(&arg.as_str()) {
            if let Some(value) = args.next() {
                values.push(value.as_str());
            }
        } else if let Some((flag, value)) = arg.split_once('=')
            && flags.contains(&flag)
        {
            values.push(value);
        }
    }
    values
}

/// `text` as one POSIX shell word (quoted only when it has to be).
pub fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "app"
[[trigger.http]]
route = "/a/..."
component = "a"
[component.a]
source = "a.wasm"
[[trigger.http]]
route = "/b/..."
component = "b"
[component.b]
source = "b.wasm"
"#;

    fn manifest(dir: &Path) -> Manifest {
        std::fs::write(dir.join("spin.toml"), MANIFEST).unwrap();
        Manifest::load(&dir.join("spin.toml")).unwrap()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("todo-dev-run-file-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("dapr")).unwrap();
        dir
    }

    const GOOD: &str = r#"
version: 1
common:
  resourcesPaths: [./components]
  env:
    SPIN_VARIABLE_JWT_SECRET: s
    APP_API_TOKEN: t
    DEBUG: true
apps:
  - appID: a
    appDirPath: .
    appPort: 3001
    daprHTTPPort: 3500
    env: {SPIN_VARIABLE_DAPR_URL: "http://127.0.0.1:3500", DEBUG: "no"}
    command: ["spin", "up", "--from", "../spin.toml", "--listen", "127.0.0.1:3001", "--component-id", "a"]
  - appID: b
    appDirPath: ..
    appPort: 3002
    daprHTTPPort: 3501
    env: {SPIN_VARIABLE_DAPR_URL: "http://127.0.0.1:3501"}
    command: ["spin", "up", "--listen=127.0.0.1:3002", "-c", "b"]
"#;

    #[test]
    fn a_consistent_file_has_no_problems_and_gives_each_apps_ports() {
        let dir = temp_dir("good");
        let manifest = manifest(&dir);
        let run = RunFile::parse(GOOD, &dir.join("dapr")).unwrap();
        assert_eq!(run.problems(&manifest), Vec::<String>::new());
        let ports = run.ports_of(&["b".into(), "a".into()]).unwrap();
        assert_eq!(
            ports,
            [
                AppPorts {
                    app_id: "b".into(),
                    app_port: 3002,
                    dapr_http_port: 3501
                },
                AppPorts {
                    app_id: "a".into(),
                    app_port: 3001,
                    dapr_http_port: 3500
                },
            ]
        );
        let env = run.env_of(run.app("a").unwrap());
        assert_eq!(env["DEBUG"], "no", "the app's env wins over common");
        assert_eq!(env["APP_API_TOKEN"], "t");
        assert_eq!(run.env_of(run.app("b").unwrap())["DEBUG"], "true");
        let err = run.ports_of(&["c".into()]).unwrap_err().to_string();
        assert!(
            err.contains("no app \"c\"") && err.contains("apps: a, b"),
            "{err}"
        );
    }

    #[test]
    fn every_inconsistency_is_named() {
        let dir = temp_dir("bad");
        let manifest = manifest(&dir);
        let bad = GOOD
            .replace("daprHTTPPort: 3501", "daprHTTPPort: 3500")
            .replace("\"-c\", \"b\"", "\"-c\", \"a\"")
            .replace("--from\", \"../spin.toml", "--from\", \"spin.toml")
            .replace("appID: b", "appID: c");
        let run = RunFile::parse(&bad, &dir.join("dapr")).unwrap();
        let problems = run.problems(&manifest).join("\n");
        for expected in [
            "component b of spin.toml has no app",
            "app c is no component of spin.toml",
            "app c: daprHTTPPort 3500 is also the daprHTTPPort of a",
            "app c: command runs components [\"a\"], expected [\"c\"]",
            "app c: env SPIN_VARIABLE_DAPR_URL is Some(\"http://127.0.0.1:3501\"), expected Some(\"http://127.0.0.1:3500\")",
            "app a: command runs ",
        ] {
            assert!(
                problems.contains(expected),
                "missing {expected:?} in:\n{problems}"
            );
        }
        assert!(
            RunFile::parse("apps: []", &dir).is_err(),
            "version is required"
        );
        let no_port = GOOD.replace("    appPort: 3002\n", "");
        let run = RunFile::parse(&no_port, &dir.join("dapr")).unwrap();
        let err = run.ports_of(&["b".into()]).unwrap_err().to_string();
        assert!(err.contains("app b: no appPort"), "{err}");
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("http://127.0.0.1:3500"), "http://127.0.0.1:3500");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
        let command: Vec<String> = ["spin", "up", "--listen=x", "-c", "y", "--listen", "z"]
            .map(String::from)
            .into();
        assert_eq!(option_values(&command, &["--listen"]), ["x", "z"]);
        assert_eq!(option_values(&command, &["-c"]), ["y"]);
    }
}
