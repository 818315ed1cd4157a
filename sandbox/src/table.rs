//! Server-side `Table` output (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), which
//! `kubectl get` asks for: the columns kubectl shows for pods, nodes and events, NAME and AGE
//! otherwise.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::resources::ResourceDef;

fn column(name: &str, ty: &str, format: &str, priority: u8) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": name, "priority": priority})
}

fn columns(def: &ResourceDef) -> Vec<Value> {
    match def.store {
        "pods" => vec![
            column("Name", "string", "name", 0),
            column("Ready", "string", "", 0),
            column("Status", "string", "", 0),
            column("Restarts", "string", "", 0),
            column("Age", "string", "", 0),
            column("IP", "string", "", 1),
            column("Node", "string", "", 1),
            column("Nominated Node", "string", "", 1),
        ],
        "nodes" => vec![
            column("Name", "string", "name", 0),
            column("Status", "string", "", 0),
            column("Roles", "string", "", 0),
            column("Age", "string", "", 0),
            column("Version", "string", "", 0),
        ],
        // kube-apiserver's event printer.
        "events" => vec![
            column("Last Seen", "string", "", 0),
            column("Type", "string", "", 0),
            column("Reason", "string", "", 0),
            column("Object", "string", "", 0),
            column("Subobject", "string", "", 1),
            column("Source", "string", "", 1),
            column("Message", "string", "", 0),
            column("First Seen", "string", "", 1),
            column("Count", "string", "", 1),
            column("Name", "string", "name", 1),
        ],
        _ => vec![
            column("Name", "string", "name", 0),
            column("Age", "string", "", 0),
        ],
    }
}

/// The age of timestamp `ts`, `<unknown>` without one.
fn since(ts: &str, now: SystemTime) -> String {
    parse_rfc3339(ts).map_or_else(
        || "<unknown>".into(),
        |t| human(now.duration_since(t).unwrap_or_default()),
    )
}

/// An event's row, from its core/v1 fields or their events.k8s.io/v1 names.
fn event_cells(obj: &Value, now: SystemTime) -> Vec<Value> {
    let first = |pointers: &[&str]| {
        pointers
            .iter()
            .map(|p| s(obj, p))
            .find(|v| !v.is_empty())
            .unwrap_or("")
            .to_string()
    };
    let last_seen = first(&[
        "/series/lastObservedTime",
        "/lastTimestamp",
        "/eventTime",
        "/deprecatedLastTimestamp",
    ]);
    let first_seen = first(&["/firstTimestamp", "/eventTime", "/deprecatedFirstTimestamp"]);
    let kind = first(&["/involvedObject/kind", "/regarding/kind"]).to_ascii_lowercase();
    let name = first(&["/involvedObject/name", "/regarding/name"]);
    let mut source = first(&[
        "/source/component",
        "/deprecatedSource/component",
        "/reportingController",
        "/reportingComponent",
    ]);
    let host = first(&["/source/host", "/deprecatedSource/host"]);
    if !host.is_empty() {
        source = format!("{source}, {host}");
    }
    let count = obj
        .get("count")
        .or_else(|| obj.get("deprecatedCount"))
        .and_then(Value::as_i64)
        .unwrap_or(1);
    vec![
        json!(since(&last_seen, now)),
        json!(s(obj, "/type")),
        json!(s(obj, "/reason")),
        json!(format!("{kind}/{name}")),
        json!(first(&[
            "/involvedObject/fieldPath",
            "/regarding/fieldPath"
        ])),
        json!(source),
        json!(first(&["/message", "/note"])),
        json!(since(&first_seen, now)),
        json!(count.to_string()),
        json!(s(obj, "/metadata/name")),
    ]
}

