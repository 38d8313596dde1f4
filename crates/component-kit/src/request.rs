//! Reading the parts of a request: body, headers and query string, with clear errors.
use crate::ApiError;
use serde_json::Value;
use todo_domain::FieldError;

/// Bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A header's value, when present and visible ASCII.
pub fn header<'a>(request: &'a http::Request<Vec<u8>>, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The JSON body of a write: size limit, media type, then syntax.
pub fn json_body(request: &http::Request<Vec<u8>>) -> Result<Value, ApiError> {
    let declared = header(request, "content-length").and_then(|v| v.parse::<usize>().ok());
    if request.body().len() > MAX_BODY_BYTES || declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    let media_type = header(request, "content-type")
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if media_type != "application/json"
        && !(media_type.starts_with("application/") && media_type.ends_with("+json"))
    {
        return Err(ApiError::UnsupportedMediaType);
    }
    let value: Value = serde_json::from_slice(request.body())
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    if !value.is_object() {
        return Err(ApiError::MalformedJson(
            "the body must be a JSON object".to_owned(),
        ));
    }
    Ok(value)
}

/// The path's segments after the leading `/`, a trailing `/` ignored: `/api/tasks/` →
/// `["api", "tasks"]`. Routes match on the slice.
pub fn path_segments(request: &http::Request<Vec<u8>>) -> Vec<&str> {
    request
        .uri()
        .path()
        .trim_end_matches('/')
        .split('/')
        .skip(1)
        .collect()
}

/// Decoded query-string pairs.
pub fn query_pairs(request: &http::Request<Vec<u8>>) -> Vec<(String, String)> {
    request
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// The version an `If-Match` header requires: `None` = no precondition or `*`. Accepted is what
/// `api/openapi.json` documents (`^(\*|(W/)?"[0-9]{1,19}")$`): `*` or one ETag as this API
/// sends it (`"3"`, weak form allowed); anything else, empty or not visible ASCII → 400
/// naming `If-Match`, never a silently unconditional write.
pub fn if_match(request: &http::Request<Vec<u8>>) -> Result<Option<u64>, ApiError> {
    let Some(raw) = request.headers().get("if-match") else {
        return Ok(None);
    };
    let malformed = || -> ApiError {
        FieldError::new(
            "If-Match",
            "must be * or an ETag returned by this API, e.g. \"3\"",
        )
        .into()
    };
    let raw = raw.to_str().map_err(|_| malformed())?;
    if raw == "*" {
        return Ok(None);
    }
    let digits = raw
        .strip_prefix("W/")
        .unwrap_or(raw)
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .filter(|d| (1..=19).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(malformed)?;
    digits.parse::<u64>().map(Some).map_err(|_| malformed())
}

/// The `ETag` of a document version: `"3"`, quotes included.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_ignore_the_leading_and_a_trailing_slash() {
        let request = |path: &str| http::Request::get(path).body(Vec::new()).unwrap();
        assert_eq!(path_segments(&request("/api/tasks/")), ["api", "tasks"]);
        assert_eq!(
            path_segments(&request("/job/outbox-sweep")),
            ["job", "outbox-sweep"]
        );
        assert!(path_segments(&request("/")).is_empty());
    }

    #[test]
    fn if_match_takes_star_or_one_etag_and_refuses_the_rest() {
        let request = |value: &[u8]| {
            http::Request::delete("/api/tasks/x")
                .header("if-match", http::HeaderValue::from_bytes(value).unwrap())
                .body(Vec::new())
                .unwrap()
        };
        assert_eq!(if_match(&request(b"*")).unwrap(), None);
        assert_eq!(if_match(&request(b"\"3\"")).unwrap(), Some(3));
        assert_eq!(if_match(&request(b"W/\"12\"")).unwrap(), Some(12));
        for bad in [
            &b""[..],
            b"3",
            b"\"\"",
            b"\"3",
            b"\"3\", \"4\"",
            b"\"-1\"",
            b"\"99999999999999999999\"",
            b"**",
            b"\xc3\xa9",
        ] {
            let err = if_match(&request(bad)).unwrap_err();
            assert_eq!(err.status(), 400, "{bad:?}");
        }
        let none = http::Request::get("/").body(Vec::new()).unwrap();
        assert_eq!(if_match(&none).unwrap(), None);
    }
}
