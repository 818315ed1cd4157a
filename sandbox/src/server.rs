//! HTTP: URL routing, query parsing, request logging, fault hooks, responses.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use crate::RequestRecord;
use crate::api::{self, DeleteOpts, Part, PatchType, Served, Shared, view};
use crate::discovery;
use crate::faults::Faults;
use crate::resources::{self, ResourceDef};
use crate::reviews::{self, TokenUser};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::ListSnapshot;
use crate::table;
use crate::watch::{self, WatchParams};

const BODY_LIMIT: usize = 16 * 1024 * 1024;
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);
const MAX_WATCH_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// The router serving the whole API.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

fn json_bytes(code: u16, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn json_response(code: u16, v: &impl serde::Serialize) -> Response {
    json_bytes(code, serde_json::to_vec(v).unwrap_or_default())
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.code(), &e.to_status())
}

fn text(code: u16, body: &'static str) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(c) => {
                        out.push(c);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(kv), String::new()),
        })
        .collect()
}

fn is_true(q: &HashMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "true" || v == "1")
}

fn dry_run(q: &HashMap<String, String>) -> bool {
    q.get("dryRun").is_some_and(|v| v == "All")
}

/// A parsed resource URL.
struct ResourceUrl {
    def: &'static ResourceDef,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

enum Route {
    NonResource(Response),
    Resource(ResourceUrl),
}

/// One request as logged: its method and path and, for a resource URL, its
/// verb. The [`RequestRecord`] (nine strings) is made only when the log is
/// read, not on every request.
#[derive(Debug, Clone)]
pub(crate) struct LoggedRequest {
    method: Method,
    path: Box<str>,
    /// `Some` for a resource URL: the Kubernetes verb, if the method has one.
    verb: Option<Option<&'static str>>,
}

impl LoggedRequest {
    /// The request as the public log shows it.
    pub(crate) fn record(&self) -> RequestRecord {
        let mut record = RequestRecord {
            method: self.method.to_string(),
            path: self.path.to_string(),
            verb: self.method.as_str().to_ascii_lowercase(),
            api_group: String::new(),
            resource: String::new(),
            subresource: None,
            namespace: None,
            name: None,
        };
        // Routed as a resource when logged: the same path parses the same.
        if let Some(verb) = self.verb
            && let Ok(url) = resource_url(&segments(&self.path))
        {
            record.verb = verb.unwrap_or("unknown").to_string();
            record.api_group = url.def.group.to_string();
            record.resource = url.def.plural.to_string();
            record.subresource = url.sub;
            record.namespace = url.namespace;
            record.name = url.name;
        }
        record
    }
}

fn not_found_url() -> ApiError {
    ApiError::NotFound {
        message: "the server could not find the requested resource".into(),
        name: String::new(),
        kind: String::new(),
        group: String::new(),
    }
}

/// `/openapi/v2`: an empty document. kubectl before 1.27 validates manifests client-side
/// against it, asking for protobuf; an empty protobuf message is a valid empty document, and
/// kubectl skips validation of kinds the document does not describe.
fn openapi_v2(accept: &str) -> Response {
    if accept.contains("protobuf") {
        let mut r = Response::new(Body::empty());
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/com.github.proto-openapi.spec.v2.v1.0+protobuf"),
        );
        r
    } else {
        json_response(
            200,
            &json!({"swagger": "2.0", "info": {"title": "Kubernetes (sandbox)", "version": "v1.33.0"}, "paths": {}}),
        )
    }
}

fn route(shared: &Shared, path: &str, accept: &str) -> Result<Route, ApiError> {
    let segs = segments(path);
    let ok = |v: Value| Ok(Route::NonResource(json_response(200, &v)));
    match segs.as_slice() {
        ["version"] => return ok(discovery::version()),
        ["healthz" | "livez" | "readyz", ..] => return Ok(Route::NonResource(text(200, "ok"))),
        ["api"] => return ok(discovery::core_versions(&shared.server_address)),
        ["apis"] => return ok(discovery::groups()),
        ["openapi", "v2"] => return Ok(Route::NonResource(openapi_v2(accept))),
        ["openapi", "v3"] => return ok(discovery::openapi_root()),
        ["openapi", "v3", rest @ ..] => {
            return discovery::openapi_group_version(&rest.join("/"))
                .map_or_else(|| Err(not_found_url()), ok);
        }
        ["apis", g] => return discovery::group(g).map_or_else(|| Err(not_found_url()), ok),
        ["api", v] => {
            return discovery::resource_list("", v).map_or_else(|| Err(not_found_url()), ok);
        }
        ["apis", g, v] => {
            return discovery::resource_list(g, v).map_or_else(|| Err(not_found_url()), ok);
        }
        _ => {}
    }
    resource_url(&segs).map(Route::Resource)
}

