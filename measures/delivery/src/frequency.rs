//! How often an environment is deployed to.
//!
//! Deployments are counted by
//! [`deployment_key`](DeploymentCommit::deployment_key): the rows of one
//! deployment (one per repository it deployed) count once, finished when
//! the last of them finished, as DevLake's dashboards count them. Only
//! successful, finished deployments count.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::linking::DeploymentCommit;
use crate::window::Window;

/// The successful deployments to `environment`, by deployment key, with
/// when each finished (its last row).
pub fn finished_deployments<'a>(
    deployments: &'a [DeploymentCommit],
    environment: &str,
) -> BTreeMap<&'a str, DateTime<Utc>> {
    let mut finished: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    for d in deployments
        .iter()
        .filter(|d| d.success && d.environment == environment)
    {
        if let Some(t) = d.finished_at {
            let last = finished.entry(d.deployment_key()).or_insert(t);
            *last = (*last).max(t);
        }
    }
    finished
}

/// How many successful deployments to `environment` finished in `window`.
pub fn deployment_count(
    deployments: &[DeploymentCommit],
    environment: &str,
    window: &Window,
) -> usize {
    finished_deployments(deployments, environment)
        .values()
        .filter(|&&t| window.contains(t))
        .count()
}

/// Successful deployments to `environment` per day over `window`: the
/// [`deployment_count`] divided by the window's length in days.
pub fn deployments_per_day(
    deployments: &[DeploymentCommit],
    environment: &str,
    window: &Window,
) -> f64 {
    deployment_count(deployments, environment, window) as f64 / window.days()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    fn row(
        id: &str,
        deployment: &str,
        env: &str,
        success: bool,
        finished: &str,
    ) -> DeploymentCommit {
        DeploymentCommit {
            id: id.into(),
            cicd_deployment_id: deployment.into(),
            cicd_scope_id: "s".into(),
            repo_url: format!("repo-{id}"),
            environment: env.into(),
            success,
            started_at: None,
            finished_at: (!finished.is_empty()).then(|| at(finished)),
            commit_sha: id.into(),
        }
    }

    #[test]
    fn deployments_counted_once_when_their_last_row_finished() {
        let rows = [
            row("1", "p1", "production", true, "2024-03-01T10:00:00Z"),
            row("2", "p1", "production", true, "2024-03-08T00:00:00Z"), // p1 ends here
            row("3", "p2", "production", true, "2024-03-03T00:00:00Z"),
            row("4", "p3", "production", false, "2024-03-04T00:00:00Z"), // failed
            row("5", "p4", "staging", true, "2024-03-04T00:00:00Z"),     // other environment
            row("6", "p5", "production", true, ""),                      // unfinished
            row("7", "", "production", true, "2024-03-05T00:00:00Z"),    // its own deployment
        ];
        let first_week =
            Window::new(at("2024-03-01T00:00:00Z"), at("2024-03-08T00:00:00Z")).unwrap();
        // p2 and 7; p1 finished at the window's (excluded) end.
        assert_eq!(deployment_count(&rows, "production", &first_week), 2);
        assert_eq!(
            deployments_per_day(&rows, "production", &first_week),
            2.0 / 7.0
        );
        let march = Window::new(at("2024-03-01T00:00:00Z"), at("2024-03-31T00:00:00Z")).unwrap();
        assert_eq!(deployment_count(&rows, "production", &march), 3);
        assert_eq!(deployments_per_day(&rows, "production", &march), 0.1);
        assert_eq!(deployment_count(&rows, "staging", &march), 1);
    }
}
