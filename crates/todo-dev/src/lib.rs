//! The parts of `todo-dev` its tests also drive in process: the HTTP server, the components'
//! outbound handler, the Dapr API port, and `todo-dev sidecar`'s pieces (the `dapr run -f` file,
//! the app channel over HTTP, the sidecar serving one Dapr port per app). The commands themselves
//! are in the binary (`main.rs`). See docs/running-locally.md.

pub mod dapr_api;
pub mod external;
pub mod http_channel;
pub mod outbound;
pub mod run_file;
pub mod server;
