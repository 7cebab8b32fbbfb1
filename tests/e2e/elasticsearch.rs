//! The Elasticsearch measurement store against the in-process stand-in
//! (strict on the wire, see `smm_tests::elasticsearch`) and, when
//! `ELASTICSEARCH_URL` is set, against a real cluster: the backend
//! conformance suite, then the delivery scenarios (batching, retries of
//! only the failed items, no duplicates, outages spooled then delivered in
//! order, dead letters and their re-drive, idempotent setup, credentials).
//!
//! Live runs: `ELASTICSEARCH_URL=https://localhost:9200 ELASTICSEARCH_PASSWORD=...
//! ELASTICSEARCH_CA=deploy/ca.crt cargo test -p smm-engine --test elasticsearch`
//! (user `elastic` unless `ELASTICSEARCH_USERNAME`; see deploy/README.md).

use std::sync::Arc;
use std::time::Duration;

use smm_engine::config::{Auth, Basic, BulkConfig, ElasticsearchConfig, Secret};
use smm_engine::conformance::{failure, measurement, t};
use smm_engine::store::elasticsearch::Setup;
use smm_engine::store::{Appended, ElasticsearchStore, MeasurementStore};
use smm_engine::{Measurement, Query};
use smm_tests::elasticsearch::{EsConfig, EsServer, ItemFault, RequestFault};

const DS: &str = "metrics-smm.measurements-default";

fn config(url: &str) -> ElasticsearchConfig {
    ElasticsearchConfig {
        urls: vec![url.to_string()],
        namespace: "default".into(),
        ca_file: None,
        auth: Auth::default(),
        bulk: BulkConfig::default(),
        request_timeout: Duration::from_secs(10),
        retry_for: Duration::from_secs(3),
    }
}

/// A store over `config` with its spool in a fresh directory (kept for the
/// test's life), templates installed.
async fn open(config: &ElasticsearchConfig) -> (ElasticsearchStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = ElasticsearchStore::open(config, &dir.path().join("es-spool.db")).unwrap();
    store.setup().await.unwrap();
    (store, dir)
}

async fn stand_in() -> Option<Arc<dyn MeasurementStore>> {
    let server = EsServer::start_default().await;
    let (store, dir) = open(&config(&server.url())).await;
    // Both live as long as the test's runtime.
    std::mem::forget(server);
    std::mem::forget(dir);
    Some(Arc::new(store))
}

/// A real cluster when `ELASTICSEARCH_URL` is set (namespace `smmtest`).
async fn live() -> Option<Arc<dyn MeasurementStore>> {
    let url = std::env::var("ELASTICSEARCH_URL").ok()?;
    let mut c = config(&url);
    c.namespace = "smmtest".into();
    c.ca_file = std::env::var("ELASTICSEARCH_CA").ok().map(Into::into);
    if std::env::var("ELASTICSEARCH_PASSWORD").is_ok() {
        c.auth.basic = Some(Basic {
            username: std::env::var("ELASTICSEARCH_USERNAME").unwrap_or_else(|_| "elastic".into()),
            password: Secret::new("env:ELASTICSEARCH_PASSWORD"),
        });
    }
    let (store, dir) = open(&c).await;
    std::mem::forget(dir);
    Some(Arc::new(store))
}

mod conformance_stand_in {
    smm_engine::store_conformance!(super::stand_in());
}

mod conformance_live {
    smm_engine::store_conformance!(super::live());
}

fn batch(instance: &str, n: usize) -> Vec<Measurement> {
    (0..n)
        .map(|k| {
            measurement(
                instance,
                "findings",
                t(k as i64 * 1000),
                k as f64,
                &[("team", "pay")],
            )
        })
        .collect()
}

