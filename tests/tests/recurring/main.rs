//! recurring-task-service as it ships (the release `.wasm` in wasmtime): alone against a scripted
//! chat-api behind the embedded sidecar (`component`), and together with chat-api on the
//! in-process stack `todo-dev` runs (`flow`): exactly one successor per occurrence, whatever
//! happens to the `task.completed` event; and with audit-service too (`audit_trail`): one audit
//! entry per effective change.
mod audit_trail;
mod component;
mod flow;
// Shared with benches/recurring.rs: each of the two uses its own part of it.
#[allow(dead_code)]
mod stack;
