//! Kubernetes events through `events.k8s.io/v1`, as kube-scheduler writes
//! them: `Scheduled` (Normal, action Binding), `FailedScheduling` (Warning,
//! action Scheduling), `Preempted` (Normal, action Preempting), with the
//! reporting controller set to the profile's scheduler name.
//!
//! The same (pod, reason, note) seen again within six minutes updates the
//! first event's series (count, last observed time) instead of creating a new
//! object, as client-go's event broadcaster does. Unlike kube-rs's `Recorder`,
//! the note is part of that key: a FailedScheduling message that changes is a
//! new event, so what KubeSpawner shows the user is current.
//!
//! A new event is one `POST` whose body is written straight from the
//! recorder's borrowed fields, and whose answer is checked but not decoded:
//! the scheduler writes one `Scheduled` event per pod, so its cost counts as
//! much as the binding's.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde::Serialize;
use tokio::time::Instant;

/// kube's limit on an event's note.
pub const NOTE_LIMIT: usize = 1024;
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);
/// How often the series map is pruned of entries older than the window.
const PRUNE_EVERY: Duration = Duration::from_secs(1);

/// Normal or Warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Normal.
    Normal,
    /// Warning.
    Warning,
}

/// Truncates a note to [`NOTE_LIMIT`] characters, ending in ` ...` when cut.
#[must_use]
pub fn truncate_note(note: &str) -> String {
    if note.chars().count() <= NOTE_LIMIT {
        return note.to_string();
    }
    let mut out: String = note.chars().take(NOTE_LIMIT - 4).collect();
    out.push_str(" ...");
    out
}

type Key = (String, String, &'static str, String, String);

struct Seen {
    name: String,
    count: i32,
    first: Instant,
}

/// The body of a new events.k8s.io/v1 Event, borrowed: what `Event` would
/// serialize to for the fields the recorder sets.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NewEvent<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: NewEventMeta<'a>,
    event_time: MicroTime,
    #[serde(rename = "type")]
    type_: &'static str,
    reason: &'a str,
    action: &'a str,
    note: &'a str,
    regarding: &'a ObjectReference,
    reporting_controller: &'a str,
    reporting_instance: &'a str,
}

#[derive(Serialize)]
struct NewEventMeta<'a> {
    name: &'a str,
    namespace: &'a str,
}

/// Publishes events; one per process.
pub struct EventRecorder {
    client: kube::Client,
    instance: String,
    seen: Mutex<HashMap<Key, Seen>>,
    /// When `seen` was last pruned: pruning scans every entry, so it runs at
    /// most once a second, not on every event (O(n²) over a burst otherwise).
    pruned: Mutex<Instant>,
}

impl std::fmt::Debug for EventRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventRecorder")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// One event.
#[derive(Clone, Debug)]
pub struct EventSpec<'a> {
    /// The pod it is about.
    pub regarding: ObjectReference,
    /// Normal or Warning.
    pub type_: EventType,
    /// `Scheduled`, `FailedScheduling`, `Preempted`.
    pub reason: &'static str,
    /// `Binding`, `Scheduling`, `Preempting`.
    pub action: &'static str,
    /// The message.
    pub note: &'a str,
    /// The reporting controller (the profile's scheduler name).
    pub controller: &'a str,
}

impl EventRecorder {
    /// A recorder whose events carry `instance` as reporting instance.
    #[must_use]
    pub fn new(client: kube::Client, instance: String) -> Self {
        EventRecorder {
            client,
            instance,
            seen: Mutex::new(HashMap::new()),
            pruned: Mutex::new(Instant::now()),
        }
    }

