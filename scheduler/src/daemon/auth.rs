//! Who may read what on the admin server: kube-scheduler's delegated authentication and
//! authorization (k8s.io/apiserver's `DelegatingAuthenticationOptions` and
//! `DelegatingAuthorizationOptions`, with kube-scheduler's settings), so that `/metrics` is
//! not served to anyone who can reach port 10259.
//!
//! Every request is authenticated, then authorized, as kube's handler chain does:
//! 1. **Authentication**, the first that applies:
//!    - a client certificate that `--client-ca-file` signed (checked during the TLS
//!      handshake) is the user named by its CommonName, in the groups of its Organizations;
//!    - `Authorization: Bearer <token>` is sent to the API server in a TokenReview
//!      (authentication.k8s.io/v1); a token it does not authenticate, or a review that fails,
//!      is answered 401 `Unauthorized`, as kube answers;
//!    - anything else is anonymous: `system:anonymous`, group `system:unauthenticated`.
//!
//!    Authenticated users get the group `system:authenticated`. Authentication comes first
//!    even on the always-allowed paths, as in kube: a probe that sends a bad token gets 401
//!    (kubelet's probes send none).
//! 2. **Authorization**, the first that decides: a user in `system:masters` may do anything
//!    (kube's `AlwaysAllowGroups` default, which has no flag); a path in
//!    `--authorization-always-allow-paths` (default `/healthz,/readyz,/livez`; a trailing `*`
//!    matches a prefix) is allowed to anyone; else a SubjectAccessReview
//!    (authorization.k8s.io/v1) asks whether the user may `get` (the request's method in lower
//!    case) the non-resource URL (the path). Not allowed: 403 with kube's `Forbidden` Status,
//!    `forbidden: User "system:anonymous" cannot get path "/metrics"`; the review failed: 500.
//!
//! Answers are cached as kube caches them, 10 s each by default: token reviews, authenticated
//! or not (`--authentication-token-webhook-cache-ttl`), and access reviews allowed
//! (`--authorization-webhook-cache-authorized-ttl`) or not
//! (`--authorization-webhook-cache-unauthorized-ttl`). Failed reviews are not cached. So a
//! Prometheus scraping every few seconds costs two reviews per 10 s, not two per scrape.
//!
//! The reviews are sent with `--authentication-kubeconfig` and `--authorization-kubeconfig`
//! when given, else through the daemon's own connection. kube-scheduler falls back to the
//! in-cluster configuration only, so outside a cluster, without these flags, it authenticates
//! no token and forbids everything but the always-allowed paths; in a cluster the daemon's
//! connection is that in-cluster one, and outside one it is the kubeconfig the operator chose.
//!
//! Accepted and ignored (`cli::KUBE_SCHEDULER_IGNORED_FLAGS`):
//! - `--requestheader-*`: front-proxy authentication (a user named in `X-Remote-User` by a
//!   proxy holding a certificate of `--requestheader-client-ca-file`) is for API servers
//!   behind the aggregator, which the scheduler never is. Ignoring it only ever denies: such
//!   a request is authenticated by its own certificate or token, or is anonymous.
//! - `--authentication-skip-lookup`, `--authentication-tolerate-lookup-failure`: without
//!   `--client-ca-file`, kube looks up the client CA and the request-header settings in the
//!   ConfigMap `kube-system/extension-apiserver-authentication`, and with kube-scheduler's
//!   default (tolerate) a failed lookup is only a warning. The daemon never looks it up, as
//!   kube does with `--authentication-skip-lookup=true`, the z2jh chart's setting (its role
//!   cannot read that ConfigMap, z2jh#1894): client certificates are accepted only from
//!   `--client-ca-file`.
//!
//! [`Access::AllowAll`] serves everyone: for tests and embedding only (`run` never chooses it).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::server::danger::ClientCertVerifier;
use tokio::time::Instant;
use tracing::{debug, warn};

/// kube's default `--authorization-always-allow-paths`: what kubelet probes.
pub const DEFAULT_ALWAYS_ALLOW_PATHS: [&str; 3] = ["/healthz", "/readyz", "/livez"];

/// kube's `AlwaysAllowGroups`: in an API server `system:masters` may do anything anyway.
pub const ALWAYS_ALLOW_GROUPS: [&str; 1] = ["system:masters"];

/// kube's default for each of the three cache TTLs ("very low for responsiveness, but high
/// enough to handle storms").
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(10);

/// How long one review may take: kube's `TokenRequestTimeout` and `ClientTimeout`.
const REVIEW_TIMEOUT: Duration = Duration::from_secs(10);

/// Entries each cache keeps at most: kube's access review cache size (its token cache has no
/// bound; ours does, so that a stream of random tokens cannot grow memory).
const CACHE_CAPACITY: usize = 8192;

/// The anonymous user and its group.
const ANONYMOUS: &str = "system:anonymous";
const UNAUTHENTICATED: &str = "system:unauthenticated";
const AUTHENTICATED: &str = "system:authenticated";