/// A duration as kubectl prints ages (`45s`, `12m`, `3h`, `5d`).
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn parse_rfc3339(ts: &str) -> Option<SystemTime> {
    let b = ts.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| ts.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from civil, Howard Hinnant's algorithm.
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

fn age(obj: &Value, now: SystemTime) -> String {
    obj.pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
        .and_then(|t| now.duration_since(t).ok())
        .map_or_else(|| "<unknown>".into(), human)
}

fn s<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn or_none(v: &str) -> String {
    if v.is_empty() {
        "<none>".into()
    } else {
        v.into()
    }
}

fn cells(def: &ResourceDef, obj: &Value, now: SystemTime) -> Vec<Value> {
    let name = s(obj, "/metadata/name");
    match def.store {
        "pods" => {
            let total = obj
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let statuses = obj
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array);
            let ready = statuses.map_or(0, |c| c.iter().filter(|c| c["ready"] == true).count());
            let restarts: u64 = statuses.map_or(0, |c| {
                c.iter().filter_map(|c| c["restartCount"].as_u64()).sum()
            });
            let status = if obj.pointer("/metadata/deletionTimestamp").is_some() {
                "Terminating".to_string()
            } else {
                let reason = s(obj, "/status/reason");
                if reason.is_empty() {
                    or_none(s(obj, "/status/phase"))
                } else {
                    reason.into()
                }
            };
            vec![
                json!(name),
                json!(format!("{ready}/{total}")),
                json!(status),
                json!(restarts.to_string()),
                json!(age(obj, now)),
                json!(or_none(s(obj, "/status/podIP"))),
                json!(or_none(s(obj, "/spec/nodeName"))),
                json!(or_none(s(obj, "/status/nominatedNodeName"))),
            ]
        }
        "nodes" => {
            let ready = obj
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                .map_or("Unknown", |c| {
                    if c["status"] == "True" {
                        "Ready"
                    } else {
                        "NotReady"
                    }
                });
            let mut status = ready.to_string();
            if obj.pointer("/spec/unschedulable") == Some(&Value::Bool(true)) {
                status.push_str(",SchedulingDisabled");
            }
            let roles: Vec<&str> = obj
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|l| {
                    l.keys()
                        .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                        .collect()
                })
                .unwrap_or_default();
            vec![
                json!(name),
                json!(status),
                json!(or_none(&roles.join(","))),
                json!(age(obj, now)),
                json!(s(obj, "/status/nodeInfo/kubeletVersion")),
            ]
        }
        "events" => event_cells(obj, now),
        _ => vec![json!(name), json!(age(obj, now))],
    }
}

/// Whether an `Accept` header asks for a Table.
pub fn wanted(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

fn row(def: &ResourceDef, obj: &Value, include_object: bool, now: SystemTime) -> Value {
    let object = if include_object {
        obj.clone()
    } else {
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata").cloned().unwrap_or_default()})
    };
    json!({"cells": cells(def, obj, now), "object": object})
}

/// A Table of `objects` (already in the served form).
pub fn table<'a>(
    def: &ResourceDef,
    objects: impl IntoIterator<Item = &'a Value>,
    metadata: Value,
    include_object: bool,
    now: SystemTime,
) -> Value {
    let rows: Vec<Value> = objects
        .into_iter()
        .map(|o| row(def, o, include_object, now))
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "columnDefinitions": columns(def), "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources;

    #[test]
    fn pod_and_node_rows() {
        let now = parse_rfc3339("2026-01-01T01:00:00Z").unwrap();
        let pods = resources::find("", "v1", "pods").unwrap();
        let pod = json!({"metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c"}]}, "status": {"phase": "Running"}});
        let t = table(pods, [&pod], json!({"resourceVersion": "1"}), false, now);
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["p", "0/1", "Running", "0", "60m", "<none>", "n1", "<none>"])
        );
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        let nodes = resources::find("", "v1", "nodes").unwrap();
        let node = json!({"metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/worker": ""}},
            "spec": {"unschedulable": true}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let t = table(nodes, [&node], json!({}), true, now);
        assert_eq!(t["rows"][0]["cells"][1], "Ready,SchedulingDisabled");
        assert_eq!(t["rows"][0]["cells"][2], "worker");
        assert_eq!(t["rows"][0]["object"]["metadata"]["name"], "n1");
        assert!(wanted(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!wanted("application/json"));
        assert_eq!(human(Duration::from_secs(200_000)), "2d");
    }
}
