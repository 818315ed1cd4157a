//! `deploy/`: every manifest parses into the k8s-openapi types without losing
//! a field (so a misspelt or misplaced key fails here, not in the cluster),
//! the scheduler's config loads with the daemon's own loader and is the
//! built-in JupyterHub profile, and the objects agree with each other and
//! with the config (names, selectors, ports, namespace, scheduler name).
//! Schema validation against the API server's OpenAPI is `.ci/run`'s
//! kubernetes-validate step; this test needs no network and no kubectl.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::Parser;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{PodTemplateSpec, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde_json::Value;
use user_scheduler::cli::{Cli, Command};
use user_scheduler::config;

fn deploy() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| {
            let v: serde_yaml_ng::Value = serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            serde_json::to_value(v).expect("YAML maps to JSON")
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// Deserializes `doc` as `T` and serializes it back: the result must equal
/// the input, or some field was unknown to the type (k8s-openapi ignores
/// unknown fields on input, so the round trip is what catches them).
fn typed<T: DeserializeOwned + serde::Serialize>(doc: &Value, file: &str) -> T {
    let obj: T = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{file}: {} {}: {e}", doc["kind"], doc["metadata"]["name"]));
    let back = serde_json::to_value(&obj).expect("serializes");
    assert_eq!(
        &back, doc,
        "{file}: {} {} does not round-trip through k8s-openapi: a field is unknown or misplaced",
        doc["kind"], doc["metadata"]["name"]
    );
    obj
}

/// Every object of the kustomization's resources, typed.
#[derive(Default)]
struct Manifests {
    service_accounts: Vec<ServiceAccount>,
    cluster_roles: Vec<ClusterRole>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
    roles: Vec<Role>,
    role_bindings: Vec<RoleBinding>,
    deployments: Vec<Deployment>,
    stateful_sets: Vec<StatefulSet>,
    pdbs: Vec<PodDisruptionBudget>,
    services: Vec<Service>,
    priority_classes: Vec<PriorityClass>,
}

fn kustomization() -> Value {
    let mut docs = yaml_docs(&deploy().join("kustomization.yaml"));
    assert_eq!(docs.len(), 1);
    docs.remove(0)
}

fn load_manifests() -> Manifests {
    let k = kustomization();
    let mut m = Manifests::default();
    let resources = k["resources"].as_array().expect("resources");
    assert!(!resources.is_empty());
    for file in resources {
        let file = file.as_str().expect("a path");
        for doc in yaml_docs(&deploy().join(file)) {
            assert!(
                doc["metadata"].get("namespace").is_none(),
                "{file}: the namespace is set in kustomization.yaml only"
            );
            match doc["kind"].as_str().unwrap_or_default() {
                "ServiceAccount" => m.service_accounts.push(typed(&doc, file)),
                "ClusterRole" => m.cluster_roles.push(typed(&doc, file)),
                "ClusterRoleBinding" => m.cluster_role_bindings.push(typed(&doc, file)),
                "Role" => m.roles.push(typed(&doc, file)),
                "RoleBinding" => m.role_bindings.push(typed(&doc, file)),
                "Deployment" => m.deployments.push(typed(&doc, file)),
                "StatefulSet" => m.stateful_sets.push(typed(&doc, file)),
                "PodDisruptionBudget" => m.pdbs.push(typed(&doc, file)),
                "Service" => m.services.push(typed(&doc, file)),
                "PriorityClass" => m.priority_classes.push(typed(&doc, file)),
                other => panic!("{file}: unexpected kind {other:?}"),
            }
        }
    }
    m
}

fn name<
    T: k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
>(
    o: &T,
) -> &str {
    o.metadata().name.as_deref().unwrap_or_default()
}

fn find<'a, T>(items: &'a [T], wanted: &str) -> &'a T
where
    T: k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
{
    items
        .iter()
        .find(|o| name(*o) == wanted)
        .unwrap_or_else(|| panic!("no {wanted}"))
}

