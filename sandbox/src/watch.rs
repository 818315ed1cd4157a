//! Watch streams: newline-delimited JSON events read from the store's event log.
//!
//! A watcher keeps a cursor (the resourceVersion of the last log event it has looked at) and
//! reads the log after it, so it sees every write exactly once and in order. It is woken only by
//! writes to its own storage (and compactions), so a burst of writes to pods costs the node and
//! event watches nothing. Objects that start
//! or stop matching the watcher's selectors are sent as ADDED or DELETED, as the real API server
//! does. A cursor older than the kept window ends the stream with an in-stream `ERROR` event
//! carrying a 410 `Expired` Status.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::api::{ServedRef, Shared, view};
use crate::resources::{ResourceDef, View};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{EventType, LogEvent, StoreError, watch_line};
use crate::table;

/// What a watch asks for.
#[derive(Debug, Clone)]
pub(crate) struct WatchParams {
    pub def: &'static ResourceDef,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// Start after this resourceVersion; `None` sends the current objects as ADDED first.
    pub since: Option<u64>,
    pub timeout: Duration,
    pub bookmarks: bool,
    /// `sendInitialEvents=true`: initial ADDED events then a BOOKMARK marking their end.
    pub initial_events_end: bool,
    /// Send objects as one-row Tables (kubectl); the flag says whether rows carry the object.
    pub table: Option<bool>,
}

impl WatchParams {
    /// The watch line for an object in storage form.
    fn line(&self, kind: &str, obj: &Value) -> Bytes {
        match self.table {
            None => watch_line(kind, &ServedRef { def: self.def, obj }),
            Some(include_object) => {
                let served = view(self.def, obj);
                let meta = json!({"resourceVersion": served.pointer("/metadata/resourceVersion").cloned().unwrap_or_default()});
                let t = table::table(
                    self.def,
                    [&served],
                    meta,
                    include_object,
                    std::time::SystemTime::now(),
                );
                watch_line(kind, &t)
            }
        }
    }
}

impl WatchParams {
    fn matches(&self, obj: &Value) -> bool {
        if let Some(ns) = &self.namespace
            && obj
                .get("metadata")
                .and_then(|m| m.get("namespace"))
                .and_then(Value::as_str)
                != Some(ns.as_str())
        {
            return false;
        }
        self.labels.matches(obj) && self.fields.matches(obj)
    }
}

struct WatchState {
    shared: Arc<Shared>,
    params: WatchParams,
    cursor: u64,
    pending: VecDeque<Bytes>,
    rv_rx: tokio::sync::watch::Receiver<u64>,
    close_rx: tokio::sync::watch::Receiver<u64>,
    shutdown_rx: tokio::sync::watch::Receiver<bool>,
    deadline: Instant,
    next_bookmark: Instant,
    /// A bookmark is due once the log has been read up to now.
    bookmark_due: bool,
    done: bool,
}

const BATCH: usize = 512;

fn bookmark(def: &ResourceDef, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    watch_line(
        "BOOKMARK",
        &json!({"apiVersion": def.api_version(), "kind": def.kind, "metadata": meta}),
    )
}

fn expired_line(e: StoreError) -> Bytes {
    let err = ApiError::Expired(e.to_string());
    watch_line("ERROR", &err.to_status())
}

fn with_rv(obj: &Value, rv: u64) -> Value {
    let mut o = obj.clone();
    o["metadata"]["resourceVersion"] = Value::String(rv.to_string());
    o
}

