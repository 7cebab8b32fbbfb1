//! What the three GitHub delivery measures (`github-deployments`,
//! `github-lead-time`, `github-incidents`) share: the configuration fields
//! they have in common, the window they measure, and reading the GitHub
//! REST API through the instance's grants (the host adds the token; the
//! measure never holds one).
//!
//! A library crate of its own: a measure crate cannot depend on another
//! one (both would export the `measure` world from one component).
//!
//! Deployments are read newest first (GitHub's order), each with its
//! statuses, until one that succeeded and finished before the window
//! starts: the *baseline*, the last successful deployment before the
//! window, which the lead time links the window's first deployment to and
//! which incidents opened early in the window are attributed to. Paging
//! stops there (or after [`MAX_BEFORE`] deployments created before the
//! window without finding one, or at the end of the list).

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::de::DeserializeOwned;
use smm_delivery::github::{Deployment, DeploymentState, DeploymentStatus, deployment_commit};
use smm_delivery::{DeploymentCommit, Window};
use smm_sdk::Error;
use smm_sdk::http::{Client, Response};

pub mod testing;

/// Pages read at most from one listing (of [`PER_PAGE`] items each).
pub const MAX_PAGES: usize = 50;
/// Items asked for per page (GitHub's maximum).
pub const PER_PAGE: usize = 100;
/// Deployments created before the window inspected at most while looking
/// for the baseline (each costs a request for its statuses).
pub const MAX_BEFORE: usize = 20;
/// Pages of statuses read at most for one deployment.
const MAX_STATUS_PAGES: usize = 5;

/// GitHub's public REST API.
pub fn default_api_url() -> String {
    "https://api.github.com".into()
}

/// The environment deployments go to.
pub fn default_environment() -> String {
    "production".into()
}

/// The window's length in days.
pub fn default_window_days() -> u32 {
    30
}

/// What the measures read: a repository of an API, one environment, over
/// the window ending when the measurement is taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The API's base URL, without a trailing slash.
    pub api: String,
    /// `owner/name`.
    pub repository: String,
    /// The environment deployed to.
    pub environment: String,
    /// The window's length in days.
    pub window_days: u32,
    /// `[now - window_days, now)`.
    pub window: Window,
}

impl Target {
    /// Check the common configuration fields ([`Error::config`] naming the
    /// field) and place the window, ending at `now`.
    pub fn new(
        repository: &str,
        api_url: &str,
        environment: &str,
        window_days: u32,
        now: DateTime<Utc>,
    ) -> Result<Target, Error> {
        check_repository(repository)?;
        let api = check_api_url(api_url)?;
        if environment.is_empty() {
            return Err(Error::config("environment: must not be empty"));
        }
        if !(1..=365).contains(&window_days) {
            return Err(Error::config(format!(
                "window_days: {window_days} is not between 1 and 365"
            )));
        }
        let window = Window::ending_at(now, TimeDelta::days(window_days.into()))
            .ok_or_else(|| Error::internal("the window is out of range"))?;
        Ok(Target {
            api,
            repository: repository.to_string(),
            environment: environment.to_string(),
            window_days,
            window,
        })
    }

    /// `{api}/repos/{owner}/{name}`: where the repository's resources are.
    pub fn repo_url(&self) -> String {
        format!("{}/repos/{}", self.api, self.repository)
    }

    /// The first page of the environment's deployments.
    pub fn deployments_url(&self) -> String {
        format!(
            "{}/deployments?environment={}&per_page={PER_PAGE}",
            self.repo_url(),
            encode(&self.environment)
        )
    }

    /// The statuses of deployment `id`.
    pub fn statuses_url(&self, id: u64) -> String {
        format!(
            "{}/deployments/{id}/statuses?per_page={PER_PAGE}",
            self.repo_url()
        )
    }
}

/// `owner/name` as GitHub allows them: an owner of 1 to 39 letters, digits
/// and hyphens, not starting with a hyphen; a name of 1 to 100 letters,
/// digits, `.`, `-` and `_`, neither `.` nor `..`.
pub fn check_repository(repository: &str) -> Result<(), Error> {
    let bad = |why: &str| Error::config(format!("repository {repository:?}: {why}"));
    let (owner, name) = repository
        .split_once('/')
        .ok_or_else(|| bad("expected owner/name"))?;
    if owner.is_empty()
        || owner.len() > 39
        || owner.starts_with('-')
        || !owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(bad(
            "the owner must be 1 to 39 letters, digits or hyphens, not starting with a hyphen",
        ));
    }
    if name.is_empty()
        || name.len() > 100
        || name == "."
        || name == ".."
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(bad(
            "the name must be 1 to 100 letters, digits, '.', '-' or '_'",
        ));
    }
    Ok(())
}

/// An `http(s)://` base URL without query or fragment; the trailing slash
/// is dropped (`https://ghe.example.com/api/v3/` is fine).
pub fn check_api_url(api_url: &str) -> Result<String, Error> {
    let lower = api_url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with('/')
                && !api_url.contains(['?', '#', '@', ' ']) =>
        {
            Ok(api_url.trim_end_matches('/').to_string())
        }
        _ => Err(Error::config(format!(
            "api_url {api_url:?}: expected an http(s) URL without credentials, query or fragment"
        ))),
    }
}

/// Percent-encode a query value (everything but RFC 3986's unreserved
/// characters).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Now, from the system clock (the host's, through WASI).
pub fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from(std::time::SystemTime::now())
}