fn config_text() -> String {
    std::fs::read_to_string(deploy().join("config.yaml")).expect("deploy/config.yaml")
}

fn namespace() -> String {
    kustomization()["namespace"]
        .as_str()
        .expect("kustomization.yaml sets the namespace")
        .to_string()
}

fn template_labels(t: &PodTemplateSpec) -> BTreeMap<String, String> {
    t.metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[test]
fn every_manifest_round_trips_through_the_k8s_openapi_types() {
    let m = load_manifests();
    assert_eq!(m.service_accounts.len(), 1);
    assert_eq!(m.cluster_roles.len(), 1);
    assert_eq!(m.cluster_role_bindings.len(), 1);
    assert_eq!(m.roles.len(), 1);
    assert_eq!(m.role_bindings.len(), 1);
    assert_eq!(m.deployments.len(), 2, "user-scheduler and user-dummy");
    assert_eq!(m.stateful_sets.len(), 1);
    assert_eq!(m.pdbs.len(), 2);
    assert_eq!(m.services.len(), 1);
    assert_eq!(m.priority_classes.len(), 3);
    // The optional component's ServiceMonitor has no k8s-openapi type (a
    // CRD): check its shape by hand against the Service it scrapes.
    let sm = yaml_docs(&deploy().join("components/servicemonitor/servicemonitor.yaml"));
    assert_eq!(sm.len(), 1);
    let sm = &sm[0];
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(sm["kind"], "ServiceMonitor");
    let svc = &m.services[0];
    let svc_labels = svc.metadata.labels.clone().unwrap_or_default();
    let sm_selector: BTreeMap<String, String> =
        serde_json::from_value(sm["spec"]["selector"]["matchLabels"].clone()).unwrap();
    assert!(
        selects(&sm_selector, &svc_labels),
        "the ServiceMonitor selects the Service"
    );
    let port_names: Vec<_> = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|p| p.name.clone())
        .collect();
    let endpoint = &sm["spec"]["endpoints"][0];
    assert!(port_names.iter().any(|p| endpoint["port"] == *p));
    assert_eq!(endpoint["scheme"], "https");
    assert_eq!(endpoint["path"], "/metrics");
    // /metrics needs a token (delegated authorization, as kube-scheduler):
    // Prometheus sends its ServiceAccount's.
    assert_eq!(
        endpoint["bearerTokenFile"],
        "/var/run/secrets/kubernetes.io/serviceaccount/token"
    );
}

#[test]
fn the_config_is_the_builtin_jupyterhub_profile_and_loads_with_the_daemons_loader() {
    let cfg = config::parse(&config_text(), "deploy/config.yaml").expect("the config loads");
    // The project's own configuration loads without a warning: an operator
    // who sees one at every start stops reading them.
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    assert_eq!(cfg.profiles.len(), 1);
    let got = &cfg.profiles[0];
    let want = score::Profile::jupyterhub();
    // Filters as a set: the engine runs them in its own fixed order.
    let mut got_filters = got.filters.clone();
    got_filters.sort();
    let mut want_filters = want.filters.clone();
    want_filters.sort();
    assert_eq!(got_filters, want_filters);
    let mut got_scores = got.scores.clone();
    got_scores.sort();
    let mut want_scores = want.scores.clone();
    want_scores.sort();
    assert_eq!(got_scores, want_scores);
    assert_eq!(got.scheduler_name, want.scheduler_name);
    assert_eq!(got.fit, want.fit);
    assert_eq!(got.node_purpose, want.node_purpose);
    assert_eq!(got.roles, want.roles);
    assert_eq!(got.added_affinity, want.added_affinity);
    assert_eq!(got.hard_pod_affinity_weight, want.hard_pod_affinity_weight);

    let le = &cfg.leader_election;
    assert!(le.leader_elect);
    assert_eq!(le.resource_lock, "leases");
    assert_eq!(le.resource_name, "user-scheduler-lock");
    assert_eq!(le.resource_namespace, namespace());
}

