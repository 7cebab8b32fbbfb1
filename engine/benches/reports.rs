//! Report parsing inside the sandbox against the same reader compiled
//! natively, in one run, on large real-shaped reports:
//!
//! - a Trivy JSON report (schema 2) and a Grype JSON report of about 50 MB,
//!   made by repeating the vulnerabilities of the real reports in
//!   `../shared/fixtures/` (each copy with its own id and package, so the
//!   per-package tallies and the findings grow as in a real large image);
//!   where the fixtures are absent, one entry shaped like them is used;
//! - **native**: what the measure does, compiled natively:
//!   `smm_reports::{trivy,grype}::read` over the file, then its details
//!   with the findings list as the JSON string a measure returns;
//! - **sandboxed**: `Engine::run` of a `trivy-vulnerabilities` /
//!   `grype-vulnerabilities` instance granted the file's directory, with
//!   the default limits (64 MiB of memory, 10 s): the component reads the
//!   file through WASI, the engine checks the output, stores the
//!   measurement and tracks the findings' lifecycle (all of them new in
//!   the first run, all unchanged in the next two).
//!
//! - **sandboxed collect**: the component alone in the engine's sandbox
//!   (`Sandbox::collect`, default limits, output checked): the parsing
//!   throughput inside the sandbox.
//!
//! Each side runs 3 times, alternating; the best of each is kept (target:
//! the sandboxed collect within 2× of native). The sandboxed value must equal the
//! native one, else the bench fails.
//!
//! `cargo bench -p smm-engine --bench reports`; without `--bench` (as
//! under `cargo test --benches`) it runs on 2 MB reports and checks only
//! that both sides agree.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use smm_catalogue::InstanceSpec;
use smm_engine::sandbox::{Limits, sha256_hex};
use smm_engine::{Engine, Home};

struct Report {
    measure: &'static str,
    fixture: &'static str,
    /// Write a report of about `bytes` from `entries` (the fixture's).
    write: fn(&Path, &[Value], usize),
    /// The entries of a real report, and one shaped like them.
    entries: fn(&Value) -> Vec<Value>,
    sample: fn() -> Value,
    native: fn(&Path) -> f64,
}

