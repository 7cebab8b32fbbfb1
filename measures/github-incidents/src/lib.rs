//! `github-incidents`: incidents of a GitHub repository open now (issues
//! labelled `incident_label`), with DORA's change failure rate and time to
//! restore over the last `window_days` days, read from the REST API at
//! collection time.
//!
//! As in DevLake (`smm_delivery::incidents`), an incident is attributed to
//! the latest successful deployment of the environment that finished
//! strictly before it was opened; a deployment finished in the window with
//! at least one incident opened in the window attributed is a failed
//! change. Time to restore runs from opening to closing; its median is over
//! the incidents closed in the window. An incident is a security incident
//! when it also carries one of `security_labels`; the `security` details
//! repeat the figures for those alone.
//!
//! Issues are read twice: those updated in the window (`state=all&since=`,
//! which finds every incident opened or closed in it) and those open now
//! (`state=open`, which finds the ones opened earlier and untouched since).
//! Pull requests, which the issues API lists too, are left out. An incident
//! opened before the last successful deployment read (the one before the
//! window) has no `deployment_id`: the deployments before it were not read.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use smm_delivery::github::{Issue, IssueState};
use smm_delivery::incidents::{self, Incident};
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, Scale};

use smm_github as github_api;

use github_api::{Api, Fetched, Target};

/// Longest title kept, in characters (titles are untrusted text).
pub const TITLE_CHARS: usize = 200;

/// Configuration of `github-incidents`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The repository, `owner/name`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$"))]
    pub repository: String,
    /// Base URL of the GitHub REST API (`https://ghe.example.com/api/v3`
    /// for GitHub Enterprise Server). Grant its host to the instance with
    /// `--allow-host`; the host adds the token (`--secret`).
    #[serde(default = "github_api::default_api_url")]
    #[schemars(regex(pattern = r"^https?://[^/?#@\s]+"))]
    pub api_url: String,
    /// The environment whose deployments incidents are attributed to, as
    /// GitHub names it.
    #[serde(default = "github_api::default_environment")]
    #[schemars(length(min = 1))]
    pub environment: String,
    /// Length of the window measured, in days, ending at collection time.
    #[serde(default = "github_api::default_window_days")]
    #[schemars(range(min = 1, max = 365))]
    pub window_days: u32,
    /// The label that makes an issue an incident.
    #[serde(default = "default_incident_label")]
    #[schemars(length(min = 1))]
    pub incident_label: String,
    /// An incident carrying one of these labels (ignoring case) is a
    /// security incident.
    #[serde(default = "default_security_labels")]
    #[schemars(inner(length(min = 1)))]
    pub security_labels: Vec<String>,
}

fn default_incident_label() -> String {
    "incident".into()
}

fn default_security_labels() -> Vec<String> {
    vec!["security".into()]
}

pub struct GitHubIncidents;

impl Measure for GitHubIncidents {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata {
            id: "github-incidents",
            version: "1.0.0",
            name: "GitHub incidents",
            description: "Incidents (issues with a label) of a GitHub repository open now, with the change failure rate and time to restore of one environment over the last window_days days (DORA), from the REST API.",
            kind: Kind::Direct,
            unit: "incidents",
            scale: Scale::Ratio,
            output: "value: incidents open now; details: {repository, environment, window_days, open, opened_in_window, deployments (successful, finished in the window), failed_deployments (of those, with an incident opened in the window attributed), change_failure_rate (null without deployments), median_time_to_restore_hours (incidents closed in the window; null without), security: {incidents (opened in the window), failed_deployments, change_failure_rate, median_time_to_restore_hours, pull_requests (security-labelled, merged in the window), remediation_lead_time_hours (median over security incidents closed and security pull requests merged in the window: opened to closed, created to merged), remediations: [{kind, number, hours}]}, incidents: [{number, title (at most 200 characters), opened_at, closed_at, security, deployment_id, time_to_restore_hours}] (oldest first)}",
        }
    }

    fn collect(config: Config) -> Result<Measurement, Error> {
        let target = Target::new(
            &config.repository,
            &config.api_url,
            &config.environment,
            config.window_days,
            github_api::now(),
        )?;
        if config.incident_label.is_empty() {
            return Err(Error::config("incident_label: must not be empty"));
        }
        let mut api = github_api::client();
        let fetched = github_api::deployments(&mut api, &target)?;
        let issues = issues(&mut api, &target, &config.incident_label)?;
        let fixes = security_fixes(&mut api, &target, &config.security_labels)?;
        let mut m = summarize(
            &target,
            &config.incident_label,
            &config.security_labels,
            &fetched,
            &issues,
        );
        remediation(&mut m, &target, &config.security_labels, &issues, &fixes);
        Ok(m)
    }
}

