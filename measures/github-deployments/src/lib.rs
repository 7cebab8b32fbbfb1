//! `github-deployments`: successful deployments of a GitHub repository to
//! one environment over the last `window_days` days (DORA's deployment
//! frequency), read from the REST API at collection time.
//!
//! A deployment succeeded when its deciding status, the latest final one
//! (`success`, `failure` or `error`), is `success`, and finished when that
//! status was created (`smm_delivery::github::deployment_commit`). The
//! value counts the successful deployments that finished in the window
//! `[now - window_days, now)`; the details give the failures, the rate per
//! day and per week, and every deployment that finished in the window or,
//! unfinished, was created in it. The host grants the API (`--allow-host`)
//! and adds the token (`--secret`): the measure never holds one.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use smm_delivery::frequency;
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, Scale};

use smm_github as github_api;

use github_api::{Fetched, Target};

/// Configuration of `github-deployments`.
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
}

impl Config {
    fn target(&self, now: chrono::DateTime<chrono::Utc>) -> Result<Target, Error> {
        Target::new(
            &self.repository,
            &self.api_url,
            &self.environment,
            self.window_days,
            now,
        )
    }
}

pub struct GitHubDeployments;

impl Measure for GitHubDeployments {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata {
            id: "github-deployments",
            version: "1.0.0",
            name: "GitHub deployments",
            description: "Successful deployments of a GitHub repository to one environment over the last window_days days (DORA deployment frequency), from the REST API.",
            kind: Kind::Direct,
            unit: "deployments",
            scale: Scale::Ratio,
            output: "value: successful deployments finished in the window; details: {repository, environment, window_days, successful, failed, per_day, per_week, deployments: [{id, sha, ref, created_at, finished_at, state}] (finished in the window, or unfinished and created in it, oldest first)}",
        }
    }

    fn collect(config: Config) -> Result<Measurement, Error> {
        let target = config.target(github_api::now())?;
        let fetched = github_api::deployments(&mut github_api::client(), &target)?;
        Ok(summarize(&target, &fetched))
    }
}

/// The measurement over the deployments read (newest first, as
/// [`github_api::deployments`] gives them).
pub fn summarize(target: &Target, fetched: &[Fetched]) -> Measurement {
    let window = &target.window;
    let commits = github_api::commits(fetched);
    let env = &target.environment;
    let successful = frequency::deployment_count(&commits, env, window);
    let per_day = frequency::deployments_per_day(&commits, env, window);
    let failed = fetched
        .iter()
        .filter(|f| !f.commit.success && f.finished_at().is_some_and(|t| window.contains(t)))
        .count();
    let mut listed: Vec<&Fetched> = fetched
        .iter()
        .filter(|f| match f.finished_at() {
            Some(t) => window.contains(t),
            None => window.contains(f.deployment.created_at),
        })
        .collect();
    listed.sort_by_key(|f| (f.deployment.created_at, f.deployment.id));
    let deployments: Vec<Value> = listed
        .iter()
        .map(|f| {
            json!({
                "id": f.deployment.id,
                "sha": f.deployment.sha,
                "ref": f.deployment.git_ref,
                "created_at": github_api::iso(f.deployment.created_at),
                "finished_at": f.finished_at().map(github_api::iso),
                "state": f.state(),
            })
        })
        .collect();
    let mut details = github_api::details_head(target);
    details.insert("successful".into(), successful.into());
    details.insert("failed".into(), failed.into());
    details.insert("per_day".into(), per_day.into());
    details.insert("per_week".into(), (per_day * 7.0).into());
    details.insert("deployments".into(), deployments.into());
    Measurement::value(successful as f64).with_details(Value::Object(details))
}