#[test]
fn the_lease_namespace_is_on_the_last_line_where_kustomize_replaces_it() {
    // kustomization.yaml's replacement splits config.yaml at this key and
    // replaces everything after it with the namespace: a second occurrence
    // or a line after it would be mangled.
    let text = config_text();
    let key = "resourceNamespace: ";
    assert_eq!(text.matches(key).count(), 1, "exactly one {key:?}");
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert_eq!(last.trim(), format!("{key}{}", namespace()));
    let k = kustomization();
    let options = &k["replacements"][0]["targets"][0]["options"];
    assert_eq!(options["delimiter"], key);
    assert_eq!(options["index"], 1);
}

#[test]
fn the_scheduler_deployment_runs_the_config_with_z2jh_probes_and_security() {
    let m = load_manifests();
    let k = kustomization();
    let d = find(&m.deployments, "user-scheduler");
    let spec = d.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(2), "two replicas, one leader");
    let pod_labels = template_labels(&spec.template);
    assert!(selects(
        spec.selector.match_labels.as_ref().unwrap(),
        &pod_labels
    ));
    let pod = spec.template.spec.as_ref().unwrap();
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some(name(&m.service_accounts[0]))
    );
    assert_eq!(pod.containers.len(), 1);
    let c = &pod.containers[0];

    // The arguments parse with the binary's own command line, and --config
    // points into the mounted generated ConfigMap.
    let mut argv = vec!["user-scheduler".to_string()];
    argv.extend(c.args.clone().unwrap_or_default());
    let (argv, ignored) = user_scheduler::cli::normalize_args(argv);
    assert!(ignored.is_empty(), "{ignored:?}");
    let cli = Cli::try_parse_from(argv).expect("the args parse");
    let Command::Run(run) = cli.command else {
        panic!("the container runs the daemon")
    };
    let config_path = run.config.expect("--config");
    assert_eq!(run.secure_port, 10259);
    let mount = c
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| config_path.starts_with(&v.mount_path))
        .expect("--config is under a mount");
    assert_eq!(
        config_path,
        Path::new(&mount.mount_path).join("config.yaml")
    );
    let volume = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == mount.name)
        .unwrap();
    let generated = &k["configMapGenerator"][0];
    assert_eq!(
        volume.config_map.as_ref().unwrap().name,
        generated["name"].as_str().unwrap()
    );
    assert_eq!(generated["files"][0], "config.yaml");

    // Probes as the z2jh chart's: GET /healthz over HTTPS on 10259.
    for probe in [&c.liveness_probe, &c.readiness_probe] {
        let get = probe.as_ref().unwrap().http_get.as_ref().unwrap();
        assert_eq!(get.path.as_deref(), Some("/healthz"));
        assert_eq!(get.scheme.as_deref(), Some("HTTPS"));
        assert_eq!(get.port, IntOrString::Int(10259));
    }

    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.run_as_user, Some(65534));
    assert_eq!(sc.run_as_group, Some(65534));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(
        sc.capabilities.as_ref().unwrap().drop,
        Some(vec!["ALL".to_string()])
    );
    assert_eq!(sc.seccomp_profile.as_ref().unwrap().type_, "RuntimeDefault");
    let res = c.resources.as_ref().unwrap();
    assert!(res.requests.as_ref().unwrap().contains_key("memory"));
    assert!(res.requests.as_ref().unwrap().contains_key("cpu"));
    assert!(res.limits.as_ref().unwrap().contains_key("memory"));

    // The preferred anti-affinity selects the scheduler's own pods.
    let affinity = pod.affinity.as_ref().unwrap();
    let anti = &affinity
        .pod_anti_affinity
        .as_ref()
        .unwrap()
        .preferred_during_scheduling_ignored_during_execution
        .as_ref()
        .unwrap()[0];
    assert_eq!(
        anti.pod_affinity_term.topology_key,
        "kubernetes.io/hostname"
    );
    let anti_sel = anti
        .pod_affinity_term
        .label_selector
        .as_ref()
        .unwrap()
        .match_labels
        .clone()
        .unwrap();
    assert!(selects(&anti_sel, &pod_labels));
    let core = &affinity
        .node_affinity
        .as_ref()
        .unwrap()
        .preferred_during_scheduling_ignored_during_execution
        .as_ref()
        .unwrap()[0];
    let expr = &core.preference.match_expressions.as_ref().unwrap()[0];
    assert_eq!(expr.key, "hub.jupyter.org/node-purpose");
    assert_eq!(expr.values, Some(vec!["core".to_string()]));
    let tolerated: Vec<_> = pod
        .tolerations
        .as_ref()
        .unwrap()
        .iter()
        .map(|t| (t.key.clone().unwrap(), t.value.clone().unwrap()))
        .collect();
    assert!(tolerated.contains(&("hub.jupyter.org/dedicated".into(), "core".into())));
    assert!(tolerated.contains(&("hub.jupyter.org_dedicated".into(), "core".into())));

    // The PDB and the metrics Service select exactly these pods.
    let pdb = find(&m.pdbs, "user-scheduler").spec.as_ref().unwrap();
    assert_eq!(pdb.max_unavailable, Some(IntOrString::Int(1)));
    assert!(selects(
        pdb.selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap(),
        &pod_labels
    ));
    let svc = &m.services[0];
    assert!(selects(
        svc.spec.as_ref().unwrap().selector.as_ref().unwrap(),
        &pod_labels
    ));
    let annotations = svc.metadata.annotations.clone().unwrap();
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/scheme"], "https");
    assert_eq!(annotations["prometheus.io/port"], "10259");
    let port = &svc.spec.as_ref().unwrap().ports.as_ref().unwrap()[0];
    assert_eq!(port.port, 10259);
    assert_eq!(
        port.target_port,
        Some(IntOrString::String(
            c.ports.as_ref().unwrap()[0].name.clone().unwrap()
        ))
    );
    // The other workloads' pods are not taken for scheduler pods.
    for other in m
        .stateful_sets
        .iter()
        .map(|s| &s.spec.as_ref().unwrap().template)
        .chain(std::iter::once(
            &find(&m.deployments, "user-dummy")
                .spec
                .as_ref()
                .unwrap()
                .template,
        ))
    {
        assert!(!selects(
            spec.selector.match_labels.as_ref().unwrap(),
            &template_labels(other)
        ));
    }
}

