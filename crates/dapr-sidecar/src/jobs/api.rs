//! HTTP handlers of the Jobs API: `POST|GET|DELETE /v1.0-alpha1/jobs/{name}` and (1.18)
//! `/v1.0/jobs/{name}`, following daprd `pkg/api/http/jobs.go` and
//! `pkg/api/universal/jobs.go`.
//!
//! The body is read as protojson reads `internals.v1.JobHTTPRequest` (unknown fields dropped,
//! camelCase or snake_case names, `repeats` as a number or a numeric string, `data` any JSON,
//! `failurePolicy.constant.interval` a protobuf Duration string such as `"1.5s"`).
//!
//! Errors are dapr/kit rich errors without a legacy tag, so `errorCode` is the ErrorInfo reason
//! (`DAPR_SCHEDULER_*`, `pkg/messages/errorcodes`; daprd ≤ 1.15 said `SCHEDULER_*`). Failures of
//! the scheduler itself (bad cron, bad due time, unknown job) are 500s, as daprd maps every
//! Scheduler error to 500, except "exists and `overwrite` is not true", which daprd answers 409
//! (tests/integration/suite/daprd/jobs/http/overwrite.go).

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use super::schedule::{format_proto_duration, parse_proto_duration};
use super::{FailurePolicy, Job, JobSpec, Jobs, count_created};
use crate::Clock;
use crate::error::{ApiError, empty_response, json_response};
use crate::go_json::{self, Numbers};
use crate::metrics::Metrics;
use crate::request::ApiRequest;

/// Everything a jobs handler needs.
pub(crate) struct JobsContext<'a> {
    pub jobs: &'a Jobs,
    pub clock: &'a dyn Clock,
    pub metrics: &'a Metrics,
    pub app_id: &'a str,
}

fn rich(status: StatusCode, reason: &'static str, message: String, metadata: Value) -> ApiError {
    ApiError::Dapr {
        status,
        code: reason,
        message,
        details: vec![json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "domain": "dapr.io",
            "reason": reason,
            "metadata": metadata,
        })],
    }
}

impl JobsContext<'_> {
    /// `{"appID", "namespace"}` (self-hosted daprd has an empty namespace).
    fn metadata(&self) -> Value {
        json!({"appID": self.app_id, "namespace": ""})
    }

    fn empty(&self, what: &str, reason: &'static str) -> ApiError {
        rich(
            StatusCode::BAD_REQUEST,
            reason,
            format!("{what} is empty"),
            self.metadata(),
        )
    }

    fn schedule_failed(&self, status: StatusCode, err: &str) -> ApiError {
        rich(
            status,
            "DAPR_SCHEDULER_SCHEDULE_JOB",
            format!("failed to schedule job due to: {err}"),
            self.metadata(),
        )
    }
}

/// The parsed body of a schedule request.
#[derive(Debug, Default)]
struct JobRequest {
    name: Option<String>,
    spec: Option<JobSpec>,
    overwrite: bool,
}

/// A field by its JSON (camelCase) or proto (snake_case) name; both at once is an error, as in
/// protojson.
fn field<'a>(
    object: &'a Map<String, Value>,
    camel: &str,
    snake: &str,
) -> Result<Option<&'a Value>, String> {
    match (object.get(camel), object.get(snake)) {
        (Some(_), Some(_)) if camel != snake => Err(format!("duplicate field \"{snake}\"")),
        (Some(v), _) | (None, Some(v)) => Ok(Some(v)),
        (None, None) => Ok(None),
    }
}

fn string_field(
    object: &Map<String, Value>,
    camel: &str,
    snake: &str,
) -> Result<Option<String>, String> {
    match field(object, camel, snake)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("invalid value for string field {camel}: {other}")),
    }
}

fn uint32_field(
    object: &Map<String, Value>,
    camel: &str,
    snake: &str,
) -> Result<Option<u32>, String> {
    let invalid = |v: &Value| format!("invalid value for uint32 field {camel}: {v}");
    match field(object, camel, snake)? {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| invalid(v)),
        Some(v @ Value::String(s)) => s.parse::<u32>().map(Some).map_err(|_| invalid(v)),
        Some(other) => Err(invalid(other)),
    }
}

