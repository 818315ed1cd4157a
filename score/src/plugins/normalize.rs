//! Score normalizations (kube `plugins/helper/normalize_score.go` and the
//! InterPodAffinity min-max normalization).

use super::MAX_NODE_SCORE;

/// kube's `DefaultNormalizeScore`: scale so the highest raw score becomes 100
/// (`100 × s / max`, integer division); `reverse` then flips it to `100 − x`.
/// When every raw score is 0 the result is 0, or 100 when reversed.
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    for s in scores {
        *s = default_normalized(*s, max, reverse);
    }
}

/// One score of [`default_normalize`], given the highest raw score `max` of
/// all nodes (a decision that knows the raw scores per node class normalizes
/// each class once with this).
#[must_use]
pub fn default_normalized(raw: i64, max: i64, reverse: bool) -> i64 {
    let max = max.max(0);
    if max == 0 {
        return if reverse { MAX_NODE_SCORE } else { raw };
    }
    let s = MAX_NODE_SCORE * raw / max;
    if reverse { MAX_NODE_SCORE - s } else { s }
}

/// InterPodAffinity's min-max normalization, in floating point as kube does:
/// `int(100 × ((s − min) / (max − min)))`, all 0 when max == min.
pub fn min_max_normalize(scores: &mut [i64]) {
    let (Some(min), Some(max)) = (scores.iter().copied().min(), scores.iter().copied().max())
    else {
        return;
    };
    let diff = max - min;
    for s in scores {
        *s = if diff > 0 {
            #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
            let v = (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / diff as f64)) as i64;
            v
        } else {
            0
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_normalize_table() {
        // (raw, reverse, expected)
        let cases: &[(&[i64], bool, &[i64])] = &[
            // max 200: 100×50/200 = 25, 100×200/200 = 100, 0.
            (&[50, 200, 0], false, &[25, 100, 0]),
            // reversed: 100 − 25 = 75, 0, 100.
            (&[50, 200, 0], true, &[75, 0, 100]),
            // all zero: 0, or 100 reversed.
            (&[0, 0], false, &[0, 0]),
            (&[0, 0], true, &[100, 100]),
            // truncation: 100×1/3 = 33.
            (&[1, 3], false, &[33, 100]),
        ];
        for (raw, reverse, want) in cases {
            let mut s = raw.to_vec();
            default_normalize(&mut s, *reverse);
            assert_eq!(&s, want, "{raw:?} reverse={reverse}");
        }
    }

    #[test]
    fn min_max_table() {
        let cases: &[(&[i64], &[i64])] = &[
            // min −10, max 10, diff 20: (−10) → 0, 0 → 50, 10 → 100.
            (&[-10, 0, 10], &[0, 50, 100]),
            // 100 × (1/3) = 33.33 → 33.
            (&[0, 1, 3], &[0, 33, 100]),
            (&[5, 5], &[0, 0]),
        ];
        for (raw, want) in cases {
            let mut s = raw.to_vec();
            min_max_normalize(&mut s);
            assert_eq!(&s, want, "{raw:?}");
        }
    }
}
