//! An in-process Elasticsearch 8.x stand-in for smm's conformance suite,
//! failure scenarios and benchmarks: an HTTP server on `127.0.0.1:<port>`
//! that speaks ES's wire format and is **strict rather than permissive** —
//! what real ES refuses, it refuses, with ES-shaped errors.
//!
//! ```ignore
//! use smm_tests::elasticsearch::{EsConfig, EsServer, ItemFault, RequestFault};
//!
//! let es = EsServer::start(EsConfig::default().basic_auth("elastic", "changeme")).await?;
//! // point smm at es.url() ...
//! es.inject(RequestFault::new(429).times(2).on_path("/_bulk")); // next two bulks: 429
//! es.inject_items(ItemFault::ids(["3f0c…"], 503).attempts(2));  // one item: 503 twice
//! es.stop().await;                                             // connection refused
//! es.restart().await?;                                         // same port, data kept
//! let docs = es.documents("metrics-smm.measurements-default"); // _id + _source, in order
//! assert!(es.requests().iter().all(|r| r.header("authorization").is_some()));
//! ```
//!
//! # What it serves
//! `GET /`; `PUT|GET|DELETE /_ilm/policy/{name}`; `PUT|POST|GET|DELETE
//! /_component_template/{name}` and `/_index_template/{name}`;
//! `PUT|GET|DELETE /_data_stream/{name}`; `POST|PUT /_bulk` and
//! `/{target}/_bulk`; `GET|POST /_search`, `/{target}/_search`, `_count`;
//! `POST /{target}/_pit`, `DELETE /_pit`; `GET|POST /_refresh` and
//! `/{target}/_refresh`; `GET|HEAD|DELETE /{index}`. Every response carries
//! `X-Elastic-Product: Elasticsearch`.
//!
//! # What it refuses (as ES does)
//! - HTTP: bodies over `http.max_content_length` (413, empty body); missing
//!   or wrong credentials when some are configured (401 `security_exception`
//!   with `WWW-Authenticate`); unknown paths (400 "no handler found"); wrong
//!   methods (405 with `Allow`); a body with a missing or unsupported
//!   `Content-Type` (406; JSON, NDJSON and the `vnd.elasticsearch`
//!   `compatible-with=<major|major-1>` forms are accepted); unrecognized
//!   query parameters (400).
//! - Bulk: unknown actions, malformed action lines, unknown action
//!   parameters, a body not ending with a newline, an empty body, items
//!   without an index (request level, 400); per item: `index`/`delete`
//!   into a data stream, a document without `@timestamp` in a data stream,
//!   a field a `dynamic: strict` mapping does not know, a value that does
//!   not fit its field type, a `constant_keyword` value differing from the
//!   first one, `create` over an existing `_id` (409), invalid index names.
//! - Templates: an index template without `index_patterns`, referencing
//!   missing component templates, overlapping another with the same
//!   priority, with an invalid composed mapping; unknown mapping types and
//!   parameters; unknown index settings; invalid ILM phases/actions.
//! - Search: unknown keys and queries, `from + size` over 10000, `search_after`
//!   without sort or with the wrong arity, `pit` with an index in the path,
//!   a missing index (404 unless `ignore_unavailable`), sorting on text or
//!   unmapped fields, metric aggregations on non-numeric fields.
//!
//! Documents become searchable only after a refresh (`_refresh`, bulk
//! `refresh=true|wait_for`, or [`EsConfig::refresh_interval`]); a PIT sees
//! what was searchable when it was opened. Real query types, aggregations
//! and features the stand-in does not model are refused with a 400
//! `illegal_argument_exception` whose reason starts with "not supported by
//! the Elasticsearch stand-in", never silently ignored.

mod aggs;
mod bulk;
mod cluster;
mod dates;
mod error;
mod faults;
mod indices;
mod mapping;
mod query;
mod search;
mod server;
mod templates;
#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::{ItemFault, ItemSelector, RequestFault};

use cluster::{Cluster, nest_settings};
use server::{Shared, lock};

pub(crate) const NODE_ID: &str = "smm-es-stand-in";

/// Credentials the server requires (any one of them is accepted).
#[derive(Clone, Debug, PartialEq)]
pub enum Credentials {
    /// `Authorization: Basic base64(user:password)`
    Basic { user: String, password: String },
    /// `Authorization: ApiKey base64(id:key)`
    ApiKey { id: String, key: String },
    /// `Authorization: Bearer <token>`
    Bearer(String),
}

