//! kube's preemption cases, and where we differ.

use crate::Cluster;
use crate::explain::explain_with;
use crate::model::Terminating;
use crate::model::{LabelSelector, PodSpec};
use crate::pod::pod_requests;
use crate::preemption::{Pdb, Preemption, plan, waits_for_victims};
use crate::profile::Profile;
use crate::schedule::{Nominated, Scratch, schedule, schedule_with_nominated};
use crate::testing::{GI, PodBuilder, node, pod};

fn cluster(nodes: &[(&str, u64)]) -> Cluster {
    let mut c = Cluster::default();
    for (name, mem) in nodes {
        c.upsert_node(&node(name).capacity(4000, mem * GI).build());
    }
    c
}

fn put(c: &mut Cluster, b: PodBuilder, node: &str, start: i64) {
    let mut p = b.build();
    p.start_time = start;
    c.add_pod(&p, node);
}

fn placeholder(name: &str, mem: u64) -> PodBuilder {
    pod(name).placeholder().mem(mem * GI)
}

/// Plans for `p` after a decision that found no node.
fn preempt(c: &Cluster, p: &PodSpec, pdbs: &[Pdb]) -> Preemption {
    let profile = Profile::jupyterhub();
    let mut scratch = Scratch::default();
    let d = schedule(c, &profile, p, &mut scratch, None);
    assert_eq!(d.selected, None, "the pod must fit nowhere first");
    plan(c, &profile, p, &pod_requests(p), &scratch, pdbs)
}

fn victims(p: &Preemption) -> (String, Vec<String>) {
    match p {
        Preemption::Plan(plan) => (
            plan.node_name.clone(),
            plan.victims.iter().map(|v| v.name.clone()).collect(),
        ),
        Preemption::NotHelpful(m) => panic!("no plan: {m}"),
    }
}

#[test]
fn reprieve_keeps_the_most_important_victims() {
    // n1: 8Gi with three 2Gi placeholders (6Gi used, 2Gi free). The user needs 3Gi.
    // Remove all three: 8Gi free. Add back by importance (oldest first):
    // ph-old → 6Gi free ≥ 3 keep; ph-mid → 4Gi free ≥ 3 keep; ph-young → 2Gi < 3: victim.
    let mut c = cluster(&[("n1", 8)]);
    put(&mut c, placeholder("ph-old", 2), "n1", 100);
    put(&mut c, placeholder("ph-mid", 2), "n1", 200);
    put(&mut c, placeholder("ph-young", 2), "n1", 300);
    let user = pod("alice").user().mem(3 * GI).build();
    assert_eq!(
        victims(&preempt(&c, &user, &[])),
        ("n1".into(), vec!["ph-young".into()])
    );
}

#[test]
fn only_strictly_lower_priority_pods_are_victims() {
    let mut c = cluster(&[("n1", 4)]);
    put(&mut c, pod("bob").user().mem(4 * GI), "n1", 0);
    let user = pod("alice").user().mem(GI).build();
    // Equal priority (0): no victims; the z2jh#1592 loop needs a victim of
    // equal priority to be evicted, which never happens.
    assert_eq!(
        preempt(&c, &user, &[]),
        Preemption::NotHelpful(
            "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
                .into()
        )
    );
}

#[test]
fn preemption_policy_never_does_not_preempt() {
    let mut c = cluster(&[("n1", 4)]);
    put(&mut c, placeholder("ph", 4), "n1", 0);
    let mut user = pod("alice").user().mem(GI).build();
    user.preemption_never = true;
    assert_eq!(
        preempt(&c, &user, &[]),
        Preemption::NotHelpful("preemption: not eligible due to preemptionPolicy=Never.".into())
    );
}