fn failure_policy(value: &Value) -> Result<Option<FailurePolicy>, String> {
    let object = match value {
        Value::Null => return Ok(None),
        Value::Object(object) => object,
        other => return Err(format!("invalid value for failurePolicy: {other}")),
    };
    let drop = field(object, "drop", "drop")?.filter(|v| !v.is_null());
    let constant = field(object, "constant", "constant")?.filter(|v| !v.is_null());
    match (drop, constant) {
        (Some(_), Some(_)) => {
            Err("error parsing failurePolicy, oneof policy is already set".to_owned())
        }
        (Some(_), None) => Ok(Some(FailurePolicy::Drop)),
        (None, Some(Value::Object(constant))) => {
            let interval = match string_field(constant, "interval", "interval")? {
                Some(interval) => parse_proto_duration(&interval)?,
                None => chrono::Duration::zero(),
            };
            Ok(Some(FailurePolicy::Constant {
                interval_nanos: interval.num_nanoseconds().unwrap_or(i64::MAX),
                max_retries: uint32_field(constant, "maxRetries", "max_retries")?,
            }))
        }
        (None, Some(other)) => Err(format!("invalid value for constant: {other}")),
        // An empty policy message: protojson leaves the oneof unset; the scheduler keeps it.
        (None, None) => Ok(None),
    }
}

