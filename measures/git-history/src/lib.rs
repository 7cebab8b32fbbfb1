//! `git-history`: DORA lead time for changes, deployment frequency and
//! rework from a git repository's history alone, for teams without a forge
//! API: tags matching a pattern are the deployments.
//!
//! # Input: an export of the history, not the repository itself
//!
//! The measure reads two text files that git writes, in the directory
//! configured as `repository` (inside a directory granted to the instance):
//!
//! ```sh
//! cd /path/to/clone            # fetched with its tags: git fetch --tags
//! out=/srv/smm/exports/shop    # the directory configured as `repository`
//! git log --branches --remotes --tags \
//!     --format='%H%x1f%P%x1f%aI%x1f%cI%x1f%s' > "$out/history.txt"
//! git for-each-ref --sort=-creatordate \
//!     --format='%(refname)%1f%(objectname)%1f%(*objectname)%1f%(creatordate:iso-strict)' \
//!     refs/tags > "$out/tags.txt"
//! ```
//!
//! (`out=.` writes them into the clone itself, which then is the
//! `repository`.) Run it before each collection (the job that updates the
//! clone, a cron entry, a CI step). See [`export`] for the format; note
//! that `git log` spells the separator `%x1f` and `git for-each-ref`
//! `%1f` (with `%x1f` it writes those four characters).
//!
//! Cost, on a 2-core machine: exporting 1 000 commits takes 0.01 s and
//! collecting about 10 ms; 100 000 commits (14 MB of history) 0.6 s and
//! about 0.3 s, within the default 64 MiB of memory.
//!
//! Why not read `.git` directly: measures run as `wasm32-wasip2`
//! components, and gitoxide (`gix` 0.90, `default-features = false`,
//! feature `sha1`, zlib through the pure-Rust `zlib-rs`) builds for that
//! target (about 70 s from scratch on 2 cores, a 1.1 MB component) but
//! cannot read a single object there: every object read, loose or packed,
//! goes through `memmap2`, whose fallback for targets other than Unix and
//! Windows (WASI is `target_os = "wasi"`) answers `Unsupported`. Run under
//! smm it failed with `Could not read loose object ... unsupported` on a
//! fresh repository and `object could not be found` after `git gc`. A
//! hand-written object and pack reader was out of scope; the export needs
//! git only where the clone is, costs nothing to build, and keeps the
//! measure small.
//!
//! # What is measured
//!
//! - A deployment is a tag whose name matches `deployment_tag_pattern`
//!   (see [`TagPattern`]), deployed at the tag's creator date: the tagger's
//!   date of an annotated tag, the committer date of a lightweight tag's
//!   commit. An annotated tag without a tagger date takes its commit's
//!   committer date, or is left out when that commit was not read.
//! - Deployments are ordered by that time (then by name); what each one
//!   shipped follows [`ship`]: the commits reachable from its commit and
//!   from no earlier deployment's, the first deployment shipping nothing.
//!   Merge commits count as changes too (as the compare API lists them for
//!   `github-lead-time`).
//! - A change's lead time is the deployment's time minus the commit's
//!   author date, never below zero (`smm_delivery::lead_time`).
//! - The window is `[now - window_days, now)`; deployments in it are those
//!   whose time is in it. The value is the median lead time, in hours, of
//!   the changes they shipped (`smm_delivery::stats`); an input error when
//!   they shipped none.
//! - A deployment is rework when one of the commits it shipped has a
//!   subject starting, ignoring case, with one of `rework_prefixes` (as
//!   `github-lead-time`); the rework rate is over the window's deployments
//!   that shipped at least one change (null when none did).
//! - Merges are the commits with two parents or more whose committer date
//!   is in the window.
//!
//! - With `incidents` (an export of the issue tracker, see [`incidents`]),
//!   the issues labelled `incident_label` are incidents, attributed to the
//!   latest deployment (tag) before each was opened: the details then
//!   carry DORA's change failure rate and time to restore, under the names
//!   `github-incidents` uses, so the same derived definitions read either.
//!
//! Reading is bounded by `max_commits`: the newest commits of
//! `history.txt` and the first lines of `tags.txt` (the newest tags, sorted
//! as above); `commits` in the details equal to `max_commits` means the
//! rest may not have been read. Commits older than those read are unknown: a
//! deployment of one ships nothing.

use std::io::BufReader;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use smm_delivery::{Window, stats};
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, Scale};