#[test]
fn unresolvable_nodes_are_not_candidates() {
    let mut c = cluster(&[("small", 2), ("n1", 4)]);
    put(&mut c, placeholder("ph", 4), "n1", 0);
    // 3Gi is larger than "small" altogether: no eviction helps there.
    let user = pod("alice").user().mem(3 * GI).build();
    assert_eq!(
        victims(&preempt(&c, &user, &[])),
        ("n1".into(), vec!["ph".into()])
    );
    let e = explain_with(&c, &Profile::jupyterhub(), &user, &[], &[]);
    let p = e.preemption.expect("explain reports the plan");
    assert_eq!(
        (p.node.as_str(), p.victims),
        ("n1", vec!["jhub/ph".to_string()])
    );
    // Bigger than every node: not helpful anywhere.
    let huge = pod("huge").user().mem(8 * GI).build();
    assert_eq!(
        preempt(&c, &huge, &[]),
        Preemption::NotHelpful(
            "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
                .into()
        )
    );
}

#[test]
fn fewest_victims_win_then_the_best_scored_node_then_the_youngest() {
    // a: one 4Gi placeholder; b: two 2Gi placeholders. The user needs 4Gi:
    // a needs 1 victim, b needs 2 → a.
    let mut c = cluster(&[("a", 4), ("b", 4)]);
    put(&mut c, placeholder("a-0", 4), "a", 10);
    put(&mut c, placeholder("b-0", 2), "b", 20);
    put(&mut c, placeholder("b-1", 2), "b", 30);
    let user = pod("alice").user().mem(4 * GI).build();
    assert_eq!(victims(&preempt(&c, &user, &[])).0, "a");

    // Equal victims everywhere. kube would evict the youngest placeholder
    // (on "new", still pulling the image); we prefer "old", which has the
    // user image and so ranks higher on the normal scores.
    let mut c = Cluster::default();
    c.upsert_node(
        &node("old")
            .capacity(4000, 4 * GI)
            .image("jupyter/scipy:1", 2_000_000_000)
            .build(),
    );
    c.upsert_node(&node("new").capacity(4000, 4 * GI).build());
    put(&mut c, placeholder("old-0", 4), "old", 10);
    put(&mut c, placeholder("new-0", 4), "new", 99);
    let user = pod("alice")
        .user()
        .mem(4 * GI)
        .image("jupyter/scipy:1")
        .build();
    assert_eq!(victims(&preempt(&c, &user, &[])).0, "old");
    // Without the image anywhere the normal scores tie, and kube's rule
    // applies: the youngest victims go.
    let plain = pod("alice").user().mem(4 * GI).build();
    assert_eq!(victims(&preempt(&c, &plain, &[])).0, "new");
}

#[test]
fn pdb_violations_count_and_are_avoided() {
    // a and b each hold one 4Gi placeholder; a PDB with no disruptions left
    // covers the placeholders labelled pool=protected (on a).
    let mut c = cluster(&[("a", 4), ("b", 4)]);
    put(
        &mut c,
        placeholder("a-0", 4).label("pool", "protected"),
        "a",
        99,
    );
    put(&mut c, placeholder("b-0", 4), "b", 10);
    let user = pod("alice").user().mem(4 * GI).build();
    let pdb = Pdb {
        namespace: "jhub".into(),
        name: "protect".into(),
        selector: Some(LabelSelector::equals("pool", "protected")),
        disruptions_allowed: 0,
        disrupted_pods: vec![],
    };
    // Without the PDB the younger victim (a-0) would go; with it, b.
    assert_eq!(victims(&preempt(&c, &user, &[])).0, "a");
    let p = preempt(&c, &user, std::slice::from_ref(&pdb));
    assert_eq!(victims(&p).0, "b");
    // When only a violating plan exists it is taken, and says so.
    let mut only_a = cluster(&[("a", 4)]);
    put(
        &mut only_a,
        placeholder("a-0", 4).label("pool", "protected"),
        "a",
        99,
    );
    match preempt(&only_a, &user, &[pdb]) {
        Preemption::Plan(plan) => assert_eq!(plan.pdb_violations, 1),
        other => panic!("{other:?}"),
    }
    // z2jh's placeholder PDB (minAvailable 0) allows every disruption.
}

#[test]
fn higher_priority_victims_are_avoided() {
    // a: an image-puller-like pod at −5; b: a placeholder at −10. The user
    // needs the whole node: kube picks the node whose most important victim
    // has the lowest priority → b.
    let mut c = cluster(&[("a", 4), ("b", 4)]);
    put(&mut c, pod("puller").priority(-5).mem(4 * GI), "a", 0);
    put(&mut c, placeholder("ph", 4), "b", 0);
    let user = pod("alice").user().mem(4 * GI).build();
    assert_eq!(
        victims(&preempt(&c, &user, &[])),
        ("b".into(), vec!["ph".into()])
    );
}

