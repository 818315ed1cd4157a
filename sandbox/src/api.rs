//! The API semantics, independent of HTTP: create, update, patch, delete, bind, evict.
//!
//! Each operation reads and writes the store inside one transaction, so checks such as a
//! resourceVersion compare-and-swap or a binding conflict are atomic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::clock::Clock;
use crate::events;
use crate::faults::FaultState;
use crate::patch::{self, PatchError};
use crate::resources::{self, ResourceDef, StatusOnCreate, View};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{self, ApiError};
use crate::store::{Store, Txn};
use crate::validation::{self, FieldError};

/// State shared by the server, the library handle and background timers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub store: Store,
    pub clock: Clock,
    pub faults: FaultState,
    pub close_watches: tokio::sync::watch::Sender<u64>,
    pub shutdown: tokio::sync::watch::Sender<bool>,
    pub requests: Mutex<Vec<crate::server::LoggedRequest>>,
    pub rng: Mutex<u64>,
    pub bookmark_interval: Duration,
    pub server_address: String,
    /// Bearer tokens a TokenReview knows, and whom they stand for.
    pub tokens: Mutex<HashMap<String, crate::reviews::TokenUser>>,
}

impl Shared {
    fn next_random(&self) -> u64 {
        let mut s = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A random version-4 UUID.
    pub fn uid(&self) -> String {
        let (a, b) = (self.next_random(), self.next_random());
        let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0xFFF,
            b >> 48,
            b & 0xFFFF_FFFF_FFFF
        )
    }

    fn name_suffix(&self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut r = self.next_random();
        (0..5)
            .map(|_| {
                let c = ALPHABET[(r % ALPHABET.len() as u64) as usize] as char;
                r /= ALPHABET.len() as u64;
                c
            })
            .collect()
    }
}

/// The deletion timestamp and timer of a longer grace period are those of one year, so that
/// they cannot overflow; `deletionGracePeriodSeconds` keeps the period asked for, as
/// kube-apiserver does.
const MAX_GRACE_SECONDS: i64 = 365 * 24 * 3600;

/// Parsed `DeleteOptions` (body and query merged; the query wins).
#[derive(Debug, Default, Clone)]
pub(crate) struct DeleteOpts {
    pub grace_period: Option<i64>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

impl DeleteOpts {
    /// Reads a `DeleteOptions` object.
    pub fn from_value(v: &Value) -> Result<Self, ApiError> {
        if !v.is_object() && !v.is_null() {
            return Err(ApiError::BadRequest(
                "DeleteOptions must be a JSON object".into(),
            ));
        }
        let grace_period = match v.get("gracePeriodSeconds") {
            None | Some(Value::Null) => None,
            Some(g) => Some(g.as_i64().ok_or_else(|| {
                ApiError::BadRequest("gracePeriodSeconds must be an integer".into())
            })?),
        };
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(String::from);
        Ok(Self {
            grace_period,
            uid: s("/preconditions/uid"),
            resource_version: s("/preconditions/resourceVersion"),
            dry_run: v
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|x| x == "All")),
        })
    }
}

/// The object as served through `def`.
pub(crate) fn view(def: &ResourceDef, obj: &Value) -> Value {
    match def.view {
        View::Identity => obj.clone(),
        View::EventsV1 => events::to_events_v1(obj),
    }
}

/// A stored object as served through a definition: serializes as [`view`]'s
/// result would, without building it.
#[derive(Debug, Clone)]
pub(crate) struct Served {
    pub def: &'static ResourceDef,
    pub obj: Arc<Value>,
}

/// Serializes `obj` as served through `def`.
pub(crate) fn serialize_view<S: serde::Serializer>(
    def: &ResourceDef,
    obj: &Value,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::Serialize;
    match def.view {
        View::Identity => obj.serialize(serializer),
        View::EventsV1 => events::EventsV1View(obj).serialize(serializer),
    }
}

impl serde::Serialize for Served {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_view(self.def, &self.obj, serializer)
    }
}

/// [`Served`] for a borrowed object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServedRef<'a> {
    pub def: &'a ResourceDef,
    pub obj: &'a Value,
}

impl serde::Serialize for ServedRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_view(self.def, self.obj, serializer)
    }
}