smm_sdk::export_measure!(GitHubDeployments);

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use smm_delivery::github::{Deployment, DeploymentState, DeploymentStatus};
    use smm_sdk::http::Response;

    use super::github_api::{self, Api};
    use super::*;

    use smm_github::testing::{NOW, at, member, target};

    /// The real deployment and success status of octokit's
    /// `deployment_status` payload.
    fn real() -> Option<(Value, Value)> {
        let name = "octokit_deployment_status_success.json";
        Some((
            member(name, "deployment")?,
            member(name, "deployment_status")?,
        ))
    }

    /// An edited copy of the real deployment: id, sha and creation time
    /// changed (in memory only).
    fn deployment(real: &Value, id: u64, created: &str) -> Value {
        let mut d = real.clone();
        d["id"] = id.into();
        d["sha"] = format!("{id:040x}").into();
        d["created_at"] = created.into();
        d["updated_at"] = created.into();
        d
    }

    /// An edited copy of the real status: id, state and time changed.
    fn status(real: &Value, id: u64, state: &str, created: &str) -> Value {
        let mut s = real.clone();
        s["id"] = id.into();
        s["state"] = state.into();
        s["created_at"] = created.into();
        s["updated_at"] = created.into();
        s
    }

    /// Canned answers by URL, and the URLs asked for.
    #[derive(Default)]
    struct Canned {
        answers: BTreeMap<String, (Value, Option<String>)>,
        asked: Vec<String>,
    }

    impl Canned {
        fn json(&mut self, url: &str, body: Value, next: Option<&str>) {
            self.answers.insert(
                url.into(),
                (body, next.map(|n| format!("<{n}>; rel=\"next\""))),
            );
        }
    }

    impl Api for Canned {
        fn get(&mut self, url: &str) -> Result<Response, Error> {
            self.asked.push(url.to_string());
            let (body, link) = self
                .answers
                .get(url)
                .ok_or_else(|| Error::input(format!("GET {url}: status 404")))?;
            Ok(Response {
                url: url.into(),
                status: 200,
                headers: link.iter().map(|l| ("link".into(), l.clone())).collect(),
                body: serde_json::to_vec(body).unwrap(),
            })
        }
    }

    const API: &str = "https://api.github.com";

    /// Window: [03-01, 03-31). Newest first, over two pages: 7 unfinished
    /// (in the window), 6 failed, 5 succeeded, 4 created the day before
    /// the window and finished in it, 3 failed before the window, 2 the
    /// baseline, 1 older (never asked about).
    fn history(real: &(Value, Value), api: &mut Canned) {
        let (d, s) = real;
        let t = target();
        let page2 = format!("{}&page=2", t.deployments_url());
        let page3 = format!("{}&page=3", t.deployments_url());
        api.json(
            &t.deployments_url(),
            json!([
                deployment(d, 7, "2024-03-30T10:00:00Z"),
                deployment(d, 6, "2024-03-20T10:00:00Z"),
                deployment(d, 5, "2024-03-10T10:00:00Z"),
            ]),
            Some(&page2),
        );
        api.json(
            &page2,
            json!([
                deployment(d, 4, "2024-02-29T23:00:00Z"),
                deployment(d, 3, "2024-02-20T10:00:00Z"),
                deployment(d, 2, "2024-02-10T10:00:00Z"),
                deployment(d, 1, "2024-01-10T10:00:00Z"),
            ]),
            Some(&page3),
        );
        api.json(&page3, json!([]), None);
        let statuses =
            |api: &mut Canned, id, list: Value| api.json(&t.statuses_url(id), list, None);
        statuses(
            api,
            7,
            json!([status(s, 70, "queued", "2024-03-30T10:01:00Z")]),
        );
        statuses(
            api,
            6,
            json!([status(s, 60, "failure", "2024-03-20T10:05:00Z")]),
        );
        // Statuses newest first, as GitHub lists them: inactive (a later
        // deployment superseded it) after the success.
        statuses(
            api,
            5,
            json!([
                status(s, 52, "inactive", "2024-03-20T10:05:00Z"),
                status(s, 51, "success", "2024-03-10T10:30:00Z"),
                status(s, 50, "in_progress", "2024-03-10T10:01:00Z"),
            ]),
        );
        statuses(
            api,
            4,
            json!([status(s, 40, "success", "2024-03-01T01:00:00Z")]),
        );
        statuses(
            api,
            3,
            json!([status(s, 30, "error", "2024-02-20T10:05:00Z")]),
        );
        statuses(
            api,
            2,
            json!([status(s, 20, "success", "2024-02-10T10:10:00Z")]),
        );
        statuses(
            api,
            1,
            json!([status(s, 10, "success", "2024-01-10T10:10:00Z")]),
        );
    }

    #[test]
    fn deployments_are_read_back_to_the_baseline_and_no_further() {
        let Some(real) = real() else { return };
        let mut api = Canned::default();
        history(&real, &mut api);
        let t = target();
        let fetched = github_api::deployments(&mut api, &t).unwrap();
        let ids: Vec<u64> = fetched.iter().map(|f| f.deployment.id).collect();
        assert_eq!(ids, [7, 6, 5, 4, 3, 2]);
        // Two pages of deployments, the statuses of 7 to 2; neither page 3
        // nor deployment 1's statuses.
        assert_eq!(api.asked.len(), 2 + 6, "{:?}", api.asked);
        assert!(api.asked.iter().all(|u| !u.contains("page=3")));
        assert!(!api.asked.contains(&t.statuses_url(1)));
        assert!(fetched[5].is_baseline(&t.window));
        assert_eq!(fetched[0].state(), Some(DeploymentState::Queued));
        assert_eq!(fetched[2].state(), Some(DeploymentState::Success));
        assert_eq!(fetched[2].finished_at(), Some(at("2024-03-10T10:30:00Z")));
        assert_eq!(fetched[4].state(), Some(DeploymentState::Error));
    }

    #[test]
    fn successes_finished_in_the_window_count() {
        let Some(real) = real() else { return };
        let mut api = Canned::default();
        history(&real, &mut api);
        let t = target();
        let fetched = github_api::deployments(&mut api, &t).unwrap();
        let m = summarize(&t, &fetched);
        // 5 and 4 (created before the window, finished in it).
        assert_eq!(m.value, Some(2.0));
        let d = m.details.unwrap();
        assert_eq!(d["repository"], "Codertocat/Hello-World");
        assert_eq!(d["environment"], "production");
        assert_eq!(d["window_days"], 30);
        assert_eq!(d["successful"], 2);
        // 6 failed in the window; 3 failed before it.
        assert_eq!(d["failed"], 1);
        assert_eq!(d["per_day"], 2.0 / 30.0);
        assert_eq!(d["per_week"], 14.0 / 30.0);
        let listed: Vec<(u64, &str)> = d["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["id"].as_u64().unwrap(), x["state"].as_str().unwrap()))
            .collect();
        assert_eq!(
            listed,
            [
                (4, "success"),
                (5, "success"),
                (6, "failure"),
                (7, "queued")
            ]
        );
        let four = &d["deployments"][0];
        assert_eq!(four["created_at"], "2024-02-29T23:00:00Z");
        assert_eq!(four["finished_at"], "2024-03-01T01:00:00Z");
        assert_eq!(four["ref"], "master");
        assert_eq!(four["sha"], format!("{:040x}", 4));
        assert_eq!(d["deployments"][3]["finished_at"], Value::Null);
    }

    #[test]
    fn the_search_for_a_baseline_is_bounded() {
        let Some((d, s)) = real() else { return };
        let mut api = Canned::default();
        let t = target();
        // Only failures before the window, more than MAX_BEFORE of them.
        let n = github_api::MAX_BEFORE as u64 + 5;
        let list: Vec<Value> = (1..=n)
            .map(|i| deployment(&d, 1000 - i, &format!("2024-02-{:02}T00:00:00Z", 28 - i)))
            .collect();
        api.json(&t.deployments_url(), Value::Array(list), None);
        for i in 1..=n {
            let when = format!("2024-02-{:02}T00:05:00Z", 28 - i);
            api.json(
                &t.statuses_url(1000 - i),
                json!([status(&s, i, "failure", &when)]),
                None,
            );
        }
        let fetched = github_api::deployments(&mut api, &t).unwrap();
        assert_eq!(fetched.len(), github_api::MAX_BEFORE);
        let m = summarize(&t, &fetched);
        assert_eq!(m.value, Some(0.0));
        assert_eq!(m.details.unwrap()["deployments"], json!([]));
    }

    #[test]
    fn answers_that_do_not_fit_name_the_url_and_the_path() {
        let Some((d, _)) = real() else { return };
        let mut api = Canned::default();
        let t = target();
        let mut broken = deployment(&d, 2, "2024-03-02T00:00:00Z");
        broken["created_at"] = json!(12);
        api.json(
            &t.deployments_url(),
            json!([deployment(&d, 3, "2024-03-03T00:00:00Z"), broken]),
            None,
        );
        api.json(&t.statuses_url(3), json!([]), None);
        let e = github_api::deployments(&mut api, &t)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("input: "), "{e}");
        assert!(e.contains(&t.deployments_url()), "{e}");
        assert!(e.contains("at $[1].created_at"), "{e}");
        api.json(&t.deployments_url(), json!({"message": "Moved"}), None);
        let e = github_api::deployments(&mut api, &t)
            .unwrap_err()
            .to_string();
        assert!(e.contains("at $: invalid type: map"), "{e}");
        // A status list whose item has no state.
        api.json(
            &t.deployments_url(),
            json!([deployment(&d, 3, "2024-03-03T00:00:00Z")]),
            None,
        );
        api.json(
            &t.statuses_url(3),
            json!([{"id": 1, "created_at": NOW}]),
            None,
        );
        let e = github_api::deployments(&mut api, &t)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&t.statuses_url(3)) && e.contains("at $[0]"),
            "{e}"
        );
        assert!(e.contains("missing field `state`"), "{e}");
    }

    #[test]
    fn real_objects_read_as_deployments_and_statuses() {
        let Some((d, s)) = real() else { return };
        let d: Deployment = serde_json::from_value(d).unwrap();
        let s: DeploymentStatus = serde_json::from_value(s).unwrap();
        let f = Fetched::new(d, vec![s], "Codertocat/Hello-World", "production");
        assert_eq!(f.state(), Some(DeploymentState::Success));
        assert_eq!(f.finished_at(), Some(at("2019-05-15T15:20:55Z")));
        assert!(f.commit.success);
    }

    #[test]
    fn configuration_is_checked() {
        let config = |v: Value| github_api_config(v);
        let c = config(json!({"repository": "Codertocat/Hello-World"})).unwrap();
        assert_eq!(c.api_url, "https://api.github.com");
        assert_eq!(c.environment, "production");
        assert_eq!(c.window_days, 30);
        let e = config(json!({"repository": "o/r", "token": "x"})).unwrap_err();
        assert!(e.to_string().contains("unknown field `token`"), "{e}");
        let now = at(NOW);
        let t = |repo: &str, api: &str, env: &str, days: u32| {
            Target::new(repo, api, env, days, now).map_err(|e| e.to_string())
        };
        let ok = t(
            "octo-org/hello.world_2",
            "https://ghe.example.com/api/v3/",
            "prod env",
            7,
        )
        .unwrap();
        assert_eq!(ok.api, "https://ghe.example.com/api/v3");
        assert_eq!(ok.window.start, at("2024-03-24T00:00:00Z"));
        assert_eq!(
            ok.deployments_url(),
            "https://ghe.example.com/api/v3/repos/octo-org/hello.world_2/deployments?environment=prod%20env&per_page=100"
        );
        for bad in ["o", "o/", "/r", "-o/r", "o/r/x", "o/..", "o/r?x", "o%2F/r"] {
            let e = t(bad, API, "production", 30).unwrap_err();
            assert!(e.starts_with("configuration: repository"), "{bad}: {e}");
        }
        for bad in [
            "ftp://x",
            "https://",
            "https://x/?q",
            "https://u@x",
            "api.github.com",
        ] {
            let e = t("o/r", bad, "production", 30).unwrap_err();
            assert!(e.starts_with("configuration: api_url"), "{bad}: {e}");
        }
        assert!(t("o/r", API, "", 30).unwrap_err().contains("environment"));
        assert!(
            t("o/r", API, "production", 0)
                .unwrap_err()
                .contains("window_days")
        );
        assert!(
            t("o/r", API, "production", 366)
                .unwrap_err()
                .contains("window_days")
        );
        assert_eq!(github_api::encode("a b/c:d&é"), "a%20b%2Fc%3Ad%26%C3%A9");
    }

    fn github_api_config(v: Value) -> Result<Config, Error> {
        smm_sdk::parse_config::<GitHubDeployments>(&v.to_string())
    }

    #[test]
    fn the_schema_documents_defaults_and_limits() {
        let schema = smm_sdk::config_schema::<GitHubDeployments>();
        let p = &schema["properties"];
        assert_eq!(schema["required"], json!(["repository"]));
        assert_eq!(p["api_url"]["default"], "https://api.github.com");
        assert_eq!(p["environment"]["default"], "production");
        assert_eq!(p["window_days"]["default"], 30);
        assert_eq!(p["window_days"]["minimum"], 1);
        assert_eq!(p["window_days"]["maximum"], 365);
        assert!(p["repository"]["pattern"].is_string());
        assert_eq!(schema["additionalProperties"], false);
    }
}
