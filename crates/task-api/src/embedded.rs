//! What chat-api embeds from the contract files, minified or derived and then deflated by
//! `build.rs`: deflated, the OpenAPI document takes a fifth of its minified size in the
//! component. Both are inflated when asked for: the OpenAPI route and the LLM client are rare
//! next to the task routes.

/// `api/openapi.json`, minified (the member order and every string as written).
pub fn openapi_json() -> Vec<u8> {
    inflate(include_bytes!(concat!(
        env!("OUT_DIR"),
        "/openapi.json.deflate"
    )))
}

/// The chat tools' definitions for an LLM ([`crate::chat::tools::definitions`]).
pub fn tool_definitions_json() -> Vec<u8> {
    inflate(include_bytes!(concat!(
        env!("OUT_DIR"),
        "/tools.json.deflate"
    )))
}

fn inflate(deflated: &[u8]) -> Vec<u8> {
    miniz_oxide::inflate::decompress_to_vec(deflated).expect("build.rs deflated it")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn the_openapi_document_is_api_openapi_json_minified() {
        let served = openapi_json();
        let file = include_str!("../../../api/openapi.json");
        let parse = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).unwrap();
        assert_eq!(parse(&served), parse(file.as_bytes()));
        assert!(served.len() < file.len() * 3 / 4, "{} bytes", served.len());
        assert!(!served.contains(&b'\n'));
    }
}
