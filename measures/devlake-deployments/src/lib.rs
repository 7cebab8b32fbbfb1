//! `devlake-deployments`: successful deployments to one environment over a
//! window of `window_days` days (DORA's deployment frequency), read from
//! Apache DevLake's `cicd_deployment_commits` table exported as CSV: how a
//! team imports its deployment history, from DevLake or from any tool that
//! writes the same table.
//!
//! # Input
//!
//! `path` is the table as CSV, inside a directory granted to the instance:
//! a header row naming DevLake's columns (any order; unknown columns such
//! as `prev_success_deployment_commit_id` or `_raw_data_remark` are
//! ignored), one row per deployment and repository. Required columns: `id`
//! (unique), `result` (`SUCCESS`, any case, is a success; anything else a
//! failure), `finished_date` (empty while running), `cicd_scope_id`,
//! `repo_url`, `environment`, `commit_sha`; optional: `cicd_deployment_id`,
//! `started_date`. An empty field is DevLake's `NULL`; timestamps are RFC
//! 3339 (`2022-09-10T06:51:47.000+00:00`, also with a space for the `T`) or
//! `YYYY-MM-DD HH:MM:SS` in UTC. See `smm_delivery::devlake_csv`, which
//! reads it; DevLake's own test tables (its `prev_success_deployment_commit`
//! vector) have this shape.
//!
//! `project_mapping` is DevLake's `project_mapping` table as CSV (columns
//! `project_name`, `table`, `row_id`); with `project`, only the rows whose
//! `cicd_scope_id` the project maps (rows with table `cicd_scopes`) are
//! read: the others count nowhere (not in the counts, the list or the
//! linking). Give both or neither.
//!
//! # What is measured
//!
//! - A row is to the environment when its `environment` equals
//!   `environment` exactly, case included, as `smm_delivery`'s linking and
//!   frequency compare it (DevLake writes `PRODUCTION`, `STAGING`,
//!   `TESTING`).
//! - A deployment is DevLake's `cicd_deployment_id` (a row's `id` when that
//!   is empty): its rows (one per repository deployed) count once. It
//!   succeeded when one of its rows to the environment succeeded, finished
//!   when the last of those finished (`smm_delivery::frequency`): a
//!   repository that failed and was retried successfully does not make it
//!   fail. It failed when none of its rows to the environment succeeded,
//!   finished when the last of its finished rows did.
//! - The window is `[end - window_days, end)`; `end` is `until` when set,
//!   else the collection time.
//! - The value counts the successful deployments that finished in the
//!   window; `failed` the failed ones; `per_day` is the value over
//!   `window_days`, `per_week` seven times that.
//! - `deployments` lists the rows (not the deployments: one entry per
//!   repository deployed) to the environment that finished in the window,
//!   oldest first (by finish time, then file order), at most
//!   [`MAX_LISTED`] of them (the newest; `deployments_omitted` counts the
//!   older ones left out). Each gives the row's `id`, its `deployment`
//!   (the key above), `scope`, `repo_url`, `sha`, `created_at` (DevLake's
//!   `started_date`; null when empty or absent), `finished_at`, `state`
//!   (`success` or `failure`) and `previous_success`: the `id` of the
//!   previous successful row of the same scope, repository and environment
//!   by finish time, DevLake's `prev_success_deployment_commit_id` rule
//!   (`smm_delivery::linking`) over the rows read, or null when there is
//!   none. Unfinished rows are neither counted nor listed.
//!
//! The details have the shape of `github-deployments`' (`environment`,
//! `window_days`, `successful`, `failed`, `per_day`, `per_week`,
//! `deployments` with `id`, `sha`, `created_at`, `finished_at`, `state`),
//! so the DORA derived definitions read either; `path` stands for
//! `repository`, and `project` and `until` (the window's end) are added.
//!
//! # Importing a past period
//!
//! With `until`, the window ends there instead of at the collection time:
//! `{"until": "2024-04-01T00:00:00Z", "window_days": 31}` measures March
//! 2024. The measurement is still stamped with the collection time (derived
//! measures read it as fresh); the period is in the details (`until`,
//! `window_days`). An `until` after the collection time is refused (the
//! window would reach into the future).

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufReader;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use smm_delivery::devlake_csv::{self, CsvError};
use smm_delivery::project::CICD_SCOPES;
use smm_delivery::{DeploymentCommit, ProjectMapping, Window, frequency, linking};
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, Scale};

/// Rows listed at most in the details (the newest of the window): about
/// 300 bytes each, well within the default output limit of 1 MiB.
pub const MAX_LISTED: usize = 1000;