#[test]
fn rbac_binds_the_service_account_and_the_lease_rule_names_the_configured_lock() {
    let m = load_manifests();
    let sa = name(&m.service_accounts[0]);
    let cr = &m.cluster_roles[0];
    let crb = &m.cluster_role_bindings[0];
    assert_eq!(crb.role_ref.kind, "ClusterRole");
    assert_eq!(crb.role_ref.name, name(cr));
    let role = &m.roles[0];
    let rb = &m.role_bindings[0];
    assert_eq!(rb.role_ref.kind, "Role");
    assert_eq!(rb.role_ref.name, name(role));
    for subjects in [&crb.subjects, &rb.subjects] {
        let s = &subjects.as_ref().unwrap()[0];
        assert_eq!((s.kind.as_str(), s.name.as_str()), ("ServiceAccount", sa));
    }
    // Every subject's namespace is filled in by a replacement.
    let k = kustomization();
    let targets = k["replacements"][0]["targets"].as_array().unwrap();
    for kind in ["ClusterRoleBinding", "RoleBinding"] {
        assert!(
            targets.iter().any(|t| t["select"]["kind"] == kind
                && t["fieldPaths"][0] == "subjects.[name=user-scheduler].namespace"),
            "{kind}"
        );
    }
    let cfg = config::parse(&config_text(), "config.yaml").unwrap();
    let named: Vec<_> = role
        .rules
        .as_ref()
        .unwrap()
        .iter()
        .filter_map(|r| r.resource_names.clone())
        .flatten()
        .collect();
    assert_eq!(named, vec![cfg.leader_election.resource_name.clone()]);
}

