//! The FailedScheduling message, in kube's grammar (`framework/types.go`
//! `FitError.Error`):
//!
//! `0/<N> nodes are available: <count> <reason>, <count> <reason>.` with the
//! entries sorted as Go's `sort.Strings` sorts them (byte order, so "10 …"
//! comes before "2 …"), then ` <postfilter message>` when preemption said
//! something. A cluster without nodes gives "no nodes available to schedule pods".

/// Builds the message from the reason histogram (reason text, node count).
#[must_use]
pub fn failed_scheduling(
    total_nodes: usize,
    histogram: &[(String, usize)],
    postfilter: Option<&str>,
) -> String {
    if total_nodes == 0 {
        return "no nodes available to schedule pods".into();
    }
    let mut entries: Vec<String> = histogram
        .iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    entries.sort();
    let mut message = format!(
        "0/{total_nodes} nodes are available: {}.",
        entries.join(", ")
    );
    if let Some(post) = postfilter.filter(|p| !p.is_empty()) {
        message.push(' ');
        message.push_str(post);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_table() {
        let h = |v: &[(&str, usize)]| {
            v.iter()
                .map(|(r, c)| ((*r).to_string(), *c))
                .collect::<Vec<_>>()
        };
        let cases = [
            (
                "kube's example",
                5,
                h(&[
                    (
                        "node(s) had untolerated taint {hub.jupyter.org/dedicated: core}",
                        3,
                    ),
                    ("Insufficient memory", 2),
                ]),
                Some(
                    "preemption: 0/5 nodes are available: 2 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling.",
                ),
                "0/5 nodes are available: 2 Insufficient memory, 3 node(s) had untolerated taint {hub.jupyter.org/dedicated: core}. preemption: 0/5 nodes are available: 2 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling.",
            ),
            (
                // byte order: "10 ..." sorts before "2 ...".
                "sort.Strings order",
                12,
                h(&[("Insufficient cpu", 2), ("Too many pods", 10)]),
                None,
                "0/12 nodes are available: 10 Too many pods, 2 Insufficient cpu.",
            ),
            (
                "no nodes",
                0,
                vec![],
                None,
                "no nodes available to schedule pods",
            ),
        ];
        for (name, n, hist, post, want) in cases {
            assert_eq!(failed_scheduling(n, &hist, post), want, "{name}");
        }
    }
}
