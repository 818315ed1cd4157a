//! The volume filters on whole decisions.

use crate::Cluster;
use crate::explain::explain;
use crate::model::{NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm, PodSpec};
use crate::profile::Profile;
use crate::testing::{GI, node, pod};
use crate::volumes::{AccessMode, BindingMode, Claim, StorageClass, Volume};

const ZONE: &str = "topology.kubernetes.io/zone";

fn zone_term(zone: &str) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: vec![NodeSelectorRequirement {
            key: ZONE.into(),
            operator: NodeSelectorOperator::In,
            values: vec![zone.into()],
        }],
        match_fields: vec![],
    }
}

/// Nodes a (zone a) and b (zone b), and the two classes z2jh clusters use.
fn cluster() -> Cluster {
    let mut c = Cluster::default();
    c.storage.set_tracked(true);
    c.upsert_node(&node("a").capacity(4000, 16 * GI).label(ZONE, "a").build());
    c.upsert_node(&node("b").capacity(4000, 16 * GI).label(ZONE, "b").build());
    c.storage.upsert_class(StorageClass {
        name: "standard-rwo".into(),
        provisioner: "pd.csi.storage.gke.io".into(),
        binding_mode: BindingMode::WaitForFirstConsumer,
        allowed_topologies: vec![],
    });
    c.storage.upsert_class(StorageClass {
        name: "local".into(),
        provisioner: "kubernetes.io/no-provisioner".into(),
        binding_mode: BindingMode::WaitForFirstConsumer,
        allowed_topologies: vec![],
    });
    c.storage.upsert_class(StorageClass {
        name: "immediate".into(),
        provisioner: "pd.csi.storage.gke.io".into(),
        binding_mode: BindingMode::Immediate,
        allowed_topologies: vec![],
    });
    c
}

fn claim(name: &str, class: &str) -> Claim {
    Claim {
        namespace: "jhub".into(),
        name: name.into(),
        storage_class: Some(class.into()),
        request_bytes: 10 * GI,
        access_modes: vec![AccessMode::ReadWriteOnce],
        ..Claim::default()
    }
}

fn user_with(claim: &str) -> PodSpec {
    let mut p = pod("jupyter-alice").user().mem(GI).build();
    p.claims = vec![claim.into()];
    p
}

fn zonal_volume(name: &str, zone: &str) -> Volume {
    Volume {
        name: name.into(),
        storage_class: "standard-rwo".into(),
        capacity_bytes: 10 * GI,
        access_modes: vec![AccessMode::ReadWriteOnce],
        node_affinity: Some(vec![zone_term(zone)]),
        labels: [(ZONE.to_string(), zone.to_string())].into(),
        csi_driver: Some("pd.csi.storage.gke.io".into()),
        handle: Some(format!("projects/p/zones/{zone}/disks/{name}")),
        ..Volume::default()
    }
}

#[test]
fn a_home_directory_in_zone_a_keeps_its_user_in_zone_a() {
    let mut c = cluster();
    c.storage.upsert_volume(zonal_volume("pv-alice", "a"));
    c.storage.upsert_claim(Claim {
        volume_name: Some("pv-alice".into()),
        bind_completed: true,
        ..claim("claim-alice", "standard-rwo")
    });
    let e = explain(&c, &Profile::jupyterhub(), &user_with("claim-alice"));
    assert_eq!(e.selected.as_deref(), Some("a"));
    assert_eq!(
        e.nodes[1].reasons,
        vec!["node(s) had volume node affinity conflict"]
    );
}

#[test]
fn volume_zone_labels_must_match_the_node() {
    let mut c = cluster();
    let mut pv = zonal_volume("pv-old", "b");
    pv.node_affinity = None; // an in-tree volume with only zone labels
    c.storage.upsert_volume(pv);
    c.storage.upsert_claim(Claim {
        volume_name: Some("pv-old".into()),
        bind_completed: true,
        ..claim("claim-old", "standard-rwo")
    });
    let e = explain(&c, &Profile::jupyterhub(), &user_with("claim-old"));
    assert_eq!(e.selected.as_deref(), Some("b"));
    assert_eq!(
        e.nodes[0].reasons,
        vec!["node(s) had no available volume zone"]
    );
}

