//! Human-readable output of the `smm` command line.
//!
//! Invariant: every string a plugin (or a user) controls is printed through
//! [`text::escape`] (or, for JSON, [`json`]): control characters and
//! bidirectional formatting characters are shown as `\u{..}`, never sent
//! to the terminal. Tables size their columns to their content.

use smm_catalogue::text;
use smm_catalogue::{Instance, MeasureRecord};
use smm_engine::Measurement;
use smm_engine::scheduler::InstanceState;

/// A JSON value as one line, safe to print (the same JSON value).
pub fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(text::escape_json(&serde_json::to_string(value)?).into_owned())
}

/// Print `rows` under `headers`, each column as wide as its widest cell
/// (the last column unpadded); cells are escaped.
fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| r.iter().map(|c| text::escape(c).into_owned()).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        println!("{}", out.trim_end());
    };
    line(headers.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}

pub fn measures(records: &[MeasureRecord]) {
    if records.is_empty() {
        println!("no measure registered (smm measure register <file.wasm>)");
        return;
    }
    table(
        &["MEASURE", "KIND", "SCALE", "UNIT", "NAME"],
        records
            .iter()
            .map(|r| {
                let m = &r.metadata;
                vec![
                    r.reference(),
                    r.smm_kind().to_string(),
                    m.scale.as_str().to_string(),
                    m.unit.clone(),
                    m.name.clone(),
                ]
            })
            .collect(),
    );
}

pub fn measure(r: &MeasureRecord) {
    let m = &r.metadata;
    let implementation = match &r.implementation {
        smm_catalogue::Implementation::Wasm { sha256 } => format!("component sha256:{sha256}"),
        smm_catalogue::Implementation::Derived { definition } => format!(
            "derived: {}",
            serde_json::to_string(definition).unwrap_or_default()
        ),
    };
    let e = |s: &str| text::escape(s).into_owned();
    println!("measure:     {}", r.reference());
    println!("name:        {}", e(&m.name));
    // The description may span lines; each is escaped.
    for (i, line) in m.description.lines().enumerate() {
        let label = if i == 0 { "description:" } else { "" };
        println!("{label:<12} {}", e(line));
    }
    println!("kind:        {}", r.smm_kind());
    println!("scale:       {}", m.scale.as_str());
    println!("unit:        {}", e(&m.unit));
    println!("output:      {}", e(&m.output));
    println!("computed by: {}", e(&implementation));
    println!("registered:  {}", r.registered_at.to_rfc3339());
    println!("config schema:");
    let schema = serde_json::to_string_pretty(&m.config_schema).unwrap_or_default();
    println!("{}", text::escape_json(&schema));
}

pub fn instances(list: &[Instance], states: &[InstanceState]) {
    if list.is_empty() {
        println!("no instance (smm instance create <name> --measure <id> --config <json>)");
        return;
    }
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or("-".to_string(), |t| {
            t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        })
    };
    let rows = list
        .iter()
        .map(|i| {
            let labels: Vec<String> = i.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let state = states.iter().find(|s| s.instance == i.name);
            let active = match (&i.schedule, i.paused) {
                (None, _) => "manual",
                (Some(_), true) => "paused",
                (Some(_), false) => "active",
            };
            let next = if i.paused {
                "-".to_string()
            } else {
                time(state.and_then(|s| s.next_fire))
            };
            vec![
                i.name.clone(),
                i.measure_ref(),
                i.schedule.clone().unwrap_or_else(|| "-".into()),
                active.to_string(),
                time(state.and_then(|s| s.last_run)),
                state
                    .and_then(|s| s.last_status)
                    .map_or("-", |s| s.as_str())
                    .to_string(),
                state.map_or(0, |s| s.consecutive_failures).to_string(),
                next,
                labels.join(","),
            ]
        })
        .collect();
    table(
        &[
            "INSTANCE",
            "MEASURE",
            "SCHEDULE",
            "STATE",
            "LAST RUN",
            "STATUS",
            "FAIL",
            "NEXT FIRE",
            "LABELS",
        ],
        rows,
    );
}

/// One instance and what `smm instance show` tells about it.
pub struct Shown<'a> {
    pub instance: &'a Instance,
    /// The configuration schema of its measure version (secret fields).
    pub schema: &'a serde_json::Value,
    /// What updates replaced, oldest first, each with its measure
    /// version's configuration schema.
    pub history: &'a [(smm_catalogue::InstanceRevision, serde_json::Value)],
    pub state: Option<&'a InstanceState>,
    pub last: Option<&'a Measurement>,
}