/// The path's segments.
fn segments(path: &str) -> Vec<&str> {
    path.trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

/// A resource URL's parts (the path's segments; non-resource paths are
/// matched before, in [`route`]).
fn resource_url(segs: &[&str]) -> Result<ResourceUrl, ApiError> {
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(not_found_url()),
    };
    let namespace_sub =
        rest.len() == 3 && rest[0] == "namespaces" && matches!(rest[2], "status" | "finalize");
    let (ns, rest) = if rest.len() >= 3 && rest[0] == "namespaces" && !namespace_sub {
        (Some(rest[1].to_string()), &rest[2..])
    } else {
        (None, rest)
    };
    let (plural, name, sub) = match rest {
        [r] => (*r, None, None),
        [r, n] => (*r, Some(n.to_string()), None),
        [r, n, s] => (*r, Some(n.to_string()), Some(s.to_string())),
        _ => return Err(not_found_url()),
    };
    let def = resources::find(group, version, plural).ok_or_else(not_found_url)?;
    if (ns.is_some() && !def.namespaced) || (def.namespaced && name.is_some() && ns.is_none()) {
        return Err(not_found_url());
    }
    if let Some(s) = &sub {
        let known = (s == "status" && def.status_subresource)
            || (def.store == "pods" && (s == "binding" || s == "eviction"))
            || (def.store == "namespaces" && s == "finalize");
        if !known {
            return Err(not_found_url());
        }
    }
    Ok(ResourceUrl {
        def,
        namespace: ns,
        name,
        sub,
    })
}

fn k8s_verb(
    method: &Method,
    url: &ResourceUrl,
    q: &HashMap<String, String>,
) -> Option<&'static str> {
    let named = url.name.is_some();
    Some(match *method {
        Method::GET if named => "get",
        Method::GET if is_true(q, "watch") => "watch",
        Method::GET => "list",
        Method::POST if !named => "create",
        Method::POST if matches!(url.sub.as_deref(), Some("binding" | "eviction")) => "create",
        Method::PUT if named => "update",
        Method::PATCH if named => "patch",
        Method::DELETE if named && url.sub.is_none() => "delete",
        Method::DELETE if !named => "deletecollection",
        _ => return None,
    })
}

