//! `todo-dev`: runs the whole todo-chatbot application on one machine — every Spin component of
//! `spin.toml` in wasmtime (spin-host) and the embedded Dapr sidecar — and mints dev tokens.
//!
//! ```text
//! todo-dev up [--listen 127.0.0.1:3000] [--dapr-listen 127.0.0.1:3500] [--admin-listen 127.0.0.1:9090]
//!             [--component-id ID]... [--ephemeral] [--data-dir .todo-dev] [--log-format human|json]
//!             [--no-build] [--as-app-id chat-api] [--no-pooling] [--manifest spin.toml]
//! todo-dev token --user alice [--ttl 1h]
//! todo-dev sidecar [--run-file dapr/dapr.yaml] [--admin-listen 127.0.0.1:9090] [--component-id ID]...
//!                  [--ephemeral] [--data-dir .todo-dev] [--log-format human|json] [--manifest spin.toml]
//! todo-dev build [--component-id ID]...
//! todo-dev compile [--no-pooling] WASM...   (hidden: `up` runs it as a child, see up/compile.rs)
//! ```
//! See docs/running-locally.md.

mod builder;
mod secrets;
mod sidecar;
mod up;

// In the library so that tests drive them in process; `crate::server` etc. keep working.
use todo_dev::{outbound, server};

