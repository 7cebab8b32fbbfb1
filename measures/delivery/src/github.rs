//! The GitHub REST objects the delivery measures read, with only the fields
//! they use (serde ignores the rest, so the same types read the objects
//! inside webhook payloads, which have the REST shape).
//!
//! - [`Deployment`] and [`DeploymentStatus`]: `GET /repos/{o}/{r}/deployments`
//!   and `.../deployments/{id}/statuses`; [`deployment_commit`] turns one
//!   deployment and its statuses into what the [linking](crate::linking)
//!   reads.
//! - [`PullRequest`]: `GET /repos/{o}/{r}/pulls?state=closed`.
//! - [`Issue`]: `GET /repos/{o}/{r}/issues`, which lists pull requests too
//!   (those have a `pull_request` member: [`Issue::is_pull_request`]).
//! - [`Commit`]: `GET /repos/{o}/{r}/commits` and the commits of
//!   [`Comparison`], `GET /repos/{o}/{r}/compare/{base}...{head}`.
//!
//! Timestamps are GitHub's ISO 8601 strings (`2019-05-15T15:20:53Z`), read
//! as `DateTime<Utc>`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::linking::DeploymentCommit;

/// A deployment: a request to deploy a ref (at `sha`) to an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Unique identifier of the deployment.
    pub id: u64,
    /// The commit deployed.
    pub sha: String,
    /// The ref (branch, tag or sha) that was asked for (`ref` in JSON).
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// What the deployment does: `deploy`, or a custom task
    /// (`deploy:migrations`...).
    pub task: String,
    /// The environment deployed to (`production`, `staging`...), as the
    /// latest status may have changed it.
    pub environment: String,
    /// The environment the deployment was first created for.
    #[serde(default)]
    pub original_environment: Option<String>,
    /// Whether the environment is one end users interact with. Absent
    /// from older payloads and from deployments created without it.
    #[serde(default)]
    pub production_environment: Option<bool>,
    /// Whether the environment is specific to this deployment and goes
    /// away in the future (review apps). Absent like the former.
    #[serde(default)]
    pub transient_environment: Option<bool>,
    /// When the deployment was created (asked for).
    pub created_at: DateTime<Utc>,
    /// When it was last updated (a status added...).
    pub updated_at: DateTime<Utc>,
}

/// A status of a deployment; the latest says where the deployment stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentStatus {
    /// Unique identifier of the status.
    pub id: u64,
    /// The state this status reports.
    pub state: DeploymentState,
    /// The environment of the deployment at this status (absent from old
    /// statuses).
    #[serde(default)]
    pub environment: Option<String>,
    /// When the status was created: for a final state, when the
    /// deployment finished.
    pub created_at: DateTime<Utc>,
}

/// The state a [`DeploymentStatus`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    /// The deployment failed for a reason outside the deployed code.
    Error,
    /// The deployment failed.
    Failure,
    /// A later deployment to the environment superseded this one (it had
    /// succeeded).
    Inactive,
    /// The deployment is under way.
    InProgress,
    /// The deployment waits in a queue.
    Queued,
    /// The deployment has not started.
    Pending,
    /// The deployment succeeded.
    Success,
    /// A state this crate does not know (GitHub may add some).
    #[serde(other)]
    Unknown,
}

impl DeploymentState {
    /// Whether the state ends the deployment: success, failure or error.
    /// (`inactive` comes after a success, so it does not decide the outcome.)
    pub fn is_final(self) -> bool {
        matches!(self, Self::Success | Self::Failure | Self::Error)
    }
}

/// A deployment and its statuses as the linking reads it: successful when
/// its deciding status, the latest [final](DeploymentState::is_final) one
/// (by creation time, then id), is `success`; finished when that status was
/// created (`None`, and not successful, while no status is final). Started
/// when the deployment was created. The deployment's id is both the id and
/// the deployment id; `scope` and `repo_url` name where it comes from (the
/// repository's full name, say, for both).
pub fn deployment_commit(
    deployment: &Deployment,
    statuses: &[DeploymentStatus],
    scope: &str,
    repo_url: &str,
) -> DeploymentCommit {
    let deciding = statuses
        .iter()
        .filter(|s| s.state.is_final())
        .max_by_key(|s| (s.created_at, s.id));
    DeploymentCommit {
        id: deployment.id.to_string(),
        cicd_deployment_id: deployment.id.to_string(),
        cicd_scope_id: scope.to_owned(),
        repo_url: repo_url.to_owned(),
        environment: deployment.environment.clone(),
        success: deciding.is_some_and(|s| s.state == DeploymentState::Success),
        started_at: Some(deployment.created_at),
        finished_at: deciding.map(|s| s.created_at),
        commit_sha: deployment.sha.clone(),
    }
}