fn from_view(def: &ResourceDef, obj: Value) -> Value {
    match def.view {
        View::Identity => obj,
        View::EventsV1 => events::into_core(obj),
    }
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

fn name_of(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or("")
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    match &mut obj["metadata"] {
        Value::Object(m) => m,
        _ => unreachable!("metadata was just made an object"),
    }
}

/// Parses a request body as JSON (or YAML when the content type says so).
pub(crate) fn parse_body(
    def: Option<&ResourceDef>,
    body: &[u8],
    yaml: bool,
) -> Result<Value, ApiError> {
    let parsed: Result<Value, String> = if yaml {
        serde_yaml_ng::from_slice(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    };
    let v = parsed.map_err(|e| {
        let what = def.map(|d| d.kind).unwrap_or("object");
        ApiError::BadRequest(format!(
            "the body of the request could not be decoded as a {what}: {e}"
        ))
    })?;
    if !v.is_object() {
        return Err(ApiError::BadRequest(
            "the body of the request must be a JSON object".into(),
        ));
    }
    Ok(v)
}

/// Checks `apiVersion`/`kind` against what the URL serves; missing ones are filled in, as the
/// real decoder defaults them.
pub(crate) fn check_type(obj: &mut Value, api_version: &str, kind: &str) -> Result<(), ApiError> {
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => obj["apiVersion"] = Value::String(api_version.into()),
        Some(v) if v == api_version => {}
        Some(v) => {
            return Err(ApiError::BadRequest(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )));
        }
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => obj["kind"] = Value::String(kind.into()),
        Some(k) if k == kind => {}
        Some(k) => {
            return Err(ApiError::BadRequest(format!(
                "the kind in the data ({k}) does not match the expected kind ({kind}) for this URL"
            )));
        }
    }
    Ok(())
}

/// Whether the pod's spec changed in a field the real API server forbids changing.
fn pod_spec_change_forbidden(old: &Value, new: &Value) -> bool {
    fn masked(spec: Option<&Value>) -> Value {
        let mut s = spec.cloned().unwrap_or(Value::Null);
        if let Value::Object(m) = &mut s {
            for k in [
                "activeDeadlineSeconds",
                "tolerations",
                "terminationGracePeriodSeconds",
                "schedulingGates",
            ] {
                m.remove(k);
            }
            for list in ["containers", "initContainers"] {
                if let Some(Value::Array(cs)) = m.get_mut(list) {
                    for c in cs {
                        if let Value::Object(c) = c {
                            c.remove("image");
                        }
                    }
                }
            }
        }
        s
    }
    masked(old.get("spec")) != masked(new.get("spec"))
}

/// kube-apiserver's defaulting of a pod that the scheduler sees: a container (or init
/// container) with a limit but no request for a resource requests its limit.
fn default_pod(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec") else {
        return;
    };
    for list in ["containers", "initContainers"] {
        let Some(Value::Array(cs)) = spec.get_mut(list) else {
            continue;
        };
        for c in cs {
            let Some(Value::Object(limits)) = c.pointer("/resources/limits").cloned() else {
                continue;
            };
            let Some(Value::Object(resources)) = c.get_mut("resources") else {
                continue;
            };
            let requests = resources
                .entry("requests")
                .or_insert_with(|| Value::Object(Map::new()));
            if requests.is_null() {
                *requests = Value::Object(Map::new());
            }
            if let Value::Object(requests) = requests {
                for (k, v) in limits {
                    requests.entry(k).or_insert(v);
                }
            }
        }
    }
}

/// Validates a whole object about to be stored.
fn validate(def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    let strict = !matches!(def.store, "events" | "leases");
    let mut errs: Vec<FieldError> = validation::metadata(obj, strict);
    if def.store == "pods" {
        let quantities = validation::pod_resources(obj);
        if let Some(why) = validation::unparsable(&quantities) {
            let (kind, version) = (def.kind, def.version);
            return Err(ApiError::BadRequest(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: {why}"
            )));
        }
        errs.extend(quantities);
        if let Some(cs) = obj.pointer("/spec/containers") {
            if cs.as_array().is_none_or(|a| a.is_empty()) {
                errs.push(FieldError {
                    field: "spec.containers".into(),
                    reason: "FieldValueRequired",
                    message: "Required value".into(),
                });
            }
        } else {
            errs.push(FieldError {
                field: "spec.containers".into(),
                reason: "FieldValueRequired",
                message: "Required value".into(),
            });
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(def.group, def.kind, name_of(obj), errs))
    }
}

fn ensure_namespace(txn: &Txn<'_>, def: &ResourceDef, ns: &str) -> Result<(), ApiError> {
    if def.namespaced && txn.get("namespaces", "", ns).is_none() {
        return Err(ApiError::not_found("", "namespaces", ns));
    }
    Ok(())
}

