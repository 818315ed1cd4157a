//! The command line: `run` (the daemon), `explain`, `sandbox` and `demo` (with
//! the `sandbox` feature only), and the kube-scheduler drop-in.
//!
//! The z2jh chart starts `/usr/local/bin/kube-scheduler
//! --config=/etc/user-scheduler/config.yaml --authentication-skip-lookup=true
//! --v=4`. Invoked under the name `kube-scheduler`, or with flags and no
//! subcommand, the binary runs the daemon. kube-scheduler flags it has no use
//! for are accepted and logged ([`KUBE_SCHEDULER_IGNORED_FLAGS`]); any other
//! unknown flag is an error.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::explain::Format;

/// A bin-packing Kubernetes scheduler for JupyterHub user pods.
#[derive(Debug, Parser)]
#[command(name = "user-scheduler", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the scheduler daemon (the default when invoked as kube-scheduler).
    Run(RunArgs),
    /// Explain where a pod would be scheduled, and why.
    Explain(ExplainArgs),
    /// Serve an in-memory Kubernetes API server on loopback.
    #[cfg(feature = "sandbox")]
    Sandbox(SandboxArgs),
    /// Replay the autoscaling demonstration on the sandbox.
    #[cfg(feature = "sandbox")]
    Demo(DemoArgs),
    /// Simulate a hub over days under several policies: node-hours, waits, evictions.
    #[cfg(feature = "simulate")]
    Simulate(crate::simulate::SimulateArgs),
}

/// Log formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `run`: the daemon's flags (kube-scheduler's names where they exist).
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The KubeSchedulerConfiguration file; the default JupyterHub profile when absent.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Kubeconfig; in-cluster config (or $KUBECONFIG) when absent.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Take part in leader election (overrides the config file's leaderElection.leaderElect).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub leader_elect: Option<bool>,
    /// HTTPS port of /healthz, /readyz, /livez and /metrics; 0 disables serving.
    #[arg(long, default_value_t = 10259)]
    pub secure_port: u16,
    /// Address the admin server binds.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// TLS certificate for the admin server; a self-signed one when absent.
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    /// TLS private key for the admin server.
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,
    /// Paths of the admin server anyone may read (authentication still runs); a trailing *
    /// matches a prefix. Everything else needs a SubjectAccessReview's approval.
    #[arg(long, value_delimiter = ',', default_values = ["/healthz", "/readyz", "/livez"])]
    pub authorization_always_allow_paths: Vec<String>,
    /// Kubeconfig for the TokenReviews of bearer tokens; the scheduler's own connection when
    /// absent.
    #[arg(long)]
    pub authentication_kubeconfig: Option<PathBuf>,
    /// Kubeconfig for the SubjectAccessReviews; the scheduler's own connection when absent.
    #[arg(long)]
    pub authorization_kubeconfig: Option<PathBuf>,
    /// How long TokenReview answers are cached.
    #[arg(long, value_parser = go_duration, default_value = "10s")]
    pub authentication_token_webhook_cache_ttl: Duration,
    /// How long allowing SubjectAccessReview answers are cached.
    #[arg(long, value_parser = go_duration, default_value = "10s")]
    pub authorization_webhook_cache_authorized_ttl: Duration,
    /// How long denying SubjectAccessReview answers are cached.
    #[arg(long, value_parser = go_duration, default_value = "10s")]
    pub authorization_webhook_cache_unauthorized_ttl: Duration,
    /// CA bundle: a client certificate it signed authenticates as its CommonName, in the
    /// groups of its Organizations.
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,
    /// Log verbosity as kube-scheduler's --v: 0-3 info (one line per decision), 4-5 debug, 6+ trace.
    #[arg(long = "v", short = 'v', default_value_t = 2)]
    pub verbosity: u8,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Seed of the random tie-break among equally good nodes (random when absent).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// A Go duration flag value (`10s`, `1m30s`), as kube's flags take them.
fn go_duration(s: &str) -> Result<Duration, String> {
    crate::config::parse_go_duration(s)
}

/// `explain`.
#[derive(Debug, Clone, Args)]
pub struct ExplainArgs {
    /// Cluster objects (YAML; lists and multiple documents allowed).
    #[arg(long)]
    pub cluster: PathBuf,
    /// The pod to place.
    #[arg(long)]
    pub pod: PathBuf,
    /// The daemon's config file; the first profile is used.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output format (JSON when stdout is not a terminal, else text).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// `sandbox`.
#[cfg(feature = "sandbox")]
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Loopback address to listen on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: std::net::SocketAddr,
    /// Where to write a kubeconfig for kubectl and `user-scheduler run`.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// Seed the sandbox from a cluster file.
    #[arg(long)]
    pub cluster: Option<PathBuf>,
    /// Seed a synthetic z2jh-like cluster of this many nodes.
    #[arg(long)]
    pub synthetic_nodes: Option<usize>,
}

/// `demo`.
#[cfg(feature = "sandbox")]
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// How many times faster than real time the sandbox clock runs (1 to 1000).
    #[arg(long, default_value_t = 60.0)]
    pub speed: f64,
    /// Seed of the random parts (pod name suffixes, the scheduler's tie-break).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Turn on packing preemption (users evict placeholders to join other
    /// users even when another node fits); compare the summary line.
    #[arg(long)]
    pub packing_preemption: bool,
}

