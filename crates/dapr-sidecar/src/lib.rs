//! An embedded sidecar that answers the Dapr HTTP API as daprd (1.16–1.18) does, so the same
//! component behaves the same against it as against a real sidecar in a pod.
//!
//! Today: the State API and Publish (single and bulk), in memory. Status codes, error codes,
//! error bodies and CloudEvent envelopes follow daprd's source; see each module for the files
//! they mirror. Later: subscriptions and delivery, jobs, invocation, secrets, persistence.
//!
//! ```
//! # tokio_test_block_on(async {
//! use dapr_sidecar::{Sidecar, SidecarConfig};
//! let sidecar = Sidecar::new(SidecarConfig::default());
//! let req = http::Request::post("/v1.0/state/statestore")
//!     .body(bytes::Bytes::from_static(br#"[{"key":"k","value":"v"}]"#))
//!     .unwrap();
//! assert_eq!(sidecar.handle("app", req).await.status(), 204);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

pub mod app_channel;
mod clock;
mod error;
mod faults;
mod go_json;
pub mod metrics;
pub mod pubsub;
mod request;
mod router;
pub mod state;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

pub use app_channel::{AppCallError, AppCallFuture, AppChannel, NoApps};
pub use clock::{Clock, SystemClock};
pub use error::{ApiError, StoreError};
pub use faults::Faults;
pub use metrics::Metrics;
pub use pubsub::PublishedMessage;
pub use state::{
    Concurrency, InMemoryStateStore, KeyPrefix, SqliteStateStore, StateStore, StateStoreConfig,
    StoredItem, WriteOp,
};

use pubsub::InMemoryBroker;
use request::ApiRequest;

/// Why a sidecar could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    /// The data directory or one of its SQLite files could not be opened.
    #[error("cannot open {path}: {message}")]
    Storage {
        path: std::path::PathBuf,
        message: String,
    },
}

/// Which components the sidecar has, and its clock.
#[derive(Clone)]
pub struct SidecarConfig {
    pub state_stores: Vec<StateStoreConfig>,
    /// Pub/sub component names.
    pub pubsubs: Vec<String>,
    /// Time source for TTLs and CloudEvent times.
    pub clock: Arc<dyn Clock>,
    /// How the sidecar calls into apps (deliveries, job triggers, invocation).
    pub app_channel: Arc<dyn AppChannel>,
    /// The app ids behind `app_channel` (each gets `GET /dapr/subscribe` at start).
    pub apps: Vec<String>,
    /// Where acknowledged state, messages and jobs are kept across restarts (SQLite files);
    /// `None` keeps everything in memory (`--ephemeral`, tests).
    pub data_dir: Option<std::path::PathBuf>,
    /// A Dapr resources folder (the repo's `dapr/`): declarative subscriptions, resiliency,
    /// configurations (access control), secret stores. `None` = none of those.
    pub resources_dir: Option<std::path::PathBuf>,
    /// Sent as `dapr-api-token` on every call into an app (daprd's `APP_API_TOKEN`).
    pub app_api_token: Option<String>,
}

impl Default for SidecarConfig {
    /// One state store `statestore` (keys prefixed by app id), one pub/sub `pubsub`, wall clock:
    /// the components `dapr init` sets up.
    fn default() -> Self {
        SidecarConfig {
            state_stores: vec![StateStoreConfig::new("statestore")],
            pubsubs: vec!["pubsub".to_owned()],
            clock: Arc::new(SystemClock),
            app_channel: Arc::new(NoApps),
            apps: Vec::new(),
            data_dir: None,
            resources_dir: None,
            app_api_token: None,
        }
    }
}

impl fmt::Debug for SidecarConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SidecarConfig")
            .field("state_stores", &self.state_stores)
            .field("pubsubs", &self.pubsubs)
            .finish_non_exhaustive()
    }
}

