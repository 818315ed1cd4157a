//! Scenario tests of whole decisions, and property tests.

use crate::Cluster;
use crate::explain::explain;
use crate::model::{NodeSelectorOperator, TaintEffect, WhenUnsatisfiable};
use crate::profile::{
    AddedAffinity, FilterPlugin, NodePurposeMode, Profile, ScorePlugin, ScoringStrategy,
};
use crate::rng::SplitMix64;
use crate::schedule::{NodeStatus, Scratch, failure_message, schedule};
use crate::testing::{GI, node, pod};

fn cluster(nodes: Vec<crate::model::NodeSpec>) -> Cluster {
    let mut c = Cluster::default();
    for n in &nodes {
        c.upsert_node(n);
    }
    c
}

fn place(c: &mut Cluster, p: crate::testing::PodBuilder, node: &str) {
    c.add_pod(&p.build(), node);
}

/// The z2jh chart's profile: NodeAffinity 14631, InterPodAffinity 1331,
/// NodeResourcesFit 121 (MostAllocated cpu 1 / memory 1), ImageLocality 11,
/// TaintToleration 3 and PodTopologySpread 2 (left at kube's defaults).
fn z2jh_profile() -> Profile {
    let mut p = Profile::kube_default("jhub-user-scheduler");
    p.scores = vec![
        (ScorePlugin::TaintToleration, 3),
        (ScorePlugin::NodeAffinity, 14631),
        (ScorePlugin::InterPodAffinity, 1331),
        (ScorePlugin::NodeResourcesFit, 121),
        (ScorePlugin::ImageLocality, 11),
        (ScorePlugin::PodTopologySpread, 2),
    ];
    p.fit.strategy = ScoringStrategy::MostAllocated;
    p
}

fn selected(c: &Cluster, profile: &Profile, p: &crate::model::PodSpec) -> Option<String> {
    explain(c, profile, p).selected
}

#[test]
fn pods_land_on_the_fullest_feasible_node() {
    let mut c = cluster(vec![
        node("empty").capacity(4000, 16 * GI).build(),
        node("half").capacity(4000, 16 * GI).build(),
        node("full").capacity(4000, 16 * GI).build(),
    ]);
    place(&mut c, pod("a").req(2000, 8 * GI), "half");
    place(&mut c, pod("b").req(3500, 15 * GI), "full");
    let p = pod("new").user().req(1000, 4 * GI).build();
    // "full" has only 500m free: infeasible; "half" is fuller than "empty".
    let e = explain(&c, &Profile::jupyterhub(), &p);
    assert_eq!(e.selected.as_deref(), Some("half"));
    assert_eq!(
        e.nodes[2].reasons,
        vec!["Insufficient cpu", "Insufficient memory"]
    );
}

#[test]
fn users_pack_next_to_users_not_placeholders() {
    let mut c = cluster(vec![
        node("placeholders").capacity(4000, 16 * GI).build(),
        node("users").capacity(4000, 16 * GI).build(),
    ]);
    for i in 0..2 {
        place(
            &mut c,
            pod(&format!("ph{i}")).placeholder().mem(2 * GI),
            "placeholders",
        );
        place(&mut c, pod(&format!("u{i}")).user().mem(2 * GI), "users");
    }
    let p = pod("new").user().mem(2 * GI).build();
    let e = explain(&c, &Profile::jupyterhub(), &p);
    // Same MostAllocated on both; RealUserColocation: users node cpu 200×100/4000 = 5,
    // memory 4Gi/16Gi = 25 → (5+25)/2 = 15; placeholders node 0.
    assert_eq!(e.selected.as_deref(), Some("users"));
    let users = &e.nodes[1];
    assert!(
        users.scores.contains(&("RealUserColocation", 15)),
        "{:?}",
        users.scores
    );
    assert_eq!(e.tied, vec!["users"]);
}

#[test]
fn node_purpose_prefer_require_ignore() {
    let mut c = cluster(vec![
        node("core")
            .capacity(4000, 16 * GI)
            .label("hub.jupyter.org/node-purpose", "core")
            .build(),
        node("user")
            .capacity(4000, 16 * GI)
            .label("hub.jupyter.org/node-purpose", "user")
            .build(),
    ]);
    // Make the core node fuller, so only the purpose rule sends the pod to "user".
    place(&mut c, pod("hub").req(2000, 8 * GI), "core");
    let p = pod("new").user().mem(GI).build();
    let mut profile = Profile::jupyterhub();
    assert_eq!(selected(&c, &profile, &p).as_deref(), Some("user"));
    profile.node_purpose.mode = NodePurposeMode::Ignore;
    assert_eq!(selected(&c, &profile, &p).as_deref(), Some("core"));
    profile.node_purpose.mode = NodePurposeMode::Require;
    let e = explain(&c, &profile, &p);
    assert_eq!(e.selected.as_deref(), Some("user"));
    assert_eq!(
        e.nodes[0].reasons,
        vec!["node(s) didn't have the node-purpose label {hub.jupyter.org/node-purpose: user}"]
    );
}