fn ids(docs: &[smm_tests::elasticsearch::StoredDocument]) -> Vec<String> {
    docs.iter().map(|d| d.id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_are_batched_and_every_one_lands_once() {
    let es = EsServer::start_default().await;
    let mut c = config(&es.url());
    c.bulk.max_actions = 100;
    let (store, _dir) = open(&c).await;
    let store = Arc::new(store);
    es.clear_requests();
    let all = batch("batched", 1000);
    let mut tasks = tokio::task::JoinSet::new();
    for m in all.clone() {
        let store = store.clone();
        tasks.spawn(async move { store.append(&[m]).await.unwrap() });
    }
    while let Some(outcome) = tasks.join_next().await {
        assert_eq!(outcome.unwrap(), vec![Appended::Stored]);
    }
    let bulks = es
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/_bulk"))
        .count();
    assert!(
        (10..200).contains(&bulks),
        "1000 concurrent appends in {bulks} bulk requests (at most 100 each)"
    );
    let mut stored = ids(&es.documents(DS));
    stored.sort();
    let mut want: Vec<String> = all.iter().map(|m| m.id.clone()).collect();
    want.sort();
    assert_eq!(stored, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_failed_items_are_retried() {
    let es = EsServer::start_default().await;
    let (store, _dir) = open(&config(&es.url())).await;
    let all = batch("partial", 10);
    es.inject_items(ItemFault::ids([all[2].id.clone(), all[7].id.clone()], 429).attempts(2));
    es.clear_requests();
    let outcomes = store.append(&all).await.unwrap();
    assert_eq!(outcomes, vec![Appended::Stored; 10]);
    let bulks: Vec<usize> = es
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/_bulk"))
        .map(|r| r.body_len)
        .collect();
    assert_eq!(bulks.len(), 3, "the batch, then two retries: {bulks:?}");
    assert!(
        bulks[1] < bulks[0] / 3 && bulks[2] == bulks[1],
        "retries carry only the two failed items: {bulks:?}"
    );
    assert_eq!(es.count(DS), 10, "nothing duplicated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_retried_without_duplicates() {
    // The cluster stores the batch but the answer never arrives (the
    // client times out): the retry finds every id there (409).
    let es = EsServer::start_default().await;
    let mut c = config(&es.url());
    c.request_timeout = Duration::from_millis(300);
    let (store, _dir) = open(&c).await;
    // A first write (it checks the index template once, promptly).
    let first = measurement("lost", "findings", t(-1000), 0.0, &[]);
    assert_eq!(
        store.append(&[first]).await.unwrap(),
        vec![Appended::Stored]
    );
    es.set_latency(Duration::from_millis(600));
    let all = batch("lost", 5);
    let store = Arc::new(store);
    let appending = {
        let store = store.clone();
        let all = all.clone();
        tokio::spawn(async move { store.append(&all).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    es.set_latency(Duration::ZERO);
    let outcomes = appending.await.unwrap();
    assert_eq!(es.count(DS), 6, "stored once: {outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Appended::Stored | Appended::AlreadyStored)),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&Appended::AlreadyStored),
        "the retry met 409s: {outcomes:?}"
    );
    // 503 on a whole request: retried, stored once.
    es.inject(RequestFault::new(503).times(1).on_path("/_bulk"));
    let more = batch("after-503", 3);
    assert_eq!(
        store.append(&more).await.unwrap(),
        vec![Appended::Stored; 3]
    );
    assert_eq!(es.count(DS), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_spooled_then_delivered_in_order() {
    let es = EsServer::start_default().await;
    let mut c = config(&es.url());
    c.retry_for = Duration::from_millis(300);
    let (store, dir) = open(&c).await;
    // A minute of measurements, one per second, while the cluster is down
    // (the clock of the measurements, not of the test).
    es.stop().await;
    let minute = batch("outage", 60);
    for m in &minute {
        assert_eq!(
            store.append(std::slice::from_ref(m)).await.unwrap(),
            vec![Appended::Spooled]
        );
    }
    let status = store.status().await.unwrap();
    assert_eq!(status.backlog, 60);
    assert!(
        status.last_error.as_deref().is_some_and(|e| !e.is_empty()),
        "{status:?}"
    );
    drop(store); // the engine stops during the outage

    // Back up; the next engine on the same home delivers the spool first.
    es.restart().await.unwrap();
    let store = ElasticsearchStore::open(&c, &dir.path().join("es-spool.db")).unwrap();
    let later = measurement("outage", "findings", t(61_000), 61.0, &[("team", "pay")]);
    assert_eq!(
        store.append(std::slice::from_ref(&later)).await.unwrap(),
        vec![Appended::Stored]
    );
    let mut want: Vec<String> = minute.iter().map(|m| m.id.clone()).collect();
    want.push(later.id.clone());
    assert_eq!(
        ids(&es.documents(DS)),
        want,
        "delivered in order, the new one last"
    );
    assert_eq!(store.status().await.unwrap().backlog, 0);
    let read = store
        .query(&Query {
            instance: Some("outage".into()),
            ..Query::default()
        })
        .await
        .unwrap();
    assert_eq!(read.len(), 61, "readable right after delivery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_already_delivered_by_another_engine_adds_nothing() {
    // Engine A spools during an outage and stops before delivering; engine
    // B (another process on the same cluster) writes the same measurements;
    // A's spool then meets 409s: no duplicate, and its spool empties.
    let es = EsServer::start_default().await;
    let mut c = config(&es.url());
    c.retry_for = Duration::from_millis(200);
    let (a, dir_a) = open(&c).await;
    let all = batch("shared", 20);
    es.stop().await;
    assert_eq!(a.append(&all).await.unwrap(), vec![Appended::Spooled; 20]);
    drop(a);
    es.restart().await.unwrap();
    let (b, _dir_b) = open(&c).await;
    assert_eq!(b.append(&all).await.unwrap(), vec![Appended::Stored; 20]);
    let a = ElasticsearchStore::open(&c, &dir_a.path().join("es-spool.db")).unwrap();
    a.flush().await.unwrap();
    assert_eq!(a.status().await.unwrap().backlog, 0);
    assert_eq!(es.count(DS), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_documents_become_dead_letters_and_can_be_re_driven() {
    let es = EsServer::start_default().await;
    let (store, _dir) = open(&config(&es.url())).await;
    // A document deeper than the mapping's flattened depth_limit (20) is a
    // mapping error: retrying it cannot help.
    let mut deep = measurement("dead", "findings", t(0), 1.0, &[]);
    let mut details = serde_json::json!(1);
    for _ in 0..25 {
        details = serde_json::json!({ "x": details });
    }
    deep.details = Some(details);
    deep.seal();
    let fine = measurement("dead", "findings", t(1), 2.0, &[]);
    let outcomes = store.append(&[deep.clone(), fine.clone()]).await.unwrap();
    assert_eq!(outcomes, vec![Appended::DeadLettered, Appended::Stored]);
    let dead = store.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].id.as_str(), dead[0].status),
        (deep.id.as_str(), 400)
    );
    assert!(dead[0].reason.contains("depth"), "{}", dead[0].reason);

    // A whole bulk refused by a misconfigured cluster: dead letters too,
    // and re-driven once the cluster is fixed.
    es.inject(RequestFault::new(400).times(1).on_path("/_bulk").with_body(serde_json::json!({
        "error": {"type": "illegal_argument_exception", "reason": "pipeline with id [broken] does not exist"},
        "status": 400
    })));
    let later = batch("redrive", 3);
    assert_eq!(
        store.append(&later).await.unwrap(),
        vec![Appended::DeadLettered; 3]
    );
    assert_eq!(store.status().await.unwrap().dead_letters, 4);
    let ids: Vec<String> = later.iter().map(|m| m.id.clone()).collect();
    assert_eq!(store.redrive(ids).await.unwrap(), 3);
    let status = store.status().await.unwrap();
    assert_eq!((status.dead_letters, status.backlog), (1, 0), "{status:?}");
    assert_eq!(es.count(DS), 4);
    // Re-driving the deep one fails again: it stays a dead letter, not lost.
    assert_eq!(store.redrive(Vec::new()).await.unwrap(), 1);
    assert_eq!(store.status().await.unwrap().dead_letters, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_is_idempotent_and_installs_what_ships() {
    let es = EsServer::start_default().await;
    let dir = tempfile::tempdir().unwrap();
    let store = ElasticsearchStore::open(&config(&es.url()), &dir.path().join("s.db")).unwrap();
    let e = store.check().await.unwrap_err().to_string();
    assert!(e.contains("smm es setup"), "{e}");
    let first = store.setup().await.unwrap();
    assert!(first.iter().all(|(_, s)| *s == Setup::Created), "{first:?}");
    assert_eq!(first.len(), 5);
    let second = store.setup().await.unwrap();
    assert!(
        second.iter().all(|(_, s)| *s == Setup::Unchanged),
        "{second:?}"
    );
    assert!(store.check().await.unwrap().starts_with("8."));
    let template = es.index_template("smm-measurements").unwrap();
    assert_eq!(template["priority"], 200);
    assert!(es.ilm_policy("smm-measurements").is_some());
    assert_eq!(es.data_streams(), vec![DS.to_string()]);
    // A document of ours fits the installed mapping exactly (strict).
    store
        .append(&[
            measurement("fit", "findings", t(0), 1.0, &[("service", "api")]),
            failure("fit", "findings", t(1)),
        ])
        .await
        .unwrap();
    let docs = es.documents(DS);
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].source["service"]["name"], "api");
}

#[tokio::test(flavor = "current_thread")]
async fn credentials_are_sent_and_never_logged() {
    let es = EsServer::start(EsConfig::default().basic_auth("elastic", "s3cr3t-pw"))
        .await
        .unwrap();
    let logs = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let writer = {
        let logs = logs.clone();
        move || LogWriter(logs.clone())
    };
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(writer)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // SAFETY: a current-thread test; nothing else reads the environment now.
    unsafe { std::env::set_var("SMM_TEST_ES_PASSWORD", "s3cr3t-pw") };
    let mut c = config(&es.url());
    c.retry_for = Duration::from_millis(200);
    c.auth.basic = Some(Basic {
        username: "elastic".into(),
        password: Secret::new("env:SMM_TEST_ES_PASSWORD"),
    });
    let (store, _dir) = open(&c).await;
    store.append(&batch("auth", 2)).await.unwrap();
    let auth = es
        .requests()
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_string))
        .collect::<Vec<_>>();
    assert!(!auth.is_empty() && auth.iter().all(|a| a.starts_with("Basic ")));
    // A wrong password: the measurement is spooled, the error says 401,
    // and neither the error nor any log line holds a password.
    unsafe { std::env::set_var("SMM_TEST_ES_PASSWORD", "wrong-pw") };
    let dir = tempfile::tempdir().unwrap();
    let wrong = ElasticsearchStore::open(&c, &dir.path().join("s.db")).unwrap();
    assert_eq!(
        wrong.append(&batch("auth2", 1)).await.unwrap(),
        vec![Appended::Spooled]
    );
    let status = wrong.status().await.unwrap();
    let error = status.last_error.unwrap_or_default();
    assert!(error.contains("401"), "{error}");
    let e = wrong.check().await.unwrap_err().to_string();
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    for text in [&error, &e, &logs] {
        assert!(
            !text.contains("s3cr3t-pw") && !text.contains("wrong-pw"),
            "a password leaked: {text}"
        );
    }
    let literal = Secret::new("s3cr3t-pw");
    assert_eq!(
        format!("{literal:?}"),
        "<redacted>",
        "a literal secret never prints"
    );
}

struct LogWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_too_large_is_split_and_a_document_too_large_is_a_dead_letter() {
    let es = EsServer::start_default().await;
    let (store, _dir) = open(&config(&es.url())).await;
    es.set_max_content_length(4096);
    es.clear_requests();
    let all = batch("split", 40);
    assert_eq!(
        store.append(&all).await.unwrap(),
        vec![Appended::Stored; 40]
    );
    let statuses: Vec<u16> = es
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/_bulk"))
        .map(|r| r.status)
        .collect();
    assert!(statuses.contains(&413), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 413 || *s == 200),
        "{statuses:?}"
    );
    assert_eq!(es.count(DS), 40);
    let mut huge = measurement("split", "findings", t(100_000), 1.0, &[]);
    huge.details = Some(serde_json::json!({"blob": "x".repeat(10_000)}));
    huge.seal();
    assert_eq!(
        store.append(std::slice::from_ref(&huge)).await.unwrap(),
        vec![Appended::DeadLettered]
    );
    let dead = store.dead_letters(10).await.unwrap();
    assert_eq!(dead[0].status, 413);
    assert!(
        dead[0].reason.contains("max_content_length"),
        "{}",
        dead[0].reason
    );
}