const REPORTS: &[Report] = &[
    Report {
        measure: "trivy-vulnerabilities",
        fixture: "trivy/trivy_scheme_2_many_vulns.json",
        write: write_trivy,
        entries: |doc| {
            doc["Results"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|r| r["Vulnerabilities"].as_array().cloned().unwrap_or_default())
                .collect()
        },
        sample: || {
            json!({"VulnerabilityID": "CVE-2020-15999", "PkgName": "freetype",
                "InstalledVersion": "2.9.1-r2", "FixedVersion": "2.9.1-r3",
                "Layer": {"Digest": "sha256:c191915691a422a1b0230c9010165ff655204a9fd95e3b43151132bcb237826b"},
                "SeveritySource": "nvd", "PrimaryURL": "https://avd.aquasec.com/nvd/cve-2020-15999",
                "Title": "freetype: Heap-based buffer overflow due to integer truncation in Load_SBit_Png",
                "Description": "Heap buffer overflow in Freetype in Google Chrome prior to 86.0.4240.111 allowed a remote attacker to potentially exploit heap corruption via a crafted HTML page.",
                "Severity": "MEDIUM", "CweIDs": ["CWE-787"],
                "CVSS": {"nvd": {"V2Vector": "AV:N/AC:M/Au:N/C:P/I:P/A:P", "V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", "V2Score": 6.8, "V3Score": 8.8}},
                "References": ["http://lists.opensuse.org/opensuse-security-announce/2020-10/msg00016.html"],
                "PublishedDate": "2020-11-03T03:15:00Z", "LastModifiedDate": "2021-01-14T20:15:00Z"})
        },
        native: |path| {
            let summary = smm_reports::trivy::read(std::fs::File::open(path).unwrap()).unwrap();
            returned(&summary);
            smm_reports::Report::value(&summary)
        },
    },
    Report {
        measure: "grype-vulnerabilities",
        fixture: "grype/grype_check_all_fields.json",
        write: write_grype,
        entries: |doc| doc["matches"].as_array().cloned().unwrap_or_default(),
        sample: || {
            json!({"vulnerability": {"id": "GHSA-v6rh-hp5x-86rv", "dataSource": "https://github.com/advisories/GHSA-v6rh-hp5x-86rv",
                "namespace": "github:python", "severity": "High", "urls": ["https://github.com/advisories/GHSA-v6rh-hp5x-86rv"],
                "description": "Potential bypass of an upstream access control based on URL paths in Django",
                "cvss": [], "fix": {"versions": ["3.2.10"], "state": "fixed"}, "advisories": []},
                "relatedVulnerabilities": [{"id": "CVE-2021-44420", "dataSource": "https://nvd.nist.gov/vuln/detail/CVE-2021-44420",
                "namespace": "nvd", "severity": "High", "urls": [], "description": "In Django 2.2 before 2.2.25, 3.1 before 3.1.14, and 3.2 before 3.2.10, HTTP requests for URLs with trailing newlines could bypass upstream access control based on URL paths."}],
                "matchDetails": [{"type": "exact-direct-match", "matcher": "python-matcher", "searchedBy": {"language": "python", "namespace": "github:python"}, "found": {"versionConstraint": ">=3.2,<3.2.10 (python)"}}],
                "artifact": {"name": "Django", "version": "3.2.9", "type": "python", "locations": [{"path": "/usr/local/lib/python3.8/site-packages/Django-3.2.9.dist-info/METADATA"}], "language": "python", "licenses": [], "cpes": [], "purl": "pkg:pypi/Django@3.2.9", "metadata": null}})
        },
        native: |path| {
            let summary = smm_reports::grype::read(std::fs::File::open(path).unwrap()).unwrap();
            returned(&summary);
            smm_reports::Report::value(&summary)
        },
    },
];

/// What the measure returns to the host, made natively: its details with
/// the findings, as a JSON string.
fn returned(summary: &impl smm_reports::Report) -> usize {
    std::hint::black_box(summary.details_json().unwrap()).len()
}

/// `entry` made distinct for copy `n` (its id and package name).
fn distinct(entry: &Value, n: usize, id: &str, package: &str) -> Value {
    let mut e = entry.clone();
    if let Some(v) = e.pointer_mut(id) {
        *v = Value::String(format!("{}-{n}", v.as_str().unwrap_or("CVE")));
    }
    if let Some(v) = e.pointer_mut(package) {
        *v = Value::String(format!("{}-{}", v.as_str().unwrap_or("pkg"), n % 5000));
    }
    e
}

/// Write `["prefix", entries..., "suffix"]` until the file holds `bytes`.
fn write_repeated(
    path: &Path,
    head: &str,
    tail: &str,
    bytes: usize,
    next: impl Fn(usize) -> Value,
) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(head.as_bytes()).unwrap();
    let (mut written, mut n) = (head.len(), 0);
    while written < bytes {
        let text = serde_json::to_string(&next(n)).unwrap();
        if n > 0 {
            out.write_all(b",").unwrap();
        }
        out.write_all(text.as_bytes()).unwrap();
        written += text.len() + 1;
        n += 1;
    }
    out.write_all(tail.as_bytes()).unwrap();
}

fn write_trivy(path: &Path, entries: &[Value], bytes: usize) {
    write_repeated(
        path,
        r#"{"SchemaVersion": 2, "ArtifactName": "bench:latest", "ArtifactType": "container_image", "Results": [{"Target": "bench:latest (alpine 3.12.0)", "Class": "os-pkgs", "Type": "alpine", "Vulnerabilities": ["#,
        "]}]}",
        bytes,
        |n| {
            distinct(
                &entries[n % entries.len()],
                n,
                "/VulnerabilityID",
                "/PkgName",
            )
        },
    );
}

