//! The `smm` binary with its measurements in Elasticsearch (the in-process
//! stand-in, strict on the wire) and its dashboards in Kibana (the
//! in-process import API stand-in): `smm.toml` selects the backend, every
//! command works against it, an outage is spooled and delivered, the
//! password never shows.

use std::time::{Duration, Instant};

use serde_json::Value;
use smm_tests::elasticsearch::{EsConfig, EsServer};
use smm_tests::kibana::{KibanaAuth, KibanaConfig, KibanaServer};
use smm_tests::{Smm, component, workspace};

const DS: &str = "metrics-smm.measurements-default";
const PASSWORD: &str = "pw-Zq8-never-printed";

/// The saved objects smm ships (the export's last line is its summary).
fn shipped_objects() -> usize {
    smm_engine::kibana::SAVED_OBJECTS
        .lines()
        .filter(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v.get("id").is_some()))
        .count()
}

fn no_password(out: &std::process::Output) {
    for stream in [&out.stdout, &out.stderr] {
        assert!(
            !String::from_utf8_lossy(stream).contains(PASSWORD),
            "the password was printed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_works_against_elasticsearch_and_kibana() {
    let es = EsServer::start(EsConfig::default().basic_auth("elastic", PASSWORD))
        .await
        .unwrap();
    // SAFETY: set before any thread of this test reads the environment;
    // the smm processes inherit it.
    unsafe { std::env::set_var("SMM_TEST_ES_PASSWORD", PASSWORD) };
    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    std::fs::write(
        smm.home.path().join("smm.toml"),
        format!(
            "store = \"elasticsearch\"\n[elasticsearch]\nurls = [\"{}\"]\nretry_for = \"500ms\"\n[elasticsearch.auth]\nbasic = {{ username = \"elastic\", password = \"env:SMM_TEST_ES_PASSWORD\" }}\n",
            es.url()
        ),
    )
    .unwrap();
    let check = |args: &[&str]| {
        let out = smm.run(args);
        no_password(&out);
        assert!(
            out.status.success(),
            "smm {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };

    // serve refuses a cluster without our templates, saying what to do.
    let out = smm.run(&["serve"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("smm es setup"));

    let setup = check(&["es", "setup"]);
    assert_eq!(setup.matches(": created").count(), 5, "{setup}");
    let again = check(&["es", "setup"]);
    assert_eq!(again.matches(": unchanged").count(), 5, "{again}");

    // A direct measure, and a derived grade read back from Elasticsearch.
    let sarif = component("sarif-findings");
    let samples = workspace().join("measures/samples");
    check(&[
        "measure",
        "register",
        sarif.to_str().unwrap(),
        workspace()
            .join("measures/derived/sast-grade.toml")
            .to_str()
            .unwrap(),
    ]);
    check(&[
        "instance",
        "create",
        "sast",
        "--measure",
        "sarif-findings",
        "--config",
        &format!(r#"{{"path":"{}/flawfinder.sarif"}}"#, samples.display()),
        "--grant-dir",
        samples.to_str().unwrap(),
        "--label",
        "service=legacy-billing",
        "--schedule",
        "* * * * * *",
    ]);
    check(&[
        "instance",
        "create",
        "grade",
        "--measure",
        "sast-grade",
        "--label",
        "service=legacy-billing",
    ]);
    let run: Value =
        serde_json::from_str(check(&["run", "sast", "--json"]).lines().next().unwrap()).unwrap();
    let docs = es.documents(DS);
    let sast = docs
        .iter()
        .find(|d| d.source["measurement"]["instance"] == "sast")
        .expect("the measurement is in Elasticsearch");
    assert_eq!(
        sast.id,
        run["id"].as_str().unwrap(),
        "the measurement id is the _id"
    );
    assert_eq!(sast.source["measurement"]["value"], run["value"]);
    assert_eq!(sast.source["service"]["name"], "legacy-billing");
    let grade = docs
        .iter()
        .find(|d| d.source["measurement"]["instance"] == "grade")
        .expect("the derived grade was computed from Elasticsearch and stored there");
    assert!(
        grade.source["measurement"]["text"].is_string(),
        "{}",
        grade.source
    );
    let query = check(&["query", "grade", "--json"]);
    assert!(
        query.contains(grade.id.as_str()),
        "smm query reads Elasticsearch: {query}"
    );
    let backfill = check(&["derive", "grade", "--since", "1h"]);
    assert!(backfill.contains("0 new measurements"), "{backfill}");

    // An outage: the run is acknowledged as spooled, and delivered later;
    // the derived grade over it is computed when it is delivered.
    let grades = |es: &EsServer| {
        es.documents(DS)
            .iter()
            .filter(|d| d.source["measurement"]["instance"] == "grade")
            .count()
    };
    let grades_before = grades(&es);
    es.stop().await;
    let out = smm.run(&["run", "sast"]);
    no_password(&out);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("spool"));
    let status = check(&["es", "status"]);
    assert!(status.contains("spool backlog:  1 "), "{status}");
    es.restart().await.unwrap();
    let flushed = check(&["es", "flush"]);
    assert!(flushed.starts_with("1 measurements delivered"), "{flushed}");
    assert_eq!(
        grades(&es),
        grades_before + 1,
        "the grade over the late input"
    );
    let status: Value = serde_json::from_str(&check(&["es", "status", "--json"])).unwrap();
    assert_eq!(status["backlog"], 0, "{status}");
    assert!(status["cluster_version"].is_string(), "{status}");
    let sast_docs = |es: &EsServer| {
        es.documents(DS)
            .iter()
            .filter(|d| d.source["measurement"]["instance"] == "sast")
            .count()
    };
    assert_eq!(sast_docs(&es), 2);

    // Killed mid-delivery: the cluster has the spooled batch but smm dies
    // before it hears so; the spool still holds it, and delivering it again
    // meets 409s: nothing is lost, nothing doubled.
    es.stop().await;
    for _ in 0..3 {
        assert!(smm.run(&["run", "sast"]).status.success());
    }
    es.restart().await.unwrap();
    // Every answer comes late (after the work is done): the template check
    // and the lookup by id pass, the bulk is processed, and smm is killed
    // while waiting for its answer.
    es.set_latency(Duration::from_secs(4));
    let mut flush = smm.spawn(&["es", "flush"]);
    let started = Instant::now();
    while sast_docs(&es) < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the flush never reached the cluster"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    flush.kill().unwrap(); // SIGKILL, before the answer arrives
    flush.wait().unwrap();
    es.set_latency(Duration::ZERO);
    let status: Value = serde_json::from_str(&check(&["es", "status", "--json"])).unwrap();
    assert_eq!(
        status["backlog"], 3,
        "still spooled after the kill: {status}"
    );
    check(&["es", "flush"]);
    let status: Value = serde_json::from_str(&check(&["es", "status", "--json"])).unwrap();
    assert_eq!(status["backlog"], 0, "{status}");
    assert_eq!(sast_docs(&es), 5, "delivered once");

    // Queries filter by measure, labels and time, in Elasticsearch.
    let by_label = check(&[
        "query",
        "--measure",
        "sarif-findings",
        "--label",
        "service=legacy-billing",
        "--until",
        "0s",
        "--json",
    ]);
    let rows = smm_tests::parse_json_lines(&by_label);
    assert_eq!(rows.as_array().unwrap().len(), 5, "{by_label}");
    let none = check(&["query", "--label", "service=nothing", "--json"]);
    assert_eq!(none, "", "no record, no line");

    // serve against Elasticsearch, stopped by SIGTERM.
    let serve = smm.spawn(&["serve"]);
    let started = Instant::now();
    while sast_docs(&es) < 7 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve stored too little"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    smm_tests::terminate(&serve);
    let out = serve.wait_with_output().unwrap();
    no_password(&out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Kibana: the shipped objects, imported with the same credentials.
    let kibana = KibanaServer::start(
        KibanaConfig::default().with_auth(KibanaAuth::basic("elastic", PASSWORD)),
    )
    .unwrap();
    let imported = check(&["kibana", "import", "--kibana-url", kibana.url()]);
    assert!(imported.contains("created dashboard"), "{imported}");
    assert!(shipped_objects() > 5);
    assert_eq!(kibana.objects().len(), shipped_objects());
    let again = check(&["kibana", "import", "--kibana-url", kibana.url()]);
    assert_eq!(
        again.matches("overwrote").count(),
        shipped_objects(),
        "{again}"
    );
    assert!(
        kibana
            .requests()
            .iter()
            .all(|r| r.header("kbn-xsrf").is_some()),
        "every import carries kbn-xsrf"
    );
}

/// `smm kibana import` against a real Kibana, when `KIBANA_URL` is set
/// (user `elastic` unless `ELASTICSEARCH_USERNAME`, password
/// `ELASTICSEARCH_PASSWORD`).
#[test]
fn live_kibana_import() {
    let Ok(url) = std::env::var("KIBANA_URL") else {
        eprintln!("skipped: KIBANA_URL is not set");
        return;
    };
    let smm = Smm::new(env!("CARGO_BIN_EXE_smm"));
    let user = std::env::var("ELASTICSEARCH_USERNAME").unwrap_or_else(|_| "elastic".into());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_smm"))
        .args(["kibana", "import", "--kibana-url", &url, "--user", &user])
        .env("SMM_HOME", smm.home.path())
        .env(
            "SMM_KIBANA_PASSWORD",
            std::env::var("ELASTICSEARCH_PASSWORD").unwrap_or_default(),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("created") || l.starts_with("overwrote"))
            .count(),
        shipped_objects(),
        "{stdout}"
    );
}
