//! The object store: every object as a `serde_json::Value`, keyed per storage by
//! (namespace, name), one global resourceVersion, and a bounded event log that watches read.
//!
//! Every write takes one short lock, bumps the resourceVersion by one and appends exactly one
//! event to the log, so a watcher that reads the log in order never misses or repeats an event.
//!
//! Watchers are woken per storage (a pod write wakes the pod watches, not the node watches), and
//! a watch expires only when an event of its own storage has left the window (or after a
//! compaction), as the real API server's per-resource watch cache behaves.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use serde_json::{Value, json};

/// (namespace, name); the namespace is `""` for cluster-scoped objects.
pub type Key = (String, String);

/// Type of a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// The object was created.
    Added,
    /// The object was changed.
    Modified,
    /// The object was removed.
    Deleted,
}

impl EventType {
    /// The wire name (`ADDED`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One entry of the event log.
#[derive(Debug)]
pub struct LogEvent {
    /// resourceVersion of the write.
    pub rv: u64,
    /// Storage key (`pods`).
    pub store: &'static str,
    /// What happened.
    pub kind: EventType,
    /// The object after the write (for deletions: the last state, with the deletion's RV).
    pub object: Arc<Value>,
    /// The object before a modification.
    pub prev: Option<Arc<Value>>,
    line: OnceLock<Bytes>,
}

impl LogEvent {
    /// The newline-terminated watch line for this event, serialized once and shared by watchers.
    pub fn line(&self) -> Bytes {
        self.line
            .get_or_init(|| watch_line(self.kind.as_str(), &*self.object))
            .clone()
    }
}

/// Serializes one watch event line.
pub fn watch_line(kind: &str, object: &(impl serde::Serialize + ?Sized)) -> Bytes {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"{\"type\":\"");
    buf.extend_from_slice(kind.as_bytes());
    buf.extend_from_slice(b"\",\"object\":");
    // Serializing a `Value` (or a view of one) into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut buf, object);
    buf.extend_from_slice(b"}\n");
    Bytes::from(buf)
}

/// A consistent list kept for `continue` tokens.
#[derive(Debug)]
pub struct ListSnapshot {
    /// resourceVersion the list was taken at.
    pub rv: u64,
    /// The matching items, in (namespace, name) order.
    pub items: Vec<Arc<Value>>,
}

const MAX_SNAPSHOTS: usize = 64;

#[derive(Debug)]
struct Inner {
    objects: HashMap<&'static str, BTreeMap<Key, Arc<Value>>>,
    rv: u64,
    /// Every event with rv > floor is in the log.
    floor: u64,
    log: VecDeque<Arc<LogEvent>>,
    /// Per storage, the resourceVersion of the newest of its events dropped from the log.
    dropped: HashMap<&'static str, u64>,
    /// Every event with rv <= compacted is gone for every storage (a compaction).
    compacted: u64,
    window: usize,
    snapshots: HashMap<u64, Arc<ListSnapshot>>,
    snapshot_order: VecDeque<u64>,
    next_snapshot: u64,
}

/// The in-memory store.
#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
    notify: tokio::sync::watch::Sender<u64>,
    /// Per storage, woken with the resourceVersion after a write to it.
    notify_store: Mutex<HashMap<&'static str, tokio::sync::watch::Sender<u64>>>,
}

/// Why a watch cannot resume from a resourceVersion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The resourceVersion is older than the kept event window.
    #[error("too old resource version: {requested} ({oldest})")]
    TooOld {
        /// The requested resourceVersion.
        requested: u64,
        /// The oldest resourceVersion a watch can start from.
        oldest: u64,
    },
}

/// The events after a cursor that concern one storage; see [`Store::events_in`].
#[derive(Debug)]
pub struct StoreEvents {
    /// The storage's events, in order.
    pub events: Vec<Arc<LogEvent>>,
    /// The resourceVersion up to which the log was read (the next cursor).
    pub read_to: u64,
    /// Whether the log holds more events after `read_to`.
    pub more: bool,
}

/// The storages written in one transaction (a transaction writes one or two).
#[derive(Default)]
struct Written {
    first: [Option<&'static str>; 2],
    /// More storages than `first` holds: wake every watcher.
    all: bool,
}

impl Written {
    fn add(&mut self, store: &'static str) {
        if self.first.contains(&Some(store)) {
            return;
        }
        match self.first.iter_mut().find(|s| s.is_none()) {
            Some(slot) => *slot = Some(store),
            None => self.all = true,
        }
    }

    fn any(&self) -> bool {
        self.first[0].is_some()
    }
}

/// A set of writes done under one lock.
pub struct Txn<'a> {
    inner: MutexGuard<'a, Inner>,
    wrote: Written,
}

