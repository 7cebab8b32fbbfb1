//! Human-readable output of the `smm` command line.

use smm_catalogue::{Instance, MeasureRecord};
use smm_engine::Measurement;

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
    let smm_catalogue::Implementation::Wasm { sha256 } = &r.implementation;
    println!("measure:     {}", r.reference());
    println!("name:        {}", m.name);
    println!("description: {}", m.description);
    println!("kind:        {}", m.kind.as_str());
    println!("scale:       {}", m.scale.as_str());
    println!("unit:        {}", m.unit);
    println!("output:      {}", m.output);
    println!("component:   sha256:{sha256}");
    println!("registered:  {}", r.registered_at.to_rfc3339());
    println!("config schema:");
    println!(
        "{}",
        serde_json::to_string_pretty(&m.config_schema).unwrap_or_default()
    );
}

pub fn instances(list: &[Instance]) {
    if list.is_empty() {
        println!("no instance (smm instance create <name> --measure <id> --config <json>)");
        return;
    }
    println!(
        "{:<24} {:<28} {:<18} LABELS",
        "INSTANCE", "MEASURE", "SCHEDULE"
    );
    for i in list {
        let labels: Vec<String> = i.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "{:<24} {:<28} {:<18} {}",
            i.name,
            i.measure_ref(),
            i.schedule.as_deref().unwrap_or("-"),
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