#[test]
fn tainted_core_nodes_are_never_used_and_the_message_says_why() {
    let c = cluster(vec![
        node("core-1")
            .capacity(4000, 16 * GI)
            .taint("hub.jupyter.org/dedicated", "core", TaintEffect::NoSchedule)
            .build(),
        node("core-2")
            .capacity(4000, 16 * GI)
            .taint("hub.jupyter.org/dedicated", "core", TaintEffect::NoSchedule)
            .build(),
        node("user-1")
            .capacity(1000, 2 * GI)
            .taint("hub.jupyter.org/dedicated", "user", TaintEffect::NoSchedule)
            .build(),
    ]);
    let p = pod("big")
        .user()
        .z2jh_user_tolerations()
        .mem(4 * GI)
        .build();
    let e = explain(&c, &Profile::jupyterhub(), &p);
    assert_eq!(e.selected, None);
    assert_eq!(
        e.message.as_deref(),
        Some(
            "0/3 nodes are available: 1 Insufficient memory, 2 node(s) had untolerated taint \
             {hub.jupyter.org/dedicated: core}. preemption: 0/3 nodes are available: 3 Preemption \
             is not helpful for scheduling."
        )
    );
    let small = pod("small").user().z2jh_user_tolerations().mem(GI).build();
    assert_eq!(
        selected(&c, &Profile::jupyterhub(), &small).as_deref(),
        Some("user-1")
    );
}

#[test]
fn extended_resources_no_node_has_are_named_in_the_message() {
    // A GPU pool scaled to zero: no node (and no pod) has nvidia.com/gpu, so
    // the cluster never interned the name. kube: "Insufficient nvidia.com/gpu"
    // (issue 12 printed "Insufficient ").
    let core = || {
        node("core").capacity(4000, 16 * GI).taint(
            "hub.jupyter.org/dedicated",
            "core",
            TaintEffect::NoSchedule,
        )
    };
    let user = |name: &str| {
        node(name).capacity(4000, 16 * GI).taint(
            "hub.jupyter.org/dedicated",
            "user",
            TaintEffect::NoSchedule,
        )
    };
    let gpu_user = |gpus: &[(&str, u64)]| {
        let mut p = pod("gpu-user").user().z2jh_user_tolerations().mem(GI);
        for &(name, n) in gpus {
            p = p.extended(name, n);
        }
        p.build()
    };
    // Every "Insufficient" here exceeds the node's allocatable (0), so no
    // eviction helps: preemption is not helpful on any node.
    let cases = [
        (
            "no node has the resource",
            vec![user("u1").build(), user("u2").build()],
            gpu_user(&[("nvidia.com/gpu", 1)]),
            "0/2 nodes are available: 2 Insufficient nvidia.com/gpu. preemption: 0/2 nodes \
             are available: 2 Preemption is not helpful for scheduling.",
        ),
        (
            "beside a taint",
            vec![core().build(), user("u1").build()],
            gpu_user(&[("nvidia.com/gpu", 1)]),
            "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) had \
             untolerated taint {hub.jupyter.org/dedicated: core}. preemption: 0/2 nodes are \
             available: 2 Preemption is not helpful for scheduling.",
        ),
        (
            // Two unknown names, each kept apart (sorted as kube sorts).
            "two resources no node has",
            vec![user("u1").build()],
            gpu_user(&[("nvidia.com/gpu", 1), ("example.com/fpga", 2)]),
            "0/1 nodes are available: 1 Insufficient example.com/fpga, 1 Insufficient \
             nvidia.com/gpu. preemption: 0/1 nodes are available: 1 Preemption is not \
             helpful for scheduling.",
        ),
        (
            // One known (a node offers 1, the pod wants 2), one unknown.
            "one known, one unknown",
            vec![user("u1").extended("nvidia.com/gpu", 1).build()],
            gpu_user(&[("nvidia.com/gpu", 2), ("example.com/fpga", 1)]),
            "0/1 nodes are available: 1 Insufficient example.com/fpga, 1 Insufficient \
             nvidia.com/gpu. preemption: 0/1 nodes are available: 1 Preemption is not \
             helpful for scheduling.",
        ),
    ];
    for (name, nodes, p, want) in cases {
        let c = cluster(nodes);
        let e = explain(&c, &Profile::jupyterhub(), &p);
        assert_eq!(e.selected, None, "{name}");
        assert_eq!(e.message.as_deref(), Some(want), "{name}");
        // A decision's own message (what the daemon writes) says the same.
        let mut scratch = Scratch::default();
        assert_eq!(
            schedule(&c, &Profile::jupyterhub(), &p, &mut scratch, None).selected,
            None
        );
        let fit = failure_message(&c, &Profile::jupyterhub(), &scratch, None);
        assert_eq!(
            Some(fit.as_str()),
            want.split(" preemption: ").next(),
            "{name}"
        );
    }
}