/// One instance in full (`smm instance show`); secret configuration
/// fields are masked, in its history too.
pub fn instance(shown: &Shown<'_>, as_json: bool) -> anyhow::Result<()> {
    let i = shown.instance;
    let (state, last) = (shown.state, shown.last);
    let masked = |i: &Instance, schema: &serde_json::Value| {
        let mut i = i.clone();
        i.config = smm_catalogue::secrets::masked(schema, &i.config);
        i
    };
    let limits = smm_engine::sandbox::Limits::default().with_overrides(&i.limits);
    let last_error = last.and_then(|m| m.error.clone());
    if as_json {
        let mut v = serde_json::to_value(masked(i, shown.schema))?;
        v["effective_limits"] = serde_json::json!({
            "deadline_ms": limits.deadline.as_millis() as u64,
            "memory_bytes": limits.memory_bytes,
            "output_bytes": limits.output_bytes,
            "http_requests": limits.http_requests,
            "http_bytes": limits.http_bytes,
        });
        v["state"] = serde_json::to_value(state)?;
        v["last_error"] = last_error.into();
        v["history"] = shown
            .history
            .iter()
            .map(|(r, schema)| {
                Ok(serde_json::json!({
                    "replaced_at": r.replaced_at,
                    "instance": serde_json::to_value(masked(&r.instance, schema))?,
                }))
            })
            .collect::<anyhow::Result<Vec<_>>>()?
            .into();
        println!("{}", json(&v)?);
        return Ok(());
    }
    let i = &masked(i, shown.schema);
    let time =
        |t: Option<chrono::DateTime<chrono::Utc>>| t.map_or("-".to_string(), |t| t.to_rfc3339());
    let e = |s: &str| text::escape(s).into_owned();
    println!("instance:   {}", e(&i.name));
    println!("measure:    {}", i.measure_ref());
    println!(
        "labels:     {}",
        e(&i.labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "))
    );
    println!(
        "schedule:   {}{}{}",
        e(i.schedule.as_deref().unwrap_or("- (run by hand)")),
        i.timezone
            .as_deref()
            .map_or(String::new(), |z| format!(" ({})", e(z))),
        if i.paused { ", paused" } else { "" }
    );
    println!("catch-up:   {:?}", i.catch_up);
    for (n, g) in i.grants.iter().enumerate() {
        let label = if n == 0 { "grants:" } else { "" };
        println!("{label:<11} {} (read-only)", e(&g.display().to_string()));
    }
    if i.grants.is_empty() {
        println!("grants:     -");
    }
    for (n, h) in i.hosts.iter().enumerate() {
        let label = if n == 0 { "hosts:" } else { "" };
        let private = if h.private {
            " (private addresses too)"
        } else {
            ""
        };
        println!("{label:<11} {}{private}", e(&h.to_string()));
    }
    // The reference only: the value is read by the engine at each run.
    for (n, s) in i.secrets.iter().enumerate() {
        let label = if n == 0 { "secrets:" } else { "" };
        println!(
            "{label:<11} {} ({}), sent to {} as Authorization",
            e(&s.name),
            e(&s.source.to_string()),
            e(&s.host)
        );
    }
    println!(
        "limits:     deadline {:?}, memory {} MiB, output {} KiB",
        limits.deadline,
        limits.memory_bytes >> 20,
        limits.output_bytes >> 10
    );
    if !i.hosts.is_empty() {
        println!(
            "            HTTP: {} requests, {} MiB of responses per collection",
            limits.http_requests,
            limits.http_bytes >> 20
        );
    }
    println!("created:    {}", i.created_at.to_rfc3339());
    match shown.history.last().map(|(r, _)| r) {
        Some(r) => println!(
            "updated:    {} ({} earlier revisions, in --json)",
            r.replaced_at.to_rfc3339(),
            shown.history.len()
        ),
        None => println!("updated:    never"),
    }
    if let Some(s) = state {
        println!(
            "last run:   {} ({}), {} consecutive failures, {} skipped fire times",
            time(s.last_run),
            s.last_status.map_or("-", |st| st.as_str()),
            s.consecutive_failures,
            s.skipped_runs
        );
        println!("next fire:  {}", time(s.next_fire));
    }
    println!("last error: {}", e(last_error.as_deref().unwrap_or("-")));
    println!("config:");
    println!(
        "{}",
        text::escape_json(&serde_json::to_string_pretty(&i.config)?)
    );
    Ok(())
}

pub fn measurements(rows: &[Measurement]) {
    if rows.is_empty() {
        println!("no measurement");
        return;
    }
    let width = |f: fn(&Measurement) -> usize| rows.iter().map(f).max().unwrap_or(0);
    let (wi, wm) = (
        width(|m| text::escape(&m.instance).chars().count()),
        width(|m| m.measure.chars().count()),
    );
    for m in rows {
        println!(
            "{}  {:<wi$}  {:<wm$}  {}",
            m.timestamp
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            text::escape(&m.instance),
            m.measure,
            text::escape(&m.display_value()),
        );
        if let Some(d) = &m.details {
            println!("    details: {}", text::escape_json(&d.to_string()));
        }
    }
}

pub fn setup(action: &smm_engine::store::elasticsearch::Setup) -> String {
    use smm_engine::store::elasticsearch::Setup;
    match action {
        Setup::Created => "created".into(),
        Setup::Updated { from } => format!("updated (was version {from})"),
        Setup::Unchanged => "unchanged".into(),
    }
}

pub fn es_status(
    data_stream: &str,
    health: &Result<String, smm_catalogue::StoreError>,
    status: &smm_engine::store::elasticsearch::DeliveryStatus,
    json: bool,
) -> anyhow::Result<()> {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or("-".to_string(), |t| {
            t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        })
    };
    if json {
        let mut v = serde_json::to_value(status)?;
        v["data_stream"] = data_stream.into();
        match health {
            Ok(version) => v["cluster_version"] = version.clone().into(),
            Err(e) => v["cluster_error"] = e.to_string().into(),
        }
        println!("{}", text::escape_json(&v.to_string()));
        return Ok(());
    }
    match health {
        Ok(version) => println!("cluster:        Elasticsearch {version}, templates installed"),
        Err(e) => println!("cluster:        {}", text::escape(&e.to_string())),
    }
    println!("data stream:    {data_stream}");
    println!("spool backlog:  {} measurements", status.backlog);
    println!("dead letters:   {}", status.dead_letters);
    println!(
        "delivered:      {} in all, {:.1}/s over the last 5 minutes, last at {}",
        status.delivered_total,
        status.delivery_rate,
        time(status.last_delivery)
    );
    match &status.last_error {
        Some(e) => println!(
            "last error:     {} at {}",
            text::escape(e),
            time(status.last_error_at)
        ),
        None => println!("last error:     -"),
    }
    Ok(())
}

