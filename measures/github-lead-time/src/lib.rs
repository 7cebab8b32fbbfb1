//! `github-lead-time`: median change lead time, in hours, of the commits a
//! GitHub repository's successful deployments to one environment shipped
//! over the last `window_days` days (DORA's lead time for changes), and the
//! rework rate, read from the REST API at collection time.
//!
//! A successful deployment ships the commits since the previous successful
//! deployment of the same environment (ordered by finish time, DevLake's
//! rule, `smm_delivery::linking`): those the compare API lists for
//! `{previous sha}...{sha}`. The first successful deployment with no
//! predecessor ships nothing; the last successful deployment before the
//! window is read so that the window's first one has one. A commit's lead
//! time runs from its author date to the deployment's finish
//! (`smm_delivery::lead_time`); a commit shipped again (after a rollback)
//! counts once.
//!
//! Rework: a deployment is rework when one of the commits it shipped has a
//! first message line starting (ignoring case) with one of
//! `rework_prefixes`, and security rework when such a commit's message also
//! contains (ignoring case) one of `security_keywords`. Rates are over the
//! deployments of the window that shipped at least one change.

use std::collections::{BTreeMap, HashMap};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use smm_delivery::github::Comparison;
use smm_delivery::lead_time::{self, Change, DeployedRevision};
use smm_delivery::{linking, stats};
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, Scale};

use smm_github as github_api;

use github_api::{Api, Fetched, Target};

/// Configuration of `github-lead-time`.
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
    /// The environment whose deployments count, as GitHub names it.
    #[serde(default = "github_api::default_environment")]
    #[schemars(length(min = 1))]
    pub environment: String,
    /// Length of the window measured, in days, ending at collection time.
    #[serde(default = "github_api::default_window_days")]
    #[schemars(range(min = 1, max = 365))]
    pub window_days: u32,
    /// A deployment is rework when the first line of one of its commits'
    /// messages starts with one of these (ignoring case).
    #[serde(default = "default_rework_prefixes")]
    #[schemars(inner(length(min = 1)))]
    pub rework_prefixes: Vec<String>,
    /// Rework is security rework when the rework commit's message contains
    /// one of these (ignoring case).
    #[serde(default = "default_security_keywords")]
    #[schemars(inner(length(min = 1)))]
    pub security_keywords: Vec<String>,
}

fn default_rework_prefixes() -> Vec<String> {
    vec!["fix".into(), "hotfix".into(), "revert".into()]
}

fn default_security_keywords() -> Vec<String> {
    vec!["security".into(), "CVE-".into(), "GHSA-".into()]
}

/// How commits are told to be rework.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rework {
    prefixes: Vec<String>,
    keywords: Vec<String>,
}

