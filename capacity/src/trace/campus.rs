//! A campus hub: daily and weekly cycles, class bursts, returning users.
//!
//! Day 0 of the trace is a Monday, starting at midnight. Two kinds of
//! spawns, processed in time order:
//! - **Background**: each hour, a random number of spawns around
//!   `users × weekday_sessions_per_user × HOURLY[hour] / Σ HOURLY`, scaled by
//!   `weekend_percent` on Saturdays and Sundays. The hourly weights put the
//!   peak in working hours with an evening tail, and the quietest hours at
//!   night. Each spawn picks a user by activity (every user gets a weight of
//!   1–10 once), so the same users come back on several days.
//! - **Class bursts** ([`ClassBlock`]): at a class's hour on its weekdays,
//!   300–450 of its enrolled students spawn within 8 minutes, most in the
//!   first minutes (the research file: a 300-student class waiting for
//!   nodes, a 340-student exam, about 450 spawns in 8 minutes).
//!
//! A user has at most one server at a time, as JupyterHub without named
//! servers allows: a background spawn that picks a user with a server
//! still running picks again (up to 8 times, then is dropped), and a class
//! draws its spawns from the students whose servers are not running (a
//! student who still has one works in it). Every session's length comes
//! from the lifetime distribution ([`Lifetimes::CAMPUS`]: the published one
//! is over all of a campus hub's sessions, classes included) and its
//! requests from the profile mix ([`ProfileMix::campus`]), drawn per
//! session.

use score::rng::SplitMix64;

use super::generate::{self, DAY, GenerateError, MAX_DAYS};
use super::{Lifetimes, ProfileMix, Session, Trace, TraceBuilder, UserId};

/// Relative spawn rate per hour of the day (0–23), the same shape on every
/// day. Working-hours peak, evening tail, quiet nights.
pub const HOURLY: [u32; 24] = [
    3, 2, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 10, 10, 10, 9, 8, 7, 7, 7, 6, 5, 4,
];

/// The most users a generated campus has.
pub const MAX_USERS: u32 = 10_000_000;

/// The most background sessions per user per weekday, in thousandths (100
/// sessions a day).
pub const MAX_SESSIONS_MILLI: u32 = 100_000;

/// A class that meets at a fixed hour on some weekdays; its students spawn
/// together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassBlock {
    /// A name for error messages.
    pub name: String,
    /// The days it meets, Monday first.
    pub weekdays: [bool; 7],
    /// When it starts, in seconds after midnight (below 86,400).
    pub start: u32,
    /// How many students spawn at a meeting, drawn uniformly from this
    /// inclusive range (fewer when not enough enrolled students are free).
    pub spawns: (u32, u32),
    /// How many users are enrolled (chosen once per trace; capped at the
    /// hub's users).
    pub roster: u32,
    /// The seconds over which the spawns come (1 to 3,600).
    pub spread: u32,
}

impl ClassBlock {
    /// The default timetable: four classes of 300–450 spawns within 8
    /// minutes, each enrolling 600, so two bursts on Monday to Thursday and
    /// one on Friday: a lecture Monday, Wednesday and Friday at 10:00, a lab
    /// Tuesday and Thursday at 11:00, a lab Monday and Wednesday at 14:00 and
    /// a lab Tuesday and Thursday at 15:30.
    pub fn timetable() -> Vec<ClassBlock> {
        let class = |name: &str, days: &[usize], start: u32| {
            let mut weekdays = [false; 7];
            for &d in days {
                weekdays[d] = true;
            }
            ClassBlock {
                name: name.to_string(),
                weekdays,
                start,
                spawns: (300, 450),
                roster: 600,
                spread: 480,
            }
        };
        vec![
            class("lecture", &[0, 2, 4], 10 * 3600),
            class("lab-a", &[1, 3], 11 * 3600),
            class("lab-b", &[0, 2], 14 * 3600),
            class("lab-c", &[1, 3], 15 * 3600 + 1800),
        ]
    }
}

/// Options of [`generate_campus`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampusOptions {
    /// How many users the hub has (1 to [`MAX_USERS`]); default 1,000.
    pub users: u32,
    /// How many days the trace spans (1 to [`MAX_DAYS`]); default 30.
    pub days: u32,
    /// The seed: same options, same trace.
    pub seed: u64,
    /// Background sessions per user on a weekday, in thousandths (at most
    /// [`MAX_SESSIONS_MILLI`]); default 300 (0.3), class sessions not
    /// counted.
    pub weekday_sessions_per_user_milli: u32,
    /// Weekend background relative to a weekday, in percent (at most 100);
    /// default 30.
    pub weekend_percent: u32,
    /// The classes; default [`ClassBlock::timetable`].
    pub classes: Vec<ClassBlock>,
    /// What sessions request; default [`ProfileMix::campus`].
    pub profiles: ProfileMix,
    /// How long servers run; default [`Lifetimes::CAMPUS`].
    pub lifetimes: Lifetimes,
}

