//! The web component's service: a fixed set of files, embedded in the component at build time,
//! answered by path. No I/O: the component hands in the request and sends back the response.
//!
//! - `GET`/`HEAD` only (`405` with `Allow` otherwise); `/` is `index.html`; any other path that is
//!   not a file → `404`. The query string is ignored.
//! - Every answer carries a strict Content-Security-Policy (same-origin scripts, styles and
//!   `fetch` only; no inline code, no frames), `X-Content-Type-Options: nosniff` and
//!   `Referrer-Policy: no-referrer`.
//! - Files are `Cache-Control: no-cache` with a strong `ETag` (a hash of the bytes, computed at
//!   compile time): browsers revalidate on every load and get `304` while the file is unchanged,
//!   so a new deployment is seen at once without fingerprinted file names.

use http::{HeaderValue, Method, Request, Response, StatusCode, header};

/// The Content-Security-Policy of every answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// The URL path it is served at (`/app.js`).
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    /// FNV-1a 64 of `body`, the `ETag`'s value.
    pub hash: u64,
}

impl Asset {
    /// `const`, so the hash is computed when the component is compiled.
    pub const fn new(path: &'static str, content_type: &'static str, body: &'static [u8]) -> Self {
        Self {
            path,
            content_type,
            body,
            hash: fnv1a(body),
        }
    }

    /// `"<16 hex digits>"`, quotes included.
    pub fn etag(&self) -> String {
        format!("\"{:016x}\"", self.hash)
    }
}

/// FNV-1a, 64 bits: enough to tell versions of a file apart (an ETag, not a security check).
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The `Content-Type` for a file name, by its extension (the few kinds a page needs); `const`,
/// so a component's file table is built at compile time.
pub const fn content_type_of(file_name: &str) -> &'static str {
    let name = file_name.as_bytes();
    if ends_with(name, b".html") {
        "text/html; charset=utf-8"
    } else if ends_with(name, b".js") || ends_with(name, b".mjs") {
        "text/javascript; charset=utf-8"
    } else if ends_with(name, b".css") {
        "text/css; charset=utf-8"
    } else if ends_with(name, b".json") {
        "application/json"
    } else if ends_with(name, b".svg") {
        "image/svg+xml"
    } else if ends_with(name, b".png") {
        "image/png"
    } else if ends_with(name, b".txt") {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

const fn ends_with(text: &[u8], suffix: &[u8]) -> bool {
    if suffix.len() > text.len() {
        return false;
    }
    let start = text.len() - suffix.len();
    let mut i = 0;
    while i < suffix.len() {
        if text[start + i] != suffix[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The files of a site, looked up by request path.
#[derive(Debug, Clone, Copy)]
pub struct Site {
    assets: &'static [Asset],
}

impl Site {
    pub const fn new(assets: &'static [Asset]) -> Self {
        Self { assets }
    }

    /// The file served at `path`: `/` is `/index.html`.
    pub fn find(&self, path: &str) -> Option<&'static Asset> {
        let path = if path == "/" { "/index.html" } else { path };
        self.assets.iter().find(|a| a.path == path)
    }

    /// The answer to `request`.
    pub fn respond<B>(&self, request: &Request<B>) -> Response<Vec<u8>> {
        let method = request.method();
        if method != Method::GET && method != Method::HEAD {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return head_stripped(method, response);
        }
        let Some(asset) = self.find(request.uri().path()) else {
            return head_stripped(method, plain(StatusCode::NOT_FOUND, "Not Found\n"));
        };
        let etag = asset.etag();
        let unchanged = request
            .headers()
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| if_none_match_matches(v, &etag));
        let (status, body) = if unchanged {
            (StatusCode::NOT_MODIFIED, Vec::new())
        } else {
            (StatusCode::OK, asset.body.to_vec())
        };
        let mut response = with_common_headers(Response::new(body), status);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(
            header::ETAG,
            HeaderValue::from_str(&etag).expect("hex digits and quotes"),
        );
        head_stripped(method, response)
    }
}

/// `If-None-Match` (a list of ETags, possibly weak, or `*`) names `etag`: GET and HEAD compare
/// weakly (RFC 9110 §13.1.2).
fn if_none_match_matches(header_value: &str, etag: &str) -> bool {
    header_value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

fn plain(status: StatusCode, text: &'static str) -> Response<Vec<u8>> {
    let mut response = with_common_headers(Response::new(text.as_bytes().to_vec()), status);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn with_common_headers(mut response: Response<Vec<u8>>, status: StatusCode) -> Response<Vec<u8>> {
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// HEAD: the GET answer's status and headers, no body.
fn head_stripped(method: &Method, mut response: Response<Vec<u8>>) -> Response<Vec<u8>> {
    if method == Method::HEAD {
        response.body_mut().clear();
    }
    response
}

#[cfg(test)]
mod tests;
