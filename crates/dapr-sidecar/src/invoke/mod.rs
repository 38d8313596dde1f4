//! Service invocation: `/v1.0/invoke/{appId}/method/{path…}` with any HTTP method, or any path
//! with header `dapr-app-id: <target>` (daprd `pkg/api/http/directmessaging.go`, the router's
//! fallback).
//!
//! The target is called through the [`AppChannel`] with the caller's method, the method path and
//! raw query, its headers (less `dapr-app-id`, the caller's `dapr-api-token` and hop-by-hop
//! headers) and body, plus `dapr-caller-app-id`, `dapr-callee-app-id` and, when the sidecar has
//! an app API token, `dapr-api-token`. The app's status, headers and body come back unchanged.
//! Dapr's own failures (unknown app id, app unreachable) are 500 `ERR_DIRECT_INVOKE`.
//!
//! Access control ([`acl`]) comes from `kind: Configuration` resources: daprd applies the
//! Configuration named by the callee's `dapr.io/config` annotation; here (one sidecar for every
//! app) a Configuration applies to the app ids in its `scopes` (the first one listing an app
//! wins). A denial answers as daprd's caller sidecar relays the callee's gRPC PermissionDenied:
//! **403 with `errorCode` `ERR_DIRECT_INVOKE`** (not `ERR_PERMISSION_DENIED`, which is the
//! secrets scoping code). A call to the caller's own app id goes straight to the app, without
//! access control, as in daprd.

pub(crate) mod acl;

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};

use crate::app_channel::AppChannel;
use crate::error::ApiError;
use crate::request::ApiRequest;
use crate::resources::{AccessControl, Configuration};

/// Access control per callee app id.
#[derive(Debug, Clone, Default)]
pub(crate) struct AccessPolicies {
    by_app: BTreeMap<String, AccessControl>,
}

impl AccessPolicies {
    /// The `accessControl` of `configurations` (in load order) by the app ids in their
    /// `scopes`: the first Configuration with access control that lists an app applies to it.
    pub(crate) fn from_configurations(configurations: &[Configuration]) -> AccessPolicies {
        let mut by_app = BTreeMap::new();
        for configuration in configurations {
            let Some(acl) = &configuration.access_control else {
                continue;
            };
            for app in &configuration.scopes {
                by_app.entry(app.clone()).or_insert_with(|| acl.clone());
            }
        }
        AccessPolicies { by_app }
    }

    fn for_callee(&self, app_id: &str) -> Option<&AccessControl> {
        self.by_app.get(app_id)
    }
}

/// Headers never forwarded (hop-by-hop, recomputed, or Dapr's own).
const DROPPED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "dapr-app-id",
    "dapr-api-token",
    "dapr-caller-app-id",
    "dapr-callee-app-id",
];

fn forwardable(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        if !DROPPED.contains(&name.as_str()) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// The target and method path of an invocation, if the request names one (daprd
/// `findTargetIDAndMethod`): the `dapr-app-id` header (the whole path is the method), else
/// `/v1.0/invoke/{id}/method/{method}`.
pub(crate) fn target(req: &ApiRequest) -> Option<(String, String)> {
    let header = req.header("dapr-app-id");
    if !header.is_empty() {
        return Some((header.to_owned(), req.segments.join("/")));
    }
    let segments: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    match segments.as_slice() {
        ["v1.0", "invoke", id, "method", method @ ..] => {
            let id = crate::request::param("id", id).unwrap_or_else(|_| (*id).to_owned());
            Some((id, method.join("/")))
        }
        _ => None,
    }
}

/// Everything an invocation needs.
pub(crate) struct InvokeContext<'a> {
    pub channel: &'a dyn AppChannel,
    pub policies: &'a AccessPolicies,
    /// Known app ids; empty = any id is tried on the channel.
    pub apps: &'a [String],
    pub app_api_token: Option<&'a str>,
    pub caller: &'a str,
}

/// `messages.ErrDirectInvoke` with the status daprd relays (403 for a denial by the callee's
/// access control, 500 otherwise).
fn direct_invoke(status: StatusCode, target: &str, err: &str) -> ApiError {
    match ApiError::direct_invoke(target, err) {
        ApiError::Dapr {
            code,
            message,
            details,
            ..
        } => ApiError::Dapr {
            status,
            code,
            message,
            details,
        },
        other => other,
    }
}

/// Invokes `method` on `target` for the caller and relays the answer.
pub(crate) async fn invoke(
    ctx: &InvokeContext<'_>,
    req: &ApiRequest,
    uri: &Uri,
    target: &str,
    method: &str,
) -> Result<Response<Bytes>, ApiError> {
    let verb = req.method.as_str().to_ascii_uppercase();
    if !ctx.apps.is_empty() && !ctx.apps.iter().any(|a| a == target) {
        return Err(direct_invoke(
            StatusCode::INTERNAL_SERVER_ERROR,
            target,
            &format!("app id {target} is not known to this sidecar"),
        ));
    }
    if target != ctx.caller
        && let Some(acl) = ctx.policies.for_callee(target)
        && !acl.allows(ctx.caller, method, &verb)
    {
        return Err(direct_invoke(
            StatusCode::FORBIDDEN,
            target,
            &format!(
                "rpc error: code = PermissionDenied desc = access control policy has denied access to appid: {} operation: {} verb: {verb}",
                ctx.caller,
                acl::normalize_operation(method).to_lowercase()
            ),
        ));
    }
    let path_and_query = match uri.query().filter(|q| !q.is_empty()) {
        Some(query) => format!("/{method}?{query}"),
        None => format!("/{method}"),
    };
    let mut request = Request::new(req.body.clone());
    *request.method_mut() = Method::from_bytes(verb.as_bytes()).unwrap_or(Method::GET);
    *request.uri_mut() = path_and_query.parse().map_err(|err| {
        direct_invoke(StatusCode::INTERNAL_SERVER_ERROR, target, &format!("{err}"))
    })?;
    let headers = request.headers_mut();
    *headers = forwardable(&req.headers);
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("dapr-caller-app-id", ctx.caller);
    set("dapr-callee-app-id", target);
    if let Some(token) = ctx.app_api_token {
        set("dapr-api-token", token);
    }
    let response =
        ctx.channel.call(target, request).await.map_err(|err| {
            direct_invoke(StatusCode::INTERNAL_SERVER_ERROR, target, &err.message)
        })?;
    let (mut parts, body) = response.into_parts();
    for name in [
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
    ] {
        parts.headers.remove(name);
    }
    Ok(Response::from_parts(parts, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Resources;

    #[test]
    fn the_first_configuration_with_access_control_scoping_an_app_applies_to_it() {
        let mut resources = Resources::default();
        resources
            .add_str(
                std::path::Path::new("config.yaml"),
                "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: plain}\nspec: {features: []}\nscopes: [a]\n---\napiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: first}\nspec:\n  accessControl: {defaultAction: deny}\nscopes: [a, b]\n---\napiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {name: second}\nspec:\n  accessControl: {defaultAction: allow}\nscopes: [b, c]\n",
            )
            .expect("loads");
        let policies = AccessPolicies::from_configurations(&resources.configurations);
        let allows = |app: &str| {
            policies
                .for_callee(app)
                .map(|acl| acl.allows("x", "/m", "GET"))
        };
        assert_eq!(allows("a"), Some(false));
        assert_eq!(allows("b"), Some(false));
        assert_eq!(allows("c"), Some(true));
        assert_eq!(allows("d"), None);
    }
}