/// How the stand-in starts.
#[derive(Clone, Debug)]
pub struct EsConfig {
    /// `version.number` of `GET /` (default "8.19.0"); its major decides the
    /// accepted `compatible-with` versions (major and major - 1).
    pub version: String,
    pub cluster_name: String,
    /// Required credentials; empty: security off.
    pub credentials: Vec<Credentials>,
    /// `http.max_content_length` (default 100mb, as ES).
    pub max_content_length: usize,
    /// Added before answering each request.
    pub latency: Duration,
    /// Periodic refresh of every index (`None`, the default: only explicit
    /// refreshes make documents searchable, so tests are deterministic).
    pub refresh_interval: Option<Duration>,
}

impl Default for EsConfig {
    fn default() -> Self {
        EsConfig {
            version: "8.19.0".into(),
            cluster_name: "smm-test".into(),
            credentials: Vec::new(),
            max_content_length: server::DEFAULT_MAX_CONTENT_LENGTH,
            latency: Duration::ZERO,
            refresh_interval: None,
        }
    }
}

impl EsConfig {
    pub fn version(mut self, v: &str) -> Self {
        self.version = v.to_string();
        self
    }

    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.credentials.push(Credentials::Basic {
            user: user.into(),
            password: password.into(),
        });
        self
    }

    pub fn api_key(mut self, id: &str, key: &str) -> Self {
        self.credentials.push(Credentials::ApiKey {
            id: id.into(),
            key: key.into(),
        });
        self
    }

    pub fn bearer(mut self, token: &str) -> Self {
        self.credentials.push(Credentials::Bearer(token.into()));
        self
    }

    pub fn max_content_length(mut self, bytes: usize) -> Self {
        self.max_content_length = bytes;
        self
    }

    pub fn latency(mut self, d: Duration) -> Self {
        self.latency = d;
        self
    }

    pub fn refresh_interval(mut self, d: Duration) -> Self {
        self.refresh_interval = Some(d);
        self
    }
}

/// One request the server received (whatever it answered).
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Names lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    /// `Content-Length`, or the bytes read.
    pub body_len: usize,
    pub status: u16,
}

impl RecordedRequest {
    /// A header's value (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A live document as stored (whether or not refreshed yet).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredDocument {
    pub id: String,
    /// The (backing) index holding it.
    pub index: String,
    pub source: Value,
    pub version: u64,
    pub seq_no: u64,
}

struct Running {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// The running stand-in. Dropping it stops the server.
pub struct EsServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    refresh_interval: Option<Duration>,
    running: Mutex<Option<Running>>,
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

impl EsServer {
    /// Start on `127.0.0.1:0` (inside a tokio runtime).
    pub async fn start(config: EsConfig) -> io::Result<EsServer> {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener.local_addr()?;
        let mut cluster = Cluster::default();
        let cluster_uuid = cluster.next_id(16);
        let mut faults = faults::Faults::default();
        faults.latency = config.latency;
        faults.max_content_length = Some(config.max_content_length);
        let shared = Arc::new(Shared {
            cluster: Mutex::new(cluster),
            faults: Mutex::new(faults),
            requests: Mutex::new(Vec::new()),
            version: config.version,
            cluster_name: config.cluster_name,
            cluster_uuid,
            credentials: config.credentials,
        });
        let server = EsServer {
            shared,
            addr,
            refresh_interval: config.refresh_interval,
            running: Mutex::new(None),
        };
        server.spawn(listener);
        Ok(server)
    }

    /// [`EsServer::start`] with [`EsConfig::default`]; panics if it cannot bind.
    pub async fn start_default() -> EsServer {
        EsServer::start(EsConfig::default())
            .await
            .expect("starting the Elasticsearch stand-in")
    }

    fn spawn(&self, listener: TcpListener) {
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server::run(
            listener,
            self.shared.clone(),
            rx,
            self.refresh_interval,
        ));
        *lock(&self.running) = Some(Running { shutdown: tx, task });
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn is_running(&self) -> bool {
        lock(&self.running).is_some()
    }

    /// Close the listener and every open connection: clients now get
    /// "connection refused". Data is kept; open PITs are lost (as on a
    /// node restart).
    pub async fn stop(&self) {
        let running = lock(&self.running).take();
        if let Some(r) = running {
            let _ = r.shutdown.send(());
            let _ = r.task.await;
        }
        lock(&self.shared.cluster).pits.clear();
    }

    /// Listen again on the same port, with the stored data (recovered
    /// documents are searchable, as after ES's recovery).
    pub async fn restart(&self) -> io::Result<()> {
        self.stop().await;
        let listener = bind(self.addr)?;
        lock(&self.shared.cluster).refresh_all();
        self.spawn(listener);
        Ok(())
    }

    // ---- faults --------------------------------------------------------------

    /// Fail matching whole requests (see [`RequestFault`]).
    pub fn inject(&self, fault: RequestFault) {
        lock(&self.shared.faults).push_request(fault);
    }

    /// Fail the next `n` requests with `status` (429, 500, 503, ...).
    pub fn fail_next_requests(&self, n: usize, status: u16) {
        self.inject(RequestFault::new(status).times(n));
    }

