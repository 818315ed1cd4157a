//! The sandbox clock: wall time that can run faster than real time.
//!
//! With a time scale of 10, a 30 s grace period passes in 3 s of real time and timestamps the
//! sandbox writes advance 10 s per real second. Controllers added later share this clock.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The slowest clock: a thousand times slower than real time.
pub const MIN_SCALE: f64 = 0.001;
/// The fastest clock: a million times faster than real time (a sandbox day
/// in under a tenth of a second).
pub const MAX_SCALE: f64 = 1_000_000.0;

/// A clock running `scale` times faster than real time, starting at the real time it was made.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    scale: f64,
    origin: Instant,
    origin_wall: SystemTime,
}

impl Clock {
    /// A clock running `scale` times faster than real time (non-finite or non-positive → 1;
    /// otherwise clamped to 0.001..=1,000,000).
    pub fn new(scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale.clamp(MIN_SCALE, MAX_SCALE)
        } else {
            1.0
        };
        Self {
            scale,
            origin: Instant::now(),
            origin_wall: SystemTime::now(),
        }
    }

    /// The time scale.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The current sandbox time.
    pub fn now(&self) -> SystemTime {
        // Saturating: a clock run for centuries of sandbox time stops at the
        // end of representable time rather than panicking.
        let elapsed = Duration::try_from_secs_f64(self.origin.elapsed().as_secs_f64() * self.scale)
            .unwrap_or(Duration::MAX);
        self.origin_wall
            .checked_add(elapsed)
            .unwrap_or(self.origin_wall)
    }

    /// How long `d` of sandbox time lasts in real time.
    pub fn real_duration(&self, d: Duration) -> Duration {
        // The scale is at least MIN_SCALE, so this is at most 1000 × d;
        // saturating for durations near Duration::MAX.
        Duration::try_from_secs_f64(d.as_secs_f64() / self.scale).unwrap_or(Duration::MAX)
    }

    /// Sleeps for `d` of sandbox time.
    pub async fn sleep(&self, d: Duration) {
        tokio::time::sleep(self.real_duration(d)).await;
    }

    /// The current sandbox time as a Kubernetes `Time` (RFC 3339, whole seconds, UTC).
    pub fn timestamp(&self) -> String {
        rfc3339(self.now(), false)
    }

    /// The current sandbox time as a Kubernetes `MicroTime` (RFC 3339 with microseconds).
    pub fn micro_timestamp(&self) -> String {
        rfc3339(self.now(), true)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new(1.0)
    }
}

/// Formats a time as RFC 3339 in UTC, with or without microseconds.
pub fn rfc3339(t: SystemTime, micros: bool) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, dd) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if micros {
        format!(
            "{y:04}-{m:02}-{dd:02}T{hh:02}:{mm:02}:{ss:02}.{:06}Z",
            d.subsec_micros()
        )
    } else {
        format!("{y:04}-{m:02}-{dd:02}T{hh:02}:{mm:02}:{ss:02}Z")
    }
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_kubernetes() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(t, false), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(t, true), "2023-11-14T22:13:20.123000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400), false),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn scales_are_clamped_and_time_never_overflows() {
        assert_eq!(Clock::new(1e308).scale(), MAX_SCALE);
        assert_eq!(Clock::new(1e-308).scale(), MIN_SCALE);
        assert_eq!(Clock::new(f64::NAN).scale(), 1.0);
        let c = Clock::new(1e308);
        assert!(c.now() >= SystemTime::now());
        assert_eq!(
            c.real_duration(Duration::MAX),
            Duration::MAX.div_f64(MAX_SCALE)
        );
        let slow = Clock::new(MIN_SCALE);
        assert_eq!(slow.real_duration(Duration::MAX), Duration::MAX);
    }

    #[test]
    fn scaled_time_runs_faster() {
        let c = Clock::new(100.0);
        assert_eq!(
            c.real_duration(Duration::from_secs(30)),
            Duration::from_millis(300)
        );
        let a = c.now();
        std::thread::sleep(Duration::from_millis(20));
        assert!(c.now().duration_since(a).unwrap() >= Duration::from_secs(2));
        assert_eq!(Clock::new(-1.0).scale(), 1.0);
    }
}
