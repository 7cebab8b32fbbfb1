//! What each deployment shipped, and the lead time of each change shipped.
//!
//! A successful deployment ships the changes its deployed revision contains
//! that no earlier successful deployment of the same scope, repository and
//! environment contained: the changes since its previous successful
//! deployment, as the [linking](crate::linking) orders them (by finish
//! time). As in DevLake (whose `calculateChangeLeadTime` only reads
//! deployments that have a previous successful one), the first successful
//! deployment of each group is the baseline: it ships nothing, and what it
//! contains counts as already deployed. So hand in the history from some
//! deployment *before* the period measured.
//!
//! A change shipped again (after a rollback, say) counts once, with the
//! deployment that shipped it first.
//!
//! A change's lead time is the time from when it was started to when the
//! deployment that shipped it finished. When it was started is the time of
//! its first commit, or, for a pull request, the earlier of its first
//! commit and its creation (DevLake's cycle time: coding time, counted only
//! when the first commit precedes the pull request, plus the time to merge
//! and to deploy). A change dated after the deployment that shipped it
//! (clocks disagree) has lead time zero.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, TimeDelta, Utc};

use crate::github;
use crate::linking::{DeploymentCommit, link, linkable_in_order};
use crate::stats::median;
use crate::window::{Window, hours};

/// A deployment and the commits its deployed revision contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedRevision {
    /// What the linking reads: scope, repository, environment, outcome,
    /// finish time, and the deployed commit.
    pub commit: DeploymentCommit,
    /// The commits the deployed revision contains (from git history or the
    /// compare API): at least those since the previous successful
    /// deployment of the same environment; more (the whole history) is
    /// fine. The deployed commit counts even when it is not listed.
    pub contains: Vec<String>,
}

/// A change that reaches deployment as one commit: a commit, or a merged
/// pull request (as its merge commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// How reports name it: `#123` for a pull request, the sha for a commit.
    pub id: String,
    /// The commit a deployment contains when it contains the change.
    pub sha: String,
    /// When work on it started (see the module's documentation).
    pub started_at: DateTime<Utc>,
}

impl Change {
    /// A commit as a change, started when it was authored (else
    /// committed); `None` when GitHub gave neither date.
    pub fn from_commit(commit: &github::Commit) -> Option<Change> {
        Some(Change {
            id: commit.sha.clone(),
            sha: commit.sha.clone(),
            started_at: commit.authored_at()?,
        })
    }

    /// A merged pull request as a change: its merge commit, started at the
    /// earlier of `first_commit_at` (the authored date of its first
    /// commit, when known) and its creation. `None` when it was not merged.
    pub fn from_pull_request(
        pr: &github::PullRequest,
        first_commit_at: Option<DateTime<Utc>>,
    ) -> Option<Change> {
        let sha = pr.landed_sha()?;
        let started_at = first_commit_at.map_or(pr.created_at, |t| t.min(pr.created_at));
        Some(Change {
            id: format!("#{}", pr.number),
            sha: sha.to_owned(),
            started_at,
        })
    }
}

/// A change a deployment shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShippedChange {
    /// The change, by index into the changes given.
    pub change: usize,
    /// From when it started to when the deployment finished (never
    /// negative).
    pub lead_time: TimeDelta,
}

impl ShippedChange {
    /// The lead time in hours.
    pub fn hours(&self) -> f64 {
        hours(self.lead_time)
    }
}

/// A successful deployment and the changes it shipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentChanges {
    /// The deployment, by index into the deployments given.
    pub deployment: usize,
    /// Its previous successful deployment (same scope, repository and
    /// environment), by index; `None` for the baseline of its group.
    pub previous: Option<usize>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// The changes it shipped, in the order its commit list names them.
    pub changes: Vec<ShippedChange>,
}

/// What each successful, finished deployment shipped (see the module's
/// documentation), one entry per such deployment (including baselines,
/// which ship nothing), ordered by finish time (then input order).
/// Deployments that failed, have not finished, or lack an environment or a
/// repository ship nothing and are left out.
pub fn shipped_changes(
    deployments: &[DeployedRevision],
    changes: &[Change],
) -> Vec<DeploymentChanges> {
    let row = |i: usize| &deployments[i].commit;
    let links = link(deployments.len(), row, |_| true);
    let mut by_sha: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, change) in changes.iter().enumerate() {
        by_sha.entry(change.sha.as_str()).or_default().push(i);
    }

    // Per group, the changes some deployment already contained.
    let mut deployed: HashMap<(&str, &str, &str), HashSet<usize>> = HashMap::new();
    let mut shipped = Vec::new();
    for i in linkable_in_order(deployments.len(), row, |_| true) {
        let deployment = &deployments[i];
        let Some(finished_at) = deployment.commit.finished_at else {
            continue; // not linkable
        };
        let seen = deployed.entry(deployment.commit.group()).or_default();
        let shas = deployment
            .contains
            .iter()
            .map(String::as_str)
            .chain([deployment.commit.commit_sha.as_str()]);
        let mut changes_shipped = Vec::new();
        for change in shas.flat_map(|sha| by_sha.get(sha).into_iter().flatten().copied()) {
            if seen.insert(change) && links[i].is_some() {
                let lead_time = (finished_at - changes[change].started_at).max(TimeDelta::zero());
                changes_shipped.push(ShippedChange { change, lead_time });
            }
        }
        shipped.push(DeploymentChanges {
            deployment: i,
            previous: links[i],
            finished_at,
            changes: changes_shipped,
        });
    }
    shipped.sort_by_key(|d| (d.finished_at, d.deployment));
    shipped
}