/// Errors of authentication and authorization.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A path of `--authorization-always-allow-paths` with a `*` elsewhere than at the end.
    #[error("--authorization-always-allow-paths: only trailing * allowed in {0:?}")]
    AlwaysAllowPath(String),
    /// A kubeconfig for the reviews could not be read or used.
    #[error("{flag} {path}: {message}")]
    Kubeconfig {
        /// The flag that named it.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `--client-ca-file` could not be read or holds no usable CA certificate.
    #[error("--client-ca-file {path}: {message}")]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A review could not be sent or was refused.
    #[error("{review}: {source}")]
    Review {
        /// `TokenReview` or `SubjectAccessReview`.
        review: &'static str,
        /// The client's error.
        source: kube::Error,
    },
    /// A review took longer than 10 s (kube's review timeouts).
    #[error("{0}: no answer within 10s")]
    ReviewTimeout(&'static str),
    /// An answer without a status, or with both allowed and denied.
    #[error("{0}")]
    BadAnswer(&'static str),
}

/// The delegation's settings, from kube-scheduler's flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelegationOptions {
    /// `--authorization-always-allow-paths`.
    pub always_allow_paths: Vec<String>,
    /// `--authentication-kubeconfig`: who sends TokenReviews (the daemon's connection when
    /// absent).
    pub authentication_kubeconfig: Option<PathBuf>,
    /// `--authorization-kubeconfig`: who sends SubjectAccessReviews.
    pub authorization_kubeconfig: Option<PathBuf>,
    /// `--authentication-token-webhook-cache-ttl`.
    pub token_cache_ttl: Duration,
    /// `--authorization-webhook-cache-authorized-ttl`.
    pub allowed_cache_ttl: Duration,
    /// `--authorization-webhook-cache-unauthorized-ttl`.
    pub denied_cache_ttl: Duration,
    /// `--client-ca-file`: client certificates it signed authenticate (TLS only).
    pub client_ca_file: Option<PathBuf>,
}

impl Default for DelegationOptions {
    /// kube-scheduler's defaults.
    fn default() -> Self {
        Self {
            always_allow_paths: DEFAULT_ALWAYS_ALLOW_PATHS.map(String::from).to_vec(),
            authentication_kubeconfig: None,
            authorization_kubeconfig: None,
            token_cache_ttl: DEFAULT_CACHE_TTL,
            allowed_cache_ttl: DEFAULT_CACHE_TTL,
            denied_cache_ttl: DEFAULT_CACHE_TTL,
            client_ca_file: None,
        }
    }
}

impl DelegationOptions {
    /// Checks what can be checked before anything starts: the paths, and the client CA file.
    ///
    /// # Errors
    /// A bad always-allowed path, or an unusable `--client-ca-file`.
    pub fn validate(&self) -> Result<(), AuthError> {
        PathMatcher::new(&self.always_allow_paths)?;
        if let Some(path) = &self.client_ca_file {
            client_cert_verifier(path)?;
        }
        Ok(())
    }
}

/// Who may read what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Everyone may read everything: tests and embedding without an API server to ask
    /// (`demo` serves no admin port). Never chosen by `run`.
    AllowAll,
    /// kube-scheduler's delegation to the API server.
    Delegated(DelegationOptions),
}

impl Default for Access {
    /// kube-scheduler's: delegated, with its defaults.
    fn default() -> Self {
        Access::Delegated(DelegationOptions::default())
    }
}

/// A user as kube's authenticators describe it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct UserInfo {
    /// The user name.
    pub name: String,
    /// The uid, when the authenticator knows one.
    pub uid: String,
    /// The groups.
    pub groups: Vec<String>,
    /// Extra attributes (from a TokenReview).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    fn anonymous() -> Self {
        Self {
            name: ANONYMOUS.into(),
            groups: vec![UNAUTHENTICATED.into()],
            ..Self::default()
        }
    }

    /// kube's `AuthenticatedGroupAdder`: `system:authenticated` for every authenticated user
    /// who is not anonymous and not already in it or in `system:unauthenticated`.
    fn with_authenticated_group(mut self) -> Self {
        if self.name != ANONYMOUS
            && !self
                .groups
                .iter()
                .any(|g| g == AUTHENTICATED || g == UNAUTHENTICATED)
        {
            self.groups.push(AUTHENTICATED.into());
        }
        self
    }
}

/// The user of a connection's verified client certificate, put in each request's extensions
/// by the admin server.
#[derive(Clone, Debug)]
pub struct ClientCertUser(pub UserInfo);

