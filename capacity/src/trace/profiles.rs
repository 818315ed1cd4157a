//! Profiles: what a server requests, and how often each is picked.
//!
//! Requests come from the research file (`capacity-anchors.md`,
//! "Workload shapes", "Requests"): z2jh's default user asks 1G memory and
//! no cpu (z2jh `values.yaml`); 2i2c offers five sizes, each half the
//! previous, the largest one whole node (2i2c-org/infrastructure
//! `generate_choices.py`); mybinder guarantees 450M memory and 0.01 cpu.
//! The research file gives no shares: the campus shares below are our
//! assumption (most users keep the default, fewer pick each larger size).

use score::rng::SplitMix64;

/// One profile: its requests and its share of sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileShare {
    /// The profile's name, written to the trace.
    pub name: String,
    /// Cpu request in millicores; `None` for no request.
    pub cpu: Option<u64>,
    /// Memory request in bytes; `None` for no request.
    pub memory: Option<u64>,
    /// Relative weight: a session picks this profile with probability
    /// `share / (sum of shares)`.
    pub share: u32,
}

/// The profiles a hub offers and how often each is picked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileMix {
    /// The profiles, in the order they are offered.
    pub profiles: Vec<ProfileShare>,
}

/// 1 GB (decimal, as in z2jh's `1G`).
const GB: u64 = 1_000_000_000;

impl ProfileMix {
    /// A campus hub: z2jh's default (1G memory, no cpu) for 75 % of
    /// sessions, and 2i2c-style sizes, each half the previous, of a user node
    /// with 3.6 cpu and 29.2 GB allocatable (an n2-highmem-4 less system
    /// reservations) for the rest: 10 %, 7 %, 4 %, 2 %, 2 % from the
    /// smallest up.
    pub fn campus() -> Self {
        let size = |name: &str, cpu: u64, memory: u64, share| ProfileShare {
            name: name.to_string(),
            cpu: Some(cpu),
            memory: Some(memory),
            share,
        };
        ProfileMix {
            profiles: vec![
                ProfileShare {
                    name: "default".to_string(),
                    cpu: None,
                    memory: Some(GB),
                    share: 75,
                },
                size("xs", 225, 1_825_000_000, 10),
                size("s", 450, 3_650_000_000, 7),
                size("m", 900, 7_300_000_000, 4),
                size("l", 1_800, 14_600_000_000, 2),
                size("xl", 3_600, 29_200_000_000, 2),
            ],
        }
    }

    /// mybinder.org: one profile guaranteeing 0.01 cpu and 450M memory.
    pub fn mybinder() -> Self {
        ProfileMix {
            profiles: vec![ProfileShare {
                name: "binder".to_string(),
                cpu: Some(10),
                memory: Some(450_000_000),
                share: 1,
            }],
        }
    }

    /// The sum of the shares (`u64`: cannot overflow for fewer than 2^32
    /// profiles).
    pub fn total_share(&self) -> u64 {
        self.profiles.iter().map(|p| u64::from(p.share)).sum()
    }

    /// The index of a profile drawn by share; `None` when every share is 0.
    pub fn pick(&self, rng: &mut SplitMix64) -> Option<usize> {
        let total = self.total_share();
        let mut r = rng.try_below(total).ok()?;
        for (i, p) in self.profiles.iter().enumerate() {
            let share = u64::from(p.share);
            if r < share {
                return Some(i);
            }
            r -= share;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_follow_the_shares() {
        let mix = ProfileMix::campus();
        assert_eq!(mix.total_share(), 100);
        let mut rng = SplitMix64::new(1);
        let mut counts = vec![0_u32; mix.profiles.len()];
        for _ in 0..100_000 {
            counts[mix.pick(&mut rng).unwrap()] += 1;
        }
        // 1,000 draws per percent; ±0.5 % is over 3σ for every share here.
        for (p, count) in mix.profiles.iter().zip(&counts) {
            let want = p.share * 1000;
            assert!(count.abs_diff(want) <= 500, "{}: {count} of 100000", p.name);
        }
        // Each size is half the next.
        for w in mix.profiles[1..].windows(2) {
            assert_eq!(w[0].memory.map(|m| m * 2), w[1].memory);
            assert_eq!(w[0].cpu.map(|c| c * 2), w[1].cpu);
        }
    }

    #[test]
    fn no_share_no_pick() {
        let mut mix = ProfileMix::mybinder();
        let mut rng = SplitMix64::new(1);
        assert_eq!(mix.pick(&mut rng), Some(0));
        mix.profiles[0].share = 0;
        assert_eq!(mix.pick(&mut rng), None);
    }
}