    /// Fail selected bulk items (see [`ItemFault`]).
    pub fn inject_items(&self, fault: ItemFault) {
        lock(&self.shared.faults).push_item(fault);
    }

    /// Delay every answer by `latency` (the request is processed first:
    /// a client that gives up waiting loses the answer, not the write).
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.shared.faults).latency = latency;
    }

    /// `http.max_content_length`: larger requests get a bare 413.
    pub fn set_max_content_length(&self, bytes: usize) {
        lock(&self.shared.faults).max_content_length = Some(bytes);
    }

    /// Forget pending request and item faults and the latency.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    // ---- inspection ------------------------------------------------------------

    /// Live documents of a data stream, index or pattern, in insertion
    /// order (a replaced document moves to the end, as in Lucene).
    pub fn documents(&self, target: &str) -> Vec<StoredDocument> {
        let cluster = lock(&self.shared.cluster);
        let names = cluster.resolve(target, true).unwrap_or_default();
        names
            .iter()
            .filter_map(|n| cluster.indices.get(n))
            .flat_map(|idx| {
                idx.live().map(move |d| StoredDocument {
                    id: d.id.clone(),
                    index: idx.name.clone(),
                    source: d.source.clone(),
                    version: d.version,
                    seq_no: d.seq_no,
                })
            })
            .collect()
    }

    /// How many live documents (refreshed or not).
    pub fn count(&self, target: &str) -> usize {
        let cluster = lock(&self.shared.cluster);
        let names = cluster.resolve(target, true).unwrap_or_default();
        names
            .iter()
            .filter_map(|n| cluster.indices.get(n))
            .map(|i| i.live().count())
            .sum()
    }

    /// How many documents a search would see now.
    pub fn searchable_count(&self, target: &str) -> usize {
        let cluster = lock(&self.shared.cluster);
        let names = cluster.resolve(target, true).unwrap_or_default();
        names
            .iter()
            .filter_map(|n| cluster.indices.get(n))
            .map(|i| i.searchable.len())
            .sum()
    }

    /// Refresh every index.
    pub fn refresh(&self) {
        lock(&self.shared.cluster).refresh_all();
    }

    /// The stored policy (the `policy` object of its PUT).
    pub fn ilm_policy(&self, name: &str) -> Option<Value> {
        lock(&self.shared.cluster)
            .ilm
            .get(name)
            .map(|s| s.body.clone())
    }

    pub fn component_template(&self, name: &str) -> Option<Value> {
        lock(&self.shared.cluster)
            .components
            .get(name)
            .map(|s| s.body.clone())
    }

    pub fn index_template(&self, name: &str) -> Option<Value> {
        lock(&self.shared.cluster)
            .index_templates
            .get(name)
            .map(|s| s.body.clone())
    }

    pub fn ilm_policies(&self) -> Vec<String> {
        lock(&self.shared.cluster).ilm.keys().cloned().collect()
    }

    pub fn component_templates(&self) -> Vec<String> {
        lock(&self.shared.cluster)
            .components
            .keys()
            .cloned()
            .collect()
    }

    pub fn index_templates(&self) -> Vec<String> {
        lock(&self.shared.cluster)
            .index_templates
            .keys()
            .cloned()
            .collect()
    }

    pub fn data_streams(&self) -> Vec<String> {
        lock(&self.shared.cluster)
            .data_streams
            .keys()
            .cloned()
            .collect()
    }

    /// Backing indices of a data stream, oldest first.
    pub fn backing_indices(&self, data_stream: &str) -> Vec<String> {
        lock(&self.shared.cluster)
            .data_streams
            .get(data_stream)
            .map(|d| d.indices.clone())
            .unwrap_or_default()
    }

    /// The current mapping of an index (or a data stream's write index),
    /// dynamic additions included.
    pub fn mapping(&self, target: &str) -> Option<Value> {
        let cluster = lock(&self.shared.cluster);
        let name = cluster
            .data_streams
            .get(target)
            .and_then(|d| d.indices.last().cloned())
            .unwrap_or_else(|| target.to_string());
        cluster.indices.get(&name).map(|i| i.mapping.to_json())
    }

    /// The settings of an index (or a data stream's write index), nested.
    pub fn settings(&self, target: &str) -> Option<Value> {
        let cluster = lock(&self.shared.cluster);
        let name = cluster
            .data_streams
            .get(target)
            .and_then(|d| d.indices.last().cloned())
            .unwrap_or_else(|| target.to_string());
        cluster
            .indices
            .get(&name)
            .map(|i| nest_settings(&i.settings))
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }
}

impl Drop for EsServer {
    fn drop(&mut self) {
        if let Some(r) = lock(&self.running).take() {
            let _ = r.shutdown.send(());
            r.task.abort();
        }
    }
}
