//! Server lifetimes: how long a server runs, idle time until the cull
//! included, drawn from a fitted distribution.
//!
//! A distribution is a piecewise-linear quantile function: knots
//! `(p, seconds)`, linear in between, so a draw is a uniform `p` mapped
//! through it. That is a piecewise-uniform density, drawn with integer
//! arithmetic only: the same seed gives the same lifetimes on every platform.
//!
//! # The campus fit ([`Lifetimes::CAMPUS`])
//! Berkeley DataHub, fall 2018, 225,107 sessions (research file
//! `capacity-anchors.md`, "Workload shapes"): p50 ≈ 2 h, p75 ≈ 4 h,
//! p90 ≈ 7 h, p95 ≈ 11 h, p99 ≈ 18 h, mean ≈ 3.5 h. Those five quantiles
//! are knots, exactly. Below the median nothing is published; the knots
//! there (p1 740 s, p5 1,440 s, p10 2,060 s, p25 3,720 s) are those of the
//! log-normal through p50 and p90 (median 2 h, σ = ln 3.5 / 1.2816 =
//! 0.978), and the shortest server lives 5 min. Above p99, p99.5 is 24 h and
//! the longest server 48 h, which brings the mean to 3.43 h (published:
//! ≈ 3.5 h; linear pieces between the knots cannot carry a longer tail
//! without moving a published quantile).
//!
//! # The mybinder fit ([`Lifetimes::MYBINDER`])
//! No lifetime distribution is published for mybinder.org; the research
//! file gives its bounds and load: servers are culled after 600 s idle and
//! live at most 6 h, and 200–400 concurrent servers at 75–150 launches per
//! 10 min mean a mean lifetime of about 300 / 11.25 per minute ≈ 27 min
//! (Little's law). The knots (10 min, p25 11 min, p50 15 min, p75 25 min,
//! p90 45 min, p99 2.5 h, 6 h) are our assumption under those constraints;
//! their mean is 27.5 min. The campus distribution would put about 2,400
//! servers on mybinder at once, not 300.

use score::rng::SplitMix64;

/// Probabilities of the knots are in millionths.
const MILLION: u64 = 1_000_000;

/// Draws are made in billionths, so each millionth of probability holds a
/// thousand evenly spaced lifetimes.
const BILLION: u64 = 1_000_000_000;

/// A fitted lifetime distribution (see the module docs for the two fits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// `(p in millionths, seconds)`, both strictly increasing from
    /// `(0, shortest)` to `(1_000_000, longest)`.
    knots: &'static [(u32, u32)],
}

const H: u32 = 3600;
const MIN: u32 = 60;

impl Lifetimes {
    /// A campus hub's servers (Berkeley DataHub's published distribution).
    pub const CAMPUS: Lifetimes = Lifetimes {
        knots: &[
            (0, 5 * MIN),
            (10_000, 740),
            (50_000, 1_440),
            (100_000, 2_060),
            (250_000, 3_720),
            (500_000, 2 * H),
            (750_000, 4 * H),
            (900_000, 7 * H),
            (950_000, 11 * H),
            (990_000, 18 * H),
            (995_000, 24 * H),
            (1_000_000, 48 * H),
        ],
    };

    /// A public service like mybinder.org (600 s idle cull, 6 h maximum age).
    pub const MYBINDER: Lifetimes = Lifetimes {
        knots: &[
            (0, 10 * MIN),
            (250_000, 11 * MIN),
            (500_000, 15 * MIN),
            (750_000, 25 * MIN),
            (900_000, 45 * MIN),
            (990_000, 150 * MIN),
            (1_000_000, 6 * H),
        ],
    };

    /// One lifetime in seconds.
    pub fn sample(&self, rng: &mut SplitMix64) -> u32 {
        self.at_billionths(rng.below(BILLION))
    }

    /// The `p`-quantile in seconds, `p` in millionths (at most 1,000,000;
    /// larger reads as 1,000,000).
    pub fn quantile(&self, p_millionths: u32) -> u32 {
        let p = u64::from(p_millionths).min(MILLION);
        self.at_billionths(p.saturating_mul(1000))
    }

    /// The mean in seconds (each piece contributes its width times the
    /// average of its ends).
    pub fn mean_seconds(&self) -> f64 {
        let sum: u64 = self
            .knots
            .windows(2)
            .map(|w| {
                let (p0, s0) = w[0];
                let (p1, s1) = w[1];
                u64::from(p1 - p0) * (u64::from(s0) + u64::from(s1))
            })
            .sum();
        sum as f64 / 2.0 / MILLION as f64
    }

