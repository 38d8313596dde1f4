//! A component's (or any app's) outbound requests handed to the embedded Dapr sidecar in
//! process, as the calling app-id, the way `daprd` receives them on its HTTP port.
//!
//! This is THE adapter from an app's Dapr calls to [`Sidecar::handle`]: `todo-dev`'s outbound
//! handler, the test harness and the native chat-api server all go through [`send_to_sidecar`].

use crate::OutboundHandler;
use bytes::Bytes;
use dapr_sidecar::Sidecar;
use std::future::Future;
use std::pin::Pin;

/// The request URI as `daprd` sees it on its own port: only the path and query
/// (`http://127.0.0.1:3500/v1.0/state/s?x=1` → `/v1.0/state/s?x=1`); a URI without a path
/// becomes `/`. Relative URIs are returned as they are.
pub fn daprd_uri(uri: &http::Uri) -> http::Uri {
    let path_and_query = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    http::Uri::from(path_and_query)
}

/// Send one request of app `app_id` to `sidecar`, its URI reduced to what `daprd` would see
/// ([`daprd_uri`]).
pub async fn send_to_sidecar(
    sidecar: &Sidecar,
    app_id: &str,
    req: http::Request<Bytes>,
) -> http::Response<Bytes> {
    let (mut parts, body) = req.into_parts();
    parts.uri = daprd_uri(&parts.uri);
    sidecar
        .handle(app_id, http::Request::from_parts(parts, body))
        .await
}

/// An [`OutboundHandler`] that sends every outbound call of a component to one sidecar, as the
/// calling component's app-id (no host check: use it where every allowed host is the sidecar).
#[derive(Clone)]
pub struct SidecarOutbound(pub Sidecar);

impl OutboundHandler for SidecarOutbound {
    fn handle(
        &self,
        app_id: &str,
        req: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<http::Response<Bytes>>> + Send + '_>> {
        let app_id = app_id.to_owned();
        Box::pin(async move { Ok(send_to_sidecar(&self.0, &app_id, req).await) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dapr_sidecar::SidecarConfig;

    #[test]
    fn daprd_sees_only_the_path_and_query() {
        let cases = [
            (
                "http://127.0.0.1:3500/v1.0/state/statestore?metadata.ttlInSeconds=60",
                "/v1.0/state/statestore?metadata.ttlInSeconds=60",
            ),
            (
                "https://dapr.internal:443/v1.0/invoke/a/method/b?c=d&e",
                "/v1.0/invoke/a/method/b?c=d&e",
            ),
            ("http://localhost:3500", "/"),
            ("http://[::1]:3500/?x=1", "/?x=1"),
            ("/v1.0/healthz", "/v1.0/healthz"),
            ("/v1.0/metadata?x=%20y", "/v1.0/metadata?x=%20y"),
            ("127.0.0.1:3500", "/"),
        ];
        for (sent, seen) in cases {
            let uri = daprd_uri(&sent.parse().unwrap());
            assert_eq!(uri.to_string(), seen, "{sent}");
            assert_eq!(uri.scheme(), None, "{sent}");
            assert_eq!(uri.authority(), None, "{sent}");
        }
    }

    #[tokio::test]
    async fn outbound_calls_reach_the_sidecar_as_the_calling_app() {
        let sidecar = Sidecar::new(SidecarConfig::default());
        let outbound = SidecarOutbound(sidecar.clone());
        let save = http::Request::post("http://127.0.0.1:3500/v1.0/state/statestore")
            .body(Bytes::from_static(br#"[{"key":"k","value":{"n":1}}]"#))
            .unwrap();
        let response = outbound.handle("audit-service", save).await.unwrap();
        assert_eq!(response.status(), 204);
        let keys: Vec<String> = sidecar.state_snapshot("statestore").into_keys().collect();
        assert_eq!(keys, vec!["audit-service||k".to_string()]);

        // The same state, read back through the function, query string and all.
        let get =
            http::Request::get("http://localhost:3500/v1.0/state/statestore/k?consistency=strong")
                .body(Bytes::new())
                .unwrap();
        let response = send_to_sidecar(&sidecar, "audit-service", get).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.body().as_ref(), br#"{"n":1}"#);
    }
}