/// Whether every `%` in `path` starts an escape of two hex digits.
fn escapes_valid(path: &str) -> bool {
    let b = path.as_bytes();
    b.iter().enumerate().all(|(i, c)| {
        *c != b'%'
            || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    // Go's HTTP server refuses a path it cannot unescape before kube-apiserver sees it: a
    // plain-text 400, not a Status.
    if !escapes_valid(&path) {
        return text(400, "400 Bad Request");
    }
    if let Some(admin_path) = path.strip_prefix("/sandbox/") {
        let method = req.method().clone();
        let body = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
            .await
            .unwrap_or_default();
        return admin(&shared, &method, admin_path, &body);
    }
    match handle_api(&shared, req, &path).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

async fn handle_api(shared: &Arc<Shared>, req: Request, path: &str) -> Result<Response, ApiError> {
    let method = req.method().clone();
    let q = parse_query(req.uri().query().unwrap_or(""));
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();

    let latency = shared.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let as_table = table::wanted(accept);
    let routed = route(shared, path, accept);
    let verb = match &routed {
        Ok(Route::Resource(url)) => Some(k8s_verb(&method, url, &q)),
        _ => None,
    };
    shared
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(LoggedRequest {
            method: method.clone(),
            path: path.into(),
            verb,
        });
    let path_and_query = req.uri().path_and_query().map_or(path, |p| p.as_str());
    if let Some(err) = shared.faults.take_failure(method.as_str(), path_and_query) {
        return Err(err);
    }
    let verb = verb.flatten();
    let url = match routed? {
        Route::NonResource(r) => {
            return if method == Method::GET || method == Method::HEAD {
                Ok(r)
            } else {
                Err(ApiError::MethodNotAllowed(format!(
                    "the server does not allow this method on the requested resource: {method}"
                )))
            };
        }
        Route::Resource(url) => url,
    };
    let Some(verb) = verb else {
        return Err(ApiError::MethodNotAllowed(format!(
            "the server does not allow this method on the requested resource: {method} {path}"
        )));
    };
    let body = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
        .await
        .map_err(|e| ApiError::Custom {
            code: 413,
            reason: "RequestEntityTooLarge".into(),
            message: e.to_string(),
        })?;
    if url.def.review {
        // Reviews are questions, not writes: answered at once, paused writes or not.
        if verb != "create" || url.name.is_some() {
            return Err(ApiError::MethodNotAllowed(format!(
                "the server does not allow this method on the requested resource: {method} {path}"
            )));
        }
        let mut b = api::parse_body(Some(url.def), &body, content_type.contains("yaml"))?;
        api::check_type(&mut b, &url.def.api_version(), url.def.kind)?;
        let answered = match url.def.store {
            "tokenreviews" => reviews::token_review(shared, b)?,
            _ => reviews::subject_access_review(shared, b)?,
        };
        return Ok(json_response(201, &answered));
    }
    if !matches!(verb, "get" | "list" | "watch") {
        shared.faults.wait_writable().await;
    }
    let def = url.def;
    let ns = url.namespace.clone().unwrap_or_default();
    let name = url.name.clone().unwrap_or_default();
    let yaml = content_type.contains("yaml");
    // Bodies are JSON or YAML only. Protobuf or CBOR get 415, as kube-apiserver answers a
    // format it cannot decode. kubectl 1.37.2 sends `create namespace` as protobuf and does not
    // retry as JSON: a difference listed in sandbox/README.md.
    if matches!(verb, "create" | "update")
        && !content_type.is_empty()
        && !content_type.contains("json")
        && !yaml
    {
        return Err(ApiError::UnsupportedMediaType(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {content_type:?})"
        )));
    }
    let part = if url.sub.as_deref() == Some("status") {
        Part::Status
    } else {
        Part::Main
    };
    match verb {
        "get" => {
            let obj = shared
                .store
                .get(def.store, &ns, &name)
                .ok_or_else(|| ApiError::not_found(def.group, def.plural, &name))?;
            if as_table {
                let obj = view(def, &obj);
                let meta = json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or_default()});
                let t = table::table(def, [&obj], meta, include_object(&q), shared.clock.now());
                return Ok(json_response(200, &t));
            }
            Ok(json_response(200, &Served { def, obj }))
        }
        "list" => list(shared, def, url.namespace.as_deref(), &q, as_table),
        "watch" => watch_response(shared, def, url.namespace, &q, as_table),
        "create" => match url.sub.as_deref() {
            Some("binding") => {
                let b = api::parse_body(None, &body, yaml)?;
                Ok(json_response(201, &api::bind(shared, &ns, &name, b)?))
            }
            Some("eviction") => {
                let b = api::parse_body(None, &body, yaml)?;
                Ok(json_response(201, &api::evict(shared, &ns, &name, b)?))
            }
            _ => {
                let b = api::parse_body(Some(def), &body, yaml)?;
                Ok(json_response(
                    201,
                    &api::create(shared, def, &ns, b, dry_run(&q))?,
                ))
            }
        },
        "update" => {
            let b = api::parse_body(Some(def), &body, yaml)?;
            Ok(json_response(
                200,
                &api::update(shared, def, &ns, &name, b, part, dry_run(&q))?,
            ))
        }
        "patch" => {
            let ptype = PatchType::from_content_type(&content_type).ok_or_else(|| {
                ApiError::UnsupportedMediaType(format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"
                ))
            })?;
            Ok(json_response(
                200,
                &api::patch(shared, def, &ns, &name, ptype, &body, part, dry_run(&q))?,
            ))
        }
        "delete" | "deletecollection" => {
            let mut opts = if body.is_empty() {
                DeleteOpts::default()
            } else {
                DeleteOpts::from_value(&api::parse_body(None, &body, yaml)?)?
            };
            if let Some(g) = q.get("gracePeriodSeconds") {
                opts.grace_period = Some(g.parse().map_err(|_| {
                    ApiError::BadRequest(format!("invalid gracePeriodSeconds {g:?}"))
                })?);
            }
            opts.dry_run |= dry_run(&q);
            if verb == "delete" {
                Ok(json_response(
                    200,
                    &api::delete(shared, def, &ns, &name, &opts)?,
                ))
            } else {
                let (labels, fields) = selectors(def, &q)?;
                Ok(json_response(
                    200,
                    &api::delete_collection(
                        shared,
                        def,
                        url.namespace.as_deref(),
                        &labels,
                        &fields,
                        &opts,
                    )?,
                ))
            }
        }
        _ => Err(ApiError::MethodNotAllowed(format!(
            "unsupported verb {verb}"
        ))),
    }
}

