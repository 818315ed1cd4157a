//! The decision policy's steps, one case each: which verdict, and why.

use crate::Cluster;
use crate::decide::{Inputs, NominationChange, PreemptionKind, Verdict, decide};
use crate::model::{PodSpec, Terminating};
use crate::pod::pod_requests;
use crate::profile::Profile;
use crate::schedule::{Nominated, Scratch};
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

fn nominated(c: &Cluster, p: &PodSpec, node: &str) -> Nominated {
    let r = pod_requests(p);
    Nominated {
        uid: p.uid.clone(),
        priority: p.priority,
        node: c.node_index(node).expect("node"),
        requests: [r.cpu_milli, r.memory, r.ephemeral_storage],
    }
}

fn run(c: &Cluster, profile: &Profile, p: &PodSpec, nominations: &[Nominated]) -> Verdict {
    decide(
        &Inputs {
            cluster: c,
            profile,
            pod: p,
            requests: &pod_requests(p),
            nominated: nominations,
            pdbs: &[],
        },
        &mut Scratch::default(),
        None,
    )
}

fn packing() -> Profile {
    let mut profile = Profile::jupyterhub();
    profile.packing_preemption = true;
    profile
}

/// Two nodes for packing: "users" (16Gi) holds 2 real users and 2
/// placeholders of 4Gi each (full); "empty" (16Gi) has room.
fn users_and_empty() -> Cluster {
    let mut c = cluster(&[("users", 16), ("empty", 16)]);
    put(&mut c, pod("u1").user().mem(4 * GI), "users", 1);
    put(&mut c, pod("u2").user().mem(4 * GI), "users", 2);
    put(&mut c, placeholder("ph-0", 4), "users", 3);
    put(&mut c, placeholder("ph-1", 4), "users", 4);
    c
}