impl WatchState {
    /// The line for one log event as this watcher must see it, if any.
    fn line_for(&self, ev: &LogEvent) -> Option<Bytes> {
        let p = &self.params;
        if ev.store != p.def.store {
            return None;
        }
        let now = p.matches(&ev.object);
        let before = match ev.kind {
            EventType::Modified => ev.prev.as_deref().is_some_and(|o| p.matches(o)),
            _ => now,
        };
        let (kind, obj): (&str, Option<Value>) = match (ev.kind, before, now) {
            (EventType::Modified, false, true) => ("ADDED", None),
            (EventType::Modified, true, false) => (
                "DELETED",
                Some(with_rv(ev.prev.as_deref().unwrap_or(&ev.object), ev.rv)),
            ),
            (_, true, true) => (ev.kind.as_str(), None),
            _ => return None,
        };
        if p.def.view == View::Identity
            && p.table.is_none()
            && obj.is_none()
            && kind == ev.kind.as_str()
        {
            return Some(ev.line());
        }
        let obj = obj.unwrap_or_else(|| (*ev.object).clone());
        Some(p.line(kind, &obj))
    }

    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if !self.pending.is_empty() {
                let mut buf = BytesMut::new();
                while let Some(b) = self.pending.pop_front() {
                    buf.extend_from_slice(&b);
                }
                return Some(buf.freeze());
            }
            if self.done {
                return None;
            }
            self.rv_rx.borrow_and_update();
            match self
                .shared
                .store
                .events_in(self.params.def.store, self.cursor, BATCH)
            {
                Err(e) => {
                    self.done = true;
                    return Some(expired_line(e));
                }
                Ok(read) => {
                    for ev in &read.events {
                        if let Some(line) = self.line_for(ev) {
                            self.pending.push_back(line);
                        }
                    }
                    self.cursor = read.read_to;
                    if read.more {
                        continue;
                    }
                    if self.bookmark_due {
                        // After the events up to now, so that it carries the
                        // latest resourceVersion.
                        self.bookmark_due = false;
                        self.pending
                            .push_back(bookmark(self.params.def, self.cursor, false));
                    }
                    if !self.pending.is_empty() {
                        continue;
                    }
                }
            }
            let bookmarks = self.params.bookmarks;
            tokio::select! {
                r = self.rv_rx.changed() => if r.is_err() { self.done = true },
                _ = self.close_rx.changed() => self.done = true,
                _ = self.shutdown_rx.changed() => self.done = true,
                _ = tokio::time::sleep_until(self.deadline) => self.done = true,
                _ = tokio::time::sleep_until(self.next_bookmark), if bookmarks => {
                    self.next_bookmark = Instant::now() + self.shared.bookmark_interval;
                    self.bookmark_due = true;
                }
            }
        }
    }
}

/// The body stream of a watch.
pub(crate) fn stream(
    shared: Arc<Shared>,
    params: WatchParams,
) -> Result<
    impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
    ApiError,
> {
    let rv_rx = shared.store.subscribe_store(params.def.store);
    let close_rx = shared.close_watches.subscribe();
    let shutdown_rx = shared.shutdown.subscribe();
    let mut pending = VecDeque::new();
    let cursor = match params.since {
        Some(rv) => {
            // A resourceVersion the store has not reached yet is waited for, as kube-apiserver
            // v1.37 does: the watch answers 200 and sends the events after it, if any come
            // before the timeout.
            if rv <= shared.store.rv()
                && let Err(e) = shared.store.events_in(params.def.store, rv, 0)
            {
                pending.push_back(expired_line(e));
            }
            rv
        }
        None => {
            let (items, rv) = shared
                .store
                .list(params.def.store, params.namespace.as_deref());
            for o in items.iter().filter(|o| params.matches(o)) {
                pending.push_back(params.line("ADDED", o));
            }
            if params.initial_events_end {
                pending.push_back(bookmark(params.def, rv, true));
            }
            rv
        }
    };
    let now = Instant::now();
    let done = !pending.is_empty() && params.since.is_some();
    let state = WatchState {
        deadline: now + params.timeout,
        next_bookmark: now + shared.bookmark_interval,
        bookmark_due: false,
        shared,
        params,
        cursor,
        pending,
        rv_rx,
        close_rx,
        shutdown_rx,
        done,
    };
    Ok(futures::stream::unfold(state, |mut st| async move {
        st.next_chunk().await.map(|b| (Ok(b), st))
    }))
}