#[test]
fn placeholders_and_dummies_are_scheduled_by_us_with_the_right_roles_and_priorities() {
    let m = load_manifests();
    let cfg = config::parse(&config_text(), "config.yaml").unwrap();
    let profile = &cfg.profiles[0];
    let priority: BTreeMap<&str, i32> = m
        .priority_classes
        .iter()
        .map(|p| {
            assert_eq!(p.global_default, Some(false));
            (name(p), p.value)
        })
        .collect();
    assert_eq!(
        priority.values().copied().collect::<Vec<_>>(),
        vec![-5, -10, 0],
        "image pullers -5, placeholders -10, users 0 (by name)"
    );

    let sts = find(&m.stateful_sets, "user-placeholder")
        .spec
        .as_ref()
        .unwrap();
    let dummy = find(&m.deployments, "user-dummy").spec.as_ref().unwrap();
    assert_eq!(sts.replicas, Some(0));
    assert_eq!(dummy.replicas, Some(0));
    let pdb = find(&m.pdbs, "user-placeholder").spec.as_ref().unwrap();
    assert_eq!(pdb.min_available, Some(IntOrString::Int(0)));
    assert!(selects(
        pdb.selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap(),
        &template_labels(&sts.template)
    ));

    for (template, role, prio) in [
        (&sts.template, score::cluster::PodRole::Placeholder, -10),
        (&dummy.template, score::cluster::PodRole::RealUser, 0),
    ] {
        let pod = template.spec.as_ref().unwrap();
        assert_eq!(
            pod.scheduler_name.as_deref(),
            Some(profile.scheduler_name.as_str())
        );
        assert_eq!(priority[pod.priority_class_name.as_deref().unwrap()], prio);
        assert_eq!(pod.termination_grace_period_seconds, Some(0));
        assert_eq!(
            profile.roles.classify(&template_labels(template)),
            role,
            "the config's RealUserColocation selectors classify it"
        );
        let c = &pod.containers[0];
        assert!(
            c.image
                .as_deref()
                .unwrap()
                .starts_with("registry.k8s.io/pause:")
        );
        let requests = c.resources.as_ref().unwrap().requests.as_ref().unwrap();
        assert!(requests.contains_key("memory"), "requests like a user");
        let tolerated: Vec<_> = pod
            .tolerations
            .as_ref()
            .unwrap()
            .iter()
            .map(|t| (t.key.clone().unwrap(), t.value.clone().unwrap()))
            .collect();
        assert!(tolerated.contains(&("hub.jupyter.org/dedicated".into(), "user".into())));
        assert!(tolerated.contains(&("hub.jupyter.org_dedicated".into(), "user".into())));
        let pref = &pod
            .affinity
            .as_ref()
            .unwrap()
            .node_affinity
            .as_ref()
            .unwrap()
            .preferred_during_scheduling_ignored_during_execution
            .as_ref()
            .unwrap()[0];
        let expr = &pref.preference.match_expressions.as_ref().unwrap()[0];
        assert_eq!(expr.key, profile.node_purpose.key);
        assert_eq!(expr.values, Some(vec![profile.node_purpose.value.clone()]));
    }
}

/// One permission: (role, API group, resource, resource name or "", verb).
type Grant = (String, String, String, String, String);

