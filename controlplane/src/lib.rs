//! The real Kubernetes control plane on loopback, for tests and benchmarks:
//! etcd, kube-apiserver and, on request, kube-controller-manager and
//! kube-scheduler v1.37, built from Go modules by `kube/build.sh`.
//!
//! [`ControlPlane::start`] starts a fresh etcd (its own temporary data
//! directory, no fsync) and a kube-apiserver with RBAC authorization, a
//! token file (an admin in `system:masters`, and `system:kube-scheduler`)
//! and a generated service-account signing key, waits for `/readyz` and the
//! `default` namespace, and stops every process it started (by pid) when
//! dropped. Nothing listens beyond 127.0.0.1.
//!
//! Admission plugins a cluster without kubelets cannot pass are disabled,
//! each for a reason (the same as scheduler_perf's):
//! - `ServiceAccount`: it refuses pods in a namespace until its token
//!   controller has made the `default` ServiceAccount, and that controller
//!   runs only with kube-controller-manager's service-account key;
//! - `TaintNodesByCondition`: it taints every new Node `not-ready`, which
//!   only a kubelet's heartbeat would clear.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::Api;
use kube::api::PostParams;

/// The binaries `kube/build.sh` builds.
pub const BINARIES: [&str; 5] = [
    "etcd",
    "kube-apiserver",
    "kube-scheduler",
    "kube-controller-manager",
    "kubectl",
];

/// The admin user's token (group `system:masters`).
const ADMIN_TOKEN: &str = "admin-token-for-tests";
/// The token of the user `system:kube-scheduler`, as kube-scheduler runs.
pub const KUBE_SCHEDULER_TOKEN: &str = "kube-scheduler-token-for-tests";

/// How long a process may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Errors of the harness.
#[derive(Debug, thiserror::Error)]
pub enum ControlPlaneError {
    /// The binaries are not built and cannot be built here.
    #[error("the control plane binaries are unavailable: {0}")]
    Unavailable(String),
    /// A file or process could not be handled.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// A process did not become ready in time, or exited.
    #[error("{process} is not ready: {why}\n--- last lines of {log} ---\n{tail}")]
    NotReady {
        /// The process.
        process: &'static str,
        /// Why.
        why: String,
        /// Its log file.
        log: String,
        /// The end of its log.
        tail: String,
    },
    /// A request to the API server failed.
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: String,
        /// The client error.
        source: kube::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ControlPlaneError {
    let what = what.into();
    move |source| ControlPlaneError::Io { what, source }
}

/// Where the binaries are.
#[derive(Clone, Debug)]
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// `$USER_SCHEDULER_KUBE_BIN` when set, else the directory `kube/build.sh`
    /// prints (it builds only when its cache is not current: the first time
    /// on a machine that takes a quarter of an hour).
    ///
    /// # Errors
    /// [`ControlPlaneError::Unavailable`] when neither has the five binaries
    /// (no Go, a module the proxy refuses), with the script's own words.
    pub fn find() -> Result<Binaries, ControlPlaneError> {
        if let Some(dir) = std::env::var_os("USER_SCHEDULER_KUBE_BIN") {
            return Binaries::at(PathBuf::from(dir));
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kube/build.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ControlPlaneError::Unavailable(format!("{}: {e}", script.display())))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err.lines().last().unwrap_or("no output").to_string();
            return Err(ControlPlaneError::Unavailable(format!(
                "{} failed: {last}",
                script.display()
            )));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let dir = stdout.lines().last().unwrap_or_default().trim().to_string();
        Binaries::at(PathBuf::from(dir))
    }

    /// The binaries in `dir`.
    ///
    /// # Errors
    /// [`ControlPlaneError::Unavailable`] when one is missing.
    pub fn at(dir: PathBuf) -> Result<Binaries, ControlPlaneError> {
        for b in BINARIES {
            if !dir.join(b).is_file() {
                return Err(ControlPlaneError::Unavailable(format!(
                    "{} has no {b}",
                    dir.display()
                )));
            }
        }
        Ok(Binaries { dir })
    }

    /// The path of binary `name`.
    #[must_use]
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The directory holding them.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// What to start besides etcd and kube-apiserver.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// kube-controller-manager with the controllers that make sense without
    /// kubelets: see [`CONTROLLERS`].
    pub controller_manager: bool,
}