#[test]
fn nominated_pods_hold_their_room_against_lower_or_equal_priority() {
    let c = cluster(&[("n1", 4)]);
    let nominated = Nominated {
        uid: "alice".into(),
        priority: 0,
        node: 0,
        requests: [0, 3 * GI, 0],
    };
    let profile = Profile::jupyterhub();
    let mut scratch = Scratch::default();
    let placeholder = placeholder("ph", 2).build();
    let d = schedule_with_nominated(
        &c,
        &profile,
        &placeholder,
        &pod_requests(&placeholder),
        std::slice::from_ref(&nominated),
        &mut scratch,
        None,
    );
    assert_eq!(
        d.selected, None,
        "a lower-priority pod may not take the held room"
    );
    let bob = pod("bob").user().mem(2 * GI).build();
    let d = schedule_with_nominated(
        &c,
        &profile,
        &bob,
        &pod_requests(&bob),
        std::slice::from_ref(&nominated),
        &mut scratch,
        None,
    );
    assert_eq!(d.selected, None, "nor may an equal-priority pod");
    let vip = pod("vip").priority(100).mem(2 * GI).build();
    let d = schedule_with_nominated(
        &c,
        &profile,
        &vip,
        &pod_requests(&vip),
        std::slice::from_ref(&nominated),
        &mut scratch,
        None,
    );
    assert_eq!(
        d.selected,
        Some(0),
        "a higher-priority pod ignores the nomination"
    );
    let alice = pod("alice").user().mem(3 * GI).build();
    let d = schedule_with_nominated(
        &c,
        &profile,
        &alice,
        &pod_requests(&alice),
        &[nominated],
        &mut scratch,
        None,
    );
    assert_eq!(d.selected, Some(0), "the nominated pod itself fits");
}

#[test]
fn packing_preemption_moves_users_next_to_users() {
    // "users": 2 real users and 2 placeholders fill 16Gi; "empty" has room.
    let mut c = cluster(&[("users", 16), ("empty", 16)]);
    put(&mut c, pod("u1").user().mem(4 * GI), "users", 1);
    put(&mut c, pod("u2").user().mem(4 * GI), "users", 2);
    put(&mut c, placeholder("ph-0", 4), "users", 3);
    put(&mut c, placeholder("ph-1", 4), "users", 4);
    let profile = Profile::jupyterhub();
    let alice = pod("alice").user().mem(4 * GI).build();
    let mut scratch = Scratch::default();
    let d = schedule(&c, &profile, &alice, &mut scratch, None);
    let empty = c.node_index("empty").unwrap();
    assert_eq!(
        d.selected,
        Some(empty),
        "without packing preemption the user starts a new node"
    );
    let plan = crate::preemption::packing_plan(
        &c,
        &profile,
        &alice,
        &pod_requests(&alice),
        &scratch,
        &[],
        empty,
    )
    .expect("a node with more real users fits after evicting a placeholder");
    assert_eq!(plan.node_name, "users");
    // Reprieve keeps the older placeholder: only the youngest goes.
    assert_eq!(
        plan.victims
            .iter()
            .map(|v| v.name.as_str())
            .collect::<Vec<_>>(),
        ["ph-1"]
    );
    // A placeholder is never packed this way, and real users are never victims.
    let ph = placeholder("ph-new", 4).build();
    let d = schedule(&c, &profile, &ph, &mut scratch, None);
    assert!(
        crate::preemption::packing_plan(
            &c,
            &profile,
            &ph,
            &pod_requests(&ph),
            &scratch,
            &[],
            d.selected.unwrap()
        )
        .is_none()
    );
    let mut full = cluster(&[("users", 8), ("empty", 16)]);
    put(&mut full, pod("u1").user().mem(4 * GI), "users", 1);
    put(&mut full, pod("u2").user().mem(4 * GI), "users", 2);
    let d = schedule(&full, &profile, &alice, &mut scratch, None);
    assert!(
        crate::preemption::packing_plan(
            &full,
            &profile,
            &alice,
            &pod_requests(&alice),
            &scratch,
            &[],
            d.selected.unwrap()
        )
        .is_none()
    );
}