/// The lead times, in hours, of the changes shipped by the deployments that
/// finished in `window`.
pub fn lead_times_hours(shipped: &[DeploymentChanges], window: &Window) -> Vec<f64> {
    shipped
        .iter()
        .filter(|d| window.contains(d.finished_at))
        .flat_map(|d| d.changes.iter().map(ShippedChange::hours))
        .collect()
}

/// The median lead time, in hours, of the changes shipped by the
/// deployments that finished in `window`; `None` when they shipped none.
pub fn median_lead_time_hours(shipped: &[DeploymentChanges], window: &Window) -> Option<f64> {
    median(&lead_times_hours(shipped, window))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    fn deployment(
        id: &str,
        env: &str,
        success: bool,
        finished: &str,
        sha: &str,
        contains: &[&str],
    ) -> DeployedRevision {
        DeployedRevision {
            commit: DeploymentCommit {
                id: id.into(),
                cicd_deployment_id: id.into(),
                cicd_scope_id: "o/r".into(),
                repo_url: "o/r".into(),
                environment: env.into(),
                success,
                started_at: None,
                finished_at: (!finished.is_empty()).then(|| at(finished)),
                commit_sha: sha.into(),
            },
            contains: contains.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn change(id: &str, sha: &str, started: &str) -> Change {
        Change {
            id: id.into(),
            sha: sha.into(),
            started_at: at(started),
        }
    }

    fn shipped_ids<'a>(d: &DeploymentChanges, changes: &'a [Change]) -> Vec<&'a str> {
        d.changes
            .iter()
            .map(|c| changes[c.change].id.as_str())
            .collect()
    }

    /// History a-b-c-d-e on main; production deployed at b (baseline),
    /// then d (a failed attempt at c before it), then e; staging deployed
    /// at c. Full history given as `contains`.
    #[test]
    fn each_deployment_ships_what_is_new_since_the_previous_success() {
        let deployments = [
            deployment(
                "p1",
                "production",
                true,
                "2024-03-01T12:00:00Z",
                "b",
                &["a", "b"],
            ),
            deployment(
                "p2",
                "production",
                false,
                "2024-03-02T12:00:00Z",
                "c",
                &["a", "b", "c"],
            ),
            deployment(
                "p3",
                "production",
                true,
                "2024-03-03T12:00:00Z",
                "d",
                &["a", "b", "c", "d"],
            ),
            deployment(
                "s1",
                "staging",
                true,
                "2024-03-02T18:00:00Z",
                "c",
                &["a", "b", "c"],
            ),
            deployment(
                "p4",
                "production",
                true,
                "2024-03-04T00:00:00Z",
                "e",
                &["a", "b", "c", "d", "e"],
            ),
        ];
        let changes = [
            change("#1", "a", "2024-02-28T00:00:00Z"),
            change("#2", "b", "2024-03-01T00:00:00Z"),
            change("#3", "c", "2024-03-02T00:00:00Z"),
            change("#4", "d", "2024-03-02T06:00:00Z"),
            change("#5", "e", "2024-03-03T18:00:00Z"),
        ];
        let shipped = shipped_changes(&deployments, &changes);
        // Failed p2 left out; ordered by finish: p1, s1, p3, p4.
        let order: Vec<usize> = shipped.iter().map(|d| d.deployment).collect();
        assert_eq!(order, [0, 3, 2, 4]);

        // p1: production's baseline, ships nothing.
        assert_eq!(shipped[0].previous, None);
        assert!(shipped[0].changes.is_empty());
        // s1: staging's baseline, ships nothing either.
        assert_eq!(shipped[1].previous, None);
        assert!(shipped[1].changes.is_empty());
        // p3 (previous p1) ships c and d: 03-03 12:00 - 03-02 00:00 = 36 h,
        // and - 03-02 06:00 = 30 h.
        assert_eq!(shipped[2].previous, Some(0));
        assert_eq!(shipped_ids(&shipped[2], &changes), ["#3", "#4"]);
        assert_eq!(shipped[2].changes[0].lead_time, TimeDelta::hours(36));
        assert_eq!(shipped[2].changes[1].hours(), 30.0);
        // p4 (previous p3) ships e: 03-04 00:00 - 03-03 18:00 = 6 h.
        assert_eq!(shipped[3].previous, Some(2));
        assert_eq!(shipped_ids(&shipped[3], &changes), ["#5"]);
        assert_eq!(shipped[3].changes[0].hours(), 6.0);

        // Median over March: 6, 30, 36 -> 30.
        let march = Window::new(at("2024-03-01T00:00:00Z"), at("2024-04-01T00:00:00Z")).unwrap();
        assert_eq!(lead_times_hours(&shipped, &march), [36.0, 30.0, 6.0]);
        assert_eq!(median_lead_time_hours(&shipped, &march), Some(30.0));
        // Up to p4 finishing (excluded): 30 and 36 -> 33.
        let before_p4 =
            Window::new(at("2024-03-01T00:00:00Z"), at("2024-03-04T00:00:00Z")).unwrap();
        assert_eq!(median_lead_time_hours(&shipped, &before_p4), Some(33.0));
        // Nothing shipped in February.
        let february = Window::new(at("2024-02-01T00:00:00Z"), at("2024-03-01T00:00:00Z")).unwrap();
        assert_eq!(median_lead_time_hours(&shipped, &february), None);
    }

    #[test]
    fn compare_lists_work_as_well_as_whole_histories() {
        // `contains` holds only the commits since the previous deployment
        // (the compare API's answer), the deployed commit left implicit.
        let deployments = [
            deployment("1", "production", true, "2024-03-01T00:00:00Z", "b", &["a"]),
            deployment("2", "production", true, "2024-03-02T00:00:00Z", "d", &["c"]),
        ];
        let changes = [
            change("b", "b", "2024-02-29T00:00:00Z"),
            change("c", "c", "2024-03-01T12:00:00Z"),
            change("d", "d", "2024-03-01T18:00:00Z"),
        ];
        let shipped = shipped_changes(&deployments, &changes);
        assert_eq!(shipped_ids(&shipped[1], &changes), ["c", "d"]);
        assert_eq!(shipped[1].changes[0].hours(), 12.0);
        assert_eq!(shipped[1].changes[1].hours(), 6.0);
    }

    #[test]
    fn a_change_redeployed_after_a_rollback_counts_once() {
        let deployments = [
            deployment("1", "production", true, "2024-03-01T00:00:00Z", "a", &["a"]),
            deployment(
                "2",
                "production",
                true,
                "2024-03-02T00:00:00Z",
                "b",
                &["a", "b"],
            ),
            // Rolled back to a, then b again.
            deployment("3", "production", true, "2024-03-03T00:00:00Z", "a", &["a"]),
            deployment(
                "4",
                "production",
                true,
                "2024-03-04T00:00:00Z",
                "b",
                &["a", "b"],
            ),
        ];
        let changes = [change("b", "b", "2024-03-01T12:00:00Z")];
        let shipped = shipped_changes(&deployments, &changes);
        assert_eq!(shipped_ids(&shipped[1], &changes), ["b"]);
        assert_eq!(shipped[1].changes[0].hours(), 12.0);
        assert!(shipped[2].changes.is_empty());
        assert!(shipped[3].changes.is_empty());
    }

    #[test]
    fn a_change_dated_after_its_deployment_has_lead_time_zero() {
        let deployments = [
            deployment("1", "production", true, "2024-03-01T00:00:00Z", "a", &[]),
            deployment("2", "production", true, "2024-03-02T00:00:00Z", "b", &[]),
        ];
        let changes = [change("b", "b", "2024-03-02T00:30:00Z")];
        let shipped = shipped_changes(&deployments, &changes);
        assert_eq!(shipped[1].changes[0].lead_time, TimeDelta::zero());
    }

    #[test]
    fn pull_requests_start_at_their_first_commit_or_creation() {
        let pr: github::PullRequest = serde_json::from_str(
            r#"{"number": 42, "title": "t", "created_at": "2024-03-01T10:00:00Z",
                "merged_at": "2024-03-01T15:00:00Z", "merge_commit_sha": "m",
                "base": {"ref": "main", "sha": "x"}, "head": {"ref": "f", "sha": "y"}}"#,
        )
        .unwrap();
        let c = Change::from_pull_request(&pr, Some(at("2024-03-01T08:00:00Z"))).unwrap();
        assert_eq!((c.id.as_str(), c.sha.as_str()), ("#42", "m"));
        assert_eq!(c.started_at, at("2024-03-01T08:00:00Z"));
        // First commit after the creation (pushed later): the creation.
        let c = Change::from_pull_request(&pr, Some(at("2024-03-01T11:00:00Z"))).unwrap();
        assert_eq!(c.started_at, at("2024-03-01T10:00:00Z"));
        let c = Change::from_pull_request(&pr, None).unwrap();
        assert_eq!(c.started_at, at("2024-03-01T10:00:00Z"));
        // Not merged: no change.
        let open = github::PullRequest {
            merged_at: None,
            ..pr
        };
        assert_eq!(Change::from_pull_request(&open, None), None);
    }

    #[test]
    fn commits_start_when_authored() {
        let commit: github::Commit = serde_json::from_str(
            r#"{"sha": "abc", "commit": {"message": "m",
                "author": {"date": "2024-03-01T09:00:00Z"}, "committer": {"date": "2024-03-01T10:00:00Z"}}}"#,
        )
        .unwrap();
        let c = Change::from_commit(&commit).unwrap();
        assert_eq!((c.id.as_str(), c.sha.as_str()), ("abc", "abc"));
        assert_eq!(c.started_at, at("2024-03-01T09:00:00Z"));
    }
}
