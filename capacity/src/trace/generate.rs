//! What the two generators share: the error for bad options, arrival
//! counts, and interning a profile mix.

use score::rng::SplitMix64;

use super::{Lifetimes, NameError, ProfileId, ProfileMix, Session, TraceBuilder};

/// The most days a generated trace may span (about 27 years; keeps every
/// second of it, plus a day, within a `u32`).
pub const MAX_DAYS: u32 = 10_000;

/// Seconds in a day.
pub const DAY: u32 = 86_400;

/// Why generator options were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    /// A count that must be positive is 0 (`days`, `users`).
    #[error("{what} must be at least 1")]
    Zero {
        /// The option.
        what: &'static str,
    },
    /// An option is above its limit.
    #[error("{what} is {value}, more than the limit {max}")]
    TooLarge {
        /// The option.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The largest accepted.
        max: u64,
    },
    /// A range's low end is above its high end.
    #[error("{what}: the low end {low} is above the high end {high}")]
    Range {
        /// The option.
        what: String,
        /// Its low end.
        low: u64,
        /// Its high end.
        high: u64,
    },
    /// The profile mix has no profile with a positive share.
    #[error("the profile mix has no profile with a positive share")]
    EmptyMix,
    /// A profile's or user's name cannot be interned in the trace.
    #[error("name {name:?}: {source}")]
    Name {
        /// The name.
        name: String,
        /// What is wrong with it.
        source: NameError,
    },
}

/// Checks `1 ≤ value ≤ max`.
pub(crate) fn check_count(what: &'static str, value: u32, max: u32) -> Result<(), GenerateError> {
    if value == 0 {
        return Err(GenerateError::Zero { what });
    }
    if value > max {
        return Err(GenerateError::TooLarge {
            what,
            value: u64::from(value),
            max: u64::from(max),
        });
    }
    Ok(())
}

/// Interns the mix's profile names in order.
pub(crate) fn intern_profiles(
    builder: &mut TraceBuilder,
    mix: &ProfileMix,
) -> Result<Vec<ProfileId>, GenerateError> {
    if mix.total_share() == 0 {
        return Err(GenerateError::EmptyMix);
    }
    mix.profiles
        .iter()
        .map(|p| {
            builder
                .profile(&p.name)
                .map_err(|source| GenerateError::Name {
                    name: p.name.clone(),
                    source,
                })
        })
        .collect()
}

/// A random count with mean `expected_milli / 1000`: a binomial of
/// `n = ⌈8 × mean⌉` trials, each with probability `mean / n`, so the count
/// varies nearly as much as a Poisson's (variance 7/8 of the mean) with
/// integer draws only.
pub(crate) fn arrivals(rng: &mut SplitMix64, expected_milli: u64) -> u64 {
    let trials = expected_milli.div_ceil(125);
    let den = trials.saturating_mul(1000);
    (0..trials)
        .filter(|_| rng.chance(expected_milli, den))
        .count() as u64
}

/// A session starting at `start`, its length drawn from `lifetimes` and its
/// profile from `mix` (`ids`: the mix's interned names), no user yet.
pub(crate) fn session(
    rng: &mut SplitMix64,
    mix: &ProfileMix,
    lifetimes: &Lifetimes,
    ids: &[ProfileId],
    start: u32,
) -> Session {
    let duration = lifetimes.sample(rng);
    // The mix was checked (intern_profiles) to have a positive share.
    let index = mix.pick(rng).unwrap_or(0);
    let profile = mix.profiles.get(index);
    Session {
        start,
        duration,
        cpu: profile.and_then(|p| p.cpu),
        memory: profile.and_then(|p| p.memory),
        user: None,
        profile: ids.get(index).copied(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_have_the_mean_and_vary() {
        let mut rng = SplitMix64::new(3);
        assert_eq!(arrivals(&mut rng, 0), 0);
        // Mean 12.5 over 10,000 draws: the sample mean's σ is about 0.033.
        let draws: Vec<u64> = (0..10_000).map(|_| arrivals(&mut rng, 12_500)).collect();
        let mean = draws.iter().sum::<u64>() as f64 / 1e4;
        assert!((mean - 12.5).abs() < 0.15, "mean {mean}");
        let var = draws
            .iter()
            .map(|&d| (d as f64 - mean).powi(2))
            .sum::<f64>()
            / 1e4;
        assert!(
            (9.5..=12.5).contains(&var),
            "variance {var} (7/8 × 12.5 ≈ 10.9)"
        );
        // A small mean: mostly zeros and ones.
        let small: u64 = (0..10_000).map(|_| arrivals(&mut rng, 100)).sum();
        assert!((850..=1150).contains(&small), "{small}");
    }

    #[test]
    fn counts_are_checked() {
        assert_eq!(
            check_count("days", 0, 5),
            Err(GenerateError::Zero { what: "days" })
        );
        assert_eq!(
            check_count("days", 6, 5).unwrap_err().to_string(),
            "days is 6, more than the limit 5"
        );
        assert_eq!(check_count("days", 5, 5), Ok(()));
    }
}
