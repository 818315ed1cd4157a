//! Entry points of the long-running commands (`run`, `sandbox`, `demo`):
//! logging, the tokio runtime, and exit codes.

use std::process::ExitCode;

use crate::cli::{DemoArgs, RunArgs, SandboxArgs};
use crate::synthetic;

/// `user-scheduler sandbox`.
#[must_use]
pub fn sandbox(args: SandboxArgs) -> ExitCode {
    init_logging(2, crate::cli::LogFormat::Text);
    let mut opts = sandbox::ServeOptions::new(args.listen, args.kubeconfig);
    opts.cluster = args.cluster;
    if let Some(nodes) = args.synthetic_nodes {
        match synthetic::cluster(synthetic_seed(), nodes).to_json() {
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
fn synthetic_seed() -> u64 {
    0x5EED_2026
}

/// `user-scheduler run`.
#[must_use]
pub fn main(_args: RunArgs, _ignored: &[String]) -> ExitCode {
    eprintln!("error: the daemon is not part of this build yet");
    ExitCode::from(1)
}

/// `user-scheduler demo`.
#[must_use]
pub fn demo(_args: DemoArgs) -> ExitCode {
    eprintln!("error: the demo is not part of this build yet");
    ExitCode::from(1)
}

/// Installs the tracing subscriber: `--v` maps to a level as kube's klog
/// verbosity does (0-1 info, 2-3 more of info, 4-5 debug, 6+ trace);
/// `RUST_LOG` overrides.
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::cli::LogFormat::Json => builder.json().try_init(),
        crate::cli::LogFormat::Text => builder.try_init(),
    };
}