#[test]
fn wait_for_first_consumer_claims_follow_static_volumes_or_provisioning() {
    let mut c = cluster();
    // Dynamic provisioning anywhere: both nodes fit.
    c.storage.upsert_claim(claim("dynamic", "standard-rwo"));
    assert_eq!(
        explain(&c, &Profile::jupyterhub(), &user_with("dynamic"))
            .tied
            .len(),
        2
    );
    // allowedTopologies restricts provisioning to zone b.
    c.storage.upsert_class(StorageClass {
        allowed_topologies: vec![zone_term("b")],
        ..c.storage.class("standard-rwo").unwrap().clone()
    });
    let e = explain(&c, &Profile::jupyterhub(), &user_with("dynamic"));
    assert_eq!(e.selected.as_deref(), Some("b"));
    assert_eq!(
        e.nodes[0].reasons,
        vec!["node(s) didn't find available persistent volumes to bind"]
    );
    // A static class: only where an Available volume of the class fits.
    c.storage.upsert_claim(claim("static", "local"));
    let e = explain(&c, &Profile::jupyterhub(), &user_with("static"));
    assert_eq!(e.selected, None);
    c.storage.upsert_volume(Volume {
        storage_class: "local".into(),
        available: true,
        ..zonal_volume("local-a", "a")
    });
    assert_eq!(
        explain(&c, &Profile::jupyterhub(), &user_with("static"))
            .selected
            .as_deref(),
        Some("a")
    );
    // A claim already annotated for node b rejects a.
    c.storage.upsert_claim(Claim {
        selected_node: Some("b".into()),
        ..claim("dynamic", "standard-rwo")
    });
    let e = explain(&c, &Profile::jupyterhub(), &user_with("dynamic"));
    assert_eq!(e.selected.as_deref(), Some("b"));
}

#[test]
fn claims_that_cannot_be_used_reject_the_pod_before_any_node() {
    let mut c = cluster();
    let e = explain(&c, &Profile::jupyterhub(), &user_with("missing"));
    assert_eq!(
        e.message.as_deref(),
        Some(
            "0/2 nodes are available: persistentvolumeclaim \"missing\" not found. preemption: 0/2 \
             nodes are available: 2 Preemption is not helpful for scheduling."
        )
    );
    c.storage.upsert_claim(claim("now", "immediate"));
    let e = explain(&c, &Profile::jupyterhub(), &user_with("now"));
    assert!(
        e.message.as_deref().unwrap().starts_with(
            "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims."
        ),
        "{:?}",
        e.message
    );
    // ReadWriteOncePod: a second pod may not use the claim.
    c.storage.upsert_claim(Claim {
        access_modes: vec![AccessMode::ReadWriteOncePod],
        ..claim("mine", "standard-rwo")
    });
    let mut holder = user_with("mine");
    holder.uid = "holder".into();
    holder.name = "holder".into();
    c.add_pod(&holder, "a");
    let e = explain(&c, &Profile::jupyterhub(), &user_with("mine"));
    assert!(
        e.message
            .as_deref()
            .unwrap()
            .contains("ReadWriteOncePod access mode"),
        "{:?}",
        e.message
    );
}

#[test]
fn untracked_storage_runs_no_volume_filter() {
    let mut c = cluster();
    c.storage.set_tracked(false);
    // A cache without storage watches cannot tell a missing claim.
    assert!(
        explain(&c, &Profile::jupyterhub(), &user_with("unknown"))
            .selected
            .is_some()
    );
}