#[test]
fn z2jh_weights_give_kube_totals() {
    // kube's worked example node, labelled as a user node, with the user image.
    let mut c = cluster(vec![
        node("user")
            .capacity(4000, 16 * GI)
            .label("hub.jupyter.org/node-purpose", "user")
            .image("jupyter/scipy:1", 2_000_000_000)
            .build(),
        node("other").capacity(4000, 16 * GI).build(),
    ]);
    place(&mut c, pod("sys").req(1000, 4 * GI), "user");
    let p = pod("new")
        .user()
        .mem(1_000_000_000)
        .image("jupyter/scipy:1")
        .prefer_node(
            100,
            "hub.jupyter.org/node-purpose",
            NodeSelectorOperator::In,
            &["user"],
        )
        .build();
    let e = explain(&c, &z2jh_profile(), &p);
    let user = &e.nodes[0];
    // NodeAffinity 100 × 14631 = 1463100
    // InterPodAffinity skipped: 0 × 1331
    // NodeResourcesFit MostAllocated 28 (kube's worked example) × 121 = 3388
    // ImageLocality: 2e9 × (1 node / 2 nodes) = 1e9 → 100 × (1e9 − 23 MiB) / (1000 MiB − 23 MiB) = 95 → × 11 = 1045
    // TaintToleration: no PreferNoSchedule taints → 100 × 3 = 300
    // PodTopologySpread skipped (a bare user pod has no constraints and no
    // default selector): 0 × 2
    assert_eq!(
        user.scores,
        vec![
            ("TaintToleration", 100),
            ("NodeAffinity", 100),
            ("InterPodAffinity", 0),
            ("NodeResourcesFit", 28),
            ("ImageLocality", 95),
            ("PodTopologySpread", 0)
        ]
    );
    assert_eq!(user.total, Some(1_463_100 + 3388 + 1045 + 300));
    // other: NodeAffinity 0; MostAllocated cpu 100×100/4000 = 2, memory 1e9×100/16Gi = 5 → 3;
    // ImageLocality 0; TaintToleration 100: 363 + 300.
    assert_eq!(e.nodes[1].total, Some(3 * 121 + 300));
    assert_eq!(e.selected.as_deref(), Some("user"));
}

#[test]
fn ties_are_reported_and_broken_at_random() {
    let c = cluster(
        (0..4)
            .map(|i| node(&format!("n{i}")).capacity(4000, 16 * GI).build())
            .collect(),
    );
    let p = pod("p").user().mem(GI).build();
    let e = explain(&c, &Profile::jupyterhub(), &p);
    assert_eq!(e.tied, vec!["n0", "n1", "n2", "n3"]);
    assert_eq!(e.selected.as_deref(), Some("n0"));
    // Each tied node is picked about as often (1000 of 4000 expected), by
    // full passes and by the decision cache (whose blocks split the four
    // nodes in tests).
    for mut scratch in [Scratch::default(), Scratch::with_decision_cache()] {
        let mut counts = [0_u32; 4];
        let mut rng = SplitMix64::new(7);
        for _ in 0..4000 {
            let d = schedule(&c, &Profile::jupyterhub(), &p, &mut scratch, Some(&mut rng));
            assert_eq!(d.tied, 4);
            counts[d.selected.unwrap()] += 1;
        }
        for (i, count) in counts.iter().enumerate() {
            assert!((850..=1150).contains(count), "n{i}: {count} of 4000");
        }
    }
}

#[test]
fn node_name_selector_cordon_and_ports() {
    let mut c = cluster(vec![
        node("a")
            .capacity(4000, 16 * GI)
            .label("disk", "ssd")
            .build(),
        node("b").capacity(4000, 16 * GI).cordoned().build(),
        node("c")
            .capacity(4000, 16 * GI)
            .label("disk", "hdd")
            .build(),
    ]);
    let profile = Profile::jupyterhub();
    let e = explain(&c, &profile, &pod("p").node_selector("disk", "ssd").build());
    assert_eq!(e.selected.as_deref(), Some("a"));
    assert_eq!(e.nodes[1].reasons, vec!["node(s) were unschedulable"]);
    assert_eq!(
        e.nodes[2].reasons,
        vec!["node(s) didn't match Pod's node affinity/selector"]
    );
    let e = explain(&c, &profile, &pod("p").node_name("c").build());
    assert_eq!(e.selected.as_deref(), Some("c"));
    assert_eq!(
        e.nodes[0].reasons,
        vec!["node(s) didn't match the requested node name"]
    );
    // The cordon wins over the node name: NodeUnschedulable runs first.
    let e = explain(&c, &profile, &pod("p").node_name("b").build());
    assert_eq!(e.nodes[1].reasons, vec!["node(s) were unschedulable"]);
    let tolerant = pod("p")
        .tolerate(
            "node.kubernetes.io/unschedulable",
            "",
            Some(TaintEffect::NoSchedule),
        )
        .node_name("b")
        .build();
    assert_eq!(selected(&c, &profile, &tolerant).as_deref(), Some("b"));
    // Host ports.
    place(&mut c, pod("web").host_port(8080), "a");
    let e = explain(
        &c,
        &profile,
        &pod("p2")
            .host_port(8080)
            .node_selector("disk", "ssd")
            .build(),
    );
    assert_eq!(
        e.nodes[0].reasons,
        vec!["node(s) didn't have free ports for the requested pod ports"]
    );
    assert!(c.remove_pod("web"));
    let e = explain(
        &c,
        &profile,
        &pod("p2")
            .host_port(8080)
            .node_selector("disk", "ssd")
            .build(),
    );
    assert_eq!(e.selected.as_deref(), Some("a"));
}

