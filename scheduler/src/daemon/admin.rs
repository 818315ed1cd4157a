//! The admin server kube-scheduler's probes expect: `/healthz`, `/livez`, `/readyz` and
//! `/metrics`, over HTTPS on port 10259 by default.
//!
//! The z2jh chart probes `GET /healthz` over HTTPS on 10259 (liveness and readiness), so the
//! server speaks TLS unless told otherwise. Like kube-scheduler it makes a self-signed
//! certificate at start (for `localhost`, `127.0.0.1` and the pod's hostname) unless a
//! certificate and key are given (`--tls-cert-file`, `--tls-private-key-file`); kubelet does not
//! verify probe certificates. [`AdminOptions::tls`] = `None` serves plain HTTP: for tests,
//! `user-scheduler demo` and the plain `--metrics-bind-address` listener (start a second
//! [`AdminServer`] for that).
//!
//! `/healthz` and `/livez` answer 200 `ok` while the process serves, leader or not, as
//! kube-scheduler does: a standby must not be restarted for waiting. `/readyz` answers 200 once
//! every watch has delivered its initial list ([`Readiness`]), else 503 naming the missing ones.
//!
//! Every route but the probes' is served only to whom the API server allows: see
//! [`super::auth`] (kube-scheduler's delegated authentication and authorization).
//!
//! Connections are bounded as kube's secure serving bounds them ([`ConnectionLimits`]): a
//! client that trickles its request headers, or stops sending and reading altogether, is
//! disconnected, and only so many connections are served at once.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::auth::{self, Access, Authorizer, ClientCertUser};
use super::metrics::{CONTENT_TYPE, Metrics};

/// kube-scheduler's secure port.
pub const DEFAULT_SECURE_PORT: u16 = 10259;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// kube's `ReadHeaderTimeout` (k8s.io/apiserver/pkg/server/secure_serving.go: "just shy of
/// requestTimeoutUpperBound").
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(32);

/// kube's `IdleTimeout` (secure_serving.go: "matches http.DefaultTransport keep-alive timeout").
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Connections served at once by default. kube's Go server has no such cap (it relies on
/// timeouts alone); the admin server has two kinds of clients, kubelet's probes and a
/// Prometheus or two, so 64 is room to spare while a flood of idle connections cannot take
/// the file descriptors and memory the scheduler needs.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// How long shutdown waits for open connections to finish their requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors of the admin server.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The listen socket could not be bound.
    #[error("listening on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The self-signed certificate could not be made.
    #[error("generating a self-signed certificate: {0}")]
    SelfSigned(#[from] rcgen::Error),
    /// A certificate or key file could not be read or holds no usable PEM.
    #[error("{path}: {message}")]
    CertFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// rustls refused the certificate or key.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The authentication or authorization settings cannot be used.
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    /// The server task ended abnormally.
    #[error("admin server task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Where the serving certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsSource {
    /// Made at start, self-signed, for these DNS names and IP addresses.
    SelfSigned {
        /// Subject alternative names; strings that parse as IP addresses become IP SANs.
        names: Vec<String>,
    },
    /// PEM files, as `--tls-cert-file` and `--tls-private-key-file`.
    Files {
        /// The certificate chain, leaf first.
        cert: PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
}

impl TlsSource {
    /// A self-signed certificate for `localhost`, `127.0.0.1` and this host's name, as
    /// kube-scheduler makes (it adds the hostname through its serving options).
    pub fn self_signed() -> Self {
        let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        if let Some(host) = hostname::get().ok().and_then(|h| h.into_string().ok())
            && !host.is_empty()
            && !names.contains(&host)
        {
            names.push(host);
        }
        TlsSource::SelfSigned { names }
    }
}

/// How long connections may take and how many are served at once.
///
/// kube's secure serving (a Go `http.Server`) sets `ReadHeaderTimeout` 32 s, `IdleTimeout`
/// 90 s and `MaxHeaderBytes` 1 MiB. hyper's limits on the request head (100 headers, about
/// 400 KiB) are already tighter than the last, so only the timeouts are ours to set, and they
/// map onto hyper this way:
/// - hyper starts its header timer as soon as it waits for a request: on a new connection and,
///   on a kept-alive one, right after the previous response. So `header_read_timeout` also
///   bounds the keep-alive wait between requests, where Go waits `IdleTimeout` for the first
///   byte and then `ReadHeaderTimeout` for the rest: an idle kept-alive connection is closed
///   after 32 s here, not 90 s, and the client reconnects for its next request.
/// - `idle_timeout` closes a connection that has read and written nothing for that long,
///   whatever it is doing: a client that stops reading a response, or stops sending a body,
///   would otherwise hold its connection for ever (hyper has no write timeout, nor has kube).
/// - `max_connections` is a cap kube does not have (see [`DEFAULT_MAX_CONNECTIONS`]); past
///   it, new connections wait unaccepted in the listen backlog until one closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From the moment a request is awaited until its headers are complete.
    pub header_read_timeout: Duration,
    /// Nothing read or written for this long closes the connection.
    pub idle_timeout: Duration,
    /// Connections served at once (at least 1).
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    /// kube's timeouts and [`DEFAULT_MAX_CONNECTIONS`].
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Where and how to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminOptions {
    /// Listen address (`--bind-address`, `--secure-port`); port 0 picks a free port, see
    /// [`AdminServer::local_addr`].
    pub addr: SocketAddr,
    /// TLS, or `None` for plain HTTP.
    pub tls: Option<TlsSource>,
    /// Timeouts and the connection cap.
    pub limits: ConnectionLimits,
    /// Who may read what: kube-scheduler's delegation by default.
    pub access: Access,
}

impl Default for AdminOptions {
    /// `0.0.0.0:10259` over HTTPS with a self-signed certificate, kube's connection timeouts
    /// and delegated authentication and authorization, as kube-scheduler.
    fn default() -> Self {
        Self {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_SECURE_PORT),
            tls: Some(TlsSource::self_signed()),
            limits: ConnectionLimits::default(),
            access: Access::default(),
        }
    }
}

