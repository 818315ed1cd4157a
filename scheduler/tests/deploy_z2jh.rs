//! The z2jh drop-in: the KubeSchedulerConfiguration the z2jh chart renders
//! with default values (fixture `z2jh-config.yaml`, release and namespace
//! `jhub`) loads, keeps z2jh's weights, and a decision on a small cluster
//! picks the node those weights say: node affinity first, then MostAllocated,
//! then image locality, each node's total being the weighted sum.

use std::path::PathBuf;

use score::profile::{ScorePlugin, ScoringStrategy};
use user_scheduler::config;
use user_scheduler::explain::{ExplainInput, explain};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn the_z2jh_config_loads_with_its_weights_and_lock() {
    let cfg = config::load(&fixture("z2jh-config.yaml")).expect("the z2jh config loads");
    assert_eq!(cfg.profiles.len(), 1);
    let p = &cfg.profiles[0];
    assert_eq!(p.scheduler_name, "jhub-user-scheduler");
    for (plugin, weight) in [
        (ScorePlugin::NodeAffinity, 14631),
        (ScorePlugin::InterPodAffinity, 1331),
        (ScorePlugin::NodeResourcesFit, 121),
        (ScorePlugin::ImageLocality, 11),
        // Left at kube's default weight by the chart.
        (ScorePlugin::TaintToleration, 3),
    ] {
        assert_eq!(p.score_weight(plugin), Some(weight), "{}", plugin.name());
    }
    assert_eq!(p.fit.strategy, ScoringStrategy::MostAllocated);
    let le = &cfg.leader_election;
    assert!(le.leader_elect);
    assert_eq!(le.resource_lock, "leases");
    assert_eq!(le.resource_name, "user-scheduler-lock");
    assert_eq!(le.resource_namespace, "jhub");
}

#[test]
fn the_z2jh_weights_pick_user_nodes_then_the_fullest_then_the_image() {
    let cfg = config::load(&fixture("z2jh-config.yaml")).unwrap();
    let profile = &cfg.profiles[0];
    let report = explain(&ExplainInput {
        cluster: fixture("z2jh-weights-cluster.yaml"),
        pod: fixture("z2jh-weights-pod.yaml"),
        config: Some(fixture("z2jh-config.yaml")),
    })
    .expect("explains");
    let e = report.explanation;
    assert_eq!(e.pod, "jhub/jupyter-carol");

    // Each feasible node's total is Σ weight × normalized score, with the
    // config's weights.
    let mut totals = Vec::new();
    for n in &e.nodes {
        assert!(n.feasible, "{}: {:?}", n.name, n.reasons);
        let mut sum = 0;
        for (plugin, score) in &n.scores {
            let weight = ScorePlugin::from_name(plugin)
                .and_then(|p| profile.score_weight(p))
                .unwrap_or_else(|| panic!("{plugin} is not weighted by the config"));
            sum += weight * score;
        }
        assert_eq!(n.total, Some(sum), "{}", n.name);
        totals.push((n.name.as_str(), sum));
    }
    let score_of = |node: &str, plugin: &str| {
        e.nodes
            .iter()
            .find(|n| n.name == node)
            .and_then(|n| n.scores.iter().find(|(p, _)| *p == plugin))
            .map(|(_, s)| *s)
            .unwrap()
    };
    // The core node is the fullest and has the image, but node affinity
    // (14631) outweighs everything after it.
    assert!(score_of("core-full", "NodeResourcesFit") > score_of("user-half", "NodeResourcesFit"));
    assert!(score_of("core-full", "ImageLocality") > 0);
    // user-quarter-image has the image and user-half has not; MostAllocated
    // (121) outweighs image locality (11) for this difference in fullness.
    assert!(
        score_of("user-quarter-image", "ImageLocality") > score_of("user-half", "ImageLocality")
    );

    totals.sort_by_key(|(_, t)| std::cmp::Reverse(*t));
    let order: Vec<_> = totals.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        order,
        vec!["user-half", "user-quarter-image", "user-empty", "core-full"]
    );
    assert_eq!(e.selected.as_deref(), Some("user-half"));
}
