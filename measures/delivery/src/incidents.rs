//! Incidents, the deployments that caused them, and how long restoring
//! service took.
//!
//! As in DevLake (`backend/plugins/dora/tasks/incident_deploy_connector.go`),
//! an incident is attributed to the latest successful deployment of the
//! environment that finished strictly before the incident was opened: the
//! last change before things broke is the suspect. A deployment with at
//! least one incident attributed is a failed change; the change failure
//! rate of a period is the share of the deployments finished in it that
//! failed.
//!
//! Time to restore is the time from opening to closing the incident. (The
//! DevLake dashboards' 2023 "failed deployment recovery time" measures from
//! the *deployment's* finish to the incident's resolution instead.)

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};

use crate::frequency::finished_deployments;
use crate::github;
use crate::linking::DeploymentCommit;
use crate::stats::median;
use crate::window::{Window, hours};

/// An incident: service degraded in an environment, from when it was
/// opened to when it was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// How reports name it (`#12` for a GitHub issue).
    pub id: String,
    /// When it was opened (reported).
    pub opened_at: DateTime<Utc>,
    /// When it was closed (service restored); `None` while open.
    pub closed_at: Option<DateTime<Utc>>,
    /// Its labels.
    pub labels: Vec<String>,
    /// Whether it is a security incident.
    pub security: bool,
}

impl Incident {
    /// A GitHub issue as an incident (which issues are incidents is the
    /// caller's choice: those labelled `incident`, say). Security when one
    /// of its labels is in `security_labels` (ignoring ASCII case). `None`
    /// for a pull request, which the issues API lists too.
    pub fn from_issue(issue: &github::Issue, security_labels: &[&str]) -> Option<Incident> {
        if issue.is_pull_request() {
            return None;
        }
        Some(Incident {
            id: format!("#{}", issue.number),
            opened_at: issue.created_at,
            closed_at: issue.closed_at,
            labels: issue.labels.iter().map(|l| l.name.clone()).collect(),
            security: security_labels.iter().any(|s| issue.has_label(s)),
        })
    }

    /// From opening to closing; `None` while open. Never negative.
    pub fn time_to_restore(&self) -> Option<TimeDelta> {
        Some((self.closed_at? - self.opened_at).max(TimeDelta::zero()))
    }
}

/// For each incident, the deployment it is attributed to, by index into
/// `deployments`: the latest successful one to `environment` that finished
/// strictly before the incident opened (among several finished at the same
/// instant, the last listed); `None` when there is none.
pub fn attribute(
    incidents: &[Incident],
    deployments: &[DeploymentCommit],
    environment: &str,
) -> Vec<Option<usize>> {
    let mut finished: Vec<(DateTime<Utc>, usize)> = deployments
        .iter()
        .enumerate()
        .filter(|(_, d)| d.success && d.environment == environment)
        .filter_map(|(i, d)| Some((d.finished_at?, i)))
        .collect();
    finished.sort();
    incidents
        .iter()
        .map(|incident| {
            let before = finished.partition_point(|&(t, _)| t < incident.opened_at);
            before.checked_sub(1).map(|k| finished[k].1)
        })
        .collect()
}

/// How many deployments finished in a period, and how many of them failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChangeFailure {
    /// Successful deployments to the environment that finished in the
    /// period.
    pub deployments: usize,
    /// Those of them with at least one incident attributed.
    pub failed: usize,
}

impl ChangeFailure {
    /// `failed / deployments`, in `[0, 1]`; `None` without deployments.
    pub fn rate(&self) -> Option<f64> {
        (self.deployments > 0).then(|| self.failed as f64 / self.deployments as f64)
    }
}

/// The change failure of the successful deployments to `environment` that
/// finished in `window`, given the incidents' `attribution` (from
/// [`attribute`], over the same `deployments`). Deployments are counted by
/// [`deployment_key`](DeploymentCommit::deployment_key): the rows of one
/// deployment (one per repository) count once, finished when the last of
/// them finished (as DevLake's dashboards count them).
pub fn change_failure(
    deployments: &[DeploymentCommit],
    attribution: &[Option<usize>],
    environment: &str,
    window: &Window,
) -> ChangeFailure {
    let finished = finished_deployments(deployments, environment);
    let failed: BTreeSet<&str> = attribution
        .iter()
        .flatten()
        .map(|&i| deployments[i].deployment_key())
        .collect();
    let in_window: Vec<&str> = finished
        .into_iter()
        .filter(|&(_, t)| window.contains(t))
        .map(|(key, _)| key)
        .collect();
    ChangeFailure {
        deployments: in_window.len(),
        failed: in_window.iter().filter(|key| failed.contains(*key)).count(),
    }
}