/// Which watches have delivered their initial list; shared by the watches and `/readyz`.
#[derive(Clone, Debug)]
pub struct Readiness {
    synced: Arc<watch::Sender<BTreeMap<String, bool>>>,
}

impl Readiness {
    /// Readiness that waits for each of `watches` (e.g. `nodes`, `pods`,
    /// `poddisruptionbudgets`); with none it is ready at once.
    pub fn new<S: Into<String>>(watches: impl IntoIterator<Item = S>) -> Self {
        let map = watches.into_iter().map(|w| (w.into(), false)).collect();
        Self {
            synced: Arc::new(watch::Sender::new(map)),
        }
    }

    /// Marks a watch synced or not (a relist may mark it unsynced again); an unknown name
    /// is added.
    pub fn set_synced(&self, watch: &str, synced: bool) {
        self.synced.send_if_modified(|m| match m.get_mut(watch) {
            Some(s) if *s == synced => false,
            Some(s) => {
                *s = synced;
                true
            }
            None => {
                m.insert(watch.to_owned(), synced);
                true
            }
        });
    }

    /// The watches not synced yet, sorted.
    pub fn missing(&self) -> Vec<String> {
        self.synced
            .borrow()
            .iter()
            .filter(|(_, s)| !**s)
            .map(|(w, _)| w.clone())
            .collect()
    }

    /// Whether every watch has synced.
    pub fn is_ready(&self) -> bool {
        self.synced.borrow().values().all(|s| *s)
    }

    /// Waits until every watch has synced.
    pub async fn wait_ready(&self) {
        let mut rx = self.synced.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|m| m.values().all(|s| *s)).await;
    }
}

/// What the routes read.
#[derive(Clone, Debug)]
pub struct AdminState {
    /// The metrics `/metrics` encodes.
    pub metrics: Arc<Metrics>,
    /// What `/readyz` reports.
    pub readiness: Readiness,
}

/// The admin routes, without a listener (for embedding and tests).
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/livez", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn healthz() -> Response {
    text(StatusCode::OK, "ok".to_owned())
}

/// kube's health endpoints answer a bare `ok`, or with `?verbose` one `[+]`/`[-]` line per
/// check; failures always list the checks.
async fn readyz(
    State(state): State<AdminState>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let synced = state.readiness.synced.borrow().clone();
    let ready = synced.values().all(|s| *s);
    if ready && !query.contains_key("verbose") {
        return text(StatusCode::OK, "ok".to_owned());
    }
    let mut body = String::new();
    for (watch, ok) in &synced {
        if *ok {
            body.push_str(&format!("[+]informer-sync/{watch} ok\n"));
        } else {
            body.push_str(&format!(
                "[-]informer-sync/{watch} failed: the initial list has not arrived\n"
            ));
        }
    }
    if ready {
        body.push_str("readyz check passed\n");
        text(StatusCode::OK, body)
    } else {
        body.push_str("readyz check failed\n");
        text(StatusCode::SERVICE_UNAVAILABLE, body)
    }
}