/// Fills in what the server sets on create (uid, creationTimestamp, generation, status reset).
fn prepare_new(shared: &Shared, def: &ResourceDef, obj: &mut Value, reset_status: bool) {
    let uid = shared.uid();
    let now = shared.clock.timestamp();
    let m = meta_mut(obj);
    m.insert("uid".into(), Value::String(uid));
    m.insert("creationTimestamp".into(), Value::String(now));
    m.remove("deletionTimestamp");
    m.remove("deletionGracePeriodSeconds");
    m.remove("resourceVersion");
    m.remove("selfLink");
    if def.status_subresource {
        m.insert("generation".into(), json!(1));
    }
    if reset_status {
        match def.status_on_create {
            StatusOnCreate::Keep => {}
            StatusOnCreate::Clear => obj["status"] = json!({}),
            StatusOnCreate::Pending => obj["status"] = json!({"phase": "Pending"}),
            StatusOnCreate::Active => obj["status"] = json!({"phase": "Active"}),
        }
        if def.kind == "Pod" {
            scheduling_gated_condition(obj);
        }
    }
}

/// kube-apiserver's `applySchedulingGatedCondition` (pod strategy,
/// PrepareForCreate): a pod created with scheduling gates says why it waits,
/// so `kubectl describe` and the cluster autoscaler see it.
fn scheduling_gated_condition(pod: &mut Value) {
    let gated = pod
        .pointer("/spec/schedulingGates")
        .and_then(Value::as_array)
        .is_some_and(|gates| !gates.is_empty());
    if !gated {
        return;
    }
    let has_scheduled = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| c.iter().any(|c| c["type"] == "PodScheduled"));
    if has_scheduled {
        return;
    }
    set_condition(
        pod,
        json!({
            "type": "PodScheduled",
            "status": "False",
            "lastProbeTime": null,
            "lastTransitionTime": null,
            "reason": "SchedulingGated",
            "message": "Scheduling is blocked due to non-empty scheduling gates",
        }),
    );
}

/// POST to a collection.
pub(crate) fn create(
    shared: &Arc<Shared>,
    def: &'static ResourceDef,
    ns: &str,
    mut obj: Value,
    dry_run: bool,
) -> Result<Served, ApiError> {
    check_type(&mut obj, &def.api_version(), def.kind)?;
    let mut obj = from_view(def, obj);
    if def.namespaced {
        match meta_str(&obj, "namespace") {
            None | Some("") => {
                meta_mut(&mut obj).insert("namespace".into(), Value::String(ns.into()));
            }
            Some(n) if n == ns => {}
            Some(_) => {
                return Err(ApiError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ));
            }
        }
    } else {
        meta_mut(&mut obj).remove("namespace");
    }
    let generate = meta_str(&obj, "name")
        .is_none_or(str::is_empty)
        .then(|| meta_str(&obj, "generateName").map(String::from))
        .flatten()
        .filter(|g| !g.is_empty());
    prepare_new(shared, def, &mut obj, true);
    if def.store == "pods" {
        default_pod(&mut obj);
    }
    shared.store.transact(|txn| {
        ensure_namespace(txn, def, ns)?;
        for _ in 0..8 {
            if let Some(prefix) = &generate {
                let name = format!("{prefix}{}", shared.name_suffix());
                meta_mut(&mut obj).insert("name".into(), Value::String(name));
            }
            validate(def, &obj)?;
            let name = name_of(&obj).to_string();
            if txn
                .get(def.store, if def.namespaced { ns } else { "" }, &name)
                .is_some()
            {
                if generate.is_some() {
                    continue;
                }
                return Err(ApiError::already_exists(def.group, def.plural, &name));
            }
            if dry_run {
                return Ok(Served {
                    def,
                    obj: Arc::new(obj),
                });
            }
            let stored = txn.put(def.store, obj);
            return Ok(Served { def, obj: stored });
        }
        Err(ApiError::Internal(
            "could not generate a unique name".into(),
        ))
    })
}

/// Which part of an object a write may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// The main resource: everything but status (when the kind has a status subresource).
    Main,
    /// The status subresource: only status.
    Status,
}