/// A label on an issue or a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// The label's name (`bug`, `incident`...).
    pub name: String,
}

/// A branch end of a pull request (`base` or `head`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branch {
    /// The branch name (`ref` in JSON): `main` for a base.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// The commit the branch pointed at.
    pub sha: String,
}

/// A pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// The number, shared with the issue it also is.
    pub number: u64,
    /// The title.
    pub title: String,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it was merged; `None` when it was not (closed unmerged or open).
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
    /// The commit its merge made on the base branch (a merge, squash or
    /// rebase commit); before the merge, GitHub's test merge commit, so
    /// only meaningful when [`merged_at`](Self::merged_at) is set.
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    /// The branch it merges into.
    pub base: Branch,
    /// The branch it merges from.
    pub head: Branch,
    /// Its labels.
    #[serde(default)]
    pub labels: Vec<Label>,
}

impl PullRequest {
    /// The commit it landed as on the base branch: the merge commit, when
    /// merged.
    pub fn landed_sha(&self) -> Option<&str> {
        self.merged_at?;
        self.merge_commit_sha.as_deref()
    }
}

/// An issue, or a pull request as the issues API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// The number.
    pub number: u64,
    /// The title.
    pub title: String,
    /// `open` or `closed`.
    pub state: IssueState,
    /// Its labels.
    #[serde(default)]
    pub labels: Vec<Label>,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it was (last) closed; `None` while open.
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    /// Present only on pull requests: the issues API lists them too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestLink>,
}

impl Issue {
    /// Whether this is a pull request rather than an issue.
    pub fn is_pull_request(&self) -> bool {
        self.pull_request.is_some()
    }

    /// Whether it has a label named `name`, ignoring ASCII case.
    pub fn has_label(&self, name: &str) -> bool {
        self.labels
            .iter()
            .any(|l| l.name.eq_ignore_ascii_case(name))
    }
}

/// Whether an issue is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueState {
    /// Open.
    Open,
    /// Closed.
    Closed,
}

/// The `pull_request` member of an issue that is a pull request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestLink {
    /// When the pull request was merged (recent API versions only).
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
}

/// A commit, as the commits and compare APIs list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// The commit's id.
    pub sha: String,
    /// The git commit itself.
    pub commit: GitCommit,
}

impl Commit {
    /// When the change was written: the author date, else the committer
    /// date.
    pub fn authored_at(&self) -> Option<DateTime<Utc>> {
        let c = &self.commit;
        c.author.as_ref().or(c.committer.as_ref()).map(|s| s.date)
    }
}

/// The git part of a [`Commit`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitCommit {
    /// Who wrote the change, and when (`None` when GitHub has no date).
    #[serde(default)]
    pub author: Option<Signature>,
    /// Who committed it, and when (a rebase or a squash changes this, not
    /// the author date).
    #[serde(default)]
    pub committer: Option<Signature>,
    /// The commit message.
    pub message: String,
}

/// The date of a commit's author or committer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// When.
    pub date: DateTime<Utc>,
}

/// The compare API's answer for `base...head`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// How many commits `head` has that `base` has not. GitHub lists at
    /// most 250 of them in [`commits`](Self::commits) (paginated with
    /// `per_page`/`page` since 2021): fewer listed than this means the
    /// list is truncated.
    pub total_commits: u64,
    /// The commits `head` has that `base` has not, oldest first.
    #[serde(default)]
    pub commits: Vec<Commit>,
}

impl Comparison {
    /// Whether [`commits`](Self::commits) lists fewer commits than
    /// [`total_commits`](Self::total_commits) counts.
    pub fn is_truncated(&self) -> bool {
        (self.commits.len() as u64) < self.total_commits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at, fixture};
    use serde::de::DeserializeOwned;
    use serde_json::Value;

    /// The member `key` of the webhook payload `name`, read as a `T`.
    fn payload_member<T: DeserializeOwned>(name: &str, key: &str) -> Option<T> {
        let payload: Value =
            serde_json::from_slice(&fixture(&format!("webhooks/{name}"))?).unwrap();
        Some(
            serde_json::from_value(payload[key].clone())
                .unwrap_or_else(|e| panic!("{name} {key}: {e}")),
        )
    }

    #[test]
    fn deployment_of_a_webhook() {
        let Some(d) = payload_member::<Deployment>("octokit_deployment_created.json", "deployment")
        else {
            return;
        };
        assert_eq!(d.id, 145988746);
        assert_eq!(d.sha, "f95f852bd8fca8fcc58a9a2d6c842781e32a215e");
        assert_eq!(d.git_ref, "master");
        assert_eq!(d.task, "deploy");
        assert_eq!(d.environment, "production");
        assert_eq!(d.original_environment.as_deref(), Some("production"));
        assert_eq!(d.production_environment, None);
        assert_eq!(d.created_at, at("2019-05-15T15:20:53Z"));
        assert_eq!(d.updated_at, at("2019-05-15T15:20:53Z"));
    }