fn write_grype(path: &Path, entries: &[Value], bytes: usize) {
    write_repeated(
        path,
        r#"{"matches": ["#,
        r#"], "source": {"type": "image", "target": {"userInput": "bench:latest"}}, "distro": {"name": "debian", "version": "11"}, "descriptor": {"name": "grype", "version": "0.28.0"}}"#,
        bytes,
        |n| {
            distinct(
                &entries[n % entries.len()],
                n,
                "/vulnerability/id",
                "/artifact/name",
            )
        },
    );
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let bytes = if quick { 2 << 20 } else { 50 << 20 };
    println!(
        "machine: {} cores, {} build, {} mode",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        if quick {
            "quick (2 MB reports, pass --bench for 50 MB)"
        } else {
            "full"
        },
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let reports = tempfile::tempdir().unwrap();
    let grant = reports.path().canonicalize().unwrap();
    let engine = Engine::open(&Home::new(home.path())).unwrap();
    println!(
        "{:<24} {:>6} {:>9} {:>12} {:>7} {:>12} {:>7}",
        "report", "MB", "native", "sbx collect", "ratio", "engine run", "ratio"
    );
    for report in REPORTS {
        let entries = match smm_tests::shared_fixture(report.fixture) {
            Some(path) => {
                (report.entries)(&serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
            }
            None => {
                eprintln!(
                    "../shared/fixtures/{} is absent: one built-in entry repeated",
                    report.fixture
                );
                vec![(report.sample)()]
            }
        };
        let entries = if entries.is_empty() {
            vec![(report.sample)()]
        } else {
            entries
        };
        let path: PathBuf = grant.join(format!("{}.json", report.measure));
        (report.write)(&path, &entries, bytes);
        let size = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;
        rt.block_on(async {
            engine
                .register_file(&smm_tests::component(report.measure))
                .await
                .unwrap();
        });
        let config = json!({ "path": path });
        engine
            .create_instance(InstanceSpec {
                grants: vec![grant.clone()],
                ..InstanceSpec::new(report.measure, report.measure, config)
            })
            .unwrap();
        let wasm = std::fs::read(smm_tests::component(report.measure)).unwrap();
        let prepared = rt
            .block_on(engine.sandbox().unwrap().prepare(&sha256_hex(&wasm), &wasm))
            .unwrap();
        let config_text = json!({ "path": path }).to_string();
        let grants = vec![grant.clone()];
        let (mut native, mut collected, mut run) = (Duration::MAX, Duration::MAX, Duration::MAX);
        for _ in 0..3 {
            let started = Instant::now();
            let want = (report.native)(&path);
            native = native.min(started.elapsed());
            // The measure's work alone: read, parse, return; output checked.
            let started = Instant::now();
            let c = rt
                .block_on(engine.sandbox().unwrap().collect(
                    &prepared,
                    &config_text,
                    &smm_engine::sandbox::Access::dirs(&grants),
                    &Limits::default(),
                ))
                .unwrap();
            collected = collected.min(started.elapsed());
            assert_eq!(
                c.value,
                Some(want),
                "{}: collect and native disagree",
                report.measure
            );
            // And the engine's: stored, findings tracked.
            let started = Instant::now();
            let m = rt.block_on(engine.run(report.measure)).unwrap();
            run = run.min(started.elapsed());
            assert!(m.error.is_none(), "{}: {:?}", report.measure, m.error);
            assert_eq!(
                m.value,
                Some(want),
                "{}: sandboxed and native disagree",
                report.measure
            );
        }
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let x = |d: Duration| d.as_secs_f64() / native.as_secs_f64();
        println!(
            "{:<24} {:>6.1} {:>7.0}ms {:>10.0}ms {:>6.2}x {:>10.0}ms {:>6.2}x",
            report.measure,
            size,
            ms(native),
            ms(collected),
            x(collected),
            ms(run),
            x(run),
        );
    }
}