/// The issues labelled `label` updated in the window, then those open now.
pub fn issues(api: &mut impl Api, target: &Target, label: &str) -> Result<Vec<Issue>, Error> {
    let base = format!(
        "{}/issues?labels={}",
        target.repo_url(),
        github_api::encode(label)
    );
    let since = github_api::encode(&github_api::iso(target.window.start));
    let per_page = github_api::PER_PAGE;
    let mut all: Vec<Issue> = github_api::list(
        api,
        &format!("{base}&state=all&since={since}&per_page={per_page}"),
        github_api::MAX_PAGES,
    )?;
    all.extend(github_api::list::<Issue>(
        api,
        &format!("{base}&state=open&per_page={per_page}"),
        github_api::MAX_PAGES,
    )?);
    Ok(all)
}

/// The pull requests carrying one of `labels`, closed since the window
/// started (the issues API lists pull requests too).
pub fn security_fixes(
    api: &mut impl Api,
    target: &Target,
    labels: &[String],
) -> Result<Vec<Issue>, Error> {
    let since = github_api::encode(&github_api::iso(target.window.start));
    let mut all = Vec::new();
    for label in labels {
        let url = format!(
            "{}/issues?labels={}&state=closed&since={since}&per_page={}",
            target.repo_url(),
            github_api::encode(label),
            github_api::PER_PAGE
        );
        let listed: Vec<Issue> = github_api::list(api, &url, github_api::MAX_PAGES)?;
        all.extend(listed.into_iter().filter(Issue::is_pull_request));
    }
    Ok(all)
}

/// Security remediation lead time, into `m`'s details under `security`:
/// the hours from opening to closing of the security incidents closed in
/// the window, and from creation to merge of the security pull requests
/// merged in the window; their median, and the list.
pub fn remediation(
    m: &mut Measurement,
    target: &Target,
    security_labels: &[String],
    issues: &[Issue],
    fixes: &[Issue],
) {
    let window = &target.window;
    let is_security = |i: &Issue| security_labels.iter().any(|l| i.has_label(l));
    let mut seen = BTreeSet::new();
    let mut listed: Vec<(String, u64, f64)> = Vec::new();
    for i in issues
        .iter()
        .filter(|i| !i.is_pull_request() && is_security(i))
    {
        if let Some(closed) = i.closed_at.filter(|c| window.contains(*c))
            && seen.insert(i.number)
        {
            listed.push((
                "incident".into(),
                i.number,
                github_api::hours(closed - i.created_at),
            ));
        }
    }
    for pr in fixes {
        let merged = pr.pull_request.as_ref().and_then(|p| p.merged_at);
        if let Some(merged) = merged.filter(|t| window.contains(*t))
            && seen.insert(pr.number)
        {
            listed.push((
                "pull_request".into(),
                pr.number,
                github_api::hours(merged - pr.created_at),
            ));
        }
    }
    listed.sort_by_key(|(_, n, _)| *n);
    let hours: Vec<f64> = listed.iter().map(|(_, _, h)| *h).collect();
    let Some(details) = m.details.as_mut().and_then(|d| d.get_mut("security")) else {
        return;
    };
    details["pull_requests"] = listed
        .iter()
        .filter(|(k, _, _)| k == "pull_request")
        .count()
        .into();
    details["remediation_lead_time_hours"] = smm_delivery::stats::median(&hours).into();
    details["remediations"] = listed
        .iter()
        .map(|(kind, number, h)| json!({"kind": kind, "number": number, "hours": h}))
        .collect::<Vec<_>>()
        .into();
}