impl Default for CampusOptions {
    fn default() -> Self {
        CampusOptions {
            users: 1000,
            days: 30,
            seed: 0,
            weekday_sessions_per_user_milli: 300,
            weekend_percent: 30,
            classes: ClassBlock::timetable(),
            profiles: ProfileMix::campus(),
            lifetimes: Lifetimes::CAMPUS,
        }
    }
}

/// Something that happens at a second of the trace.
#[derive(Clone, Copy)]
enum Event {
    /// A background spawn.
    Spawn,
    /// A meeting of the class at this index.
    Class(usize),
}

/// Generates a campus hub's trace (see the module docs).
///
/// # Errors
/// [`GenerateError`] for options out of range: no users or days, too many,
/// a class starting past midnight or with a reversed spawn range, an empty
/// profile mix.
pub fn generate_campus(options: &CampusOptions) -> Result<Trace, GenerateError> {
    generate::check_count("users", options.users, MAX_USERS)?;
    generate::check_count("days", options.days, MAX_DAYS)?;
    let too_large = |what, value: u32, max: u32| {
        if value > max {
            Err(GenerateError::TooLarge {
                what,
                value: u64::from(value),
                max: u64::from(max),
            })
        } else {
            Ok(())
        }
    };
    too_large(
        "weekday_sessions_per_user_milli",
        options.weekday_sessions_per_user_milli,
        MAX_SESSIONS_MILLI,
    )?;
    too_large("weekend_percent", options.weekend_percent, 100)?;
    for class in &options.classes {
        too_large("class start (seconds after midnight)", class.start, DAY - 1)?;
        generate::check_count("class spread (seconds)", class.spread, 3600)?;
        if class.spawns.0 > class.spawns.1 {
            return Err(GenerateError::Range {
                what: format!("class {} spawns", class.name),
                low: u64::from(class.spawns.0),
                high: u64::from(class.spawns.1),
            });
        }
    }

    let mut builder = TraceBuilder::new();
    let profile_ids = generate::intern_profiles(&mut builder, &options.profiles)?;
    let mut rng = SplitMix64::new(options.seed);
    let users = options.users as usize;

    // Activity weights 1..=10, as a cumulative table for weighted picks.
    let mut cumulative = Vec::with_capacity(users);
    let mut total: u64 = 0;
    for _ in 0..users {
        total += rng.between(1, 10);
        cumulative.push(total);
    }
    // Rosters: a partial Fisher-Yates shuffle of all users per class.
    let mut everyone: Vec<u32> = (0..options.users).collect();
    let rosters: Vec<Vec<u32>> = options
        .classes
        .iter()
        .map(|class| {
            let size = (class.roster as usize).min(users);
            for i in 0..size {
                let j = i + rng.below((users - i) as u64) as usize;
                everyone.swap(i, j);
            }
            everyone[..size].to_vec()
        })
        .collect();

    let width = (options.users - 1).to_string().len();
    let mut names: Vec<Option<UserId>> = vec![None; users];
    // The second each user's current server stops (0: none yet).
    let mut busy_until: Vec<u64> = vec![0; users];
    let hourly_total: u64 = HOURLY.iter().map(|&w| u64::from(w)).sum();
    let mut events: Vec<(u32, Event)> = Vec::new();

    for day in 0..options.days {
        // day < MAX_DAYS, so every second of it (plus an hour) fits a u32.
        let midnight = day * DAY;
        let weekday = (day % 7) as usize;
        let percent = if weekday >= 5 {
            u64::from(options.weekend_percent)
        } else {
            100
        };
        events.clear();
        for (hour, &weight) in HOURLY.iter().enumerate() {
            // users ≤ 10^7, milli ≤ 10^5, weight ≤ 10, percent ≤ 100: < 2^64.
            let expected_milli = u64::from(options.users)
                * u64::from(options.weekday_sessions_per_user_milli)
                * u64::from(weight)
                * percent
                / (hourly_total * 100);
            let hour_start = midnight + hour as u32 * 3600;
            for _ in 0..generate::arrivals(&mut rng, expected_milli) {
                events.push((hour_start + rng.below(3600) as u32, Event::Spawn));
            }
        }
        for (index, class) in options.classes.iter().enumerate() {
            if class.weekdays[weekday] {
                events.push((midnight + class.start, Event::Class(index)));
            }
        }
        // Stable: a class meeting stays after background spawns of its second.
        events.sort_by_key(|&(t, _)| t);

        for &(t, event) in &events {
            match event {
                Event::Spawn => {
                    for _ in 0..8 {
                        let r = rng.below(total);
                        let user = cumulative.partition_point(|&c| c <= r);
                        if busy_until[user] <= u64::from(t) {
                            let session = generate::session(
                                &mut rng,
                                &options.profiles,
                                &options.lifetimes,
                                &profile_ids,
                                t,
                            );
                            busy_until[user] = session.end();
                            let id = name(&mut builder, &mut names, user, width)?;
                            builder.push(Session {
                                user: Some(id),
                                ..session
                            });
                            break;
                        }
                    }
                }
                Event::Class(index) => {
                    let class = &options.classes[index];
                    let mut free: Vec<u32> = rosters[index]
                        .iter()
                        .copied()
                        .filter(|&u| busy_until[u as usize] <= u64::from(t))
                        .collect();
                    let wanted = rng.between(u64::from(class.spawns.0), u64::from(class.spawns.1));
                    let count = (wanted as usize).min(free.len());
                    for i in 0..count {
                        let j = i + rng.below((free.len() - i) as u64) as usize;
                        free.swap(i, j);
                        let user = free[i] as usize;
                        // Front-loaded: the earlier of two uniform offsets.
                        let spread = u64::from(class.spread);
                        let offset = rng.below(spread).min(rng.below(spread)) as u32;
                        let session = generate::session(
                            &mut rng,
                            &options.profiles,
                            &options.lifetimes,
                            &profile_ids,
                            t + offset,
                        );
                        busy_until[user] = session.end();
                        let id = name(&mut builder, &mut names, user, width)?;
                        builder.push(Session {
                            user: Some(id),
                            ..session
                        });
                    }
                }
            }
        }
    }
    Ok(builder.finish())
}

