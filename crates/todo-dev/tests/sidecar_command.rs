//! The `todo-dev sidecar` binary: one Dapr port per app of a run file, each acting as its own
//! app-id, and the `spin up` command of every component printed with its env. (Deliveries over
//! HTTP to apps on their ports: tests/sidecar_mode.rs, in process with a shared clock.)

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Bounds a hang only.
const HANG: Duration = Duration::from_secs(60);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `(status, body)` of one HTTP/1.1 request.
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(HANG)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (
        head.split(' ').nth(1).unwrap().parse().unwrap(),
        body.to_owned(),
    )
}

/// What `todo-dev sidecar` printed until ready: app-id → its Dapr address, and the commands.
struct Started {
    child: Child,
    dapr: BTreeMap<String, SocketAddr>,
    commands: Vec<String>,
    dir: PathBuf,
}

/// `todo-dev sidecar` on the repository's run file, moved to free Dapr ports (0) with its apps
/// run from the repository's dapr/, with `env` set and the secrets' own env vars unset.
fn start(name: &str, extra: &[&str], env: &[(&str, &str)]) -> Started {
    let dir = std::env::temp_dir().join(format!("todo-dev-sidecar-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let repo_run_file = std::fs::read_to_string(workspace().join("dapr/dapr.yaml")).unwrap();
    let dapr_dir = workspace().join("dapr");
    let run_file: String = repo_run_file
        .lines()
        .map(|line| match line.trim_start() {
            l if l.starts_with("daprHTTPPort:") => "    daprHTTPPort: 0".to_owned(),
            l if l.starts_with("appDirPath:") => format!("    appDirPath: {}", dapr_dir.display()),
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join("dapr.yaml"), run_file).unwrap();

    let mut command = Command::new(env!("CARGO_BIN_EXE_todo-dev"));
    command
        .args(["sidecar", "--ephemeral", "--admin-listen", "127.0.0.1:0"])
        .args(extra)
        .arg("--run-file")
        .arg(dir.join("dapr.yaml"))
        .arg("--data-dir")
        .arg(&dir)
        .current_dir(workspace())
        .env_remove("SPIN_VARIABLE_JWT_SECRET")
        .env_remove("SPIN_VARIABLE_APP_API_TOKEN")
        .env_remove("APP_API_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let (tx, lines) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut dapr = BTreeMap::new();
    let mut commands = Vec::new();
    loop {
        let line = lines
            .recv_timeout(HANG)
            .expect("todo-dev sidecar became ready");
        if let Some(rest) = line.strip_prefix("todo-dev: dapr listening on http://") {
            let addr = rest.split_whitespace().next().unwrap().parse().unwrap();
            let app_id = rest.split("as app-id ").nth(1).unwrap();
            dapr.insert(app_id.split(',').next().unwrap().to_owned(), addr);
        } else if let Some(command) = line.strip_prefix("  ") {
            commands.push(command.to_owned());
        } else if line.starts_with("todo-dev: ready in ") {
            break;
        }
    }
    Started {
        child,
        dapr,
        commands,
        dir,
    }
}

impl Started {
    /// SIGTERM: the process exits 0.
    fn terminate(self) {
        let mut child = self.child;
        let pid = child.id().to_string();
        let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(kill.success());
        let (tx, exited) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = exited
            .recv_timeout(HANG)
            .expect("exits on SIGTERM")
            .unwrap();
        assert!(status.success(), "{status}");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn each_app_gets_its_own_dapr_port_and_its_spin_up_command() {
    let started = start("all", &[], &[]);
    let (dapr, commands) = (&started.dapr, &started.commands);
    let dapr_dir = workspace().join("dapr");
    let components = spin_host::Manifest::load(&workspace().join("spin.toml"))
        .unwrap()
        .component_ids();
    assert_eq!(dapr.keys().cloned().collect::<Vec<_>>(), components);
    assert_eq!(commands.len(), components.len(), "{commands:#?}");
    for (app_id, addr) in dapr {
        let command = commands
            .iter()
            .find(|c| c.ends_with(&format!("--component-id {app_id}")))
            .unwrap_or_else(|| panic!("no command for {app_id}: {commands:#?}"));
        for expected in [
            format!("cd {} && ", dapr_dir.display()),
            format!("SPIN_VARIABLE_DAPR_URL=http://{addr} "),
            // The run file's values, as `dapr run -f` gives them to the apps and daprd.
            "SPIN_VARIABLE_APP_API_TOKEN=dev-only-app-api-token-change-me ".to_owned(),
            "SPIN_VARIABLE_JWT_SECRET=dev-only-jwt-secret-change-me ".to_owned(),
            " spin up --from ../spin.toml --listen 127.0.0.1:".to_owned(),
        ] {
            assert!(command.contains(&expected), "{expected:?} not in {command}");
        }
    }

    // Each port acts as its own app-id: the same key is a different item per app.
    for (app_id, addr) in dapr {
        let save = format!(r#"[{{"key":"who","value":"{app_id}"}}]"#);
        assert_eq!(
            request(*addr, "POST", "/v1.0/state/statestore", &save).0,
            204
        );
    }
    for (app_id, addr) in dapr {
        let (status, body) = request(*addr, "GET", "/v1.0/state/statestore/who", "");
        assert_eq!((status, body), (200, format!("\"{app_id}\"")));
        let (status, metadata) = request(*addr, "GET", "/v1.0/metadata", "");
        assert_eq!(status, 200);
        let metadata: serde_json::Value = serde_json::from_str(&metadata).unwrap();
        assert_eq!(metadata["id"], app_id.as_str(), "{metadata}");
    }

    started.terminate();
}

#[test]
fn the_environment_overrides_the_run_files_secrets_and_component_ids_select_apps() {
    let started = start(
        "env",
        &["--component-id", "audit-service"],
        &[
            ("SPIN_VARIABLE_APP_API_TOKEN", "token-from-env"),
            ("SPIN_VARIABLE_JWT_SECRET", "secret from env"),
        ],
    );
    assert_eq!(started.dapr.keys().collect::<Vec<_>>(), ["audit-service"]);
    let [command] = started.commands.as_slice() else {
        panic!("{:#?}", started.commands)
    };
    for expected in [
        "SPIN_VARIABLE_APP_API_TOKEN=token-from-env ",
        "SPIN_VARIABLE_JWT_SECRET='secret from env' ",
        "--component-id audit-service",
    ] {
        assert!(command.contains(expected), "{expected:?} not in {command}");
    }
    started.terminate();
}
