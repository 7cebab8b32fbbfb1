//! Which successful deployment came before each successful deployment:
//! Apache DevLake's `prev_success_deployment_commit_id` rule.
//!
//! DevLake (`backend/plugins/dora/tasks/prev_deployment_commit_enricher.go`,
//! subtask `enrichPrevSuccessDeploymentCommits`, read at commit
//! `420e494b4ede9a16c4bfb59de099c797bcd7f5f1`) links deployment commits
//! (one row per deployment and repository) as follows, restated here:
//!
//! 1. Candidates are the rows that succeeded (result `SUCCESS`), have a
//!    finish time, a non-empty environment and a non-empty repository URL,
//!    and belong to the project: their CI/CD scope is one the project maps
//!    (`project_mapping` rows with table `cicd_scopes`). (Run for a single
//!    scope instead of a project, only that scope's rows are candidates.)
//! 2. Candidates are ordered by scope, repository URL, environment and
//!    **finish** time (not start time).
//! 3. Walking that order, a candidate's previous successful deployment is
//!    the candidate just before it when both have the same scope,
//!    repository URL and environment; the first of each such group has
//!    none.
//!
//! Every row that is not a candidate (failed, unfinished, without
//! environment or repository, outside the project) gets no link here.
//! (DevLake does not write those rows at all, so a stale value would stay
//! in its table; here they simply have none.)
//!
//! Candidates finished at the same instant in one group are ordered as the
//! input lists them (DevLake's SQL leaves their order unspecified).
//! Strings are compared exactly (DevLake's MySQL collation ignores case).

use std::cmp::Ordering;

use chrono::{DateTime, Utc};

/// One commit deployed by one deployment: a row of DevLake's
/// `cicd_deployment_commits` table, with the fields the delivery measures
/// read. A GitHub deployment is one of these
/// ([`github::deployment_commit`](crate::github::deployment_commit)); a
/// CI/CD pipeline deploying several repositories at once is one per
/// repository, sharing [`cicd_deployment_id`](Self::cicd_deployment_id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentCommit {
    /// Unique identifier of the row.
    pub id: String,
    /// The deployment the row belongs to (several rows when a deployment
    /// deploys several repositories); may be empty, then [`id`](Self::id)
    /// stands for it.
    pub cicd_deployment_id: String,
    /// The CI/CD scope (a GitHub repository's workflows, a GitLab
    /// project...) the deployment was collected from.
    pub cicd_scope_id: String,
    /// The repository whose commit was deployed.
    pub repo_url: String,
    /// The environment deployed to (`PRODUCTION`, `production`,
    /// `STAGING`...); empty when unknown.
    pub environment: String,
    /// Whether the deployment succeeded (DevLake's result `SUCCESS`).
    pub success: bool,
    /// When the deployment started, if known.
    pub started_at: Option<DateTime<Utc>>,
    /// When the deployment finished; `None` while it runs.
    pub finished_at: Option<DateTime<Utc>>,
    /// The commit deployed.
    pub commit_sha: String,
}

impl DeploymentCommit {
    /// The deployment this row belongs to:
    /// [`cicd_deployment_id`](Self::cicd_deployment_id), or
    /// [`id`](Self::id) when that is empty.
    pub fn deployment_key(&self) -> &str {
        if self.cicd_deployment_id.is_empty() {
            &self.id
        } else {
            &self.cicd_deployment_id
        }
    }

    /// Whether the row can be linked (step 1 of the module's rule, less the
    /// project): successful, finished, with an environment and a repository.
    pub fn is_linkable(&self) -> bool {
        self.success
            && self.finished_at.is_some()
            && !self.environment.is_empty()
            && !self.repo_url.is_empty()
    }

    /// What the rule groups by: scope, repository URL, environment.
    pub(crate) fn group(&self) -> (&str, &str, &str) {
        (&self.cicd_scope_id, &self.repo_url, &self.environment)
    }
}

/// For each row of `commits`, the index (into `commits`) of its previous
/// successful deployment commit, by the module's rule; `in_scope` says
/// which CI/CD scopes belong to the project (pass `|_| true` for all,
/// [`ProjectMapping::cicd_scopes`](crate::ProjectMapping::cicd_scopes) for
/// a DevLake project). The answer has one entry per row, in the same order.
pub fn previous_successes(
    commits: &[DeploymentCommit],
    in_scope: impl Fn(&str) -> bool,
) -> Vec<Option<usize>> {
    link(commits.len(), |i| &commits[i], in_scope)
}

/// [`previous_successes`] over `n` rows that `row` gives by index (rows
/// held inside other records).
pub(crate) fn link<'a>(
    n: usize,
    row: impl Fn(usize) -> &'a DeploymentCommit,
    in_scope: impl Fn(&str) -> bool,
) -> Vec<Option<usize>> {
    let candidates = linkable_in_order(n, &row, in_scope);
    let mut previous = vec![None; n];
    for pair in candidates.windows(2) {
        let (before, after) = (pair[0], pair[1]);
        if row(before).group() == row(after).group() {
            previous[after] = Some(before);
        }
    }
    previous
}

/// The candidates (step 1) in the rule's order (step 2).
pub(crate) fn linkable_in_order<'a>(
    n: usize,
    row: impl Fn(usize) -> &'a DeploymentCommit,
    in_scope: impl Fn(&str) -> bool,
) -> Vec<usize> {
    let mut candidates: Vec<usize> = (0..n)
        .filter(|&i| row(i).is_linkable() && in_scope(&row(i).cicd_scope_id))
        .collect();
    // Stable: equal keys keep the input order.
    candidates.sort_by(|&a, &b| order(row(a), row(b)));
    candidates
}