fn selectors(
    def: &ResourceDef,
    q: &HashMap<String, String>,
) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(q.get("labelSelector").map_or("", String::as_str))
        .map_err(|e| ApiError::BadRequest(format!("labelSelector: {e}")))?;
    let fields = FieldSelector::parse(q.get("fieldSelector").map_or("", String::as_str), def.store)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok((labels, fields))
}

fn include_object(q: &HashMap<String, String>) -> bool {
    q.get("includeObject").is_some_and(|v| v == "Object")
}

fn list(
    shared: &Arc<Shared>,
    def: &'static ResourceDef,
    ns: Option<&str>,
    q: &HashMap<String, String>,
    as_table: bool,
) -> Result<Response, ApiError> {
    let limit = match q.get("limit").map(String::as_str) {
        None | Some("") => 0,
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| ApiError::BadRequest(format!("invalid limit {l:?}")))?,
    };
    let expired = || {
        ApiError::Expired(
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".into(),
        )
    };
    let (snap, offset) = match q.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => {
            let (id, off) = token
                .strip_prefix("sbx-")
                .and_then(|t| t.split_once('-'))
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<usize>().ok()?)))
                .ok_or_else(|| ApiError::BadRequest(format!("invalid continue token {token:?}")))?;
            (shared.store.snapshot(id).ok_or_else(expired)?, off)
        }
        None => {
            let (labels, fields) = selectors(def, q)?;
            let (items, rv) = shared.store.list(def.store, ns);
            let items = items
                .into_iter()
                .filter(|o| labels.matches(o) && fields.matches(o))
                .collect();
            (Arc::new(ListSnapshot { rv, items }), 0)
        }
    };
    let total = snap.items.len();
    let end = if limit == 0 {
        total
    } else {
        offset.saturating_add(limit).min(total)
    };
    let page = snap.items.get(offset.min(total)..end).unwrap_or(&[]);
    let mut meta = json!({"resourceVersion": snap.rv.to_string()});
    if end < total {
        let id = if offset == 0 {
            shared.store.keep_snapshot(ListSnapshot {
                rv: snap.rv,
                items: snap.items.clone(),
            })
        } else {
            q.get("continue")
                .and_then(|t| t.strip_prefix("sbx-"))
                .and_then(|t| t.split('-').next())
                .and_then(|id| id.parse().ok())
                .unwrap_or(0)
        };
        meta["continue"] = json!(format!("sbx-{id}-{end}"));
        meta["remainingItemCount"] = json!(total - end);
    }
    if as_table {
        let objects: Vec<Value> = page.iter().map(|o| view(def, o)).collect();
        let t = table::table(def, &objects, meta, include_object(q), shared.clock.now());
        return Ok(json_response(200, &t));
    }
    let mut buf = Vec::with_capacity(64 + page.len() * 512);
    buf.extend_from_slice(b"{\"apiVersion\":");
    serde_json::to_writer(&mut buf, &def.api_version())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    buf.extend_from_slice(b",\"kind\":\"");
    buf.extend_from_slice(def.kind.as_bytes());
    buf.extend_from_slice(b"List\",\"metadata\":");
    serde_json::to_writer(&mut buf, &meta).map_err(|e| ApiError::Internal(e.to_string()))?;
    buf.extend_from_slice(b",\"items\":[");
    for (i, o) in page.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        api::serialize_view(def, o, &mut serde_json::Serializer::new(&mut buf))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    buf.extend_from_slice(b"]}");
    Ok(json_bytes(200, buf))
}