/// The DORA figures of one kind of incident (all, or security ones) over a
/// window; serialized under the names the delivery measures' details use.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Figures {
    /// Incidents opened in the window.
    pub incidents: usize,
    /// Successful deployments finished in the window (not serialized: the
    /// measures report it once, at the top of their details).
    #[serde(skip)]
    pub deployments: usize,
    /// Of those, the ones with an incident opened in the window attributed.
    pub failed_deployments: usize,
    /// `failed_deployments / deployments`; `None` without deployments.
    pub change_failure_rate: Option<f64>,
    /// The median time to restore of the incidents closed in the window.
    pub median_time_to_restore_hours: Option<f64>,
}

/// Incidents over a window: each one's deployment, and the figures of all
/// of them and of the security ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// For each incident, the deployment it is attributed to (see
    /// [`attribute`]), whenever it was opened.
    pub attribution: Vec<Option<usize>>,
    /// The figures of every incident.
    pub all: Figures,
    /// The figures of the security incidents alone.
    pub security: Figures,
}

/// Attribute `incidents` to the successful `deployments` to `environment`
/// and work out the figures of `window`: a deployment fails when an
/// incident opened in the window is attributed to it (an incident opened
/// earlier is attributed, for the record, but fails nothing of the window).
pub fn summarize(
    incidents: &[Incident],
    deployments: &[DeploymentCommit],
    environment: &str,
    window: &Window,
) -> Summary {
    let attribution = attribute(incidents, deployments, environment);
    let figures = |security_only: bool| {
        let chosen = |i: &Incident| i.security || !security_only;
        let blame: Vec<Option<usize>> = incidents
            .iter()
            .zip(&attribution)
            .map(|(i, &a)| a.filter(|_| window.contains(i.opened_at) && chosen(i)))
            .collect();
        let cf = change_failure(deployments, &blame, environment, window);
        let kind: Vec<Incident> = incidents.iter().filter(|i| chosen(i)).cloned().collect();
        Figures {
            incidents: kind.iter().filter(|i| window.contains(i.opened_at)).count(),
            deployments: cf.deployments,
            failed_deployments: cf.failed,
            change_failure_rate: cf.rate(),
            median_time_to_restore_hours: median_time_to_restore_hours(&kind, window),
        }
    };
    Summary {
        all: figures(false),
        security: figures(true),
        attribution,
    }
}

/// The times to restore, in hours, of the incidents closed in `window`.
pub fn times_to_restore_hours(incidents: &[Incident], window: &Window) -> Vec<f64> {
    incidents
        .iter()
        .filter(|i| i.closed_at.is_some_and(|t| window.contains(t)))
        .filter_map(Incident::time_to_restore)
        .map(hours)
        .collect()
}

