//! A public service like mybinder.org: steady anonymous launches with a
//! diurnal swing.
//!
//! The research file (`capacity-anchors.md`, "Workload shapes") gives
//! mybinder.org 75–150 launches per 10 minutes and 200–400 servers at once.
//! Here the launch rate follows a cosine over the day between
//! `launches_per_10min.0` at its trough and `.1` at `peak_hour`, the same
//! every day (a public service has no weekend). Each 10-minute bin draws a
//! random count around its rate, the launches spread uniformly over it.
//! Sessions have no user (launches are anonymous), lengths from
//! [`Lifetimes::MYBINDER`] and requests from [`ProfileMix::mybinder`].

use score::rng::SplitMix64;

use super::generate::{self, DAY, GenerateError, MAX_DAYS};
use super::{Lifetimes, ProfileMix, Trace, TraceBuilder};

/// `(1 + cos(2π k / 144)) / 2` in thousandths for `k` 10-minute bins
/// from the peak (0..=72; the second half of the day mirrors the first).
/// Computed once and rounded; integer so every platform draws the same.
const SWING: [u32; 73] = [
    1000, 1000, 998, 996, 992, 988, 983, 977, 970, 962, 953, 944, 933, 922, 910, 897, 883, 869,
    854, 838, 821, 804, 787, 769, 750, 731, 711, 691, 671, 650, 629, 608, 587, 565, 544, 522, 500,
    478, 456, 435, 413, 392, 371, 350, 329, 309, 289, 269, 250, 231, 213, 196, 179, 162, 146, 131,
    117, 103, 90, 78, 67, 56, 47, 38, 30, 23, 17, 12, 8, 4, 2, 0, 0,
];

/// The most launches per 10 minutes.
pub const MAX_LAUNCHES_PER_10MIN: u32 = 100_000;

/// Options of [`generate_mybinder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MybinderOptions {
    /// How many days the trace spans (1 to [`MAX_DAYS`]); default 30.
    pub days: u32,
    /// The seed: same options, same trace.
    pub seed: u64,
    /// Launches per 10 minutes at the daily trough and at the peak
    /// (inclusive, low first, at most [`MAX_LAUNCHES_PER_10MIN`]); default
    /// `(75, 150)`.
    pub launches_per_10min: (u32, u32),
    /// The hour of the day (0–23) of the peak; default 15.
    pub peak_hour: u32,
    /// What sessions request; default [`ProfileMix::mybinder`].
    pub profiles: ProfileMix,
    /// How long servers run; default [`Lifetimes::MYBINDER`].
    pub lifetimes: Lifetimes,
}

impl Default for MybinderOptions {
    fn default() -> Self {
        MybinderOptions {
            days: 30,
            seed: 0,
            launches_per_10min: (75, 150),
            peak_hour: 15,
            profiles: ProfileMix::mybinder(),
            lifetimes: Lifetimes::MYBINDER,
        }
    }
}

