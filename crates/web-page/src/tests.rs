use super::*;

static ASSETS: &[Asset] = &[
    Asset::new(
        "/index.html",
        "text/html; charset=utf-8",
        b"<!doctype html>",
    ),
    Asset::new(
        "/app.js",
        "text/javascript; charset=utf-8",
        b"'use strict';",
    ),
];
const SITE: Site = Site::new(ASSETS);

fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Response<Vec<u8>> {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    SITE.respond(&builder.body(()).unwrap())
}

fn header<'a>(response: &'a Response<Vec<u8>>, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[test]
fn the_root_and_files_are_served_with_their_type_and_validators() {
    for path in ["/", "/index.html", "/?signed-out=1"] {
        let r = request("GET", path, &[]);
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.body(), b"<!doctype html>", "{path}");
        assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&r, "cache-control"), "no-cache");
        assert_eq!(
            header(&r, "etag"),
            format!("\"{:016x}\"", fnv1a(b"<!doctype html>"))
        );
    }
    let js = request("GET", "/app.js", &[]);
    assert_eq!(js.body(), b"'use strict';");
    assert_eq!(
        header(&js, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_ne!(header(&js, "etag"), ASSETS[0].etag());
}

#[test]
fn every_answer_carries_the_security_headers() {
    for r in [
        request("GET", "/", &[]),
        request("GET", "/missing.js", &[]),
        request("POST", "/", &[]),
    ] {
        let csp = header(&r, "content-security-policy");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("connect-src 'self'"), "{csp}");
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        assert_eq!(header(&r, "referrer-policy"), "no-referrer");
    }
}

#[test]
fn a_matching_if_none_match_gets_304_without_a_body() {
    let etag = ASSETS[1].etag();
    for value in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"x\", {etag}"),
        "*".into(),
    ] {
        let r = request("GET", "/app.js", &[("if-none-match", &value)]);
        assert_eq!(r.status(), 304, "{value}");
        assert!(r.body().is_empty());
        assert_eq!(header(&r, "etag"), etag);
    }
    let stale = request(
        "GET",
        "/app.js",
        &[("if-none-match", "\"0000000000000000\"")],
    );
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.body(), b"'use strict';");
}

#[test]
fn unknown_paths_are_404_and_other_methods_405() {
    for path in [
        "/missing.js",
        "/index.html/",
        "/app.js/x",
        "/dapr/subscribe",
        "//",
    ] {
        let r = request("GET", path, &[]);
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(header(&r, "content-type"), "text/plain; charset=utf-8");
    }
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let r = request(method, "/", &[]);
        assert_eq!(r.status(), 405, "{method}");
        assert_eq!(header(&r, "allow"), "GET, HEAD");
    }
}

#[test]
fn head_answers_like_get_without_the_body() {
    let get = request("GET", "/app.js", &[]);
    let head = request("HEAD", "/app.js", &[]);
    assert_eq!(head.status(), 200);
    assert!(head.body().is_empty());
    assert_eq!(head.headers(), get.headers());
    assert_eq!(request("HEAD", "/nope", &[]).status(), 404);
    assert!(request("HEAD", "/nope", &[]).body().is_empty());
}

#[test]
fn content_types_follow_the_extension() {
    assert_eq!(content_type_of("index.html"), "text/html; charset=utf-8");
    assert_eq!(content_type_of("app.js"), "text/javascript; charset=utf-8");
    assert_eq!(content_type_of("style.css"), "text/css; charset=utf-8");
    assert_eq!(content_type_of("logo.svg"), "image/svg+xml");
    assert_eq!(content_type_of("README"), "application/octet-stream");
}

#[test]
fn the_hash_is_fnv1a_64() {
    // Published FNV-1a 64 test vectors.
    assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
}