/// The controllers kube-controller-manager runs here: workloads, garbage
/// collection, PodDisruptionBudget status, volume binding, and the
/// service-account token controller (which lets the `ServiceAccount`
/// objects of tests get tokens). The node lifecycle controller stays off:
/// without heartbeats it would taint every node unreachable.
pub const CONTROLLERS: &str = "deployment-controller,replicaset-controller,statefulset-controller,garbage-collector-controller,disruption-controller,persistentvolume-binder-controller,serviceaccount-controller";

/// A process started by the harness, killed when dropped.
struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(
        name: &'static str,
        binary: &Path,
        args: &[String],
        log: PathBuf,
    ) -> Result<Process, ControlPlaneError> {
        let file =
            std::fs::File::create(&log).map_err(io(format!("creating {}", log.display())))?;
        let err = file
            .try_clone()
            .map_err(io(format!("opening {}", log.display())))?;
        let child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(io(format!("starting {}", binary.display())))?;
        Ok(Process { name, child, log })
    }

    fn tail(&self) -> String {
        tail_of(&self.log, 30)
    }

    fn not_ready(&self, why: impl Into<String>) -> ControlPlaneError {
        ControlPlaneError::NotReady {
            process: self.name,
            why: why.into(),
            log: self.log.display().to_string(),
            tail: self.tail(),
        }
    }

    /// Fails when the process has exited.
    fn check_running(&mut self) -> Result<(), ControlPlaneError> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(self.not_ready(format!("exited with {status}"))),
            Ok(None) => Ok(()),
            Err(e) => Err(self.not_ready(format!("cannot wait for it: {e}"))),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `n` lines of a file.
fn tail_of(path: &Path, n: usize) -> String {
    let Ok(file) = std::fs::File::open(path) else {
        return String::new();
    };
    let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A free loopback port (the kernel's pick; released before use, so a
/// race is possible but harmless in tests).
///
/// # Errors
/// When no socket can be bound.
pub fn free_port() -> Result<u16, ControlPlaneError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("binding a loopback port"))?;
    Ok(l.local_addr().map_err(io("reading a bound port"))?.port())
}

