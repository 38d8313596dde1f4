//! The web Spin component: a thin adapter from Spin's HTTP types to `web_page`. The page's files
//! (`static/`) are compiled into the .wasm: our host does not serve Spin's `files` mounts, and a
//! prebuilt file-server component cannot be fetched everywhere this app is built.
// `#[http_component]` expands to the unsafe canonical-ABI export glue; our own code has none.
#![allow(unsafe_code)]
use spin_sdk::http_component;
use web_page::{Asset, Site, content_type_of};

/// `asset!("app.js")`: `static/app.js`, served at `/app.js`.
macro_rules! asset {
    ($name:literal) => {
        Asset::new(
            concat!("/", $name),
            content_type_of($name),
            include_bytes!(concat!("../static/", $name)),
        )
    };
}

static ASSETS: [Asset; 3] = [asset!("index.html"), asset!("app.js"), asset!("style.css")];
const SITE: Site = Site::new(&ASSETS);

#[http_component]
fn handle(request: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    SITE.respond(&request)
}