/// Stores `new` as the next version of `old`, applying the rules of an update; returns the
/// stored object (unchanged when nothing changed).
fn commit_update(
    shared: &Arc<Shared>,
    txn: &mut Txn<'_>,
    def: &'static ResourceDef,
    old: &Arc<Value>,
    mut new: Value,
    part: Part,
    dry_run: bool,
) -> Result<Arc<Value>, ApiError> {
    let name = name_of(old).to_string();
    if let Some(rv) = meta_str(&new, "resourceVersion").filter(|rv| !rv.is_empty())
        && Some(rv) != meta_str(old, "resourceVersion")
    {
        return Err(ApiError::conflict(
            def.group,
            def.plural,
            &name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    match part {
        Part::Status => {
            let status = new.get("status").cloned();
            // kube-apiserver's pod status strategy keeps the written metadata (labels and
            // annotations change through pods/status too) but not the owner references or
            // what only the server sets; for other kinds the sandbox keeps all metadata.
            let written = (def.store == "pods")
                .then(|| new.get("metadata").cloned())
                .flatten();
            new = (**old).clone();
            if let Some(mut meta) = written {
                let old_meta = old.get("metadata").cloned().unwrap_or_default();
                if let Value::Object(m) = &mut meta {
                    for k in [
                        "uid",
                        "creationTimestamp",
                        "deletionTimestamp",
                        "deletionGracePeriodSeconds",
                        "generation",
                        "namespace",
                        "name",
                        "ownerReferences",
                        "resourceVersion",
                    ] {
                        match old_meta.get(k) {
                            Some(v) => m.insert(k.into(), v.clone()),
                            None => m.remove(k),
                        };
                    }
                }
                new["metadata"] = meta;
            }
            match status {
                Some(s) => new["status"] = s,
                None => {
                    if let Value::Object(m) = &mut new {
                        m.remove("status");
                    }
                }
            }
        }
        Part::Main => {
            if def.status_subresource {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Value::Object(m) = &mut new {
                            m.remove("status");
                        }
                    }
                }
            }
            let old_meta = old.get("metadata").cloned().unwrap_or_default();
            let m = meta_mut(&mut new);
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "namespace",
                "name",
            ] {
                match old_meta.get(k) {
                    Some(v) => m.insert(k.into(), v.clone()),
                    None => m.remove(k),
                };
            }
            if def.store == "pods" {
                default_pod(&mut new);
            }
            if def.store == "pods" && pod_spec_change_forbidden(old, &new) {
                return Err(ApiError::invalid(
                    def.group,
                    def.kind,
                    &name,
                    vec![FieldError {
                        field: "spec".into(),
                        reason: "FieldValueForbidden",
                        message: "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)".into(),
                    }],
                ));
            }
            if def.status_subresource && old.get("spec") != new.get("spec") {
                let g = old
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                meta_mut(&mut new).insert("generation".into(), json!(g + 1));
            }
        }
    }
    let storage_api_version = if def.view == View::EventsV1 {
        "v1".to_string()
    } else {
        def.api_version()
    };
    check_type(&mut new, &storage_api_version, def.kind)?;
    validate(def, &new)?;
    // A write that changes nothing keeps the resourceVersion, as on a real server.
    meta_mut(&mut new).insert(
        "resourceVersion".into(),
        old.pointer("/metadata/resourceVersion")
            .cloned()
            .unwrap_or(Value::Null),
    );
    if new == **old {
        return Ok(old.clone());
    }
    if dry_run {
        return Ok(Arc::new(new));
    }
    // Removing the last finalizer of an object being deleted completes the deletion.
    let terminating = new.pointer("/metadata/deletionTimestamp").is_some();
    let no_finalizers = new
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    let grace = new
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if terminating && no_finalizers && grace == 0 {
        let (ns, name) = (
            meta_str(&new, "namespace").unwrap_or("").to_string(),
            name_of(&new).to_string(),
        );
        txn.put(def.store, new);
        return txn
            .delete(def.store, &ns, &name)
            .ok_or_else(|| ApiError::Internal("object vanished during update".into()));
    }
    let _ = shared;
    Ok(txn.put(def.store, new))
}

/// PUT to an object or its status.
pub(crate) fn update(
    shared: &Arc<Shared>,
    def: &'static ResourceDef,
    ns: &str,
    name: &str,
    mut obj: Value,
    part: Part,
    dry_run: bool,
) -> Result<Value, ApiError> {
    check_type(&mut obj, &def.api_version(), def.kind)?;
    let obj = from_view(def, obj);
    match meta_str(&obj, "name") {
        Some(n) if n == name => {}
        Some(n) => {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        None => {
            return Err(ApiError::invalid(
                def.group,
                def.kind,
                "",
                vec![FieldError {
                    field: "metadata.name".into(),
                    reason: "FieldValueRequired",
                    message: "Required value: name is required".into(),
                }],
            ));
        }
    }
    if def.namespaced && meta_str(&obj, "namespace").is_some_and(|n| !n.is_empty() && n != ns) {
        return Err(ApiError::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
                .into(),
        ));
    }
    shared.store.transact(|txn| {
        let old = txn
            .get(def.store, ns, name)
            .ok_or_else(|| ApiError::not_found(def.group, def.plural, name))?;
        let stored = commit_update(shared, txn, def, &old, obj, part, dry_run)?;
        Ok(view(def, &stored))
    })
}