#[test]
fn the_best_node_is_assumed_with_its_score() {
    let c = users_and_empty();
    let alice = pod("alice").user().mem(4 * GI).build();
    match run(&c, &Profile::jupyterhub(), &alice, &[]) {
        Verdict::Assume {
            node,
            score,
            claims,
            ..
        } => {
            assert_eq!(c.node_name(node), "empty", "users is full");
            assert!(score.is_some());
            assert!(claims.is_empty());
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn a_nominated_pod_goes_to_its_nominated_node_even_when_another_scores_higher() {
    // "small" (8Gi) holds a real user of 2Gi; "big" (16Gi) is empty. The
    // colocation bonus ranks "small" first; alice was nominated to "big".
    let mut c = cluster(&[("small", 8), ("big", 16)]);
    put(&mut c, pod("u1").user().mem(2 * GI), "small", 1);
    let alice = pod("alice").user().mem(2 * GI).build();
    let profile = Profile::jupyterhub();
    let Verdict::Assume { node, .. } = run(&c, &profile, &alice, &[]) else {
        panic!("fits")
    };
    assert_eq!(c.node_name(node), "small", "without a nomination");
    let own = nominated(&c, &alice, "big");
    match run(&c, &profile, &alice, &[own]) {
        Verdict::Assume { node, score, .. } => {
            assert_eq!(c.node_name(node), "big");
            assert_eq!(score, None, "not the best-scored node");
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn packing_preemption_evicts_placeholders_next_to_real_users() {
    let c = users_and_empty();
    let alice = pod("alice").user().mem(4 * GI).build();
    match run(&c, &packing(), &alice, &[]) {
        Verdict::Preempt {
            plan,
            kind,
            message,
        } => {
            assert_eq!(kind, PreemptionKind::Packing);
            assert_eq!(plan.node_name, "users");
            // Reprieve keeps the older placeholder: 16 − 4·3 = 4Gi ≥ 4Gi.
            assert_eq!(plan.victims.len(), 1);
            assert_eq!(plan.victims[0].name, "ph-1");
            assert_eq!(
                message,
                "packing: evicting 1 placeholder(s) on node users to place this user next to real users"
            );
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn a_nominated_pod_is_not_packed_again() {
    // Once nominated (by packing or preemption), the pod binds where it fits.
    let c = users_and_empty();
    let alice = pod("alice").user().mem(4 * GI).build();
    let own = nominated(&c, &alice, "empty");
    assert!(matches!(
        run(&c, &packing(), &alice, &[own]),
        Verdict::Assume { .. }
    ));
}

#[test]
fn a_pod_that_fits_nowhere_preempts_lower_priority_pods() {
    let mut c = cluster(&[("n1", 4)]);
    put(&mut c, placeholder("ph", 4), "n1", 0);
    let alice = pod("alice").user().mem(GI).build();
    match run(&c, &Profile::jupyterhub(), &alice, &[]) {
        Verdict::Preempt {
            plan,
            kind,
            message,
        } => {
            assert_eq!(kind, PreemptionKind::Fit);
            assert_eq!(plan.victims[0].name, "ph");
            assert_eq!(message, "0/1 nodes are available: 1 Insufficient memory.");
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn a_pod_waits_while_its_victims_terminate() {
    // alice was nominated to n1 and its placeholder is terminating there:
    // no second round of evictions (kube's PodEligibleToPreemptOthers).
    let mut c = cluster(&[("n1", 4)]);
    put(&mut c, placeholder("ph", 4), "n1", 0);
    put(&mut c, pod("bob").user().mem(GI), "n1", 1);
    c.set_terminating("ph", Terminating::ByPreemption);
    let alice = pod("alice").user().mem(4 * GI).build();
    let own = nominated(&c, &alice, "n1");
    match run(&c, &Profile::jupyterhub(), &alice, &[own]) {
        Verdict::Unschedulable {
            message,
            preemption_attempted,
            nomination,
        } => {
            assert!(
                message.ends_with(
                    "preemption: not eligible due to a terminating pod on the nominated node."
                ),
                "{message}"
            );
            assert!(!preemption_attempted);
            assert_eq!(nomination, NominationChange::Keep);
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn when_preemption_cannot_help_the_nomination_is_cleared() {
    // Equal priority: no victims. The verdict says to drop a nomination.
    let mut c = cluster(&[("n1", 4)]);
    put(&mut c, pod("bob").user().mem(4 * GI), "n1", 0);
    let alice = pod("alice").user().mem(GI).build();
    assert_eq!(
        run(&c, &Profile::jupyterhub(), &alice, &[]),
        Verdict::Unschedulable {
            message: "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are \
                      available: 1 No preemption victims found for incoming pod."
                .into(),
            preemption_attempted: true,
            nomination: NominationChange::Clear,
        }
    );
    // preemptionPolicy: Never is not an attempt (kube's metric).
    let mut never = alice.clone();
    never.preemption_never = true;
    assert!(matches!(
        run(&c, &Profile::jupyterhub(), &never, &[]),
        Verdict::Unschedulable {
            preemption_attempted: false,
            ..
        }
    ));
}

#[test]
fn room_held_for_a_nominated_pod_of_higher_priority_is_not_taken() {
    // n1 (4Gi) is empty but held for carol (priority 10, 4Gi): alice (0)
    // fits nowhere else, and preemption finds nothing to evict.
    let c = cluster(&[("n1", 4)]);
    let mut carol = pod("carol").user().mem(4 * GI).build();
    carol.priority = 10;
    let held = nominated(&c, &carol, "n1");
    let alice = pod("alice").user().mem(GI).build();
    assert!(matches!(
        run(
            &c,
            &Profile::jupyterhub(),
            &alice,
            std::slice::from_ref(&held)
        ),
        Verdict::Unschedulable { .. }
    ));
    // carol herself is not held back by her own nomination.
    assert!(matches!(
        run(&c, &Profile::jupyterhub(), &carol, &[held]),
        Verdict::Assume { .. }
    ));
}