/// The verifier of client certificates for `--client-ca-file`. Certificates are asked for
/// but not required (kube's `tls.RequestClientCert`): a client without one goes on to token
/// or anonymous authentication. One that a CA of the file did not sign fails the handshake
/// (kube answers such a request 401 instead; either way it is not served).
///
/// # Errors
/// The file cannot be read, holds no certificate, or rustls refuses them as roots.
pub fn client_cert_verifier(path: &Path) -> Result<Arc<dyn ClientCertVerifier>, AuthError> {
    let bad = |message: String| AuthError::ClientCa {
        path: path.to_path_buf(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE block".into()));
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    // ring, as the serving configuration (admin.rs) names it.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|e| bad(e.to_string()))
}

/// The user a client certificate (DER, already verified) stands for: kube's
/// `CommonNameUserConversion`, the subject's CommonName (the last one) as the name and its
/// Organizations as groups; `None` without a CommonName (the request then goes on to token
/// or anonymous authentication) or when the certificate cannot be read.
pub fn certificate_user(der: &[u8]) -> Option<UserInfo> {
    let (common_name, organizations) = subject_names(der)?;
    let name = common_name.filter(|n| !n.is_empty())?;
    Some(UserInfo {
        name,
        groups: organizations,
        ..UserInfo::default()
    })
}

/// (tag, contents, what follows) of the DER element at the start of `der`.
fn der_element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    // High tag numbers do not occur in the fields read here.
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        // Long form, at most 4 length bytes (certificates are far smaller); 0x80, the
        // indefinite length, is not DER.
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let len = rest
            .get(..n)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest.get(n..)?)
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

/// The subject's CommonName (the last, as Go's `pkix.Name` keeps) and Organizations.
fn subject_names(der: &[u8]) -> Option<(Option<String>, Vec<String>)> {
    const SEQUENCE: u8 = 0x30;
    const SET: u8 = 0x31;
    const OID: u8 = 0x06;
    const VERSION: u8 = 0xa0;
    const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
    const ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];
    let (SEQUENCE, certificate, _) = der_element(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = der_element(certificate)? else {
        return None;
    };
    // TBSCertificate: [0] version (optional), serialNumber, signature, issuer, validity,
    // subject.
    let (mut tag, mut field, mut rest) = der_element(tbs)?;
    if tag == VERSION {
        (tag, field, rest) = der_element(rest)?;
    }
    for _ in 0..4 {
        (tag, field, rest) = der_element(rest)?;
    }
    if tag != SEQUENCE {
        return None;
    }
    let (mut common_name, mut organizations) = (None, Vec::new());
    let mut rdns = field;
    while !rdns.is_empty() {
        let (SET, mut attributes, next) = der_element(rdns)? else {
            return None;
        };
        rdns = next;
        while !attributes.is_empty() {
            let (SEQUENCE, attribute, next) = der_element(attributes)? else {
                return None;
            };
            attributes = next;
            let (OID, oid, value) = der_element(attribute)? else {
                return None;
            };
            let (value_tag, value, _) = der_element(value)?;
            let Some(text) = directory_string(value_tag, value) else {
                continue;
            };
            if oid == COMMON_NAME {
                common_name = Some(text);
            } else if oid == ORGANIZATION {
                organizations.push(text);
            }
        }
    }
    Some((common_name, organizations))
}

/// The text of a DirectoryString (UTF8String, PrintableString, IA5String, TeletexString,
/// BMPString); `None` for other types.
fn directory_string(tag: u8, value: &[u8]) -> Option<String> {
    match tag {
        0x0c | 0x13 | 0x16 | 0x14 => Some(String::from_utf8_lossy(value).into_owned()),
        0x1e => {
            let units: Vec<u16> = value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            Some(String::from_utf16_lossy(&units))
        }
        _ => None,
    }
}

/// `--authorization-always-allow-paths` as kube's path authorizer reads it: the leading `/`
/// is optional, a trailing `*` matches a prefix, `*` elsewhere is an error.
#[derive(Clone, Debug, Default)]
struct PathMatcher {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl PathMatcher {
    fn new(paths: &[String]) -> Result<Self, AuthError> {
        let mut m = PathMatcher::default();
        for p in paths {
            let p = p.strip_prefix('/').unwrap_or(p);
            let mut all_but_last = p.chars();
            all_but_last.next_back();
            if all_but_last.as_str().contains('*') {
                return Err(AuthError::AlwaysAllowPath(p.to_string()));
            }
            match p.strip_suffix('*') {
                Some(prefix) => m.prefixes.push(prefix.to_string()),
                // "" matches "/".
                None => m.exact.push(p.to_string()),
            }
        }
        Ok(m)
    }

    fn allows(&self, path: &str) -> bool {
        let path = path.strip_prefix('/').unwrap_or(path);
        self.exact.iter().any(|p| p == path) || self.prefixes.iter().any(|p| path.starts_with(p))
    }
}

/// A cache whose entries expire, bounded to [`CACHE_CAPACITY`] entries: when full, expired
/// entries go, and if none has expired the one expiring first.
struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((value, expires)) if *expires > Instant::now() => Some(value.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn insert(&self, key: K, value: V, ttl: Duration) {
        let now = Instant::now();
        // A TTL of 0 caches nothing; one too large for the clock is not cached either.
        let Some(expires) = now.checked_add(ttl).filter(|_| !ttl.is_zero()) else {
            return;
        };
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_CAPACITY && !entries.contains_key(&key) {
            entries.retain(|_, (_, e)| *e > now);
            if entries.len() >= CACHE_CAPACITY
                && let Some(first) = entries
                    .iter()
                    .min_by_key(|(_, (_, e))| *e)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&first);
            }
        }
        entries.insert(key, (value, expires));
    }
}

/// What a SubjectAccessReview is asked, and its cache key (kube keys on the whole spec).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct AccessKey {
    user: UserInfo,
    verb: String,
    path: String,
}

/// A SubjectAccessReview's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
struct AccessAnswer {
    allowed: bool,
    reason: String,
}