/// A temporary directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, ControlPlaneError> {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "controlplane-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("CONTROLPLANE_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A running control plane. Dropping it stops every process (in reverse
/// order of start) and removes its directory (kept when
/// `$CONTROLPLANE_KEEP` is set, for reading the logs).
pub struct ControlPlane {
    binaries: Binaries,
    url: String,
    // Field order is drop order: the controller manager before the API
    // server, the API server before etcd, the directory last.
    controller_manager: Option<Process>,
    apiserver: Process,
    etcd: Process,
    dir: TempDir,
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver (and the controller manager when
    /// asked) and waits until the API server is ready.
    ///
    /// # Errors
    /// Missing binaries, a process that exits or is not ready within two
    /// minutes (with the end of its log).
    pub async fn start(options: Options) -> Result<ControlPlane, ControlPlaneError> {
        let binaries = Binaries::find()?;
        let dir = TempDir::new()?;
        let d = dir.0.clone();
        let (etcd_client, etcd_peer, port) = (free_port()?, free_port()?, free_port()?);

        let etcd_url = format!("http://127.0.0.1:{etcd_client}");
        let etcd = Process::spawn(
            "etcd",
            &binaries.path("etcd"),
            &[
                format!("--data-dir={}", d.join("etcd").display()),
                format!("--listen-client-urls={etcd_url}"),
                format!("--advertise-client-urls={etcd_url}"),
                format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"),
                format!("--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}"),
                format!("--initial-cluster=default=http://127.0.0.1:{etcd_peer}"),
                "--unsafe-no-fsync".into(),
                "--log-level=warn".into(),
            ],
            d.join("etcd.log"),
        )?;

        let key = rcgen::KeyPair::generate().map_err(|e| ControlPlaneError::Io {
            what: "generating the service-account key".into(),
            source: std::io::Error::other(e),
        })?;
        // kube-apiserver verifies with the public key (a PKCS#8 private key
        // is not read as one) and signs with the private key.
        write(&d.join("sa.key"), &key.serialize_pem())?;
        write(&d.join("sa.pub"), &key.public_key_pem())?;
        write(
            &d.join("tokens.csv"),
            &format!(
                "{ADMIN_TOKEN},admin,admin-uid,\"system:masters\"\n\
                 {KUBE_SCHEDULER_TOKEN},system:kube-scheduler,kube-scheduler-uid\n"
            ),
        )?;
        let pki = d.join("pki");
        let url = format!("https://127.0.0.1:{port}");
        let apiserver = Process::spawn(
            "kube-apiserver",
            &binaries.path("kube-apiserver"),
            &[
                format!("--etcd-servers={etcd_url}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                // The `kubernetes` Service's endpoints may not be loopback;
                // nothing here needs that Service (envtest does the same).
                "--endpoint-reconciler-type=none".into(),
                format!("--secure-port={port}"),
                format!("--cert-dir={}", pki.display()),
                "--service-cluster-ip-range=10.0.0.0/24".into(),
                format!("--service-account-issuer={url}"),
                format!("--service-account-key-file={}", d.join("sa.pub").display()),
                format!(
                    "--service-account-signing-key-file={}",
                    d.join("sa.key").display()
                ),
                format!("--token-auth-file={}", d.join("tokens.csv").display()),
                "--authorization-mode=RBAC".into(),
                // See the module documentation for why these two.
                "--disable-admission-plugins=ServiceAccount,TaintNodesByCondition".into(),
                // Loopback clients (the tests) may be many; no limit on them.
                "--max-requests-inflight=4000".into(),
                "--max-mutating-requests-inflight=2000".into(),
            ],
            d.join("kube-apiserver.log"),
        )?;
        let mut plane = ControlPlane {
            binaries,
            url,
            controller_manager: None,
            apiserver,
            etcd,
            dir,
        };
        plane.write_kubeconfig("admin", ADMIN_TOKEN)?;
        plane.wait_ready().await?;
        if options.controller_manager {
            plane.start_controller_manager()?;
        }
        Ok(plane)
    }

    /// The API server's URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The binaries in use.
    #[must_use]
    pub fn binaries(&self) -> &Binaries {
        &self.binaries
    }

    /// The control plane's directory (logs, kubeconfigs, keys).
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir.0
    }

    /// The pids of kube-apiserver and etcd.
    #[must_use]
    pub fn pids(&self) -> (u32, u32) {
        (self.apiserver.pid(), self.etcd.pid())
    }

    /// The path of the kubeconfig written for `user` (see
    /// [`write_kubeconfig`](Self::write_kubeconfig)); `admin` always exists.
    #[must_use]
    pub fn kubeconfig(&self, user: &str) -> PathBuf {
        self.dir.0.join(format!("{user}.kubeconfig"))
    }

    /// Writes a kubeconfig that authenticates with `token`, trusting the API
    /// server's self-signed certificate, and returns its path.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write_kubeconfig(&self, user: &str, token: &str) -> Result<PathBuf, ControlPlaneError> {
        let path = self.kubeconfig(user);
        let ca = self.dir.0.join("pki/apiserver.crt");
        write(
            &path,
            &format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: {user}\n  user:\n    token: {token}\ncontexts:\n- name: {user}\n  context: {{cluster: test, user: {user}, namespace: default}}\ncurrent-context: {user}\n",
                self.url,
                ca.display()
            ),
        )?;
        Ok(path)
    }

    /// A client configuration from the kubeconfig of `user`.
    ///
    /// # Errors
    /// When the kubeconfig is missing or does not load.
    pub async fn config(&self, user: &str) -> Result<kube::Config, ControlPlaneError> {
        let path = self.kubeconfig(user);
        let kc = kube::config::Kubeconfig::read_from(&path).map_err(|e| ControlPlaneError::Io {
            what: format!("reading {}", path.display()),
            source: std::io::Error::other(e),
        })?;
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| ControlPlaneError::Io {
                what: format!("loading {}", path.display()),
                source: std::io::Error::other(e),
            })
    }

    /// A client of the admin user (`system:masters`).
    ///
    /// # Errors
    /// See [`config`](Self::config).
    pub async fn admin(&self) -> Result<kube::Client, ControlPlaneError> {
        let config = self.config("admin").await?;
        kube::Client::try_from(config).map_err(|source| ControlPlaneError::Api {
            what: "building the admin client".into(),
            source,
        })
    }

    async fn wait_ready(&mut self) -> Result<(), ControlPlaneError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        // The certificate and the port exist only once kube-apiserver is up.
        let mut last = String::from("not started");
        loop {
            self.etcd.check_running()?;
            self.apiserver.check_running()?;
            if Instant::now() > deadline {
                return Err(self.apiserver.not_ready(format!("after 2 minutes: {last}")));
            }
            if self.dir.0.join("pki/apiserver.crt").exists() {
                match self.ready_once().await {
                    Ok(()) => return Ok(()),
                    Err(e) => last = e,
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `/readyz` answers ok and the `default` namespace exists.
    async fn ready_once(&self) -> Result<(), String> {
        let client = self.admin().await.map_err(|e| e.to_string())?;
        let request = http::Request::get("/readyz")
            .body(Vec::new())
            .map_err(|e| e.to_string())?;
        let body = client
            .request_text(request)
            .await
            .map_err(|e| format!("/readyz: {e}"))?;
        if body.trim() != "ok" {
            return Err(format!("/readyz says {body}"));
        }
        Api::<Namespace>::all(client)
            .get("default")
            .await
            .map_err(|e| format!("namespace default: {e}"))?;
        Ok(())
    }

    fn start_controller_manager(&mut self) -> Result<(), ControlPlaneError> {
        let d = self.dir.0.clone();
        let process = Process::spawn(
            "kube-controller-manager",
            &self.binaries.path("kube-controller-manager"),
            &[
                format!("--kubeconfig={}", self.kubeconfig("admin").display()),
                format!("--controllers={CONTROLLERS}"),
                format!(
                    "--service-account-private-key-file={}",
                    d.join("sa.key").display()
                ),
                format!("--root-ca-file={}", d.join("pki/apiserver.crt").display()),
                "--use-service-account-credentials=false".into(),
                "--leader-elect=false".into(),
                "--bind-address=127.0.0.1".into(),
                "--secure-port=0".into(),
            ],
            d.join("kube-controller-manager.log"),
        )?;
        self.controller_manager = Some(process);
        Ok(())
    }

    /// Starts kube-scheduler with `config` (a `KubeSchedulerConfiguration`
    /// whose `clientConnection` the harness sets: the kubeconfig of `user`,
    /// written before with [`write_kubeconfig`](Self::write_kubeconfig), or
    /// the `system:kube-scheduler` user's when `user` is `None`; QPS and
    /// burst high enough not to be the limit) and `args`; it runs until the
    /// returned handle or the control plane is dropped. Its log is
    /// `kube-scheduler-{name}.log` in [`dir`](Self::dir).
    ///
    /// # Errors
    /// When the files cannot be written or the process does not start.
    pub fn start_kube_scheduler(
        &self,
        name: &str,
        user: Option<&str>,
        config: &str,
        args: &[&str],
    ) -> Result<KubeScheduler, ControlPlaneError> {
        let kubeconfig = match user {
            Some(user) => self.kubeconfig(user),
            None => self.write_kubeconfig("system-kube-scheduler", KUBE_SCHEDULER_TOKEN)?,
        };
        let path = self.dir.0.join(format!("kube-scheduler-{name}.yaml"));
        write(
            &path,
            &format!(
                "{config}\nclientConnection:\n  kubeconfig: {}\n  qps: 5000\n  burst: 10000\n",
                kubeconfig.display()
            ),
        )?;
        let mut all = vec![
            format!("--config={}", path.display()),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={}", free_port()?),
        ];
        all.extend(args.iter().map(|a| (*a).to_string()));
        let log = self.dir.0.join(format!("kube-scheduler-{name}.log"));
        let process = Process::spawn(
            "kube-scheduler",
            &self.binaries.path("kube-scheduler"),
            &all,
            log.clone(),
        )?;
        Ok(KubeScheduler {
            process: Some(process),
            log,
        })
    }

    /// A token of ServiceAccount `namespace/name` (created when missing),
    /// from the TokenRequest API: what a pod running as that account
    /// presents.
    ///
    /// # Errors
    /// When the API server refuses.
    pub async fn service_account_token(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<String, ControlPlaneError> {
        let client = self.admin().await?;
        let api = |what: String| move |source| ControlPlaneError::Api { what, source };
        ensure_namespace(&client, namespace).await?;
        let accounts: Api<ServiceAccount> = Api::namespaced(client, namespace);
        if accounts
            .get_opt(name)
            .await
            .map_err(api(format!("reading serviceaccount {namespace}/{name}")))?
            .is_none()
        {
            let sa: ServiceAccount = serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "namespace": namespace}
            }))
            .map_err(|e| ControlPlaneError::Io {
                what: "a ServiceAccount".into(),
                source: std::io::Error::other(e),
            })?;
            accounts
                .create(&PostParams::default(), &sa)
                .await
                .map_err(api(format!("creating serviceaccount {namespace}/{name}")))?;
        }
        let request: TokenRequest = serde_json::from_value(serde_json::json!({
            "spec": {"audiences": [self.url.clone()], "expirationSeconds": 86400}
        }))
        .map_err(|e| ControlPlaneError::Io {
            what: "a TokenRequest".into(),
            source: std::io::Error::other(e),
        })?;
        let answer: TokenRequest = accounts
            .create_subresource("token", name, &PostParams::default(), &request)
            .await
            .map_err(api(format!("requesting a token of {namespace}/{name}")))?;
        answer
            .status
            .map(|s| s.token)
            .ok_or_else(|| ControlPlaneError::Io {
                what: format!("the token of {namespace}/{name}"),
                source: std::io::Error::other("the answer has no status"),
            })
    }

    /// Runs this build's `kubectl` as the admin with `args`.
    ///
    /// # Errors
    /// When kubectl cannot be started.
    pub fn kubectl(&self, args: &[&str]) -> Result<std::process::Output, ControlPlaneError> {
        Command::new(self.binaries.path("kubectl"))
            .arg(format!(
                "--kubeconfig={}",
                self.kubeconfig("admin").display()
            ))
            .args(args)
            .output()
            .map_err(io("running kubectl"))
    }
}

