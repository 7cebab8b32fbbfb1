//! Command-line arguments and their dispatch.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use smm_catalogue::{HostGrant, InstanceSpec, LimitOverrides, MeasureRef, Registration, SecretRef};
use smm_engine::config::Config;
use smm_engine::sandbox::Isolation;
use smm_engine::scheduler::SchedulerConfig;
use smm_engine::standard::Installed;
use smm_engine::store::ElasticsearchStore;
use smm_engine::store::{Appended, Usage};
use smm_engine::{Engine, Home, Query};

use crate::output;
use smm_engine::kibana::KibanaAuth;

/// smm: a measure engine for metrics-driven DevSecOps.
///
/// Measures are WebAssembly components in a catalogue; instances bind them
/// to a measured system; runs store measurements in the embedded store.
#[derive(Debug, Parser)]
#[command(name = "smm", version, propagate_version = true)]
pub struct Cli {
    /// Home directory of the installation (database, compile cache).
    #[arg(long, env = "SMM_HOME", default_value = ".smm", global = true)]
    home: PathBuf,
    /// Configuration file (default: `smm.toml` under the home, if present):
    /// which backend keeps measurements, and how to reach it.
    #[arg(long, env = "SMM_CONFIG", global = true)]
    config_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Register and inspect measures.
    #[command(subcommand)]
    Measure(MeasureCmd),
    /// Create, list, pause, resume and delete measure instances.
    #[command(subcommand)]
    Instance(InstanceCmd),
    /// Run an instance now, store its measurement and print it.
    ///
    /// Exits non-zero when the measurement is an error measurement (it is
    /// stored all the same).
    #[command(after_help = "Example:
  smm run api-sast --json | jq '.value, .details.by_level'")]
    Run {
        /// Instance name.
        instance: String,
        /// Print JSON lines: one stored measurement (a JSON object) per line.
        #[arg(long)]
        json: bool,
    },
    /// Run every scheduled instance on its cron schedule until SIGINT/SIGTERM.
    ///
    /// Failures are stored as error measurements and back off; runs of one
    /// instance never overlap; instances created, paused, resumed or deleted
    /// meanwhile (from another `smm`) take effect within a second. On a
    /// signal: no new runs, runs in flight get `--grace` to finish, exit 0.
    Serve {
        /// Runs at once (default: number of cores).
        #[arg(long)]
        concurrency: Option<usize>,
        /// How long shutdown waits for runs in flight.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        grace: Duration,
        /// Log lines as human text or JSON objects.
        #[arg(long, value_enum, default_value_t = LogFormat::Human)]
        log_format: LogFormat,
    },
    /// Recompute a derived instance over history (idempotent: instants
    /// already computed are skipped).
    Derive {
        /// Instance of a derived measure.
        instance: String,
        /// From this long ago (`30d`) or this RFC 3339 time.
        #[arg(long)]
        since: String,
        /// Compute every `step` (e.g. `1d`) instead of at each input
        /// measurement's timestamp.
        #[arg(long, value_parser = humantime::parse_duration)]
        step: Option<Duration>,
    },
    /// The Elasticsearch measurement store: setup, delivery status, dead letters.
    #[command(subcommand)]
    Es(EsCmd),
    /// Kibana: load smm's data view and dashboards.
    #[command(subcommand)]
    Kibana(KibanaCmd),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    ///
    /// Example: `smm completions bash > /etc/bash_completion.d/smm`
    Completions { shell: clap_complete::Shell },
    /// Print smm's manual page (roff): `smm man | man -l -`.
    Man,
    /// Print the finding lifecycle of scanning instances.
    ///
    /// Each finding's first seen, fixed and reopened times, from
    /// successive successful scans.
    #[command(after_help = "Examples:
  smm findings web-image --open            # what is open now, oldest first
  smm findings --json | jq -r 'select(.fixed_at) | .fingerprint'")]
    Findings {
        /// One instance (all of them when absent).
        instance: Option<String>,
        /// Only the findings open now.
        #[arg(long)]
        open: bool,
        /// Print JSON lines, one period of a finding per line.
        #[arg(long)]
        json: bool,
    },
    /// Print stored measurements, oldest first.
    #[command(after_help = "Examples:
  smm query api-sast --since 7d
  smm query --measure sarif-findings --label team=payments --json | jq .value")]
    Query {
        /// Instance name (default: every instance).
        instance: Option<String>,
        /// Only measurements of this measure id.
        #[arg(long)]
        measure: Option<String>,
        /// Only measurements carrying label `key=value`. Repeatable.
        #[arg(long = "label", value_parser = parse_label)]
        labels: Vec<(String, String)>,
        /// Only measurements since this long ago (`30m`, `7d`) or this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only measurements until this long ago or this RFC 3339 time.
        #[arg(long)]
        until: Option<String>,
        /// At most this many (the most recent).
        #[arg(long)]
        limit: Option<usize>,
        /// Print JSON lines: one measurement (a JSON object) per line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum EsCmd {
    /// Install (or upgrade) the ILM policy, component and index templates
    /// and the data stream; idempotent.
    Setup,
    /// Cluster version, template check, spool backlog, dead letters,
    /// delivery rate and the last delivery error.
    Status {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List measurements Elasticsearch refused for good, with the reason.
    DeadLetters {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON lines (one per dead letter, with its document).
        #[arg(long)]
        json: bool,
    },
    /// Send dead letters again (all, or the given measurement ids), after
    /// fixing what refused them.
    Redrive { ids: Vec<String> },
    /// Deliver the spool now.
    Flush,
}

#[derive(Debug, Subcommand)]
enum KibanaCmd {
    /// Import smm's saved objects (data view, dashboards) with overwrite.
    Import {
        /// Kibana's URL, e.g. http://localhost:5601.
        #[arg(long, env = "SMM_KIBANA_URL")]
        kibana_url: String,
        /// A saved objects NDJSON file instead of the one smm ships.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Kibana space (default: the default space).
        #[arg(long)]
        space: Option<String>,
        /// User name (the password is read from $SMM_KIBANA_PASSWORD);
        /// default: the Elasticsearch credentials of the configuration.
        #[arg(long)]
        user: Option<String>,
        /// CA certificate (PEM) of Kibana's HTTPS endpoint.
        #[arg(long)]
        ca_file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum MeasureCmd {
    /// Register measures: WebAssembly components (.wasm) implementing the
    /// measure world, or derived-measure definitions (.toml).
    Register {
        /// Component or definition files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Register every standard measure, direct and derived (idempotent):
    /// the security, quality and delivery (DORA) catalogue of
    /// catalogue/standard/README.md.
    #[command(
        after_help = "The components are read from --dir, else $SMM_MEASURES_DIR, else
target/wasm32-wasip2/wasm beside this smm (cargo's layout). The measures written
in Python and JavaScript (bandit-findings, eslint-findings) are installed when
measures/build-polyglot.sh (python3, node and npm) has built them there; a
version registered from another build of theirs is kept. Build the others with
  cargo build --profile wasm --target wasm32-wasip2 -p sarif-findings -p junit-tests \\
    -p trivy-vulnerabilities -p grype-vulnerabilities -p gitleaks-secrets \\
    -p cyclonedx-vulnerabilities -p line-coverage -p code-size \\
    -p github-deployments -p github-lead-time -p github-incidents -p git-history \\
    -p devlake-deployments"
    )]
    InstallStandard {
        /// Directory holding the built standard components (.wasm).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Start a new measure project in a directory of your own: sources, a
    /// sample input, a test and a build script, ready to build and test.
    #[command(after_help = "Example:
  smm measure new dependency-age --lang rust --dir ~/src/our-measures
  cd ~/src/our-measures/dependency-age && cargo test && ./build.sh
  smm measure new audit-count --lang python     (python3 -m unittest; ./build.sh)
  smm measure new lint-count --lang js          (node --test test/; ./build.sh)")]
    New {
        /// The measure's id (kebab-case); also the project's directory name.
        id: String,
        #[arg(long, value_enum, default_value = "rust")]
        lang: smm_engine::scaffold::Lang,
        /// Where to create the project (default: the current directory).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The SDK: the sdk/ directory of a clone of smm, or a git URL of
        /// smm, `URL#REF` for a branch or tag (default: the sdk/ of the
        /// tree this smm was built from).
        #[arg(long)]
        sdk: Option<String>,
    },
    /// List registered measures, every version.
    List,
    /// Print a measure's metadata and configuration schema.
    Show {
        /// `id` (latest version) or `id@version`.
        measure: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum InstanceCmd {
    /// Bind a measure to a measured system.
    #[command(after_help = "Example:
  smm instance create api-sast --measure sarif-findings \\
      --config '{\"path\": \"/srv/reports/api.sarif\"}' --grant-dir /srv/reports \\
      --label team=payments --label service=api --schedule '0 */15 * * * *'")]
    Create(Box<CreateArgs>),
    /// List instances with their scheduling state.
    List,
    /// Print one instance in full: configuration, labels, grants, limits,
    /// schedule, scheduling state and its last error.
    Show {
        name: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Change an instance's configuration, labels, schedule, grants or
    /// limits, checked as at create; the previous settings are kept in its
    /// history (`instance show`), its measurements stay.
    #[command(after_help = "Examples:
  smm instance update api-sast --schedule '0 0 * * * *' --label tier=1
  smm instance update api-sast --config @api-sast.json --grant-dir /srv/reports
  smm instance update api-sast --no-schedule --remove-label team")]
    Update(Box<UpdateArgs>),
    /// Stop scheduling an instance (it keeps its configuration).
    Pause { name: String },
    /// Schedule a paused instance again.
    Resume { name: String },
    /// Delete an instance; its measurements stay.
    Delete { name: String },
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// Instance name: letters, digits, '.', '_', '-'.
    name: String,
    /// `id` (pins the latest version) or `id@version`.
    #[arg(long)]
    measure: String,
    /// Configuration: a JSON document, or `@file.json`.
    #[arg(long, default_value = "{}")]
    config: String,
    /// Label `key=value` (team, service, tier, ...). Repeatable.
    #[arg(long = "label", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// Cron schedule with seconds: `sec min hour day month weekday [year]`.
    #[arg(long)]
    schedule: Option<String>,
    /// IANA time zone the schedule is read in (default UTC), e.g. `Europe/Paris`.
    #[arg(long)]
    timezone: Option<String>,
    /// Directory the measure may read (read-only). Repeatable.
    #[arg(long = "grant-dir")]
    grant_dirs: Vec<PathBuf>,
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    limits: LimitArgs,
    /// After downtime: `run-once` (default) catches up with one run at
    /// start-up, `skip` waits for the next fire time.
    #[arg(long, default_value = "run-once")]
    catch_up: smm_catalogue::CatchUp,
}

/// Per-instance limits, for `instance create` and `instance update`.
#[derive(Debug, Args)]
struct LimitArgs {
    /// Deadline of one collection (default 10s), e.g. `500ms`, `30s`.
    #[arg(long, value_parser = humantime::parse_duration)]
    deadline: Option<Duration>,
    /// Memory limit of one collection in MiB (default 64).
    #[arg(long)]
    memory_mib: Option<u64>,
    /// Limit on the returned text and details in KiB (default 1024).
    #[arg(long)]
    output_kib: Option<u64>,
    /// HTTP requests one collection may send (default 200).
    #[arg(long)]
    http_requests: Option<u64>,
    /// HTTP response bytes one collection may receive, in MiB (default 64).
    #[arg(long)]
    http_mib: Option<u64>,
}

/// Outgoing HTTP grants, for `instance create` and `instance update`.
#[derive(Debug, Args)]
struct NetworkArgs {
    /// HTTP(S) destination the measure may reach, as
    /// `[scheme://]host[:port][/path-prefix]` (https when no scheme), e.g.
    /// `api.github.com`, `https://ghe.example.com/api/v3/`. A name reaches
    /// public addresses only; an IP literal reaches that address.
    /// Repeatable.
    #[arg(long = "allow-host")]
    allow_hosts: Vec<String>,
    /// Like --allow-host, for a name that resolves to private addresses
    /// (an internal GitLab, a proxy on the same network). Repeatable.
    #[arg(long = "allow-private-host")]
    allow_private_hosts: Vec<String>,
    /// A secret the engine sends as `Authorization: Bearer …` to one
    /// granted host; the measure never sees it: `NAME=env:VARIABLE[@host]`
    /// or `NAME=file:/path[@host]` (`@host` needed when several hosts are
    /// granted). Only the reference is stored. Repeatable.
    #[arg(long = "secret")]
    secrets: Vec<String>,
}

impl NetworkArgs {
    fn given(&self) -> bool {
        !(self.allow_hosts.is_empty()
            && self.allow_private_hosts.is_empty()
            && self.secrets.is_empty())
    }

    /// The grants and secrets given.
    fn parse(&self) -> Result<(Vec<HostGrant>, Vec<SecretRef>)> {
        let mut hosts = Vec::new();
        for (list, private) in [
            (&self.allow_hosts, false),
            (&self.allow_private_hosts, true),
        ] {
            for h in list {
                hosts.push(HostGrant::parse(h, private).map_err(anyhow::Error::msg)?);
            }
        }
        let secrets = self
            .secrets
            .iter()
            .map(|s| SecretRef::parse(s, &hosts).map_err(anyhow::Error::msg))
            .collect::<Result<_>>()?;
        Ok((hosts, secrets))
    }
}

impl LimitArgs {
    /// `limits` with the limits given here set.
    fn apply(&self, mut limits: LimitOverrides) -> LimitOverrides {
        if let Some(d) = self.deadline {
            limits.deadline_ms = Some(d.as_millis() as u64);
        }
        if let Some(m) = self.memory_mib {
            limits.memory_bytes = Some(m << 20);
        }
        if let Some(k) = self.output_kib {
            limits.output_bytes = Some(k << 10);
        }
        if let Some(n) = self.http_requests {
            limits.http_requests = Some(n);
        }
        if let Some(m) = self.http_mib {
            limits.http_bytes = Some(m << 20);
        }
        limits
    }
}

#[derive(Debug, Args)]
struct UpdateArgs {
    name: String,
    /// Move to another version of the measure (`id@version`, or `id` for
    /// the latest); the configuration is checked against its schema.
    #[arg(long)]
    measure: Option<String>,
    /// New configuration (replaces the whole of it): JSON, or `@file.json`.
    #[arg(long)]
    config: Option<String>,
    /// Set label `key=value` (others stay). Repeatable.
    #[arg(long = "label", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// Remove label `key`. Repeatable.
    #[arg(long = "remove-label")]
    remove_labels: Vec<String>,
    /// New cron schedule with seconds.
    #[arg(long, conflicts_with = "no_schedule")]
    schedule: Option<String>,
    /// Run by hand only from now on.
    #[arg(long)]
    no_schedule: bool,
    /// IANA time zone the schedule is read in; `UTC` to clear.
    #[arg(long)]
    timezone: Option<String>,
    /// Replace the granted directories with these. Repeatable.
    #[arg(long = "grant-dir")]
    grant_dirs: Vec<PathBuf>,
    /// Replace the granted hosts and secrets with those given
    /// (`--allow-host`, `--allow-private-host`, `--secret`); with none,
    /// the instance reaches no host.
    #[command(flatten)]
    network: NetworkArgs,
    /// Remove every granted host and secret.
    #[arg(long, conflicts_with_all = ["allow_hosts", "allow_private_hosts", "secrets"])]
    no_network: bool,
    #[command(flatten)]
    limits: LimitArgs,
    /// `run-once` or `skip`.
    #[arg(long)]
    catch_up: Option<smm_catalogue::CatchUp>,
}

impl UpdateArgs {
    /// `spec` with the requested changes applied.
    fn apply(self, mut spec: InstanceSpec) -> Result<InstanceSpec> {
        if let Some(measure) = self.measure {
            spec.measure = measure;
        }
        if let Some(config) = &self.config {
            spec.config = read_config(config)?;
        }
        for (k, v) in self.labels {
            spec.labels.insert(k, v);
        }
        for k in &self.remove_labels {
            if spec.labels.remove(k).is_none() {
                bail!("--remove-label {k}: the instance has no label {k}");
            }
        }
        if self.no_schedule {
            spec.schedule = None;
        }
        if let Some(schedule) = self.schedule {
            spec.schedule = Some(schedule);
        }
        if let Some(tz) = self.timezone {
            spec.timezone = (tz != "UTC").then_some(tz);
        }
        if !self.grant_dirs.is_empty() {
            spec.grants = canonical_grants(&self.grant_dirs)?;
        }
        if self.no_network {
            spec.hosts.clear();
            spec.secrets.clear();
        }
        if self.network.given() {
            (spec.hosts, spec.secrets) = self.network.parse()?;
        }
        spec.limits = self.limits.apply(spec.limits);
        if let Some(c) = self.catch_up {
            spec.catch_up = c;
        }
        Ok(spec)
    }
}

fn canonical_grants(dirs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    dirs.iter()
        .map(|dir| {
            std::fs::canonicalize(dir).with_context(|| format!("--grant-dir {}", dir.display()))
        })
        .collect()
}

impl Cli {
    /// Default log level and format for this command.
    pub fn log_settings(&self) -> (&'static str, LogFormat) {
        match self.command {
            Command::Serve { log_format, .. } => ("info", log_format),
            _ => ("error", LogFormat::Human),
        }
    }

    /// Whether this command runs until stopped (`smm serve`) rather than
    /// doing one thing and exiting: it gets a runtime with a worker per
    /// core and pooled plugin instances; the others start faster with a
    /// single-threaded runtime and instances allocated on demand.
    pub fn serves(&self) -> bool {
        matches!(self.command, Command::Serve { .. })
    }
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("label {s:?} is not key=value"))?;
    Ok((k.to_string(), v.to_string()))
}

fn parse_since(s: &str) -> Result<DateTime<Utc>> {
    parse_time("--since", s)
}

fn parse_until(s: &str) -> Result<DateTime<Utc>> {
    parse_time("--until", s)
}

/// `30m` ago, `7d` ago, or an RFC 3339 time.
fn parse_time(flag: &str, s: &str) -> Result<DateTime<Utc>> {
    if let Ok(d) = humantime::parse_duration(s) {
        let d = chrono::Duration::from_std(d).context("duration too large")?;
        return Ok(Utc::now() - d);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| {
            format!("{flag} {s:?} is neither a duration (30m, 7d) nor an RFC 3339 time")
        })
}

/// Compilations run in a child `smm` bounded by `[sandbox]`.
fn isolation(config: &Config) -> Result<Isolation> {
    // This very executable, even if its file was replaced since it started.
    let exe = match std::path::Path::new("/proc/self/exe") {
        p if p.exists() => p.to_path_buf(),
        _ => std::env::current_exe().context("locating the smm executable")?,
    };
    Ok(Isolation {
        exe,
        memory_bytes: config.sandbox.compile_memory_mib << 20,
    })
}

fn read_config(arg: &str) -> Result<serde_json::Value> {
    let (text, origin) = match arg.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --config file {path}"))?,
            path.to_string(),
        ),
        None => (arg.to_string(), "--config".to_string()),
    };
    serde_json::from_str(&text).with_context(|| format!("{origin} is not valid JSON"))
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let serves = cli.serves();
    let home = Home::new(cli.home);
    let config = match &cli.config_file {
        Some(path) => Config::load(path, true)?,
        None => Config::load(&home.config_file(), false)?,
    };
    match cli.command {
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "smm", &mut std::io::stdout());
            return Ok(ExitCode::SUCCESS);
        }
        Command::Man => {
            let command = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(command).render(&mut std::io::stdout())?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Es(cmd) => return es(&home, &config, cmd).await,
        Command::Kibana(cmd) => return kibana(&config, cmd).await,
        Command::Measure(MeasureCmd::New { id, lang, dir, sdk }) => {
            use smm_engine::scaffold::{self, SdkSource};
            let sdk = match sdk {
                Some(s) => SdkSource::parse(&s),
                None => SdkSource::built_from().context(
                    "this smm was not built from a source tree that is still here: give --sdk <path to smm's sdk/ or a git URL of smm>",
                )?,
            };
            let (project, files) = scaffold::create(&id, lang, &dir, &sdk)?;
            for f in &files {
                println!("created {}", f.display());
            }
            let steps = match lang {
                scaffold::Lang::Rust => "cargo test && ./build.sh",
                scaffold::Lang::Python => "./build.sh   (then the unit tests: see README.md)",
                scaffold::Lang::Js => "node --test test/ && ./build.sh",
            };
            println!("next: cd {} && {steps}", project.display());
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let usage = match serves {
        true => Usage::Serving,
        false => Usage::OneShot,
    };
    let mut engine = Engine::open_configured(&home, &config, usage)
        .with_context(|| format!("opening smm home {}", home.root.display()))?;
    engine.isolate_compilation(isolation(&config)?);
    match cli.command {
        Command::Es(_)
        | Command::Kibana(_)
        | Command::Completions { .. }
        | Command::Man
        | Command::Measure(MeasureCmd::New { .. }) => {
            unreachable!("handled above")
        }
        Command::Measure(MeasureCmd::Register { files }) => {
            for file in files {
                let reg = engine.register_file(&file).await?;
                let verb = match reg {
                    Registration::Added(_) => "registered",
                    Registration::Unchanged(_) => "already registered",
                };
                println!(
                    "{verb} {} from {}",
                    reg.record().reference(),
                    file.display()
                );
            }
        }
        Command::Measure(MeasureCmd::InstallStandard { dir }) => {
            let dir = match dir {
                Some(dir) => dir,
                None => smm_engine::standard::default_dir(
                    &std::env::current_exe().context("locating the smm executable")?,
                ),
            };
            let (mut added, mut unchanged, mut not_built) = (0, 0, Vec::new());
            for done in engine.install_standard(&dir).await? {
                match done {
                    Installed::Registration(Registration::Added(r)) => {
                        added += 1;
                        println!("registered {}", r.reference());
                    }
                    Installed::Registration(Registration::Unchanged(r)) => {
                        unchanged += 1;
                        println!("already registered {}", r.reference());
                    }
                    Installed::Kept(r) => {
                        unchanged += 1;
                        println!(
                            "already registered {} (from another build, kept)",
                            r.reference()
                        );
                    }
                    Installed::NotBuilt(p) => {
                        println!("not built: {} ({})", p.id, p.language);
                        not_built.push(p.id);
                    }
                }
            }
            println!("standard catalogue: {added} registered, {unchanged} already there");
            if !not_built.is_empty() {
                println!(
                    "{} not found in {}: build them with {} to install them too",
                    not_built.join(", "),
                    dir.display(),
                    smm_engine::standard::POLYGLOT_BUILD
                );
            }
        }
        Command::Measure(MeasureCmd::List) => {
            output::measures(&engine.measures()?);
        }
        Command::Measure(MeasureCmd::Show { measure }) => {
            let reference: MeasureRef = measure.parse()?;
            output::measure(&engine.catalogue().resolve(&reference)?);
        }
        Command::Instance(InstanceCmd::Create(args)) => {
            let grants = canonical_grants(&args.grant_dirs)?;
            let mut labels = BTreeMap::new();
            for (k, v) in args.labels {
                labels.insert(k, v);
            }
            let (hosts, secrets) = args.network.parse()?;
            let spec = InstanceSpec {
                name: args.name,
                measure: args.measure,
                config: read_config(&args.config)?,
                labels,
                schedule: args.schedule,
                timezone: args.timezone,
                grants,
                hosts,
                secrets,
                limits: args.limits.apply(LimitOverrides::default()),
                catch_up: args.catch_up,
            };
            let instance = engine.create_instance(spec)?;
            println!(
                "created instance {} of {}",
                instance.name,
                instance.measure_ref()
            );
        }
        Command::Instance(InstanceCmd::List) => {
            output::instances(&engine.instances()?, &engine.instance_states()?);
        }
        Command::Instance(InstanceCmd::Show { name, json }) => {
            let instance = engine.catalogue().instance(&name)?;
            let state = engine
                .instance_states()?
                .into_iter()
                .find(|s| s.instance == name);
            let last = engine
                .query(&Query {
                    instance: Some(name.clone()),
                    limit: Some(1),
                    ..Query::default()
                })
                .await?
                .pop();
            let schema = engine
                .catalogue()
                .resolve(&instance.measure_ref().parse()?)?
                .metadata
                .config_schema;
            // Each revision is masked with its own measure version's schema
            // (a secret field may have another name in another version).
            let history: Vec<_> = engine
                .catalogue()
                .instance_history(&name)?
                .into_iter()
                .map(|r| {
                    let schema = engine
                        .catalogue()
                        .resolve(&r.instance.measure_ref().parse()?)
                        .map_or_else(|_| schema.clone(), |m| m.metadata.config_schema);
                    Ok((r, schema))
                })
                .collect::<Result<_>>()?;
            output::instance(
                &output::Shown {
                    instance: &instance,
                    schema: &schema,
                    history: &history,
                    state: state.as_ref(),
                    last: last.as_ref(),
                },
                json,
            )?;
        }
        Command::Instance(InstanceCmd::Update(args)) => {
            let current = engine.catalogue().instance(&args.name)?;
            let spec = args.apply(current.to_spec())?;
            let updated = engine.update_instance(spec)?;
            if updated == current {
                println!("instance {} unchanged", updated.name);
            } else {
                println!(
                    "updated instance {} of {} (the previous settings are in its history)",
                    updated.name,
                    updated.measure_ref()
                );
            }
        }
        Command::Instance(InstanceCmd::Pause { name }) => {
            engine.set_paused(&name, true)?;
            println!("paused instance {name}");
        }
        Command::Instance(InstanceCmd::Resume { name }) => {
            engine.set_paused(&name, false)?;
            println!("resumed instance {name}");
        }
        Command::Instance(InstanceCmd::Delete { name }) => {
            engine.delete_instance(&name)?;
            println!("deleted instance {name} (its measurements stay)");
        }
        Command::Serve {
            concurrency, grace, ..
        } => {
            let engine = Arc::new(engine);
            let mut config = SchedulerConfig {
                grace,
                ..SchedulerConfig::default()
            };
            if let Some(c) = concurrency {
                config.concurrency = c;
            }
            let summary = engine
                .serve(config, smm_engine::shutdown::signal())
                .await
                .context("scheduler")?;
            tracing::info!(
                runs = summary.runs,
                failures = summary.failures,
                skips = summary.skips,
                abandoned = summary.abandoned,
                "stopped"
            );
            return Ok(ExitCode::SUCCESS);
        }
        Command::Run { instance, json } => {
            let all = engine.run_all(&instance).await?;
            let measurements: Vec<_> = all.iter().map(|r| r.measurement.clone()).collect();
            if json {
                for m in &measurements {
                    println!("{}", output::json(m)?);
                }
            } else {
                output::measurements(&measurements);
                for tracked in all.iter().filter_map(|r| r.findings) {
                    output::tracked(&tracked);
                }
            }
            if all.iter().any(|r| r.outcome == Appended::DeadLettered) {
                bail!(
                    "instance {instance}: the measurement store refused the measurement for good; it is kept as a dead letter (smm es dead-letters)"
                );
            }
            if all.iter().any(|r| r.outcome == Appended::Spooled) {
                eprintln!(
                    "note: the measurement store is unreachable: the measurement is kept in the local spool and delivered by `smm serve` or the next command that writes"
                );
            }
            if let Some(error) = measurements.iter().find_map(|m| m.error.as_ref()) {
                bail!("instance {instance}: the measurement failed: {error}");
            }
        }
        Command::Findings {
            instance,
            open,
            json,
        } => {
            if let Some(name) = &instance {
                engine.catalogue().instance(name)?;
            }
            let periods = engine.finding_periods(instance.as_deref(), open).await?;
            if json {
                for p in &periods {
                    println!("{}", output::json(p)?);
                }
            } else {
                output::findings(&periods);
            }
        }
        Command::Derive {
            instance,
            since,
            step,
        } => {
            let since = parse_since(&since)?;
            let instants = engine.backfill_instants(&instance, since, step).await?;
            let bar = indicatif::ProgressBar::new(instants.len() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} instants ({eta})")
                    .expect("a valid template"),
            );
            let stored = engine.backfill(&instance, &instants, || bar.inc(1)).await?;
            bar.finish_and_clear();
            println!(
                "{instance}: {} instants since {}, {stored} new measurements (instants already computed are skipped)",
                instants.len(),
                since.to_rfc3339(),
            );
        }
        Command::Query {
            instance,
            measure,
            labels,
            since,
            until,
            limit,
            json,
        } => {
            if let Some(instance) = &instance {
                engine.catalogue().instance(instance)?;
            }
            let query = Query {
                instance,
                measure_id: measure,
                labels: labels.into_iter().collect(),
                since: since.as_deref().map(parse_since).transpose()?,
                until: until.as_deref().map(parse_until).transpose()?,
                limit,
            };
            let rows = engine.query(&query).await?;
            if json {
                for m in &rows {
                    println!("{}", output::json(m)?);
                }
            } else {
                output::measurements(&rows);
            }
        }
    }
    engine.exit();
    Ok(ExitCode::SUCCESS)
}

/// `smm es ...`: the Elasticsearch backend itself, built from the configuration.
async fn es(home: &Home, config: &Config, cmd: EsCmd) -> Result<ExitCode> {
    let Some(es) = &config.elasticsearch else {
        bail!(
            "no Elasticsearch configured: add an [elasticsearch] table to {} (or set SMM_ES_URL)",
            home.config_file().display()
        );
    };
    std::fs::create_dir_all(&home.root)
        .with_context(|| format!("creating smm home {}", home.root.display()))?;
    let store = Arc::new(ElasticsearchStore::open(es, &home.es_spool())?);
    match cmd {
        EsCmd::Setup => {
            for (object, action) in store.setup().await? {
                println!("{object}: {}", output::setup(&action));
            }
        }
        EsCmd::Status { json } => {
            let health = store.check().await;
            let status = store.status().await?;
            output::es_status(store.data_stream(), &health, &status, json)?;
        }
        EsCmd::DeadLetters { limit, json } => {
            output::dead_letters(&store.dead_letters(limit).await?, json)?;
        }
        EsCmd::Redrive { ids } => {
            let moved = store.redrive(ids).await?;
            let derived = propagate_late(home, &store).await?;
            let status = store.status().await?;
            println!(
                "re-drove {moved} dead letters ({derived} delivered; the derived measures over them recomputed); {} still refused, {} waiting in the spool",
                status.dead_letters, status.backlog
            );
        }
        EsCmd::Flush => {
            store.flush().await?;
            let derived = propagate_late(home, &store).await?;
            let status = store.status().await?;
            println!(
                "{derived} measurements delivered from the spool (the derived measures over them recomputed); {} still waiting",
                status.backlog
            );
            if status.backlog > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `smm kibana import`.
async fn kibana(config: &Config, cmd: KibanaCmd) -> Result<ExitCode> {
    let KibanaCmd::Import {
        kibana_url,
        file,
        space,
        user,
        ca_file,
    } = cmd;
    let ndjson = match &file {
        Some(f) => std::fs::read_to_string(f).with_context(|| format!("--file {}", f.display()))?,
        None => smm_engine::kibana::SAVED_OBJECTS.to_string(),
    };
    let auth = match (user, config.elasticsearch.as_ref().map(|e| &e.auth)) {
        (Some(username), _) => KibanaAuth::Basic {
            username,
            password: std::env::var("SMM_KIBANA_PASSWORD")
                .context("--user needs the password in $SMM_KIBANA_PASSWORD")?,
        },
        (None, Some(auth)) => match (&auth.basic, &auth.api_key) {
            (Some(b), _) => KibanaAuth::Basic {
                username: b.username.clone(),
                password: b.password.resolve()?,
            },
            (None, Some(key)) => KibanaAuth::ApiKey(key.resolve()?),
            _ => KibanaAuth::None,
        },
        (None, None) => KibanaAuth::None,
    };
    let report = smm_engine::kibana::import(
        &kibana_url,
        space.as_deref(),
        &ndjson,
        &auth,
        ca_file.as_deref(),
    )
    .await?;
    output::kibana_report(&report);
    if !report.failures.is_empty() {
        bail!("{} saved objects were not imported", report.failures.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// Recompute the derived measures over what `store` just delivered from
/// its spool (an engine over the home's catalogue and this store).
async fn propagate_late(home: &Home, store: &Arc<ElasticsearchStore>) -> Result<usize> {
    let engine = Engine::open_with(
        home,
        Engine::open_embedded(home, Usage::OneShot)?,
        store.clone(),
        Usage::OneShot,
    )?;
    Ok(engine.propagate_late().await?)
}