/// An instant as GitHub writes them: `2024-03-01T10:00:00Z`.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub use smm_delivery::hours;

/// Where answers come from: the SDK's client in a component, canned
/// answers in unit tests.
pub trait Api {
    /// GET `url`; a status outside 2xx is an error.
    fn get(&mut self, url: &str) -> Result<Response, Error>;
}

impl Api for Client {
    fn get(&mut self, url: &str) -> Result<Response, Error> {
        Client::get(self, url)
    }
}

/// The SDK's client, asking for GitHub's JSON media type and REST API
/// version.
pub fn client() -> Client {
    Client::new()
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
}

/// The body of `response` as a `T`; when it does not fit, an
/// [`Error::input`] naming the URL and the JSON path (`$[3].created_at`).
pub fn parse<T: DeserializeOwned>(response: &Response) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(&response.body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let path = match path.as_str() {
            "." => "$".to_string(),
            p if p.starts_with('[') => format!("${p}"),
            p => format!("$.{p}"),
        };
        Error::input(format!(
            "{}: the answer does not fit at {path}: {}",
            response.url,
            e.inner()
        ))
    })
}

/// GET a JSON array and every following page (`Link: rel="next"`), at
/// most `max_pages` pages.
pub fn list<T: DeserializeOwned>(
    api: &mut impl Api,
    url: &str,
    max_pages: usize,
) -> Result<Vec<T>, Error> {
    let mut all = Vec::new();
    let mut next = Some(url.to_string());
    let mut pages = 0;
    while let Some(url) = next {
        if pages == max_pages {
            return Err(too_many_pages(&url, max_pages));
        }
        let response = api.get(&url)?;
        all.extend(parse::<Vec<T>>(&response)?);
        next = response.next_link();
        pages += 1;
    }
    Ok(all)
}

fn too_many_pages(url: &str, max_pages: usize) -> Error {
    Error::input(format!(
        "{url}: more than {max_pages} pages of {PER_PAGE}; shorten window_days"
    ))
}

/// A deployment with its statuses.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    /// The deployment as listed.
    pub deployment: Deployment,
    /// Its statuses.
    pub statuses: Vec<DeploymentStatus>,
    /// What the linking reads (`smm_delivery::github::deployment_commit`),
    /// scope and repository URL being the repository's full name, and the
    /// environment the one asked for.
    pub commit: DeploymentCommit,
}

impl Fetched {
    /// A deployment and its statuses, for the environment listed.
    pub fn new(
        deployment: Deployment,
        statuses: Vec<DeploymentStatus>,
        repository: &str,
        environment: &str,
    ) -> Fetched {
        let mut commit = deployment_commit(&deployment, &statuses, repository, repository);
        // GitHub listed it for this environment: group it there even if a
        // status renamed the environment (or its case differs).
        commit.environment = environment.to_string();
        Fetched {
            deployment,
            statuses,
            commit,
        }
    }

    /// Where it stands: the state of its deciding (latest final) status,
    /// else of its latest status; `None` without any.
    pub fn state(&self) -> Option<DeploymentState> {
        let latest = |final_only: bool| {
            self.statuses
                .iter()
                .filter(|s| !final_only || s.state.is_final())
                .max_by_key(|s| (s.created_at, s.id))
                .map(|s| s.state)
        };
        latest(true).or_else(|| latest(false))
    }

    /// When it finished (its deciding status), if it did.
    pub fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.commit.finished_at
    }

    /// Whether it succeeded and finished before the window: the baseline.
    pub fn is_baseline(&self, window: &Window) -> bool {
        self.commit.success && self.finished_at().is_some_and(|t| t < window.start)
    }
}

/// The deployments to the target's environment, newest first, each with
/// its statuses, from the newest to the baseline (see the module's
/// documentation).
pub fn deployments(api: &mut impl Api, target: &Target) -> Result<Vec<Fetched>, Error> {
    let mut fetched = Vec::new();
    let mut before = 0;
    let mut next = Some(target.deployments_url());
    let mut pages = 0;
    'pages: while let Some(url) = next {
        if pages == MAX_PAGES {
            return Err(too_many_pages(&url, MAX_PAGES));
        }
        let response = api.get(&url)?;
        pages += 1;
        for deployment in parse::<Vec<Deployment>>(&response)? {
            let statuses = list(api, &target.statuses_url(deployment.id), MAX_STATUS_PAGES)?;
            let created_before = deployment.created_at < target.window.start;
            let d = Fetched::new(
                deployment,
                statuses,
                &target.repository,
                &target.environment,
            );
            let baseline = d.is_baseline(&target.window);
            fetched.push(d);
            before += usize::from(created_before);
            if baseline || before >= MAX_BEFORE {
                break 'pages;
            }
        }
        next = response.next_link();
    }
    Ok(fetched)
}

/// The deployments' rows for `smm_delivery`, in the same order.
pub fn commits(fetched: &[Fetched]) -> Vec<DeploymentCommit> {
    fetched.iter().map(|f| f.commit.clone()).collect()
}

/// The common part of every measure's details.
pub fn details_head(target: &Target) -> serde_json::Map<String, serde_json::Value> {
    let mut head = serde_json::Map::new();
    head.insert("repository".into(), target.repository.clone().into());
    head.insert("environment".into(), target.environment.clone().into());
    head.insert("window_days".into(), target.window_days.into());
    head
}
