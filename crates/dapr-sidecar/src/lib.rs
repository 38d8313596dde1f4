//! An embedded sidecar that answers the Dapr HTTP API as daprd (1.16–1.18) does, so the same
//! component behaves the same against it as against a real sidecar in a pod.
//!
//! What it answers, and what it does in the background once [`Sidecar::start`]ed:
//!
//! - the State API, with transactions, ETags and TTLs ([`state`]);
//! - Publish and Bulk Publish, and delivery to subscribed apps: declarative subscriptions from
//!   the resources folder and programmatic ones from each app's `GET /dapr/subscribe`, routing
//!   rules, retries per the Resiliency policy, dead-letter topics ([`pubsub`]);
//! - the Jobs API and its scheduler (`jobs`);
//! - service invocation, with the access control of `kind: Configuration` (`invoke`);
//! - the Secrets API over `secretstores.local.file` / `local.env` components (`secrets`);
//! - health (`/v1.0/healthz`) and metadata (`/v1.0/metadata`), and Prometheus [`metrics`].
//!
//! State, messages and jobs are kept in SQLite files under [`SidecarConfig::data_dir`] across
//! restarts, or in memory without one. Calls into apps go through an [`AppChannel`] the host
//! provides; "now" comes from an injectable [`Clock`] ([`ManualClock`] in tests). Status codes,
//! error codes, error bodies and CloudEvent envelopes follow daprd's source; each module names
//! the files it mirrors. The `testing` feature adds the `testing` module: fakes for tests that
//! run a sidecar.
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
mod durable;
mod error;
mod faults;
mod go_duration;
mod go_json;
mod health;
mod invoke;
mod jobs;
pub mod metrics;
pub mod pubsub;
mod request;
pub mod resources;
mod router;
mod secrets;
pub mod state;
#[cfg(feature = "testing")]
pub mod testing;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

pub use app_channel::{AppCallError, AppCallFuture, AppChannel, NoApps};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{ApiError, StoreError};
pub use faults::Faults;
pub use metrics::Metrics;
pub use pubsub::{DeadLetter, PublishedMessage, ReplayError, SubscriptionInfo, SubscriptionKind};
pub use resources::{ResourceError, Resources};
pub use state::{
    Concurrency, InMemoryStateStore, KeyPrefix, SqliteStateStore, StateStore, StateStoreConfig,
    StoredItem, WriteOp,
};

use pubsub::{Broker, BrokerConfig};
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
    /// A resource in the resources folder (a component, subscription, resiliency or
    /// configuration) is invalid, or a secret store cannot be read.
    #[error("resources: {0}")]
    Resources(String),
}

