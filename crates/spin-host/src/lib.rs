//! Runs Spin HTTP components in wasmtime, routing their outbound calls.
