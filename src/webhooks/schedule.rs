//! When a failed delivery is tried again (API.md §11): at once, then after about 5 s, 5 min,
//! 30 min, 2 h, 5 h, 10 h and 10 h, each ±20% so that endpoints coming back are not hit by
//! every waiting event in the same second. Eight attempts over about 28 hours.

use std::time::Duration;

/// The waits after the 1st, 2nd, … failed attempt.
pub const RETRY_DELAYS: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

pub const MAX_ATTEMPTS: i32 = RETRY_DELAYS.len() as i32 + 1;

/// An endpoint whose deliveries have all failed for this long, when another event runs out
/// of attempts, is disabled.
pub const DISABLE_AFTER: Duration = Duration::from_secs(5 * 86_400);

/// The wait after failed attempt `attempt` (1-based), or `None` when it was the last.
/// `jitter` is in [0, 1): 0 gives −20%, 1 almost +20%.
pub fn retry_after(attempt: i32, jitter: f64) -> Option<Duration> {
    let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
    let base = RETRY_DELAYS.get(index)?;
    Some(base.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0)))
}

/// A uniform number in [0, 1).
pub fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    // Without randomness the schedule is merely unspread.
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_attempts_on_the_documented_schedule_within_20_percent() {
        let secs = |attempt, jitter| retry_after(attempt, jitter).map(|d| d.as_secs_f64());
        assert_eq!(secs(1, 0.5), Some(5.0));
        assert_eq!(secs(1, 0.0), Some(4.0));
        assert!(secs(1, 0.999_999).is_some_and(|s| s < 6.0 && s > 5.99));
        assert_eq!(secs(2, 0.5), Some(300.0));
        assert_eq!(secs(4, 0.5), Some(7200.0));
        assert_eq!(secs(7, 0.5), Some(36_000.0));
        assert_eq!(secs(8, 0.5), None, "the eighth attempt is the last");
        assert_eq!(secs(0, 0.5), None);
        assert_eq!(MAX_ATTEMPTS, 8);
        let total: f64 = RETRY_DELAYS.iter().map(Duration::as_secs_f64).sum();
        assert!((total / 3600.0 - 27.6).abs() < 0.1, "{total}");
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