/// Configuration of `devlake-deployments`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// DevLake's `cicd_deployment_commits` table as CSV (a header row
    /// naming its columns), inside a directory granted to the instance.
    /// Relative paths are taken from the first granted directory.
    #[schemars(length(min = 1), extend("format" = "path"))]
    pub path: String,
    /// DevLake's `project_mapping` table as CSV (columns `project_name`,
    /// `table`, `row_id`), inside a granted directory: with `project`, only
    /// the rows of the CI/CD scopes the project maps are read. Give both
    /// `project_mapping` and `project`, or neither.
    #[serde(default)]
    #[schemars(length(min = 1), extend("format" = "path"))]
    pub project_mapping: Option<String>,
    /// The DevLake project whose CI/CD scopes are read (with
    /// `project_mapping`).
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub project: Option<String>,
    /// The environment whose deployments count, compared exactly (DevLake
    /// writes `PRODUCTION`, `STAGING`, `TESTING`).
    #[serde(default = "default_environment")]
    #[schemars(length(min = 1))]
    pub environment: String,
    /// Length of the window measured, in days, ending at `until` (else at
    /// collection time).
    #[serde(default = "default_window_days")]
    #[schemars(range(min = 1, max = 365))]
    pub window_days: u32,
    /// An RFC 3339 instant ending the window (excluded) instead of the
    /// collection time, to measure a past period of an imported history:
    /// `2024-04-01T00:00:00Z` with 31 days is March 2024. Not after the
    /// collection time.
    #[serde(default)]
    #[schemars(length(min = 1), extend("format" = "date-time"))]
    pub until: Option<String>,
}

fn default_environment() -> String {
    "PRODUCTION".into()
}

fn default_window_days() -> u32 {
    30
}

impl Config {
    /// The window measured at `now`: a configuration error when
    /// `window_days` is out of 1..=365 or `until` is not an RFC 3339
    /// instant or is after `now`.
    pub fn window(&self, now: DateTime<Utc>) -> Result<Window, Error> {
        if !(1..=365).contains(&self.window_days) {
            return Err(Error::config(format!(
                "window_days must be between 1 and 365, not {}",
                self.window_days
            )));
        }
        let end = match &self.until {
            None => now,
            Some(until) => {
                let end = DateTime::parse_from_rfc3339(until)
                    .map_err(|e| {
                        Error::config(format!(
                            "until: {until:?} is not an RFC 3339 instant such as 2024-04-01T00:00:00Z ({e})"
                        ))
                    })?
                    .with_timezone(&Utc);
                if end > now {
                    return Err(Error::config(format!(
                        "until: {until} is after the collection time ({}): the window would reach into the future",
                        iso(now)
                    )));
                }
                end
            }
        };
        Window::ending_at(end, TimeDelta::days(self.window_days.into()))
            .ok_or_else(|| Error::config(format!("until: {end} leaves no room for the window")))
    }

    /// The project mapping file and the project, when both are given; a
    /// configuration error when only one is, or either is empty.
    pub fn project(&self) -> Result<Option<(&str, &str)>, Error> {
        match (self.project_mapping.as_deref(), self.project.as_deref()) {
            (None, None) => Ok(None),
            (Some(mapping), Some(project)) if !mapping.is_empty() && !project.is_empty() => {
                Ok(Some((mapping, project)))
            }
            (Some(_), None) => Err(Error::config(
                "project_mapping is given without project: name the DevLake project whose CI/CD scopes to read",
            )),
            (None, Some(_)) => Err(Error::config(
                "project is given without project_mapping: give the project_mapping CSV that maps its CI/CD scopes",
            )),
            _ => Err(Error::config(
                "project_mapping and project must not be empty",
            )),
        }
    }
}

pub struct DevLakeDeployments;

impl Measure for DevLakeDeployments {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata {
            id: "devlake-deployments",
            version: "1.0.0",
            name: "DevLake deployments",
            description: "Successful deployments to one environment over window_days days ending at until or at collection time (DORA deployment frequency), from Apache DevLake's cicd_deployment_commits table exported as CSV, optionally restricted to a DevLake project's CI/CD scopes.",
            kind: Kind::Direct,
            unit: "deployments",
            scale: Scale::Ratio,
            output: "value: successful deployments (by cicd_deployment_id, one count per deployment) to the environment finished in the window [end - window_days, end); details: {path, project, environment, window_days, until (the window's end), successful, failed, per_day, per_week, deployments: [{id, deployment, scope, repo_url, sha, created_at (started_date or null), finished_at, state (success or failure), previous_success (id of the previous successful row of the same scope, repository and environment, DevLake's rule, or null)}] (rows to the environment finished in the window, one per repository, oldest first, at most 1000: the newest), deployments_omitted}",
        }
    }

    fn collect(config: Config) -> Result<Measurement, Error> {
        measure(&config, DateTime::<Utc>::from(std::time::SystemTime::now()))
    }
}