/// What the admin server does with one request.
#[derive(Debug)]
pub enum Decision {
    /// Serve it.
    Allow,
    /// 401: a bearer token the API server did not authenticate, or a TokenReview that failed.
    Unauthorized,
    /// 403.
    Forbidden {
        /// Who asked.
        user: String,
        /// The verb (the method in lower case).
        verb: String,
        /// The path.
        path: String,
        /// The access review's reason, if it gave one.
        reason: String,
    },
    /// 500: the SubjectAccessReview failed.
    Failed(AuthError),
}

/// The runtime side of [`Access`]: the review clients and the caches.
#[derive(Clone)]
pub enum Authorizer {
    /// [`Access::AllowAll`].
    AllowAll,
    /// [`Access::Delegated`].
    Delegated(Arc<Delegated>),
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Authorizer::AllowAll => f.write_str("AllowAll"),
            Authorizer::Delegated(d) => f
                .debug_struct("Delegated")
                .field("options", &d.options)
                .field("token_reviews", &d.token_reviews.is_some())
                .field("access_reviews", &d.access_reviews.is_some())
                .finish_non_exhaustive(),
        }
    }
}

/// Delegated authentication and authorization.
pub struct Delegated {
    options: DelegationOptions,
    paths: PathMatcher,
    /// Who sends TokenReviews; without one every bearer token is ignored (the request is
    /// anonymous), as kube does without a TokenReview client.
    token_reviews: Option<kube::Client>,
    /// Who sends SubjectAccessReviews; without one only the always-allowed paths and groups
    /// are served.
    access_reviews: Option<kube::Client>,
    /// SHA-256 of the token (kube keeps tokens out of its cache too) → the user, or `None`
    /// for a token not authenticated.
    tokens: TtlCache<[u8; 32], Option<UserInfo>>,
    access: TtlCache<AccessKey, AccessAnswer>,
}

impl Authorizer {
    /// The authorizer for `access`; `client` sends the reviews unless a kubeconfig flag names
    /// another connection. With neither, tokens are ignored and only the always-allowed
    /// paths and groups are served, as kube-scheduler without a connection.
    ///
    /// # Errors
    /// A bad always-allowed path, or a kubeconfig flag's file that cannot be used.
    pub async fn new(access: &Access, client: Option<&kube::Client>) -> Result<Self, AuthError> {
        let Access::Delegated(options) = access else {
            return Ok(Authorizer::AllowAll);
        };
        let paths = PathMatcher::new(&options.always_allow_paths)?;
        let token_reviews = match &options.authentication_kubeconfig {
            Some(path) => Some(kubeconfig_client("--authentication-kubeconfig", path).await?),
            None => client.cloned(),
        };
        let access_reviews = match &options.authorization_kubeconfig {
            Some(path) => Some(kubeconfig_client("--authorization-kubeconfig", path).await?),
            None => client.cloned(),
        };
        if access_reviews.is_none() {
            warn!(
                "admin server: no connection for SubjectAccessReviews: only {:?} are served",
                options.always_allow_paths
            );
        }
        Ok(Authorizer::Delegated(Arc::new(Delegated {
            options: options.clone(),
            paths,
            token_reviews,
            access_reviews,
            tokens: TtlCache::new(),
            access: TtlCache::new(),
        })))
    }

    /// Decides one request: `path` is the URL's path (percent-encoded or not), `cert` the
    /// user of the connection's verified client certificate.
    pub async fn decide(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        cert: Option<&UserInfo>,
    ) -> Decision {
        match self {
            Authorizer::AllowAll => Decision::Allow,
            Authorizer::Delegated(d) => d.decide(method, path, headers, cert).await,
        }
    }
}

impl Delegated {
    async fn decide(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        cert: Option<&UserInfo>,
    ) -> Decision {
        let user = match self.authenticate(headers, cert).await {
            Ok(user) => user,
            Err(e) => {
                // kube logs these at error level; a scraper with an expired token would fill
                // the log, so debug unless the review itself failed.
                match &e {
                    Some(e) => warn!("admin server: unable to authenticate the request: {e}"),
                    None => debug!("admin server: invalid bearer token"),
                }
                return Decision::Unauthorized;
            }
        };
        // kube authorizes the decoded path (Go's URL.Path) with the method in lower case.
        let path = percent_decode(path);
        let verb = method.as_str().to_ascii_lowercase();
        if user
            .groups
            .iter()
            .any(|g| ALWAYS_ALLOW_GROUPS.contains(&g.as_str()))
            || self.paths.allows(&path)
        {
            return Decision::Allow;
        }
        let Some(client) = &self.access_reviews else {
            return Decision::Forbidden {
                user: user.name,
                verb,
                path,
                reason: String::new(),
            };
        };
        let key = AccessKey { user, verb, path };
        let answer = match self.access.get(&key) {
            Some(answer) => answer,
            None => match review_access(client, &key).await {
                Ok(answer) => {
                    let ttl = if answer.allowed {
                        self.options.allowed_cache_ttl
                    } else {
                        self.options.denied_cache_ttl
                    };
                    self.access.insert(key.clone(), answer.clone(), ttl);
                    answer
                }
                Err(e) => {
                    warn!("admin server: authorizing {} {}: {e}", key.verb, key.path);
                    return Decision::Failed(e);
                }
            },
        };
        if answer.allowed {
            Decision::Allow
        } else {
            debug!(user = %key.user.name, path = %key.path, reason = %answer.reason, "admin server: forbidden");
            Decision::Forbidden {
                user: key.user.name,
                verb: key.verb,
                path: key.path,
                reason: answer.reason,
            }
        }
    }