    /// Publishes an event (creates it, or bumps its series).
    ///
    /// # Errors
    /// The API server's answer when it refuses.
    pub async fn publish(&self, ev: &EventSpec<'_>) -> Result<(), kube::Error> {
        let namespace = ev
            .regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let note = truncate_note(ev.note);
        let key: Key = (
            ev.regarding.uid.clone().unwrap_or_default(),
            ev.controller.to_string(),
            ev.reason,
            note,
            namespace,
        );
        let now = Timestamp::now();
        let repeat = {
            let mut seen = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let t = Instant::now();
            {
                let mut pruned = self
                    .pruned
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if t.duration_since(*pruned) >= PRUNE_EVERY {
                    seen.retain(|_, s| t.duration_since(s.first) < SERIES_WINDOW);
                    *pruned = t;
                }
            }
            // Entries older than the window may linger up to PRUNE_EVERY.
            if seen
                .get(&key)
                .is_some_and(|s| t.duration_since(s.first) >= SERIES_WINDOW)
            {
                seen.remove(&key);
            }
            seen.get_mut(&key).map(|s| {
                s.count += 1;
                (s.name.clone(), s.count)
            })
        };
        let (note, namespace) = (&key.3, &key.4);
        if let Some((name, count)) = repeat {
            let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
            let patch = serde_json::json!({
                "series": EventSeries { count, last_observed_time: MicroTime(now) },
            });
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            return Ok(());
        }
        let name = format!(
            "{}.{:x}",
            ev.regarding.name.as_deref().unwrap_or(ev.controller),
            now.as_nanosecond()
        );
        let event = NewEvent {
            api_version: "events.k8s.io/v1",
            kind: "Event",
            metadata: NewEventMeta {
                name: &name,
                namespace,
            },
            event_time: MicroTime(now),
            type_: match ev.type_ {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            },
            reason: ev.reason,
            action: ev.action,
            note,
            regarding: &ev.regarding,
            reporting_controller: ev.controller,
            reporting_instance: &self.instance,
        };
        let body = serde_json::to_vec(&event).map_err(kube::Error::SerdeError)?;
        let mut request = kube::core::Request::new(format!(
            "/apis/events.k8s.io/v1/namespaces/{namespace}/events"
        ))
        .create(&PostParams::default(), body)
        .map_err(kube::Error::BuildRequest)?;
        // As `Api::create` names the request (for kube's tracing).
        request.extensions_mut().insert("create");
        // The answer is the stored Event: checked (an error status is an
        // error), not decoded, as nothing here reads it.
        self.client.request_text(request).await?;
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                key,
                Seen {
                    name,
                    count: 1,
                    first: Instant::now(),
                },
            );
        Ok(())
    }
}

/// A reference to a pod.
#[must_use]
pub fn pod_reference(namespace: &str, name: &str, uid: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        namespace: Some(namespace.into()),
        name: Some(name.into()),
        uid: (!uid.contains('/')).then(|| uid.into()),
        ..ObjectReference::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_event_serializes_as_the_event_object_would() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
        let now = Timestamp::now();
        let regarding = pod_reference("ns", "p", "u-1");
        let new = NewEvent {
            api_version: "events.k8s.io/v1",
            kind: "Event",
            metadata: NewEventMeta {
                name: "p.1",
                namespace: "ns",
            },
            event_time: MicroTime(now),
            type_: "Normal",
            reason: "Scheduled",
            action: "Binding",
            note: "Successfully assigned ns/p to n",
            regarding: &regarding,
            reporting_controller: "user-scheduler",
            reporting_instance: "me",
        };
        let event = Event {
            metadata: ObjectMeta {
                name: Some("p.1".into()),
                namespace: Some("ns".into()),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            type_: Some("Normal".into()),
            reason: Some("Scheduled".into()),
            action: Some("Binding".into()),
            note: Some("Successfully assigned ns/p to n".into()),
            regarding: Some(regarding.clone()),
            reporting_controller: Some("user-scheduler".into()),
            reporting_instance: Some("me".into()),
            ..Event::default()
        };
        assert_eq!(
            serde_json::to_value(&new).unwrap(),
            serde_json::to_value(&event).unwrap()
        );
    }

    #[test]
    fn notes_are_truncated_to_1024_characters() {
        assert_eq!(truncate_note("short"), "short");
        let long = "x".repeat(2000);
        let t = truncate_note(&long);
        assert_eq!(t.chars().count(), 1024);
        assert!(t.ends_with(" ..."));
        let exact = "y".repeat(1024);
        assert_eq!(truncate_note(&exact), exact);
    }
}