/// The trace's id of user number `user`, interning `user-NNNN` on first use.
fn name(
    builder: &mut TraceBuilder,
    names: &mut [Option<UserId>],
    user: usize,
    width: usize,
) -> Result<UserId, GenerateError> {
    if let Some(id) = names[user] {
        return Ok(id);
    }
    let name = format!("user-{user:0width$}");
    let id = builder
        .user(&name)
        .map_err(|source| GenerateError::Name { name, source })?;
    names[user] = Some(id);
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campus(options: &CampusOptions) -> Trace {
        generate_campus(options).unwrap()
    }

    fn two_weeks(seed: u64) -> CampusOptions {
        CampusOptions {
            days: 14,
            seed,
            ..CampusOptions::default()
        }
    }

    /// Spawns per day.
    fn per_day(trace: &Trace, days: u32) -> Vec<usize> {
        let mut counts = vec![0; days as usize];
        for s in trace.sessions() {
            counts[(s.start / DAY) as usize] += 1;
        }
        counts
    }

    #[test]
    fn same_seed_same_trace() {
        let a = campus(&two_weeks(1));
        assert_eq!(a, campus(&two_weeks(1)));
        assert_ne!(a, campus(&two_weeks(2)));
        assert_eq!(a.to_csv(), campus(&two_weeks(1)).to_csv());
    }

    #[test]
    fn class_bursts_are_300_to_450_spawns_within_8_minutes() {
        // Without background spawns, every session belongs to a burst.
        let options = CampusOptions {
            weekday_sessions_per_user_milli: 0,
            ..two_weeks(3)
        };
        let trace = campus(&options);
        let mut meetings = 0;
        let mut in_bursts = 0;
        for day in 0..options.days {
            for class in &options.classes {
                if !class.weekdays[(day % 7) as usize] {
                    continue;
                }
                meetings += 1;
                let t0 = day * DAY + class.start;
                let window = |from: u32, to: u32| {
                    trace
                        .sessions()
                        .iter()
                        .filter(|s| (from..to).contains(&s.start))
                        .count()
                };
                let burst = window(t0, t0 + 480);
                assert!(
                    (300..=450).contains(&burst),
                    "day {day} {}: {burst}",
                    class.name
                );
                // Front-loaded: more than half within the first 3 minutes.
                assert!(window(t0, t0 + 180) * 2 > burst, "day {day} {}", class.name);
                in_bursts += burst;
            }
        }
        // Ten weekdays: 4 + 4 + 4 + 4 + 2 meetings... twice.
        assert_eq!(meetings, 18);
        assert_eq!(in_bursts, trace.len(), "nothing outside the bursts");

        // With the default background, the burst windows still hold
        // 300–450 class spawns plus a few background ones.
        let trace = campus(&two_weeks(3));
        for class in &options.classes {
            let t0 = class.start; // Monday
            if class.weekdays[0] {
                let n = trace
                    .sessions()
                    .iter()
                    .filter(|s| (t0..t0 + 480).contains(&s.start))
                    .count();
                assert!((300..=470).contains(&n), "{}: {n}", class.name);
            }
        }
    }

    #[test]
    fn weekends_are_quieter_than_weekdays_and_nights_than_days() {
        // Background only, so the weekly cycle is not just the timetable.
        let options = CampusOptions {
            classes: Vec::new(),
            ..two_weeks(4)
        };
        let trace = campus(&options);
        let days = per_day(&trace, options.days);
        for week in days.chunks(7) {
            let weekend_max = week[5].max(week[6]);
            let weekday_min = week[..5].iter().copied().min().unwrap();
            assert!(weekend_max < weekday_min, "{week:?}");
        }
        // About 0.3 × 1000 a weekday, 30 % of that on weekend days.
        let weekdays: usize = days
            .iter()
            .enumerate()
            .filter(|(d, _)| d % 7 < 5)
            .map(|(_, n)| n)
            .sum();
        assert!(
            (2700..=3300).contains(&weekdays),
            "{weekdays} over ten weekdays"
        );
        let mut by_hour = [0_usize; 24];
        for s in trace.sessions() {
            by_hour[(s.start % DAY / 3600) as usize] += 1;
        }
        let night: usize = by_hour[2..6].iter().sum();
        let day: usize = by_hour[10..14].iter().sum();
        assert!(night * 5 < day, "night {night}, day {day}");
        // With the timetable, weekends are quieter still.
        let trace = campus(&two_weeks(4));
        let days = per_day(&trace, 14);
        assert!(
            days[5].max(days[6]) * 5 < days[..5].iter().copied().min().unwrap(),
            "{days:?}"
        );
    }

    #[test]
    fn users_return_and_never_overlap() {
        let trace = campus(&two_weeks(5));
        assert!(
            trace.user_count() > 900,
            "{} of 1000 users active",
            trace.user_count()
        );
        let mut by_user: Vec<Vec<&Session>> = vec![Vec::new(); trace.user_count()];
        for s in trace.sessions() {
            by_user[s.user.unwrap().0 as usize].push(s);
        }
        let mut returning = 0;
        for sessions in &by_user {
            let days: std::collections::BTreeSet<u32> =
                sessions.iter().map(|s| s.start / DAY).collect();
            if days.len() >= 3 {
                returning += 1;
            }
            for w in sessions.windows(2) {
                assert!(
                    w[0].end() <= u64::from(w[1].start),
                    "{:?} overlaps {:?}",
                    w[0],
                    w[1]
                );
            }
        }
        assert!(
            returning * 2 > by_user.len(),
            "{returning} users on 3 or more days"
        );
        assert_eq!(
            trace.user_name(UserId(0)).map(str::len),
            Some("user-000".len())
        );
        // Profiles come from the mix, with their requests.
        let default = trace
            .sessions()
            .iter()
            .filter(|s| s.memory == Some(1_000_000_000) && s.cpu.is_none())
            .count();
        let share = default as f64 / trace.len() as f64;
        assert!(
            (0.72..=0.78).contains(&share),
            "default profile share {share}"
        );
    }

    #[test]
    fn bad_options_are_refused() {
        let bad = |options: CampusOptions| generate_campus(&options).unwrap_err().to_string();
        assert_eq!(
            bad(CampusOptions {
                users: 0,
                ..Default::default()
            }),
            "users must be at least 1"
        );
        assert_eq!(
            bad(CampusOptions {
                days: MAX_DAYS + 1,
                ..Default::default()
            }),
            "days is 10001, more than the limit 10000"
        );
        let mut classes = ClassBlock::timetable();
        classes[1].spawns = (10, 5);
        assert_eq!(
            bad(CampusOptions {
                classes,
                ..Default::default()
            }),
            "class lab-a spawns: the low end 10 is above the high end 5"
        );
        let mut profiles = ProfileMix::campus();
        profiles.profiles.iter_mut().for_each(|p| p.share = 0);
        assert_eq!(
            bad(CampusOptions {
                profiles,
                ..Default::default()
            }),
            "the profile mix has no profile with a positive share"
        );
    }

    #[test]
    fn a_tiny_hub_still_generates() {
        // Fewer users than a class wants: the bursts are as large as the hub.
        let trace = campus(&CampusOptions {
            users: 1,
            days: 3,
            ..Default::default()
        });
        assert!(!trace.is_empty());
        assert_eq!(trace.user_count(), 1);
        assert_eq!(trace.user_name(UserId(0)), Some("user-0"));
    }
}
