//! The `/job/{name}` callbacks: Dapr's scheduler calls `POST /job/{name}` on the app that
//! scheduled the job, with the job's `data` as the body. 2xx = done; 404 = done, do not retry
//! (an unknown job); anything else = failed, retried by the job's failure policy.
use crate::sweep::SWEEP_JOB;
use crate::{ApiError, App, Runtime};
use component_kit::auth::check_app_token;
use component_kit::{Request, Response, json_response};

pub async fn trigger<R: Runtime>(
    app: &App<R>,
    name: &str,
    request: &Request,
) -> Result<Response, ApiError> {
    check_app_token(request, app.config.app_api_token.as_deref())?;
    match name {
        SWEEP_JOB => {
            let report = crate::tasks(app).store().sweep(app.runtime().now()).await?;
            Ok(json_response(200, &report))
        }
        // An unknown job: 404 tells Dapr the trigger is done and not to retry.
        _ => Err(ApiError::NotFound),
    }
}
