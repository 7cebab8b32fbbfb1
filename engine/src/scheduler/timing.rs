//! When an instance fires: its cron schedule, and the backoff that delays
//! it after consecutive failures.

use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A parsed, seconds-resolution cron schedule, read in a time zone (UTC
/// unless the instance names one).
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: cron::Schedule,
    tz: chrono_tz::Tz,
}

impl Schedule {
    pub fn parse(expr: &str, timezone: Option<&str>) -> Result<Schedule, String> {
        let cron = cron::Schedule::from_str(expr).map_err(|e| format!("schedule {expr:?}: {e}"))?;
        let tz = match timezone {
            None => chrono_tz::UTC,
            Some(name) => name
                .parse()
                .map_err(|_| format!("time zone {name:?} is not an IANA time zone name"))?,
        };
        Ok(Schedule { cron, tz })
    }

    /// The first fire time strictly after `t`.
    pub fn after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .after(&t.with_timezone(&self.tz))
            .next()
            .map(|f| f.with_timezone(&Utc))
    }

    /// The first fire time at or after `t`.
    pub fn at_or_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.after(t - chrono::Duration::milliseconds(1))
    }
}

/// Exponential backoff after consecutive failures: `base × 2^(n−1)`, capped
/// at `max`, spread by ±`jitter` (a fraction) so that instances failing
/// together do not retry together.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// Delay before the next attempt after `failures` consecutive failures
    /// (zero when there is none). The jitter is a deterministic function of
    /// the instance and the failure count: spread across instances, and
    /// reproducible in tests.
    pub fn delay(&self, instance: &str, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(failures - 1).unwrap_or(u32::MAX))
            .min(self.max);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (instance, failures).hash(&mut h);
        let unit = (h.finish() % 10_000) as f64 / 10_000.0; // [0, 1)
        let factor = 1.0 + self.jitter * (2.0 * unit - 1.0);
        exp.mul_f64(factor).min(self.max.mul_f64(1.0 + self.jitter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn cron_fire_times_are_strictly_after_or_at() {
        let s = Schedule::parse("0 */15 * * * *", None).unwrap();
        assert_eq!(
            s.after(t("2026-01-01T10:00:00Z")),
            Some(t("2026-01-01T10:15:00Z"))
        );
        assert_eq!(
            s.at_or_after(t("2026-01-01T10:00:00Z")),
            Some(t("2026-01-01T10:00:00Z"))
        );
        assert_eq!(
            s.after(t("2026-01-01T10:14:59Z")),
            Some(t("2026-01-01T10:15:00Z"))
        );
        assert!(
            Schedule::parse("*/5 * * * *", None).is_err(),
            "five fields: no seconds"
        );
    }

    #[test]
    fn backoff_grows_is_bounded_and_jittered() {
        let b = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
            jitter: 0.2,
        };
        assert_eq!(b.delay("a", 0), Duration::ZERO);
        for n in 1..=5 {
            let d = b.delay("a", n).as_secs_f64();
            let nominal = 2f64.powi(n as i32 - 1);
            assert!(d >= nominal * 0.8 && d <= nominal * 1.2, "n={n}: {d}");
        }
        for n in [7, 20, 40, 1000] {
            assert!(
                b.delay("a", n) <= Duration::from_secs(72),
                "bounded at n={n}"
            );
            assert!(b.delay("a", n) >= Duration::from_secs(48), "n={n}");
        }
        let spread: std::collections::BTreeSet<_> = (0..20)
            .map(|i| b.delay(&format!("i{i}"), 3).as_millis())
            .collect();
        assert!(
            spread.len() > 10,
            "instances failing together spread out: {spread:?}"
        );
        assert_eq!(b.delay("a", 3), b.delay("a", 3), "reproducible");
    }
}