#[test]
fn gpu_pods_need_free_gpus() {
    let mut c = cluster(vec![
        node("cpu").capacity(8000, 32 * GI).build(),
        node("gpu")
            .capacity(8000, 32 * GI)
            .extended("nvidia.com/gpu", 1)
            .build(),
    ]);
    let p = pod("g")
        .user()
        .extended("nvidia.com/gpu", 1)
        .mem(GI)
        .build();
    let e = explain(&c, &Profile::jupyterhub(), &p);
    assert_eq!(e.selected.as_deref(), Some("gpu"));
    assert_eq!(e.nodes[0].reasons, vec!["Insufficient nvidia.com/gpu"]);
    place(&mut c, pod("g0").extended("nvidia.com/gpu", 1), "gpu");
    let e = explain(&c, &Profile::jupyterhub(), &p);
    assert_eq!(
        e.message.as_deref(),
        Some(
            "0/2 nodes are available: 2 Insufficient nvidia.com/gpu. preemption: 0/2 nodes are \
             available: 1 No preemption victims found for incoming pod, 1 Preemption is not \
             helpful for scheduling."
        )
    );
    let mut ignoring = Profile::jupyterhub();
    ignoring.fit.ignored_resource_groups = vec!["nvidia.com".into()];
    assert!(explain(&c, &ignoring, &p).selected.is_some());
}

#[test]
fn inter_pod_anti_affinity_spreads_and_is_symmetric() {
    let mut c = cluster(vec![
        node("a").capacity(4000, 16 * GI).build(),
        node("b").capacity(4000, 16 * GI).build(),
    ]);
    place(&mut c, pod("db-0").label("app", "db").req(1000, GI), "a");
    let hostname = "kubernetes.io/hostname";
    let p = pod("db-1")
        .label("app", "db")
        .anti_affinity("app", "db", hostname)
        .build();
    let e = explain(&c, &Profile::jupyterhub(), &p);
    assert_eq!(e.selected.as_deref(), Some("b"));
    assert_eq!(
        e.nodes[0].reasons,
        vec!["node(s) didn't match pod anti-affinity rules"]
    );
    // Symmetric: an existing pod's anti-affinity keeps matching pods away.
    place(
        &mut c,
        pod("loner").anti_affinity("app", "web", hostname),
        "b",
    );
    let web = pod("web").label("app", "web").build();
    let e = explain(&c, &Profile::jupyterhub(), &web);
    assert_eq!(e.selected.as_deref(), Some("a"));
    assert_eq!(
        e.nodes[1].reasons,
        vec!["node(s) didn't satisfy existing pods anti-affinity rules"]
    );
}

#[test]
fn inter_pod_affinity_required_and_preferred() {
    let mut c = cluster(vec![
        node("a")
            .capacity(4000, 16 * GI)
            .label("zone", "z1")
            .build(),
        node("b")
            .capacity(4000, 16 * GI)
            .label("zone", "z2")
            .build(),
        node("c").capacity(4000, 16 * GI).build(),
    ]);
    let p = pod("cache")
        .label("app", "cache")
        .affinity("app", "cache", "zone")
        .build();
    // No pod matches anywhere and the pod matches its own term: it may start
    // the series, but only on nodes that have the topology key.
    let e = explain(&c, &Profile::jupyterhub(), &p);
    assert_eq!(
        e.nodes[2].reasons,
        vec!["node(s) didn't match pod affinity rules"]
    );
    assert!(e.nodes[0].feasible && e.nodes[1].feasible);
    place(&mut c, pod("cache-0").label("app", "cache"), "b");
    let e = explain(&c, &Profile::jupyterhub(), &p);
    assert_eq!(e.selected.as_deref(), Some("b"));
    assert_eq!(
        e.nodes[0].reasons,
        vec!["node(s) didn't match pod affinity rules"]
    );
    // Preferred: weight 50 towards app=cache in the zone; min-max: b 100, a and c 0.
    let q = pod("q").prefer_pods(50, "app", "cache", "zone").build();
    let mut profile = Profile::jupyterhub();
    profile.scores.push((ScorePlugin::InterPodAffinity, 1000));
    let e = explain(&c, &profile, &q);
    assert!(e.nodes[1].scores.contains(&("InterPodAffinity", 100)));
    assert!(e.nodes[0].scores.contains(&("InterPodAffinity", 0)));
    assert_eq!(e.selected.as_deref(), Some("b"));
}

#[test]
fn image_locality_and_prefer_no_schedule() {
    let c = cluster(vec![
        node("plain").capacity(4000, 16 * GI).build(),
        node("image")
            .capacity(4000, 16 * GI)
            .image("jupyter/base:1", 1_500_000_000)
            .build(),
        node("soft")
            .capacity(4000, 16 * GI)
            .image("jupyter/base:1", 1_500_000_000)
            .taint("spot", "true", TaintEffect::PreferNoSchedule)
            .build(),
    ]);
    let p = pod("u").user().mem(GI).image("jupyter/base:1").build();
    let e = explain(&c, &Profile::jupyterhub(), &p);
    assert_eq!(e.selected.as_deref(), Some("image"));
    // The soft-tainted node: 1 intolerable PreferNoSchedule taint, max 1 → reversed 0.
    assert!(e.nodes[2].scores.contains(&("TaintToleration", 0)));
    assert!(e.nodes[1].scores.contains(&("TaintToleration", 100)));
}