/// The backticked words of a table cell.
fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Every permission the RBAC table of docs/deploy.md lists, one per row,
/// resource, name and verb.
fn rbac_table_grants() -> BTreeSet<Grant> {
    let docs_path = deploy().join("../docs/deploy.md");
    let docs = std::fs::read_to_string(&docs_path).expect("docs/deploy.md");
    let begin = docs
        .find("<!-- rbac-table:begin")
        .expect("rbac-table:begin marker");
    let end = docs
        .find("<!-- rbac-table:end -->")
        .expect("rbac-table:end marker");
    let mut grants = BTreeSet::new();
    // The header and the separator are the first two table lines.
    for row in docs[begin..end]
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2)
    {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        assert_eq!(cells.len(), 5, "a row of five cells: {row}");
        let (kind, _) = cells[0].split_once(' ').expect("kind then `name`");
        let role = format!("{kind} {}", backticked(cells[0])[0]);
        let group = match cells[1] {
            "core" => String::new(),
            other => backticked(other)
                .pop()
                .unwrap_or_else(|| panic!("group in {row}")),
        };
        let (resources, names) = match cells[2].split_once(" named ") {
            Some((r, n)) => (backticked(r), backticked(n)),
            None => (backticked(cells[2]), vec![String::new()]),
        };
        assert!(!resources.is_empty(), "resources in {row}");
        for resource in &resources {
            for name in &names {
                for verb in cells[3].split(", ") {
                    assert!(
                        grants.insert((
                            role.clone(),
                            group.clone(),
                            resource.clone(),
                            name.clone(),
                            verb.to_string(),
                        )),
                        "listed twice: {resource} {verb} in {row}"
                    );
                }
            }
        }
    }
    grants
}

/// Every permission the roles of deploy/rbac.yaml grant.
fn rbac_file_grants() -> BTreeSet<Grant> {
    let m = load_manifests();
    let rules = m
        .cluster_roles
        .iter()
        .map(|r| (format!("ClusterRole {}", name(r)), r.rules.clone()))
        .chain(
            m.roles
                .iter()
                .map(|r| (format!("Role {}", name(r)), r.rules.clone())),
        );
    let mut grants = BTreeSet::new();
    for (role, rules) in rules {
        for rule in rules.unwrap_or_default() {
            assert!(
                rule.non_resource_urls.is_none(),
                "{role}: the table has no column for nonResourceURLs"
            );
            let names = rule.resource_names.unwrap_or_else(|| vec![String::new()]);
            for group in rule.api_groups.unwrap_or_default() {
                for resource in rule.resources.iter().flatten() {
                    for name in &names {
                        for verb in &rule.verbs {
                            grants.insert((
                                role.clone(),
                                group.clone(),
                                resource.clone(),
                                name.clone(),
                                verb.clone(),
                            ));
                        }
                    }
                }
            }
        }
    }
    grants
}

#[test]
fn the_rbac_table_of_the_docs_lists_exactly_what_rbac_yaml_grants() {
    let table = rbac_table_grants();
    let file = rbac_file_grants();
    assert!(!file.is_empty());
    let missing: Vec<_> = file.difference(&table).collect();
    let extra: Vec<_> = table.difference(&file).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/deploy.md's RBAC table differs from deploy/rbac.yaml\n\
         granted but not in the table: {missing:#?}\n\
         in the table but not granted: {extra:#?}"
    );
}

#[test]
fn the_base_and_the_docs_name_this_versions_image_tag() {
    // A release raises the workspace version; the tag operators are told to
    // build, push and deploy must follow, or they run an older binary.
    let version = env!("CARGO_PKG_VERSION");
    let k = kustomization();
    let image = k["images"]
        .as_array()
        .and_then(|images| images.iter().find(|i| i["name"] == "user-scheduler"))
        .expect("kustomization.yaml sets the user-scheduler image");
    assert_eq!(image["newTag"], version);
    for file in ["../docs/deploy.md", "../README.md"] {
        let text = std::fs::read_to_string(deploy().join(file)).unwrap();
        for (i, _) in text.match_indices("user-scheduler:") {
            let tag: String = text[i + "user-scheduler:".len()..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            // Only image references (REGISTRY/user-scheduler:X.Y.Z).
            if tag.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                assert_eq!(tag, version, "{file}: user-scheduler:{tag}");
            }
        }
    }
}