fn key_of(obj: &Value) -> Key {
    let s = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (s("/metadata/namespace"), s("/metadata/name"))
}

impl Txn<'_> {
    /// The current resourceVersion.
    pub fn rv(&self) -> u64 {
        self.inner.rv
    }

    /// One object.
    pub fn get(&self, store: &'static str, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.inner
            .objects
            .get(store)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Every object of a storage, optionally in one namespace.
    pub fn list(&self, store: &'static str, ns: Option<&str>) -> Vec<Arc<Value>> {
        list_of(&self.inner, store, ns)
    }

    /// Stores an object (its key taken from its metadata), setting `metadata.resourceVersion`,
    /// and logs ADDED or MODIFIED.
    pub fn put(&mut self, store: &'static str, mut obj: Value) -> Arc<Value> {
        let inner = &mut *self.inner;
        inner.rv += 1;
        let rv = inner.rv;
        set_rv(&mut obj, rv);
        let obj = Arc::new(obj);
        let prev = inner
            .objects
            .entry(store)
            .or_default()
            .insert(key_of(&obj), obj.clone());
        let kind = if prev.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        push_event(
            inner,
            LogEvent {
                rv,
                store,
                kind,
                object: obj.clone(),
                prev,
                line: OnceLock::new(),
            },
        );
        self.wrote.add(store);
        obj
    }

    /// Removes an object and logs DELETED; returns its last state (carrying the deletion's RV).
    pub fn delete(&mut self, store: &'static str, ns: &str, name: &str) -> Option<Arc<Value>> {
        let inner = &mut *self.inner;
        let old = inner
            .objects
            .get_mut(store)?
            .remove(&(ns.to_string(), name.to_string()))?;
        inner.rv += 1;
        let rv = inner.rv;
        let mut last = (*old).clone();
        set_rv(&mut last, rv);
        let last = Arc::new(last);
        push_event(
            inner,
            LogEvent {
                rv,
                store,
                kind: EventType::Deleted,
                object: last.clone(),
                prev: None,
                line: OnceLock::new(),
            },
        );
        self.wrote.add(store);
        Some(last)
    }
}

fn list_of(inner: &Inner, store: &'static str, ns: Option<&str>) -> Vec<Arc<Value>> {
    let Some(map) = inner.objects.get(store) else {
        return Vec::new();
    };
    match ns {
        None => map.values().cloned().collect(),
        Some(ns) => map
            .range((ns.to_string(), String::new())..)
            .take_while(|((n, _), _)| n == ns)
            .map(|(_, v)| v.clone())
            .collect(),
    }
}

fn set_rv(obj: &mut Value, rv: u64) {
    if !obj.is_object() {
        *obj = json!({});
    }
    let meta = &mut obj["metadata"];
    if !meta.is_object() {
        *meta = json!({});
    }
    meta["resourceVersion"] = Value::String(rv.to_string());
}

fn push_event(inner: &mut Inner, ev: LogEvent) {
    inner.log.push_back(Arc::new(ev));
    trim(inner);
}

/// Drops the oldest events beyond the window.
fn trim(inner: &mut Inner) {
    while inner.log.len() > inner.window {
        if let Some(old) = inner.log.pop_front() {
            inner.floor = old.rv;
            *inner.dropped.entry(old.store).or_default() = old.rv;
        }
    }
}

/// The index in the log of the first event after `cursor`.
fn log_start(inner: &Inner, cursor: u64) -> usize {
    // Every watcher calls this on every write to its storage: try where
    // `cursor` sits when the log's versions are consecutive (the usual case)
    // before a binary search, whose probes each miss the cache on a long log.
    match inner.log.front() {
        Some(first) if cursor >= first.rv => {
            let guess = usize::try_from(cursor - first.rv + 1).unwrap_or(usize::MAX);
            let fits = guess <= inner.log.len()
                && inner.log[guess - 1].rv == cursor
                && inner.log.get(guess).is_none_or(|e| e.rv > cursor);
            if fits {
                guess
            } else {
                inner.log.partition_point(|e| e.rv <= cursor)
            }
        }
        _ => inner.log.partition_point(|e| e.rv <= cursor),
    }
}

impl Store {
    /// An empty store keeping at most `window` events (at least 1).
    pub fn new(window: usize) -> Self {
        let (notify, _) = tokio::sync::watch::channel(0);
        Self {
            inner: Mutex::new(Inner {
                objects: HashMap::new(),
                rv: 0,
                floor: 0,
                log: VecDeque::new(),
                dropped: HashMap::new(),
                compacted: 0,
                window: window.max(1),
                snapshots: HashMap::new(),
                snapshot_order: VecDeque::new(),
                next_snapshot: 1,
            }),
            notify,
            notify_store: Mutex::new(HashMap::new()),
        }
    }