#[test]
fn a_second_preemptor_does_not_count_on_the_first_ones_victims() {
    // n1: 8Gi, four 2Gi placeholders. alice (2Gi) evicts the youngest.
    let mut c = cluster(&[("n1", 8)]);
    for (k, name) in ["ph-0", "ph-1", "ph-2", "ph-3"].iter().enumerate() {
        put(
            &mut c,
            placeholder(name, 2),
            "n1",
            i64::try_from(k).unwrap(),
        );
    }
    let alice = pod("alice").user().mem(2 * GI).build();
    assert_eq!(victims(&preempt(&c, &alice, &[])).1, ["ph-3"]);
    // alice is nominated to n1 and her victim is still terminating (the
    // daemon marks it when it plans). bob (2Gi) plans with alice's 2Gi held
    // and ph-3's room free (it goes anyway): without ph-0..ph-2, 2 + 2 = 4Gi
    // used; adding back ph-0 (6Gi) and ph-1 (8Gi) keeps them, ph-2 (10Gi)
    // must go. One victim, and not ph-3 again (issue 12: each victim was
    // deleted and announced once per preemptor that came meanwhile).
    assert!(c.set_terminating("ph-3", Terminating::ByPreemption));
    let nominated = Nominated {
        uid: "alice".into(),
        priority: 0,
        node: 0,
        requests: [0, 2 * GI, 0],
    };
    let profile = Profile::jupyterhub();
    let bob = pod("bob").user().mem(2 * GI).build();
    let mut scratch = Scratch::default();
    let d = schedule_with_nominated(
        &c,
        &profile,
        &bob,
        &pod_requests(&bob),
        &[nominated],
        &mut scratch,
        None,
    );
    assert_eq!(d.selected, None);
    let p = plan(&c, &profile, &bob, &pod_requests(&bob), &scratch, &[]);
    assert_eq!(victims(&p), ("n1".into(), vec!["ph-2".into()]));
}

#[test]
fn terminating_pods_are_never_victims() {
    // n1: 4Gi with two 2Gi placeholders; the younger is being deleted
    // (whoever deleted it). alice (2Gi): with ph-young's room free, 0 + 2 =
    // 2Gi; ph-old added back makes 4Gi ≤ 4Gi: kept. No victim: alice is
    // nominated to n1 and waits for ph-young to go (before: ph-young, the
    // youngest, was evicted again).
    for terminating in [Terminating::Yes, Terminating::ByPreemption] {
        let mut c = cluster(&[("n1", 4)]);
        put(&mut c, placeholder("ph-old", 2), "n1", 1);
        put(&mut c, placeholder("ph-young", 2), "n1", 2);
        assert!(c.set_terminating("ph-young", terminating));
        let alice = pod("alice").user().mem(2 * GI).build();
        assert_eq!(
            victims(&preempt(&c, &alice, &[])),
            ("n1".into(), vec![]),
            "{terminating:?}"
        );
        // 3Gi does not fit beside ph-old (5Gi): ph-old is the victim, never
        // ph-young.
        let big = pod("big").user().mem(3 * GI).build();
        assert_eq!(
            victims(&preempt(&c, &big, &[])),
            ("n1".into(), vec!["ph-old".into()]),
            "{terminating:?}"
        );
    }
}

