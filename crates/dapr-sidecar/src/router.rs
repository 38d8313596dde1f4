//! Maps a request to its handler, as daprd's chi router does: routes are matched on the cleaned
//! path, every route parameter is `url.QueryUnescape`d, and anything that matches no route (or
//! matches a path with another method) falls through to the service-invocation fallback, which
//! answers 404 `ERR_DIRECT_INVOKE` when no target app id is given.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{Method, Response, Uri};

use crate::Inner;
use crate::error::ApiError;
use crate::invoke::{self, InvokeContext};
use crate::jobs::api::{self as jobs_api, JobsContext};
use crate::pubsub::api::{self as pubsub_api, PubSubContext};
use crate::request::{ApiRequest, param};
use crate::state::api::{self as state_api, StateContext};

/// Answers one request, or says which error to answer with. `uri` is the request's original URI
/// (service invocation forwards its raw query).
pub(crate) async fn route(
    sidecar: &Inner,
    app_id: &str,
    req: &ApiRequest,
    uri: &Uri,
) -> Result<Response<Bytes>, ApiError> {
    let segments: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    let write = req.method == Method::POST || req.method == Method::PUT;
    match (segments.as_slice(), &req.method) {
        (["v1.0", "state", store], _) if write => {
            with_store(sidecar, app_id, store, |ctx| state_api::save(ctx, req))
        }
        (["v1.0", "state", store, "bulk"], _) if write => {
            with_store(sidecar, app_id, store, |ctx| state_api::bulk_get(ctx, req))
        }
        (["v1.0", "state", store, "transaction"], _) if write => {
            with_store(sidecar, app_id, store, |ctx| {
                state_api::transaction(ctx, req)
            })
        }
        (["v1.0", "state", store, key], &Method::GET) => {
            let key = param("key", key)?;
            with_store(sidecar, app_id, store, |ctx| state_api::get(ctx, &key))
        }
        (["v1.0", "state", store, key], &Method::DELETE) => {
            let key = param("key", key)?;
            with_store(sidecar, app_id, store, |ctx| {
                state_api::delete(ctx, req, &key)
            })
        }
        (
            [
                "v1.0" | "v1.0-alpha1",
                "publish",
                "bulk",
                pubsub,
                topic @ ..,
            ],
            _,
        ) if write && !topic.is_empty() => {
            let (pubsub, topic) = pubsub_params(pubsub, topic)?;
            pubsub_api::bulk_publish(&pubsub_context(sidecar, app_id), req, &pubsub, &topic)
        }
        (["v1.0", "publish", pubsub, topic @ ..], _) if write && !topic.is_empty() => {
            let (pubsub, topic) = pubsub_params(pubsub, topic)?;
            pubsub_api::publish(&pubsub_context(sidecar, app_id), req, &pubsub, &topic)
        }
        (["v1.0", "healthz"], &Method::GET) => {
            crate::health::healthz(sidecar.started.load(Ordering::SeqCst), app_id, req)
        }
        (["v1.0", "healthz", "outbound"], &Method::GET) => crate::health::outbound(),
        (["v1.0", "metadata"], &Method::GET) => crate::pubsub::metadata::get(sidecar, app_id),
        (["v1.0" | "v1.0-alpha1", "jobs", name], method)
            if [Method::POST, Method::GET, Method::DELETE].contains(method) =>
        {
            let name = param("name", name)?;
            let ctx = JobsContext {
                jobs: &sidecar.jobs,
                clock: sidecar.clock.as_ref(),
                metrics: &sidecar.metrics,
                app_id,
            };
            match *method {
                Method::POST => jobs_api::schedule(&ctx, req, &name),
                Method::GET => jobs_api::get(&ctx, &name),
                _ => jobs_api::delete(&ctx, &name),
            }
        }
        (["v1.0", "secrets", store, "bulk"], &Method::GET) => {
            let store = param("secretStoreName", store)?;
            crate::secrets::api::bulk(&sidecar.secrets, app_id, &store)
        }
        (["v1.0", "secrets", store, key], &Method::GET) => {
            let store = param("secretStoreName", store)?;
            let key = param("key", key)?;
            crate::secrets::api::get(&sidecar.secrets, app_id, &store, &key)
        }
        _ => match invoke::target(req) {
            Some((target, method)) if !target.is_empty() => {
                let ctx = InvokeContext {
                    channel: sidecar.app_channel.as_ref(),
                    policies: &sidecar.access,
                    apps: &sidecar.apps,
                    app_api_token: sidecar.app_api_token.as_deref(),
                    caller: app_id,
                };
                invoke::invoke(&ctx, req, uri, &target, &method).await
            }
            _ => Err(ApiError::no_route()),
        },
    }
}

/// Resolves `{store}` (400 `ERR_STATE_STORE_NOT_FOUND` when unknown) and runs `handler`.
fn with_store(
    sidecar: &Inner,
    app_id: &str,
    store: &str,
    handler: impl FnOnce(&StateContext<'_>) -> Result<Response<Bytes>, ApiError>,
) -> Result<Response<Bytes>, ApiError> {
    let name = param("storeName", store)?;
    let (config, store) = sidecar
        .state_stores
        .get(&name)
        .ok_or_else(|| ApiError::state_store_not_found(&name, app_id))?;
    handler(&StateContext {
        config,
        store: store.as_ref(),
        app_id,
        clock: sidecar.clock.as_ref(),
        faults: &sidecar.faults,
    })
}

fn pubsub_context<'a>(sidecar: &'a Inner, app_id: &'a str) -> PubSubContext<'a> {
    PubSubContext {
        pubsubs: &sidecar.pubsubs,
        broker: &sidecar.broker,
        app_id,
        clock: sidecar.clock.as_ref(),
        faults: &sidecar.faults,
    }
}

/// `{pubsubname}` and the `*` wildcard (the topic, which may contain `/`).
fn pubsub_params(pubsub: &str, topic: &[&str]) -> Result<(String, String), ApiError> {
    Ok((param("pubsubname", pubsub)?, param("*", &topic.join("/"))?))
}