async fn metrics(State(state): State<AdminState>) -> Response {
    match state.metrics.encode() {
        Ok(body) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The rustls configuration and the leaf certificate it serves.
fn tls_config(
    source: &TlsSource,
    client_certs: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
) -> Result<(Arc<rustls::ServerConfig>, CertificateDer<'static>), AdminError> {
    let (chain, key) = match source {
        TlsSource::SelfSigned { names } => {
            let certified = rcgen::generate_simple_self_signed(names.clone())?;
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                certified.signing_key.serialize_der(),
            ));
            (vec![certified.cert.der().clone()], key)
        }
        TlsSource::Files { cert, key } => {
            let bad = |path: &PathBuf, message: String| AdminError::CertFile {
                path: path.clone(),
                message,
            };
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| bad(cert, e.to_string()))?;
            if chain.is_empty() {
                return Err(bad(cert, "no CERTIFICATE block".to_owned()));
            }
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e.to_string()))?;
            (chain, key)
        }
    };
    let leaf = chain[0].clone();
    // ring explicitly: kube builds rustls with ring, and naming the provider avoids relying
    // on a process-wide default that another crate's features could make ambiguous.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?;
    let builder = match client_certs {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key)?;
    // Only HTTP/1.1 is served.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), leaf))
}

/// A running admin server.
#[derive(Debug)]
pub struct AdminServer {
    local_addr: SocketAddr,
    certificate: Option<CertificateDer<'static>>,
    task: JoinHandle<()>,
}

impl AdminServer {
    /// Makes the certificate, binds `options.addr` and serves `state` until `shutdown` is
    /// cancelled; `client` sends the access reviews ([`super::auth`]). Returns once the
    /// socket is bound, so probes and tests can connect at once.
    pub async fn start(
        options: AdminOptions,
        state: AdminState,
        client: Option<kube::Client>,
        shutdown: CancellationToken,
    ) -> Result<Self, AdminError> {
        let authorizer = Authorizer::new(&options.access, client.as_ref()).await?;
        // Client certificates need TLS; over plain HTTP there are none to ask for.
        let client_certs = match (&options.access, &options.tls) {
            (Access::Delegated(d), Some(_)) => d
                .client_ca_file
                .as_deref()
                .map(auth::client_cert_verifier)
                .transpose()?,
            _ => None,
        };
        let (acceptor, certificate) = match &options.tls {
            Some(source) => {
                let (config, leaf) = tls_config(source, client_certs)?;
                (Some(TlsAcceptor::from(config)), Some(leaf))
            }
            None => (None, None),
        };
        let listener =
            TcpListener::bind(options.addr)
                .await
                .map_err(|source| AdminError::Bind {
                    addr: options.addr,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| AdminError::Bind {
            addr: options.addr,
            source,
        })?;
        info!(
            %local_addr,
            scheme = if acceptor.is_some() { "https" } else { "http" },
            "serving /healthz, /livez, /readyz and /metrics"
        );
        let app = router(state).layer(axum::middleware::from_fn_with_state(
            authorizer,
            auth::check,
        ));
        let task = tokio::spawn(serve(listener, app, acceptor, options.limits, shutdown));
        Ok(Self {
            local_addr,
            certificate,
            task,
        })
    }

    /// The bound address (the actual port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The leaf certificate served (DER), `None` for plain HTTP; lets a client trust a
    /// self-signed certificate.
    pub fn certificate_der(&self) -> Option<&CertificateDer<'static>> {
        self.certificate.as_ref()
    }

    /// Waits until the server has stopped: after shutdown, once open connections have
    /// finished their requests (at most a few seconds).
    pub async fn wait(self) -> Result<(), AdminError> {
        Ok(self.task.await?)
    }
}