#[test]
fn huge_images_score_full_image_locality_on_both_paths() {
    // Issue 12: a node holding a 5e18-byte image scored 0 when the pod's
    // contributions wrapped an i64. Saturated, the sum is far above
    // containers × 1000 MiB: 100. "bare" has no image: 0.
    let c = cluster(vec![
        node("image")
            .capacity(4000, 16 * GI)
            .image("jupyter/huge:1", 5_000_000_000_000_000_000)
            .build(),
        node("bare").capacity(4000, 16 * GI).build(),
    ]);
    // Four containers of it, on one node of two (spread 1/2):
    // 4 × 2.5e18 = 1e19 > i64::MAX ≈ 9.22e18.
    let mut p = pod("u").user().mem(GI).image("jupyter/huge:1").build();
    for _ in 0..3 {
        p.containers.push(p.containers[0].clone());
    }
    let profile = z2jh_profile();
    // explain scores plugin by plugin (image_sum) ...
    let e = explain(&c, &profile, &p);
    assert!(
        e.nodes[0].scores.contains(&("ImageLocality", 100)),
        "{:?}",
        e.nodes[0].scores
    );
    assert!(e.nodes[1].scores.contains(&("ImageLocality", 0)));
    assert_eq!(e.selected.as_deref(), Some("image"));
    // ... and a decision fuses the scores (the per-image-set table).
    let mut scratch = Scratch::default();
    let d = schedule(&c, &profile, &p, &mut scratch, None);
    assert_eq!(d.selected, Some(0));
    assert_eq!(d.best_total, e.nodes[0].total.unwrap_or_default());
}

#[test]
fn added_affinity_is_enforced() {
    let c = cluster(vec![
        node("a").capacity(4000, 16 * GI).label("pool", "x").build(),
        node("b").capacity(4000, 16 * GI).label("pool", "y").build(),
    ]);
    let mut profile = Profile::jupyterhub();
    profile.added_affinity = AddedAffinity {
        required: Some(vec![crate::model::NodeSelectorTerm {
            match_expressions: vec![crate::model::NodeSelectorRequirement {
                key: "pool".into(),
                operator: NodeSelectorOperator::In,
                values: vec!["y".into()],
            }],
            match_fields: vec![],
        }]),
        preferred: vec![],
    };
    let e = explain(&c, &profile, &pod("p").build());
    assert_eq!(e.selected.as_deref(), Some("b"));
    assert_eq!(
        e.nodes[0].reasons,
        vec!["node(s) didn't match scheduler-enforced node affinity"]
    );
}

#[test]
fn disabled_filters_do_not_filter() {
    let c = cluster(vec![node("a").capacity(100, GI).cordoned().build()]);
    let mut profile = Profile::jupyterhub();
    profile.filters.retain(|f| {
        !matches!(
            f,
            FilterPlugin::NodeUnschedulable | FilterPlugin::NodeResourcesFit
        )
    });
    assert!(
        explain(&c, &profile, &pod("p").req(4000, 4 * GI).build())
            .selected
            .is_some()
    );
}