/// The patch formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatchType {
    Merge,
    Strategic,
    Json,
    Apply,
}

impl PatchType {
    /// From a Content-Type.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        Some(match ct {
            "application/merge-patch+json" => PatchType::Merge,
            "application/strategic-merge-patch+json" => PatchType::Strategic,
            "application/json-patch+json" => PatchType::Json,
            "application/apply-patch+yaml" | "application/apply-patch+json" => PatchType::Apply,
            _ => return None,
        })
    }
}

fn patch_error(e: PatchError) -> ApiError {
    match e {
        PatchError::Malformed(m) => ApiError::BadRequest(m),
        PatchError::Failed(m) => ApiError::Custom {
            code: 422,
            reason: "Invalid".into(),
            message: m,
        },
    }
}

/// PATCH of an object or its status.
#[allow(clippy::too_many_arguments)]
pub(crate) fn patch(
    shared: &Arc<Shared>,
    def: &'static ResourceDef,
    ns: &str,
    name: &str,
    ptype: PatchType,
    body: &[u8],
    part: Part,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let p: Value = match ptype {
        PatchType::Apply => serde_yaml_ng::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))?,
        _ => serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))?,
    };
    let existing = shared.store.get(def.store, ns, name);
    if existing.is_none() && ptype == PatchType::Apply && part == Part::Main {
        let mut obj = p;
        let m = meta_mut(&mut obj);
        m.insert("name".into(), Value::String(name.into()));
        return create(shared, def, ns, obj, dry_run).map(|c| view(def, &c.obj));
    }
    shared.store.transact(|txn| {
        let old = txn
            .get(def.store, ns, name)
            .ok_or_else(|| ApiError::not_found(def.group, def.plural, name))?;
        let mut doc = view(def, &old);
        // A resourceVersion inside the patch is a precondition, checked against the old object.
        meta_mut(&mut doc).remove("resourceVersion");
        match ptype {
            PatchType::Merge => patch::merge_patch(&mut doc, &p),
            PatchType::Strategic | PatchType::Apply => {
                patch::strategic_merge_patch(&mut doc, &p).map_err(patch_error)?
            }
            PatchType::Json => patch::json_patch(&mut doc, &p).map_err(patch_error)?,
        }
        if !doc.is_object() {
            // kube-apiserver cannot decode the patched document: 422 with this message after
            // a JSON patch (a merge patch that is not an object is refused earlier, 400).
            if ptype == PatchType::Json {
                return Err(ApiError::Custom {
                    code: 422,
                    reason: "Invalid".into(),
                    message: "the server rejected our request due to an error in our request"
                        .into(),
                });
            }
            return Err(ApiError::BadRequest(
                "the patch turns the object into something other than a JSON object".into(),
            ));
        }
        let new = from_view(def, doc);
        let stored = commit_update(shared, txn, def, &old, new, part, dry_run)?;
        Ok(view(def, &stored))
    })
}

fn precondition_failed(
    def: &ResourceDef,
    name: &str,
    what: &str,
    want: &str,
    got: &str,
) -> ApiError {
    ApiError::conflict(
        def.group,
        def.plural,
        name,
        &format!(
            "Precondition failed: {what} in precondition: {want}, {what} in object meta: {got}"
        ),
    )
}