/// Generates a public service's trace (see the module docs).
///
/// # Errors
/// [`GenerateError`] for options out of range: no days or too many, a
/// reversed or too large launch range, a peak hour past 23, an empty profile
/// mix.
pub fn generate_mybinder(options: &MybinderOptions) -> Result<Trace, GenerateError> {
    generate::check_count("days", options.days, MAX_DAYS)?;
    let (low, high) = options.launches_per_10min;
    if low > high {
        return Err(GenerateError::Range {
            what: "launches_per_10min".to_string(),
            low: u64::from(low),
            high: u64::from(high),
        });
    }
    if high > MAX_LAUNCHES_PER_10MIN || options.peak_hour > 23 {
        let (what, value, max) = if high > MAX_LAUNCHES_PER_10MIN {
            ("launches_per_10min", high, MAX_LAUNCHES_PER_10MIN)
        } else {
            ("peak_hour", options.peak_hour, 23)
        };
        return Err(GenerateError::TooLarge {
            what,
            value: u64::from(value),
            max: u64::from(max),
        });
    }

    let mut builder = TraceBuilder::new();
    let ids = generate::intern_profiles(&mut builder, &options.profiles)?;
    let mut rng = SplitMix64::new(options.seed);
    let peak_bin = options.peak_hour * 6;
    for day in 0..options.days {
        for bin in 0..144_u32 {
            let from_peak = (bin + 144 - peak_bin) % 144;
            let k = from_peak.min(144 - from_peak) as usize;
            // high ≤ 10^5, SWING ≤ 1000: the product fits easily.
            let expected_milli =
                u64::from(low) * 1000 + u64::from(high - low) * u64::from(SWING[k]);
            // day < MAX_DAYS: every second of the trace fits a u32.
            let bin_start = day * DAY + bin * 600;
            for _ in 0..generate::arrivals(&mut rng, expected_milli) {
                let start = bin_start + rng.below(600) as u32;
                builder.push(generate::session(
                    &mut rng,
                    &options.profiles,
                    &options.lifetimes,
                    &ids,
                    start,
                ));
            }
        }
    }
    Ok(builder.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn week(seed: u64) -> MybinderOptions {
        MybinderOptions {
            days: 7,
            seed,
            ..MybinderOptions::default()
        }
    }

    #[test]
    fn the_swing_table_is_the_cosine() {
        for (k, &v) in SWING.iter().enumerate() {
            let want = (1.0 + (2.0 * std::f64::consts::PI * k as f64 / 144.0).cos()) / 2.0 * 1000.0;
            assert!(
                (f64::from(v) - want).abs() <= 0.5 + 1e-9,
                "k {k}: {v} vs {want:.2}"
            );
        }
    }

    #[test]
    fn same_seed_same_trace() {
        let a = generate_mybinder(&week(1)).unwrap();
        assert_eq!(a, generate_mybinder(&week(1)).unwrap());
        assert_ne!(a, generate_mybinder(&week(2)).unwrap());
    }

    #[test]
    fn launches_swing_between_trough_and_peak() {
        let options = week(3);
        let trace = generate_mybinder(&options).unwrap();
        let mut per_bin = [0_u32; 144];
        for s in trace.sessions() {
            per_bin[(s.start % DAY / 600) as usize] += 1;
        }
        // Seven days per bin: the mean over a bin is the rate ± a few.
        let mean = |bin: usize| f64::from(per_bin[bin]) / 7.0;
        let peak = (mean(89) + mean(90) + mean(91)) / 3.0;
        let trough = (mean(17) + mean(18) + mean(19)) / 3.0;
        assert!((140.0..=160.0).contains(&peak), "peak {peak} per 10 min");
        assert!(
            (68.0..=82.0).contains(&trough),
            "trough {trough} per 10 min"
        );
        // No users, one profile.
        assert_eq!(trace.user_count(), 0);
        assert!(
            trace
                .sessions()
                .iter()
                .all(|s| s.cpu == Some(10) && s.memory == Some(450_000_000))
        );
    }

    #[test]
    fn concurrency_matches_the_research_file() {
        // 200–400 servers at once (Little's law: 7.5–15 launches a minute
        // × 27.5 min). Checked hourly from the second day, once warm.
        let trace = generate_mybinder(&week(4)).unwrap();
        let mut running = Vec::new();
        for hour in 24..(7 * 24_u32) {
            let t = u64::from(hour * 3600);
            running.push(
                trace
                    .sessions()
                    .iter()
                    .filter(|s| u64::from(s.start) <= t && s.end() > t)
                    .count(),
            );
        }
        let (min, max) = (running.iter().min().unwrap(), running.iter().max().unwrap());
        assert!(*min >= 170 && *max <= 450, "{min}..{max} running");
        let mean = running.iter().sum::<usize>() as f64 / running.len() as f64;
        assert!((250.0..=350.0).contains(&mean), "mean {mean} running");
    }

    #[test]
    fn bad_options_are_refused() {
        let bad = |options: MybinderOptions| generate_mybinder(&options).unwrap_err().to_string();
        assert_eq!(
            bad(MybinderOptions {
                days: 0,
                ..Default::default()
            }),
            "days must be at least 1"
        );
        assert_eq!(
            bad(MybinderOptions {
                launches_per_10min: (9, 8),
                ..Default::default()
            }),
            "launches_per_10min: the low end 9 is above the high end 8"
        );
        assert_eq!(
            bad(MybinderOptions {
                peak_hour: 24,
                ..Default::default()
            }),
            "peak_hour is 24, more than the limit 23"
        );
    }
}
