//! Command-line arguments and their dispatch.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use smm_catalogue::{InstanceSpec, LimitOverrides, MeasureRef, Registration};
use smm_engine::{Engine, Home, Query};

use crate::output;

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Register and inspect measures.
    #[command(subcommand)]
    Measure(MeasureCmd),
    /// Create and list measure instances.
    #[command(subcommand)]
    Instance(InstanceCmd),
    /// Run an instance now, store its measurement and print it.
    ///
    /// Exits non-zero when the measurement is an error measurement (it is
    /// stored all the same).
    Run {
        /// Instance name.
        instance: String,
        /// Print the stored measurement as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print stored measurements of an instance, oldest first.
    Query {
        /// Instance name.
        instance: String,
        /// Only measurements since this long ago (`30m`, `7d`) or this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// At most this many (the most recent).
        #[arg(long)]
        limit: Option<usize>,
        /// Print a JSON array of measurements.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum MeasureCmd {
    /// Register WebAssembly components (.wasm) implementing the measure world.
    Register {
        /// Component files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List registered measures, every version.
    List,
    /// Print a measure's metadata and configuration schema.
    Show {
        /// `id` (latest version) or `id@version`.
        measure: String,
    },
}

#[derive(Debug, Subcommand)]
enum InstanceCmd {
    /// Bind a measure to a measured system.
    Create(CreateArgs),
    /// List instances.
    List,
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
    /// Directory the measure may read (read-only). Repeatable.
    #[arg(long = "grant-dir")]
    grant_dirs: Vec<PathBuf>,
    /// Deadline of one collection (default 10s), e.g. `500ms`, `30s`.
    #[arg(long, value_parser = humantime::parse_duration)]
    deadline: Option<Duration>,
    /// Memory limit of one collection in MiB (default 64).
    #[arg(long)]
    memory_mib: Option<u64>,
    /// Limit on the returned text and details in KiB (default 1024).
    #[arg(long)]
    output_kib: Option<u64>,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("label {s:?} is not key=value"))?;
    Ok((k.to_string(), v.to_string()))
}

fn parse_since(s: &str) -> Result<DateTime<Utc>> {
    if let Ok(d) = humantime::parse_duration(s) {
        let d = chrono::Duration::from_std(d).context("duration too large")?;
        return Ok(Utc::now() - d);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| {
            format!("--since {s:?} is neither a duration (30m, 7d) nor an RFC 3339 time")
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
    let home = Home::new(cli.home);
    let engine =
        Engine::open(&home).with_context(|| format!("opening smm home {}", home.root.display()))?;
    match cli.command {
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
        Command::Measure(MeasureCmd::List) => {
            output::measures(&engine.measures()?);
        }
        Command::Measure(MeasureCmd::Show { measure }) => {
            let reference: MeasureRef = measure.parse()?;
            output::measure(&engine.catalogue().resolve(&reference)?);
        }
        Command::Instance(InstanceCmd::Create(args)) => {
            let mut grants = Vec::new();
            for dir in &args.grant_dirs {
                grants.push(
                    std::fs::canonicalize(dir)
                        .with_context(|| format!("--grant-dir {}", dir.display()))?,
                );
            }
            let mut labels = BTreeMap::new();
            for (k, v) in args.labels {
                labels.insert(k, v);
            }
            let spec = InstanceSpec {
                name: args.name,
                measure: args.measure,
                config: read_config(&args.config)?,
                labels,
                schedule: args.schedule,
                grants,
                limits: LimitOverrides {
                    deadline_ms: args.deadline.map(|d| d.as_millis() as u64),
                    memory_bytes: args.memory_mib.map(|m| m << 20),
                    output_bytes: args.output_kib.map(|k| k << 10),
                },
            };
            let instance = engine.create_instance(spec)?;
            println!(
                "created instance {} of {}",
                instance.name,
                instance.measure_ref()
            );
        }
        Command::Instance(InstanceCmd::List) => {
            output::instances(&engine.instances()?);
        }
        Command::Run { instance, json } => {
            let m = engine.run(&instance).await?;
            if json {
                println!("{}", serde_json::to_string(&m)?);
            } else {
                output::measurements(std::slice::from_ref(&m));
            }
            if let Some(error) = &m.error {
                bail!("instance {instance}: the measurement failed: {error}");
            }
        }
        Command::Query {
            instance,
            since,
            limit,
            json,
        } => {
            engine.catalogue().instance(&instance)?;
            let query = Query {
                instance: Some(instance),
                since: since.as_deref().map(parse_since).transpose()?,
                limit,
            };
            let rows = engine.query(&query)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                output::measurements(&rows);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
