//! Human-readable output of the `smm` command line.

use smm_catalogue::{Instance, MeasureRecord};
use smm_engine::Measurement;
use smm_engine::scheduler::InstanceState;

pub fn measures(records: &[MeasureRecord]) {
    if records.is_empty() {
        println!("no measure registered (smm measure register <file.wasm>)");
        return;
    }
    println!(
        "{:<28} {:<10} {:<9} {:<10} NAME",
        "MEASURE", "KIND", "SCALE", "UNIT"
    );
    for r in records {
        let m = &r.metadata;
        println!(
            "{:<28} {:<10} {:<9} {:<10} {}",
            r.reference(),
            m.kind.as_str(),
            m.scale.as_str(),
            m.unit,
            m.name
        );
    }
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
    println!("measure:     {}", r.reference());
    println!("name:        {}", m.name);
    println!("description: {}", m.description);
    println!("kind:        {}", m.kind.as_str());
    println!("scale:       {}", m.scale.as_str());
    println!("unit:        {}", m.unit);
    println!("output:      {}", m.output);
    println!("computed by: {implementation}");
    println!("registered:  {}", r.registered_at.to_rfc3339());
    println!("config schema:");
    println!(
        "{}",
        serde_json::to_string_pretty(&m.config_schema).unwrap_or_default()
    );
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
    println!(
        "{:<28} {:<24} {:<16} {:<7} {:<20} {:<6} {:<4} {:<20} LABELS",
        "INSTANCE", "MEASURE", "SCHEDULE", "STATE", "LAST RUN", "STATUS", "FAIL", "NEXT FIRE"
    );
    for i in list {
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
        println!(
            "{:<28} {:<24} {:<16} {:<7} {:<20} {:<6} {:<4} {:<20} {}",
            i.name,
            i.measure_ref(),
            i.schedule.as_deref().unwrap_or("-"),
            active,
            time(state.and_then(|s| s.last_run)),
            state
                .and_then(|s| s.last_status)
                .map_or("-", |s| s.as_str()),
            state.map_or(0, |s| s.consecutive_failures),
            next,
            labels.join(",")
        );
    }
}

pub fn measurements(rows: &[Measurement]) {
    if rows.is_empty() {
        println!("no measurement");
        return;
    }
    for m in rows {
        println!(
            "{}  {:<20} {:<24} {}",
            m.timestamp
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            m.instance,
            m.measure,
            m.display_value()
        );
        if let Some(d) = &m.details {
            println!("    details: {d}");
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
        println!("{v}");
        return Ok(());
    }
    match health {
        Ok(version) => println!("cluster:        Elasticsearch {version}, templates installed"),
        Err(e) => println!("cluster:        {e}"),
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
        Some(e) => println!("last error:     {} at {}", e, time(status.last_error_at)),
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
            println!("{v}");
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
            d.reason
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
        println!("{verb} {} {:?} ({})", o.kind, o.title, o.id);
    }
    for f in &report.failures {
        println!("NOT imported {} {}: {}", f.kind, f.id, f.error);
    }
}
