//! DORA performance bands (elite, high, medium, low) as grades of a
//! metric's value.
//!
//! The State of DevOps reports do not publish thresholds: they publish the
//! *clusters* their survey answers fall in, each described by the answer
//! ranges (or, for the change failure rate, the typical value) of its
//! members. Turning a value into a band therefore takes a reading of those
//! tables; this module's reading is written out per metric below, and
//! follows Apache DevLake's (the `dora_benchmarks` table of
//! `backend/plugins/dora/models/migrationscripts/20240223_add_dora_2023_benchmark.go`
//! and the queries of `grafana/dashboards/DORA.json`, commit `420e494b4ede`)
//! wherever the report leaves a gap.
//!
//! # Accelerate State of DevOps Report 2023 (DORA, Google Cloud)
//!
//! Its clusters (share of respondents: elite 18%, high 31%, medium 33%,
//! low 17%), as summarised at
//! <https://octopus.com/blog/software-delivery-performance-clusters-2023>:
//!
//! | cluster | lead time         | deployment frequency         | change failure rate | failed deployment recovery time |
//! |---------|-------------------|------------------------------|---------------------|---------------------------------|
//! | elite   | less than one day | on demand                    | 5%                  | less than one hour              |
//! | high    | 1 day to 1 week   | once a day to once a week    | 10%                 | less than one day               |
//! | medium  | 1 week to 1 month | once a week to once a month  | 15%                 | 1 day to 1 week                 |
//! | low     | 1 week to 1 month | once a week to once a month  | 64%                 | 1 month to 6 months             |
//!
//! The low cluster shares the medium one's lead time and deployment
//! frequency, and the recovery times leave 1 week to 1 month out: as
//! DevLake does, a lead time of 1 month or more, fewer than one deployment
//! a month, and a recovery time of 1 week or more are low here. The change
//! failure rates are cluster values, not limits: as DevLake does, they are
//! read as upper limits (5% or less is elite, more than 15% low).
//!
//! # Accelerate State of DevOps Report 2024
//!
//! Its clusters (elite 19%, high 22%, medium 35%, low 25%), as summarised
//! at <https://octopus.com/blog/2024-devops-performance-clusters>:
//!
//! | cluster | lead time         | deployment frequency   | change failure rate | failed deployment recovery time |
//! |---------|-------------------|------------------------|---------------------|---------------------------------|
//! | elite   | less than one day | on demand              | 5%                  | less than one hour              |
//! | high    | 1 day to 1 week   | daily to weekly        | 20%                 | less than one day               |
//! | medium  | 1 week to 1 month | weekly to monthly      | 10%                 | less than one day               |
//! | low     | 1 to 6 months     | monthly to biannually  | 40%                 | 1 week to 1 month               |
//!
//! Lead time and deployment frequency read as in 2023. The change failure
//! rate is not ordered (the high cluster fails more often than the medium
//! one) and the high and medium clusters recover alike, so neither metric
//! has bands for 2024 here: [`BandError::Undefined`]. The 2024 report also
//! introduced a fifth metric, the rework rate (the share of deployments
//! that were unplanned, made to fix a user-facing bug), without clusters
//! or thresholds for it: it has no bands here either.
//!
//! # Edges
//!
//! "Less than X" excludes X, which goes to the next band down: a lead time
//! of exactly one day is high, a recovery time of exactly one hour is
//! high. A value on the edge between two "between" ranges goes to the
//! better band: exactly one deployment a week is high, exactly one a month
//! medium. A change failure rate equal to a cluster's value is in that
//! cluster (exactly 5% is elite). A day is 24 hours, a week 7 days, a
//! month 30 days (as in DevLake).

use std::fmt;

/// Which report's clusters to grade against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Report {
    /// Accelerate State of DevOps Report 2023.
    Dora2023,
    /// Accelerate State of DevOps Report 2024.
    Dora2024,
}

/// A performance band, ordered from worst to best.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Band {
    /// Low performers.
    Low,
    /// Medium performers.
    Medium,
    /// High performers.
    High,
    /// Elite performers.
    Elite,
}

impl Band {
    /// The band's name as a grade symbol: `low`, `medium`, `high`, `elite`.
    pub fn as_str(self) -> &'static str {
        match self {
            Band::Low => "low",
            Band::Medium => "medium",
            Band::High => "high",
            Band::Elite => "elite",
        }
    }
}

impl fmt::Display for Band {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A DORA software delivery metric that has bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Successful production deployments per day.
    DeploymentFrequency,
    /// Change lead time, in hours.
    LeadTime,
    /// Change failure rate, a fraction in `[0, 1]`.
    ChangeFailureRate,
    /// Failed deployment recovery time (time to restore), in hours.
    RecoveryTime,
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Metric::DeploymentFrequency => "deployment frequency",
            Metric::LeadTime => "lead time",
            Metric::ChangeFailureRate => "change failure rate",
            Metric::RecoveryTime => "recovery time",
        })
    }
}