fn parse_request(body: &[u8]) -> Result<JobRequest, String> {
    if body.is_empty() {
        return Ok(JobRequest::default());
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let Value::Object(object) = value else {
        return Err(format!("unexpected token {value}"));
    };
    let schedule = string_field(&object, "schedule", "schedule")?;
    let due_time = string_field(&object, "dueTime", "due_time")?;
    let repeats = uint32_field(&object, "repeats", "repeats")?;
    let ttl = string_field(&object, "ttl", "ttl")?;
    // A JSON null is a google.protobuf.Value too (NullValue).
    let data = field(&object, "data", "data")?.cloned();
    let failure_policy = match field(&object, "failurePolicy", "failure_policy")? {
        Some(v) => failure_policy(v)?.unwrap_or_default(),
        None => FailurePolicy::default(),
    };
    let spec = (schedule.is_some() || due_time.is_some()).then_some(JobSpec {
        schedule,
        due_time,
        repeats,
        ttl,
        data,
        failure_policy,
    });
    let overwrite = match field(&object, "overwrite", "overwrite")? {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(format!("invalid value for bool field overwrite: {other}")),
    };
    Ok(JobRequest {
        name: string_field(&object, "name", "name")?,
        spec,
        overwrite,
    })
}

/// `POST /v1.0-alpha1/jobs/{name}`: 204, or 400/409/500.
pub(crate) fn schedule(
    ctx: &JobsContext<'_>,
    req: &ApiRequest,
    name: &str,
) -> Result<Response<Bytes>, ApiError> {
    let request = parse_request(&req.body).map_err(ApiError::malformed_body)?;
    if request.name.as_deref().is_some_and(|n| !n.is_empty()) {
        return Err(rich(
            StatusCode::BAD_REQUEST,
            "DAPR_SCHEDULER_JOB_NAME",
            "Set the job name in the url only".to_owned(),
            json!({"appID": ctx.app_id}),
        ));
    }
    let name = name.trim();
    if name.is_empty() || name.contains('|') {
        return Err(ctx.empty("Name", "DAPR_SCHEDULER_JOB_NAME_EMPTY"));
    }
    let Some(spec) = request.spec else {
        return Err(ctx.empty("Schedule", "DAPR_SCHEDULER_SCHEDULE_EMPTY"));
    };
    let job = Job::new(ctx.app_id, name, spec, ctx.clock.now())
        .map_err(|err| ctx.schedule_failed(StatusCode::INTERNAL_SERVER_ERROR, &err))?;
    match ctx.jobs.create(job, request.overwrite) {
        Ok(()) => {
            count_created(ctx.metrics, ctx.app_id);
            Ok(empty_response())
        }
        Err(None) => {
            Err(ctx.schedule_failed(StatusCode::CONFLICT, &format!("job already exists: {name}")))
        }
        Err(Some(err)) => Err(ctx.schedule_failed(StatusCode::INTERNAL_SERVER_ERROR, &err)),
    }
}

/// `GET /v1.0-alpha1/jobs/{name}`: 200 with the job as protojson writes `runtime.v1.Job`; a
/// missing job is a 500 `DAPR_SCHEDULER_GET_JOB`.
pub(crate) fn get(ctx: &JobsContext<'_>, name: &str) -> Result<Response<Bytes>, ApiError> {
    if name.is_empty() {
        return Err(ctx.empty("Name", "DAPR_SCHEDULER_JOB_NAME_EMPTY"));
    }
    let Some(job) = ctx.jobs.get(ctx.app_id, name) else {
        return Err(rich(
            StatusCode::INTERNAL_SERVER_ERROR,
            "DAPR_SCHEDULER_GET_JOB",
            format!(
                "failed to get job due to: rpc error: code = NotFound desc = job not found: {name}"
            ),
            ctx.metadata(),
        ));
    };
    Ok(json_response(StatusCode::OK, Bytes::from(job_json(&job))))
}

/// `DELETE /v1.0-alpha1/jobs/{name}`: 204, also for a job that does not exist.
pub(crate) fn delete(ctx: &JobsContext<'_>, name: &str) -> Result<Response<Bytes>, ApiError> {
    if name.is_empty() {
        return Err(ctx.empty("Name", "DAPR_SCHEDULER_JOB_NAME_EMPTY"));
    }
    ctx.jobs.delete(ctx.app_id, name).map_err(|err| {
        rich(
            StatusCode::INTERNAL_SERVER_ERROR,
            "DAPR_SCHEDULER_DELETE_JOB",
            format!("failed to delete job due to: {err}"),
            ctx.metadata(),
        )
    })?;
    Ok(empty_response())
}

/// `runtime.v1.Job` in protojson field order: name, schedule, repeats, dueTime, ttl, data (an
/// `Any` holding a `google.protobuf.Value`), failurePolicy (the scheduler stores the default
/// policy when none was given, so it is always there).
fn job_json(job: &Job) -> String {
    let mut out = String::from("{\"name\":");
    go_json::write_string(&mut out, &job.name);
    let spec = &job.spec;
    if let Some(schedule) = &spec.schedule {
        out.push_str(",\"schedule\":");
        go_json::write_string(&mut out, schedule);
    }
    if let Some(repeats) = spec.repeats {
        out.push_str(&format!(",\"repeats\":{repeats}"));
    }
    if let Some(due) = &spec.due_time {
        out.push_str(",\"dueTime\":");
        go_json::write_string(&mut out, due);
    }
    if let Some(ttl) = &spec.ttl {
        out.push_str(",\"ttl\":");
        go_json::write_string(&mut out, ttl);
    }
    if let Some(data) = &spec.data {
        out.push_str(
            ",\"data\":{\"@type\":\"type.googleapis.com/google.protobuf.Value\",\"value\":",
        );
        go_json::write_value(&mut out, data, Numbers::Float64);
        out.push('}');
    }
    out.push_str(",\"failurePolicy\":");
    match &spec.failure_policy {
        FailurePolicy::Drop => out.push_str("{\"drop\":{}}"),
        FailurePolicy::Constant {
            interval_nanos,
            max_retries,
        } => {
            out.push_str("{\"constant\":{\"interval\":");
            go_json::write_string(
                &mut out,
                &format_proto_duration(chrono::Duration::nanoseconds(*interval_nanos)),
            );
            if let Some(max) = max_retries {
                out.push_str(&format!(",\"maxRetries\":{max}"));
            }
            out.push_str("}}");
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_and_camel_case_bodies_read_the_same() {
        let camel = parse_request(
            br#"{"dueTime":"1s","failurePolicy":{"constant":{"interval":"2s","maxRetries":"5"}}}"#,
        )
        .expect("camel");
        let snake = parse_request(
            br#"{"due_time":"1s","failure_policy":{"constant":{"interval":"2s","max_retries":5}}}"#,
        )
        .expect("snake");
        assert_eq!(camel.spec, snake.spec);
        assert!(parse_request(br#"{"dueTime":"1s","due_time":"2s"}"#).is_err());
        assert!(parse_request(br#"{"dueTime":"1s","repeats":-1}"#).is_err());
        assert!(parse_request(b"[1]").is_err());
    }
}