/// kube-scheduler flags the drop-in accepts and ignores, with whether each
/// takes a value when written without `=`. Why the authentication ones are
/// ignored: `daemon::auth` (the daemon never looks the
/// extension-apiserver-authentication ConfigMap up, and does not implement
/// front-proxy authentication) and [`why_ignored`].
pub const KUBE_SCHEDULER_IGNORED_FLAGS: &[(&str, bool)] = &[
    ("authentication-skip-lookup", false),
    ("authentication-tolerate-lookup-failure", false),
    ("requestheader-client-ca-file", true),
    ("requestheader-allowed-names", true),
    ("requestheader-extra-headers-prefix", true),
    ("requestheader-group-headers", true),
    ("requestheader-username-headers", true),
    ("cert-dir", true),
    ("tls-cipher-suites", true),
    ("tls-min-version", true),
    ("tls-sni-cert-key", true),
    ("http2-max-streams-per-connection", true),
    ("permit-port-sharing", false),
    ("permit-address-reuse", false),
    ("profiling", false),
    ("contention-profiling", false),
    ("feature-gates", true),
    ("kube-api-qps", true),
    ("kube-api-burst", true),
    ("kube-api-content-type", true),
    ("master", true),
    ("logging-format", true),
    ("log-flush-frequency", true),
    ("vmodule", true),
    ("show-hidden-metrics-for-version", true),
    ("allow-metric-labels", true),
    ("disabled-metrics", true),
    ("pod-max-in-unschedulable-pods-duration", true),
    ("leader-elect-lease-duration", true),
    ("leader-elect-renew-deadline", true),
    ("leader-elect-retry-period", true),
    ("leader-elect-resource-lock", true),
    ("leader-elect-resource-name", true),
    ("leader-elect-resource-namespace", true),
];

/// Why an ignored kube-scheduler flag (as written, `--name[=value]`) is ignored, for the log.
#[must_use]
pub fn why_ignored(flag: &str) -> &'static str {
    let name = flag
        .trim_start_matches('-')
        .split(['=', ' '])
        .next()
        .unwrap_or("");
    if name.starts_with("authentication-") {
        "the extension-apiserver-authentication ConfigMap is never looked up, as with \
         --authentication-skip-lookup=true; client certificates are checked against \
         --client-ca-file only"
    } else if name.starts_with("requestheader-") {
        "front-proxy (request-header) authentication is not implemented; such requests are \
         authenticated by their own certificate or token, or are anonymous"
    } else {
        "not needed by user-scheduler"
    }
}

