//! Writes to `OUT_DIR` what chat-api embeds from the contract files, deflated (`*.deflate`, see
//! `src/embedded.rs`): `openapi.json` (`api/openapi.json` minified, served at
//! `GET /api/openapi.json`) and `tools.json` (the chat tools' definitions for an LLM, derived
//! from the schemas and the OpenAPI document). Doing this here rather than at run time keeps the
//! schema files and the pretty-printed OpenAPI document out of chat-api.wasm.
use std::path::{Path, PathBuf};

#[path = "src/chat/tool_schemas.rs"]
mod tool_schemas;

/// miniz_oxide's best (and slowest) compression.
const LEVEL: u8 = 10;

fn read(path: &Path) -> String {
    println!("cargo::rerun-if-changed={}", path.display());
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write_deflated(path: &Path, text: &str) {
    let deflated = miniz_oxide::deflate::compress_to_vec(text.as_bytes(), LEVEL);
    let inflated = miniz_oxide::inflate::decompress_to_vec(&deflated).expect("just deflated");
    assert!(
        inflated == text.as_bytes(),
        "deflating changed {}",
        path.display()
    );
    std::fs::write(path, deflated).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn main() {
    println!("cargo::rerun-if-changed=src/chat/tool_schemas.rs");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest.join("../..");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));

    let openapi = read(&root.join("api/openapi.json"));
    let minified = tool_schemas::minify_json(&openapi);
    let parse = |text: &str| -> serde_json::Value {
        serde_json::from_str(text).expect("api/openapi.json is JSON")
    };
    assert!(
        parse(&minified) == parse(&openapi),
        "minifying changed api/openapi.json"
    );
    write_deflated(&out.join("openapi.json.deflate"), &minified);

    let schemas = root.join("schemas");
    let tools = tool_schemas::definitions(&tool_schemas::ContractFiles {
        task: &read(&schemas.join("task.schema.json")),
        task_create: &read(&schemas.join("task-create.schema.json")),
        task_patch: &read(&schemas.join("task-patch.schema.json")),
        openapi: &openapi,
    });
    write_deflated(&out.join("tools.json.deflate"), &tools.to_string());
}
