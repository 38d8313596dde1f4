//! Spin's request headers: what Spin's HTTP trigger tells a component about the request it
//! serves (`spin-full-url`, `spin-path-info`, `spin-matched-route`, `spin-client-addr`, ...).

use anyhow::Context as _;
use bytes::Bytes;
use std::net::SocketAddr;

/// The per-request facts Spin passes to a component in `spin-*` headers.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The `[[trigger.http]]` route that matched, as written in spin.toml (`/api/...`).
    pub route: String,
    /// The app's base path (`/` unless the trigger sets `base`).
    pub base_path: String,
    /// The client's address (`spin-client-addr`).
    pub client_addr: SocketAddr,
    /// Scheme and authority of `spin-full-url` when the request URI is relative.
    pub default_authority: String,
}

impl Default for RequestContext {
    fn default() -> Self {
        Self {
            route: "/...".into(),
            base_path: "/".into(),
            client_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            default_authority: "localhost:3000".into(),
        }
    }
}

impl RequestContext {
    /// Context for a request matched by `route` (e.g. `"/api/..."`).
    pub fn for_route(route: impl Into<String>) -> Self {
        Self {
            route: route.into(),
            ..Self::default()
        }
    }
}

/// Make the URI absolute and add the headers Spin's HTTP trigger adds.
pub(crate) fn spin_request(
    req: http::Request<Bytes>,
    ctx: &RequestContext,
) -> anyhow::Result<http::Request<Bytes>> {
    let (mut parts, body) = req.into_parts();
    let authority = match parts.uri.authority() {
        Some(a) => a.to_string(),
        None => match parts.headers.get(http::header::HOST) {
            Some(h) => h.to_str().context("invalid Host header")?.to_string(),
            None => ctx.default_authority.clone(),
        },
    };
    let scheme = parts.uri.scheme_str().unwrap_or("http").to_string();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let full_url = format!("{scheme}://{authority}{path_and_query}");
    parts.uri = full_url
        .parse()
        .with_context(|| format!("invalid request URL {full_url}"))?;
    if !parts.headers.contains_key(http::header::HOST) {
        parts.headers.insert(
            http::header::HOST,
            authority.parse().context("invalid authority")?,
        );
    }

    let path = parts.uri.path().to_string();
    let component_route = ctx
        .route
        .strip_suffix("/...")
        .or_else(|| ctx.route.strip_suffix("..."))
        .unwrap_or(&ctx.route);
    // As Spin: the part of the path the trailing wildcard captured, after the router's slash
    // normalisation (`//api/tasks` under `/api/...` → `/tasks`).
    let path_info = spin_manifest::Route::parse(&ctx.route)
        .ok()
        .and_then(|route| route.path_info(&path))
        .unwrap_or_default();
    let headers = [
        ("spin-full-url", full_url),
        ("spin-path-info", path_info),
        ("spin-matched-route", ctx.route.clone()),
        ("spin-base-path", ctx.base_path.clone()),
        ("spin-raw-component-route", ctx.route.clone()),
        ("spin-component-route", component_route.to_string()),
        ("spin-client-addr", ctx.client_addr.to_string()),
    ];
    for (name, value) in headers {
        parts.headers.insert(
            http::HeaderName::from_static(name),
            http::HeaderValue::try_from(value)
                .with_context(|| format!("invalid value for header {name}"))?,
        );
    }
    Ok(http::Request::from_parts(parts, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_headers_for_a_wildcard_route() {
        let req = http::Request::builder()
            .uri("/api/tasks/42?x=1")
            .body(Bytes::new())
            .unwrap();
        let ctx = RequestContext {
            client_addr: "10.1.2.3:4567".parse().unwrap(),
            ..RequestContext::for_route("/api/...")
        };
        let req = spin_request(req, &ctx).unwrap();
        let h = |name: &str| req.headers()[name].to_str().unwrap().to_string();
        assert_eq!(req.uri(), "http://localhost:3000/api/tasks/42?x=1");
        assert_eq!(h("host"), "localhost:3000");
        assert_eq!(h("spin-full-url"), "http://localhost:3000/api/tasks/42?x=1");
        assert_eq!(h("spin-path-info"), "/tasks/42");
        assert_eq!(h("spin-matched-route"), "/api/...");
        assert_eq!(h("spin-raw-component-route"), "/api/...");
        assert_eq!(h("spin-component-route"), "/api");
        assert_eq!(h("spin-base-path"), "/");
        assert_eq!(h("spin-client-addr"), "10.1.2.3:4567");
    }

    #[test]
    fn spin_headers_for_catch_all_and_exact_routes() {
        let req = http::Request::builder()
            .uri("http://example.com:8080/health")
            .body(Bytes::new())
            .unwrap();
        let req = spin_request(req, &RequestContext::default()).unwrap();
        assert_eq!(req.headers()["spin-path-info"], "/health");
        assert_eq!(req.headers()["spin-component-route"], "");
        assert_eq!(
            req.headers()["spin-full-url"],
            "http://example.com:8080/health"
        );

        let req = http::Request::builder()
            .uri("/job/reminder")
            .body(Bytes::new())
            .unwrap();
        let req = spin_request(req, &RequestContext::for_route("/job/reminder")).unwrap();
        assert_eq!(req.headers()["spin-path-info"], "");
        assert_eq!(req.headers()["spin-component-route"], "/job/reminder");
    }

    #[test]
    fn a_doubled_leading_slash_reaches_the_component_as_sent() {
        // Spin routes `//api/tasks` to `/api/...` and passes the path unchanged; only the path
        // info is taken after its router's slash normalisation.
        let req = http::Request::builder()
            .uri("//api/tasks?limit=1")
            .body(Bytes::new())
            .unwrap();
        let req = spin_request(req, &RequestContext::for_route("/api/...")).unwrap();
        assert_eq!(req.uri().path(), "//api/tasks");
        assert_eq!(
            req.headers()["spin-full-url"],
            "http://localhost:3000//api/tasks?limit=1"
        );
        assert_eq!(req.headers()["spin-path-info"], "/tasks");
        assert_eq!(req.headers()["spin-matched-route"], "/api/...");
    }
}