/// Why a value has no band.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum BandError {
    /// The value is not one the metric can take (NaN, infinite, negative,
    /// or a rate above 1).
    #[error("{value} is not a valid {metric}")]
    Invalid {
        /// The metric.
        metric: Metric,
        /// The value.
        value: f64,
    },
    /// The report's clusters give the metric no ordered bands.
    #[error("the {report:?} report's clusters give the {metric} no bands")]
    Undefined {
        /// The report.
        report: Report,
        /// The metric.
        metric: Metric,
    },
}

const DAY: f64 = 24.0;
const WEEK: f64 = 7.0 * DAY;
const MONTH: f64 = 30.0 * DAY;

/// The band of `value` for `metric` (in the metric's unit: see [`Metric`]).
pub fn band(report: Report, metric: Metric, value: f64) -> Result<Band, BandError> {
    match metric {
        Metric::DeploymentFrequency => deployment_frequency(report, value),
        Metric::LeadTime => lead_time(report, value),
        Metric::ChangeFailureRate => change_failure_rate(report, value),
        Metric::RecoveryTime => recovery_time(report, value),
    }
}

/// The band of a deployment frequency, in successful deployments per day
/// (2023 and 2024 alike): elite above 1 a day ("on demand", multiple
/// deploys per day); high from 1 a week to 1 a day (both included); medium
/// from 1 a month (30 days, included) to 1 a week (excluded); low below 1
/// a month.
pub fn deployment_frequency(report: Report, per_day: f64) -> Result<Band, BandError> {
    let _ = report; // both reports read alike
    let per_day = valid(Metric::DeploymentFrequency, per_day)?;
    Ok(if per_day > 1.0 {
        Band::Elite
    } else if per_day >= 1.0 / 7.0 {
        Band::High
    } else if per_day >= 1.0 / 30.0 {
        Band::Medium
    } else {
        Band::Low
    })
}

/// The band of a change lead time, in hours (2023 and 2024 alike): elite
/// below 1 day; high from 1 day (included) to 1 week; medium from 1 week
/// (included) to 1 month (30 days); low from 1 month (included).
pub fn lead_time(report: Report, hours: f64) -> Result<Band, BandError> {
    let _ = report; // both reports read alike
    let hours = valid(Metric::LeadTime, hours)?;
    Ok(below(hours, [DAY, WEEK, MONTH]))
}

/// The band of a change failure rate, a fraction in `[0, 1]` (0.05 is 5%).
/// 2023: elite up to 5% (included), high up to 10%, medium up to 15%, low
/// above. 2024: [`BandError::Undefined`] (its clusters are not ordered by
/// this metric).
pub fn change_failure_rate(report: Report, rate: f64) -> Result<Band, BandError> {
    let metric = Metric::ChangeFailureRate;
    let rate = valid(metric, rate)?;
    if rate > 1.0 {
        return Err(BandError::Invalid {
            metric,
            value: rate,
        });
    }
    match report {
        Report::Dora2023 => Ok(if rate <= 0.05 {
            Band::Elite
        } else if rate <= 0.10 {
            Band::High
        } else if rate <= 0.15 {
            Band::Medium
        } else {
            Band::Low
        }),
        Report::Dora2024 => Err(BandError::Undefined { report, metric }),
    }
}

/// The band of a failed deployment recovery time (time to restore), in
/// hours. 2023: elite below 1 hour; high from 1 hour (included) to 1 day;
/// medium from 1 day (included) to 1 week; low from 1 week (included).
/// 2024: [`BandError::Undefined`] (its high and medium clusters recover
/// alike).
pub fn recovery_time(report: Report, hours: f64) -> Result<Band, BandError> {
    let metric = Metric::RecoveryTime;
    let hours = valid(metric, hours)?;
    match report {
        Report::Dora2023 => Ok(below(hours, [1.0, DAY, WEEK])),
        Report::Dora2024 => Err(BandError::Undefined { report, metric }),
    }
}

/// Elite below the first limit, high below the second, medium below the
/// third, low from there (each limit in the band below it).
fn below(value: f64, [elite, high, medium]: [f64; 3]) -> Band {
    if value < elite {
        Band::Elite
    } else if value < high {
        Band::High
    } else if value < medium {
        Band::Medium
    } else {
        Band::Low
    }
}