#[test]
fn a_nominated_pod_waits_while_its_nodes_preemption_victims_terminate() {
    // kube's PodEligibleToPreemptOthers. alice (priority 0) is nominated to
    // n1, which holds one 4Gi pod; alice asks for 4Gi, so n1 is full.
    // (the pod's priority, how it terminates, n1 cordoned, alice waits)
    let cases = [
        (-10, Terminating::ByPreemption, false, true),
        // Deleted by someone else: preempting again is allowed.
        (-10, Terminating::Yes, false, false),
        (-10, Terminating::No, false, false),
        // Not lower priority than alice: not her victim.
        (0, Terminating::ByPreemption, false, false),
        // n1 cannot take her any more whatever is evicted: look elsewhere.
        (-10, Terminating::ByPreemption, true, false),
    ];
    for (priority, terminating, cordoned, waits) in cases {
        let mut c = Cluster::default();
        let n1 = node("n1").capacity(4000, 4 * GI);
        c.upsert_node(&if cordoned { n1.cordoned() } else { n1 }.build());
        put(&mut c, placeholder("ph", 4).priority(priority), "n1", 0);
        c.set_terminating("ph", terminating);
        let alice = pod("alice").user().mem(4 * GI).build();
        let mut scratch = Scratch::default();
        let d = schedule(&c, &Profile::jupyterhub(), &alice, &mut scratch, None);
        assert_eq!(d.selected, None);
        assert_eq!(
            waits_for_victims(&c, &alice, 0, &scratch),
            waits,
            "{priority} {terminating:?} cordoned {cordoned}"
        );
    }
}

mod extreme_sums {
    //! Preemption's arithmetic with requests at the edges: the plan must be
    //! right by the true (u128) sums, whatever the node's saturated sums say.
    use super::*;
    use crate::testing::node;
    use proptest::prelude::*;

    const GPU: &str = "example.com/gpu";

    /// Amounts at the edges: up to what converters let through (2^63 − 1),
    /// 2^63 millicores, and beyond, up to u64::MAX.
    fn amount() -> impl Strategy<Value = u64> {
        prop_oneof![
            prop::sample::select(vec![
                0,
                1,
                4000,
                512 << 20,
                i64::MAX as u64,
                1 << 63,
                u64::MAX - 1,
                u64::MAX,
            ]),
            any::<u64>(),
        ]
    }

    fn amounts() -> impl Strategy<Value = [u64; 3]> {
        [amount(), amount(), amount()]
    }

    /// cpu, memory and GPUs; placeholders (-10) are victims of a user (0),
    /// other pods (0) stay.
    fn heavy(name: &str, priority: i32, [cpu, mem, gpu]: [u64; 3]) -> PodSpec {
        pod(name)
            .placeholder()
            .priority(priority)
            .req(cpu, mem)
            .extended(GPU, gpu)
            .build()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn plans_leave_room_by_the_true_sums(
            alloc in amounts(),
            pods in prop::collection::vec((any::<bool>(), amounts()), 0..6),
            want in amounts(),
        ) {
            let mut c = Cluster::default();
            c.upsert_node(
                &node("n1")
                    .capacity(alloc[0], alloc[1])
                    .extended(GPU, alloc[2])
                    .build(),
            );
            for (k, &(victim, a)) in pods.iter().enumerate() {
                let mut p = heavy(&format!("p{k}"), if victim { -10 } else { 0 }, a);
                p.start_time = k as i64;
                c.add_pod(&p, "n1");
            }
            let user = pod("alice").user().req(want[0], want[1]).extended(GPU, want[2]).build();
            let profile = Profile::jupyterhub();
            let mut scratch = Scratch::default();
            if schedule(&c, &profile, &user, &mut scratch, None).selected.is_some() {
                return Ok(());
            }
            // Whether the user fits beside `staying` pods, by the true sums.
            let fits_beside = |staying: &dyn Fn(usize) -> bool| {
                (0..3).all(|r| {
                    let used: u128 = pods
                        .iter()
                        .enumerate()
                        .filter(|&(k, _)| staying(k))
                        .map(|(_, (_, a))| u128::from(a[r]))
                        .sum();
                    want[r] == 0 || used + u128::from(want[r]) <= u128::from(alloc[r])
                })
            };
            match plan(&c, &profile, &user, &pod_requests(&user), &scratch, &[]) {
                Preemption::Plan(plan) => {
                    let evicted = |k: usize| plan.victims.iter().any(|v| v.name == format!("p{k}"));
                    prop_assert!(plan.victims.iter().all(|v| v.priority == -10));
                    prop_assert!(fits_beside(&|k| !evicted(k)), "victims {:?}", plan.victims);
                }
                Preemption::NotHelpful(why) => {
                    // Not even evicting every placeholder makes room.
                    prop_assert!(!fits_beside(&|k| !pods[k].0), "{}", why);
                }
            }
        }
    }
}
