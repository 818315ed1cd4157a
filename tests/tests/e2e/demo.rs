//! The seed's autoscaling demonstration (`user-scheduler demo`), replayed through the same
//! library code on a fast sandbox clock, with the seed's observed outcome asserted at every
//! step: where the users and placeholders are, how many user nodes exist, that the scheduler
//! preempted placeholders and the autoscaler scaled up and down when the seed says so.

use std::time::Duration;

use user_scheduler::demo::{Demo, DemoOptions, STEPS, StepReport, render};

/// (users, placeholders) per user node, in node creation order.
fn layout(r: &StepReport) -> Vec<(usize, usize)> {
    r.snapshot
        .nodes
        .iter()
        .map(|n| (n.users.len(), n.placeholders.len()))
        .collect()
}

fn sorted(mut v: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    v.sort_unstable();
    v
}

fn scale_ups(r: &StepReport) -> usize {
    r.autoscaler
        .iter()
        .filter(|(_, l)| l.starts_with("scale-up"))
        .map(|(_, l)| {
            // "scale-up: user-pool +N node(s) ..."
            l.split('+')
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0)
        })
        .sum()
}

fn scale_downs(r: &StepReport) -> usize {
    r.autoscaler
        .iter()
        .filter(|(_, l)| l.starts_with("scale-down: removed"))
        .count()
}

fn check(r: &StepReport) {
    let shown = render(r);
    let n = r.step.number;
    // What operators read: no word of the project's own history.
    assert!(!shown.contains("seed"), "step {n}: project jargon\n{shown}");
    assert!(r.settled, "step {n} settles\n{shown}");
    assert!(
        r.snapshot.pending.is_empty(),
        "step {n}: nothing pending\n{shown}"
    );
    assert!(
        r.snapshot.elsewhere.is_empty(),
        "step {n}: no user or placeholder pod on the core node\n{shown}"
    );
    for node in &r.snapshot.nodes {
        assert!(
            node.users.len() + node.placeholders.len() <= 8,
            "step {n}: at most 8 pods per node\n{shown}"
        );
    }
    let placeholders_preempted = r.preempted.len();
    match n {
        // 4 placeholders: the autoscaler adds a node for them.
        1 => {
            assert_eq!(layout(r), [(0, 4)], "step 1\n{shown}");
            assert_eq!(scale_ups(r), 1, "step 1: one node added\n{shown}");
        }
        // 4 users: one node full, users next to the placeholders, no preemption.
        2 => {
            assert_eq!(layout(r), [(4, 4)], "step 2\n{shown}");
            assert_eq!(placeholders_preempted, 0, "step 2\n{shown}");
            assert_eq!(scale_ups(r), 0, "step 2\n{shown}");
        }
        // 8 users: the placeholders are evicted for the users, go Pending, the autoscaler
        // adds a node and they land there.
        3 => {
            assert_eq!(layout(r), [(8, 0), (0, 4)], "step 3\n{shown}");
            assert_eq!(
                placeholders_preempted, 4,
                "step 3: 4 placeholders preempted\n{shown}"
            );
            assert_eq!(scale_ups(r), 1, "step 3: one node added\n{shown}");
        }
        // 0 users: one node at 0/8 and one at 4/8.
        4 => {
            assert_eq!(layout(r), [(0, 0), (0, 4)], "step 4\n{shown}");
            assert_eq!(scale_downs(r), 0, "step 4: nothing removed yet\n{shown}");
        }
        // 4 users: packed onto the node with the placeholders (the fuller one), not spread to
        // the empty node.
        5 => {
            assert_eq!(layout(r), [(0, 0), (4, 4)], "step 5\n{shown}");
            assert_eq!(placeholders_preempted, 0, "step 5\n{shown}");
        }
        // The empty node goes first (the autoscaler's 10 minutes); then 8 users: the
        // placeholders are evicted so that users pack with users, and get a new node.
        6 => {
            assert_eq!(scale_downs(r), 1, "step 6: the empty node removed\n{shown}");
            assert_eq!(layout(r), [(8, 0), (0, 4)], "step 6\n{shown}");
            assert_eq!(placeholders_preempted, 4, "step 6\n{shown}");
            assert_eq!(scale_ups(r), 1, "step 6\n{shown}");
        }
        // 28 users: the autoscaler adds two more nodes.
        7 => {
            assert_eq!(scale_ups(r), 2, "step 7: two nodes added\n{shown}");
            assert_eq!(
                sorted(layout(r)),
                [(4, 4), (8, 0), (8, 0), (8, 0)],
                "step 7\n{shown}"
            );
        }
        // 0 users: the autoscaler scales down to the one node the placeholders need.
        8 => {
            assert!(scale_downs(r) >= 3, "step 8: nodes removed\n{shown}");
            assert_eq!(layout(r), [(0, 4)], "step 8\n{shown}");
        }
        _ => unreachable!(),
    }
}

// The seed's eight steps, replayed with the demo's own code at 100x (at 300x
// a loaded 2-core machine once fell far enough behind the sandbox clock that
// the autoscaler saw step 7's users in two batches).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_seed_demonstration_has_the_seed_outcome_at_every_step() {
    let run = async {
        let mut demo = Demo::start(DemoOptions {
            speed: 100.0,
            seed: 7,
            ..DemoOptions::default()
        })
        .await
        .expect("the demo starts");
        let mut shown = Vec::new();
        for step in STEPS {
            let report = demo.run_step(step).await.expect("the step runs");
            check(&report);
            shown.push(render(&report));
        }
        demo.stop().await.expect("the demo stops cleanly");
        readme_excerpt_is_what_the_demo_prints(&shown);
    };
    tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the demonstration finishes within three minutes");
}

/// README's demo excerpt is abridged, but what it shows is printed: every
/// step header it gives in full and every user-node row, under the step it
/// is shown in. (Autoscaler timestamps and counts vary with the machine's
/// load and are not compared; nor are headers abridged with "...".)
fn readme_excerpt_is_what_the_demo_prints(shown: &[String]) {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let section = &readme[readme
        .find("## The demonstration")
        .expect("the demo section")..];
    let block = section
        .split("```")
        .nth(1)
        .expect("the excerpt is the section's first code block");
    let mut step: Option<usize> = None;
    let mut compared = 0;
    for line in block.lines() {
        if let Some(rest) = line.strip_prefix("── Step ") {
            let n: usize = rest
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .expect("a step number");
            step = Some(n);
            let printed = shown[n - 1].lines().next().unwrap();
            if !line.contains("...") {
                assert_eq!(line, printed, "README's header of step {n}");
                compared += 1;
            }
        } else if line.trim_start().starts_with("user-pool-") {
            let n = step.expect("a node row under a step header");
            assert!(
                shown[n - 1].lines().any(|l| l == line),
                "README shows under step {n}\n{line}\nbut the demo printed\n{}",
                shown[n - 1]
            );
            compared += 1;
        }
    }
    assert!(compared >= 10, "only {compared} lines compared");
}