/// `title`, cut to [`TITLE_CHARS`] characters (the last an ellipsis when
/// cut).
pub fn bounded(title: &str) -> String {
    if title.chars().count() <= TITLE_CHARS {
        title.to_string()
    } else {
        let mut cut: String = title.chars().take(TITLE_CHARS - 1).collect();
        cut.push('…');
        cut
    }
}

/// The measurement over the deployments and issues read (issues listed
/// twice count once; pull requests and issues without `label` are left
/// out).
pub fn summarize(
    target: &Target,
    label: &str,
    security_labels: &[String],
    fetched: &[Fetched],
    issues: &[Issue],
) -> Measurement {
    let window = &target.window;
    let env = &target.environment;
    let security_labels: Vec<&str> = security_labels.iter().map(String::as_str).collect();
    let mut seen = BTreeSet::new();
    let mut issues: Vec<&Issue> = issues
        .iter()
        .filter(|i| !i.is_pull_request() && i.has_label(label) && seen.insert(i.number))
        .collect();
    issues.sort_by_key(|i| (i.created_at, i.number));
    let incidents: Vec<Incident> = issues
        .iter()
        .filter_map(|i| Incident::from_issue(i, &security_labels))
        .collect();
    let commits = github_api::commits(fetched);
    let summary = incidents::summarize(&incidents, &commits, env, window);
    let open = issues
        .iter()
        .filter(|i| i.state == IssueState::Open)
        .count();
    let listed: Vec<Value> = issues
        .iter()
        .zip(&incidents)
        .zip(&summary.attribution)
        .map(|((issue, incident), a)| {
            json!({
                "number": issue.number,
                "title": bounded(&issue.title),
                "opened_at": github_api::iso(incident.opened_at),
                "closed_at": incident.closed_at.map(github_api::iso),
                "security": incident.security,
                "deployment_id": a.map(|i| fetched[i].deployment.id),
                "time_to_restore_hours": incident.time_to_restore().map(github_api::hours),
            })
        })
        .collect();
    let mut details = github_api::details_head(target);
    details.insert("open".into(), open.into());
    details.insert("opened_in_window".into(), summary.all.incidents.into());
    details.insert("deployments".into(), summary.all.deployments.into());
    details.insert(
        "failed_deployments".into(),
        summary.all.failed_deployments.into(),
    );
    details.insert(
        "change_failure_rate".into(),
        summary.all.change_failure_rate.into(),
    );
    details.insert(
        "median_time_to_restore_hours".into(),
        summary.all.median_time_to_restore_hours.into(),
    );
    details.insert("security".into(), json!(summary.security));
    details.insert("incidents".into(), listed.into());
    Measurement::value(open as f64).with_details(Value::Object(details))
}

smm_sdk::export_measure!(GitHubIncidents);

#[cfg(test)]
mod tests {
    use smm_delivery::github::{Deployment, DeploymentStatus};

    use super::*;

    use smm_github::testing::{member, target};

    struct Real {
        deployment: Value,
        status: Value,
        issue: Value,
    }

    fn real() -> Option<Real> {
        let name = "octokit_deployment_status_success.json";
        Some(Real {
            deployment: member(name, "deployment")?,
            status: member(name, "deployment_status")?,
            issue: member("octokit_issues_labeled_bug.json", "issue")?,
        })
    }

