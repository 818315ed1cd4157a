//! An in-memory Kubernetes API server for tests, benchmarks and `user-scheduler demo`.
//!
//! # Layout
//! - [`Sandbox`] (this file): start a server on loopback, get a `kube::Client`, seed objects,
//!   read the store and the request log, inject faults, shut down.
//! - [`serve()`] (`serve.rs`): the long-running command behind `user-scheduler sandbox`.
//! - `server.rs`: HTTP routing and responses; `watch.rs`: watch streams; `api.rs`: the API
//!   semantics (create, update, patch, delete, binding, eviction); `discovery.rs`: discovery and
//!   OpenAPI documents.
//! - [`store`]: objects, the global resourceVersion and the bounded event log.
//! - [`resources`]: the table of served kinds (one line per kind).
//! - [`controllers`]: the workload controller, kubelet stand-in and cluster-autoscaler model
//!   ([`Sandbox::start_controllers`]), and the volume provisioner stand-in
//!   ([`Sandbox::start_provisioner`]).
//! - [`selector`], [`patch`], [`validation`], [`events`], [`status`], [`clock`], [`faults`]:
//!   label/field selectors, patch formats, validation, event conversion, `Status` errors, the
//!   scaled clock, fault injection.
//! - [`synthetic`]: seeded, deterministic z2jh-like clusters (nodes and bound pods) and pending
//!   pods, for `user-scheduler sandbox --synthetic-nodes`, the benchmarks and the tests.
//! - `reviews.rs`: TokenReview (tokens given to [`Sandbox::add_token`]) and
//!   SubjectAccessReview (decided by the stored RBAC objects).
//!
//! See `sandbox/README.md` for what is served and what is not emulated.
#![forbid(unsafe_code)]

mod api;
pub mod clock;
pub mod controllers;
mod discovery;
pub mod events;
pub mod faults;
pub mod patch;
pub mod resources;
mod reviews;
mod seed;
pub mod selector;
mod serve;
mod server;
pub mod status;
pub mod store;
pub mod synthetic;
mod table;
pub mod validation;
mod watch;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::task::JoinHandle;

pub use clock::Clock;
pub use faults::Faults;
pub use reviews::TokenUser;
pub use serve::{ServeOptions, serve, serve_until};

use api::Shared;