fn valid(metric: Metric, value: f64) -> Result<f64, BandError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(BandError::Invalid { metric, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Band::*;
    use Report::*;

    const REPORTS: [Report; 2] = [Dora2023, Dora2024];

    #[test]
    fn lead_time_edges() {
        for r in REPORTS {
            assert_eq!(lead_time(r, 0.0), Ok(Elite));
            assert_eq!(lead_time(r, 23.99), Ok(Elite));
            assert_eq!(lead_time(r, 24.0), Ok(High)); // exactly one day
            assert_eq!(lead_time(r, 167.99), Ok(High));
            assert_eq!(lead_time(r, 168.0), Ok(Medium)); // exactly one week
            assert_eq!(lead_time(r, 719.99), Ok(Medium));
            assert_eq!(lead_time(r, 720.0), Ok(Low)); // exactly 30 days
            assert_eq!(lead_time(r, 5000.0), Ok(Low));
        }
    }

    #[test]
    fn deployment_frequency_edges() {
        for r in REPORTS {
            assert_eq!(deployment_frequency(r, 3.0), Ok(Elite));
            assert_eq!(deployment_frequency(r, 1.01), Ok(Elite));
            assert_eq!(deployment_frequency(r, 1.0), Ok(High)); // exactly daily
            // Exactly weekly, however computed (4 in 28 days).
            assert_eq!(deployment_frequency(r, 4.0 / 28.0), Ok(High));
            assert_eq!(deployment_frequency(r, 1.0 / 7.0), Ok(High));
            assert_eq!(deployment_frequency(r, 3.0 / 28.0), Ok(Medium));
            // Exactly monthly (3 in 90 days).
            assert_eq!(deployment_frequency(r, 3.0 / 90.0), Ok(Medium));
            assert_eq!(deployment_frequency(r, 2.0 / 90.0), Ok(Low));
            assert_eq!(deployment_frequency(r, 0.0), Ok(Low));
        }
    }

    #[test]
    fn change_failure_rate_edges_2023() {
        assert_eq!(change_failure_rate(Dora2023, 0.0), Ok(Elite));
        assert_eq!(change_failure_rate(Dora2023, 0.05), Ok(Elite)); // exactly 5%
        assert_eq!(change_failure_rate(Dora2023, 1.0 / 20.0), Ok(Elite));
        assert_eq!(change_failure_rate(Dora2023, 0.0501), Ok(High));
        assert_eq!(change_failure_rate(Dora2023, 0.10), Ok(High)); // exactly 10%
        assert_eq!(change_failure_rate(Dora2023, 2.0 / 20.0), Ok(High));
        assert_eq!(change_failure_rate(Dora2023, 0.1001), Ok(Medium));
        assert_eq!(change_failure_rate(Dora2023, 0.15), Ok(Medium)); // exactly 15%
        assert_eq!(change_failure_rate(Dora2023, 3.0 / 20.0), Ok(Medium));
        assert_eq!(change_failure_rate(Dora2023, 0.1501), Ok(Low));
        assert_eq!(change_failure_rate(Dora2023, 0.64), Ok(Low));
        assert_eq!(change_failure_rate(Dora2023, 1.0), Ok(Low));
    }

    #[test]
    fn recovery_time_edges_2023() {
        assert_eq!(recovery_time(Dora2023, 0.5), Ok(Elite));
        assert_eq!(recovery_time(Dora2023, 1.0), Ok(High)); // exactly one hour
        assert_eq!(recovery_time(Dora2023, 23.99), Ok(High));
        assert_eq!(recovery_time(Dora2023, 24.0), Ok(Medium)); // exactly one day
        assert_eq!(recovery_time(Dora2023, 167.99), Ok(Medium));
        assert_eq!(recovery_time(Dora2023, 168.0), Ok(Low)); // exactly one week
        assert_eq!(recovery_time(Dora2023, 2000.0), Ok(Low));
    }

    #[test]
    fn unordered_2024_metrics_have_no_bands() {
        let e = change_failure_rate(Dora2024, 0.05).unwrap_err();
        assert_eq!(
            e,
            BandError::Undefined {
                report: Dora2024,
                metric: Metric::ChangeFailureRate
            }
        );
        assert_eq!(
            e.to_string(),
            "the Dora2024 report's clusters give the change failure rate no bands"
        );
        assert!(matches!(
            recovery_time(Dora2024, 0.5),
            Err(BandError::Undefined { .. })
        ));
    }

    #[test]
    fn invalid_values_are_refused() {
        for value in [f64::NAN, f64::INFINITY, -1.0] {
            for metric in [
                Metric::DeploymentFrequency,
                Metric::LeadTime,
                Metric::ChangeFailureRate,
                Metric::RecoveryTime,
            ] {
                assert!(
                    matches!(
                        band(Dora2023, metric, value),
                        Err(BandError::Invalid { .. })
                    ),
                    "{metric} {value}"
                );
            }
        }
        let e = change_failure_rate(Dora2023, 1.5).unwrap_err();
        assert_eq!(e.to_string(), "1.5 is not a valid change failure rate");
    }

    #[test]
    fn bands_are_ordered_and_named() {
        assert!(Low < Medium && Medium < High && High < Elite);
        assert_eq!(Elite.to_string(), "elite");
        assert_eq!(band(Dora2023, Metric::LeadTime, 30.0), Ok(High));
        assert_eq!(band(Dora2024, Metric::DeploymentFrequency, 0.5), Ok(High));
    }
}
