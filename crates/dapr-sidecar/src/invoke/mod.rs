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
//! Configuration its callee's sidecar was started with (`--config`, the `dapr.io/config`
//! annotation); here (one sidecar for every app) that is the Configuration the run file of the
//! resources folder gives the app (`configFilePath`, [`Resources::configuration_for`]). A denial answers as daprd's caller sidecar relays the callee's gRPC PermissionDenied:
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
use crate::resources::{AccessControl, Resources};

/// Access control per callee app id.
#[derive(Debug, Clone, Default)]
pub(crate) struct AccessPolicies {
    by_app: BTreeMap<String, AccessControl>,
}

impl AccessPolicies {
    /// The `accessControl` of the Configuration each app runs with.
    pub(crate) fn from_resources(resources: &Resources) -> AccessPolicies {
        let by_app = resources
            .app_config_files
            .keys()
            .filter_map(|app| {
                let acl = resources.configuration_for(app)?.access_control.as_ref()?;
                Some((app.clone(), acl.clone()))
            })
            .collect();
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
    fn an_app_gets_the_access_control_of_the_configuration_its_run_file_names() {
        let mut resources = Resources::default();
        let config = |name: &str, action: &str| {
            format!(
                "apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata: {{name: {name}}}\nspec:\n  accessControl: {{defaultAction: {action}}}\n"
            )
        };
        resources
            .add_str(
                std::path::Path::new("res/strict.yaml"),
                &config("strict", "deny"),
            )
            .expect("loads");
        resources
            .add_str(
                std::path::Path::new("res/open.yaml"),
                &config("open", "allow"),
            )
            .expect("loads");
        resources
            .add_str(
                std::path::Path::new("res/dapr.yaml"),
                "version: 1\ncommon: {configFilePath: ./strict.yaml}\napps:\n  - appID: a\n  - appID: b\n    appDirPath: ./sub\n    configFilePath: ../open.yaml\n",
            )
            .expect("loads");
        let policies = AccessPolicies::from_resources(&resources);
        let allows = |app: &str| {
            policies
                .for_callee(app)
                .map(|acl| acl.allows("x", "/m", "GET"))
        };
        assert_eq!(allows("a"), Some(false));
        assert_eq!(allows("b"), Some(true));
        assert_eq!(allows("c"), None);
    }
}
