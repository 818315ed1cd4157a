//! Entry points of the long-running commands (`run`, and with the `sandbox`
//! feature `sandbox` and `demo`): logging, the tokio runtime, and exit codes.

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::cli::RunArgs;
#[cfg(feature = "sandbox")]
use crate::cli::{DemoArgs, SandboxArgs};
use crate::daemon::admin::{AdminOptions, ConnectionLimits, TlsSource};
use crate::daemon::auth::{Access, DelegationOptions};
use crate::daemon::{self, DaemonOptions};

/// `user-scheduler sandbox`.
#[cfg(feature = "sandbox")]
#[must_use]
pub fn sandbox(args: SandboxArgs) -> ExitCode {
    init_logging(2, crate::cli::LogFormat::Text);
    let mut opts = sandbox::ServeOptions::new(args.listen, args.kubeconfig);
    opts.cluster = args.cluster;
    if let Some(nodes) = args.synthetic_nodes {
        match sandbox::synthetic::cluster(synthetic_seed(), nodes).to_json() {
            Ok(list) => {
                if let Some(items) = list.get("items").and_then(|i| i.as_array()) {
                    opts.objects.extend(items.iter().cloned());
                }
            }
            Err(e) => {
                eprintln!("error: synthetic cluster: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(sandbox::serve(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// The seed of `sandbox --synthetic-nodes`, fixed so two runs serve the same cluster.
#[cfg(feature = "sandbox")]
fn synthetic_seed() -> u64 {
    0x5EED_2026
}

/// `user-scheduler run` (and the kube-scheduler drop-in): validate the
/// configuration before anything starts (exit 2 with one line naming the
/// field), then run the daemon until SIGTERM or Ctrl-C (a second signal
/// aborts at once).
#[must_use]
pub fn main(args: RunArgs, ignored: &[String]) -> ExitCode {
    // The configuration is validated before anything else happens (or is
    // logged): a bad file is one line on stderr and exit code 2.
    let config = match &args.config {
        Some(path) => match crate::config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => crate::config::SchedulerConfig::jupyterhub(&own_namespace()),
    };
    init_logging(args.verbosity, args.log_format);
    for flag in ignored {
        tracing::info!(
            "ignoring kube-scheduler flag {flag}: {}",
            crate::cli::why_ignored(flag)
        );
    }
    for w in &config.warnings {
        tracing::warn!("config: {w}");
    }
    let admin = match admin_options(&args) {
        Ok(a) => a,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let mut opts = DaemonOptions::new(config);
    if let Some(elect) = args.leader_elect {
        opts.leader_elect = elect;
    }
    opts.admin = admin;
    opts.seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        // `--kubeconfig` wins over the file's clientConnection.kubeconfig,
        // as in kube-scheduler.
        let kubeconfig = args.kubeconfig.clone().or_else(|| {
            opts.config
                .client_connection
                .kubeconfig
                .as_ref()
                .map(std::path::PathBuf::from)
        });
        let client = match client(kubeconfig.as_deref()).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        let shutdown = CancellationToken::new();
        tokio::spawn(signals(shutdown.clone()));
        match daemon::run(client, opts, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e}");
                ExitCode::from(1)
            }
        }
    })
}

/// Where the service-account token's namespace is mounted in a pod.
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The namespace this process runs in, for the built-in profile's Lease:
/// `$POD_NAMESPACE` (the downward API), else the service account's namespace
/// file, else `default` (outside a cluster).
fn own_namespace() -> String {
    namespace_from(
        std::env::var("POD_NAMESPACE").ok(),
        std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE).ok(),
    )
}

fn namespace_from(env: Option<String>, file: Option<String>) -> String {
    [env, file]
        .into_iter()
        .flatten()
        .map(|n| n.trim().to_string())
        .find(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into())
}

fn admin_options(args: &RunArgs) -> Result<Option<AdminOptions>, String> {
    if args.secure_port == 0 {
        return Ok(None);
    }
    let tls = match (&args.tls_cert_file, &args.tls_private_key_file) {
        (Some(cert), Some(key)) => TlsSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        (None, None) => TlsSource::self_signed(),
        _ => return Err("--tls-cert-file and --tls-private-key-file go together".into()),
    };
    // kube's string-slice flag: an empty value (`--authorization-always-allow-paths=`)
    // is no path at all.
    let delegation = DelegationOptions {
        always_allow_paths: args
            .authorization_always_allow_paths
            .iter()
            .filter(|p| !p.is_empty())
            .cloned()
            .collect(),
        authentication_kubeconfig: args.authentication_kubeconfig.clone(),
        authorization_kubeconfig: args.authorization_kubeconfig.clone(),
        token_cache_ttl: args.authentication_token_webhook_cache_ttl,
        allowed_cache_ttl: args.authorization_webhook_cache_authorized_ttl,
        denied_cache_ttl: args.authorization_webhook_cache_unauthorized_ttl,
        client_ca_file: args.client_ca_file.clone(),
    };
    delegation.validate().map_err(|e| e.to_string())?;
    Ok(Some(AdminOptions {
        addr: std::net::SocketAddr::new(args.bind_address, args.secure_port),
        tls: Some(tls),
        limits: ConnectionLimits::default(),
        access: Access::Delegated(delegation),
    }))
}

/// A client from `--kubeconfig`, else in-cluster configuration or `$KUBECONFIG`.
async fn client(kubeconfig: Option<&std::path::Path>) -> Result<kube::Client, String> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| format!("no cluster configuration: {e}"))?,
    };
    client_from(config).map_err(|e| format!("cannot build a client: {e}"))
}