/// Creates namespace `name` unless it exists.
///
/// # Errors
/// When the API server refuses.
pub async fn ensure_namespace(client: &kube::Client, name: &str) -> Result<(), ControlPlaneError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let err = |source| ControlPlaneError::Api {
        what: format!("creating namespace {name}"),
        source,
    };
    if api.get_opt(name).await.map_err(err)?.is_some() {
        return Ok(());
    }
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))
        .map_err(|e| ControlPlaneError::Io {
            what: "a Namespace".into(),
            source: std::io::Error::other(e),
        })?;
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(source) => Err(ControlPlaneError::Api {
            what: format!("creating namespace {name}"),
            source,
        }),
    }
}

/// A kube-scheduler process; stopped (SIGKILL) when dropped or by
/// [`stop`](Self::stop).
pub struct KubeScheduler {
    process: Option<Process>,
    log: PathBuf,
}

impl KubeScheduler {
    /// Its log so far.
    #[must_use]
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its pid, while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Process::pid)
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(|p| matches!(p.child.try_wait(), Ok(None)))
    }

    /// Stops it at once (as a crash or a node loss would: the lease is not
    /// released).
    pub fn stop(&mut self) {
        self.process = None;
    }
}

fn write(path: &Path, text: &str) -> Result<(), ControlPlaneError> {
    std::fs::write(path, text).map_err(io(format!("writing {}", path.display())))
}

