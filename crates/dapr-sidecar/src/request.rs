//! Reading a request the way daprd's router and handlers do: path cleaning (`CleanPath` +
//! `StripSlashes` middlewares), URL parameter unescaping (`url.QueryUnescape`), query-string
//! metadata (`metadata.<k>=v`, first value wins) and Go-like JSON body decoding.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ApiError;

const METADATA_PREFIX: &str = "metadata.";

/// The parts of an HTTP request the handlers look at.
#[derive(Debug)]
pub(crate) struct ApiRequest {
    pub method: Method,
    /// Path segments after cleaning, still percent-encoded (unescape with [`param`]).
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiRequest {
    pub fn new(req: Request<Bytes>) -> Self {
        let (parts, body) = req.into_parts();
        ApiRequest {
            method: parts.method,
            segments: clean_segments(parts.uri.path()),
            query: parts.uri.query().map(parse_query).unwrap_or_default(),
            headers: parts.headers,
            body,
        }
    }

    /// The first value of query parameter `name` (Go `url.Values.Get`), or "".
    pub fn query_param(&self, name: &str) -> &str {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// `metadata.<k>=v` query parameters as component metadata `k=v` (daprd
    /// `getMetadataFromRequest`: the first value of each key wins).
    pub fn metadata(&self) -> BTreeMap<String, String> {
        let mut metadata = BTreeMap::new();
        for (key, value) in &self.query {
            if let Some(k) = key.strip_prefix(METADATA_PREFIX) {
                metadata
                    .entry(k.to_owned())
                    .or_insert_with(|| value.clone());
            }
        }
        metadata
    }

    /// A header value as a string ("" when absent or not text).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Metadata as a JSON object, for error details.
pub(crate) fn metadata_json(metadata: &BTreeMap<String, String>) -> Map<String, Value> {
    metadata
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// Unescapes one URL parameter with Go's `url.QueryUnescape` rules (`+` is a space; a bad `%`
/// escape is an error), as daprd does for every route parameter.
pub(crate) fn param(name: &str, raw: &str) -> Result<String, ApiError> {
    query_unescape(raw).map_err(|err| ApiError::bad_url_parameter(name, &err))
}

/// Go's `path.Clean` followed by stripping slashes: empty and `.` segments vanish, `..` pops.
fn clean_segments(path: &str) -> Vec<String> {
    let mut segments: Vec<String> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s.to_owned()),
        }
    }
    segments
}

/// Go's `url.ParseQuery`, keeping order and silently dropping pairs it would reject.
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((query_unescape(k).ok()?, query_unescape(v).ok()?))
        })
        .collect()
}

fn query_unescape(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
                let Some(hex) = hex else {
                    let end = (i + 3).min(bytes.len());
                    return Err(format!(
                        "invalid URL escape {:?}",
                        String::from_utf8_lossy(&bytes[i..end])
                    ));
                };
                let hex = std::str::from_utf8(hex).map_err(|e| e.to_string())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Decodes the first JSON value of `body` like Go's `json.NewDecoder(body).Decode(&v)`: trailing
/// bytes after that value are ignored and an empty body is the error `EOF`.
pub(crate) fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    match serde_json::Deserializer::from_slice(body)
        .into_iter::<T>()
        .next()
    {
        Some(result) => result.map_err(|e| e.to_string()),
        None => Err("EOF".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_paths_like_daprd_middlewares() {
        assert_eq!(clean_segments("/v1.0//state/./s/"), ["v1.0", "state", "s"]);
        assert_eq!(clean_segments("/v1.0/x/../state"), ["v1.0", "state"]);
    }

    #[test]
    fn unescapes_like_go_query_unescape() {
        assert_eq!(query_unescape("a%2Fb+c").as_deref(), Ok("a/b c"));
        assert!(query_unescape("bad%zz").is_err());
    }

    #[test]
    fn first_metadata_value_wins() {
        let req = ApiRequest::new(
            Request::get("/x?metadata.a=1&metadata.a=2&other=3&metadata.b=%20")
                .body(Bytes::new())
                .expect("request"),
        );
        let metadata = req.metadata();
        assert_eq!(metadata.get("a").map(String::as_str), Some("1"));
        assert_eq!(metadata.get("b").map(String::as_str), Some(" "));
        assert_eq!(metadata.len(), 2);
    }

    #[test]
    fn decodes_only_the_first_json_value() {
        assert_eq!(decode_json::<Vec<u8>>(b"[1] trailing"), Ok(vec![1]));
        assert_eq!(decode_json::<Vec<u8>>(b"  "), Err("EOF".to_owned()));
    }
}
