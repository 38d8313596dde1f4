//! The loaded components of one application and their routes: the host's HTTP entry point
//! ([`Apps::route`]) and the sidecar's way into each app ([`AppsChannel`], Dapr's app channel).

use crate::manifest::{Manifest, Router};
use crate::{LoadedComponent, RequestContext};
use bytes::Bytes;
use dapr_sidecar::{AppCallError, AppCallFuture, AppChannel};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// The selected components of a manifest, loaded, with their routes.
pub struct Apps {
    components: BTreeMap<String, LoadedComponent>,
    /// Every selected component's triggers (the host's HTTP port).
    router: Router,
    /// Per component: its own triggers only (calls into that app-id).
    own_routers: BTreeMap<String, Router>,
}

/// A request matched to a component.
#[derive(Clone)]
pub struct Matched {
    pub component: LoadedComponent,
    /// The trigger's route as written (`/api/...`).
    pub route: String,
}

impl Apps {
    /// `components` must be components of `manifest`; only their triggers are routed.
    pub fn new(manifest: &Manifest, components: Vec<LoadedComponent>) -> Self {
        let ids: Vec<String> = components.iter().map(|c| c.id().to_string()).collect();
        let own_routers = ids
            .iter()
            .map(|id| (id.clone(), manifest.router(std::slice::from_ref(id))))
            .collect();
        Self {
            router: manifest.router(&ids),
            own_routers,
            components: components
                .into_iter()
                .map(|c| (c.id().to_string(), c))
                .collect(),
        }
    }

    /// The component ids (= Dapr app-ids), in id order.
    pub fn ids(&self) -> Vec<String> {
        self.components.keys().cloned().collect()
    }

    pub fn component(&self, id: &str) -> Option<&LoadedComponent> {
        self.components.get(id)
    }

    /// The component serving `path` on the host's HTTP port (most specific route wins).
    pub fn route(&self, path: &str) -> Option<Matched> {
        self.matched(&self.router, path)
    }

    /// The route of app `app_id` serving `path`, looking at that component's triggers only.
    pub fn route_in_app(&self, app_id: &str, path: &str) -> Option<Matched> {
        self.matched(self.own_routers.get(app_id)?, path)
    }

    fn matched(&self, router: &Router, path: &str) -> Option<Matched> {
        let m = router.route(path)?;
        Some(Matched {
            component: self.components.get(m.component)?.clone(),
            route: m.route,
        })
    }
}

/// Dapr's app channel over [`Apps`]: a call for app X reaches only component X's routes, as on
/// SpinKube where each component is its own SpinApp with its own sidecar. A path none of X's
/// routes match gets `404` (what Spin answers); a component failure gets `500`.
pub struct AppsChannel {
    apps: Arc<Apps>,
    /// `spin-full-url` authority of the calls (the host's HTTP address).
    authority: String,
    /// Told about every call: (app id, method, route or `None` if unmatched, status, duration).
    observer: Option<AppCallObserver>,
}

/// Told about every call the sidecar makes into an app.
pub type AppCallObserver = Arc<dyn Fn(&AppCall<'_>) + Send + Sync>;

/// One call the sidecar made into an app (for logs and metrics).
#[derive(Debug)]
pub struct AppCall<'a> {
    pub app_id: &'a str,
    pub method: &'a http::Method,
    pub path: &'a str,
    pub route: Option<&'a str>,
    pub status: u16,
    pub duration: std::time::Duration,
    pub error: Option<String>,
}

impl AppsChannel {
    pub fn new(apps: Arc<Apps>, authority: impl Into<String>) -> Self {
        Self {
            apps,
            authority: authority.into(),
            observer: None,
        }
    }

    /// Report every call to `observer`.
    pub fn with_observer(mut self, observer: AppCallObserver) -> Self {
        self.observer = Some(observer);
        self
    }
}

impl AppChannel for AppsChannel {
    fn call(&self, app_id: &str, request: http::Request<Bytes>) -> AppCallFuture<'_> {
        let app_id = app_id.to_string();
        Box::pin(async move {
            let started = std::time::Instant::now();
            if self.apps.component(&app_id).is_none() {
                return Err(AppCallError {
                    app_id: app_id.clone(),
                    message: format!(
                        "no component {app_id:?} is running (running: {})",
                        self.apps.ids().join(", ")
                    ),
                });
            }
            let method = request.method().clone();
            let path = request.uri().path().to_string();
            let matched = self.apps.route_in_app(&app_id, &path);
            let (response, error) = match &matched {
                None => (status_response(404), None),
                Some(m) => {
                    let ctx = RequestContext {
                        route: m.route.clone(),
                        base_path: "/".into(),
                        client_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                        default_authority: self.authority.clone(),
                    };
                    match m.component.handle_with_context(request, &ctx).await {
                        Ok(response) => (response, None),
                        Err(e) => (status_response(500), Some(format!("{e:#}"))),
                    }
                }
            };
            if let Some(observer) = &self.observer {
                observer(&AppCall {
                    app_id: &app_id,
                    method: &method,
                    path: &path,
                    route: matched.as_ref().map(|m| m.route.as_str()),
                    status: response.status().as_u16(),
                    duration: started.elapsed(),
                    error,
                });
            }
            Ok(response)
        })
    }
}

fn status_response(status: u16) -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::new());
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    response
}