/// The median time to restore, in hours, of the incidents closed in
/// `window`; `None` when none was.
pub fn median_time_to_restore_hours(incidents: &[Incident], window: &Window) -> Option<f64> {
    median(&times_to_restore_hours(incidents, window))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    fn deployment(id: &str, env: &str, success: bool, finished: &str) -> DeploymentCommit {
        DeploymentCommit {
            id: id.into(),
            cicd_deployment_id: String::new(),
            cicd_scope_id: "s".into(),
            repo_url: "r".into(),
            environment: env.into(),
            success,
            started_at: None,
            finished_at: (!finished.is_empty()).then(|| at(finished)),
            commit_sha: id.into(),
        }
    }

    fn incident(id: &str, opened: &str, closed: &str) -> Incident {
        Incident {
            id: id.into(),
            opened_at: at(opened),
            closed_at: (!closed.is_empty()).then(|| at(closed)),
            labels: vec!["incident".into()],
            security: false,
        }
    }

    fn deployments() -> Vec<DeploymentCommit> {
        vec![
            deployment("d1", "production", true, "2024-03-01T10:00:00Z"),
            deployment("d2", "production", false, "2024-03-02T10:00:00Z"), // failed: never blamed
            deployment("d3", "staging", true, "2024-03-03T10:00:00Z"),     // other environment
            deployment("d4", "production", true, "2024-03-04T10:00:00Z"),
            deployment("d5", "production", true, ""), // unfinished
            deployment("d6", "production", true, "2024-03-06T10:00:00Z"),
        ]
    }

    #[test]
    fn incidents_go_to_the_latest_success_finished_before_them() {
        let incidents = [
            incident("#1", "2024-02-28T00:00:00Z", "2024-02-28T01:00:00Z"), // before any
            incident("#2", "2024-03-01T10:00:00Z", "2024-03-01T11:00:00Z"), // at d1's finish: strict
            incident("#3", "2024-03-01T10:00:01Z", "2024-03-01T12:00:00Z"), // just after d1
            incident("#4", "2024-03-03T12:00:00Z", "2024-03-03T13:00:00Z"), // after d2 failed, d3 staging
            incident("#5", "2024-03-05T00:00:00Z", ""),                     // after d4, open
            incident("#6", "2024-03-04T11:00:00Z", "2024-03-04T17:00:00Z"), // after d4
        ];
        let a = attribute(&incidents, &deployments(), "production");
        assert_eq!(a, [None, None, Some(0), Some(0), Some(3), Some(3)]);
        assert_eq!(
            attribute(&incidents, &deployments(), "staging"),
            [None, None, None, Some(2), Some(2), Some(2)]
        );
    }

    #[test]
    fn simultaneous_deployments_blame_the_last_listed() {
        let deployments = [
            deployment("a", "production", true, "2024-03-01T10:00:00Z"),
            deployment("b", "production", true, "2024-03-01T10:00:00Z"),
        ];
        let incidents = [incident("#1", "2024-03-01T11:00:00Z", "")];
        assert_eq!(attribute(&incidents, &deployments, "production"), [Some(1)]);
    }

    #[test]
    fn change_failure_rate_over_a_window() {
        let deployments = deployments();
        let incidents = [
            incident("#3", "2024-03-01T12:00:00Z", "2024-03-01T14:00:00Z"), // d1
            incident("#4", "2024-03-02T12:00:00Z", "2024-03-02T13:00:00Z"), // d1 again
            incident("#6", "2024-03-04T11:00:00Z", "2024-03-04T17:00:00Z"), // d4
        ];
        let a = attribute(&incidents, &deployments, "production");
        assert_eq!(a, [Some(0), Some(0), Some(3)]);
        // March: d1, d4, d6 succeeded in production (d5 unfinished); d1
        // and d4 failed: 2/3.
        let march = Window::new(at("2024-03-01T00:00:00Z"), at("2024-04-01T00:00:00Z")).unwrap();
        let cf = change_failure(&deployments, &a, "production", &march);
        assert_eq!(
            cf,
            ChangeFailure {
                deployments: 3,
                failed: 2
            }
        );
        assert!((cf.rate().unwrap() - 2.0 / 3.0).abs() < 1e-12);
        // From d4 on: d4 and d6, d4 failed: 1/2.
        let late = Window::new(at("2024-03-04T10:00:00Z"), at("2024-04-01T00:00:00Z")).unwrap();
        assert_eq!(
            change_failure(&deployments, &a, "production", &late).rate(),
            Some(0.5)
        );
        // No deployment: no rate.
        let feb = Window::new(at("2024-02-01T00:00:00Z"), at("2024-03-01T00:00:00Z")).unwrap();
        assert_eq!(
            change_failure(&deployments, &a, "production", &feb).rate(),
            None
        );
    }

    #[test]
    fn rows_of_one_deployment_count_once_finished_with_the_last() {
        let mut rows = vec![
            deployment("r1", "production", true, "2024-03-01T10:00:00Z"),
            deployment("r2", "production", true, "2024-03-01T10:05:00Z"),
            deployment("r3", "production", true, "2024-03-02T10:00:00Z"),
        ];
        rows[0].cicd_deployment_id = "pipeline1".into();
        rows[1].cicd_deployment_id = "pipeline1".into();
        rows[2].cicd_deployment_id = "pipeline2".into();
        let incidents = [incident("#1", "2024-03-01T10:01:00Z", "")]; // blames r1, so pipeline1
        let a = attribute(&incidents, &rows, "production");
        assert_eq!(a, [Some(0)]);
        let all = Window::new(at("2024-03-01T00:00:00Z"), at("2024-04-01T00:00:00Z")).unwrap();
        assert_eq!(
            change_failure(&rows, &a, "production", &all),
            ChangeFailure {
                deployments: 2,
                failed: 1
            }
        );
        // pipeline1 finished at 10:05, its last row: outside a window
        // ending at 10:05.
        let early = Window::new(at("2024-03-01T00:00:00Z"), at("2024-03-01T10:05:00Z")).unwrap();
        assert_eq!(
            change_failure(&rows, &a, "production", &early).deployments,
            0
        );
    }

    #[test]
    fn summary_of_all_and_security_incidents_over_a_window() {
        let mut incidents = vec![
            incident("#1", "2024-02-29T12:00:00Z", "2024-03-01T02:00:00Z"), // before March, after none
            incident("#2", "2024-03-01T12:00:00Z", "2024-03-01T14:00:00Z"), // d1, 2 h
            incident("#3", "2024-03-04T11:00:00Z", "2024-03-04T17:00:00Z"), // d4, 6 h, security
            incident("#4", "2024-03-06T11:00:00Z", ""),                     // d6, open
        ];
        incidents[2].security = true;
        let march = Window::new(at("2024-03-01T00:00:00Z"), at("2024-04-01T00:00:00Z")).unwrap();
        let s = summarize(&incidents, &deployments(), "production", &march);
        assert_eq!(s.attribution, [None, Some(0), Some(3), Some(5)]);
        // d1, d4, d6 finished in March, all three failed; restored in
        // March: 14 h, 2 h, 6 h.
        assert_eq!(
            s.all,
            Figures {
                incidents: 3,
                deployments: 3,
                failed_deployments: 3,
                change_failure_rate: Some(1.0),
                median_time_to_restore_hours: Some(6.0),
            }
        );
        assert_eq!(
            (s.security.incidents, s.security.failed_deployments),
            (1, 1)
        );
        assert_eq!(s.security.median_time_to_restore_hours, Some(6.0));
    }

    #[test]
    fn time_to_restore_from_opening_to_closing() {
        let incidents = [
            incident("#1", "2024-03-01T10:00:00Z", "2024-03-01T11:30:00Z"), // 1.5 h
            incident("#2", "2024-03-02T10:00:00Z", "2024-03-03T10:00:00Z"), // 24 h
            incident("#3", "2024-03-03T10:00:00Z", "2024-03-03T14:00:00Z"), // 4 h
            incident("#4", "2024-03-04T10:00:00Z", ""),                     // open
            incident("#5", "2024-02-20T10:00:00Z", "2024-02-29T10:00:00Z"), // closed in February
        ];
        assert_eq!(incidents[0].time_to_restore(), Some(TimeDelta::minutes(90)));
        assert_eq!(incidents[3].time_to_restore(), None);
        let march = Window::new(at("2024-03-01T00:00:00Z"), at("2024-04-01T00:00:00Z")).unwrap();
        assert_eq!(times_to_restore_hours(&incidents, &march), [1.5, 24.0, 4.0]);
        assert_eq!(median_time_to_restore_hours(&incidents, &march), Some(4.0));
        // Two of them: the mean of 1.5 and 24.
        let two = Window::new(at("2024-03-01T00:00:00Z"), at("2024-03-03T12:00:00Z")).unwrap();
        assert_eq!(median_time_to_restore_hours(&incidents, &two), Some(12.75));
        let feb = Window::new(at("2024-02-01T00:00:00Z"), at("2024-03-01T00:00:00Z")).unwrap();
        assert_eq!(median_time_to_restore_hours(&incidents, &feb), Some(216.0));
    }

    #[test]
    fn issues_become_incidents_and_pull_requests_do_not() {
        let issue: github::Issue = serde_json::from_str(
            r#"{"number": 12, "title": "Outage", "state": "closed",
                "labels": [{"name": "incident"}, {"name": "Security"}],
                "created_at": "2024-03-01T10:00:00Z", "closed_at": "2024-03-01T12:00:00Z"}"#,
        )
        .unwrap();
        let i = Incident::from_issue(&issue, &["security", "vulnerability"]).unwrap();
        assert_eq!(i.id, "#12");
        assert!(i.security);
        assert_eq!(i.labels, ["incident", "Security"]);
        assert_eq!(i.time_to_restore(), Some(TimeDelta::hours(2)));
        assert!(
            !Incident::from_issue(&issue, &["vulnerability"])
                .unwrap()
                .security
        );
        let pr = github::Issue {
            pull_request: Some(github::PullRequestLink::default()),
            ..issue
        };
        assert_eq!(Incident::from_issue(&pr, &[]), None);
    }
}