#[test]
fn csi_attach_limits_are_honoured() {
    let mut c = cluster();
    c.storage
        .set_csi_limits("a", vec![("pd.csi.storage.gke.io".into(), 1)]);
    c.storage.upsert_volume(zonal_volume("pv-bob", "a"));
    c.storage.upsert_claim(Claim {
        volume_name: Some("pv-bob".into()),
        bind_completed: true,
        ..claim("claim-bob", "standard-rwo")
    });
    let mut bob = user_with("claim-bob");
    bob.uid = "bob".into();
    bob.name = "bob".into();
    c.add_pod(&bob, "a");
    // A new dynamically provisioned disk on a: two volumes of the driver, limit 1.
    c.storage.upsert_claim(claim("claim-carol", "standard-rwo"));
    let e = explain(&c, &Profile::jupyterhub(), &user_with("claim-carol"));
    assert_eq!(e.nodes[0].reasons, vec!["node(s) exceed max volume count"]);
    assert_eq!(e.selected.as_deref(), Some("b"));
}

/// What PreBind writes for a chosen node: the smallest fitting static volume
/// for a `local` claim, provisioning for a `standard-rwo` claim, and nothing
/// for a claim that is bound already.
#[test]
fn claim_bindings_name_the_static_volume_or_provisioning_for_the_chosen_node() {
    use crate::volumes::{ClaimBinding, claim_bindings};
    let mut c = cluster();
    for (name, zone, gi) in [
        ("pv-big-a", "a", 100),
        ("pv-small-a", "a", 10),
        ("pv-b", "b", 10),
    ] {
        let mut v = zonal_volume(name, zone);
        v.storage_class = "local".into();
        v.capacity_bytes = gi * GI;
        v.available = true;
        c.storage.upsert_volume(v);
    }
    c.storage.upsert_claim(claim("claim-local", "local"));
    c.storage
        .upsert_claim(claim("claim-dynamic", "standard-rwo"));
    c.storage.upsert_volume(zonal_volume("pv-bound", "a"));
    c.storage.upsert_claim(Claim {
        volume_name: Some("pv-bound".into()),
        bind_completed: true,
        ..claim("claim-bound", "standard-rwo")
    });
    let mut p = user_with("claim-local");
    p.claims.push("claim-dynamic".into());
    p.claims.push("claim-bound".into());
    let a = c.node_index("a").unwrap();
    assert_eq!(
        claim_bindings(&c, &p, a).unwrap(),
        vec![
            ClaimBinding {
                namespace: "jhub".into(),
                claim: "claim-local".into(),
                volume: Some("pv-small-a".into()),
            },
            ClaimBinding {
                namespace: "jhub".into(),
                claim: "claim-dynamic".into(),
                volume: None,
            },
        ]
    );
    // Node b: the bound claim's volume lives in zone a.
    let b = c.node_index("b").unwrap();
    assert_eq!(
        claim_bindings(&c, &p, b).unwrap_err(),
        "node(s) had volume node affinity conflict"
    );
    // Only bound claims: nothing to write.
    assert_eq!(
        claim_bindings(&c, &user_with("claim-bound"), a).unwrap(),
        vec![]
    );
    // A claim that does not exist: the PreFilter message.
    assert_eq!(
        claim_bindings(&c, &user_with("claim-missing"), a).unwrap_err(),
        "persistentvolumeclaim \"claim-missing\" not found"
    );
}

#[test]
fn volume_admits_node_reads_the_volumes_node_affinity() {
    use crate::volumes::volume_admits_node;
    let c = cluster();
    let (a, b) = (c.node_index("a").unwrap(), c.node_index("b").unwrap());
    let v = zonal_volume("pv", "a");
    assert!(volume_admits_node(&c, &v, a));
    assert!(!volume_admits_node(&c, &v, b));
    let anywhere = Volume {
        node_affinity: None,
        ..v
    };
    assert!(volume_admits_node(&c, &anywhere, b));
}
