//! The routes: health, the `task-events` delivery, and the audit query.
use crate::entry::Entry;
use crate::query::AuditQuery;
use crate::write::Outcome;
use crate::{APP_ID, ApiError, App, Config, Runtime};
use component_kit::auth::{authenticate_user, check_app_token};
use component_kit::health::health;
use component_kit::log::RequestLog;
use component_kit::request::query_pairs;
use component_kit::subscriber::{Admission, Rejection, Subscriber};
use component_kit::{Request, Response, Routes, json_response, only};
use dapr_client::CloudEvent;
use http::Method;
use todo_domain::event::EVENT_SCHEMA_VERSION;

impl<R: Runtime> Routes<R> for Config {
    async fn route(
        app: &App<R>,
        request: &Request,
        log: &mut RequestLog,
    ) -> Result<Response, ApiError> {
        let method = request.method();
        match request.uri().path().trim_end_matches('/') {
            "/audit/healthz" => {
                log.route = "/audit/healthz";
                health(method, APP_ID)
            }
            "/audit/task-events" => {
                log.route = "/audit/task-events";
                only(method, &[Method::POST], "POST")?;
                check_app_token(request, app.config.app_api_token.as_deref())?;
                deliver(app, request, log).await
            }
            "/audit/log" => {
                log.route = "/audit/log";
                only(method, &[Method::GET], "GET")?;
                let user =
                    authenticate_user(request, &app.config.jwt_secret, app.runtime().now(), log)?;
                let pairs = query_pairs(request);
                let query = AuditQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
                let page = crate::store(app)?.page(&user, &query).await?;
                Ok(json_response(200, &page))
            }
            _ => {
                log.route = "unmatched";
                Err(ApiError::NotFound)
            }
        }
    }
}

/// A `task-events` delivery: admitted by the kit's subscriber (envelope, `schema_version`), stored,
/// settled. No `processed:` record: storing an entry is its own dedupe (an entry already in its
/// documents is not added again, `write::plan`), so a redelivery reads them and writes nothing.
async fn deliver<R: Runtime>(
    app: &App<R>,
    request: &Request,
    log: &mut RequestLog,
) -> Result<Response, ApiError> {
    let subscriber = Subscriber {
        dapr: &app.dapr,
        state_store: &app.config.state_store,
        known_schema_versions: &[EVENT_SCHEMA_VERSION],
    };
    let status = match subscriber.admit_idempotent(request, log) {
        Admission::Answer(status) => status,
        Admission::Handle(accepted) => {
            let outcome = record(app, &accepted.event).await;
            subscriber.settle(accepted, outcome, log).await
        }
    };
    Ok(status.into_response())
}

/// Store one delivered event: bad data can never be stored (DROP); the store unreachable or
/// contended, or misconfigured, may recover (RETRY).
async fn record<R: Runtime>(app: &App<R>, event: &CloudEvent) -> Result<(), Rejection> {
    let store = crate::store(app).map_err(|e| Rejection::Retry(e.to_string()))?;
    let entry = Entry::from_event(event, app.runtime().now()).map_err(Rejection::Drop)?;
    match store.append(&entry).await {
        Ok(Outcome::Stored | Outcome::AlreadyStored | Outcome::Expired) => Ok(()),
        Err(error) => Err(Rejection::Retry(error.to_string())),
    }
}