pub mod export;
pub mod incidents;
pub mod ship;

use export::{ExportError, History, Tag};

/// Configuration of `git-history`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The directory holding the export of the repository (`history.txt`
    /// and `tags.txt`, written by the commands of the measure's
    /// documentation), inside a directory granted to the instance. Relative
    /// paths are taken from the first granted directory.
    #[schemars(length(min = 1), extend("format" = "path"))]
    pub repository: String,
    /// Tags whose name matches are deployments: a name with at most one
    /// `*`, which stands for any text (`v*`: names starting with `v`;
    /// `release-*-prod`; `production`: that name only).
    #[serde(default = "default_deployment_tag_pattern")]
    #[schemars(length(min = 1))]
    pub deployment_tag_pattern: String,
    /// Length of the window measured, in days, ending at collection time.
    #[serde(default = "default_window_days")]
    #[schemars(range(min = 1, max = 365))]
    pub window_days: u32,
    /// At most this many commits (the newest) and tag lines are read.
    #[serde(default = "default_max_commits")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub max_commits: u32,
    /// A deployment is rework when the subject of one of the commits it
    /// shipped starts with one of these (ignoring case).
    #[serde(default = "default_rework_prefixes")]
    #[schemars(inner(length(min = 1)))]
    pub rework_prefixes: Vec<String>,
    /// An export of the issue tracker's incidents (a JSON array of issues
    /// written by `gh issue list --json`, or the GitHub or GitLab issues
    /// API; see the `incidents` module), inside a directory granted to the
    /// instance. With it, the details carry the change failure rate and
    /// time to restore of the tag deployments.
    #[serde(default)]
    #[schemars(length(min = 1), extend("format" = "path"))]
    pub incidents: Option<String>,
    /// The label that makes an issue of `incidents` an incident.
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

fn default_deployment_tag_pattern() -> String {
    "v*".into()
}

fn default_window_days() -> u32 {
    30
}

fn default_max_commits() -> u32 {
    100_000
}

fn default_rework_prefixes() -> Vec<String> {
    vec!["fix".into(), "hotfix".into(), "revert".into()]
}

/// Which tag names are deployments: a pattern with at most one `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPattern {
    prefix: String,
    /// What follows the `*`; `None` when there is no `*` (an exact name).
    suffix: Option<String>,
}

impl TagPattern {
    /// The pattern `pattern`; a configuration error when it is empty or
    /// holds more than one `*`.
    pub fn new(pattern: &str) -> Result<TagPattern, Error> {
        if pattern.is_empty() {
            return Err(Error::config("deployment_tag_pattern is empty"));
        }
        let mut parts = pattern.splitn(2, '*');
        let prefix = parts.next().unwrap_or_default().to_string();
        let suffix = parts.next().map(str::to_string);
        if suffix.as_deref().is_some_and(|s| s.contains('*')) {
            return Err(Error::config(format!(
                "deployment_tag_pattern {pattern:?} has more than one `*`"
            )));
        }
        Ok(TagPattern { prefix, suffix })
    }

    /// Whether the tag named `name` (without `refs/tags/`) matches.
    pub fn matches(&self, name: &str) -> bool {
        match &self.suffix {
            None => name == self.prefix,
            Some(suffix) => {
                name.len() >= self.prefix.len() + suffix.len()
                    && name.starts_with(&self.prefix)
                    && name.ends_with(suffix.as_str())
            }
        }
    }
}

/// How rework commits are told: by the start of their subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rework {
    prefixes: Vec<String>,
}

