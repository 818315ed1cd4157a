//! ImageLocality (kube `plugins/imagelocality/image_locality.go`).
//!
//! For every container image (init and regular) present on the node, add
//! `int64(size × nodesWithImage / totalNodes)` (computed in floating point, as
//! kube does, so images on few nodes count less); then clamp the sum to
//! `[23 MiB, 1000 MiB × containers]` and scale to 0..=100:
//! `100 × (sum − 23 MiB) / (1000 MiB × containers − 23 MiB)`. Image names are
//! normalized by appending `:latest` when they have neither tag nor digest.
//!
//! Huge images saturate where kube's int64 would wrap: a contribution beyond
//! `i64::MAX` is `i64::MAX` (Go's conversion of such a float is undefined),
//! and the sum saturates (kube's `sum +=` wraps negative and the clamp then
//! gives 0). Either way the sum is far above the ceiling, and the node that
//! holds the images scores 100, as kube's clamp intends.

use super::MAX_NODE_SCORE;

const MB: i64 = 1024 * 1024;
const MIN_THRESHOLD: i64 = 23 * MB;
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// kube's `normalizedImageName`.
#[must_use]
pub fn normalized_image_name(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || last.contains('@') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// One image's contribution: `int64(float64(size) × spread)`, at most
/// `i64::MAX` (a float-to-integer `as` saturates).
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
pub(crate) fn scaled(size: u64, nodes_with_image: u32, total_nodes: usize) -> i64 {
    let spread = f64::from(nodes_with_image) / total_nodes as f64;
    (size as f64 * spread) as i64
}

/// The sum of contributions, saturating (see the module docs).
pub(crate) fn sum(contributions: impl IntoIterator<Item = i64>) -> i64 {
    contributions.into_iter().fold(0, i64::saturating_add)
}

/// The score from the summed contributions and the number of containers.
pub(crate) fn score(sum: i64, containers: usize) -> i64 {
    let containers = i64::try_from(containers.max(1)).unwrap_or(i64::MAX);
    let max_threshold = MAX_CONTAINER_THRESHOLD.saturating_mul(containers);
    let sum = sum.clamp(MIN_THRESHOLD, max_threshold);
    // In i128, 100 × (sum − 23 MiB) cannot overflow; the quotient is 0..=100.
    let scaled = i128::from(MAX_NODE_SCORE) * i128::from(sum - MIN_THRESHOLD)
        / i128::from(max_threshold - MIN_THRESHOLD);
    i64::try_from(scaled).unwrap_or(MAX_NODE_SCORE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized() {
        let cases = [
            ("nginx", "nginx:latest"),
            ("nginx:1.21", "nginx:1.21"),
            ("registry:5000/nginx", "registry:5000/nginx:latest"),
            (
                "quay.io/jupyter/base@sha256:abc",
                "quay.io/jupyter/base@sha256:abc",
            ),
        ];
        for (name, want) in cases {
            assert_eq!(normalized_image_name(name), want);
        }
    }

    #[test]
    fn score_table() {
        let gb2: u64 = 2_000_000_000;
        let cases = [
            // a 2 GB image on every node (spread 1), one container: sum 2e9 >
            // 1000 MiB, clamped to 1000 MiB → 100.
            ("big image everywhere", scaled(gb2, 10, 10), 1, 100),
            // the same image on 1 of 10 nodes: 2e9 × 0.1 = 200000000;
            // 100 × (200000000 − 24117248) / (1048576000 − 24117248) = 17 (17.17).
            ("big image on few nodes", scaled(gb2, 1, 10), 1, 17),
            // nothing present: clamped up to 23 MiB → 0.
            ("no image", 0, 1, 0),
            // two containers double the ceiling: 100 × (1048576000 − 24117248) /
            // (2097152000 − 24117248) = 49 (49.4).
            ("two containers, one image", 1_048_576_000, 2, 49),
            // 5e18 bytes on every node: 5e18 > 1000 MiB, clamped → 100.
            (
                "a 5e18-byte image",
                scaled(5_000_000_000_000_000_000, 1, 1),
                1,
                100,
            ),
            // two containers of it: 5e18 + 5e18 = 1e19 > i64::MAX saturates
            // (kube's int64 sum wraps negative and scores 0) → 100.
            (
                "two containers of a 5e18-byte image",
                sum([scaled(5_000_000_000_000_000_000, 1, 1); 2]),
                2,
                100,
            ),
            // u64::MAX bytes: the contribution saturates at i64::MAX → 100.
            ("a u64::MAX-byte image", scaled(u64::MAX, 3, 3), 1, 100),
            // i64::MAX three times, over a huge container count: → 100.
            ("saturated sum", sum([i64::MAX; 3]), usize::MAX, 100),
        ];
        for (name, sum, containers, want) in cases {
            assert_eq!(score(sum, containers), want, "{name}");
        }
    }
}
