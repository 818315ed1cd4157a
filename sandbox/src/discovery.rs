//! Discovery documents: `/version`, `/api`, `/apis`, resource lists, and the minimal OpenAPI v3
//! documents kubectl reads to learn that the server validates fields itself.

use serde_json::{Value, json};

use crate::resources::{self, ResourceDef};

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0-sandbox", "gitCommit": "",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "n/a",
        "compiler": "rustc", "platform": "linux/amd64"
    })
}

/// `/api`.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    })
}

fn group_json(name: &str, versions: &[&str]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs[0].clone()})
}

/// `/apis`.
pub fn groups() -> Value {
    let groups: Vec<Value> = resources::groups()
        .iter()
        .map(|(g, vs)| group_json(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub fn group(name: &str) -> Option<Value> {
    let all = resources::groups();
    let (g, vs) = all.iter().find(|(g, _)| *g == name)?;
    let mut v = group_json(g, vs);
    v["kind"] = json!("APIGroup");
    v["apiVersion"] = json!("v1");
    Some(v)
}

fn resource_json(d: &ResourceDef) -> Value {
    let mut r = json!({
        "name": d.plural, "singularName": d.singular, "namespaced": d.namespaced, "kind": d.kind,
        "verbs": if d.review { &["create"][..] } else { VERBS },
    });
    if !d.short_names.is_empty() {
        r["shortNames"] = json!(d.short_names);
    }
    if !d.categories.is_empty() {
        r["categories"] = json!(d.categories);
    }
    r
}

fn sub_json(
    d: &ResourceDef,
    sub: &str,
    kind: &str,
    verbs: &[&str],
    group_version: Option<(&str, &str)>,
) -> Value {
    let mut r = json!({
        "name": format!("{}/{sub}", d.plural), "singularName": "", "namespaced": d.namespaced,
        "kind": kind, "verbs": verbs,
    });
    if let Some((g, v)) = group_version {
        r["group"] = json!(g);
        r["version"] = json!(v);
    }
    r
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut list = Vec::new();
    for d in resources::in_group_version(group, version) {
        list.push(resource_json(d));
        if d.status_subresource {
            list.push(sub_json(
                d,
                "status",
                d.kind,
                &["get", "patch", "update"],
                None,
            ));
        }
        if d.store == "pods" {
            list.push(sub_json(d, "binding", "Binding", &["create"], None));
            list.push(sub_json(
                d,
                "eviction",
                "Eviction",
                &["create"],
                Some(("policy", "v1")),
            ));
        }
    }
    if list.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}),
    )
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: one entry per group/version.
pub fn openapi_root() -> Value {
    let mut paths = serde_json::Map::new();
    let mut gvs = vec![("", "v1")];
    for (g, vs) in resources::groups() {
        for v in vs {
            gvs.push((g, v));
        }
    }
    for (g, v) in gvs {
        let p = gv_path(g, v);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=sandbox")}),
        );
    }
    json!({"paths": paths})
}

/// `/openapi/v3/<api/v1|apis/g/v>`: a minimal document declaring, for every kind, a PATCH
/// operation that accepts `fieldValidation`, which is what kubectl checks before it leaves
/// validation to the server. There are no schemas: `kubectl explain` does not work.
pub fn openapi_group_version(path: &str) -> Option<Value> {
    let (group, version) = match path.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => ("", *v),
        ["apis", g, v] => (*g, *v),
        _ => return None,
    };
    let mut paths = serde_json::Map::new();
    for d in resources::in_group_version(group, version) {
        let prefix = format!("/{}", gv_path(group, version));
        let item = if d.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", d.plural)
        } else {
            format!("{prefix}/{}/{{name}}", d.plural)
        };
        let gvk = json!({"group": group, "version": version, "kind": d.kind});
        let params =
            json!([{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}]);
        paths.insert(
            item,
            json!({
                "patch": {"x-kubernetes-group-version-kind": gvk, "parameters": params,
                          "responses": {"200": {"description": "OK"}}}
            }),
        );
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (sandbox)", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": {}}
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents() {
        let core = resource_list("", "v1").unwrap();
        let names: Vec<&str> = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"pods/binding")
                && names.contains(&"pods/eviction")
                && names.contains(&"nodes")
        );
        let pods = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "pods")
            .unwrap();
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert!(resource_list("apps", "v1").is_some());
        assert!(resource_list("nope", "v1").is_none());
        assert!(
            groups()["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "events.k8s.io")
        );
        assert_eq!(
            group("policy").unwrap()["preferredVersion"]["groupVersion"],
            "policy/v1"
        );
        assert!(openapi_root()["paths"]["apis/apps/v1"]["serverRelativeURL"].is_string());
        let doc = openapi_group_version("api/v1").unwrap();
        assert!(doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"].is_object());
    }
}