/// The ids the links point at: for each row, the id of its previous
/// successful deployment commit, or `""` when it has none (DevLake's
/// column holds an empty string then).
pub fn previous_ids<'a>(commits: &'a [DeploymentCommit], links: &[Option<usize>]) -> Vec<&'a str> {
    links
        .iter()
        .map(|link| link.map_or("", |p| commits[p].id.as_str()))
        .collect()
}

/// Step 2's order: group, then finish time.
fn order(a: &DeploymentCommit, b: &DeploymentCommit) -> Ordering {
    a.group()
        .cmp(&b.group())
        .then_with(|| a.finished_at.cmp(&b.finished_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    fn row(
        id: &str,
        scope: &str,
        repo: &str,
        env: &str,
        success: bool,
        started: &str,
        finished: &str,
    ) -> DeploymentCommit {
        DeploymentCommit {
            id: id.into(),
            cicd_deployment_id: String::new(),
            cicd_scope_id: scope.into(),
            repo_url: repo.into(),
            environment: env.into(),
            success,
            started_at: Some(at(started)),
            finished_at: (!finished.is_empty()).then(|| at(finished)),
            commit_sha: format!("sha-{id}"),
        }
    }

    fn prev(commits: &[DeploymentCommit], in_scope: impl Fn(&str) -> bool) -> Vec<&str> {
        previous_ids(commits, &previous_successes(commits, in_scope))
    }

    #[test]
    fn ordered_by_finish_time_not_start_time() {
        // `a` starts first but finishes last: `b` finished before `a`, so
        // `a`'s previous is `b`, and `b` has none.
        let commits = [
            row(
                "a",
                "s",
                "r",
                "PRODUCTION",
                true,
                "2024-01-01T00:00:00Z",
                "2024-01-01T05:00:00Z",
            ),
            row(
                "b",
                "s",
                "r",
                "PRODUCTION",
                true,
                "2024-01-01T01:00:00Z",
                "2024-01-01T02:00:00Z",
            ),
            row(
                "c",
                "s",
                "r",
                "PRODUCTION",
                true,
                "2024-01-01T03:00:00Z",
                "2024-01-01T04:00:00Z",
            ),
        ];
        assert_eq!(prev(&commits, |_| true), ["c", "", "b"]);
    }

    #[test]
    fn grouped_by_scope_repository_and_environment() {
        let t = |h: u32| format!("2024-01-01T{h:02}:00:00Z");
        let commits = [
            row("1", "s1", "r1", "PRODUCTION", true, &t(0), &t(1)),
            row("2", "s2", "r1", "PRODUCTION", true, &t(0), &t(2)), // other scope
            row("3", "s1", "r2", "PRODUCTION", true, &t(0), &t(3)), // other repository
            row("4", "s1", "r1", "STAGING", true, &t(0), &t(4)),    // other environment
            row("5", "s1", "r1", "PRODUCTION", true, &t(0), &t(5)),
            row("6", "s2", "r1", "PRODUCTION", true, &t(0), &t(6)),
            row("7", "s1", "r1", "STAGING", true, &t(0), &t(7)),
        ];
        assert_eq!(prev(&commits, |_| true), ["", "", "", "", "1", "2", "4"]);
    }

    #[test]
    fn failed_unfinished_and_incomplete_rows_are_skipped_and_unlinked() {
        let t = |h: u32| format!("2024-01-01T{h:02}:00:00Z");
        let commits = [
            row("1", "s", "r", "PRODUCTION", true, &t(0), &t(1)),
            row("2", "s", "r", "PRODUCTION", false, &t(0), &t(2)), // failed
            row("3", "s", "r", "PRODUCTION", true, &t(0), ""),     // unfinished
            row("4", "s", "", "PRODUCTION", true, &t(0), &t(4)),   // no repository
            row("5", "s", "r", "", true, &t(0), &t(5)),            // no environment
            row("6", "s", "r", "PRODUCTION", true, &t(0), &t(6)),
        ];
        assert_eq!(prev(&commits, |_| true), ["", "", "", "", "", "1"]);
    }

    #[test]
    fn only_the_project_scopes_are_linked() {
        let t = |h: u32| format!("2024-01-01T{h:02}:00:00Z");
        let commits = [
            row("1", "in", "r", "PRODUCTION", true, &t(0), &t(1)),
            row("2", "out", "r", "PRODUCTION", true, &t(0), &t(2)),
            row("3", "out", "r", "PRODUCTION", true, &t(0), &t(3)),
            row("4", "in", "r", "PRODUCTION", true, &t(0), &t(4)),
        ];
        assert_eq!(prev(&commits, |s| s == "in"), ["", "", "", "1"]);
        assert_eq!(prev(&commits, |_| true), ["", "", "2", "1"]);
    }

    #[test]
    fn simultaneous_finishes_keep_the_input_order() {
        let commits = [
            row(
                "x",
                "s",
                "r",
                "P",
                true,
                "2024-01-01T00:00:00Z",
                "2024-01-01T01:00:00Z",
            ),
            row(
                "y",
                "s",
                "r",
                "P",
                true,
                "2024-01-01T00:00:00Z",
                "2024-01-01T01:00:00Z",
            ),
        ];
        assert_eq!(prev(&commits, |_| true), ["", "x"]);
    }

    #[test]
    fn deployment_key_falls_back_to_the_id() {
        let mut c = row(
            "7",
            "s",
            "r",
            "P",
            true,
            "2024-01-01T00:00:00Z",
            "2024-01-01T01:00:00Z",
        );
        assert_eq!(c.deployment_key(), "7");
        c.cicd_deployment_id = "pipeline1".into();
        assert_eq!(c.deployment_key(), "pipeline1");
    }
}