    /// An edited copy (in memory) of the real deployment and its success
    /// status: id, creation and status times, state.
    fn fetched(real: &Real, id: u64, state: &str, finished: &str) -> Fetched {
        let (mut d, mut s) = (real.deployment.clone(), real.status.clone());
        d["id"] = id.into();
        d["created_at"] = finished.into();
        s["state"] = state.into();
        s["created_at"] = finished.into();
        let d: Deployment = serde_json::from_value(d).unwrap();
        let s: DeploymentStatus = serde_json::from_value(s).unwrap();
        Fetched::new(d, vec![s], "Codertocat/Hello-World", "production")
    }

    /// An edited copy (in memory) of the real labelled issue: number,
    /// title, times, state, and its `bug` label renamed to each of
    /// `labels`.
    fn issue(real: &Real, number: u64, labels: &[&str], opened: &str, closed: &str) -> Issue {
        let mut i = real.issue.clone();
        i["number"] = number.into();
        i["title"] = format!("Incident {number}").into();
        i["created_at"] = opened.into();
        i["state"] = if closed.is_empty() { "open" } else { "closed" }.into();
        i["closed_at"] = if closed.is_empty() {
            Value::Null
        } else {
            closed.into()
        };
        let label = i["labels"][0].clone();
        i["labels"] = labels
            .iter()
            .map(|name| {
                let mut l = label.clone();
                l["name"] = (*name).into();
                l
            })
            .collect();
        serde_json::from_value(i).unwrap()
    }

    fn deployments(real: &Real) -> Vec<Fetched> {
        vec![
            fetched(real, 5, "success", "2024-03-25T00:00:00Z"),
            fetched(real, 4, "failure", "2024-03-20T00:00:00Z"),
            fetched(real, 3, "success", "2024-03-10T00:00:00Z"),
            fetched(real, 2, "success", "2024-03-05T00:00:00Z"),
            fetched(real, 1, "success", "2024-02-20T00:00:00Z"),
        ]
    }

    fn summary(real: &Real, issues: &[Issue]) -> Value {
        let security = ["security".to_string()];
        let m = summarize(&target(), "incident", &security, &deployments(real), issues);
        let d = m.details.unwrap();
        assert_eq!(m.value, d["open"].as_f64());
        d
    }

