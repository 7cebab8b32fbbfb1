//! Incidents for teams without a forge API: an export of the issue
//! tracker's issues, attributed to the tag deployments.
//!
//! # Input
//!
//! A JSON array of issues, as one of these commands writes it (the file
//! configured as `incidents`):
//!
//! ```sh
//! # GitHub CLI
//! gh issue list --repo acme/shop --label incident --state all --limit 1000 \
//!     --json number,title,createdAt,closedAt,labels > incidents.json
//! # GitHub REST API (one page; pull requests are left out)
//! curl -s "https://api.github.com/repos/acme/shop/issues?labels=incident&state=all&per_page=100" > incidents.json
//! # GitLab REST API
//! curl -s --header "PRIVATE-TOKEN: $TOKEN" \
//!     "https://gitlab.example.com/api/v4/projects/42/issues?labels=incident&per_page=100" > incidents.json
//! ```
//!
//! Each element is read for its number (`number`, or GitLab's `iid`), when
//! it was opened (`createdAt` or `created_at`), when it was closed
//! (`closedAt` or `closed_at`: `null`, absent or the zero time of year 1
//! while open) and its labels (objects with a `name`, as GitHub writes
//! them, or plain strings, as GitLab does); other fields are ignored.
//! Elements with a `pull_request` member (the GitHub issues API lists pull
//! requests too) and those without the incident label are left out.
//!
//! # Rules
//!
//! Those of `smm_delivery::incidents`, as `github-incidents` applies them:
//! an incident goes to the latest deployment that happened strictly before
//! it was opened; a deployment of the window with an incident opened in the
//! window attributed is a failed change; time to restore runs from opening
//! to closing, its median over the incidents closed in the window.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use smm_delivery::Window;
use smm_delivery::incidents::{self, Incident};
use smm_delivery::linking::DeploymentCommit;

/// The environment the tag deployments are given (any name would do: they
/// all go to one).
const ENVIRONMENT: &str = "production";

/// A command that writes the export, for error messages.
pub const INCIDENTS_COMMAND: &str = "gh issue list --label incident --state all --limit 1000 --json number,title,createdAt,closedAt,labels > incidents.json";

/// One issue of the export, in any of the shapes read.
#[derive(Debug, Clone, Deserialize)]
pub struct Issue {
    #[serde(alias = "iid")]
    pub number: u64,
    #[serde(alias = "createdAt", alias = "opened_at")]
    pub created_at: DateTime<Utc>,
    #[serde(default, alias = "closedAt")]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub labels: Vec<Label>,
    /// Present (whatever its value) on GitHub pull requests.
    #[serde(default)]
    pub pull_request: Option<Value>,
}

/// A label: GitHub's object or GitLab's string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Label {
    Named { name: String },
    Plain(String),
}

impl Label {
    fn name(&self) -> &str {
        match self {
            Label::Named { name } | Label::Plain(name) => name,
        }
    }
}

impl Issue {
    fn has_label(&self, wanted: &str) -> bool {
        self.labels
            .iter()
            .any(|l| l.name().eq_ignore_ascii_case(wanted))
    }

    /// When it was closed; the zero time some exporters write for "never"
    /// (`0001-01-01T00:00:00Z`) reads as open.
    fn closed(&self) -> Option<DateTime<Utc>> {
        self.closed_at.filter(|t| t.year() > 1)
    }
}

/// Read the export: a JSON array of issues. The error says which element
/// (0-based) and why.
pub fn read(bytes: &[u8]) -> Result<Vec<Issue>, String> {
    let items: Vec<Value> =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JSON array of issues: {e}"))?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| serde_json::from_value(item).map_err(|e| format!("issue [{i}]: {e}")))
        .collect()
}

/// A deployment placed in time, as the incidents see it.
pub struct Deployed<'a> {
    pub tag: &'a str,
    pub at: DateTime<Utc>,
}