    #[test]
    fn deployment_status_in_progress_on_github_pages() {
        let name = "octokit_deployment_status_gh-pages_in_progress.json";
        let (Some(d), Some(s)) = (
            payload_member::<Deployment>(name, "deployment"),
            payload_member::<DeploymentStatus>(name, "deployment_status"),
        ) else {
            return;
        };
        assert_eq!(d.environment, "github-pages");
        assert_eq!(d.production_environment, Some(false));
        assert_eq!(d.transient_environment, Some(false));
        assert_eq!(s.id, 209916254);
        assert_eq!(s.state, DeploymentState::InProgress);
        assert_eq!(s.environment.as_deref(), Some("github-pages"));
        assert_eq!(s.created_at, at("2022-01-03T01:28:40Z"));
        // Not finished: not successful, no finish time.
        let c = deployment_commit(&d, &[s], "o/r", "o/r");
        assert!(!c.success);
        assert_eq!(c.finished_at, None);
        assert_eq!(c.started_at, Some(at("2022-01-03T01:28:30Z")));
    }

    #[test]
    fn successful_deployment_status_finishes_the_deployment() {
        for (name, id, finished) in [
            (
                "octokit_deployment_status_success.json",
                "145988746",
                "2019-05-15T15:20:55Z",
            ),
            (
                "octokit_ghes-34_deployment_status.json",
                "2",
                "2019-05-15T19:38:21Z",
            ),
        ] {
            let (Some(d), Some(s)) = (
                payload_member::<Deployment>(name, "deployment"),
                payload_member::<DeploymentStatus>(name, "deployment_status"),
            ) else {
                return;
            };
            assert_eq!(s.state, DeploymentState::Success, "{name}");
            let c = deployment_commit(&d, &[s], "Codertocat/Hello-World", "Codertocat/Hello-World");
            assert_eq!(c.id, id);
            assert_eq!(c.cicd_deployment_id, id);
            assert!(c.success, "{name}");
            assert_eq!(c.environment, "production");
            assert_eq!(c.finished_at, Some(at(finished)), "{name}");
            assert_eq!(c.commit_sha, d.sha);
        }
    }

    #[test]
    fn the_latest_final_status_decides() {
        let Some(d) = payload_member::<Deployment>("octokit_deployment_created.json", "deployment")
        else {
            return;
        };
        let status = |id, state, t| DeploymentStatus {
            id,
            state,
            environment: None,
            created_at: at(t),
        };
        let statuses = [
            status(1, DeploymentState::Pending, "2019-05-15T15:21:00Z"),
            status(3, DeploymentState::Success, "2019-05-15T15:25:00Z"),
            status(2, DeploymentState::Failure, "2019-05-15T15:23:00Z"),
            status(4, DeploymentState::Inactive, "2019-05-15T16:00:00Z"),
        ];
        let c = deployment_commit(&d, &statuses, "s", "r");
        assert!(c.success);
        assert_eq!(c.finished_at, Some(at("2019-05-15T15:25:00Z")));
        // Success at 15:25 and failure at 15:23, listed in any order: the
        // success is later.
        let c = deployment_commit(&d, &[statuses[2].clone(), statuses[1].clone()], "s", "r");
        assert!(c.success);
        let c = deployment_commit(&d, &[statuses[0].clone(), statuses[2].clone()], "s", "r");
        assert!(!c.success);
        assert_eq!(c.finished_at, Some(at("2019-05-15T15:23:00Z")));
    }

    #[test]
    fn unknown_deployment_states_are_read() {
        let s: DeploymentState = serde_json::from_str("\"exploded\"").unwrap();
        assert_eq!(s, DeploymentState::Unknown);
        assert!(!s.is_final());
    }

    #[test]
    fn merged_pull_request_of_a_webhook() {
        let Some(pr) = payload_member::<PullRequest>(
            "create-issue-branch_pull_request_closed_merged.json",
            "pull_request",
        ) else {
            return;
        };
        assert_eq!(pr.number, 117);
        assert_eq!(pr.title, "Revert \"Update README.md\"");
        assert_eq!(pr.created_at, at("2020-03-23T06:36:20Z"));
        assert_eq!(pr.merged_at, Some(at("2020-03-23T06:46:56Z")));
        assert_eq!(
            pr.landed_sha(),
            Some("5a47c3f3c22f54f37a3297f2f1c98d860fba4489")
        );
        assert_eq!(pr.base.git_ref, "main");
        assert_eq!(pr.head.sha, "59a63ccd828afb5fc4739ad8d3176d5c36eaebf6");
        assert!(pr.labels.is_empty());
    }