/// The sidecar. Cheap to clone: clones share the same components and data.
#[derive(Clone)]
pub struct Sidecar {
    inner: Arc<Inner>,
}

/// Shared state behind every clone of a [`Sidecar`].
pub(crate) struct Inner {
    pub(crate) state_stores: HashMap<String, (StateStoreConfig, Arc<dyn StateStore>)>,
    pub(crate) pubsubs: BTreeSet<String>,
    pub(crate) broker: InMemoryBroker,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) faults: Faults,
    pub(crate) app_channel: Arc<dyn AppChannel>,
    pub(crate) metrics: Arc<Metrics>,
}

impl fmt::Debug for Sidecar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut stores: Vec<_> = self.inner.state_stores.keys().collect();
        stores.sort();
        f.debug_struct("Sidecar")
            .field("state_stores", &stores)
            .field("pubsubs", &self.inner.pubsubs)
            .finish_non_exhaustive()
    }
}

impl Sidecar {
    /// A sidecar as [`Sidecar::try_new`] builds it.
    ///
    /// # Panics
    /// When the data directory or the resources folder cannot be opened (see
    /// [`Sidecar::try_new`] for a fallible constructor).
    pub fn new(config: SidecarConfig) -> Self {
        Self::try_new(config).unwrap_or_else(|err| panic!("dapr sidecar: {err}"))
    }

    /// A sidecar whose state stores keep their data in `<data_dir>/state.db` (SQLite, WAL,
    /// `synchronous=FULL`), or in memory when `data_dir` is `None`.
    pub fn try_new(config: SidecarConfig) -> Result<Self, SidecarError> {
        let state_db = match &config.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|err| SidecarError::Storage {
                    path: dir.clone(),
                    message: err.to_string(),
                })?;
                Some(dir.join("state.db"))
            }
            None => None,
        };
        let mut state_stores = HashMap::new();
        for store in config.state_stores {
            let backend: Arc<dyn StateStore> = match &state_db {
                Some(path) => Arc::new(SqliteStateStore::open(path, &store.name).map_err(
                    |err| SidecarError::Storage {
                        path: path.clone(),
                        message: err.to_string(),
                    },
                )?),
                None => Arc::new(InMemoryStateStore::new()),
            };
            state_stores.insert(store.name.clone(), (store, backend));
        }
        Ok(Sidecar {
            inner: Arc::new(Inner {
                state_stores,
                pubsubs: config.pubsubs.into_iter().collect(),
                broker: InMemoryBroker::default(),
                clock: config.clock,
                faults: Faults::default(),
                app_channel: config.app_channel,
                metrics: Arc::new(Metrics::default()),
            }),
        })
    }

    /// Answers one Dapr HTTP API request made by the app `app_id` (the caller's identity: it
    /// prefixes state keys and is the `source` of published events).
    pub async fn handle(&self, app_id: &str, req: http::Request<Bytes>) -> http::Response<Bytes> {
        let req = ApiRequest::new(req);
        router::route(&self.inner, app_id, &req).unwrap_or_else(ApiError::into_response)
    }

    /// Start the background work: subscription discovery and message delivery, the job
    /// scheduler. Needs a tokio runtime. Without it the sidecar still answers the API (tests of
    /// the API alone do not call it).
    pub fn start(&self) {}

    /// Every message accepted by publish, in order.
    pub fn published(&self) -> Vec<PublishedMessage> {
        self.inner.broker.messages()
    }

    /// The sidecar's metrics (rendered by the host's admin endpoint).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    /// Fault injection for tests.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Every live item of state store `store` by stored key (`appid||key` by default); empty
    /// when there is no such store.
    pub fn state_snapshot(&self, store: &str) -> BTreeMap<String, StoredItem> {
        self.inner
            .state_stores
            .get(store)
            .map(|(_, backend)| backend.snapshot(self.inner.clock.now()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_is_send_sync_and_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<Sidecar>();
    }
}