pub fn dead_letters(
    list: &[smm_engine::store::elasticsearch::DeadLetter],
    json: bool,
) -> anyhow::Result<()> {
    if json {
        for d in list {
            let mut v = serde_json::to_value(d)?;
            v["document"] = serde_json::from_slice(&d.doc).unwrap_or(serde_json::Value::Null);
            println!("{}", text::escape_json(&v.to_string()));
        }
        return Ok(());
    }
    if list.is_empty() {
        println!("no dead letter");
        return Ok(());
    }
    for d in list {
        println!(
            "{}  {}  {}  {}",
            d.at.format("%Y-%m-%dT%H:%M:%SZ"),
            d.id,
            d.status,
            text::escape(&d.reason)
        );
    }
    Ok(())
}

pub fn kibana_report(report: &smm_engine::kibana::ImportReport) {
    for o in &report.imported {
        let verb = if o.overwritten {
            "overwrote"
        } else {
            "created"
        };
        println!(
            "{verb} {} \"{}\" ({})",
            text::escape(&o.kind),
            text::escape(&o.title),
            text::escape(&o.id)
        );
    }
    for f in &report.failures {
        println!(
            "NOT imported {} {}: {}",
            text::escape(&f.kind),
            text::escape(&f.id),
            text::escape(&f.error)
        );
    }
}

/// What the lifecycle made of a scan (`smm run`).
pub fn tracked(t: &smm_engine::lifecycle::Tracked) {
    if t.ignored {
        println!("    findings: an older scan than the last one tracked: lifecycle unchanged");
    } else {
        println!(
            "    findings: {} open ({} new, {} reopened), {} fixed since the last scan",
            t.open, t.new, t.reopened, t.fixed
        );
    }
}

/// Periods of findings (`smm findings`).
pub fn findings(periods: &[smm_engine::lifecycle::Period]) {
    if periods.is_empty() {
        println!("no finding tracked (scanning measures list their findings when they run)");
        return;
    }
    let now = chrono::Utc::now();
    let time = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let rows = periods
        .iter()
        .map(|p| {
            let end = p.fixed_at.unwrap_or(now);
            let age = humantime::format_duration(std::time::Duration::from_secs(
                (end - p.opened_at).num_seconds().max(0) as u64,
            ))
            .to_string();
            vec![
                p.instance.clone(),
                p.fingerprint.clone(),
                p.severity.clone(),
                if p.fixed_at.is_some() {
                    "fixed"
                } else {
                    "open"
                }
                .to_string(),
                time(p.first_seen),
                if p.reopened {
                    time(p.opened_at)
                } else {
                    "-".into()
                },
                p.fixed_at.map_or("-".into(), time),
                age,
            ]
        })
        .collect();
    table(
        &[
            "INSTANCE",
            "FINGERPRINT",
            "SEVERITY",
            "STATE",
            "FIRST SEEN",
            "REOPENED",
            "FIXED",
            "OPEN FOR",
        ],
        rows,
    );
}