    /// The request's user; `Err(None)` for a token not authenticated, `Err(Some(_))` for a
    /// review that failed.
    async fn authenticate(
        &self,
        headers: &HeaderMap,
        cert: Option<&UserInfo>,
    ) -> Result<UserInfo, Option<AuthError>> {
        if let Some(user) = cert {
            return Ok(user.clone().with_authenticated_group());
        }
        let (Some(token), Some(client)) = (bearer_token(headers), &self.token_reviews) else {
            return Ok(UserInfo::anonymous());
        };
        let key: [u8; 32] = {
            let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
            let mut key = [0u8; 32];
            key.copy_from_slice(digest.as_ref());
            key
        };
        let user = match self.tokens.get(&key) {
            Some(user) => user,
            None => {
                let user = review_token(client, token).await.map_err(Some)?;
                self.tokens
                    .insert(key, user.clone(), self.options.token_cache_ttl);
                user
            }
        };
        user.map(UserInfo::with_authenticated_group).ok_or(None)
    }
}

/// The bearer token of `Authorization`, as kube's bearer authenticator reads it: the header
/// trimmed and split at single spaces; the first part `bearer` in any case, the second the
/// token. Another scheme, or an empty token, is no token (the request is then anonymous).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let mut parts = value.split(' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Creates `review` (a TokenReview or a SubjectAccessReview, named `kind`
/// in errors) within [`REVIEW_TIMEOUT`] and returns the API server's answer.
async fn create_review<K>(
    client: &kube::Client,
    review: &K,
    kind: &'static str,
) -> Result<K, AuthError>
where
    K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let api: Api<K> = Api::all(client.clone());
    tokio::time::timeout(REVIEW_TIMEOUT, api.create(&PostParams::default(), review))
        .await
        .map_err(|_| AuthError::ReviewTimeout(kind))?
        .map_err(|source| AuthError::Review {
            review: kind,
            source,
        })
}

/// A TokenReview: `Some(user)` when the API server authenticated the token.
async fn review_token(client: &kube::Client, token: &str) -> Result<Option<UserInfo>, AuthError> {
    const REVIEW: &str = "TokenReview";
    let review = TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.to_string()),
            ..TokenReviewSpec::default()
        },
        ..TokenReview::default()
    };
    let answer = create_review(client, &review, REVIEW).await?;
    let status = answer
        .status
        .ok_or(AuthError::BadAnswer("TokenReview: no status in the answer"))?;
    if status.authenticated != Some(true) {
        return Ok(None);
    }
    let user = status.user.unwrap_or_default();
    Ok(Some(UserInfo {
        name: user.username.unwrap_or_default(),
        uid: user.uid.unwrap_or_default(),
        groups: user.groups.unwrap_or_default(),
        extra: user.extra.unwrap_or_default(),
    }))
}

/// A SubjectAccessReview of `key`'s user getting (or whatever the verb) `key`'s path.
async fn review_access(client: &kube::Client, key: &AccessKey) -> Result<AccessAnswer, AuthError> {
    const REVIEW: &str = "SubjectAccessReview";
    let user = &key.user;
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.name.clone()),
            uid: (!user.uid.is_empty()).then(|| user.uid.clone()),
            groups: Some(user.groups.clone()),
            extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
            non_resource_attributes: Some(NonResourceAttributes {
                path: Some(key.path.clone()),
                verb: Some(key.verb.clone()),
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let answer = create_review(client, &review, REVIEW).await?;
    let status = answer.status.ok_or(AuthError::BadAnswer(
        "SubjectAccessReview: no status in the answer",
    ))?;
    // kube's webhook authorizer: both at once is an error; denied or neither is not allowed.
    if status.allowed && status.denied == Some(true) {
        return Err(AuthError::BadAnswer(
            "webhook subject access review returned both allow and deny response",
        ));
    }
    Ok(AccessAnswer {
        allowed: status.allowed,
        reason: status.reason.unwrap_or_default(),
    })
}

/// A client for a kubeconfig flag's file, with the daemon's bounded retries.
async fn kubeconfig_client(flag: &'static str, path: &Path) -> Result<kube::Client, AuthError> {
    let bad = |message: String| AuthError::Kubeconfig {
        flag,
        path: path.to_path_buf(),
        message,
    };
    let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| bad(e.to_string()))?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .map_err(|e| bad(e.to_string()))?;
    crate::run::client_from(config).map_err(|e| bad(e.to_string()))
}

/// The path with `%XX` escapes decoded, as Go's `URL.Path`; a malformed escape stays as is.
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's `%q`: the string in double quotes, with `"` and `\` escaped and control characters
/// written as escapes.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A `metav1.Status` failure as kube writes it (field order included).
#[derive(serde::Serialize)]
struct Status<'a> {
    kind: &'static str,
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    metadata: BTreeMap<String, String>,
    status: &'static str,
    message: &'a str,
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<BTreeMap<String, String>>,
    code: u16,
}