/// The incident figures over `issues` (those labelled `label`, pull
/// requests left out, an issue listed twice counted once) and the
/// deployments (all of them, oldest first, the window's and before), in
/// `window`: the details members to add to the measurement.
pub fn summarize(
    issues: &[Issue],
    label: &str,
    security_labels: &[String],
    deployments: &[Deployed],
    window: &Window,
) -> serde_json::Map<String, Value> {
    let mut seen = BTreeSet::new();
    let mut chosen: Vec<&Issue> = issues
        .iter()
        .filter(|i| i.pull_request.is_none() && i.has_label(label) && seen.insert(i.number))
        .collect();
    chosen.sort_by_key(|i| (i.created_at, i.number));
    let list: Vec<Incident> = chosen
        .iter()
        .map(|i| Incident {
            id: format!("#{}", i.number),
            opened_at: i.created_at,
            closed_at: i.closed(),
            labels: i.labels.iter().map(|l| l.name().to_string()).collect(),
            security: security_labels.iter().any(|s| i.has_label(s)),
        })
        .collect();
    let rows: Vec<DeploymentCommit> = deployments
        .iter()
        .map(|d| DeploymentCommit {
            id: d.tag.to_string(),
            cicd_deployment_id: String::new(),
            cicd_scope_id: String::new(),
            repo_url: String::new(),
            environment: ENVIRONMENT.into(),
            success: true,
            started_at: None,
            finished_at: Some(d.at),
            commit_sha: String::new(),
        })
        .collect();
    let summary = incidents::summarize(&list, &rows, ENVIRONMENT, window);
    let listed: Vec<Value> = list
        .iter()
        .zip(&chosen)
        .zip(&summary.attribution)
        .map(|((incident, issue), a)| {
            json!({
                "number": issue.number,
                "opened_at": crate::iso(incident.opened_at),
                "closed_at": incident.closed_at.map(crate::iso),
                "security": incident.security,
                "deployment": a.map(|k| deployments[k].tag),
                "time_to_restore_hours": incident.time_to_restore().map(smm_delivery::hours),
            })
        })
        .collect();
    let mut out = serde_json::Map::new();
    let open = list.iter().filter(|i| i.closed_at.is_none()).count();
    out.insert("open_incidents".into(), open.into());
    out.insert("opened_in_window".into(), summary.all.incidents.into());
    out.insert(
        "failed_deployments".into(),
        summary.all.failed_deployments.into(),
    );
    out.insert(
        "change_failure_rate".into(),
        summary.all.change_failure_rate.into(),
    );
    out.insert(
        "median_time_to_restore_hours".into(),
        summary.all.median_time_to_restore_hours.into(),
    );
    out.insert("security".into(), json!(summary.security));
    out.insert("incidents".into(), listed.into());
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_three_shapes_read_alike() {
        // gh issue list --json (closedAt of an open issue as gh writes it
        // in some versions: the zero time).
        let gh = r#"[{"number": 3, "title": "Down", "createdAt": "2024-03-02T10:00:00Z",
            "closedAt": "0001-01-01T00:00:00Z",
            "labels": [{"id": "LA_1", "name": "Incident", "description": "", "color": "d73a4a"}]}]"#;
        // GitHub REST, with a pull request to leave out.
        let rest = r#"[{"number": 3, "title": "Down", "created_at": "2024-03-02T10:00:00Z",
            "closed_at": null, "labels": [{"name": "incident"}]},
            {"number": 4, "created_at": "2024-03-02T11:00:00Z", "labels": [{"name": "incident"}],
             "pull_request": {"url": "https://api.github.com/repos/a/b/pulls/4"}}]"#;
        // GitLab REST.
        let gitlab = r#"[{"id": 901, "iid": 3, "title": "Down", "created_at": "2024-03-02T10:00:00.000Z",
            "closed_at": null, "labels": ["incident", "sev1"], "state": "opened"}]"#;
        let window = Window::new(at("2024-03-01T00:00:00Z"), at("2024-04-01T00:00:00Z")).unwrap();
        let deployed = [Deployed {
            tag: "v1",
            at: at("2024-03-02T09:00:00Z"),
        }];
        for (name, text) in [("gh", gh), ("rest", rest), ("gitlab", gitlab)] {
            let issues = read(text.as_bytes()).unwrap();
            let d = summarize(&issues, "incident", &[], &deployed, &window);
            assert_eq!(d["open_incidents"], 1, "{name}: {d:?}");
            assert_eq!(d["change_failure_rate"], 1.0, "{name}");
            assert_eq!(d["incidents"][0]["deployment"], "v1", "{name}");
            assert_eq!(d["incidents"][0]["closed_at"], Value::Null, "{name}");
        }
    }

    #[test]
    fn errors_name_the_element() {
        let e = read(br#"{"number": 1}"#).unwrap_err();
        assert!(e.starts_with("not a JSON array of issues"), "{e}");
        let e = read(br#"[{"number": 1, "created_at": "2024-03-02T10:00:00Z"}, {"number": 2}]"#)
            .unwrap_err();
        assert!(
            e.starts_with("issue [1]: missing field `created_at`"),
            "{e}"
        );
    }

    #[test]
    fn attribution_failure_rate_and_restore_over_the_window() {
        let issue = |n: u64, opened: &str, closed: Option<&str>, labels: &[&str]| Issue {
            number: n,
            created_at: at(opened),
            closed_at: closed.map(at),
            labels: labels.iter().map(|l| Label::Plain(l.to_string())).collect(),
            pull_request: None,
        };
        let deployed = [
            Deployed {
                tag: "v0",
                at: at("2024-02-20T00:00:00Z"),
            },
            Deployed {
                tag: "v1",
                at: at("2024-03-05T00:00:00Z"),
            },
            Deployed {
                tag: "v2",
                at: at("2024-03-10T00:00:00Z"),
            },
            Deployed {
                tag: "v3",
                at: at("2024-03-20T00:00:00Z"),
            },
        ];
        let issues = [
            // Opened before the window, after v0: not a failure of the
            // window; closed in it: its restore time counts (26 h: 2024 is a
            // leap year).
            issue(
                1,
                "2024-02-28T22:00:00Z",
                Some("2024-03-01T00:00:00Z"),
                &["incident"],
            ),
            // After v1, closed 4 h later.
            issue(
                2,
                "2024-03-06T00:00:00Z",
                Some("2024-03-06T04:00:00Z"),
                &["incident"],
            ),
            // After v1 again, security, closed 10 h later.
            issue(
                3,
                "2024-03-07T00:00:00Z",
                Some("2024-03-07T10:00:00Z"),
                &["incident", "Security"],
            ),
            // At v3's instant exactly: v2's (strictly before).
            issue(4, "2024-03-20T00:00:00Z", None, &["incident"]),
            // Not an incident.
            issue(5, "2024-03-21T00:00:00Z", None, &["bug"]),
            // Listed twice.
            issue(
                2,
                "2024-03-06T00:00:00Z",
                Some("2024-03-06T04:00:00Z"),
                &["incident"],
            ),
        ];
        let window = Window::new(at("2024-03-01T00:00:00Z"), at("2024-04-01T00:00:00Z")).unwrap();
        let d = summarize(
            &issues,
            "incident",
            &["security".into()],
            &deployed,
            &window,
        );
        // v1, v2, v3 in the window; v1 and v2 failed.
        assert_eq!(d["failed_deployments"], 2);
        assert!((d["change_failure_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(d["open_incidents"], 1);
        assert_eq!(d["opened_in_window"], 3);
        // Closed in the window: #1 (26 h), #2 (4 h), #3 (10 h): median 10.
        assert_eq!(d["median_time_to_restore_hours"], 10.0);
        assert_eq!(
            d["security"],
            json!({"incidents": 1, "failed_deployments": 1,
                   "change_failure_rate": 1.0 / 3.0, "median_time_to_restore_hours": 10.0})
        );
        let tags: Vec<&Value> = d["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| &i["deployment"])
            .collect();
        assert_eq!(
            tags,
            [&json!("v0"), &json!("v1"), &json!("v1"), &json!("v2")]
        );
        assert_eq!(d["incidents"][0]["time_to_restore_hours"], 26.0);
        assert_eq!(
            TimeDelta::hours(26),
            at("2024-03-01T00:00:00Z") - at("2024-02-28T22:00:00Z")
        );
    }
}