    fn store_senders(
        &self,
    ) -> MutexGuard<'_, HashMap<&'static str, tokio::sync::watch::Sender<u64>>> {
        self.notify_store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the watchers of every storage.
    fn notify_all(&self, rv: u64) {
        self.notify.send_replace(rv);
        for tx in self.store_senders().values() {
            tx.send_replace(rv);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-written (each write is one
        // insert/remove), so a poisoned lock is safe to keep using.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` with exclusive access; watchers are woken once afterwards if anything was written.
    pub fn transact<R>(&self, f: impl FnOnce(&mut Txn<'_>) -> R) -> R {
        let mut txn = Txn {
            inner: self.lock(),
            wrote: Written::default(),
        };
        let r = f(&mut txn);
        if txn.wrote.any() {
            let rv = txn.inner.rv;
            let wrote = std::mem::take(&mut txn.wrote);
            drop(txn);
            if wrote.all {
                self.notify_all(rv);
            } else {
                self.notify.send_replace(rv);
                let senders = self.store_senders();
                for store in wrote.first.into_iter().flatten() {
                    if let Some(tx) = senders.get(store) {
                        tx.send_replace(rv);
                    }
                }
            }
        }
        r
    }

    /// One object.
    pub fn get(&self, store: &'static str, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.transact(|t| t.get(store, ns, name))
    }

    /// Objects of a storage (optionally one namespace) and the resourceVersion they were read at.
    pub fn list(&self, store: &'static str, ns: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        (list_of(&inner, store, ns), inner.rv)
    }

    /// The current resourceVersion.
    pub fn rv(&self) -> u64 {
        self.lock().rv
    }

    /// Subscribes to resourceVersion changes.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// Subscribes to the writes to one storage (and to compactions).
    pub fn subscribe_store(&self, store: &'static str) -> tokio::sync::watch::Receiver<u64> {
        let rv = self.rv();
        self.store_senders()
            .entry(store)
            .or_insert_with(|| tokio::sync::watch::channel(rv).0)
            .subscribe()
    }

    /// The events of `store` after `cursor`, reading at most `max` log
    /// entries of any storage; `TooOld` when an event of `store` after
    /// `cursor` has left the window (or a compaction came after `cursor`).
    pub fn events_in(
        &self,
        store: &'static str,
        cursor: u64,
        max: usize,
    ) -> Result<StoreEvents, StoreError> {
        let inner = self.lock();
        let dropped = inner.dropped.get(store).copied().unwrap_or(0);
        if cursor < inner.compacted || cursor < dropped {
            return Err(StoreError::TooOld {
                requested: cursor,
                oldest: inner.compacted.max(dropped),
            });
        }
        let start = log_start(&inner, cursor);
        let end = start.saturating_add(max).min(inner.log.len());
        let events = inner
            .log
            .range(start..end)
            .filter(|e| e.store == store)
            .cloned()
            .collect();
        let read_to = if end > start {
            inner.log[end - 1].rv
        } else {
            // Nothing after `cursor` is left in the log: every later write
            // (there are none, or they were compacted away) is accounted for.
            cursor.max(inner.rv)
        };
        Ok(StoreEvents {
            events,
            read_to,
            more: end < inner.log.len(),
        })
    }

    /// The events after `cursor` (at most `max`), or `TooOld` when some were dropped.
    pub fn events_after(
        &self,
        cursor: u64,
        max: usize,
    ) -> Result<(Vec<Arc<LogEvent>>, u64), StoreError> {
        let inner = self.lock();
        if cursor < inner.floor {
            return Err(StoreError::TooOld {
                requested: cursor,
                oldest: inner.floor,
            });
        }
        let start = log_start(&inner, cursor);
        let evs = inner.log.range(start..).take(max).cloned().collect();
        Ok((evs, inner.rv))
    }

    /// Drops the whole event log and moves the resourceVersion on, so that every watch started
    /// or resumed from an earlier resourceVersion gets 410 Expired.
    pub fn compact(&self) {
        let rv = {
            let mut inner = self.lock();
            inner.rv += 1;
            inner.floor = inner.rv;
            inner.compacted = inner.rv;
            inner.log.clear();
            inner.snapshots.clear();
            inner.snapshot_order.clear();
            inner.rv
        };
        self.notify_all(rv);
    }

    /// Changes how many events are kept.
    pub fn set_window(&self, window: usize) {
        let mut inner = self.lock();
        inner.window = window.max(1);
        trim(&mut inner);
    }

    /// Keeps a list for `continue` tokens; returns its id.
    pub fn keep_snapshot(&self, snap: ListSnapshot) -> u64 {
        let mut inner = self.lock();
        let id = inner.next_snapshot;
        inner.next_snapshot += 1;
        inner.snapshots.insert(id, Arc::new(snap));
        inner.snapshot_order.push_back(id);
        while inner.snapshot_order.len() > MAX_SNAPSHOTS {
            if let Some(old) = inner.snapshot_order.pop_front() {
                inner.snapshots.remove(&old);
            }
        }
        id
    }

    /// A kept list, if it has not expired.
    pub fn snapshot(&self, id: u64) -> Option<Arc<ListSnapshot>> {
        self.lock().snapshots.get(&id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(ns: &str, name: &str) -> Value {
        json!({"metadata": {"namespace": ns, "name": name}})
    }

    #[test]
    fn writes_bump_rv_and_log_events() {
        let s = Store::new(3);
        s.transact(|t| {
            t.put("pods", obj("a", "p1"));
            t.put("pods", obj("b", "p2"));
            t.put("pods", obj("a", "p1"));
        });
        assert_eq!(s.rv(), 3);
        let (evs, rv) = s.events_after(0, 100).unwrap();
        assert_eq!(rv, 3);
        let kinds: Vec<_> = evs.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![EventType::Added, EventType::Added, EventType::Modified]
        );
        assert_eq!(evs[2].object["metadata"]["resourceVersion"], "3");
        assert_eq!(s.list("pods", Some("a")).0.len(), 1);
        assert_eq!(s.list("pods", None).0.len(), 2);
        let gone = s.transact(|t| t.delete("pods", "a", "p1")).unwrap();
        assert_eq!(gone["metadata"]["resourceVersion"], "4");
        assert!(s.get("pods", "a", "p1").is_none());
        // window 3: event 1 dropped, so resuming from 0 is too old but from 1 is fine.
        assert_eq!(
            s.events_after(0, 10).unwrap_err(),
            StoreError::TooOld {
                requested: 0,
                oldest: 1
            }
        );
        assert_eq!(s.events_after(1, 10).unwrap().0.len(), 3);
        assert_eq!(s.events_after(3, 1).unwrap().0[0].kind, EventType::Deleted);
    }

    #[test]
    fn events_in_one_storage_expire_with_that_storage_only() {
        let s = Store::new(3);
        let mut nodes = s.subscribe_store("nodes");
        let pods = s.subscribe_store("pods");
        s.transact(|t| t.put("nodes", obj("", "n1")));
        assert!(nodes.has_changed().unwrap());
        assert!(
            !pods.has_changed().unwrap(),
            "a node write wakes no pod watch"
        );
        nodes.borrow_and_update();
        for i in 0..5 {
            s.transact(|t| t.put("pods", obj("a", &format!("p{i}"))));
        }
        assert!(pods.has_changed().unwrap());
        assert!(!nodes.has_changed().unwrap());
        // rv 1 (the node) is out of the window of 3: a node watch from 0
        // missed it, one from 1 missed nothing of the nodes.
        assert!(s.events_in("nodes", 0, 10).is_err());
        let read = s.events_in("nodes", 1, 10).unwrap();
        assert!(read.events.is_empty());
        assert_eq!((read.read_to, read.more), (6, false));
        // Pods 1 and 2 (rv 2, 3) were dropped.
        assert!(s.events_in("pods", 2, 10).is_err());
        let read = s.events_in("pods", 3, 2).unwrap();
        assert_eq!(read.events.len(), 2);
        assert_eq!((read.read_to, read.more), (5, true));
        // A compaction expires every storage and wakes every watcher.
        s.compact();
        assert!(nodes.has_changed().unwrap());
        assert!(s.events_in("nodes", 6, 10).is_err());
        assert!(s.events_in("nodes", 7, 10).unwrap().events.is_empty());
    }

    #[test]
    fn compaction_expires_every_earlier_rv() {
        let s = Store::new(100);
        s.transact(|t| t.put("nodes", obj("", "n")));
        s.compact();
        assert!(s.events_after(1, 10).is_err());
        assert!(s.events_after(2, 10).unwrap().0.is_empty());
        assert!(
            String::from_utf8(
                s.transact(|t| t.put("nodes", obj("", "n")))
                    .to_string()
                    .into_bytes()
            )
            .is_ok()
        );
        let (evs, _) = s.events_after(2, 10).unwrap();
        assert_eq!(evs[0].line(), watch_line("MODIFIED", &*evs[0].object));
    }
}