    /// The quantile function at `u` billionths (`u` ≤ 10^9).
    fn at_billionths(&self, u: u64) -> u32 {
        // The knots are constants with increasing p and seconds, so every
        // difference below is positive and the products fit a u64
        // (seconds < 2^32, u within a piece < 10^9).
        for w in self.knots.windows(2) {
            let (p0, s0) = (u64::from(w[0].0) * 1000, u64::from(w[0].1));
            let (p1, s1) = (u64::from(w[1].0) * 1000, u64::from(w[1].1));
            if u < p1 {
                let s = s0 + (s1 - s0) * (u - p0) / (p1 - p0);
                return u32::try_from(s).unwrap_or(u32::MAX);
            }
        }
        self.knots.last().map_or(0, |&(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knots_are_increasing() {
        for l in [Lifetimes::CAMPUS, Lifetimes::MYBINDER] {
            assert_eq!(l.knots.first().map(|k| k.0), Some(0));
            assert_eq!(l.knots.last().map(|k| k.0), Some(1_000_000));
            for w in l.knots.windows(2) {
                assert!(w[0].0 < w[1].0 && w[0].1 < w[1].1, "{w:?}");
            }
        }
    }

    #[test]
    fn the_quantile_function_passes_through_the_published_points() {
        let c = Lifetimes::CAMPUS;
        assert_eq!(c.quantile(500_000), 2 * H);
        assert_eq!(c.quantile(750_000), 4 * H);
        assert_eq!(c.quantile(900_000), 7 * H);
        assert_eq!(c.quantile(950_000), 11 * H);
        assert_eq!(c.quantile(990_000), 18 * H);
        assert_eq!(c.quantile(0), 300);
        assert_eq!(c.quantile(1_000_000), 48 * H);
        assert_eq!(c.quantile(u32::MAX), 48 * H);
        // Halfway between p50 and p75, halfway between 2 h and 4 h.
        assert_eq!(c.quantile(625_000), 3 * H);
        let mean_hours = c.mean_seconds() / 3600.0;
        assert!(
            (3.3..=3.6).contains(&mean_hours),
            "campus mean {mean_hours} h"
        );
        let mean_minutes = Lifetimes::MYBINDER.mean_seconds() / 60.0;
        assert!(
            (25.0..=30.0).contains(&mean_minutes),
            "mybinder mean {mean_minutes} min"
        );
    }

    /// The empirical quantile of sorted draws.
    fn empirical(sorted: &[u32], p_percent: f64) -> f64 {
        let i = ((sorted.len() as f64) * p_percent / 100.0) as usize;
        f64::from(sorted[i.min(sorted.len() - 1)])
    }

    #[test]
    fn campus_draws_match_the_published_quantiles() {
        // 100,000 draws. Tolerance: 5 % of each published figure. The
        // sampling error of a quantile is √(p(1−p)/n) / density: at p99,
        // where the density above the knot is lowest (0.5 % over 6 h), one
        // standard error is about 1,300 s, 2 % of 18 h; elsewhere under 1 %.
        let mut rng = SplitMix64::new(2018);
        let mut draws: Vec<u32> = (0..100_000)
            .map(|_| Lifetimes::CAMPUS.sample(&mut rng))
            .collect();
        draws.sort_unstable();
        for (p, hours) in [
            (50.0, 2.0),
            (75.0, 4.0),
            (90.0, 7.0),
            (95.0, 11.0),
            (99.0, 18.0),
        ] {
            let got = empirical(&draws, p) / 3600.0;
            assert!(
                (got - hours).abs() <= 0.05 * hours,
                "p{p}: {got:.2} h, published {hours} h"
            );
        }
        let mean = draws.iter().map(|&d| f64::from(d)).sum::<f64>() / draws.len() as f64;
        assert!(
            (mean / 3600.0 - 3.5).abs() <= 0.1 * 3.5,
            "mean {} h",
            mean / 3600.0
        );
        assert!(draws[0] >= 300 && draws[draws.len() - 1] <= 48 * H);
    }

    #[test]
    fn mybinder_draws_match_the_fit() {
        let mut rng = SplitMix64::new(7);
        let mut draws: Vec<u32> = (0..100_000)
            .map(|_| Lifetimes::MYBINDER.sample(&mut rng))
            .collect();
        draws.sort_unstable();
        for (p, minutes) in [(50.0, 15.0), (75.0, 25.0), (90.0, 45.0), (99.0, 150.0)] {
            let got = empirical(&draws, p) / 60.0;
            assert!(
                (got - minutes).abs() <= 0.05 * minutes,
                "p{p}: {got:.1} min, fit {minutes} min"
            );
        }
        assert!(draws[0] >= 600 && draws[draws.len() - 1] <= 6 * H);
    }
}
