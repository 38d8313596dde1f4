//! chat-api tested as it ships: the release `.wasm` in wasmtime, its Dapr calls answered by the
//! embedded sidecar in process. One binary, so wasmtime links once and the component compiles once.
mod chat;
mod chat_llm;
mod concurrency;
mod occurrences;
mod outbox;
mod reminders;
mod support;
mod tasks;
