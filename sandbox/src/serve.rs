//! The long-running sandbox command: listen, write a kubeconfig, seed, serve until stopped.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::Value;

use crate::{Error, Result, Sandbox, SandboxOptions};

/// Options of [`serve`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Loopback address to listen on (`127.0.0.1:6443`); other addresses are refused.
    pub listen: SocketAddr,
    /// Where to write a kubeconfig for kubectl and kube-rs (written atomically once listening).
    pub kubeconfig: PathBuf,
    /// A cluster YAML file to seed from (the same files `explain` reads).
    pub cluster: Option<PathBuf>,
    /// Pre-generated objects to seed (for example from the synthetic cluster generator).
    pub objects: Vec<Value>,
    /// Other sandbox options; `listen` here is ignored in favour of [`ServeOptions::listen`].
    pub sandbox: SandboxOptions,
}

impl ServeOptions {
    /// Options listening on `listen` and writing the kubeconfig to `kubeconfig`.
    pub fn new(listen: SocketAddr, kubeconfig: impl Into<PathBuf>) -> Self {
        Self {
            listen,
            kubeconfig: kubeconfig.into(),
            cluster: None,
            objects: Vec::new(),
            sandbox: SandboxOptions::default(),
        }
    }
}

/// Serves until Ctrl-C or SIGTERM.
pub async fn serve(opts: ServeOptions) -> Result<()> {
    serve_until(opts, stop_signal()).await
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves until `stop` completes; the kubeconfig file appears once the server is ready.
pub async fn serve_until(opts: ServeOptions, stop: impl Future<Output = ()>) -> Result<()> {
    if !opts.listen.ip().is_loopback() {
        return Err(Error::NotLoopback(opts.listen));
    }
    let sandbox = Sandbox::start(SandboxOptions {
        listen: opts.listen,
        ..opts.sandbox
    })
    .await?;
    let mut seeded = 0;
    if let Some(path) = &opts.cluster {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        seeded += sandbox.seed_yaml(&text)?;
    }
    seeded += sandbox.seed_objects(opts.objects)?;
    let tmp = opts.kubeconfig.with_extension("sandbox-tmp");
    let io = |source| Error::Io {
        path: opts.kubeconfig.display().to_string(),
        source,
    };
    std::fs::write(&tmp, sandbox.kubeconfig_yaml()).map_err(io)?;
    std::fs::rename(&tmp, &opts.kubeconfig).map_err(io)?;
    tracing::info!(
        url = %sandbox.url(),
        kubeconfig = %opts.kubeconfig.display(),
        seeded,
        "sandbox API server ready"
    );
    stop.await;
    tracing::info!("sandbox API server stopping");
    sandbox.shutdown().await;
    Ok(())
}