#[test]
fn failure_message_matches_explain() {
    let c = cluster(vec![node("a").capacity(100, GI).build()]);
    let p = pod("p").req(4000, 0).build();
    let mut scratch = Scratch::default();
    let d = schedule(&c, &Profile::jupyterhub(), &p, &mut scratch, None);
    assert_eq!(d.selected, None);
    let msg = failure_message(
        &c,
        &Profile::jupyterhub(),
        &scratch,
        Some("preemption: not helpful."),
    );
    assert_eq!(
        msg,
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not helpful."
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// (cpu, memory, role) of a pod; role 0 user, 1 placeholder, 2 other.
    type ArbPod = (u64, u64, u8);
    /// (cpu, memory, pods) of a node.
    type ArbNode = (u64, u64, Vec<ArbPod>);

    fn arb_cluster() -> impl Strategy<Value = (Vec<ArbNode>, ArbPod)> {
        let pod = (0u64..3000, 0u64..(8 * GI), 0u8..3);
        let node = (
            1u64..16_000,
            1u64..(64 * GI),
            prop::collection::vec(pod.clone(), 0..6),
        );
        (prop::collection::vec(node, 1..12), pod)
    }

    proptest! {
        #[test]
        fn the_chosen_node_has_room_and_scores_stay_in_range((nodes, new) in arb_cluster()) {
            let mut c = Cluster::default();
            for (i, (cpu, mem, pods)) in nodes.iter().enumerate() {
                let name = format!("n{i}");
                c.upsert_node(&node(&name).capacity(*cpu, *mem).build());
                for (j, (pcpu, pmem, role)) in pods.iter().enumerate() {
                    let b = pod(&format!("p{i}-{j}")).req(*pcpu, *pmem);
                    let b = match role { 0 => b.user(), 1 => b.placeholder(), _ => b };
                    c.add_pod(&b.build(), &name);
                }
            }
            let (pcpu, pmem, role) = new;
            let b = pod("new").req(pcpu, pmem);
            let p = if role == 0 { b.user() } else { b }.build();
            for profile in [Profile::jupyterhub(), Profile::kube_default("x")] {
                let e = explain(&c, &profile, &p);
                for n in &e.nodes {
                    for (_, s) in &n.scores {
                        prop_assert!((0..=100).contains(s), "score {s} out of range");
                    }
                }
                if let Some(name) = e.selected {
                    let i = c.node_index(&name).unwrap();
                    let s = c.summary(i);
                    // The generated nodes may start over-committed; a
                    // resource the pod does not request always fits (kube
                    // checks only requested resources), one it requests must.
                    prop_assert!(pcpu == 0 || s.cpu_milli.0 + pcpu <= s.cpu_milli.1);
                    prop_assert!(pmem == 0 || s.memory.0 + pmem <= s.memory.1);
                }
            }
        }
    }
}

/// Decisions sum the scores node by node during the filter pass and count
/// resource rejections per failure pattern; `explain` keeps every plugin's
/// column and records every reason. Both must give the same feasible nodes,
/// totals, reasons (in the same order), node statuses and choice.
mod fused_equals_columns {
    use super::*;
    use crate::model::PodSpec;
    use crate::schedule::{Nominated, schedule_with_nominated};
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    struct ArbNode {
        cpu: u64,
        mem: u64,
        eph: u64,
        max_pods: u64,
        /// 0 none, 1 user, 2 core.
        purpose: u8,
        spot: bool,
        dedicated: bool,
        /// Bit 0: image a (one size everywhere), bit 1: image b (its size
        /// varies by node).
        images: u8,
        /// 0: no zone label, else zone `z1` or `z2`.
        zone: u8,
        pods: Vec<(u64, u64, u64, u8)>,
    }

    fn arb_node() -> impl Strategy<Value = ArbNode> {
        let pod = (
            0u64..3000,
            0u64..(8 * GI),
            prop_oneof![Just(0u64), 0u64..GI],
            0u8..3,
        );
        (
            (
                prop_oneof![1u64..200, 1u64..16_000],
                1u64..(64 * GI),
                0u64..(4 * GI),
                1u64..8,
            ),
            (
                0u8..3,
                any::<bool>(),
                prop::bool::weighted(0.2),
                0u8..4,
                prop_oneof![3 => 1u8..3, 1 => Just(0u8)],
            ),
            prop::collection::vec(pod, 0..6),
        )
            .prop_map(
                |((cpu, mem, eph, max_pods), (purpose, spot, dedicated, images, zone), pods)| {
                    ArbNode {
                        cpu,
                        mem,
                        eph,
                        max_pods,
                        purpose,
                        spot,
                        dedicated,
                        images,
                        zone,
                        pods,
                    }
                },
            )
    }

    /// (cpu, memory, ephemeral, user, images, tolerates spot, prefers
    /// purpose weight, spread: 0 none, 1 hostname ScheduleAnyway, 2 zone
    /// DoNotSchedule, 3 a default spread selector, 4 zone ScheduleAnyway and
    /// hostname DoNotSchedule).
    type ArbPod = (u64, u64, u64, bool, u8, bool, i32, u8);

    fn arb_pod() -> impl Strategy<Value = ArbPod> {
        (
            0u64..4000,
            0u64..(8 * GI),
            prop_oneof![Just(0u64), 0u64..GI],
            any::<bool>(),
            0u8..4,
            any::<bool>(),
            prop_oneof![Just(0), 1i32..100],
            prop_oneof![2 => Just(0u8), 3 => 1u8..5],
        )
    }

    fn build(nodes: &[ArbNode]) -> Cluster {
        let mut c = Cluster::default();
        for (i, n) in nodes.iter().enumerate() {
            let name = format!("n{i}");
            c.upsert_node(&node_spec(&name, i, n));
            for (j, &(cpu, mem, eph, role)) in n.pods.iter().enumerate() {
                c.add_pod(
                    &arb_pod_on(&format!("p{i}-{j}"), cpu, mem, eph, role),
                    &name,
                );
            }
        }
        c
    }

    fn node_spec(name: &str, i: usize, n: &ArbNode) -> crate::model::NodeSpec {
        let mut b = node(name).capacity(n.cpu, n.mem).pods(n.max_pods);
        b = match n.purpose {
            1 => b.label("hub.jupyter.org/node-purpose", "user"),
            2 => b.label("hub.jupyter.org/node-purpose", "core"),
            _ => b,
        };
        if n.spot {
            b = b.taint("spot", "true", TaintEffect::PreferNoSchedule);
        }
        if n.dedicated {
            b = b.taint("dedicated", "core", TaintEffect::NoSchedule);
        }
        if n.images & 1 != 0 {
            b = b.image("jupyter/a:1", 1_500_000_000);
        }
        if n.images & 2 != 0 {
            b = b.image("jupyter/b:1", 400_000_000 + 100_000_000 * (i as u64 % 7));
        }
        if n.zone > 0 {
            b = b.label("topology.kubernetes.io/zone", &format!("z{}", n.zone));
        }
        let mut spec = b.build();
        spec.allocatable.ephemeral_storage = Some(n.eph);
        spec
    }

    fn arb_pod_on(name: &str, cpu: u64, mem: u64, eph: u64, role: u8) -> PodSpec {
        let mut b = pod(name).req(cpu, mem);
        b = match role {
            0 => b.user(),
            1 => b.placeholder(),
            _ => b,
        };
        let mut spec = b.build();
        if eph > 0 {
            spec.containers[0].requests.ephemeral_storage = Some(eph);
        }
        spec
    }

    fn pending(new: ArbPod) -> PodSpec {
        let (cpu, mem, eph, user, images, tolerate, prefer, spread) = new;
        let mut b = pod("new").req(cpu, mem);
        if user {
            b = b.user();
        }
        if images & 1 != 0 {
            b = b.image("jupyter/a:1");
        }
        if tolerate {
            b = b.tolerate("spot", "true", Some(TaintEffect::PreferNoSchedule));
        }
        // Selecting the pods with a `component` label: users and
        // placeholders.
        let zone = "topology.kubernetes.io/zone";
        let host = "kubernetes.io/hostname";
        b = match spread {
            1 => b.spread(1, host, WhenUnsatisfiable::ScheduleAnyway, "component"),
            2 => b.spread(2, zone, WhenUnsatisfiable::DoNotSchedule, "component"),
            3 => b.default_spread("component"),
            4 => b
                .spread(1, zone, WhenUnsatisfiable::ScheduleAnyway, "component")
                .spread(3, host, WhenUnsatisfiable::DoNotSchedule, "component"),
            _ => b,
        };
        if prefer > 0 {
            b = b.prefer_node(
                prefer,
                "hub.jupyter.org/node-purpose",
                NodeSelectorOperator::In,
                &["user"],
            );
        }
        let mut spec = b.build();
        if images & 2 != 0 {
            // A second container with the image whose size varies.
            let mut second = spec.containers[0].clone();
            second.image = "jupyter/b:1".into();
            second.requests = crate::model::ResourceList::default();
            spec.containers.push(second);
        }
        if eph > 0 {
            spec.containers[0].requests.ephemeral_storage = Some(eph);
        }
        spec
    }

    fn profiles() -> Vec<Profile> {
        let mut least = Profile::jupyterhub();
        least.fit.strategy = ScoringStrategy::LeastAllocated;
        let mut require = Profile::jupyterhub();
        require.node_purpose.mode = NodePurposeMode::Require;
        // BalancedAllocation over cpu and memory (kube's default profile)
        // and over three resources (the general score).
        let mut balanced = Profile::jupyterhub();
        balanced
            .scores
            .push((ScorePlugin::NodeResourcesBalancedAllocation, 7));
        balanced
            .balanced
            .resources
            .push(crate::profile::ResourceWeight {
                name: "ephemeral-storage".into(),
                weight: 1,
            });
        // PodTopologySpread with listed defaults (`defaultingType: List`):
        // a DoNotSchedule zone constraint for pods with a default selector.
        let mut listed = Profile::kube_default("x");
        listed.spread.system_defaulting = false;
        listed.spread.default_constraints = vec![crate::model::TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "topology.kubernetes.io/zone".into(),
            when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
            label_selector: None,
            min_domains: Some(2),
            node_affinity_policy: None,
            node_taints_policy: Some(crate::model::NodeInclusionPolicy::Honor),
            match_label_keys: Vec::new(),
        }];
        vec![
            Profile::jupyterhub(),
            Profile::kube_default("x"),
            z2jh_profile(),
            least,
            require,
            balanced,
            listed,
        ]
    }

    proptest! {
        #[test]
        fn decisions_equal_explain(
            nodes in prop::collection::vec(arb_node(), 1..14),
            new in arb_pod(),
            nominate in prop::option::of((0usize..14, 0u64..2000, 0u64..(4 * GI))),
        ) {
            let c = build(&nodes);
            let p = pending(new);
            let requests = crate::pod::pod_requests(&p);
            let nominated: Vec<Nominated> = nominate
                .filter(|(n, _, _)| *n < nodes.len())
                .map(|(node, cpu, mem)| Nominated {
                    uid: "other".into(),
                    priority: 0,
                    node,
                    requests: [cpu, mem, 0],
                })
                .into_iter()
                .collect();
            for profile in profiles() {
                let mut fused = Scratch::default();
                let mut columns = Scratch::explaining();
                // The same scratch twice: nothing may leak from one decision
                // into the next.
                for _ in 0..2 {
                    let a = schedule_with_nominated(
                        &c, &profile, &p, &requests, &nominated, &mut fused, None,
                    );
                    let b = schedule_with_nominated(
                        &c, &profile, &p, &requests, &nominated, &mut columns, None,
                    );
                    prop_assert_eq!(a, b);
                    prop_assert_eq!(fused.feasible(), columns.feasible());
                    prop_assert_eq!(fused.totals(), columns.totals());
                    prop_assert_eq!(fused.histogram(), columns.histogram());
                    let status = |s: &Scratch| -> Vec<NodeStatus> {
                        (0..c.node_count()).map(|i| s.node_status(i)).collect()
                    };
                    prop_assert_eq!(status(&fused), status(&columns));
                }
            }
        }
    }

    /// One step of a cluster's life between decisions.
    #[derive(Clone, Debug)]
    enum Step {
        /// Decide pending pod shape `k`, and assume it where it goes.
        Decide(usize),
        /// The `k`-th assigned pod (modulo their number) leaves.
        Leave(usize),
        /// Node `k` (modulo) is replaced by this one (labels, taints,
        /// capacity may change).
        Update(usize, ArbNode),
        /// A node joins, or node `k` (modulo) goes.
        Join(ArbNode),
        Go(usize),
    }

    fn arb_step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (0usize..3).prop_map(Step::Decide),
            2 => any::<usize>().prop_map(Step::Leave),
            1 => (any::<usize>(), arb_node()).prop_map(|(k, n)| Step::Update(k, n)),
            1 => arb_node().prop_map(Step::Join),
            1 => any::<usize>().prop_map(Step::Go),
        ]
    }

    proptest! {
        /// A scratch with the decision cache decides every pod as a full
        /// pass does (same node, same ties, same statuses) while the cluster
        /// changes under it: pods assumed and leaving, nodes updated, joining
        /// and going.
        #[test]
        fn cached_decisions_equal_full_passes(
            nodes in prop::collection::vec(arb_node(), 1..10),
            shapes in prop::collection::vec(arb_pod(), 3),
            steps in prop::collection::vec(arb_step(), 1..40),
            which in 0usize..7,
            seed in any::<u64>(),
        ) {
            let mut c = build(&nodes);
            let profile = &profiles()[which];
            let mut cached = Scratch::with_decision_cache();
            let mut full = Scratch::default();
            let (mut rng_a, mut rng_b) = (SplitMix64::new(seed), SplitMix64::new(seed));
            let mut serial = 0;
            for step in steps {
                match step {
                    Step::Decide(k) => {
                        let mut p = pending(shapes[k]);
                        serial += 1;
                        p.name = format!("new-{serial}");
                        p.uid = format!("uid-new-{serial}");
                        let a = schedule(&c, profile, &p, &mut cached, Some(&mut rng_a));
                        let b = schedule(&c, profile, &p, &mut full, Some(&mut rng_b));
                        prop_assert_eq!(a, b);
                        for i in 0..c.node_count() {
                            prop_assert_eq!(cached.node_status(i), full.node_status(i));
                        }
                        if let Some(i) = a.selected {
                            let name = c.node_name(i).to_string();
                            c.add_pod(&p, &name);
                        }
                    }
                    Step::Leave(k) => {
                        let uids: Vec<String> = c.pod_uids().map(str::to_string).collect();
                        if !uids.is_empty() {
                            c.remove_pod(&uids[k % uids.len()]);
                        }
                    }
                    Step::Update(k, n) => {
                        let i = k % c.node_count();
                        let name = c.node_name(i).to_string();
                        c.upsert_node(&node_spec(&name, i, &n));
                    }
                    Step::Join(n) => {
                        serial += 1;
                        let name = format!("joined-{serial}");
                        c.upsert_node(&node_spec(&name, serial, &n));
                        for (j, &(cpu, mem, eph, role)) in n.pods.iter().enumerate() {
                            let p = arb_pod_on(&format!("q{serial}-{j}"), cpu, mem, eph, role);
                            c.add_pod(&p, &name);
                        }
                    }
                    Step::Go(k) => {
                        if c.node_count() > 1 {
                            let name = c.node_name(k % c.node_count()).to_string();
                            c.remove_node(&name);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn the_decision_cache_serves_pods_shaped_like_a_recent_one() {
    let mut c = cluster(vec![
        node("a").capacity(4000, 16 * GI).build(),
        node("b").capacity(4000, 16 * GI).build(),
        node("core")
            .capacity(4000, 16 * GI)
            .taint("hub.jupyter.org/dedicated", "core", TaintEffect::NoSchedule)
            .build(),
    ]);
    let profile = Profile::jupyterhub();
    let mut cached = Scratch::with_decision_cache();
    let user = |name: &str| pod(name).user().req(1500, 4 * GI).build();
    // The first of its shape: every node is filtered and scored, and the
    // cache keeps the results.
    let first = schedule(&c, &profile, &user("u1"), &mut cached, None);
    assert_eq!(cached.served_from_cache(), Some(3));
    assert_eq!(first.selected, Some(0), "a tie between a and b: the first");
    c.add_pod(&user("u1"), "a");
    // Same shape, other name: only a is redone (now fuller, so preferred);
    // the tainted node stays rejected.
    let second = schedule(&c, &profile, &user("u2"), &mut cached, None);
    assert_eq!(cached.served_from_cache(), Some(1));
    assert_eq!(
        second,
        schedule(&c, &profile, &user("u2"), &mut Scratch::default(), None)
    );
    assert_eq!(second.selected, Some(0));
    assert_eq!(cached.node_status(2), NodeStatus::Unresolvable);
    // Another shape starts with every node.
    let big = pod("big").user().req(3000, 4 * GI).build();
    schedule(&c, &profile, &big, &mut cached, None);
    assert_eq!(cached.served_from_cache(), Some(3));
    // Nothing changed since: nothing to redo.
    schedule(&c, &profile, &user("u3"), &mut cached, None);
    assert_eq!(cached.served_from_cache(), Some(0));
    // A shape no node fits: the full pass runs, for the reasons.
    let huge = pod("huge").user().req(8000, GI).build();
    let none = schedule(&c, &profile, &huge, &mut cached, None);
    assert_eq!(cached.served_from_cache(), None);
    assert_eq!(none.selected, None);
    assert_eq!(cached.histogram().len(), 2, "{:?}", cached.histogram());
}

#[test]
fn a_pod_without_requests_fits_an_over_committed_node() {
    // Found by the property test: a node whose pods already request more cpu
    // than it has (2m of 1m) still takes a pod that requests no cpu, as kube's
    // NodeResourcesFit checks only what the pod requests.
    let mut c = cluster(vec![node("n").capacity(1, GI).build()]);
    place(&mut c, pod("old").req(2, 0), "n");
    assert_eq!(
        selected(&c, &Profile::jupyterhub(), &pod("new").build()).as_deref(),
        Some("n")
    );
    assert_eq!(
        selected(&c, &Profile::jupyterhub(), &pod("cpu").req(1, 0).build()),
        None
    );
}