fn status_response(
    code: StatusCode,
    reason: &'static str,
    message: &str,
    details: bool,
) -> Response {
    let status = Status {
        kind: "Status",
        api_version: "v1",
        metadata: BTreeMap::new(),
        status: "Failure",
        message,
        reason,
        details: details.then(BTreeMap::new),
        code: code.as_u16(),
    };
    let body = serde_json::to_vec(&status).unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The answer to a request that is not to be served, as kube words it.
fn refusal(decision: Decision, request_uri: &str) -> Response {
    match decision {
        Decision::Allow => StatusCode::OK.into_response(),
        // apierrors.NewUnauthorized("Unauthorized").
        Decision::Unauthorized => status_response(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized",
            false,
        ),
        // responsewriters.Forbidden: the message HTML-escaped, the reason after a colon.
        Decision::Forbidden {
            user,
            verb,
            path,
            reason,
        } => {
            let message = format!(
                "User {} cannot {verb} path {}",
                go_quote(&user),
                go_quote(&path)
            )
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
            let message = if reason.is_empty() {
                message
            } else {
                format!("{message}: {reason}")
            };
            status_response(
                StatusCode::FORBIDDEN,
                "Forbidden",
                &format!("forbidden: {message}"),
                true,
            )
        }
        // responsewriters.InternalError: plain text.
        Decision::Failed(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            format!("Internal Server Error: {}: {e}\n", go_quote(request_uri)),
        )
            .into_response(),
    }
}

/// The admin routes' middleware: serves the request or answers 401, 403 or 500.
pub async fn check(State(authorizer): State<Authorizer>, request: Request, next: Next) -> Response {
    if matches!(authorizer, Authorizer::AllowAll) {
        return next.run(request).await;
    }
    let cert = request
        .extensions()
        .get::<ClientCertUser>()
        .map(|c| c.0.clone());
    let decision = authorizer
        .decide(
            request.method(),
            request.uri().path(),
            request.headers(),
            cert.as_ref(),
        )
        .await;
    match decision {
        Decision::Allow => next.run(request).await,
        refused => {
            let uri = request
                .uri()
                .path_and_query()
                .map_or_else(|| request.uri().path().to_string(), |p| p.to_string());
            refusal(refused, &uri)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A sandbox that knows two tokens: `allowed` (the service account
    /// monitoring/prometheus, bound to a ClusterRole that may get /metrics) and `denied`
    /// (the user bob, bound to nothing).
    pub(crate) async fn sandbox_with_tokens() -> sandbox::Sandbox {
        let sb = sandbox::Sandbox::start(sandbox::SandboxOptions::default())
            .await
            .unwrap();
        sb.add_token(
            "allowed",
            sandbox::TokenUser::service_account("monitoring", "prometheus"),
        );
        sb.add_token("denied", sandbox::TokenUser::new("bob", &[]));
        sb.seed_yaml(
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: metrics-reader}
rules:
  - nonResourceURLs: [/metrics]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: prometheus-metrics}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: metrics-reader}
subjects:
  - {kind: ServiceAccount, name: prometheus, namespace: monitoring}
"#,
        )
        .unwrap();
        sb
    }

    fn with_token(token: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(t) = token {
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
            );
        }
        headers
    }

    /// (TokenReviews, SubjectAccessReviews) the sandbox has answered.
    fn reviews(sb: &sandbox::Sandbox) -> (usize, usize) {
        let log = sb.requests();
        let count = |r: &str| log.iter().filter(|x| x.resource == r).count();
        (count("tokenreviews"), count("subjectaccessreviews"))
    }

    async fn delegated(sb: &sandbox::Sandbox, options: DelegationOptions) -> Authorizer {
        Authorizer::new(&Access::Delegated(options), Some(&sb.client()))
            .await
            .unwrap()
    }

    /// What a decision comes to: the status code, and the user named by a 403.
    fn outcome(d: &Decision) -> (u16, &str) {
        match d {
            Decision::Allow => (200, ""),
            Decision::Unauthorized => (401, ""),
            Decision::Forbidden { user, .. } => (403, user.as_str()),
            Decision::Failed(_) => (500, ""),
        }
    }

    #[tokio::test]
    async fn the_decision_table() {
        let sb = sandbox_with_tokens().await;
        let auth = delegated(&sb, DelegationOptions::default()).await;
        let prometheus_cert = UserInfo {
            name: "prometheus".into(),
            groups: vec!["monitoring".into()],
            ..UserInfo::default()
        };
        let admin_cert = UserInfo {
            name: "admin".into(),
            groups: vec!["system:masters".into()],
            ..UserInfo::default()
        };
        // (path, bearer token, client certificate user, (status, user named by a 403)).
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            Option<&'a UserInfo>,
            (u16, &'a str),
        );
        let cases: &[Case<'_>] = &[
            // No token: anonymous, and the API server does not let anonymous read /metrics.
            ("/metrics", None, None, (403, "system:anonymous")),
            // A token the API server does not know: 401, as kube.
            ("/metrics", Some("forged"), None, (401, "")),
            ("/metrics", Some("allowed"), None, (200, "")),
            ("/metrics", Some("denied"), None, (403, "bob")),
            // Always-allowed paths need no authorization, but authentication still runs.
            ("/healthz", None, None, (200, "")),
            ("/readyz", Some("denied"), None, (200, "")),
            ("/livez", Some("forged"), None, (401, "")),
            // Paths are compared decoded.
            ("/heal%74hz", None, None, (200, "")),
            (
                "/nothing-here",
                Some("allowed"),
                None,
                (403, "system:serviceaccount:monitoring:prometheus"),
            ),
            // A certificate user comes before the token; system:masters needs no review.
            (
                "/metrics",
                Some("allowed"),
                Some(&prometheus_cert),
                (403, "prometheus"),
            ),
            ("/metrics", None, Some(&admin_cert), (200, "")),
        ];
        for (path, token, cert, want) in cases {
            let d = auth
                .decide(&Method::GET, path, &with_token(*token), *cert)
                .await;
            assert_eq!(
                outcome(&d),
                *want,
                "{path} token {token:?} cert {cert:?}: {d:?}"
            );
        }
        // A POST asks for the verb post.
        let d = auth
            .decide(
                &Method::POST,
                "/metrics",
                &with_token(Some("allowed")),
                None,
            )
            .await;
        assert!(
            matches!(&d, Decision::Forbidden { verb, .. } if verb == "post"),
            "{d:?}"
        );
    }

    #[tokio::test]
    async fn answers_are_cached_for_their_ttl_and_failures_are_not() {
        let sb = sandbox_with_tokens().await;
        let auth = delegated(&sb, DelegationOptions::default()).await;
        for _ in 0..5 {
            let d = auth
                .decide(&Method::GET, "/metrics", &with_token(Some("allowed")), None)
                .await;
            assert!(matches!(d, Decision::Allow), "{d:?}");
        }
        assert_eq!(
            reviews(&sb),
            (1, 1),
            "one review of each kind for five scrapes"
        );
        // Denials and unknown tokens are cached too.
        for _ in 0..3 {
            auth.decide(&Method::GET, "/metrics", &with_token(Some("denied")), None)
                .await;
            auth.decide(&Method::GET, "/metrics", &with_token(Some("forged")), None)
                .await;
        }
        assert_eq!(reviews(&sb), (3, 2));

        // Short TTLs: expired answers are asked again.
        let sb = sandbox_with_tokens().await;
        let short = DelegationOptions {
            token_cache_ttl: Duration::from_millis(50),
            allowed_cache_ttl: Duration::from_millis(50),
            ..DelegationOptions::default()
        };
        let auth = delegated(&sb, short).await;
        let allowed = with_token(Some("allowed"));
        let scrape = || auth.decide(&Method::GET, "/metrics", &allowed, None);
        scrape().await;
        scrape().await;
        assert_eq!(reviews(&sb), (1, 1));
        tokio::time::sleep(Duration::from_millis(80)).await;
        scrape().await;
        assert_eq!(reviews(&sb), (2, 2));

        // A failed access review is a 500 and is asked again next time.
        sb.faults()
            .fail_next("POST", "subjectaccessreviews", 500, 1)
            .unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(matches!(scrape().await, Decision::Failed(_)));
        assert!(matches!(scrape().await, Decision::Allow));
        // A failed token review is a 401, and is not cached either.
        tokio::time::sleep(Duration::from_millis(80)).await;
        sb.faults()
            .fail_next("POST", "tokenreviews", 500, 1)
            .unwrap();
        assert!(matches!(scrape().await, Decision::Unauthorized));
        assert!(matches!(scrape().await, Decision::Allow));
    }

    #[tokio::test]
    async fn without_a_connection_tokens_are_ignored_and_only_allowed_paths_served() {
        let auth = Authorizer::new(&Access::default(), None).await.unwrap();
        let d = auth
            .decide(
                &Method::GET,
                "/metrics",
                &with_token(Some("anything")),
                None,
            )
            .await;
        assert_eq!(outcome(&d), (403, "system:anonymous"));
        let d = auth
            .decide(&Method::GET, "/livez", &HeaderMap::new(), None)
            .await;
        assert_eq!(outcome(&d), (200, ""));
        let d = Authorizer::AllowAll
            .decide(&Method::GET, "/metrics", &HeaderMap::new(), None)
            .await;
        assert_eq!(outcome(&d), (200, ""));
    }

    #[test]
    fn bearer_tokens_as_kube_reads_them() {
        let token = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            bearer_token(&h).map(String::from)
        };
        assert_eq!(token("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(token("bearer abc").as_deref(), Some("abc"));
        assert_eq!(token("  BEARER abc  ").as_deref(), Some("abc"));
        assert_eq!(token("Bearer abc def").as_deref(), Some("abc"));
        // Two spaces: an empty token, which is no token.
        assert_eq!(token("Bearer  abc"), None);
        assert_eq!(token("Bearer"), None);
        assert_eq!(token("Basic YTpi"), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn always_allowed_paths_as_kube_matches_them() {
        let m = PathMatcher::new(&[
            "/healthz".into(),
            "readyz".into(),
            "/debug/*".into(),
            "/".into(),
        ])
        .unwrap();
        for (path, allowed) in [
            ("/healthz", true),
            ("healthz", true),
            ("/healthz/ping", false),
            ("/readyz", true),
            ("/debug/pprof", true),
            ("/debug/", true),
            ("/debug", false),
            ("/", true),
            ("/metrics", false),
        ] {
            assert_eq!(m.allows(path), allowed, "{path}");
        }
        let err = PathMatcher::new(&["/a*b".into()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--authorization-always-allow-paths: only trailing * allowed in \"a*b\""
        );
        // Multi-byte characters do not trip the check.
        assert!(PathMatcher::new(&["/é".into(), "/é*".into()]).is_ok());
        assert!(PathMatcher::new(&[]).unwrap().exact.is_empty());
    }

    #[test]
    fn refusals_are_worded_as_kube_words_them() {
        let body = |r: Response| async move {
            let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
            String::from_utf8(bytes.to_vec()).unwrap()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let r = refusal(Decision::Unauthorized, "/metrics");
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            rt.block_on(body(r)),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#
        );
        let r = refusal(
            Decision::Forbidden {
                user: "system:anonymous".into(),
                verb: "get".into(),
                path: "/metrics".into(),
                reason: String::new(),
            },
            "/metrics",
        );
        assert_eq!(r.status(), 403);
        assert_eq!(
            rt.block_on(body(r)),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"forbidden: User \"system:anonymous\" cannot get path \"/metrics\"","reason":"Forbidden","details":{},"code":403}"#
        );
        // Quotes, control characters and markup in names are escaped; a reason follows.
        let r = refusal(
            Decision::Forbidden {
                user: "a\"b\u{1b}<c>".into(),
                verb: "get".into(),
                path: "/x&y".into(),
                reason: "no rule".into(),
            },
            "/x&y",
        );
        let text = rt.block_on(body(r));
        assert!(
            text.contains(r#""message":"forbidden: User \"a\\\"b\\x1b&lt;c&gt;\" cannot get path \"/x&amp;y\": no rule""#),
            "{text}"
        );
        let r = refusal(
            Decision::Failed(AuthError::ReviewTimeout("SubjectAccessReview")),
            "/metrics?x=1",
        );
        assert_eq!(r.status(), 500);
        assert_eq!(
            rt.block_on(body(r)),
            "Internal Server Error: \"/metrics?x=1\": SubjectAccessReview: no answer within 10s\n"
        );
        assert_eq!(percent_decode("/a%2Fb%zz%4"), "/a/b%zz%4");
    }

    #[test]
    fn client_certificates_name_their_user() {
        let cert = |cn: Option<&str>, orgs: &[&str]| {
            let mut params = rcgen::CertificateParams::new(vec!["client".to_string()]).unwrap();
            params.distinguished_name = rcgen::DistinguishedName::new();
            params
                .distinguished_name
                .push(rcgen::DnType::CountryName, "NZ");
            for o in orgs {
                params
                    .distinguished_name
                    .push(rcgen::DnType::OrganizationName, *o);
            }
            if let Some(cn) = cn {
                params
                    .distinguished_name
                    .push(rcgen::DnType::CommonName, cn);
            }
            let key = rcgen::KeyPair::generate().unwrap();
            params.self_signed(&key).unwrap().der().to_vec()
        };
        let user = certificate_user(&cert(Some("prometheus"), &["monitoring"])).unwrap();
        assert_eq!(user.name, "prometheus");
        assert_eq!(user.groups, ["monitoring"]);
        let user = certificate_user(&cert(Some("ops-bot"), &[])).unwrap();
        assert!(user.groups.is_empty());
        // Without a CommonName a certificate names no user.
        assert_eq!(certificate_user(&cert(None, &["monitoring"])), None);
        // Garbage never panics.
        let good = cert(Some("x"), &["y"]);
        for n in 0..good.len() {
            let _ = certificate_user(&good[..n]);
        }
        assert_eq!(certificate_user(&[]), None);
        assert_eq!(
            certificate_user(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
    }

    #[test]
    fn users_get_the_authenticated_group_once() {
        let u = UserInfo {
            name: "bob".into(),
            ..UserInfo::default()
        }
        .with_authenticated_group();
        assert_eq!(u.groups, ["system:authenticated"]);
        assert_eq!(u.clone().with_authenticated_group().groups, u.groups);
        assert_eq!(
            UserInfo::anonymous().with_authenticated_group().groups,
            ["system:unauthenticated"]
        );
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache: TtlCache<usize, ()> = TtlCache::new();
        for k in 0..CACHE_CAPACITY + 10 {
            cache.insert(k, (), Duration::from_secs(60));
        }
        assert_eq!(
            cache.entries.lock().unwrap().len(),
            CACHE_CAPACITY,
            "full: the entry expiring first went"
        );
        assert!(cache.get(&(CACHE_CAPACITY + 9)).is_some());
        cache.insert(0, (), Duration::ZERO);
        // A TTL beyond the clock is not cached, and does not panic.
        cache.insert(1, (), Duration::MAX);
    }
}