/// Deletes one object inside a transaction, with preconditions and graceful pod termination.
/// Returns the object as it is after the call (terminating, or its last state).
fn delete_in(
    shared: &Arc<Shared>,
    txn: &mut Txn<'_>,
    def: &'static ResourceDef,
    ns: &str,
    name: &str,
    opts: &DeleteOpts,
) -> Result<Arc<Value>, ApiError> {
    let old = txn
        .get(def.store, ns, name)
        .ok_or_else(|| ApiError::not_found(def.group, def.plural, name))?;
    let uid = meta_str(&old, "uid").unwrap_or("");
    if let Some(want) = &opts.uid
        && want != uid
    {
        return Err(precondition_failed(def, name, "UID", want, uid));
    }
    let rv = meta_str(&old, "resourceVersion").unwrap_or("");
    if let Some(want) = &opts.resource_version
        && want != rv
    {
        return Err(precondition_failed(def, name, "ResourceVersion", want, rv));
    }
    let has_finalizers = old
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    let grace = if def.store == "pods" {
        let unbound = old
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        let finished = matches!(
            old.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        );
        if unbound || finished {
            0
        } else {
            opts.grace_period
                .or_else(|| {
                    old.pointer("/spec/terminationGracePeriodSeconds")
                        .and_then(Value::as_i64)
                })
                .unwrap_or(30)
                .max(0)
        }
    } else {
        0
    };
    if opts.dry_run {
        return Ok(old);
    }
    if grace == 0 && !has_finalizers {
        if def.store == "namespaces" {
            for r in resources::RESOURCES
                .iter()
                .filter(|r| r.namespaced && r.view == View::Identity)
            {
                for o in txn.list(r.store, Some(name)) {
                    txn.delete(r.store, name, name_of(&o));
                }
            }
        }
        return txn
            .delete(def.store, ns, name)
            .ok_or_else(|| ApiError::Internal("object vanished during delete".into()));
    }
    // Graceful: mark the object; a timer (pods) or the last finalizer removal finishes it.
    let current_grace = old
        .pointer("/metadata/deletionGracePeriodSeconds")
        .and_then(Value::as_i64);
    if old.pointer("/metadata/deletionTimestamp").is_some()
        && current_grace.is_some_and(|g| g <= grace)
    {
        return Ok(old);
    }
    let mut new = (*old).clone();
    let when = shared.clock.now() + Duration::from_secs(grace.min(MAX_GRACE_SECONDS) as u64);
    let m = meta_mut(&mut new);
    m.insert(
        "deletionTimestamp".into(),
        Value::String(crate::clock::rfc3339(when, false)),
    );
    m.insert("deletionGracePeriodSeconds".into(), json!(grace));
    let stored = txn.put(def.store, new);
    if grace > 0 {
        spawn_grace_timer(shared, def, ns, name, uid, grace.min(MAX_GRACE_SECONDS));
    }
    Ok(stored)
}

fn spawn_grace_timer(
    shared: &Arc<Shared>,
    def: &'static ResourceDef,
    ns: &str,
    name: &str,
    uid: &str,
    grace: i64,
) {
    let (shared2, ns, name, uid) = (
        shared.clone(),
        ns.to_string(),
        name.to_string(),
        uid.to_string(),
    );
    let mut shutdown = shared.shutdown.subscribe();
    tokio::spawn(async move {
        tokio::select! {
            _ = shared2.clock.sleep(Duration::from_secs(grace as u64)) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        shared2.store.transact(|txn| {
            let Some(cur) = txn.get(def.store, &ns, &name) else {
                return;
            };
            if meta_str(&cur, "uid") != Some(uid.as_str())
                || cur.pointer("/metadata/deletionTimestamp").is_none()
            {
                return;
            }
            if cur
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64)
                != Some(grace)
            {
                return; // a later delete changed the period and has its own timer
            }
            let finalizers = cur
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty());
            if finalizers {
                let mut new = (*cur).clone();
                meta_mut(&mut new).insert("deletionGracePeriodSeconds".into(), json!(0));
                txn.put(def.store, new);
            } else {
                txn.delete(def.store, &ns, &name);
            }
        });
    });
}

/// DELETE of one object.
pub(crate) fn delete(
    shared: &Arc<Shared>,
    def: &'static ResourceDef,
    ns: &str,
    name: &str,
    opts: &DeleteOpts,
) -> Result<Value, ApiError> {
    shared
        .store
        .transact(|txn| delete_in(shared, txn, def, ns, name, opts))
        .map(|o| view(def, &o))
}

/// DELETE of a collection: every object matching the selectors.
pub(crate) fn delete_collection(
    shared: &Arc<Shared>,
    def: &'static ResourceDef,
    ns: Option<&str>,
    labels: &LabelSelector,
    fields: &FieldSelector,
    opts: &DeleteOpts,
) -> Result<Value, ApiError> {
    shared.store.transact(|txn| {
        let mut items = Vec::new();
        for o in txn.list(def.store, ns) {
            if labels.matches(&o) && fields.matches(&o) {
                let ns = meta_str(&o, "namespace").unwrap_or("").to_string();
                let per = DeleteOpts {
                    uid: None,
                    resource_version: None,
                    ..opts.clone()
                };
                let deleted = delete_in(shared, txn, def, &ns, name_of(&o), &per)?;
                items.push(view(def, &deleted));
            }
        }
        Ok(json!({
            "apiVersion": def.api_version(),
            "kind": format!("{}List", def.kind),
            "metadata": {"resourceVersion": txn.rv().to_string()},
            "items": items,
        }))
    })
}