use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "todo-dev",
    version,
    about = "Run todo-chatbot locally: Spin components in wasmtime + an embedded Dapr sidecar"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build what is stale, load every component and serve the app, the Dapr API and metrics.
    Up(UpArgs),
    /// Print a development JWT (HS256, signed with the app's `jwt_secret`).
    Token(TokenArgs),
    /// Run the components' `[component.<id>.build]` commands when their sources are stale.
    Build(BuildArgs),
    /// Serve only the embedded Dapr sidecar, one Dapr port per app of `dapr/dapr.yaml`, for
    /// components run by real `spin up` (prints the commands); delivers to them over HTTP.
    Sidecar(SidecarArgs),
    /// Compile components into the compiled-code cache and exit (`up` runs it as a child).
    #[command(hide = true)]
    Compile(CompileArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ManifestArgs {
    /// The application manifest.
    #[arg(long, default_value = "spin.toml")]
    pub manifest: PathBuf,
    /// Where persistent data (state, the dev JWT secret) is kept.
    #[arg(long, default_value = ".todo-dev")]
    pub data_dir: PathBuf,
}

#[derive(clap::Args, Debug, Clone)]
pub struct UpArgs {
    #[command(flatten)]
    pub common: ManifestArgs,
    /// The app's HTTP address (every component's routes). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// The Dapr HTTP API for curl and tools; requests act as the app-id of `--as-app-id`.
    #[arg(long, default_value = "127.0.0.1:3500")]
    pub dapr_listen: SocketAddr,
    /// Metrics (`/metrics`), health and dead letters.
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub admin_listen: SocketAddr,
    /// Run only these components (repeatable); default: all.
    #[arg(long = "component-id", value_name = "ID")]
    pub component_ids: Vec<String>,
    /// Keep all sidecar data in memory (nothing written to the data dir but the dev secret).
    #[arg(long)]
    pub ephemeral: bool,
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    /// Do not run the components' build commands (the .wasm files must exist).
    #[arg(long)]
    pub no_build: bool,
    /// The app-id requests on `--dapr-listen` act as (default: the component of spin.toml's first
    /// `[[trigger.http]]` among those running).
    #[arg(long, value_name = "APP_ID")]
    pub as_app_id: Option<String>,
    /// Allocate each instance on demand instead of from wasmtime's pooling allocator (the
    /// default reserves virtual memory for 128 instances up front and instantiates faster).
    #[arg(long)]
    pub no_pooling: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct TokenArgs {
    #[command(flatten)]
    pub common: ManifestArgs,
    /// The user id (`sub` claim).
    #[arg(long)]
    pub user: String,
    /// Lifetime: `90s`, `30m`, `1h`, `7d` or seconds.
    #[arg(long, default_value = "1h", value_parser = parse_duration_secs)]
    pub ttl: u64,
}

#[derive(clap::Args, Debug, Clone)]
pub struct SidecarArgs {
    #[command(flatten)]
    pub common: ManifestArgs,
    /// The `dapr run -f` file: each app's `appPort` (deliveries go there) and `daprHTTPPort`
    /// (its Dapr API is served there), its command and env.
    #[arg(long, default_value = "dapr/dapr.yaml")]
    pub run_file: PathBuf,
    /// Metrics (`/metrics`), health and dead letters.
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub admin_listen: SocketAddr,
    /// Serve only these components' app-ids (repeatable); default: every component.
    #[arg(long = "component-id", value_name = "ID")]
    pub component_ids: Vec<String>,
    /// Keep all sidecar data in memory.
    #[arg(long)]
    pub ephemeral: bool,
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
}

#[derive(clap::Args, Debug, Clone)]
pub struct CompileArgs {
    /// As `up --no-pooling`: the engine settings decide the cache keys.
    #[arg(long)]
    pub no_pooling: bool,
    /// The components' `.wasm` files.
    pub wasm: Vec<PathBuf>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct BuildArgs {
    #[command(flatten)]
    pub common: ManifestArgs,
    #[arg(long = "component-id", value_name = "ID")]
    pub component_ids: Vec<String>,
}

/// `90s`, `30m`, `1h`, `7d`, or plain seconds.
fn parse_duration_secs(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("invalid duration {text:?} (use e.g. 90s, 30m, 1h, 7d)"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("invalid duration unit in {text:?} (s, m, h or d)")),
    };
    if n == 0 {
        return Err("the duration must be positive".into());
    }
    n.checked_mul(unit)
        .ok_or_else(|| "duration too long".into())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up::run(args),
        Command::Token(args) => secrets::token_command(&args),
        Command::Build(args) => builder::build_command(&args),
        Command::Sidecar(args) => sidecar::run(args),
        Command::Compile(args) => up::compile::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("todo-dev: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_secs("90"), Ok(90));
        assert_eq!(parse_duration_secs("90s"), Ok(90));
        assert_eq!(parse_duration_secs("30m"), Ok(1800));
        assert_eq!(parse_duration_secs("1h"), Ok(3600));
        assert_eq!(parse_duration_secs("7d"), Ok(604_800));
        assert!(parse_duration_secs("1w").is_err());
        assert!(parse_duration_secs("h").is_err());
        assert!(parse_duration_secs("0s").is_err());
    }

    #[test]
    fn cli_parses_up_flags() {
        let cli = Cli::try_parse_from([
            "todo-dev",
            "up",
            "--listen",
            "127.0.0.1:0",
            "--component-id",
            "chat-api",
            "--component-id",
            "audit-service",
            "--ephemeral",
            "--log-format",
            "json",
            "--no-build",
            "--as-app-id",
            "audit-service",
        ])
        .unwrap();
        let Command::Up(up) = cli.command else {
            panic!("not up")
        };
        assert_eq!(up.listen.port(), 0);
        assert_eq!(up.dapr_listen.port(), 3500);
        assert_eq!(up.admin_listen.port(), 9090);
        assert_eq!(up.component_ids, vec!["chat-api", "audit-service"]);
        assert!(up.ephemeral && up.no_build);
        assert_eq!(up.log_format, LogFormat::Json);
        assert_eq!(up.as_app_id.as_deref(), Some("audit-service"));
        assert_eq!(up.common.data_dir, PathBuf::from(".todo-dev"));
        assert!(!up.no_pooling);

        let cli = Cli::try_parse_from([
            "todo-dev",
            "sidecar",
            "--run-file",
            "x/dapr.yaml",
            "--component-id",
            "chat-api",
            "--ephemeral",
        ])
        .unwrap();
        let Command::Sidecar(sidecar) = cli.command else {
            panic!("not sidecar")
        };
        assert_eq!(sidecar.run_file, PathBuf::from("x/dapr.yaml"));
        assert_eq!(sidecar.component_ids, ["chat-api"]);
        assert_eq!(sidecar.admin_listen.port(), 9090);
        assert!(sidecar.ephemeral);
        let cli = Cli::try_parse_from(["todo-dev", "sidecar"]).unwrap();
        let Command::Sidecar(sidecar) = cli.command else {
            panic!("not sidecar")
        };
        assert_eq!(sidecar.run_file, PathBuf::from("dapr/dapr.yaml"));

        let cli = Cli::try_parse_from(["todo-dev", "up", "--no-pooling"]).unwrap();
        let Command::Up(up) = cli.command else {
            panic!("not up")
        };
        assert!(up.no_pooling);
    }
}