async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        // A free slot first, then a connection: past the cap, connections wait in the
        // listen backlog rather than being accepted and starved.
        let slot = tokio::select! {
            () = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                // The semaphore is never closed.
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!("admin server: accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let app = app.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            let result = match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => {
                            // A client certificate got here only if --client-ca-file signed
                            // it: its user goes with every request of the connection.
                            let cert_user = s
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|chain| chain.first())
                                .and_then(|leaf| auth::certificate_user(leaf));
                            let app = match cert_user {
                                Some(user) => app.layer(axum::Extension(ClientCertUser(user))),
                                None => app,
                            };
                            serve_connection(s, TowerToHyperService::new(app), watcher, limits)
                                .await
                        }
                        Ok(Err(e)) => {
                            debug!(%peer, "admin server: TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            debug!(%peer, "admin server: TLS handshake timed out");
                            return;
                        }
                    }
                }
                None => {
                    serve_connection(stream, TowerToHyperService::new(app), watcher, limits).await
                }
            };
            let Some(result) = result else {
                debug!(%peer, "admin server: closed a connection idle for {:?}", limits.idle_timeout);
                return;
            };
            if let Err(e) = result {
                debug!(%peer, "admin server: connection ended: {e}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("admin server: connections still open after {DRAIN_TIMEOUT:?}; closing them");
    }
    debug!("admin server stopped");
}

/// Serves HTTP/1.1 on one connection within `limits`; `None` when it was closed for being
/// idle.
async fn serve_connection<S>(
    stream: S,
    service: TowerToHyperService<Router>,
    watcher: hyper_util::server::graceful::Watcher,
    limits: ConnectionLimits,
) -> Option<hyper::Result<()>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    // hyper's header timeout needs a timer: without one it is not applied at all.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let activity = Activity::new();
    let io = TokioIo::new(Tracked::new(stream, activity.clone()));
    tokio::select! {
        r = watcher.watch(builder.serve_connection(io, service)) => Some(r),
        () = activity.idle_for(limits.idle_timeout) => None,
    }
}

/// When a connection last read or wrote a byte.
#[derive(Clone, Debug)]
struct Activity(Arc<std::sync::Mutex<tokio::time::Instant>>);

impl Activity {
    fn new() -> Self {
        Self(Arc::new(std::sync::Mutex::new(tokio::time::Instant::now())))
    }

    fn touch(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = tokio::time::Instant::now();
    }