/// A client for `config` whose requests the API server turns away for load
/// (429, 503, 504) are retried with [`retry_policy`] instead of kube's
/// default.
///
/// # Errors
/// When kube cannot build a client from `config` (TLS, proxy, auth).
pub fn client_from(mut config: kube::Config) -> Result<kube::Client, kube::Error> {
    config.default_retry = false;
    // A retry re-sends through a clone of the service below it, and kube's
    // stack is boxed (not `Clone`) by then: a buffer makes it cloneable. It
    // spawns its worker on the current runtime.
    let retry = tower::ServiceBuilder::new()
        .layer(tower::retry::RetryLayer::new(retry_policy()))
        .layer(tower::buffer::BufferLayer::new(1024))
        .into_inner();
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&retry)
        .build())
}

/// At most 8 retries, backing off from 100 ms to 5 s, or longer when the
/// server's `Retry-After` asks: about 16 s in all before the request fails
/// and its caller backs off (a binding frees its slot and the pod is
/// retried). kube 5's default retries 15 times with delays up to 1,000 s,
/// which could hold a binding slot for minutes; client-go retries at most 10
/// times, and only when the server sends `Retry-After`.
#[must_use]
pub fn retry_policy() -> kube::client::retry::RetryPolicy {
    const MIN_DELAY: std::time::Duration = std::time::Duration::from_millis(100);
    const MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(5);
    kube::client::retry::RetryPolicy::new(MIN_DELAY, MAX_DELAY, 8, true)
        .unwrap_or_else(|_| kube::client::retry::RetryPolicy::default())
}

/// Cancels `shutdown` on the first SIGTERM or Ctrl-C; exits on the second.
async fn signals(shutdown: CancellationToken) {
    for n in 0..2 {
        wait_signal().await;
        if n == 0 {
            tracing::info!("signal received: shutting down (again to abort)");
            shutdown.cancel();
        } else {
            tracing::warn!("second signal: aborting");
            std::process::exit(130);
        }
    }
}

async fn wait_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The fastest demo: 1,000 × real time replays the half hour of the seed's
/// steps in about two seconds; faster, the scheduler and the controllers
/// cannot keep up with the clock on a small machine and steps stop
/// settling (300 × already did once on a loaded 2-core machine).
#[cfg(feature = "sandbox")]
const MAX_DEMO_SPEED: f64 = 1000.0;

