//! The embedded sidecar for apps that run elsewhere (`todo-dev sidecar`): one Dapr HTTP port
//! per app-id, as `dapr run -f` starts one daprd per app, so every call is attributed to the app
//! whose port it came in on (state keys `<app-id>||…`, the `source` of what it publishes, the
//! caller of an invocation); deliveries, job triggers and invocations go to each app over HTTP
//! ([`HttpAppChannel`]).

use crate::dapr_api::DaprService;
use crate::http_channel::HttpAppChannel;
use crate::server;
use dapr_sidecar::{Sidecar, SidecarConfig, SidecarError};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One app the sidecar serves: where the app listens, and its Dapr port (bound already, so a
/// busy port fails before anything starts).
pub struct ExternalApp {
    pub app_id: String,
    pub app_addr: SocketAddr,
    pub dapr_listener: TcpListener,
}

/// A started sidecar and its Dapr ports.
pub struct Running {
    pub sidecar: Sidecar,
    /// App-id → the bound address of its Dapr port.
    pub dapr_addrs: BTreeMap<String, SocketAddr>,
    servers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Wait until every Dapr port has stopped (after `shutdown` turned true).
    pub async fn stopped(self) {
        for server in self.servers {
            let _ = server.await;
        }
    }
}

/// Build the sidecar from `config` (its app channel and app list are set here, from `apps`),
/// start it and serve each app's Dapr port until `shutdown` turns true.
pub fn start(
    apps: Vec<ExternalApp>,
    config: SidecarConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<Running, SidecarError> {
    let channel = HttpAppChannel::new(apps.iter().map(|a| (a.app_id.clone(), a.app_addr)));
    let sidecar = Sidecar::try_new(SidecarConfig {
        app_channel: Arc::new(channel),
        apps: apps.iter().map(|a| a.app_id.clone()).collect(),
        ..config
    })?;
    sidecar.start();
    let mut dapr_addrs = BTreeMap::new();
    let mut servers = Vec::new();
    for app in apps {
        if let Ok(addr) = app.dapr_listener.local_addr() {
            dapr_addrs.insert(app.app_id.clone(), addr);
        }
        let service = Arc::new(DaprService {
            sidecar: sidecar.clone(),
            app_id: app.app_id,
        });
        servers.push(tokio::spawn(server::serve(
            "dapr",
            app.dapr_listener,
            service,
            shutdown.clone(),
        )));
    }
    Ok(Running {
        sidecar,
        dapr_addrs,
        servers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(addr: SocketAddr, path: &str, body: &'static str) -> (u16, String) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await.unwrap();
        let status = raw.split(' ').nth(1).unwrap().parse().unwrap();
        (status, raw)
    }

    #[tokio::test]
    async fn each_port_acts_as_its_own_app_id() {
        let mut apps = Vec::new();
        for app_id in ["chat-api", "audit-service"] {
            apps.push(ExternalApp {
                app_id: app_id.into(),
                app_addr: "127.0.0.1:9".parse().unwrap(),
                dapr_listener: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            });
        }
        let (stop, shutdown) = watch::channel(false);
        let running = start(apps, SidecarConfig::default(), shutdown).unwrap();
        let save = r#"[{"key":"k","value":1}]"#;
        for (app_id, addr) in &running.dapr_addrs {
            let (status, raw) = post(*addr, "/v1.0/state/statestore", save).await;
            assert_eq!(status, 204, "{app_id}: {raw}");
        }
        let keys: Vec<String> = running
            .sidecar
            .state_snapshot("statestore")
            .into_keys()
            .collect();
        assert_eq!(keys, ["audit-service||k", "chat-api||k"]);
        stop.send(true).unwrap();
        running.stopped().await;
    }
}