/// The whole collection at `now`: check the configuration, read the files
/// (the mapping first), summarize.
pub fn measure(config: &Config, now: DateTime<Utc>) -> Result<Measurement, Error> {
    if config.environment.is_empty() {
        return Err(Error::config("environment is empty"));
    }
    let project = config.project()?;
    let window = config.window(now)?;
    let scopes = match project {
        None => None,
        Some((mapping_path, name)) => {
            let mapping = read(mapping_path, devlake_csv::read_project_mapping)?;
            Some(project_scopes(&mapping, mapping_path, name)?)
        }
    };
    let mut rows = read(&config.path, devlake_csv::read_deployment_commits)?;
    if let Some(scopes) = &scopes {
        rows.retain(|r| scopes.contains(&r.cicd_scope_id));
    }
    Ok(summarize(config, &window, &rows))
}

/// Read the CSV file `path` with `parse`: input errors name the path (and
/// the line and column at fault).
fn read<T>(
    path: &str,
    parse: impl FnOnce(BufReader<std::fs::File>) -> Result<T, CsvError>,
) -> Result<T, Error> {
    let file = smm_sdk::open_input(path)?;
    parse(BufReader::with_capacity(1 << 16, file)).map_err(|e| Error::input(format!("{path}: {e}")))
}

/// The CI/CD scopes `project` maps in `mapping` (read from `path`); an
/// input error naming the projects there when it maps none.
pub fn project_scopes(
    mapping: &ProjectMapping,
    path: &str,
    project: &str,
) -> Result<BTreeSet<String>, Error> {
    let scopes: BTreeSet<String> = mapping
        .cicd_scopes(project)
        .into_iter()
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        let known: BTreeSet<&str> = mapping
            .rows
            .iter()
            .filter(|r| r.table == CICD_SCOPES)
            .map(|r| r.project_name.as_str())
            .collect();
        let known: Vec<String> = known.iter().map(|p| format!("{p:?}")).collect();
        return Err(Error::input(format!(
            "{path}: project {project:?} maps no CI/CD scope (no row with table {CICD_SCOPES}); projects that do: {}",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    }
    Ok(scopes)
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Deployments to `environment` none of whose rows to it succeeded, whose
/// last finished row finished in `window`.
fn failed_deployments(rows: &[DeploymentCommit], environment: &str, window: &Window) -> usize {
    let mut by_key: BTreeMap<&str, (bool, Option<DateTime<Utc>>)> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.environment == environment) {
        let (succeeded, finished) = by_key.entry(r.deployment_key()).or_default();
        *succeeded |= r.success;
        *finished = (*finished).max(r.finished_at);
    }
    by_key
        .values()
        .filter(|(succeeded, finished)| !succeeded && finished.is_some_and(|t| window.contains(t)))
        .count()
}

/// The measurement over the rows read (already restricted to the
/// project's scopes, when one is configured), for `window`.
pub fn summarize(config: &Config, window: &Window, rows: &[DeploymentCommit]) -> Measurement {
    let env = config.environment.as_str();
    let successful = frequency::deployment_count(rows, env, window);
    let per_day = frequency::deployments_per_day(rows, env, window);
    let failed = failed_deployments(rows, env, window);
    let links = linking::previous_successes(rows, |_| true);
    let previous = linking::previous_ids(rows, &links);
    let mut listed: Vec<usize> = (0..rows.len())
        .filter(|&i| {
            rows[i].environment == env && rows[i].finished_at.is_some_and(|t| window.contains(t))
        })
        .collect();
    listed.sort_by_key(|&i| (rows[i].finished_at, i));
    let omitted = listed.len().saturating_sub(MAX_LISTED);
    let deployments: Vec<Value> = listed[omitted..]
        .iter()
        .map(|&i| {
            let r = &rows[i];
            json!({
                "id": r.id,
                "deployment": r.deployment_key(),
                "scope": r.cicd_scope_id,
                "repo_url": r.repo_url,
                "sha": r.commit_sha,
                "created_at": r.started_at.map(iso),
                "finished_at": r.finished_at.map(iso),
                "state": if r.success { "success" } else { "failure" },
                "previous_success": (!previous[i].is_empty()).then_some(previous[i]),
            })
        })
        .collect();
    let details = json!({
        "path": config.path,
        "project": config.project,
        "environment": env,
        "window_days": config.window_days,
        "until": iso(window.end),
        "successful": successful,
        "failed": failed,
        "per_day": per_day,
        "per_week": per_day * 7.0,
        "deployments": deployments,
        "deployments_omitted": omitted,
    });
    Measurement::value(successful as f64).with_details(details)
}

smm_sdk::export_measure!(DevLakeDeployments);

#[cfg(test)]
mod tests {
    use std::path::Path;

    use smm_delivery::testing::{at, fixture};

    use super::*;

    fn config(v: Value) -> Config {
        smm_sdk::parse_config::<DevLakeDeployments>(&v.to_string()).unwrap()
    }

    /// Long after every test's window.
    const NOW: &str = "2030-01-01T00:00:00Z";

    const HEADER: &str = "id,result,started_date,finished_date,cicd_deployment_id,cicd_scope_id,repo_url,environment,commit_sha";

    /// March 2024 is the window (until April 1st, 31 days). By hand:
    /// - a1 finished before the window (the baseline of a2);
    /// - d2 (a2) finished at the window's start: in;
    /// - d3 deployed two repositories (a3, `success` in lower case and no
    ///   start; a4): counted once;
    /// - d4 failed;
    /// - d5 failed (a6), was retried and succeeded (a7): successful;
    /// - a8 is to `production` and a9 to `STAGING`: other environments;
    /// - d8 (a10) is unfinished; d9 (a11) finished at the window's end;
    /// - a12 has no deployment id (its own deployment, in scope s2), a13
    ///   follows it in s2.
    fn march() -> String {
        [
            HEADER,
            "a1,SUCCESS,2024-02-29T22:00:00Z,2024-02-29T23:00:00Z,d1,s1,https://r1,PRODUCTION,sha-a1",
            "a2,SUCCESS,2024-02-29T23:30:00Z,2024-03-01T00:00:00Z,d2,s1,https://r1,PRODUCTION,sha-a2",
            "a3,success,,2024-03-05T10:00:00Z,d3,s1,https://r1,PRODUCTION,sha-a3",
            "a4,SUCCESS,2024-03-05T09:00:00Z,2024-03-05T11:00:00Z,d3,s1,https://r2,PRODUCTION,sha-a4",
            "a5,FAILURE,2024-03-10T09:00:00Z,2024-03-10T09:30:00Z,d4,s1,https://r1,PRODUCTION,sha-a5",
            "a6,FAILURE,2024-03-12T09:00:00Z,2024-03-12T09:30:00Z,d5,s1,https://r1,PRODUCTION,sha-a6",
            "a7,SUCCESS,2024-03-12T09:40:00Z,2024-03-12T10:00:00Z,d5,s1,https://r1,PRODUCTION,sha-a7",
            "a8,SUCCESS,2024-03-15T00:00:00Z,2024-03-15T01:00:00Z,d6,s1,https://r1,production,sha-a8",
            "a9,SUCCESS,2024-03-16T00:00:00Z,2024-03-16T01:00:00Z,d7,s1,https://r1,STAGING,sha-a9",
            "a10,SUCCESS,2024-03-31T23:00:00Z,,d8,s1,https://r1,PRODUCTION,sha-a10",
            "a11,SUCCESS,2024-03-31T23:00:00Z,2024-04-01T00:00:00Z,d9,s1,https://r1,PRODUCTION,sha-a11",
            "a12,SUCCESS,2024-03-20T00:00:00Z,2024-03-20T01:00:00Z,,s2,https://r1,PRODUCTION,sha-a12",
            "a13,SUCCESS,2024-03-25T00:00:00Z,2024-03-25T01:00:00Z,d10,s2,https://r1,PRODUCTION,sha-a13",
        ]
        .join("\n")
    }

    const MAPPING: &str = "project_name,table,row_id\np1,cicd_scopes,s1\np1,repos,r1\np2,cicd_scopes,s2\np3,boards,b1\n";

    fn run(c: &Config, csv: &str) -> Value {
        let window = c.window(at(NOW)).unwrap();
        let rows = devlake_csv::read_deployment_commits(csv.as_bytes()).unwrap();
        let m = summarize(c, &window, &rows);
        let mut d = m.details.unwrap();
        d["value"] = m.value.into();
        d
    }

    /// (id, state, previous_success) of the listed rows.
    fn listed(d: &Value) -> Vec<(String, String, Option<String>)> {
        d["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["id"].as_str().unwrap().to_string(),
                    x["state"].as_str().unwrap().to_string(),
                    x["previous_success"].as_str().map(str::to_string),
                )
            })
            .collect()
    }

    fn row(id: &str, state: &str, previous: Option<&str>) -> (String, String, Option<String>) {
        (id.into(), state.into(), previous.map(str::to_string))
    }

    #[test]
    fn successful_deployments_finished_in_the_window_count_once() {
        let c =
            config(json!({"path": "/x.csv", "until": "2024-04-01T00:00:00Z", "window_days": 31}));
        let d = run(&c, &march());
        // d2, d3, d5, a12, d10.
        assert_eq!(d["value"], 5.0);
        assert_eq!(d["successful"], 5);
        assert_eq!(d["failed"], 1, "d4; d5 was retried: {d}");
        assert_eq!(d["per_day"], 5.0 / 31.0);
        assert_eq!(d["per_week"], 5.0 / 31.0 * 7.0);
        assert_eq!(d["path"], "/x.csv");
        assert_eq!(d["project"], Value::Null);
        assert_eq!(d["environment"], "PRODUCTION");
        assert_eq!(d["window_days"], 31);
        assert_eq!(d["until"], "2024-04-01T00:00:00Z");
        assert_eq!(d["deployments_omitted"], 0);
        // Oldest first; previous successes per (scope, repository,
        // environment): s1/r1 is a1, a2, a3, a7 (a11 after the window).
        assert_eq!(
            listed(&d),
            [
                row("a2", "success", Some("a1")),
                row("a3", "success", Some("a2")),
                row("a4", "success", None),
                row("a5", "failure", None),
                row("a6", "failure", None),
                row("a7", "success", Some("a3")),
                row("a12", "success", None),
                row("a13", "success", Some("a12")),
            ]
        );
        let first = &d["deployments"][0];
        assert_eq!(
            first,
            &json!({
                "id": "a2",
                "deployment": "d2",
                "scope": "s1",
                "repo_url": "https://r1",
                "sha": "sha-a2",
                "created_at": "2024-02-29T23:30:00Z",
                "finished_at": "2024-03-01T00:00:00Z",
                "state": "success",
                "previous_success": "a1",
            })
        );
        assert_eq!(d["deployments"][1]["created_at"], Value::Null);
        assert_eq!(d["deployments"][6]["deployment"], "a12");
    }

    #[test]
    fn a_shorter_window_and_other_environments() {
        // [03-06, 03-13): d5 only; d4 failed in it.
        let c =
            config(json!({"path": "/x.csv", "until": "2024-03-13T00:00:00Z", "window_days": 7}));
        let d = run(&c, &march());
        assert_eq!((&d["value"], &d["failed"]), (&json!(1.0), &json!(1)));
        assert_eq!(d["per_day"], 1.0 / 7.0);
        assert_eq!(
            listed(&d),
            [
                row("a5", "failure", None),
                row("a6", "failure", None),
                row("a7", "success", Some("a3")),
            ]
        );
        // Compared exactly: `production` is a8's environment alone.
        let c = config(
            json!({"path": "/x.csv", "until": "2024-04-01T00:00:00Z", "window_days": 31, "environment": "production"}),
        );
        let d = run(&c, &march());
        assert_eq!(d["value"], 1.0);
        assert_eq!(listed(&d), [row("a8", "success", None)]);
        let c = config(
            json!({"path": "/x.csv", "until": "2024-04-01T00:00:00Z", "window_days": 31, "environment": "Production"}),
        );
        assert_eq!(run(&c, &march())["value"], 0.0);
    }

    #[test]
    fn without_optional_columns_and_without_rows() {
        let csv = "environment,commit_sha,finished_date,id,repo_url,result,cicd_scope_id\n\
                   PRODUCTION,abc,2024-03-02 10:00:00,x1,https://r,SUCCESS,s\n\
                   PRODUCTION,def,2024-03-03 10:00:00,x2,https://r,SUCCESS,s\n";
        let c = config(json!({"path": "/x.csv", "until": "2024-04-01T00:00:00Z"}));
        let d = run(&c, csv);
        assert_eq!(d["value"], 2.0);
        assert_eq!(d["per_day"], 2.0 / 30.0);
        assert_eq!(d["deployments"][1]["deployment"], "x2");
        assert_eq!(d["deployments"][1]["created_at"], Value::Null);
        assert_eq!(d["deployments"][1]["finished_at"], "2024-03-03T10:00:00Z");
        assert_eq!(d["deployments"][1]["previous_success"], "x1");
        let d = run(&c, &format!("{HEADER}\n"));
        assert_eq!((&d["value"], &d["failed"]), (&json!(0.0), &json!(0)));
        assert_eq!(d["deployments"], json!([]));
    }

    #[test]
    fn the_list_keeps_the_newest_rows() {
        let mut csv = format!("{HEADER}\n");
        let start = at("2024-01-10T00:00:00Z");
        for i in 0..MAX_LISTED + 5 {
            let t = iso(start + TimeDelta::minutes(i as i64));
            csv.push_str(&format!("r{i},SUCCESS,{t},{t},,s,u,PRODUCTION,c{i}\n"));
        }
        let c = config(json!({"path": "/x.csv", "until": "2024-02-01T00:00:00Z"}));
        let d = run(&c, &csv);
        assert_eq!(d["value"], (MAX_LISTED + 5) as f64);
        assert_eq!(d["deployments"].as_array().unwrap().len(), MAX_LISTED);
        assert_eq!(d["deployments_omitted"], 5);
        assert_eq!(d["deployments"][0]["id"], "r5");
        assert_eq!(d["deployments"][0]["previous_success"], "r4");
    }

    /// Files in a temporary directory, and the configuration naming them.
    fn files(csv: &str, mapping: Option<&str>) -> (tempfile::TempDir, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cicd_deployment_commits.csv");
        std::fs::write(&path, csv).unwrap();
        let mapping_path = dir.path().join("project_mapping.csv");
        if let Some(m) = mapping {
            std::fs::write(&mapping_path, m).unwrap();
        }
        let s = |p: &Path| p.to_str().unwrap().to_string();
        (dir, s(&path), s(&mapping_path))
    }

    #[test]
    fn a_project_keeps_its_ci_cd_scopes_only() {
        let (_dir, path, mapping) = files(&march(), Some(MAPPING));
        let base = json!({"path": path, "project_mapping": mapping, "until": "2024-04-01T00:00:00Z", "window_days": 31});
        let with = |project: &str| {
            let mut v = base.clone();
            v["project"] = project.into();
            measure(&config(v), at(NOW))
        };
        // p1 is s1: d2, d3, d5; d4 failed.
        let m = with("p1").unwrap();
        assert_eq!(m.value, Some(3.0));
        let d = m.details.unwrap();
        assert_eq!(d["project"], "p1");
        assert_eq!(d["failed"], 1);
        assert!(
            listed(&d)
                .iter()
                .all(|(id, _, _)| id != "a12" && id != "a13")
        );
        assert_eq!(listed(&d).len(), 6);
        // p2 is s2: a12, d10.
        let d = with("p2").unwrap().details.unwrap();
        assert_eq!((&d["successful"], &d["failed"]), (&json!(2), &json!(0)));
        assert_eq!(
            listed(&d),
            [
                row("a12", "success", None),
                row("a13", "success", Some("a12"))
            ]
        );
        // p3 maps boards only; p4 nothing.
        for project in ["p3", "p4"] {
            let e = with(project).unwrap_err();
            assert!(matches!(e, Error::Input(_)), "{e}");
            let e = e.to_string();
            assert!(e.contains(&mapping), "{e}");
            assert!(
                e.contains(&format!("project \"{project}\" maps no CI/CD scope")),
                "{e}"
            );
            assert!(e.ends_with("projects that do: \"p1\", \"p2\""), "{e}");
        }
    }

    #[test]
    fn files_that_cannot_be_read_name_the_path_and_line() {
        let (dir, path, mapping) = files(&march(), Some("project_name,row_id\np1,s1\n"));
        let input = |v: Value| {
            let e = measure(&config(v), at(NOW)).unwrap_err();
            assert!(matches!(e, Error::Input(_)), "{e}");
            e.to_string()
        };
        let missing = dir.path().join("nope.csv");
        let missing = missing.to_str().unwrap();
        let e = input(json!({"path": missing}));
        assert!(
            e.starts_with(&format!("input: cannot read {missing}: ")),
            "{e}"
        );
        let e = input(json!({"path": path, "project_mapping": mapping, "project": "p1"}));
        assert_eq!(
            e,
            format!("input: {mapping}: line 1, column table: the header has no such column")
        );
        let bad = march().replace("2024-03-05T11:00:00Z", "5 March");
        std::fs::write(&path, bad).unwrap();
        let e = input(json!({"path": path}));
        assert!(
            e.starts_with(&format!(
                "input: {path}: line 5, column finished_date: \"5 March\" is not a timestamp"
            )),
            "{e}"
        );
        std::fs::write(&path, march().replace(",environment,", ",env,")).unwrap();
        let e = input(json!({"path": path}));
        assert_eq!(
            e,
            format!("input: {path}: line 1, column environment: the header has no such column")
        );
    }

    #[test]
    fn configuration_is_checked() {
        let c = config(json!({"path": "/x.csv"}));
        assert_eq!(c.environment, "PRODUCTION");
        assert_eq!(c.window_days, 30);
        assert_eq!(
            (
                c.project_mapping.as_deref(),
                c.project.as_deref(),
                c.until.as_deref()
            ),
            (None, None, None)
        );
        let w = c.window(at(NOW)).unwrap();
        assert_eq!((w.start, w.end), (at("2029-12-02T00:00:00Z"), at(NOW)));
        let e =
            smm_sdk::parse_config::<DevLakeDeployments>(r#"{"path": "/x", "repository": "o/r"}"#)
                .unwrap_err();
        assert!(
            matches!(&e, Error::Config(m) if m.contains("unknown field `repository`")),
            "{e}"
        );

        let config_error = |v: Value| {
            let c = config(v);
            let e = measure(&c, at(NOW)).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{e}");
            e.to_string()
        };
        let e = config_error(json!({"path": "/x", "project": "p1"}));
        assert!(
            e.contains("project is given without project_mapping"),
            "{e}"
        );
        let e = config_error(json!({"path": "/x", "project_mapping": "/m"}));
        assert!(
            e.contains("project_mapping is given without project"),
            "{e}"
        );
        let e = config_error(json!({"path": "/x", "project_mapping": "/m", "project": ""}));
        assert!(e.contains("must not be empty"), "{e}");
        let e = config_error(json!({"path": "/x", "environment": ""}));
        assert!(e.contains("environment is empty"), "{e}");
        for days in [0, 366] {
            let e = config_error(json!({"path": "/x", "window_days": days}));
            assert!(e.contains("window_days must be between 1 and 365"), "{e}");
        }
        let e = config_error(json!({"path": "/x", "until": "2024-04-01"}));
        assert!(
            e.starts_with("configuration: until: \"2024-04-01\" is not an RFC 3339 instant"),
            "{e}"
        );
        let e = config_error(json!({"path": "/x", "until": "2030-01-01T00:00:01Z"}));
        assert!(
            e.contains("is after the collection time (2030-01-01T00:00:00Z)"),
            "{e}"
        );
        // An offset is an instant like any other.
        let c =
            config(json!({"path": "/x", "until": "2024-04-01T02:00:00+02:00", "window_days": 1}));
        let w = c.window(at(NOW)).unwrap();
        assert_eq!(
            (w.start, w.end),
            (at("2024-03-31T00:00:00Z"), at("2024-04-01T00:00:00Z"))
        );
    }

    #[test]
    fn the_schema_documents_defaults_formats_and_limits() {
        let schema = smm_sdk::config_schema::<DevLakeDeployments>();
        let p = &schema["properties"];
        assert_eq!(schema["required"], json!(["path"]));
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(p["path"]["format"], "path");
        assert_eq!(p["project_mapping"]["format"], "path");
        assert_eq!(p["until"]["format"], "date-time");
        assert_eq!(p["environment"]["default"], "PRODUCTION");
        assert_eq!(p["window_days"]["default"], 30);
        assert_eq!(p["window_days"]["minimum"], 1);
        assert_eq!(p["window_days"]["maximum"], 365);
        let m = DevLakeDeployments::metadata();
        assert_eq!(m.id, "devlake-deployments");
        assert!(m.output.contains("previous_success"));
    }

    const DIR: &str = "dora/devlake/prev_success_deployment_commit";

    /// The rows of a DevLake CSV as plain strings by column name, read here
    /// with a split (the vector has no quoted field), not by the library.
    fn plain_rows(csv: &[u8]) -> Vec<BTreeMap<String, String>> {
        let text = std::str::from_utf8(csv).unwrap();
        assert!(!text.contains('"'), "the vector has no quoted field");
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        lines
            .map(|l| {
                let fields: Vec<&str> = l.split(',').collect();
                assert_eq!(fields.len(), header.len(), "{l}");
                header
                    .iter()
                    .zip(fields)
                    .map(|(h, f)| (h.to_string(), f.to_string()))
                    .collect()
            })
            .collect()
    }

    /// DevLake's own vector (16 rows over two projects), measured over
    /// [2022-09-14, 2022-09-21). Expectations are computed from the plain
    /// rows: every timestamp of the vector is written
    /// `YYYY-MM-DDTHH:MM:SS.000+00:00`, so strings in that form compare as
    /// instants.
    #[test]
    fn devlake_vector() {
        let (Some(before), Some(mapping), Some(after)) = (
            fixture(&format!("{DIR}/cicd_deployment_commits_before.csv")),
            fixture(&format!("{DIR}/project_mapping.csv")),
            fixture(&format!("{DIR}/expected_cicd_deployment_commits_after.csv")),
        ) else {
            return;
        };
        let plain = plain_rows(&before);
        assert_eq!(plain.len(), 16);
        let (start, end) = (
            "2022-09-14T00:00:00.000+00:00",
            "2022-09-21T00:00:00.000+00:00",
        );
        let in_window = |t: &str| (start..end).contains(&t);
        let project1: Vec<String> = plain_rows(&mapping)
            .into_iter()
            .filter(|r| r["project_name"] == "project1" && r["table"] == "cicd_scopes")
            .map(|r| r["row_id"].clone())
            .collect();
        assert_eq!(project1, ["cicd1", "cicd2"]);
        let expected_previous: BTreeMap<String, String> = plain_rows(&after)
            .into_iter()
            .map(|r| {
                (
                    r["id"].clone(),
                    r["prev_success_deployment_commit_id"].clone(),
                )
            })
            .collect();

        let (dir, path, mapping_path) = files(
            std::str::from_utf8(&before).unwrap(),
            Some(std::str::from_utf8(&mapping).unwrap()),
        );
        for project in [None, Some("project1")] {
            let rows: Vec<&BTreeMap<String, String>> = plain
                .iter()
                .filter(|r| project.is_none() || project1.contains(&r["cicd_scope_id"]))
                .filter(|r| r["environment"] == "PRODUCTION")
                .collect();
            // Per deployment: whether a row succeeded, the last finish of
            // its successful rows and of all its rows.
            let mut deployments: BTreeMap<&str, (bool, String, String)> = BTreeMap::new();
            for r in &rows {
                let key = match r["cicd_deployment_id"].as_str() {
                    "" => r["id"].as_str(),
                    k => k,
                };
                let e = deployments.entry(key).or_default();
                let finished = r["finished_date"].clone();
                if r["result"] == "SUCCESS" {
                    e.0 = true;
                    e.1 = e.1.clone().max(finished.clone());
                }
                e.2 = e.2.clone().max(finished);
            }
            let successful = deployments
                .values()
                .filter(|(s, last, _)| *s && in_window(last))
                .count();
            let failed = deployments
                .values()
                .filter(|(s, _, last)| !*s && in_window(last))
                .count();
            let mut listed: Vec<(String, String)> = rows
                .iter()
                .filter(|r| in_window(&r["finished_date"]))
                .map(|r| (r["finished_date"].clone(), r["id"].clone()))
                .collect();
            listed.sort_by_key(|(finished, _)| finished.clone()); // stable: file order
            let listed: Vec<String> = listed.into_iter().map(|(_, id)| id).collect();
            // By hand, for the record: p2, p4, p9 (p6's last row finished at
            // the window's end; p7's retried rows after it); p8 failed.
            match project {
                None => {
                    assert_eq!((successful, failed), (3, 1));
                    assert_eq!(listed, ["3", "15", "4", "5", "6", "9", "14"]);
                }
                Some(_) => {
                    assert_eq!((successful, failed), (2, 0));
                    assert_eq!(listed, ["3", "4", "5", "6", "9"]);
                }
            }

            let mut v = json!({"path": path, "until": "2022-09-21T00:00:00Z", "window_days": 7});
            if let Some(p) = project {
                v["project"] = p.into();
                v["project_mapping"] = mapping_path.clone().into();
            }
            let m = measure(&config(v), at(NOW)).unwrap();
            assert_eq!(m.value, Some(successful as f64), "{project:?}");
            let d = m.details.unwrap();
            assert_eq!(d["successful"], successful);
            assert_eq!(d["failed"], failed);
            assert_eq!(d["per_day"], successful as f64 / 7.0);
            let got: Vec<&str> = d["deployments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["id"].as_str().unwrap())
                .collect();
            assert_eq!(got, listed, "{project:?}");
            for x in d["deployments"].as_array().unwrap() {
                let id = x["id"].as_str().unwrap();
                let r = plain.iter().find(|r| r["id"] == id).unwrap();
                assert_eq!(x["sha"], r["commit_sha"].as_str());
                assert_eq!(x["repo_url"], r["repo_url"].as_str());
                let state = if r["result"] == "SUCCESS" {
                    "success"
                } else {
                    "failure"
                };
                assert_eq!(x["state"], state);
                assert_eq!(
                    x["created_at"].as_str().unwrap(),
                    r["started_date"].replace(".000+00:00", "Z")
                );
                // DevLake's expected links are for project1; outside it
                // (scope cicd3) neither 14 (failed) nor 15 (the only
                // success of its group) has one.
                let want = &expected_previous[id];
                assert_eq!(
                    x["previous_success"].as_str().unwrap_or(""),
                    want.as_str(),
                    "row {id}"
                );
            }
        }
        drop(dir);
    }
}