fn set_condition(obj: &mut Value, cond: Value) {
    if !obj["status"].is_object() {
        obj["status"] = json!({});
    }
    let conds = &mut obj["status"]["conditions"];
    if !conds.is_array() {
        *conds = json!([]);
    }
    if let Value::Array(list) = conds {
        match list.iter_mut().find(|c| c.get("type") == cond.get("type")) {
            Some(c) => {
                if c.get("status") == cond.get("status") {
                    let ltt = c.get("lastTransitionTime").cloned();
                    *c = cond;
                    if let Some(ltt) = ltt {
                        c["lastTransitionTime"] = ltt;
                    }
                } else {
                    *c = cond;
                }
            }
            None => list.push(cond),
        }
    }
}

/// POST pods/{name}/binding.
pub(crate) fn bind(
    shared: &Arc<Shared>,
    ns: &str,
    name: &str,
    mut body: Value,
) -> Result<Value, ApiError> {
    check_type(&mut body, "v1", "Binding")?;
    let target = body
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "",
                "Binding",
                name,
                vec![FieldError {
                    field: "target.name".into(),
                    reason: "FieldValueRequired",
                    message: "Required value".into(),
                }],
            )
        })?
        .to_string();
    if let Some(k) = body.pointer("/target/kind").and_then(Value::as_str)
        && !k.is_empty()
        && k != "Node"
    {
        return Err(ApiError::invalid(
            "",
            "Binding",
            name,
            vec![FieldError {
                field: "target.kind".into(),
                reason: "FieldValueNotSupported",
                message: format!("Unsupported value: \"{k}\": supported values: \"Node\""),
            }],
        ));
    }
    if let Some(n) = meta_str(&body, "name").filter(|n| !n.is_empty() && *n != name) {
        return Err(ApiError::BadRequest(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    let conflict = |why: String| ApiError::conflict("", "pods/binding", name, &why);
    shared.store.transact(|txn| {
        let pod = txn
            .get("pods", ns, name)
            .ok_or_else(|| ApiError::not_found("", "pods", name))?;
        if let Some(want) = meta_str(&body, "uid").filter(|u| !u.is_empty())
            && Some(want) != meta_str(&pod, "uid")
        {
            return Err(conflict(format!(
                "Precondition failed: UID in precondition: {want}, UID in object meta: {}",
                meta_str(&pod, "uid").unwrap_or("")
            )));
        }
        if let Some(want) = meta_str(&body, "resourceVersion").filter(|r| !r.is_empty())
            && Some(want) != meta_str(&pod, "resourceVersion")
        {
            return Err(conflict(format!(
                "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {}",
                meta_str(&pod, "resourceVersion").unwrap_or("")
            )));
        }
        if pod.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(conflict(format!("pod {name} is being deleted, cannot be assigned to a host")));
        }
        if let Some(node) = pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
            return Err(conflict(format!("pod {name} is already assigned to node \"{node}\"")));
        }
        if pod.pointer("/spec/schedulingGates").and_then(Value::as_array).is_some_and(|g| !g.is_empty()) {
            return Err(conflict(format!("pod {name} has non-empty .spec.schedulingGates")));
        }
        let mut new = (*pod).clone();
        new["spec"]["nodeName"] = Value::String(target);
        if let Some(Value::Object(ann)) = body.pointer("/metadata/annotations") {
            let m = meta_mut(&mut new);
            let entry = m.entry("annotations").or_insert_with(|| json!({}));
            if let Value::Object(existing) = entry {
                for (k, v) in ann {
                    existing.insert(k.clone(), v.clone());
                }
            }
        }
        set_condition(
            &mut new,
            json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                   "lastTransitionTime": shared.clock.timestamp()}),
        );
        txn.put("pods", new);
        Ok(status::success(201))
    })
}

fn scaled(v: &Value, total: usize, round_up: bool) -> Option<usize> {
    match v {
        Value::Number(n) => n.as_u64().map(|n| n as usize),
        Value::String(s) => {
            let pct: usize = s.strip_suffix('%')?.parse().ok()?;
            let x = total.saturating_mul(pct);
            Some(if round_up { x.div_ceil(100) } else { x / 100 })
        }
        _ => None,
    }
}

fn pod_is_healthy(p: &Value) -> bool {
    p.pointer("/metadata/deletionTimestamp").is_none()
        && p.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
        && p.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
}