impl Rework {
    /// From the configured prefixes (none empty).
    pub fn new(prefixes: &[String]) -> Result<Rework, Error> {
        let prefixes = prefixes
            .iter()
            .map(|p| {
                if p.is_empty() {
                    Err(Error::config(
                        "rework_prefixes: an empty string matches every commit",
                    ))
                } else {
                    Ok(p.to_lowercase())
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Rework { prefixes })
    }

    /// Whether `subject` starts (ignoring case and leading blanks) with a
    /// rework prefix.
    pub fn is_rework(&self, subject: &str) -> bool {
        let subject = subject.trim_start().to_lowercase();
        self.prefixes
            .iter()
            .any(|p| subject.starts_with(p.as_str()))
    }
}

pub struct GitHistory;

impl Measure for GitHistory {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata {
            id: "git-history",
            version: "1.0.0",
            name: "Git history lead time",
            description: "Median lead time, in hours, from commit authored to deployment over the last window_days days (DORA lead time for changes), with deployment frequency, rework and (given an export of incident issues) change failure rate and time to restore, from an export of a git repository's history (git log and git for-each-ref) where tags matching a pattern are the deployments.",
            kind: Kind::Direct,
            unit: "hours",
            scale: Scale::Ratio,
            output: "value: median lead time in hours of the commits shipped by the deployments (tags matching deployment_tag_pattern) in the window (an input error when none shipped any); details: {repository, window_days, commits (read), merges (committed in the window), deployments (in the window), per_day, changes, median_hours, p90_hours, rework_deployments, rework_rate (over the window's deployments that shipped a change, null without), list: [{tag, sha, deployed_at, changes, median_hours, rework}] (deployments in the window, oldest first); with `incidents` configured, also: open_incidents, opened_in_window, failed_deployments (of the window's deployments, with an incident opened in the window attributed), change_failure_rate (null without deployments), median_time_to_restore_hours (incidents closed in the window; null without), security: {incidents, failed_deployments, change_failure_rate, median_time_to_restore_hours}, incidents: [{number, opened_at, closed_at, security, deployment (tag), time_to_restore_hours}] (oldest first)}",
        }
    }

    fn collect(config: Config) -> Result<Measurement, Error> {
        let now = DateTime::<Utc>::from(std::time::SystemTime::now());
        let pattern = TagPattern::new(&config.deployment_tag_pattern)?;
        if config.incident_label.is_empty() {
            return Err(Error::config("incident_label: must not be empty"));
        }
        let rework = Rework::new(&config.rework_prefixes)?;
        let max = max_commits(&config)?;
        let dir = Path::new(&config.repository);
        let history = read(
            &dir.join(export::HISTORY_FILE),
            export::HISTORY_COMMAND,
            |r| export::read_history(r, max, |s| rework.is_rework(s)),
        )?;
        let tags = read(&dir.join(export::TAGS_FILE), export::TAGS_COMMAND, |r| {
            export::read_tags(r, max, |name| pattern.matches(name))
        })?;
        let issues = match &config.incidents {
            None => None,
            Some(path) => Some(read_incidents(Path::new(path))?),
        };
        summarize(&config, now, &history, &tags, issues.as_deref())
    }
}

fn max_commits(config: &Config) -> Result<usize, Error> {
    match config.max_commits {
        0 => Err(Error::config("max_commits must be at least 1")),
        n => Ok(n as usize),
    }
}

/// Read the export file `path` with `parse`; input errors name the path
/// (and, when it cannot be opened, the command that writes it).
fn read<T>(
    path: &Path,
    command: &str,
    parse: impl FnOnce(BufReader<std::fs::File>) -> Result<T, ExportError>,
) -> Result<T, Error> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| {
        Error::input(format!(
            "cannot read {shown}: {e} (write it in the clone with: {command})"
        ))
    })?;
    parse(BufReader::with_capacity(1 << 16, file))
        .map_err(|e| Error::input(format!("{shown}: {e}")))
}

/// Read the incidents export at `path`; input errors name it.
fn read_incidents(path: &Path) -> Result<Vec<incidents::Issue>, Error> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| {
        Error::input(format!(
            "cannot read {shown}: {e} (write it with, for example: {})",
            incidents::INCIDENTS_COMMAND
        ))
    })?;
    incidents::read(&bytes).map_err(|e| Error::input(format!("{shown}: {e}")))
}

/// A deployment: a matching tag placed in time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Deployment<'a> {
    tag: &'a Tag,
    at: DateTime<Utc>,
    /// Its commit, when read.
    commit: Option<u32>,
}