/// Which components the sidecar has, and its clock.
#[derive(Clone)]
pub struct SidecarConfig {
    pub state_stores: Vec<StateStoreConfig>,
    /// Pub/sub component names.
    pub pubsubs: Vec<String>,
    /// Time source for TTLs, CloudEvent times and expiry, job due times.
    pub clock: Arc<dyn Clock>,
    /// How the sidecar calls into apps (deliveries, job triggers, invocation).
    pub app_channel: Arc<dyn AppChannel>,
    /// The app ids behind `app_channel` (each gets `GET /dapr/subscribe` at start).
    pub apps: Vec<String>,
    /// Where acknowledged state, messages and jobs are kept across restarts (SQLite files);
    /// `None` keeps everything in memory (`--ephemeral`, tests).
    pub data_dir: Option<std::path::PathBuf>,
    /// A Dapr resources folder (the repo's `dapr/`): declarative subscriptions, resiliency,
    /// configurations (access control), secret stores; a `dapr run -f` file in it says which
    /// Configuration each app runs with (`configFilePath`). `None` = none of those.
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
    pub(crate) broker: Broker,
    /// The resources folder as loaded (empty without one).
    pub(crate) resources: Arc<Resources>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) faults: Faults,
    pub(crate) app_channel: Arc<dyn AppChannel>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) apps: Vec<String>,
    pub(crate) app_api_token: Option<String>,
    pub(crate) jobs: Arc<jobs::Jobs>,
    pub(crate) secrets: secrets::SecretStores,
    pub(crate) access: invoke::AccessPolicies,
    pub(crate) started: AtomicBool,
    /// The job scheduler task, aborted when the last clone of the sidecar is dropped.
    pub(crate) scheduler: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.scheduler.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
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
    /// `synchronous=NORMAL`, the WAL fsynced in the background at most once a second), its
    /// messages in `<data_dir>/pubsub.db` and its jobs in `<data_dir>/jobs.db` (the same), or in memory when `data_dir` is `None`; subscriptions, resiliency
    /// policies, secret stores and access control come from `resources_dir`.
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
                Some(path) => {
                    Arc::new(SqliteStateStore::open(path, &store.name).map_err(|err| {
                        SidecarError::Storage {
                            path: path.clone(),
                            message: err.to_string(),
                        }
                    })?)
                }
                None => Arc::new(InMemoryStateStore::new()),
            };
            state_stores.insert(store.name.clone(), (store, backend));
        }
        let jobs = match &config.data_dir {
            Some(dir) => {
                let path = dir.join("jobs.db");
                jobs::Jobs::open(&path)
                    .map_err(|message| SidecarError::Storage { path, message })?
            }
            None => jobs::Jobs::in_memory(),
        };
        let resources = Arc::new(match &config.resources_dir {
            Some(dir) => {
                Resources::load(dir).map_err(|err| SidecarError::Resources(err.to_string()))?
            }
            None => Resources::default(),
        });
        let secrets = match &config.resources_dir {
            Some(dir) => secrets::SecretStores::from_resources(&resources, dir)
                .map_err(SidecarError::Resources)?,
            None => secrets::SecretStores::default(),
        };
        let access = invoke::AccessPolicies::from_resources(&resources);
        let metrics = Arc::new(Metrics::default());
        // Every call into an app is counted, whoever makes it (daprd's app channel metrics).
        let app_channel: Arc<dyn AppChannel> = Arc::new(app_channel::Metered {
            inner: config.app_channel.clone(),
            metrics: metrics.clone(),
        });
        let broker = Broker::open(BrokerConfig {
            pubsubs: config.pubsubs.clone(),
            apps: config.apps.clone(),
            data_dir: config.data_dir.as_deref(),
            resources: resources.clone(),
            app_channel: app_channel.clone(),
            app_api_token: config.app_api_token.clone(),
            clock: config.clock.clone(),
            metrics: metrics.clone(),
        })
        .map_err(|message| SidecarError::Storage {
            path: config
                .data_dir
                .clone()
                .unwrap_or_default()
                .join("pubsub.db"),
            message,
        })?;
        Ok(Sidecar {
            inner: Arc::new(Inner {
                state_stores,
                pubsubs: config.pubsubs.into_iter().collect(),
                broker,
                resources,
                clock: config.clock,
                faults: Faults::default(),
                app_channel,
                metrics,
                apps: config.apps,
                app_api_token: config.app_api_token,
                jobs: Arc::new(jobs),
                secrets,
                access,
                started: AtomicBool::new(false),
                scheduler: Mutex::new(None),
            }),
        })
    }

    /// Answers one Dapr HTTP API request made by the app `app_id` (the caller's identity: it
    /// prefixes state keys and is the `source` of published events).
    pub async fn handle(&self, app_id: &str, req: http::Request<Bytes>) -> http::Response<Bytes> {
        let started = std::time::Instant::now();
        let uri = req.uri().clone();
        let req = ApiRequest::new(req);
        let response = router::route(&self.inner, app_id, &req, &uri)
            .await
            .unwrap_or_else(ApiError::into_response);
        self.inner.metrics.record_api_request(
            app_id,
            req.method.as_str(),
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0,
        );
        response
    }

    /// Start the background work: subscription discovery and message delivery, the job
    /// scheduler. Needs a tokio runtime. Without it the sidecar still answers the API (tests of
    /// the API alone do not call it).
    ///
    /// The job scheduler is a task that, every 50 ms of real time, triggers the jobs due at the
    /// injected clock's "now" (so a moved test clock is noticed within ~50 ms); it stops when
    /// the last clone of the sidecar is dropped. Calling `start` again does not start a second
    /// scheduler. `/v1.0/healthz` answers 204 from here on.
    pub fn start(&self) {
        self.inner.broker.start();
        {
            let mut scheduler = self
                .inner
                .scheduler
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if scheduler.is_none()
                && let Ok(runtime) = tokio::runtime::Handle::try_current()
            {
                let task = runtime.spawn(self.job_trigger().run_forever());
                *scheduler = Some(task.abort_handle());
            }
        }
        self.inner.started.store(true, Ordering::SeqCst);
    }

    /// Runs one job scheduler pass now and waits for its triggers (and their outcomes) to
    /// finish: every job due at the clock's "now" is triggered once. For tests that move a
    /// manual clock and want determinism without [`Sidecar::start`]'s background task.
    pub async fn run_due_jobs_now(&self) {
        self.job_trigger().run_due().await;
    }

    fn job_trigger(&self) -> jobs::Trigger {
        jobs::Trigger {
            jobs: self.inner.jobs.clone(),
            clock: self.inner.clock.clone(),
            channel: self.inner.app_channel.clone(),
            metrics: self.inner.metrics.clone(),
            app_api_token: self.inner.app_api_token.clone(),
        }
    }

    /// Scheduled jobs as `(app id, job name)`, sorted.
    pub fn job_names(&self) -> Vec<(String, String)> {
        self.inner
            .jobs
            .all()
            .into_iter()
            .map(|job| (job.app_id, job.name))
            .collect()
    }

    /// The messages accepted by publish (and republished to dead-letter topics), in order: the
    /// last 10,000 of this run, after those still in the stored log at start (with a data dir).
    pub fn published(&self) -> Vec<PublishedMessage> {
        self.inner.broker.messages()
    }

    /// How many messages the pub/sub log holds. It is trimmed as deliveries settle: a message
    /// stays only while a subscribed app has not yet settled it or a dead letter keeps it.
    pub fn pubsub_log_len(&self) -> usize {
        self.inner.broker.log_len()
    }

    /// How many deliveries are still to be made: one per subscriber of a message that it has not
    /// yet settled (acknowledged, dropped or dead-lettered), plus, until [`Sidecar::start`] has
    /// collected the subscriptions, one per message waiting to be fanned out. A delivery stays
    /// pending while its app is being called and while it waits for a retry, so at 0 every
    /// delivery of every message published so far has been made and settled: nothing more is
    /// delivered until the next publish or [`Sidecar::replay_dead_letter`]. (Deliveries left by
    /// an earlier run for an app that no longer subscribes stay pending.)
    pub fn pending_deliveries(&self) -> usize {
        self.inner.broker.pending()
    }

    /// Messages that could not be delivered and were republished on their subscription's
    /// dead-letter topic, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.inner.broker.dead_letters()
    }

    /// Delivers dead letter `id` again to the subscription it failed for (at the end of that
    /// subscription's queue) and removes it from [`Sidecar::dead_letters`].
    pub fn replay_dead_letter(&self, id: u64) -> Result<(), ReplayError> {
        self.inner.broker.replay_dead_letter(id)
    }

    /// The pub/sub subscriptions of app `app_id` (before [`Sidecar::start`]: the declarative
    /// ones only).
    pub fn subscriptions(&self, app_id: &str) -> Vec<SubscriptionInfo> {
        self.inner.broker.subscriptions_of(app_id)
    }

    /// The resources folder as loaded (empty without `resources_dir`).
    pub fn resources(&self) -> &Resources {
        &self.inner.resources
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