    fn last(&self) -> tokio::time::Instant {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Completes once nothing has been read or written for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let deadline = self.last() + limit;
            if tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A stream that records its traffic in an [`Activity`].
struct Tracked<S> {
    inner: S,
    activity: Activity,
}

impl<S> Tracked<S> {
    fn new(inner: S, activity: Activity) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio_rustls::TlsConnector;

    /// Status, headers (lowercased names) and body of one HTTP/1.1 response.
    struct Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Reply {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    /// One request with `Connection: close`, read to the end; no HTTP client dependency.
    async fn request<S: AsyncRead + AsyncWrite + Unpin>(s: S, path: &str) -> Reply {
        request_with(s, path, "").await
    }

    /// [`request`] with more header lines (each ending in `\r\n`).
    async fn request_with<S: AsyncRead + AsyncWrite + Unpin>(
        mut s: S,
        path: &str,
        headers: &str,
    ) -> Reply {
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let mut raw = Vec::new();
        // A TLS peer may close without close_notify after the response; the bytes are in.
        let _ = s.read_to_end(&mut raw).await;
        let raw = String::from_utf8(raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_owned()))
            .collect();
        Reply {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    /// A client that trusts exactly the server's certificate, for the name `localhost`.
    fn connector(cert: &CertificateDer<'static>) -> TlsConnector {
        connector_with(cert, None)
    }

    /// [`connector`] presenting a client certificate (chain and PKCS#8 key, DER).
    fn connector_with(
        cert: &CertificateDer<'static>,
        client: Option<(CertificateDer<'static>, Vec<u8>)>,
    ) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        let config = match client {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![cert],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        TlsConnector::from(Arc::new(config))
    }

    async fn https(server: &AdminServer, path: &str) -> Reply {
        let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
        let tls = connector(server.certificate_der().unwrap())
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .unwrap();
        request(tls, path).await
    }

    fn state(watches: &[&str]) -> AdminState {
        AdminState {
            metrics: Arc::new(Metrics::new(&["jhub-user-scheduler"])),
            readiness: Readiness::new(watches.iter().copied()),
        }
    }

    fn local(tls: Option<TlsSource>) -> AdminOptions {
        AdminOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls,
            limits: ConnectionLimits::default(),
            access: Access::AllowAll,
        }
    }

    #[tokio::test]
    async fn serves_probes_readiness_and_metrics_over_https() {
        let state = state(&["nodes", "pods"]);
        let stop = CancellationToken::new();
        let server = AdminServer::start(
            local(Some(TlsSource::self_signed())),
            state.clone(),
            None,
            stop.clone(),
        )
        .await
        .unwrap();
        assert_ne!(server.local_addr().port(), 0);

        for path in ["/healthz", "/livez"] {
            let r = https(&server, path).await;
            assert_eq!((r.status, r.body.as_str()), (200, "ok"), "{path}");
        }

        let r = https(&server, "/readyz").await;
        assert_eq!(r.status, 503);
        assert!(
            r.body.contains("[-]informer-sync/nodes failed"),
            "{}",
            r.body
        );
        assert!(r.body.contains("[-]informer-sync/pods failed"));
        state.readiness.set_synced("nodes", true);
        let r = https(&server, "/readyz").await;
        assert_eq!(r.status, 503);
        assert!(r.body.contains("[+]informer-sync/nodes ok"));
        assert_eq!(state.readiness.missing(), ["pods"]);
        state.readiness.set_synced("pods", true);
        let r = https(&server, "/readyz").await;
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));
        let r = https(&server, "/readyz?verbose").await;
        assert_eq!(r.status, 200);
        assert!(r.body.ends_with("readyz check passed\n"), "{}", r.body);
        // A relist makes it unready again.
        state.readiness.set_synced("pods", false);
        assert_eq!(https(&server, "/readyz").await.status, 503);

        state.metrics.set_leader(true);
        let r = https(&server, "/metrics").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some(CONTENT_TYPE));
        assert!(r.body.contains("user_scheduler_leader 1\n"));
        assert!(r.body.ends_with("# EOF\n"));

        assert_eq!(https(&server, "/nope").await.status, 404);

        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), server.wait())
            .await
            .expect("stopped")
            .unwrap();
    }

    #[tokio::test]
    async fn a_client_that_checks_the_name_rejects_a_wrong_one() {
        let server = AdminServer::start(
            local(Some(TlsSource::SelfSigned {
                names: vec!["localhost".into()],
            })),
            state(&[]),
            None,
            CancellationToken::new(),
        )
        .await
        .unwrap();
        let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
        let err = connector(server.certificate_der().unwrap())
            .connect("elsewhere.example".try_into().unwrap(), tcp)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("certificate"), "{err}");
    }

    #[tokio::test]
    async fn serves_a_certificate_from_files() {
        let dir = std::env::temp_dir().join(format!(
            "user-scheduler-admin-test-{}-{}",
            std::process::id(),
            super::super::leader::default_identity()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();

        let server = AdminServer::start(
            local(Some(TlsSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            })),
            state(&[]),
            None,
            CancellationToken::new(),
        )
        .await
        .unwrap();
        assert_eq!(server.certificate_der(), Some(made.cert.der()));
        let r = https(&server, "/healthz").await;
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));
        // No watches to wait for: ready at once.
        assert_eq!(https(&server, "/readyz").await.status, 200);

        // A key file that holds no key is refused with the file's name.
        std::fs::write(&key, "not a key").unwrap();
        let err = AdminServer::start(
            local(Some(TlsSource::Files {
                cert,
                key: key.clone(),
            })),
            state(&[]),
            None,
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, AdminError::CertFile { path, .. } if *path == key),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn plain_http_mode_and_graceful_shutdown() {
        let stop = CancellationToken::new();
        let server = AdminServer::start(local(None), state(&["nodes"]), None, stop.clone())
            .await
            .unwrap();
        assert!(server.certificate_der().is_none());
        let addr = server.local_addr();
        let r = request(TcpStream::connect(addr).await.unwrap(), "/healthz").await;
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));
        let r = request(TcpStream::connect(addr).await.unwrap(), "/readyz").await;
        assert_eq!(r.status, 503);

        // A keep-alive connection left open does not hold shutdown up.
        let mut open = TcpStream::connect(addr).await.unwrap();
        open.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        open.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), server.wait())
            .await
            .expect("stopped")
            .unwrap();
        assert!(TcpStream::connect(addr).await.is_err(), "still listening");
    }

    #[tokio::test]
    async fn binding_a_taken_port_fails_with_the_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = AdminServer::start(
            AdminOptions {
                addr,
                tls: None,
                limits: ConnectionLimits::default(),
                access: Access::AllowAll,
            },
            state(&[]),
            None,
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }

    #[tokio::test]
    async fn metrics_are_served_only_to_whom_the_api_server_allows() {
        let sb = super::super::auth::tests::sandbox_with_tokens().await;
        let options = AdminOptions {
            access: Access::default(),
            ..local(Some(TlsSource::self_signed()))
        };
        let stop = CancellationToken::new();
        let server = AdminServer::start(options, state(&[]), Some(sb.client()), stop.clone())
            .await
            .unwrap();
        let get = |path: &'static str, token: Option<&'static str>| {
            let server = &server;
            async move {
                let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
                let tls = connector(server.certificate_der().unwrap())
                    .connect("localhost".try_into().unwrap(), tcp)
                    .await
                    .unwrap();
                let headers =
                    token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
                request_with(tls, path, &headers).await
            }
        };
        let r = get("/metrics", None).await;
        assert_eq!(r.status, 403);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(
            r.body.contains(
                r#""message":"forbidden: User \"system:anonymous\" cannot get path \"/metrics\"""#
            ),
            "{}",
            r.body
        );
        let r = get("/metrics", Some("forged")).await;
        assert_eq!(r.status, 401);
        assert!(r.body.contains(r#""reason":"Unauthorized""#), "{}", r.body);
        let r = get("/metrics", Some("denied")).await;
        assert_eq!(r.status, 403);
        assert!(
            r.body.contains(r#"User \"bob\" cannot get path"#),
            "{}",
            r.body
        );
        let r = get("/metrics", Some("allowed")).await;
        assert_eq!(r.status, 200);
        assert!(r.body.ends_with("# EOF\n"));
        for path in ["/healthz", "/livez", "/readyz"] {
            assert_eq!(get(path, None).await.status, 200, "{path}");
        }
        // Unknown paths are authorized first, as in kube: 403, not 404, for anonymous.
        assert_eq!(get("/nope", None).await.status, 403);
        stop.cancel();
        server.wait().await.unwrap();
    }

    #[tokio::test]
    async fn client_certificates_signed_by_the_client_ca_authenticate() {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair,
        };
        let ca = |name: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            let key = KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            (cert, Issuer::new(params, key))
        };
        let client = |issuer: &Issuer<'_, KeyPair>, cn: &str, org: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.distinguished_name.push(DnType::CommonName, cn);
            params
                .distinguished_name
                .push(DnType::OrganizationName, org);
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, issuer).unwrap();
            (cert.der().clone(), key.serialize_der())
        };
        let (ca_cert, issuer) = ca("client CA");
        let (_, stranger) = ca("another CA");
        let dir = std::env::temp_dir().join(format!(
            "user-scheduler-client-ca-{}-{}",
            std::process::id(),
            super::super::leader::default_identity()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_file = dir.join("ca.crt");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();

        // No API server to ask: only system:masters and the probes' paths are served, so
        // what a certificate is worth shows without any review.
        let options = AdminOptions {
            access: Access::Delegated(super::super::auth::DelegationOptions {
                client_ca_file: Some(ca_file),
                ..Default::default()
            }),
            ..local(Some(TlsSource::self_signed()))
        };
        let server = AdminServer::start(options, state(&[]), None, CancellationToken::new())
            .await
            .unwrap();
        let connect = |client: Option<(CertificateDer<'static>, Vec<u8>)>| {
            let server = &server;
            async move {
                let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
                connector_with(server.certificate_der().unwrap(), client)
                    .connect("localhost".try_into().unwrap(), tcp)
                    .await
            }
        };
        let admin = client(&issuer, "admin", "system:masters");
        let r = request(connect(Some(admin)).await.unwrap(), "/metrics").await;
        assert_eq!(r.status, 200, "{}", r.body);
        let prometheus = client(&issuer, "prometheus", "monitoring");
        let r = request(connect(Some(prometheus)).await.unwrap(), "/metrics").await;
        assert_eq!(r.status, 403);
        assert!(
            r.body.contains(r#"User \"prometheus\" cannot"#),
            "{}",
            r.body
        );
        // No certificate: anonymous.
        let r = request(connect(None).await.unwrap(), "/metrics").await;
        assert!(r.body.contains("system:anonymous"), "{}", r.body);
        // A certificate of another CA is refused by the handshake (TLS 1.3 reports it on
        // the first read).
        let forged = client(&stranger, "admin", "system:masters");
        if let Ok(mut tls) = connect(Some(forged)).await {
            let _ = tls
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await;
            let mut raw = Vec::new();
            let read = tls.read_to_end(&mut raw).await;
            assert!(
                read.is_err() || raw.is_empty(),
                "served: {}",
                String::from_utf8_lossy(&raw)
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A plain-HTTP server with these limits.
    async fn limited(limits: ConnectionLimits) -> AdminServer {
        let options = AdminOptions {
            limits,
            ..local(None)
        };
        AdminServer::start(options, state(&[]), None, CancellationToken::new())
            .await
            .unwrap()
    }

    /// Reads until the server closes the connection (end of stream or a reset), or `limit`
    /// passes; whether it closed, and what it sent.
    async fn closed_within(s: &mut TcpStream, limit: Duration) -> (bool, String) {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
                Err(_) => return (false, String::from_utf8_lossy(&got).into_owned()),
                Ok(Ok(0) | Err(_)) => return (true, String::from_utf8_lossy(&got).into_owned()),
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[tokio::test]
    async fn a_client_trickling_its_headers_is_cut_off_at_the_header_timeout() {
        // The issue's probe: a header line now and then keeps no connection alive past the
        // header timeout (the idle timeout is long, so it is the header timeout that acts).
        let server = limited(ConnectionLimits {
            header_read_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_secs(60),
            max_connections: 8,
        })
        .await;
        let started = tokio::time::Instant::now();
        let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let trickle = async {
            for i in 0..40 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if s.write_all(format!("X-Trickle-{i}: y\r\n").as_bytes())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        };
        // Bytes keep coming, so only the header timeout can end this.
        tokio::time::timeout(Duration::from_secs(5), trickle)
            .await
            .unwrap();
        let (closed, sent) = closed_within(&mut s, Duration::from_secs(1)).await;
        assert!(
            closed,
            "the connection is still open after {:?}",
            started.elapsed()
        );
        assert!(!sent.contains("200 OK"), "the request was served: {sent}");
    }

    #[tokio::test]
    async fn a_silent_connection_is_closed_at_the_idle_timeout() {
        let server = limited(ConnectionLimits {
            header_read_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_millis(200),
            max_connections: 8,
        })
        .await;
        // Served, then silent on a kept-alive connection.
        let mut s = TcpStream::connect(server.local_addr()).await.unwrap();
        s.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let started = tokio::time::Instant::now();
        let (closed, sent) = closed_within(&mut s, Duration::from_secs(3)).await;
        assert!(closed, "still open after {:?}", started.elapsed());
        assert!(sent.starts_with("HTTP/1.1 200"), "{sent}");
        assert!(started.elapsed() >= Duration::from_millis(150));
    }

    #[tokio::test]
    async fn connections_past_the_cap_wait_for_a_free_slot() {
        let server = limited(ConnectionLimits {
            header_read_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            max_connections: 2,
        })
        .await;
        let addr = server.local_addr();
        // Two connections hold both slots, each with a request half sent.
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
            held.push(s);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        // A third is connected (the backlog takes it) but not served.
        let mut third = TcpStream::connect(addr).await.unwrap();
        third
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        assert!(
            tokio::time::timeout(Duration::from_millis(500), third.read_exact(&mut first))
                .await
                .is_err(),
            "served beside two connections with a cap of two"
        );
        // One closes: the third is served.
        drop(held.pop());
        tokio::time::timeout(Duration::from_secs(5), third.read_exact(&mut first))
            .await
            .expect("served once a slot is free")
            .unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
    }

    #[tokio::test]
    async fn readiness_waits_for_every_watch() {
        let r = Readiness::new(["nodes", "pods"]);
        assert!(!r.is_ready());
        let waiter = tokio::spawn({
            let r = r.clone();
            async move { r.wait_ready().await }
        });
        r.set_synced("nodes", true);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        r.set_synced("pods", true);
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
        assert!(r.is_ready());
        r.set_synced("poddisruptionbudgets", false);
        assert_eq!(r.missing(), ["poddisruptionbudgets"]);
        assert!(Readiness::new(Vec::<String>::new()).is_ready());
    }
}
