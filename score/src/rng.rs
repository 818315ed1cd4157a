//! A small seedable random number generator.
//!
//! [`SplitMix64`] is Sebastiano Vigna's public-domain SplitMix64 (the
//! generator Java's `SplittableRandom` uses, and the usual seeder of the
//! xoshiro family): a Weyl sequence with increment `0x9E3779B97F4A7C15`,
//! finalised by two xor-shift-multiply rounds. It is fast, passes BigCrush,
//! and is fully determined by its 64-bit seed, which is what tie-breaking and
//! the synthetic cluster generator need. It is not cryptographic.

/// Why a random draw was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RngError {
    /// `below(0)` or `chance(_, 0)`: there is no value to draw.
    #[error("cannot draw from an empty range (bound 0)")]
    EmptyRange,
}

/// The SplitMix64 generator. Same seed, same sequence, on every platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`. Every seed, including 0, is fine.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 uniformly distributed bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n`, without modulo bias (Lemire's
    /// multiply-and-reject method).
    ///
    /// # Panics
    /// If `n` is 0; use [`SplitMix64::try_below`] to get an error instead.
    pub fn below(&mut self, n: u64) -> u64 {
        match self.try_below(n) {
            Ok(v) => v,
            Err(e) => panic!("SplitMix64::below: {e}"),
        }
    }

    /// A uniform integer in `0..n`, or an error when `n` is 0.
    ///
    /// # Errors
    /// [`RngError::EmptyRange`] when `n` is 0.
    pub fn try_below(&mut self, n: u64) -> Result<u64, RngError> {
        if n == 0 {
            return Err(RngError::EmptyRange);
        }
        // Lemire, "Fast Random Integer Generation in an Interval" (2019):
        // the high word of x × n is uniform over 0..n once the low words that
        // fall below 2^64 mod n are rejected.
        let threshold = n.wrapping_neg() % n; // 2^64 mod n
        loop {
            let product = u128::from(self.next_u64()) * u128::from(n);
            if (product as u64) >= threshold {
                return Ok((product >> 64) as u64);
            }
        }
    }

    /// A uniform integer in `low..=high` (the bounds in either order).
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        let (low, high) = if low <= high {
            (low, high)
        } else {
            (high, low)
        };
        match (high - low).checked_add(1) {
            Some(width) => low + self.below(width),
            // The whole u64 range.
            None => self.next_u64(),
        }
    }

    /// `true` with probability `num / den` (always when `num ≥ den`).
    /// Reservoir sampling keeps the k-th tied candidate with `chance(1, k)`.
    ///
    /// # Panics
    /// If `den` is 0.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_vector() {
        // SplitMix64 from seed 0. The first value is the widely published
        // seed-0 output of Vigna's splitmix64.c; all four were recomputed with
        // an independent Python transcription of the algorithm.
        let mut rng = SplitMix64::new(0);
        let expected = [
            0xE220_A839_7B1D_CDAF_u64,
            0x6E78_9E6A_A1B9_65F4,
            0x06C4_5D18_8009_454F,
            0xF88B_B8A8_724C_81EC,
        ];
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(rng.next_u64(), *want, "output {i}");
        }
    }

    #[test]
    fn deterministic_for_a_seed() {
        let draw = |seed| {
            let mut rng = SplitMix64::new(seed);
            (0..100).map(|_| rng.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
        // Cloning forks the stream at the same point.
        let mut a = SplitMix64::new(7);
        a.next_u64();
        let mut b = a.clone();
        assert_eq!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = SplitMix64::new(1);
        // (bound, draws)
        for n in [1_u64, 2, 3, 7, 10, 1000, u64::MAX / 2 + 1, u64::MAX] {
            for _ in 0..1000 {
                assert!(rng.below(n) < n, "below({n})");
            }
        }
        assert!((0..100).all(|_| rng.below(1) == 0));
        assert_eq!(rng.try_below(0), Err(RngError::EmptyRange));
    }

    #[test]
    #[should_panic(expected = "empty range")]
    fn below_zero_panics() {
        SplitMix64::new(1).below(0);
    }

    #[test]
    fn between_is_inclusive() {
        let mut rng = SplitMix64::new(3);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = rng.between(4, 8);
            assert!((4..=8).contains(&v));
            seen[(v - 4) as usize] = true;
        }
        assert_eq!(seen, [true; 5], "both ends and the middle are drawn");
        assert_eq!(rng.between(9, 9), 9);
        assert!((2..=5).contains(&rng.between(5, 2)));
        rng.between(0, u64::MAX); // the full range does not overflow
    }

    #[test]
    fn below_is_roughly_uniform() {
        // 6000 draws over 6 buckets: 1000 expected in each. The standard
        // deviation is √(6000 × 1/6 × 5/6) ≈ 29, so ±150 is over 5σ; with
        // the fixed seed the outcome is fixed anyway, the bound just has to
        // catch a broken generator (e.g. one that ignores the high bits).
        let mut rng = SplitMix64::new(2024);
        let mut counts = [0_u32; 6];
        for _ in 0..6000 {
            counts[rng.below(6) as usize] += 1;
        }
        for (bucket, count) in counts.iter().enumerate() {
            assert!((850..=1150).contains(count), "bucket {bucket}: {count}");
        }
    }

    #[test]
    fn chance_matches_its_ratio() {
        // chance(1, 4) over 4000 draws: 1000 expected, σ = √(4000 × ¼ × ¾) ≈ 27.
        let mut rng = SplitMix64::new(5);
        let hits = (0..4000).filter(|_| rng.chance(1, 4)).count();
        assert!((850..=1150).contains(&hits), "{hits}");
        assert!((0..100).all(|_| rng.chance(3, 3)));
        assert!((0..100).all(|_| rng.chance(5, 3)));
        assert!((0..100).all(|_| !rng.chance(0, 3)));
    }

    #[test]
    fn reservoir_sampling_picks_each_tie_evenly() {
        // Three tied candidates: the k-th replaces the choice with chance(1, k),
        // so each ends up chosen with probability 1/3: 1000 of 3000 expected.
        let mut rng = SplitMix64::new(11);
        let mut counts = [0_u32; 3];
        for _ in 0..3000 {
            let mut chosen = 0;
            for k in 1..=3_u64 {
                if rng.chance(1, k) {
                    chosen = k - 1;
                }
            }
            counts[chosen as usize] += 1;
        }
        for (i, count) in counts.iter().enumerate() {
            assert!((850..=1150).contains(count), "candidate {i}: {count}");
        }
    }
}