impl Rework {
    /// From the configured words (none empty).
    pub fn new(prefixes: &[String], keywords: &[String]) -> Result<Rework, Error> {
        let lower = |field: &str, words: &[String]| {
            words
                .iter()
                .map(|w| {
                    if w.is_empty() {
                        Err(Error::config(format!(
                            "{field}: an empty string matches every commit"
                        )))
                    } else {
                        Ok(w.to_lowercase())
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Rework {
            prefixes: lower("rework_prefixes", prefixes)?,
            keywords: lower("security_keywords", keywords)?,
        })
    }

    /// Whether the first line of `message` starts with a rework prefix.
    pub fn is_rework(&self, message: &str) -> bool {
        let first = message
            .lines()
            .next()
            .unwrap_or("")
            .trim_start()
            .to_lowercase();
        self.prefixes.iter().any(|p| first.starts_with(p.as_str()))
    }

    /// Whether `message` is rework and names a security keyword.
    pub fn is_security_rework(&self, message: &str) -> bool {
        let lower = message.to_lowercase();
        self.is_rework(message) && self.keywords.iter().any(|k| lower.contains(k.as_str()))
    }
}

pub struct GitHubLeadTime;

impl Measure for GitHubLeadTime {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata {
            id: "github-lead-time",
            version: "1.0.0",
            name: "GitHub change lead time",
            description: "Median lead time, in hours, from commit authored to successful deployment of a GitHub repository to one environment over the last window_days days (DORA lead time for changes), with the rework rate, from the REST API.",
            kind: Kind::Direct,
            unit: "hours",
            scale: Scale::Ratio,
            output: "value: median lead time in hours of the commits shipped by the successful deployments finished in the window (an input error when none shipped any); details: {repository, environment, window_days, changes, median_hours, p90_hours, deployments_with_changes, rework_deployments, rework_rate (over deployments_with_changes, null without), security_rework_deployments, security_rework_rate, deployments: [{id, sha, finished_at, truncated (the compare API listed fewer commits than it counted), rework, security_rework, changes: [{sha, authored_at, lead_time_hours}]}] (successful, finished in the window, oldest first)}",
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
        let rework = Rework::new(&config.rework_prefixes, &config.security_keywords)?;
        let mut api = github_api::client();
        let fetched = github_api::deployments(&mut api, &target)?;
        let compared = compare(&mut api, &target, &fetched)?;
        summarize(&target, &rework, &fetched, &compared)
    }
}

/// The successful deployments finished in the window that have a previous
/// successful deployment, each with it (indices into `fetched`).
pub fn to_compare(target: &Target, fetched: &[Fetched]) -> Vec<(usize, usize)> {
    let commits = github_api::commits(fetched);
    linking::previous_successes(&commits, |_| true)
        .into_iter()
        .enumerate()
        .filter_map(|(i, previous)| Some((i, previous?)))
        .filter(|&(i, _)| {
            fetched[i]
                .finished_at()
                .is_some_and(|t| target.window.contains(t))
        })
        .collect()
}

/// What the compare API lists between each deployment of [`to_compare`]
/// and its previous one (nothing asked when both deployed one commit).
pub fn compare(
    api: &mut impl Api,
    target: &Target,
    fetched: &[Fetched],
) -> Result<BTreeMap<usize, Comparison>, Error> {
    let mut compared = BTreeMap::new();
    for (i, previous) in to_compare(target, fetched) {
        let (base, head) = (
            &fetched[previous].deployment.sha,
            &fetched[i].deployment.sha,
        );
        if base == head {
            continue;
        }
        let url = format!("{}/compare/{base}...{head}", target.repo_url());
        compared.insert(i, github_api::parse(&api.get(&url)?)?);
    }
    Ok(compared)
}

/// The measurement over the deployments read and the comparisons of
/// [`compare`] (by index into `fetched`).
pub fn summarize(
    target: &Target,
    rework: &Rework,
    fetched: &[Fetched],
    compared: &BTreeMap<usize, Comparison>,
) -> Result<Measurement, Error> {
    let revisions: Vec<DeployedRevision> = fetched
        .iter()
        .enumerate()
        .map(|(i, f)| DeployedRevision {
            commit: f.commit.clone(),
            contains: compared
                .get(&i)
                .map(|c| c.commits.iter().map(|c| c.sha.clone()).collect())
                .unwrap_or_default(),
        })
        .collect();
    // One change per commit, however many comparisons list it.
    let mut changes: Vec<Change> = Vec::new();
    let mut messages: HashMap<&str, &str> = HashMap::new();
    for commit in compared.values().flat_map(|c| &c.commits) {
        if messages
            .insert(&commit.sha, &commit.commit.message)
            .is_none()
        {
            changes.extend(Change::from_commit(commit));
        }
    }
    let shipped = lead_time::shipped_changes(&revisions, &changes);
    let in_window: Vec<_> = shipped
        .iter()
        .filter(|d| target.window.contains(d.finished_at))
        .collect();
    let hours = lead_time::lead_times_hours(&shipped, &target.window);
    let Some(median) = stats::median(&hours) else {
        return Err(Error::input(format!(
            "no change was deployed to {} in the last {} days",
            target.environment, target.window_days
        )));
    };
    let (mut with_changes, mut reworked, mut secured) = (0, 0, 0);
    let deployments: Vec<Value> = in_window
        .iter()
        .map(|d| {
            let f = &fetched[d.deployment];
            let message = |c: &lead_time::ShippedChange| messages[changes[c.change].sha.as_str()];
            let is_rework = d.changes.iter().any(|c| rework.is_rework(message(c)));
            let is_security = d
                .changes
                .iter()
                .any(|c| rework.is_security_rework(message(c)));
            with_changes += usize::from(!d.changes.is_empty());
            reworked += usize::from(is_rework);
            secured += usize::from(is_security);
            let shipped: Vec<Value> = d
                .changes
                .iter()
                .map(|c| {
                    let change = &changes[c.change];
                    json!({
                        "sha": change.sha,
                        "authored_at": github_api::iso(change.started_at),
                        "lead_time_hours": c.hours(),
                    })
                })
                .collect();
            json!({
                "id": f.deployment.id,
                "sha": f.deployment.sha,
                "finished_at": github_api::iso(d.finished_at),
                "truncated": compared.get(&d.deployment).is_some_and(Comparison::is_truncated),
                "rework": is_rework,
                "security_rework": is_security,
                "changes": shipped,
            })
        })
        .collect();
    let rate = |n: usize| (with_changes > 0).then(|| n as f64 / with_changes as f64);
    let mut details = github_api::details_head(target);
    details.insert("changes".into(), hours.len().into());
    details.insert("median_hours".into(), median.into());
    details.insert("p90_hours".into(), stats::percentile(&hours, 90.0).into());
    details.insert("deployments_with_changes".into(), with_changes.into());
    details.insert("rework_deployments".into(), reworked.into());
    details.insert("rework_rate".into(), rate(reworked).into());
    details.insert("security_rework_deployments".into(), secured.into());
    details.insert("security_rework_rate".into(), rate(secured).into());
    details.insert("deployments".into(), deployments.into());
    Ok(Measurement::value(median).with_details(Value::Object(details)))
}

smm_sdk::export_measure!(GitHubLeadTime);

#[cfg(test)]
mod tests {
    use smm_delivery::github::{Deployment, DeploymentStatus};

    use super::*;

    use smm_github::testing::{member, target};

    fn rework() -> Rework {
        Rework::new(&default_rework_prefixes(), &default_security_keywords()).unwrap()
    }

    /// Deployment `id` at commit `sha`, created at `created`, with one
    /// final status `state` at `finished`: edited copies (in memory) of
    /// the real deployment and status of octokit's `deployment_status`
    /// payload.
    fn fetched(
        real: &(Value, Value),
        id: u64,
        sha: &str,
        created: &str,
        state: &str,
        finished: &str,
    ) -> Fetched {
        let (mut d, mut s) = real.clone();
        d["id"] = id.into();
        d["sha"] = sha.into();
        d["created_at"] = created.into();
        s["id"] = (id * 10).into();
        s["state"] = state.into();
        s["created_at"] = finished.into();
        let d: Deployment = serde_json::from_value(d).unwrap();
        let s: DeploymentStatus = serde_json::from_value(s).unwrap();
        Fetched::new(d, vec![s], "Codertocat/Hello-World", "production")
    }

    fn real() -> Option<(Value, Value)> {
        let name = "octokit_deployment_status_success.json";
        Some((
            member(name, "deployment")?,
            member(name, "deployment_status")?,
        ))
    }

    /// A compare answer in the shape GitHub's REST reference documents (no
    /// fixture holds one): `(sha, authored, message)` commits.
    fn comparison(total: u64, commits: &[(&str, &str, &str)]) -> Comparison {
        let commits: Vec<Value> = commits
            .iter()
            .map(|(sha, authored, message)| {
                json!({"sha": sha, "commit": {
                    "author": {"name": "Monalisa Octocat", "email": "m@example.com", "date": authored},
                    "committer": {"name": "GitHub", "email": "noreply@github.com", "date": authored},
                    "message": message}})
            })
            .collect();
        serde_json::from_value(json!({"status": "ahead", "ahead_by": total, "behind_by": 0,
            "total_commits": total, "commits": commits}))
        .unwrap()
    }

    /// Newest first, as read: 5 (in the window), 4 failed, 3 and 2 in the
    /// window, 1 the baseline before it.
    fn history(real: &(Value, Value)) -> Vec<Fetched> {
        vec![
            fetched(
                real,
                5,
                "s5",
                "2024-03-20T10:00:00Z",
                "success",
                "2024-03-20T12:00:00Z",
            ),
            fetched(
                real,
                4,
                "s4",
                "2024-03-15T10:00:00Z",
                "failure",
                "2024-03-15T10:30:00Z",
            ),
            fetched(
                real,
                3,
                "s3",
                "2024-03-10T10:00:00Z",
                "success",
                "2024-03-10T11:00:00Z",
            ),
            // Redeployed the same commit as 2: nothing to compare.
            fetched(
                real,
                2,
                "s2",
                "2024-03-05T10:00:00Z",
                "success",
                "2024-03-05T10:30:00Z",
            ),
            fetched(
                real,
                6,
                "s2",
                "2024-03-06T10:00:00Z",
                "success",
                "2024-03-06T10:30:00Z",
            ),
            fetched(
                real,
                1,
                "s1",
                "2024-02-20T10:00:00Z",
                "success",
                "2024-02-20T10:30:00Z",
            ),
        ]
    }

    #[test]
    fn each_deployment_in_the_window_is_compared_with_its_previous_success() {
        let Some(real) = real() else { return };
        let h = history(&real);
        // 5 after 3 (4 failed), 3 after 6, 6 after 2, 2 after 1 (the
        // baseline, itself not compared).
        assert_eq!(to_compare(&target(), &h), [(0, 2), (2, 4), (3, 5), (4, 3)]);
    }

    #[test]
    fn lead_times_and_rework_of_the_window() {
        let Some(real) = real() else { return };
        let h = history(&real);
        // The real merged pull request's title, as its squash commit's
        // first line: a revert.
        let Some(pr) = member(
            "create-issue-branch_pull_request_closed_merged.json",
            "pull_request",
        ) else {
            return;
        };
        let revert = pr["title"].as_str().unwrap();
        assert_eq!(revert, "Revert \"Update README.md\"");
        let mut compared = BTreeMap::new();
        // 2 (finished 03-05 10:30) ships a (authored 03-04 10:30, 24 h)
        // and s2 (03-05 08:30, 2 h).
        compared.insert(
            3,
            comparison(
                2,
                &[
                    ("a", "2024-03-04T10:30:00Z", "Add the search page"),
                    (
                        "s2",
                        "2024-03-05T08:30:00Z",
                        "Describe the search page in the security guide",
                    ),
                ],
            ),
        );
        // 3 (finished 03-10 11:00) ships s3 (03-10 05:00, 6 h), a revert.
        compared.insert(2, comparison(1, &[("s3", "2024-03-10T05:00:00Z", revert)]));
        // 5 (finished 03-20 12:00) ships b (03-19 12:00, 24 h), s4 (03-15
        // 08:00, 124 h), s5 (03-20 11:00, 1 h); GitHub counted 4.
        compared.insert(
            0,
            comparison(
                4,
                &[
                    ("b", "2024-03-19T12:00:00Z", "feat: export"),
                    (
                        "s4",
                        "2024-03-15T08:00:00Z",
                        "HOTFIX: escape names (GHSA-abcd-efgh-ijkl)\n\nsee advisory",
                    ),
                    ("s5", "2024-03-20T11:00:00Z", "Bump version"),
                ],
            ),
        );
        let m = summarize(&target(), &rework(), &h, &compared).unwrap();
        // Sorted: 1, 2, 6, 24, 24, 124: median (6 + 24) / 2.
        assert_eq!(m.value, Some(15.0));
        let d = m.details.unwrap();
        assert_eq!(d["changes"], 6);
        assert_eq!(d["median_hours"], 15.0);
        // Rank 0.9 * 5 = 4.5: 24 + 0.5 * (124 - 24) = 74.
        assert_eq!(d["p90_hours"], 74.0);
        // 2, 3, 5 shipped changes; 6 (same commit as 2) none.
        assert_eq!(d["deployments_with_changes"], 3);
        assert_eq!(d["rework_deployments"], 2);
        assert_eq!(d["rework_rate"], 2.0 / 3.0);
        // 5's hotfix names an advisory; 2's "security" is not rework.
        assert_eq!(d["security_rework_deployments"], 1);
        assert_eq!(d["security_rework_rate"], 1.0 / 3.0);
        let ids: Vec<u64> = d["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, [2, 6, 3, 5]);
        let two = &d["deployments"][0];
        assert_eq!(two["sha"], "s2");
        assert_eq!(two["finished_at"], "2024-03-05T10:30:00Z");
        assert_eq!(
            two["changes"],
            json!([
                {"sha": "a", "authored_at": "2024-03-04T10:30:00Z", "lead_time_hours": 24.0},
                {"sha": "s2", "authored_at": "2024-03-05T08:30:00Z", "lead_time_hours": 2.0},
            ])
        );
        assert_eq!(
            (two["rework"].clone(), two["truncated"].clone()),
            (json!(false), json!(false))
        );
        assert_eq!(d["deployments"][1]["changes"], json!([]));
        assert_eq!(d["deployments"][2]["rework"], true);
        assert_eq!(d["deployments"][2]["security_rework"], false);
        let five = &d["deployments"][3];
        assert_eq!(
            (five["rework"].clone(), five["security_rework"].clone()),
            (json!(true), json!(true))
        );
        assert_eq!(five["truncated"], true);
        assert_eq!(five["changes"][1]["lead_time_hours"], 124.0);
    }

    #[test]
    fn a_window_without_changes_is_an_input_error() {
        let Some(real) = real() else { return };
        let h = history(&real);
        let e = summarize(&target(), &rework(), &h, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            e,
            Error::input("no change was deployed to production in the last 30 days")
        );
        // The baseline alone, before the window.
        let e = summarize(&target(), &rework(), &h[5..], &BTreeMap::new()).unwrap_err();
        assert!(matches!(e, Error::Input(_)), "{e}");
    }

    #[test]
    fn a_commit_listed_twice_counts_once() {
        let Some(real) = real() else { return };
        // 1 (baseline) at s1; 2 at s2; 3 rolled back to s1; 4 at s2 again.
        let h = vec![
            fetched(
                &real,
                4,
                "s2",
                "2024-03-04T00:00:00Z",
                "success",
                "2024-03-04T01:00:00Z",
            ),
            fetched(
                &real,
                3,
                "s1",
                "2024-03-03T00:00:00Z",
                "success",
                "2024-03-03T01:00:00Z",
            ),
            fetched(
                &real,
                2,
                "s2",
                "2024-03-02T00:00:00Z",
                "success",
                "2024-03-02T01:00:00Z",
            ),
            fetched(
                &real,
                1,
                "s1",
                "2024-02-01T00:00:00Z",
                "success",
                "2024-02-01T01:00:00Z",
            ),
        ];
        let mut compared = BTreeMap::new();
        let c = comparison(1, &[("s2", "2024-03-01T01:00:00Z", "fix: rounding")]);
        compared.insert(2, c.clone());
        compared.insert(0, c);
        let d = summarize(&target(), &rework(), &h, &compared)
            .unwrap()
            .details
            .unwrap();
        assert_eq!(d["changes"], 1);
        assert_eq!(d["median_hours"], 24.0);
        assert_eq!(d["deployments_with_changes"], 1);
        assert_eq!(d["rework_deployments"], 1);
        assert_eq!(d["rework_rate"], 1.0);
    }

    #[test]
    fn rework_is_told_by_the_first_line_and_security_by_the_message() {
        let r = rework();
        for m in [
            "fix: x",
            "Fix typo",
            "  HOTFIX x",
            "Revert \"y\"",
            "fixup! z",
            "fixture update",
        ] {
            assert!(r.is_rework(m), "{m}");
        }
        for m in ["feat: fix later", "Bump x\n\nfix: in body", "", "prefix"] {
            assert!(!r.is_rework(m), "{m}");
        }
        assert!(r.is_security_rework("fix: escape\n\nCVE-2024-1234"));
        assert!(r.is_security_rework("Hotfix security headers"));
        assert!(r.is_security_rework("fix: ghsa-xxxx"));
        assert!(!r.is_security_rework("Add security headers"));
        assert!(!r.is_security_rework("fix: typo"));
        let custom = Rework::new(&["bug".into()], &["vuln".into()]).unwrap();
        assert!(custom.is_security_rework("BUG: vuln in parser"));
        assert!(!custom.is_rework("fix: x"));
        let e = Rework::new(&[String::new()], &[]).unwrap_err();
        assert!(e.to_string().contains("rework_prefixes"), "{e}");
    }

    #[test]
    fn configuration_defaults_and_schema() {
        let c = smm_sdk::parse_config::<GitHubLeadTime>(r#"{"repository": "o/r"}"#).unwrap();
        assert_eq!(c.rework_prefixes, ["fix", "hotfix", "revert"]);
        assert_eq!(c.security_keywords, ["security", "CVE-", "GHSA-"]);
        assert_eq!((c.environment.as_str(), c.window_days), ("production", 30));
        let e = smm_sdk::parse_config::<GitHubLeadTime>(r#"{"repository": "o/r", "prefixes": []}"#)
            .unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let schema = smm_sdk::config_schema::<GitHubLeadTime>();
        let p = &schema["properties"];
        assert_eq!(
            p["rework_prefixes"]["default"],
            json!(["fix", "hotfix", "revert"])
        );
        assert_eq!(p["rework_prefixes"]["items"]["minLength"], 1);
        assert_eq!(p["window_days"]["maximum"], 365);
        assert_eq!(schema["additionalProperties"], false);
    }
}