/// The program's arguments after drop-in handling: `run` inserted when the
/// binary is called as kube-scheduler or with flags and no subcommand, and
/// ignored kube-scheduler flags removed (returned for logging).
#[must_use]
pub fn normalize_args(args: Vec<String>) -> (Vec<String>, Vec<String>) {
    let mut args = args;
    let invoked_as = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let first = args.get(1).map(String::as_str);
    let flags_only = first
        .is_some_and(|a| a.starts_with('-') && !matches!(a, "-h" | "--help" | "-V" | "--version"));
    let asks_about_program = matches!(first, Some("-h" | "--help" | "-V" | "--version"));
    if (invoked_as == "kube-scheduler" && !asks_about_program) || flags_only {
        if first != Some("run") {
            args.insert(1.min(args.len()), "run".into());
        }
    } else if first != Some("run") {
        return (args, Vec::new());
    }
    let mut kept = Vec::with_capacity(args.len());
    let mut ignored = Vec::new();
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            kept.push(arg);
            continue;
        };
        let (name, has_value) = match flag.split_once('=') {
            Some((n, _)) => (n.to_string(), true),
            None => (flag.to_string(), false),
        };
        match KUBE_SCHEDULER_IGNORED_FLAGS
            .iter()
            .find(|(n, _)| *n == name)
        {
            Some((_, takes_value)) => {
                let mut text = arg.clone();
                if *takes_value
                    && !has_value
                    && let Some(value) = iter.next()
                {
                    text = format!("{arg} {value}");
                }
                ignored.push(text);
            }
            None => kept.push(arg),
        }
    }
    (kept, ignored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_string()).collect()
    }

    #[test]
    fn the_z2jh_command_line_runs_the_daemon() {
        let (args, ignored) = normalize_args(v(&[
            "/usr/local/bin/kube-scheduler",
            "--config=/etc/user-scheduler/config.yaml",
            "--authentication-skip-lookup=true",
            "--v=4",
        ]));
        assert_eq!(
            args,
            v(&[
                "/usr/local/bin/kube-scheduler",
                "run",
                "--config=/etc/user-scheduler/config.yaml",
                "--v=4"
            ])
        );
        assert_eq!(ignored, v(&["--authentication-skip-lookup=true"]));
        let cli = Cli::try_parse_from(args).expect("parses");
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        assert_eq!(
            run.config,
            Some(PathBuf::from("/etc/user-scheduler/config.yaml"))
        );
        assert_eq!(run.verbosity, 4);
        assert_eq!(run.secure_port, 10259);
        // kube-scheduler's authentication and authorization defaults.
        assert_eq!(
            run.authorization_always_allow_paths,
            ["/healthz", "/readyz", "/livez"]
        );
        assert_eq!(
            run.authentication_token_webhook_cache_ttl,
            Duration::from_secs(10)
        );
        assert_eq!(
            run.authorization_webhook_cache_authorized_ttl,
            Duration::from_secs(10)
        );
        assert_eq!(
            run.authorization_webhook_cache_unauthorized_ttl,
            Duration::from_secs(10)
        );
        assert_eq!(run.client_ca_file, None);
        assert_eq!(run.authentication_kubeconfig, None);
        assert_eq!(run.authorization_kubeconfig, None);
    }

    #[test]
    fn authentication_and_authorization_flags_are_real() {
        let (args, ignored) = normalize_args(v(&[
            "kube-scheduler",
            "--authorization-always-allow-paths=/healthz,/debug/*",
            "--authorization-always-allow-paths",
            "/metrics",
            "--authentication-kubeconfig",
            "authn.kubeconfig",
            "--authorization-kubeconfig=authz.kubeconfig",
            "--authentication-token-webhook-cache-ttl=1m30s",
            "--authorization-webhook-cache-authorized-ttl=0",
            "--authorization-webhook-cache-unauthorized-ttl",
            "500ms",
            "--client-ca-file=ca.crt",
            "--requestheader-client-ca-file=front.crt",
            "--authentication-tolerate-lookup-failure=false",
        ]));
        assert_eq!(
            ignored,
            v(&[
                "--requestheader-client-ca-file=front.crt",
                "--authentication-tolerate-lookup-failure=false"
            ])
        );
        assert!(why_ignored(&ignored[0]).contains("front-proxy"));
        assert!(why_ignored(&ignored[1]).contains("ConfigMap"));
        assert_eq!(
            why_ignored("--kube-api-qps 5"),
            "not needed by user-scheduler"
        );
        let Command::Run(run) = Cli::try_parse_from(args).unwrap().command else {
            panic!()
        };
        // Given values replace the default; a repeated flag adds to the first.
        assert_eq!(
            run.authorization_always_allow_paths,
            ["/healthz", "/debug/*", "/metrics"]
        );
        assert_eq!(
            run.authentication_kubeconfig,
            Some(PathBuf::from("authn.kubeconfig"))
        );
        assert_eq!(
            run.authorization_kubeconfig,
            Some(PathBuf::from("authz.kubeconfig"))
        );
        assert_eq!(
            run.authentication_token_webhook_cache_ttl,
            Duration::from_secs(90)
        );
        assert_eq!(
            run.authorization_webhook_cache_authorized_ttl,
            Duration::ZERO
        );
        assert_eq!(
            run.authorization_webhook_cache_unauthorized_ttl,
            Duration::from_millis(500)
        );
        assert_eq!(run.client_ca_file, Some(PathBuf::from("ca.crt")));
        // A bad duration is a usage error.
        let (args, _) = normalize_args(v(&[
            "user-scheduler",
            "--authentication-token-webhook-cache-ttl=soon",
        ]));
        assert!(Cli::try_parse_from(args).is_err());
    }

    #[test]
    fn flags_without_a_subcommand_run_the_daemon() {
        let (args, ignored) = normalize_args(v(&[
            "user-scheduler",
            "--config",
            "c.yaml",
            "--kube-api-qps",
            "100",
            "--leader-elect=false",
        ]));
        assert_eq!(ignored, v(&["--kube-api-qps 100"]));
        let Command::Run(run) = Cli::try_parse_from(args).unwrap().command else {
            panic!()
        };
        assert_eq!(run.leader_elect, Some(false));
    }

    #[test]
    fn unknown_flags_are_errors_and_subcommands_pass_through() {
        let (args, _) = normalize_args(v(&["user-scheduler", "--no-such-flag"]));
        assert!(Cli::try_parse_from(args).is_err());
        let (args, ignored) = normalize_args(v(&[
            "user-scheduler",
            "explain",
            "--cluster",
            "c",
            "--pod",
            "p",
        ]));
        assert!(ignored.is_empty());
        assert!(matches!(
            Cli::try_parse_from(args).unwrap().command,
            Command::Explain(_)
        ));
        let (args, _) = normalize_args(v(&["user-scheduler", "--help"]));
        assert_eq!(args, v(&["user-scheduler", "--help"]));
        let (args, _) = normalize_args(v(&["/usr/local/bin/kube-scheduler", "--version"]));
        assert_eq!(args, v(&["/usr/local/bin/kube-scheduler", "--version"]));
    }

    /// `demo` and `sandbox` exist exactly when the `sandbox` feature is on:
    /// without it (the image's build) they are unknown subcommands, a usage
    /// error. `cargo test --workspace` runs the feature-on branch, `cargo test
    /// -p user-scheduler --no-default-features` the other; .ci/run checks the
    /// image's binary itself.
    #[test]
    fn the_test_world_commands_follow_the_sandbox_feature() {
        for command in ["demo", "sandbox"] {
            let parsed = Cli::try_parse_from(v(&["user-scheduler", command, "--help"]));
            if cfg!(feature = "sandbox") {
                let e = parsed.unwrap_err();
                assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp, "{command}");
            } else {
                let e = parsed.unwrap_err();
                assert_eq!(
                    e.kind(),
                    clap::error::ErrorKind::InvalidSubcommand,
                    "{command}"
                );
            }
        }
    }
}