/// POST pods/{name}/eviction.
pub(crate) fn evict(
    shared: &Arc<Shared>,
    ns: &str,
    name: &str,
    body: Value,
) -> Result<Value, ApiError> {
    match body.get("apiVersion").and_then(Value::as_str) {
        None | Some("" | "policy/v1" | "policy/v1beta1") => {}
        Some(v) => {
            return Err(ApiError::BadRequest(format!(
                "the API version in the data ({v}) does not match the expected API version (policy/v1)"
            )));
        }
    }
    if let Some(k) = body
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty() && *k != "Eviction")
    {
        return Err(ApiError::BadRequest(format!(
            "the kind in the data ({k}) does not match the expected kind (Eviction)"
        )));
    }
    if let Some(n) = meta_str(&body, "name").filter(|n| !n.is_empty() && *n != name) {
        return Err(ApiError::BadRequest(format!(
            "name in URL does not match name in Eviction object: {n}"
        )));
    }
    let opts = DeleteOpts::from_value(body.get("deleteOptions").unwrap_or(&Value::Null))?;
    let pods = resources::find("", "v1", "pods")
        .ok_or_else(|| ApiError::Internal("no pods resource".into()))?;
    shared.store.transact(|txn| {
        let pod = txn
            .get("pods", ns, name)
            .ok_or_else(|| ApiError::not_found("", "pods", name))?;
        let ignore_pdb = pod.pointer("/metadata/deletionTimestamp").is_some()
            || matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Pending" | "Succeeded" | "Failed") | None);
        if !ignore_pdb {
            let pdbs: Vec<Arc<Value>> = txn
                .list("poddisruptionbudgets", Some(ns))
                .into_iter()
                .filter(|pdb| {
                    LabelSelector::from_object(pdb.pointer("/spec/selector")).is_some_and(|s| s.matches(&pod))
                })
                .collect();
            if pdbs.len() > 1 {
                return Err(ApiError::Internal(
                    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.".into(),
                ));
            }
            if let Some(pdb) = pdbs.first() {
                let sel = LabelSelector::from_object(pdb.pointer("/spec/selector")).unwrap_or_default();
                let matching: Vec<Arc<Value>> = txn
                    .list("pods", Some(ns))
                    .into_iter()
                    .filter(|p| sel.matches(p))
                    .filter(|p| !matches!(p.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed")))
                    .collect();
                let expected = matching.len();
                let healthy = matching.iter().filter(|p| pod_is_healthy(p)).count();
                let desired = if let Some(min) = pdb.pointer("/spec/minAvailable") {
                    scaled(min, expected, true).unwrap_or(expected)
                } else if let Some(max) = pdb.pointer("/spec/maxUnavailable") {
                    expected.saturating_sub(scaled(max, expected, true).unwrap_or(0))
                } else {
                    1
                };
                if healthy <= desired {
                    return Err(ApiError::TooManyRequests(format!(
                        "Cannot evict pod as it would violate the pod's disruption budget. The disruption budget {} needs {desired} healthy pods and has {healthy} currently",
                        name_of(pdb)
                    )));
                }
            }
        }
        delete_in(shared, txn, pods, ns, name, &opts)?;
        Ok(status::success(201))
    })
}

/// Builds the object a seed stores: server fields filled in, status kept.
pub(crate) fn seed_one(
    shared: &Arc<Shared>,
    def: &'static ResourceDef,
    mut obj: Value,
) -> Result<(), ApiError> {
    obj["apiVersion"] = Value::String(def.api_version());
    let mut obj = from_view(def, obj);
    let ns = if def.namespaced {
        let ns = meta_str(&obj, "namespace")
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
            .to_string();
        meta_mut(&mut obj).insert("namespace".into(), Value::String(ns.clone()));
        ns
    } else {
        meta_mut(&mut obj).remove("namespace");
        String::new()
    };
    let keep_uid = meta_str(&obj, "uid").map(String::from);
    let keep_ts = meta_str(&obj, "creationTimestamp").map(String::from);
    prepare_new(shared, def, &mut obj, false);
    let m = meta_mut(&mut obj);
    if let Some(u) = keep_uid {
        m.insert("uid".into(), Value::String(u));
    }
    if let Some(t) = keep_ts {
        m.insert("creationTimestamp".into(), Value::String(t));
    }
    validate(def, &obj)?;
    shared.store.transact(|txn| {
        if def.namespaced && txn.get("namespaces", "", &ns).is_none() {
            txn.put("namespaces", namespace_object(shared, &ns));
        }
        txn.put(def.store, obj);
    });
    Ok(())
}

/// A new, active Namespace object.
pub(crate) fn namespace_object(shared: &Shared, name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "uid": shared.uid(), "creationTimestamp": shared.clock.timestamp(),
                      "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"}
    })
}
