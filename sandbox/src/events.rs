//! Events are stored once, in core/v1 form, and served through both core/v1 and
//! events.k8s.io/v1, with the field mapping the real API server's conversion uses.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// (events.k8s.io/v1 field, core/v1 field); other fields have the same name in both.
const RENAMES: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn rename(obj: &Value, from_new: bool, api_version: &str) -> Value {
    let Some(m) = obj.as_object() else {
        return obj.clone();
    };
    let mut out = Map::with_capacity(m.len());
    for (k, v) in m {
        let renamed = RENAMES.iter().find_map(|(new, old)| {
            if from_new && k == new {
                Some(*old)
            } else if !from_new && k == old {
                Some(*new)
            } else {
                None
            }
        });
        out.insert(renamed.unwrap_or(k).to_string(), v.clone());
    }
    if out.contains_key("apiVersion") || !api_version.is_empty() {
        out.insert("apiVersion".into(), Value::String(api_version.into()));
    }
    out.insert("kind".into(), Value::String("Event".into()));
    if !from_new {
        // core/v1 mirrors reportingController into source.component when unset.
        out.remove("source")
            .map(|s| out.insert("deprecatedSource".into(), s));
    }
    Value::Object(out)
}

/// An events.k8s.io/v1 Event in core/v1 form (for storage).
pub fn to_core(v1: &Value) -> Value {
    into_core(v1.clone())
}

/// [`to_core`], taking the event: its fields are moved, not copied.
pub fn into_core(v1: Value) -> Value {
    let Value::Object(m) = v1 else {
        return v1;
    };
    let mut out = Map::new();
    for (k, v) in m {
        let renamed = RENAMES
            .iter()
            .find(|(new, _)| *new == k)
            .map(|(_, old)| *old);
        match renamed {
            Some(old) => out.insert(old.to_string(), v),
            None => out.insert(k, v),
        };
    }
    out.insert("apiVersion".into(), Value::String("v1".into()));
    out.insert("kind".into(), Value::String("Event".into()));
    if !out.contains_key("source")
        && let Some(c) = out.get("reportingComponent").cloned()
    {
        out.insert("source".into(), serde_json::json!({"component": c}));
    }
    Value::Object(out)
}

/// A stored core/v1 Event serialized in events.k8s.io/v1 form without
/// building that form: the same JSON as serializing [`to_events_v1`]'s result.
#[derive(Debug, Clone, Copy)]
pub struct EventsV1View<'a>(pub &'a Value);

impl Serialize for EventsV1View<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Some(m) = self.0.as_object() else {
            return self.0.serialize(serializer);
        };
        let api_version = Value::String("events.k8s.io/v1".into());
        let kind = Value::String("Event".into());
        // The fields under their events.k8s.io/v1 names, in the order a
        // `Map` keeps them (sorted; a later duplicate wins, as on insert).
        let mut fields: Vec<(&str, &Value)> = Vec::with_capacity(m.len() + 2);
        for (k, v) in m {
            let name = RENAMES
                .iter()
                .find(|(_, old)| *old == k)
                .map_or(k.as_str(), |(new, _)| *new);
            if name != "apiVersion" && name != "kind" {
                fields.push((name, v));
            }
        }
        fields.push(("apiVersion", &api_version));
        fields.push(("kind", &kind));
        fields.sort_by(|a, b| a.0.cmp(b.0));
        let mut map = serializer.serialize_map(None)?;
        for (i, (k, v)) in fields.iter().enumerate() {
            if fields.get(i + 1).is_some_and(|next| next.0 == *k) {
                continue;
            }
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A stored core/v1 Event in events.k8s.io/v1 form.
pub fn to_events_v1(core: &Value) -> Value {
    rename(core, false, "events.k8s.io/v1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip() {
        let v1 = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
            "regarding": {"kind": "Pod", "name": "p"}, "note": "hello", "reason": "Scheduled",
            "reportingController": "user-scheduler", "reportingInstance": "i", "type": "Normal",
            "eventTime": "2026-01-01T00:00:00.000000Z", "action": "Binding"});
        let core = to_core(&v1);
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["message"], "hello");
        assert_eq!(core["reportingComponent"], "user-scheduler");
        assert_eq!(core["source"]["component"], "user-scheduler");
        let back = to_events_v1(&core);
        assert_eq!(back["regarding"], v1["regarding"]);
        assert_eq!(back["note"], "hello");
        assert_eq!(back["apiVersion"], "events.k8s.io/v1");
        assert_eq!(back["deprecatedSource"]["component"], "user-scheduler");
        assert!(back.get("message").is_none());
    }

    #[test]
    fn the_serialized_view_is_the_converted_event() {
        let core = to_core(&json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "n"}, "regarding": {"kind": "Pod", "name": "p"},
            "note": "hello \"you\"", "reason": "Scheduled", "reportingController": "c",
            "series": {"count": 2}, "deprecatedCount": 3, "type": "Normal"}));
        assert_eq!(
            serde_json::to_string(&EventsV1View(&core)).unwrap(),
            serde_json::to_string(&to_events_v1(&core)).unwrap()
        );
        // A stored object that already uses a new name keeps the later field,
        // as the conversion does.
        let odd = json!({"kind": "Event", "message": "old", "note": "new", "apiVersion": "v1"});
        assert_eq!(
            serde_json::to_string(&EventsV1View(&odd)).unwrap(),
            serde_json::to_string(&to_events_v1(&odd)).unwrap()
        );
        assert_eq!(
            EventsV1View(&json!("x"))
                .serialize(serde_json::value::Serializer)
                .unwrap(),
            json!("x")
        );
    }
}