/// `user-scheduler demo`: the seed's autoscaling demonstration on the sandbox
/// (`crate::demo`). Logs go to stderr at `warn` unless `RUST_LOG` says otherwise, so that the
/// step tables on stdout stay readable.
#[cfg(feature = "sandbox")]
#[must_use]
pub fn demo(args: DemoArgs) -> ExitCode {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    if !(args.speed.is_finite() && (1.0..=MAX_DEMO_SPEED).contains(&args.speed)) {
        eprintln!("error: --speed must be between 1 and {MAX_DEMO_SPEED}");
        return ExitCode::from(2);
    }
    let options = crate::demo::DemoOptions {
        speed: args.speed,
        seed: args.seed,
        packing_preemption: args.packing_preemption,
        ..crate::demo::DemoOptions::default()
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let mut stdout = std::io::stdout();
    match runtime.block_on(crate::demo::run(options, &mut stdout)) {
        Ok(reports) if reports.iter().all(|r| r.settled) => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!("error: a step did not settle (see NOT settled above)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Installs the tracing subscriber: `--v` maps to a level as kube's klog
/// verbosity roughly does (0-3 info, where every decision has its line;
/// 4-5 debug; 6+ trace); `RUST_LOG` overrides.
pub fn init_logging(verbosity: u8, format: crate::cli::LogFormat) {
    use tracing_subscriber::EnvFilter;
    let level = match verbosity {
        0..=3 => "info",
        4 | 5 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "warn,user_scheduler={level},sandbox={level},score={level}"
        ))
    });
    // Colours only on a terminal: a pod's log (a file or a pipe) gets plain
    // text, as kube-scheduler writes it.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::cli::LogFormat::Json => builder.json().try_init(),
        crate::cli::LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::retry::Policy;

    /// What the policy does with a run of answers `status`: how many times it
    /// retries before giving the answer to the caller.
    fn retries_of(status: u16) -> usize {
        let mut policy = retry_policy();
        let mut request = http::Request::new(kube::client::Body::from(Vec::new()));
        let mut retries = 0;
        while retries < 100 {
            let mut answer: Result<http::Response<()>, tower::BoxError> =
                Ok(http::Response::builder().status(status).body(()).unwrap());
            if policy.retry(&mut request, &mut answer).is_none() {
                break;
            }
            retries += 1;
        }
        retries
    }

    #[test]
    fn the_builtin_lease_lives_in_the_pods_namespace() {
        let some = |s: &str| Some(s.to_string());
        assert_eq!(namespace_from(some("jhub"), some("other\n")), "jhub");
        assert_eq!(namespace_from(None, some("jhub\n")), "jhub");
        assert_eq!(namespace_from(some(" "), some("jhub")), "jhub");
        assert_eq!(namespace_from(None, None), "default");
    }

    #[tokio::test]
    async fn requests_turned_away_for_load_are_retried_eight_times() {
        assert_eq!(retries_of(429), 8);
        assert_eq!(retries_of(503), 8);
        assert_eq!(retries_of(504), 8);
        // Other errors are the caller's to handle.
        assert_eq!(retries_of(500), 0);
        assert_eq!(retries_of(409), 0);
    }

    #[tokio::test]
    async fn the_client_retries_a_throttled_write() {
        use k8s_openapi::api::core::v1::Namespace;
        let sandbox = sandbox::Sandbox::start(sandbox::SandboxOptions::default())
            .await
            .unwrap();
        sandbox
            .faults()
            .fail_next("POST", "namespaces", 429, 2)
            .unwrap();
        let client = client_from(sandbox.config()).unwrap();
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "hub"}
        }))
        .unwrap();
        let api = kube::Api::<Namespace>::all(client);
        api.create(&kube::api::PostParams::default(), &ns)
            .await
            .expect("created on the third attempt");
        assert!(api.get_opt("hub").await.unwrap().is_some());
    }
}