    #[test]
    fn incidents_blame_the_last_success_before_them() {
        let Some(real) = real() else { return };
        let issues = [
            // Opened in the window after 2 (3 h to restore).
            issue(
                &real,
                11,
                &["incident"],
                "2024-03-06T00:00:00Z",
                "2024-03-06T03:00:00Z",
            ),
            // After 3, security (10 h); after the failed 4 still 3's.
            issue(
                &real,
                12,
                &["incident", "Security"],
                "2024-03-21T00:00:00Z",
                "2024-03-21T10:00:00Z",
            ),
            // After the failed 4, before 5: 3's again; open.
            issue(&real, 13, &["incident"], "2024-03-24T00:00:00Z", ""),
            // Listed again by the open listing: counts once.
            issue(&real, 13, &["incident"], "2024-03-24T00:00:00Z", ""),
            // Opened before the window after 1 (the baseline), closed in
            // the window: restored in 240 h, no failed change in the window.
            issue(
                &real,
                9,
                &["incident"],
                "2024-02-25T00:00:00Z",
                "2024-03-06T00:00:00Z",
            ),
            // Opened before any deployment read, still open.
            issue(&real, 7, &["incident"], "2023-12-01T00:00:00Z", ""),
            // Not an incident (the API's filter aside).
            issue(&real, 8, &["bug"], "2024-03-26T00:00:00Z", ""),
        ];
        let d = summary(&real, &issues);
        assert_eq!(d["open"], 2);
        assert_eq!(d["opened_in_window"], 3);
        // 2, 3, 5 succeeded in the window; 2 (#11) and 3 (#12, #13) failed.
        assert_eq!(d["deployments"], 3);
        assert_eq!(d["failed_deployments"], 2);
        assert_eq!(d["change_failure_rate"], 2.0 / 3.0);
        // Closed in the window: 3, 10, 240 h.
        assert_eq!(d["median_time_to_restore_hours"], 10.0);
        assert_eq!(
            d["security"],
            json!({"incidents": 1, "failed_deployments": 1, "change_failure_rate": 1.0 / 3.0,
                   "median_time_to_restore_hours": 10.0})
        );
        let listed: Vec<(u64, Value)> = d["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i["number"].as_u64().unwrap(), i["deployment_id"].clone()))
            .collect();
        assert_eq!(
            listed,
            [
                (7, Value::Null),
                (9, json!(1)),
                (11, json!(2)),
                (12, json!(3)),
                (13, json!(3))
            ]
        );
        assert_eq!(
            d["incidents"][3],
            json!({"number": 12, "title": "Incident 12", "opened_at": "2024-03-21T00:00:00Z",
                   "closed_at": "2024-03-21T10:00:00Z", "security": true, "deployment_id": 3,
                   "time_to_restore_hours": 10.0})
        );
        assert_eq!(d["incidents"][4]["time_to_restore_hours"], Value::Null);
        assert_eq!(d["incidents"][4]["closed_at"], Value::Null);
    }

    #[test]
    fn pull_requests_are_not_incidents() {
        let Some(real) = real() else { return };
        let mut pr = real.issue.clone();
        pr["labels"][0]["name"] = "incident".into();
        pr["pull_request"] = json!({"url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1", "merged_at": null});
        let pr: Issue = serde_json::from_value(pr).unwrap();
        let d = summary(&real, &[pr]);
        assert_eq!(d["open"], 0);
        assert_eq!(d["incidents"], json!([]));
        assert_eq!(d["change_failure_rate"], 0.0);
        assert_eq!(d["median_time_to_restore_hours"], Value::Null);
        assert_eq!(d["security"]["median_time_to_restore_hours"], Value::Null);
    }

    #[test]
    fn without_deployments_there_is_no_rate() {
        let Some(real) = real() else { return };
        let i = issue(&real, 1, &["incident"], "2024-03-06T00:00:00Z", "");
        let m = summarize(&target(), "incident", &[], &[], &[i]);
        let d = m.details.unwrap();
        assert_eq!(m.value, Some(1.0));
        assert_eq!(d["deployments"], 0);
        assert_eq!(d["change_failure_rate"], Value::Null);
        assert_eq!(d["security"]["change_failure_rate"], Value::Null);
        assert_eq!(d["incidents"][0]["deployment_id"], Value::Null);
    }

    #[test]
    fn titles_are_kept_but_bounded() {
        let Some(real) = real() else { return };
        let title = real.issue["title"].as_str().unwrap();
        assert_eq!(bounded(title), "Spelling error in the README file");
        let long = "é".repeat(300);
        let cut = bounded(&long);
        assert_eq!(cut.chars().count(), TITLE_CHARS);
        assert!(cut.ends_with("é…"));
        assert_eq!(bounded(&"x".repeat(200)), "x".repeat(200));
    }

    #[test]
    fn configuration_defaults_and_schema() {
        let c = smm_sdk::parse_config::<GitHubIncidents>(r#"{"repository": "o/r"}"#).unwrap();
        assert_eq!(c.incident_label, "incident");
        assert_eq!(c.security_labels, ["security"]);
        let schema = smm_sdk::config_schema::<GitHubIncidents>();
        assert_eq!(
            schema["properties"]["incident_label"]["default"],
            "incident"
        );
        assert_eq!(schema["additionalProperties"], false);
        assert!(
            smm_sdk::parse_config::<GitHubIncidents>(r#"{"repository": "o/r", "label": "x"}"#)
                .is_err()
        );
    }
}