/// Errors of the sandbox library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address is not a loopback address.
    #[error(
        "refusing to listen on {0}: the sandbox serves plain HTTP without authentication, so it only listens on loopback addresses (127.0.0.0/8 or ::1)"
    )]
    NotLoopback(SocketAddr),
    /// Binding or serving the socket failed.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The server URL could not be parsed.
    #[error("invalid server URL: {0}")]
    Url(String),
    /// Building the kube client failed.
    #[error("building a kube client: {0}")]
    Client(#[from] kube::Error),
    /// A seed document is not valid YAML.
    #[error("parsing seed YAML document {document}: {message}")]
    Yaml {
        /// 1-based index of the document.
        document: usize,
        /// Parser message.
        message: String,
    },
    /// A seed object was rejected.
    #[error("seeding {kind} {name:?}: {source}")]
    Seed {
        /// Kind of the object.
        kind: String,
        /// Name of the object.
        name: String,
        /// Why it was rejected.
        source: Box<status::ApiError>,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Result of the sandbox library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Options of [`Sandbox::start`].
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Address to listen on; must be loopback. Default `127.0.0.1:0` (any free port).
    pub listen: SocketAddr,
    /// How many events the log keeps for watches to resume from. Default 10 000.
    pub event_window: usize,
    /// How much faster than real time the sandbox clock runs (grace periods, timestamps).
    /// Default 1.
    pub time_scale: f64,
    /// Interval between BOOKMARK events on watches that allow them. Default 60 s.
    pub bookmark_interval: Duration,
    /// Namespaces that exist from the start. Default `default`, `kube-system`, `kube-public`,
    /// `kube-node-lease`.
    pub namespaces: Vec<String>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            event_window: 10_000,
            time_scale: 1.0,
            bookmark_interval: Duration::from_secs(60),
            namespaces: ["default", "kube-system", "kube-public", "kube-node-lease"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// One request as the server saw it; resource fields are empty for non-resource URLs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// URL path.
    pub path: String,
    /// Kubernetes verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`); the lowercase HTTP method for non-resource URLs.
    pub verb: String,
    /// API group (`""` for core).
    pub api_group: String,
    /// Resource (`pods`).
    pub resource: String,
    /// Subresource (`binding`, `status`, `eviction`).
    pub subresource: Option<String>,
    /// Namespace in the URL.
    pub namespace: Option<String>,
    /// Object name in the URL.
    pub name: Option<String>,
}

/// A running in-memory API server.
pub struct Sandbox {
    shared: Arc<Shared>,
    addr: SocketAddr,
    client: kube::Client,
    server: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn seed_rng() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

impl Sandbox {
    /// Starts a server on `opts.listen` (loopback only) in the current tokio runtime.
    pub async fn start(opts: SandboxOptions) -> Result<Sandbox> {
        if !opts.listen.ip().is_loopback() {
            return Err(Error::NotLoopback(opts.listen));
        }
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|source| Error::Listen {
                addr: opts.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Listen {
            addr: opts.listen,
            source,
        })?;
        let shared = Arc::new(Shared {
            store: store::Store::new(opts.event_window),
            clock: Clock::new(opts.time_scale),
            faults: faults::FaultState::new(),
            close_watches: tokio::sync::watch::channel(0).0,
            shutdown: tokio::sync::watch::channel(false).0,
            requests: Mutex::new(Vec::new()),
            rng: Mutex::new(seed_rng()),
            bookmark_interval: opts.bookmark_interval.max(Duration::from_millis(10)),
            server_address: addr.to_string(),
            tokens: Mutex::new(std::collections::HashMap::new()),
        });
        shared.store.transact(|txn| {
            for ns in &opts.namespaces {
                txn.put("namespaces", api::namespace_object(&shared, ns));
            }
        });
        let url: http::Uri = format!("http://{addr}")
            .parse()
            .map_err(|e: http::uri::InvalidUri| Error::Url(e.to_string()))?;
        let client = kube::Client::try_from(kube::Config::new(url))?;
        let app = server::router(shared.clone());
        let mut shutdown = shared.shutdown.subscribe();
        let server = tokio::spawn(async move {
            let graceful = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|s| *s).await;
            });
            if let Err(e) = graceful.await {
                tracing::error!(error = %e, "sandbox server stopped");
            }
        });
        tracing::debug!(%addr, "sandbox listening");
        Ok(Sandbox {
            shared,
            addr,
            client,
            server: Some(server),
        })
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A `kube::Client` talking plain HTTP to this server, default namespace `default`.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The `kube::Config` behind [`Sandbox::client`], to build clients with other settings.
    ///
    /// Note: kube 5 clients retry 429, 503 and 504 answers up to 15 times with exponential
    /// backoff by default (`Config::default_retry`); set it to `false` to see those answers.
    pub fn config(&self) -> kube::Config {
        kube::Config::new(self.url().parse().unwrap_or_default())
    }

    /// A kubeconfig (YAML) that kubectl and kube-rs can use to reach this server.
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig_yaml(&self.url())
    }

    /// Seeds objects from multi-document YAML; each document is an object or a list with
    /// `items`. Unknown kinds are skipped with a warning. Returns how many objects were stored.
    pub fn seed_yaml(&self, yaml: &str) -> Result<usize> {
        seed::seed_yaml(&self.shared, yaml)
    }

    /// Seeds objects (or lists with `items`), as [`Sandbox::seed_yaml`] does.
    pub fn seed_objects(&self, objects: impl IntoIterator<Item = Value>) -> Result<usize> {
        let mut n = 0;
        for o in objects {
            n += seed::seed_value(&self.shared, o)?;
        }
        Ok(n)
    }

    /// One stored object of a resource (plural name, `pods`), in its core/storage form.
    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let def = resources::find_plural(resource)?;
        let ns = if def.namespaced { namespace } else { "" };
        self.shared
            .store
            .get(def.store, ns, name)
            .map(|o| (*o).clone())
    }

    /// Every stored object of a resource (plural name), in (namespace, name) order.
    pub fn list(&self, resource: &str) -> Vec<Value> {
        let Some(def) = resources::find_plural(resource) else {
            return Vec::new();
        };
        self.shared
            .store
            .list(def.store, None)
            .0
            .iter()
            .map(|o| (**o).clone())
            .collect()
    }

    /// The current (latest) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store.rv()
    }

    /// Every request served so far, in order (fault-injected ones included, admin ones not).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(server::LoggedRequest::record)
            .collect()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Makes `token` a bearer token that TokenReviews authenticate as `user` (replacing what
    /// it stood for before). The sandbox's own API does not check tokens: this is for
    /// programs that delegate authentication to it, such as the scheduler's admin server.
    pub fn add_token(&self, token: &str, user: TokenUser) {
        self.shared
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.to_string(), user);
    }

    /// Fault injection.
    pub fn faults(&self) -> Faults {
        Faults {
            shared: self.shared.clone(),
        }
    }

    /// The sandbox clock (scaled by `time_scale`).
    pub fn clock(&self) -> Clock {
        self.shared.clock
    }

    /// Starts controllers against this server (workload, kubelet, autoscaler; see
    /// [`controllers`]). They stop when the returned handle is stopped or dropped, or when the
    /// sandbox shuts down.
    pub fn start_controllers(
        &self,
        opts: controllers::ControllerOptions,
    ) -> controllers::Controllers {
        controllers::Controllers::start(self.shared.clone(), opts)
    }

    /// Starts the volume provisioner stand-in (dynamic provisioning for the handled
    /// StorageClass provisioners and the PV controller's binding; see
    /// [`controllers::ProvisionerOptions`]). It is separate from [`Sandbox::start_controllers`]
    /// and stops when the returned handle is stopped or dropped, or when the sandbox shuts down.
    pub fn start_provisioner(
        &self,
        opts: controllers::ProvisionerOptions,
    ) -> controllers::Controllers {
        controllers::Controllers::start_provisioner(self.shared.clone(), opts)
    }

    /// Stops the server: open watches end, pending grace-period timers are dropped.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
    }
}

/// A kubeconfig for a plain-HTTP server at `url`, context `sandbox`, namespace `default`.
pub fn kubeconfig_yaml(url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sandbox\n  cluster:\n    server: {url}\ncontexts:\n- name: sandbox\n  context:\n    cluster: sandbox\n    user: sandbox\n    namespace: default\ncurrent-context: sandbox\nusers:\n- name: sandbox\n  user: {{}}\npreferences: {{}}\n"
    )
}