use smm_delivery::hours;

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The measurement over the export read (tags already filtered by the
/// pattern), at `now`, with the incidents read when configured.
pub fn summarize(
    config: &Config,
    now: DateTime<Utc>,
    history: &History,
    tags: &[Tag],
    issues: Option<&[incidents::Issue]>,
) -> Result<Measurement, Error> {
    let window = Window::ending_at(now, TimeDelta::days(config.window_days.into()))
        .ok_or_else(|| Error::config("window_days must be at least 1"))?;
    let mut deployments: Vec<Deployment> = tags
        .iter()
        .filter_map(|tag| {
            let commit = history.find(&tag.target);
            let at = tag
                .created_at
                .or_else(|| commit.map(|c| history.commits[c as usize].committed_at))?;
            Some(Deployment { tag, at, commit })
        })
        .collect();
    deployments.sort_by(|a, b| (a.at, &a.tag.name).cmp(&(b.at, &b.tag.name)));
    let commits: Vec<Option<u32>> = deployments.iter().map(|d| d.commit).collect();
    let shipped = ship::shipped(history, &commits);

    let mut all_hours = Vec::new();
    let (mut in_window, mut with_changes, mut reworked) = (0usize, 0usize, 0usize);
    let mut list = Vec::new();
    for (d, shipped) in deployments.iter().zip(&shipped) {
        if !window.contains(d.at) {
            continue;
        }
        in_window += 1;
        let lead: Vec<f64> = shipped
            .iter()
            .map(|&c| {
                let authored = history.commits[c as usize].authored_at;
                hours((d.at - authored).max(TimeDelta::zero()))
            })
            .collect();
        let rework = shipped.iter().any(|&c| history.commits[c as usize].rework);
        with_changes += usize::from(!shipped.is_empty());
        reworked += usize::from(rework);
        list.push(json!({
            "tag": d.tag.name,
            "sha": d.tag.sha,
            "deployed_at": iso(d.at),
            "changes": shipped.len(),
            "median_hours": stats::median(&lead),
            "rework": rework,
        }));
        all_hours.extend(lead);
    }
    let merges = history
        .commits
        .iter()
        .filter(|c| c.merge && window.contains(c.committed_at))
        .count();
    let Some(median) = stats::median(&all_hours) else {
        return Err(Error::input(format!(
            "no commit was shipped by a deployment in the last {} days: {in_window} deployments \
             (tags matching {:?}) in the window, {} matching tags and {} commits read from {}",
            config.window_days,
            config.deployment_tag_pattern,
            tags.len(),
            history.commits.len(),
            config.repository
        )));
    };
    let mut details = json!({
        "repository": config.repository,
        "window_days": config.window_days,
        "commits": history.commits.len(),
        "merges": merges,
        "deployments": in_window,
        "per_day": in_window as f64 / window.days(),
        "changes": all_hours.len(),
        "median_hours": median,
        "p90_hours": stats::percentile(&all_hours, 90.0),
        "rework_deployments": reworked,
        "rework_rate": (with_changes > 0).then(|| reworked as f64 / with_changes as f64),
        "list": list,
    });
    if let (Some(issues), Some(out)) = (issues, details.as_object_mut()) {
        let deployed: Vec<incidents::Deployed> = deployments
            .iter()
            .map(|d| incidents::Deployed {
                tag: &d.tag.name,
                at: d.at,
            })
            .collect();
        out.extend(incidents::summarize(
            issues,
            &config.incident_label,
            &config.security_labels,
            &deployed,
            &window,
        ));
    }
    Ok(Measurement::value(median).with_details(details))
}

smm_sdk::export_measure!(GitHistory);

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn config(json: &str) -> Config {
        smm_sdk::parse_config::<GitHistory>(json).unwrap()
    }

    #[test]
    fn defaults_and_unknown_fields() {
        let c = config(r#"{"repository": "/r"}"#);
        assert_eq!(c.deployment_tag_pattern, "v*");
        assert_eq!(c.window_days, 30);
        assert_eq!(c.max_commits, 100_000);
        assert_eq!(c.rework_prefixes, ["fix", "hotfix", "revert"]);
        let e = smm_sdk::parse_config::<GitHistory>(r#"{"repository": "/r", "path": "x"}"#);
        assert!(matches!(e, Err(Error::Config(m)) if m.contains("unknown field")));
        let schema = smm_sdk::config_schema::<GitHistory>();
        assert_eq!(schema["properties"]["repository"]["format"], "path");
        assert_eq!(schema["required"], json!(["repository"]));
    }

    #[test]
    fn tag_patterns_have_at_most_one_star() {
        let p = TagPattern::new("v*").unwrap();
        assert!(p.matches("v1.2.0") && p.matches("v") && !p.matches("release-1"));
        let p = TagPattern::new("release-*-prod").unwrap();
        assert!(p.matches("release-42-prod") && p.matches("release--prod"));
        assert!(!p.matches("release-prod") && !p.matches("release-42-staging"));
        let p = TagPattern::new("production").unwrap();
        assert!(p.matches("production") && !p.matches("production-2"));
        let p = TagPattern::new("*").unwrap();
        assert!(p.matches("anything"));
        let p = TagPattern::new("*-deployed").unwrap();
        assert!(p.matches("2024-03-01-deployed") && !p.matches("deployed"));
        assert!(matches!(TagPattern::new("v*.*"), Err(Error::Config(_))));
        assert!(matches!(TagPattern::new(""), Err(Error::Config(_))));
    }

    #[test]
    fn rework_is_a_subject_prefix_ignoring_case() {
        let r = Rework::new(&default_rework_prefixes()).unwrap();
        assert!(r.is_rework("fix: crash"));
        assert!(r.is_rework("  Hotfix(api): urgent"));
        assert!(r.is_rework("Revert \"feat: x\""));
        assert!(!r.is_rework("feat: fix later"));
        assert!(matches!(Rework::new(&["".into()]), Err(Error::Config(_))));
    }

    const NOW: &str = "2024-03-31T00:00:00Z";

    /// One history line; `hash` is one hexadecimal digit repeated.
    fn commit(hash: char, parents: &str, authored: &str, committed: &str, subject: &str) -> String {
        let parents: Vec<String> = parents.chars().map(|p| p.to_string().repeat(40)).collect();
        format!(
            "{}\x1f{}\x1f{authored}\x1f{committed}\x1f{subject}\n",
            hash.to_string().repeat(40),
            parents.join(" ")
        )
    }

    fn tag(name: &str, object: char, peeled: Option<char>, created: &str) -> String {
        let hex = |c: char| c.to_string().repeat(40);
        format!(
            "refs/tags/{name}\x1f{}\x1f{}\x1f{created}\n",
            hex(object),
            peeled.map(hex).unwrap_or_default()
        )
    }

    /// main 1-2-3-6-7(merge of 5)-8, branch 4-5 off 3. Tags: v0 on 1
    /// (before the window), v1 annotated on 2, v2 lightweight on 7, v3
    /// annotated on 8, other on 8.
    fn sample(config: &Config) -> Result<Measurement, Error> {
        let history = [
            commit(
                '9',
                "8",
                "2024-03-30T00:00:00Z",
                "2024-03-30T00:00:00Z",
                "feat: later",
            ),
            commit(
                '8',
                "7",
                "2024-03-25T00:00:00Z",
                "2024-03-25T00:00:00Z",
                "hotfix: x",
            ),
            commit(
                '7',
                "65",
                "2024-03-20T00:00:00Z",
                "2024-03-20T00:00:00Z",
                "Merge",
            ),
            commit(
                '6',
                "3",
                "2024-03-18T00:00:00Z",
                "2024-03-19T00:00:00Z",
                "fix: y",
            ),
            commit(
                '5',
                "4",
                "2024-03-17T00:00:00Z",
                "2024-03-17T00:00:00Z",
                "more",
            ),
            commit(
                '4',
                "3",
                "2024-03-16T00:00:00Z",
                "2024-03-16T00:00:00Z",
                "feat: b",
            ),
            commit(
                '3',
                "2",
                "2024-03-10T00:00:00Z",
                "2024-03-12T00:00:00Z",
                "feat: a",
            ),
            commit(
                '2',
                "1",
                "2024-03-04T00:00:00Z",
                "2024-03-04T00:00:00Z",
                "two",
            ),
            commit(
                '1',
                "",
                "2024-02-01T00:00:00Z",
                "2024-02-01T00:00:00Z",
                "one",
            ),
            // A merge committed before the window.
            commit(
                '0',
                "12",
                "2024-02-01T00:00:00Z",
                "2024-02-01T00:00:00Z",
                "old merge",
            ),
        ]
        .concat();
        let tags = [
            tag("v3", 'e', Some('8'), "2024-03-26T00:00:00Z"),
            tag("other", '8', None, "2024-03-25T00:00:00Z"),
            tag("v2", '7', None, "2024-03-20T00:00:00Z"),
            tag("v1", 'f', Some('2'), "2024-03-05T00:00:00Z"),
            tag("v0", '1', None, "2024-02-01T00:00:00Z"),
        ]
        .concat();
        let rework = Rework::new(&config.rework_prefixes).unwrap();
        let pattern = TagPattern::new(&config.deployment_tag_pattern).unwrap();
        let max = max_commits(config).unwrap();
        let history =
            export::read_history(history.as_bytes(), max, |s| rework.is_rework(s)).unwrap();
        let tags = export::read_tags(tags.as_bytes(), max, |n| pattern.matches(n)).unwrap();
        summarize(config, at(NOW), &history, &tags, None)
    }

    #[test]
    fn lead_times_frequency_and_rework_over_the_window() {
        let m = sample(&config(r#"{"repository": "/r"}"#)).unwrap();
        let d = m.details.unwrap();
        // v1 (03-05) ships 2: 24 h. v2 (03-20) ships 3, 4, 5, 6, 7: 240,
        // 96, 72, 48, 0 h. v3 (03-26) ships 8: 24 h.
        // Sorted: 0 24 24 48 72 96 240 -> median 48.
        assert_eq!(m.value, Some(48.0));
        assert_eq!(d["changes"], 7);
        assert_eq!(d["median_hours"], 48.0);
        // Rank 0.9 * 6 = 5.4: 96 + 0.4 * 144 = 153.6.
        assert!(
            (d["p90_hours"].as_f64().unwrap() - 153.6).abs() < 1e-9,
            "{d}"
        );
        assert_eq!(d["deployments"], 3);
        assert_eq!(d["per_day"], 0.1);
        assert_eq!(d["commits"], 10);
        assert_eq!(d["merges"], 1);
        assert_eq!(d["rework_deployments"], 2);
        assert!((d["rework_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(d["repository"], "/r");
        assert_eq!(d["window_days"], 30);
        assert_eq!(
            d["list"],
            json!([
                {"tag": "v1", "sha": "2".repeat(40), "deployed_at": "2024-03-05T00:00:00Z",
                 "changes": 1, "median_hours": 24.0, "rework": false},
                {"tag": "v2", "sha": "7".repeat(40), "deployed_at": "2024-03-20T00:00:00Z",
                 "changes": 5, "median_hours": 72.0, "rework": true},
                {"tag": "v3", "sha": "8".repeat(40), "deployed_at": "2024-03-26T00:00:00Z",
                 "changes": 1, "median_hours": 24.0, "rework": true},
            ])
        );
    }

    #[test]
    fn a_shorter_window_and_another_pattern() {
        // 10 days: [03-21, 03-31): v3 only.
        let m = sample(&config(r#"{"repository": "/r", "window_days": 10}"#)).unwrap();
        assert_eq!(m.value, Some(24.0));
        let d = m.details.unwrap();
        assert_eq!(
            (d["deployments"].as_u64(), d["merges"].as_u64()),
            (Some(1), Some(0))
        );
        // `other` alone: the baseline, which ships nothing.
        let e = sample(&config(
            r#"{"repository": "/r", "deployment_tag_pattern": "other"}"#,
        ))
        .unwrap_err();
        let Error::Input(e) = e else { panic!("{e:?}") };
        assert!(
            e.contains("1 deployments (tags matching \"other\") in the window"),
            "{e}"
        );
        assert!(
            e.contains("1 matching tags and 10 commits read from /r"),
            "{e}"
        );
    }

    #[test]
    fn truncated_history_leaves_older_deployments_unknown() {
        // The 6 newest commits: 9 8 7 6 5 4; v2's 3 is not read, v1 and v0
        // are unknown: v2 is the baseline, v3 ships 8.
        let m = sample(&config(r#"{"repository": "/r", "max_commits": 6}"#)).unwrap();
        let d = m.details.unwrap();
        assert_eq!(m.value, Some(24.0));
        assert_eq!(d["commits"], 6);
        assert_eq!(d["list"][0]["changes"], 0);
        assert_eq!(d["list"][0]["median_hours"], Value::Null);
        assert_eq!(d["rework_rate"], 1.0);
    }

    #[test]
    fn tags_without_a_date_take_the_commit_date() {
        let history = commit('1', "", "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z", "a");
        let tags = tag("v1", 'f', Some('1'), "") + &tag("v2", 'e', Some('2'), "");
        let history = export::read_history(history.as_bytes(), 10, |_| false).unwrap();
        let tags = export::read_tags(tags.as_bytes(), 10, |_| true).unwrap();
        let c = config(r#"{"repository": "/r"}"#);
        let Err(Error::Input(e)) = summarize(&c, at(NOW), &history, &tags, None) else {
            panic!()
        };
        // v1 placed at 03-02 (v2, of an unread commit, is left out).
        assert!(e.contains("1 deployments"), "{e}");
    }
}