    #[test]
    fn closed_unmerged_pull_request_landed_nothing() {
        let Some(pr) = payload_member::<PullRequest>(
            "octokit_pull_request_closed_not_merged.json",
            "pull_request",
        ) else {
            return;
        };
        assert_eq!(pr.number, 2);
        assert_eq!(pr.merged_at, None);
        // GitHub still reports its test merge commit.
        assert_eq!(
            pr.merge_commit_sha.as_deref(),
            Some("c4295bd74fb0f4fda03689c3df3f2803b658fd85")
        );
        assert_eq!(pr.landed_sha(), None);
        assert_eq!(pr.base.git_ref, "master");
        assert_eq!(pr.head.sha, "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
        assert_eq!(pr.labels, vec![Label { name: "bug".into() }]);
    }

    #[test]
    fn labeled_issue_of_a_webhook() {
        let Some(issue) = payload_member::<Issue>("octokit_issues_labeled_bug.json", "issue")
        else {
            return;
        };
        assert_eq!(issue.number, 1);
        assert_eq!(issue.title, "Spelling error in the README file");
        assert_eq!(issue.state, IssueState::Open);
        assert!(issue.has_label("BUG"));
        assert!(!issue.has_label("incident"));
        assert_eq!(issue.created_at, at("2019-05-15T15:20:18Z"));
        assert_eq!(issue.closed_at, None);
        assert!(!issue.is_pull_request());
    }

    #[test]
    fn paginated_issue_lists_of_the_rest_api() {
        let Some(bytes) = fixture("github-rest/octokit-fixtures_paginate-issues.json") else {
            return;
        };
        // Recorded exchanges: each response body is one page of issues.
        let exchanges: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
        let mut numbers = Vec::new();
        for exchange in &exchanges {
            assert_eq!(exchange["status"], 200);
            let page: Vec<Issue> = serde_json::from_value(exchange["response"].clone()).unwrap();
            assert!(page.len() <= 3);
            for issue in page {
                assert_eq!(issue.state, IssueState::Open);
                assert_eq!(issue.title, format!("Test issue {}", issue.number));
                assert_eq!(issue.created_at, at("2017-10-10T16:00:00Z"));
                assert!(!issue.is_pull_request());
                numbers.push(issue.number);
            }
        }
        assert_eq!(numbers, (1..=13).rev().collect::<Vec<u64>>());
    }

    // No fixture holds a pull request listed by the issues API, a commit or
    // a comparison: these objects are written here in the shape GitHub's
    // REST reference documents, with only some of their members.

    #[test]
    fn pull_requests_in_the_issues_api_are_told_apart() {
        let issue: Issue = serde_json::from_str(
            r#"{"number": 7, "title": "Fix", "state": "closed", "labels": [{"name": "hotfix", "color": "f00"}],
                "created_at": "2024-03-01T10:00:00Z", "closed_at": "2024-03-01T12:00:00Z",
                "pull_request": {"url": "https://api.github.com/repos/o/r/pulls/7", "merged_at": "2024-03-01T12:00:00Z"}}"#,
        )
        .unwrap();
        assert!(issue.is_pull_request());
        assert_eq!(
            issue.pull_request.unwrap().merged_at,
            Some(at("2024-03-01T12:00:00Z"))
        );
        assert_eq!(issue.state, IssueState::Closed);
        assert_eq!(issue.closed_at, Some(at("2024-03-01T12:00:00Z")));
    }

    #[test]
    fn comparison_lists_commits_with_their_dates() {
        let c: Comparison = serde_json::from_str(
            r#"{"status": "ahead", "ahead_by": 3, "behind_by": 0, "total_commits": 3, "commits": [
                {"sha": "aaa", "commit": {"author": {"name": "A", "email": "a@x", "date": "2024-03-01T09:00:00Z"},
                 "committer": {"name": "C", "email": "c@x", "date": "2024-03-02T09:00:00Z"}, "message": "one"}, "author": null},
                {"sha": "bbb", "commit": {"author": null,
                 "committer": {"name": "C", "email": "c@x", "date": "2024-03-03T09:00:00Z"}, "message": "two"}}]}"#,
        )
        .unwrap();
        assert_eq!(c.total_commits, 3);
        assert!(c.is_truncated());
        assert_eq!(c.commits[0].sha, "aaa");
        assert_eq!(c.commits[0].commit.message, "one");
        assert_eq!(c.commits[0].authored_at(), Some(at("2024-03-01T09:00:00Z")));
        assert_eq!(c.commits[1].authored_at(), Some(at("2024-03-03T09:00:00Z")));
    }
}
