//! Events are stored once, in core/v1 form, and served through both core/v1 and
//! events.k8s.io/v1, with the field mapping the real API server's conversion uses.

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
    let mut core = rename(v1, true, "v1");
    if core.get("source").is_none()
        && let Some(c) = core.get("reportingComponent").cloned()
    {
        core["source"] = serde_json::json!({"component": c});
    }
    core
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
}
