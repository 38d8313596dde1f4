//! The `/job/{name}` callbacks: Dapr's scheduler calls `POST /job/{name}` on the app that
//! scheduled the job, with the job's `data` as the body. 2xx = done; 404 = done, do not retry
//! (an unknown job); anything else = failed, retried by the job's failure policy.
use crate::reminders::{Fired, JobData, RECONCILE_JOB};
use crate::sweep::SWEEP_JOB;
use crate::{ApiError, App, Runtime};
use component_kit::auth::check_app_token;
use component_kit::log::warn;
use component_kit::{Request, Response, json_response};
use serde_json::json;
use todo_domain::reminder::task_of_job;

pub async fn trigger<R: Runtime>(
    app: &App<R>,
    name: &str,
    request: &Request,
) -> Result<Response, ApiError> {
    check_app_token(request, app.config.app_api_token.as_deref())?;
    match name {
        // Each repeating job re-creates the other if the Scheduler lost it (overwrite: false, so
        // an existing one keeps its timing).
        SWEEP_JOB => {
            let tasks = crate::tasks(app);
            let report = tasks.store().sweep(app.runtime().now()).await?;
            tasks.store().ensure_reconcile_job().await;
            Ok(json_response(200, &report))
        }
        RECONCILE_JOB => {
            let tasks = crate::tasks(app);
            let report = tasks.store().reconcile(app.runtime().now()).await?;
            tasks.store().ensure_sweep_job().await;
            Ok(json_response(200, &report))
        }
        _ => match task_of_job(name) {
            Some(task_id) => reminder(app, name, task_id, request).await,
            // An unknown job: 404 tells Dapr the trigger is done and not to retry.
            None => Err(ApiError::NotFound),
        },
    }
}

/// `POST /job/reminder-<task_id>`: fire the reminder if it is still pending (see
/// [`crate::Tasks::fire_reminder`]). A body that is not this job's data can never succeed: 404,
/// so Dapr does not retry it.
async fn reminder<R: Runtime>(
    app: &App<R>,
    name: &str,
    task_id: uuid::Uuid,
    request: &Request,
) -> Result<Response, ApiError> {
    let job = match serde_json::from_slice::<JobData>(request.body()) {
        Ok(job) if job.task_id == task_id => job,
        Ok(_) | Err(_) => {
            warn(
                &format!("trigger of job {name} carries no data of that job; ignored"),
                &String::from_utf8_lossy(request.body()),
            );
            return Err(ApiError::NotFound);
        }
    };
    let fired = crate::tasks(app).fire_reminder(&job).await?;
    let body = match &fired.answer {
        Fired::Published { event_id } => {
            json!({"reminder_id": job.reminder_id, "fired": true, "event_id": event_id})
        }
        Fired::Stale => json!({"reminder_id": job.reminder_id, "fired": false}),
    };
    Ok(json_response(200, &body))
}