/// Whether tests must have the control plane: in CI (`$CI` set) a missing
/// control plane fails the test; elsewhere it is skipped with a message.
#[must_use]
pub fn required() -> bool {
    std::env::var_os("CI").is_some()
}

/// A kubelet stand-in for a cluster without kubelets: every pod bound to a
/// node becomes Running, and every pod being deleted is deleted at once
/// (a graceful delete otherwise waits for a kubelet forever). It runs on the
/// current runtime until the handle is dropped.
pub struct Kubelet(tokio::task::JoinHandle<()>);

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Kubelet {
    /// Starts the stand-in with `client` (which needs pods list, watch,
    /// delete and pods/status patch).
    #[must_use]
    pub fn start(client: kube::Client) -> Kubelet {
        use futures::StreamExt;
        use k8s_openapi::api::core::v1::Pod;
        use kube::api::{DeleteParams, Patch, PatchParams};
        use kube::runtime::{WatchStreamExt, watcher};
        Kubelet(tokio::spawn(async move {
            let pods: Api<Pod> = Api::all(client.clone());
            let mut events = watcher(pods, watcher::Config::default())
                .default_backoff()
                .applied_objects()
                .boxed();
            while let Some(event) = events.next().await {
                let Ok(pod) = event else { continue };
                let (Some(ns), Some(name)) =
                    (pod.metadata.namespace.clone(), pod.metadata.name.clone())
                else {
                    continue;
                };
                let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
                if pod.metadata.deletion_timestamp.is_some() {
                    let _ = api
                        .delete(&name, &DeleteParams::default().grace_period(0))
                        .await;
                    continue;
                }
                let bound = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_deref())
                    .is_some_and(|n| !n.is_empty());
                let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
                if bound && phase == Some("Pending") {
                    let status = serde_json::json!({"status": {"phase": "Running"}});
                    let _ = api
                        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                        .await;
                }
            }
        }))
    }
}