fn watch_response(
    shared: &Arc<Shared>,
    def: &'static ResourceDef,
    ns: Option<String>,
    q: &HashMap<String, String>,
    as_table: bool,
) -> Result<Response, ApiError> {
    let (labels, fields) = selectors(def, q)?;
    let since = match q.get("resourceVersion").map(String::as_str) {
        None | Some("" | "0") => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::BadRequest(format!("invalid resourceVersion {rv:?}")))?,
        ),
    };
    let initial = is_true(q, "sendInitialEvents");
    let timeout = match q.get("timeoutSeconds") {
        // An int64, as kube-apiserver decodes it: a larger number is a 400.
        Some(t) => Duration::from_secs(
            t.parse::<i64>()
                .map_err(|_| ApiError::BadRequest(format!("invalid timeoutSeconds {t:?}")))?
                .max(0)
                .unsigned_abs()
                .min(MAX_WATCH_TIMEOUT.as_secs()),
        ),
        None => DEFAULT_WATCH_TIMEOUT,
    };
    let params = WatchParams {
        def,
        namespace: ns,
        labels,
        fields,
        since: if initial { None } else { since },
        timeout,
        bookmarks: is_true(q, "allowWatchBookmarks"),
        initial_events_end: initial,
        table: as_table.then(|| include_object(q)),
    };
    let stream = watch::stream(shared.clone(), params)?;
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

fn admin(shared: &Arc<Shared>, method: &Method, path: &str, body: &[u8]) -> Response {
    let faults = Faults {
        shared: shared.clone(),
    };
    let arg: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let done = || json_response(200, &json!({"ok": true}));
    match (method, path.trim_end_matches('/')) {
        (&Method::GET, "requests") => {
            let log: Vec<RequestRecord> = shared
                .requests
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(LoggedRequest::record)
                .collect();
            json_response(200, &serde_json::to_value(log).unwrap_or_default())
        }
        (&Method::DELETE, "requests") => {
            shared
                .requests
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
            done()
        }
        (&Method::POST, "faults/fail") => {
            let method = arg["method"].as_str().unwrap_or("*");
            let Some(path) = arg["path"].as_str() else {
                return error_response(&ApiError::BadRequest(
                    "body needs \"path\" (a substring of the path and query)".into(),
                ));
            };
            let status = arg["status"].as_u64().unwrap_or(500).min(u16::MAX as u64) as u16;
            let count = arg["count"].as_u64().unwrap_or(1) as usize;
            match faults.fail_next(method, path, status, count) {
                Ok(()) => done(),
                Err(e) => error_response(&ApiError::BadRequest(e.to_string())),
            }
        }
        (&Method::POST, "faults/latency") => {
            faults.set_latency(Duration::from_millis(arg["millis"].as_u64().unwrap_or(0)));
            done()
        }
        (&Method::POST, "faults/close-watches") => {
            faults.close_watches();
            done()
        }
        (&Method::POST, "faults/compact") => {
            faults.compact();
            done()
        }
        (&Method::POST, "faults/pause-writes") => {
            faults.pause_writes();
            done()
        }
        (&Method::POST, "faults/resume-writes") => {
            faults.resume_writes();
            done()
        }
        (&Method::DELETE, "faults") => {
            faults.clear();
            done()
        }
        (&Method::POST, "tokens") => {
            let token = arg["token"].as_str().unwrap_or("").to_string();
            match serde_json::from_value::<TokenUser>(arg) {
                Ok(user) if !token.is_empty() && !user.username.is_empty() => {
                    shared
                        .tokens
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(token, user);
                    done()
                }
                _ => error_response(&ApiError::BadRequest(
                    "body needs \"token\" and \"username\" (and may have \"uid\", \"groups\")"
                        .into(),
                )),
            }
        }
        _ => error_response(&not_found_url()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q =
            parse_query("labelSelector=app%3Dweb%2Ctier+in+%28a%2Cb%29&watch=1&x&bad=%zz&end=%4");
        assert_eq!(q["labelSelector"], "app=web,tier in (a,b)");
        assert!(is_true(&q, "watch"));
        assert_eq!(q["x"], "");
        assert_eq!(q["bad"], "%zz");
        assert_eq!(q["end"], "%4");
    }
}
