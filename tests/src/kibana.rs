//! Kibana for smm's tests.
//!
//! [`KibanaServer`] is an in-process stand-in for Kibana's saved objects
//! import API (`POST /api/saved_objects/_import`), as strict as Kibana 8.x on
//! the wire: authentication first (401), then the multipart payload (415/400),
//! the `kbn-xsrf` header (400), the query and body validation with
//! `@kbn/config-schema`'s messages (400), the `.ndjson` file extension (400),
//! then the importer: unsupported types, `missing_references` (for
//! `index-pattern` and `search` references only, as Kibana), `conflict` when an
//! object exists and `overwrite` is false, and nothing written at all while any
//! of those resolvable errors remains. It keeps what it imported, per space,
//! so tests can assert what was created, and records every request.
//!
//! Under `#[cfg(test)]`, offline checks of the saved objects smm ships in
//! `deploy/kibana/*.ndjson`: every line parses, every object has its type, id
//! and attributes, every reference resolves inside the file, every field a
//! visualisation or control uses exists in the measurement mappings with a
//! type its operation accepts, and the export summary line counts right.
//! Each checker has a negative test on a deliberately broken object.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Query, Request};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

/// Saved object types Kibana 8.x lets one import (a subset of
/// `getImportableAndExportableTypes()`); anything else is `unsupported_type`.
const IMPORTABLE_TYPES: &[&str] = &[
    "config",
    "config-global",
    "url",
    "index-pattern",
    "query",
    "tag",
    "search",
    "visualization",
    "lens",
    "dashboard",
    "map",
    "links",
    "canvas-workpad",
    "canvas-element",
    "graph-workspace",
    "event-annotation-group",
];

/// Reference types the importer checks exist (Kibana's `REF_TYPES_TO_VALIDATE`):
/// a dashboard pointing at a missing Lens object imports all the same.
const VALIDATED_REFERENCE_TYPES: &[&str] = &["index-pattern", "search"];

/// Errors that make Kibana write nothing at all (`resolvableErrors`).
const RESOLVABLE_ERRORS: &[&str] = &["conflict", "ambiguous_conflict", "missing_references"];

/// How a client may authenticate to the stand-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KibanaAuth {
    /// `Authorization: Basic base64(username:password)`.
    Basic { username: String, password: String },
    /// `Authorization: ApiKey base64(id:api_key)`, as Elasticsearch issues them.
    ApiKey { id: String, api_key: String },
}

impl KibanaAuth {
    pub fn basic(username: &str, password: &str) -> Self {
        KibanaAuth::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    pub fn api_key(id: &str, api_key: &str) -> Self {
        KibanaAuth::ApiKey {
            id: id.into(),
            api_key: api_key.into(),
        }
    }

    /// The value of the `Authorization` header that authenticates as this.
    pub fn header_value(&self) -> String {
        match self {
            KibanaAuth::Basic { username, password } => {
                format!("Basic {}", BASE64.encode(format!("{username}:{password}")))
            }
            KibanaAuth::ApiKey { id, api_key } => {
                format!("ApiKey {}", BASE64.encode(format!("{id}:{api_key}")))
            }
        }
    }
}

/// What the stand-in accepts.
#[derive(Clone, Debug)]
pub struct KibanaConfig {
    /// Accepted credentials; empty means security is off (every request is
    /// anonymous and allowed), as a Kibana without the security plugin.
    pub auth: Vec<KibanaAuth>,
    /// Reported by `GET /api/status`, and the highest `coreMigrationVersion`
    /// an imported object may carry.
    pub version: String,
    /// Highest `typeMigrationVersion` known per type; an object that says it
    /// comes from a later Kibana is refused with Kibana's message. These are
    /// the versions a Kibana 8.17 export carries (verified on real exports);
    /// types not listed are not checked.
    pub type_versions: BTreeMap<String, String>,
    /// `savedObjects.maxImportExportSize`.
    pub max_import_objects: usize,
    /// `savedObjects.maxImportPayloadBytes`.
    pub max_import_payload_bytes: usize,
}

impl Default for KibanaConfig {
    fn default() -> Self {
        KibanaConfig {
            auth: Vec::new(),
            version: "8.19.21".into(),
            type_versions: [
                ("index-pattern", "8.0.0"),
                ("lens", "8.9.0"),
                ("dashboard", "10.2.0"),
            ]
            .into_iter()
            .map(|(t, v)| (t.to_string(), v.to_string()))
            .collect(),
            max_import_objects: 10_000,
            max_import_payload_bytes: 26_214_400,
        }
    }
}

impl KibanaConfig {
    /// Security on, with these credentials accepted.
    pub fn with_auth(mut self, auth: KibanaAuth) -> Self {
        self.auth.push(auth);
        self
    }
}

/// A saved object the stand-in holds.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredObject {
    /// `default` unless imported through `/s/<space>/api/...`.
    pub space: String,
    pub object_type: String,
    pub id: String,
    /// The document as imported (without `version`, with `managed`).
    pub document: Value,
}

impl StoredObject {
    pub fn attributes(&self) -> &Value {
        &self.document["attributes"]
    }

    pub fn title(&self) -> Option<&str> {
        self.attributes()["title"].as_str()
    }

    /// `(type, id, name)` of each reference.
    pub fn references(&self) -> Vec<(String, String, String)> {
        self.document["references"]
            .as_array()
            .map(|refs| {
                refs.iter()
                    .map(|r| {
                        let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                        (s("type"), s("id"), s("name"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One request the stand-in received, whatever became of it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Header names are lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub status: u16,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    /// `(space, type, id)` → object.
    objects: BTreeMap<(String, String, String), StoredObject>,
    requests: Vec<RecordedRequest>,
}

struct Shared {
    config: KibanaConfig,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running stand-in, on `127.0.0.1` and a free port, stopped when dropped.
pub struct KibanaServer {
    url: String,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl KibanaServer {
    /// Bind a free loopback port and serve on a thread of its own, so that
    /// synchronous tests and tests driving the `smm` binary can use it alike.
    pub fn start(config: KibanaConfig) -> std::io::Result<KibanaServer> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            state: Mutex::new(State::default()),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("kibana-stand-in".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("kibana stand-in: tokio runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("kibana stand-in: listener");
                    let app = Router::new().fallback(move |request: Request| {
                        let shared = app_shared.clone();
                        async move { handle(shared, request).await }
                    });
                    tokio::select! {
                        served = axum::serve(listener, app).into_future() => {
                            if let Err(e) = served {
                                eprintln!("kibana stand-in stopped: {e}");
                            }
                        }
                        _ = rx => {}
                    }
                });
                // Dropping the runtime here aborts connections still open.
            })?;
        Ok(KibanaServer {
            url: format!("http://{addr}"),
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every object held, in every space, ordered by space, type and id.
    pub fn objects(&self) -> Vec<StoredObject> {
        self.shared.state().objects.values().cloned().collect()
    }

    /// The object `type`/`id` of the default space.
    pub fn object(&self, object_type: &str, id: &str) -> Option<StoredObject> {
        let key = (
            "default".to_string(),
            object_type.to_string(),
            id.to_string(),
        );
        self.shared.state().objects.get(&key).cloned()
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// Put an object in a space as if it had been created earlier (to test
    /// conflicts, or references satisfied by what Kibana already has).
    pub fn preload(&self, space: &str, document: Value) {
        let object_type = document["type"].as_str().unwrap_or_default().to_string();
        let id = document["id"].as_str().unwrap_or_default().to_string();
        let key = (space.to_string(), object_type.clone(), id.clone());
        self.shared.state().objects.insert(
            key,
            StoredObject {
                space: space.to_string(),
                object_type,
                id,
                document,
            },
        );
    }
}

impl Drop for KibanaServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A response as Kibana sends it: JSON, `statusCode`/`error`/`message` for
/// errors (Boom's payload).
struct Reply {
    status: StatusCode,
    body: Value,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            body,
        }
    }

    fn boom(status: StatusCode, message: impl Into<String>) -> Reply {
        let error = match status.as_u16() {
            413 => "Request Entity Too Large",
            _ => status.canonical_reason().unwrap_or("Error"),
        };
        Reply {
            status,
            body: json!({"statusCode": status.as_u16(), "error": error, "message": message.into()}),
        }
    }

    fn bad_request(message: impl Into<String>) -> Reply {
        Reply::boom(StatusCode::BAD_REQUEST, message)
    }
}

async fn handle(shared: Arc<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // One more byte than allowed tells "too large" from "exactly at the limit".
    let limit = shared.config.max_import_payload_bytes;
    let (bytes, too_large) = match to_bytes(body, limit + 1).await {
        Ok(b) if b.len() > limit => (b, true),
        Ok(b) => (b, false),
        Err(_) => (Default::default(), true),
    };
    let reply = route(
        &shared,
        &parts.method,
        &parts.uri,
        &parts.headers,
        &bytes,
        too_large,
    );
    shared.state().requests.push(RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: bytes.to_vec(),
        status: reply.status.as_u16(),
    });
    Response::builder()
        .status(reply.status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(reply.body.to_string()))
        .expect("kibana stand-in: response")
}

/// `/s/<space>/rest` → `(space, rest)`; anything else is the default space.
fn split_space(path: &str) -> (String, &str) {
    if let Some(rest) = path.strip_prefix("/s/")
        && let Some(slash) = rest.find('/')
    {
        return (rest[..slash].to_string(), &rest[slash..]);
    }
    ("default".to_string(), path)
}

fn route(
    shared: &Shared,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
    too_large: bool,
) -> Reply {
    let (space, path) = split_space(uri.path());
    let known = matches!(
        (method, path),
        (&Method::GET, "/api/status") | (&Method::POST, "/api/saved_objects/_import")
    );
    if !known {
        return Reply::boom(StatusCode::NOT_FOUND, "Not Found");
    }
    if let Err(reply) = authenticate(&shared.config, headers) {
        return reply;
    }
    if method == Method::GET {
        return status(&shared.config);
    }
    if too_large {
        return Reply::boom(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Payload content length greater than maximum allowed: {}",
                shared.config.max_import_payload_bytes
            ),
        );
    }
    import(shared, &space, uri, headers, body)
}

fn authenticate(config: &KibanaConfig, headers: &HeaderMap) -> Result<(), Reply> {
    if config.auth.is_empty() {
        return Ok(());
    }
    let unauthorized = || Reply::boom(StatusCode::UNAUTHORIZED, "Unauthorized");
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(unauthorized());
    };
    let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
    let credentials = credentials.trim();
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => {
            let decoded = BASE64
                .decode(credentials)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(unauthorized)?;
            let (user, password) = decoded.split_once(':').ok_or_else(unauthorized)?;
            let known = config.auth.iter().any(|a| {
                matches!(a, KibanaAuth::Basic { username, password: p } if username == user && p == password)
            });
            if known {
                Ok(())
            } else {
                Err(Reply::boom(
                    StatusCode::UNAUTHORIZED,
                    format!(
                        "[security_exception]: unable to authenticate user [{user}] for REST request [/_security/_authenticate]"
                    ),
                ))
            }
        }
        "apikey" => {
            let decoded = BASE64
                .decode(credentials)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            let known = config.auth.iter().any(|a| {
                matches!(a, KibanaAuth::ApiKey { id, api_key } if decoded == format!("{id}:{api_key}"))
            });
            if known {
                Ok(())
            } else {
                Err(Reply::boom(
                    StatusCode::UNAUTHORIZED,
                    "[security_exception]: unable to authenticate with provided credentials and anonymous access is not allowed for this request",
                ))
            }
        }
        _ => Err(unauthorized()),
    }
}

fn status(config: &KibanaConfig) -> Reply {
    Reply::ok(json!({
        "name": "kibana",
        "uuid": "5b2de169-2785-441b-ae8c-186a1936b17d",
        "version": {
            "number": config.version,
            "build_hash": "0000000000000000000000000000000000000000",
            "build_number": 85000,
            "build_snapshot": false,
            "build_flavor": "traditional",
            "build_date": "2026-10-01T00:00:00.000Z"
        },
        "status": {
            "overall": {"level": "available", "summary": "All services and plugins are available"},
            "core": {
                "elasticsearch": {"level": "available", "summary": "Elasticsearch is available", "meta": {}},
                "savedObjects": {
                    "level": "available",
                    "summary": "SavedObjects service has completed migrations and is available",
                    "meta": {}
                }
            },
            "plugins": {}
        },
        "metrics": {"last_updated": "2026-11-27T10:00:00.000Z", "collection_interval_in_millis": 5000}
    }))
}

/// One part of a `multipart/form-data` body.
#[derive(Debug, PartialEq)]
struct Part {
    name: String,
    filename: Option<String>,
    data: Vec<u8>,
}

const INVALID_MULTIPART: &str = "Invalid multipart payload format";

/// `name="value"` parameters of a header value such as Content-Disposition.
fn header_params(value: &str) -> (String, BTreeMap<String, String>) {
    let mut items = value.split(';');
    let first = items.next().unwrap_or_default().trim().to_ascii_lowercase();
    let params = items
        .filter_map(|item| {
            let (k, v) = item.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            Some((k.trim().to_ascii_lowercase(), v.to_string()))
        })
        .collect();
    (first, params)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parse a `multipart/form-data` body (RFC 7578) with the given boundary.
fn parse_multipart(boundary: &str, body: &[u8]) -> Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}").into_bytes();
    let start = find(body, &delimiter).ok_or(INVALID_MULTIPART)?;
    let mut rest = &body[start + delimiter.len()..];
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or(INVALID_MULTIPART)?;
        let end_of_headers = find(rest, b"\r\n\r\n").ok_or(INVALID_MULTIPART)?;
        let head = std::str::from_utf8(&rest[..end_of_headers]).map_err(|_| INVALID_MULTIPART)?;
        rest = &rest[end_of_headers + 4..];
        let mut close = b"\r\n".to_vec();
        close.extend_from_slice(&delimiter);
        let end_of_data = find(rest, &close).ok_or(INVALID_MULTIPART)?;
        let data = rest[..end_of_data].to_vec();
        rest = &rest[end_of_data + close.len()..];

        let mut disposition = None;
        for line in head.split("\r\n") {
            let (name, value) = line.split_once(':').ok_or(INVALID_MULTIPART)?;
            if name.trim().eq_ignore_ascii_case("content-disposition") {
                disposition = Some(header_params(value));
            }
        }
        let (kind, params) = disposition.ok_or(INVALID_MULTIPART)?;
        if kind != "form-data" {
            return Err(INVALID_MULTIPART.into());
        }
        let name = params.get("name").ok_or(INVALID_MULTIPART)?.clone();
        parts.push(Part {
            name,
            filename: params.get("filename").cloned(),
            data,
        });
    }
}

/// Node's `path.extname`: the last `.` of the base name and what follows,
/// empty for none or for a leading dot.
fn extname(filename: &str) -> &str {
    let base = filename.rsplit('/').next().unwrap_or(filename);
    match base.rfind('.') {
        Some(0) | None => "",
        Some(i) => &base[i..],
    }
}

/// Compare dotted versions numerically (`10.2.0` > `8.9.0`).
fn version_gt(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(a) > parse(b)
}

fn icon(object_type: &str) -> Option<&'static str> {
    Some(match object_type {
        "index-pattern" => "indexPatternApp",
        "dashboard" => "dashboardApp",
        "lens" => "lensApp",
        "visualization" => "visualizeApp",
        "search" => "discoverApp",
        "map" => "gisApp",
        "tag" => "tag",
        _ => return None,
    })
}

fn meta(object_type: &str, title: &Value) -> Value {
    let mut meta = Map::new();
    if !title.is_null() {
        meta.insert("title".into(), title.clone());
    }
    if let Some(icon) = icon(object_type) {
        meta.insert("icon".into(), icon.into());
    }
    Value::Object(meta)
}

/// The importer's query: `overwrite`, `createNewCopies`, `compatibilityMode`.
#[derive(Default)]
struct ImportOptions {
    overwrite: bool,
    create_new_copies: bool,
}

fn import_options(uri: &axum::http::Uri) -> Result<ImportOptions, Reply> {
    let pairs: Vec<(String, String)> = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|_| Reply::bad_request("[request query]: could not parse the query string"))?;
    let mut values: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in &pairs {
        values.entry(k.as_str()).or_default().push(v.as_str());
    }
    let mut flags = BTreeMap::new();
    for (key, vals) in &values {
        if !matches!(*key, "overwrite" | "createNewCopies" | "compatibilityMode") {
            return Err(Reply::bad_request(format!(
                "[request query.{key}]: definition for this key is missing"
            )));
        }
        let value = match vals.as_slice() {
            ["true"] => true,
            ["false"] => false,
            [_] => {
                return Err(Reply::bad_request(format!(
                    "[request query.{key}]: expected value of type [boolean] but got [string]"
                )));
            }
            _ => {
                return Err(Reply::bad_request(format!(
                    "[request query.{key}]: expected value of type [boolean] but got [Array]"
                )));
            }
        };
        flags.insert(*key, value);
    }
    let flag = |k: &str| flags.get(k).copied().unwrap_or(false);
    if flag("overwrite") && flag("createNewCopies") {
        return Err(Reply::bad_request(
            "[request query]: cannot use [overwrite] with [createNewCopies]",
        ));
    }
    if flag("createNewCopies") && flag("compatibilityMode") {
        return Err(Reply::bad_request(
            "[request query]: cannot use [createNewCopies] with [compatibilityMode]",
        ));
    }
    Ok(ImportOptions {
        overwrite: flag("overwrite"),
        create_new_copies: flag("createNewCopies"),
    })
}

fn new_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let a = nanos ^ n.rotate_left(32);
    let b = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ nanos.rotate_left(17);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | (b >> 48 & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

fn import(
    shared: &Shared,
    space: &str,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    // hapi parses the payload before Kibana's post-auth XSRF check.
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let (media_type, params) = header_params(content_type);
    if media_type != "multipart/form-data" {
        return Reply::boom(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type");
    }
    let Some(boundary) = params.get("boundary") else {
        return Reply::bad_request(INVALID_MULTIPART);
    };
    let parts = match parse_multipart(boundary, body) {
        Ok(parts) => parts,
        Err(message) => return Reply::bad_request(message),
    };
    if !headers.contains_key("kbn-xsrf") && !headers.contains_key("kbn-version") {
        return Reply::bad_request("Request must contain a kbn-xsrf header.");
    }
    let options = match import_options(uri) {
        Ok(options) => options,
        Err(reply) => return reply,
    };
    // Body schema: { file: stream }, nothing else.
    let Some(file) = parts.iter().find(|p| p.name == "file") else {
        return Reply::bad_request(
            "[request body.file]: expected value of type [Stream] but got [undefined]",
        );
    };
    let Some(filename) = &file.filename else {
        return Reply::bad_request(
            "[request body.file]: expected value of type [Stream] but got [string]",
        );
    };
    if let Some(other) = parts.iter().find(|p| p.name != "file") {
        return Reply::bad_request(format!(
            "[request body.{}]: definition for this key is missing",
            other.name
        ));
    }
    let extension = extname(filename).to_ascii_lowercase();
    if extension != ".ndjson" {
        return Reply::bad_request(format!("Invalid file extension {extension}"));
    }

    // createSavedObjectsStreamFromNdJson: one JSON value a line, the export
    // summary (the line with `exportedCount`) dropped.
    let text = String::from_utf8_lossy(&file.data);
    let mut objects = Vec::new();
    for line in text.split('\n') {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v.get("exportedCount").is_some() => {}
            Ok(v) => objects.push(v),
            Err(e) => return Reply::bad_request(format!("Unexpected token in JSON: {e}")),
        }
    }
    if objects.len() > shared.config.max_import_objects {
        return Reply::bad_request(format!(
            "Can't import more than {} objects",
            shared.config.max_import_objects
        ));
    }
    run_import(shared, space, objects, &options)
}

fn key_of(object: &Value) -> (String, String) {
    let s = |k: &str| object[k].as_str().unwrap_or_default().to_string();
    (s("type"), s("id"))
}

/// `importSavedObjectsFromStream`, for one space.
fn run_import(shared: &Shared, space: &str, objects: Vec<Value>, options: &ImportOptions) -> Reply {
    let mut errors: Vec<Value> = Vec::new();
    // collectSavedObjects
    let mut entries = Vec::new();
    let mut collected = Vec::new();
    for object in objects {
        let (object_type, id) = key_of(&object);
        entries.push(format!("{object_type}:{id}"));
        if IMPORTABLE_TYPES.contains(&object_type.as_str()) {
            collected.push(object);
        } else {
            errors.push(json!({
                "id": object["id"], "type": object["type"],
                "meta": {"title": object["attributes"]["title"]},
                "error": {"type": "unsupported_type"}
            }));
        }
    }
    let mut seen = BTreeSet::new();
    let mut repeated = Vec::new();
    for entry in &entries {
        if !seen.insert(entry) && !repeated.contains(entry) {
            repeated.push(entry.clone());
        }
    }
    if !repeated.is_empty() {
        return Reply::bad_request(format!(
            "Non-unique import objects detected: [{}]",
            repeated.join(",")
        ));
    }

    let mut state = shared.state();
    let exists = |state: &State, t: &str, id: &str| {
        state
            .objects
            .contains_key(&(space.to_string(), t.to_string(), id.to_string()))
    };
    let importing: BTreeSet<(String, String)> = collected.iter().map(key_of).collect();

    // validateReferences: index-pattern and search references must be in the
    // file or already in the space.
    for object in &collected {
        let mut missing: Vec<Value> = Vec::new();
        for reference in object["references"].as_array().into_iter().flatten() {
            let (rt, rid) = key_of(reference);
            if !VALIDATED_REFERENCE_TYPES.contains(&rt.as_str()) {
                continue;
            }
            let found = importing.contains(&(rt.clone(), rid.clone())) || exists(&state, &rt, &rid);
            let entry = json!({"type": rt, "id": rid});
            if !found && !missing.contains(&entry) {
                missing.push(entry);
            }
        }
        if !missing.is_empty() {
            errors.push(json!({
                "id": object["id"], "type": object["type"],
                "meta": {"title": object["attributes"]["title"]},
                "error": {"type": "missing_references", "references": missing}
            }));
        }
    }

    // checkConflicts, or new ids for every object.
    let mut pending_overwrites = BTreeSet::new();
    let mut destination: BTreeMap<(String, String), String> = BTreeMap::new();
    if options.create_new_copies {
        for key in &importing {
            destination.insert(key.clone(), new_id());
        }
    } else {
        for object in &collected {
            let (t, id) = key_of(object);
            if exists(&state, &t, &id) {
                if options.overwrite {
                    pending_overwrites.insert((t, id));
                } else {
                    errors.push(json!({
                        "id": object["id"], "type": object["type"],
                        "meta": {"title": object["attributes"]["title"]},
                        "error": {"type": "conflict"}
                    }));
                }
            }
        }
    }

    // createSavedObjects: objects with an error are left out; a resolvable
    // error anywhere means nothing is written.
    let errored: BTreeSet<(String, String)> = errors.iter().map(key_of).collect();
    let resolvable = errors
        .iter()
        .any(|e| RESOLVABLE_ERRORS.contains(&e["error"]["type"].as_str().unwrap_or_default()));
    let mut created = Vec::new();
    for object in collected.iter().filter(|o| !errored.contains(&key_of(o))) {
        let (t, id) = key_of(object);
        if !resolvable {
            if let Some(message) = too_recent(&shared.config, object) {
                errors.push(json!({
                    "id": object["id"], "type": object["type"],
                    "meta": {"title": object["attributes"]["title"]},
                    "error": {"statusCode": 400, "error": "Bad Request", "message": message, "type": "unknown"},
                    "managed": false
                }));
                continue;
            }
            let new_id = destination.get(&(t.clone(), id.clone())).cloned();
            let mut document = object.clone();
            if let Some(doc) = document.as_object_mut() {
                doc.remove("version");
                doc.entry("managed").or_insert(Value::Bool(false));
                if doc.get("migrationVersion").is_none()
                    && doc.get("typeMigrationVersion").is_none()
                {
                    doc.insert("typeMigrationVersion".into(), "".into());
                }
                if let Some(new_id) = &new_id {
                    doc.insert("id".into(), new_id.clone().into());
                    doc.insert("originId".into(), id.clone().into());
                }
                if let Some(refs) = doc.get_mut("references").and_then(Value::as_array_mut) {
                    for reference in refs {
                        if let Some(to) = destination.get(&key_of(reference)) {
                            reference["id"] = to.clone().into();
                        }
                    }
                }
            }
            let stored_id = new_id.clone().unwrap_or_else(|| id.clone());
            state.objects.insert(
                (space.to_string(), t.clone(), stored_id.clone()),
                StoredObject {
                    space: space.to_string(),
                    object_type: t.clone(),
                    id: stored_id,
                    document,
                },
            );
        }
        let mut result = Map::new();
        result.insert("type".into(), t.clone().into());
        result.insert("id".into(), id.clone().into());
        result.insert("meta".into(), meta(&t, &object["attributes"]["title"]));
        result.insert(
            "managed".into(),
            object["managed"].as_bool().unwrap_or(false).into(),
        );
        if pending_overwrites.contains(&(t.clone(), id.clone())) {
            result.insert("overwrite".into(), true.into());
        }
        if let Some(to) = destination.get(&(t, id)) {
            result.insert("destinationId".into(), to.clone().into());
        }
        created.push(Value::Object(result));
    }

    let errors: Vec<Value> = errors
        .into_iter()
        .map(|mut e| {
            let t = e["type"].as_str().unwrap_or_default().to_string();
            if let Some(icon) = icon(&t) {
                e["meta"]["icon"] = icon.into();
            }
            if pending_overwrites.contains(&key_of(&e)) {
                e["overwrite"] = true.into();
            }
            e
        })
        .collect();
    let mut body = Map::new();
    body.insert("successCount".into(), created.len().into());
    body.insert("success".into(), errors.is_empty().into());
    body.insert("warnings".into(), json!([]));
    if !created.is_empty() {
        body.insert("successResults".into(), created.into());
    }
    if !errors.is_empty() {
        body.insert("errors".into(), errors.into());
    }
    Reply::ok(Value::Object(body))
}

/// Kibana's document migrator refuses an object from a later Kibana.
fn too_recent(config: &KibanaConfig, object: &Value) -> Option<String> {
    let (object_type, id) = key_of(object);
    if let Some(core) = object["coreMigrationVersion"].as_str()
        && version_gt(core, &config.version)
    {
        return Some(format!(
            "Document \"{id}\" has a \"coreMigrationVersion\" which belongs to a more recent version of Kibana [{core}]. The current version is [{}].",
            config.version
        ));
    }
    let declared = object["typeMigrationVersion"]
        .as_str()
        .or_else(|| object["migrationVersion"][&object_type].as_str())?;
    let known = config.type_versions.get(&object_type)?;
    version_gt(declared, known).then(|| {
        format!(
            "Document \"{id}\" has property \"{object_type}\" which belongs to a more recent version of Kibana [{declared}]. The last known version is [{known}]"
        )
    })
}

#[cfg(test)]
mod checks {
    //! Offline checks of Kibana saved objects (NDJSON exports) against the
    //! Elasticsearch mappings of the measurements data stream.

    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value;

    /// An NDJSON export: the saved objects, then the summary line.
    #[derive(Debug, Default)]
    pub struct Export {
        pub objects: Vec<Value>,
        pub summary: Option<Value>,
        /// Lines after the summary line (real exports have none).
        pub after_summary: usize,
    }

    /// Every non-empty line must parse as a JSON object.
    pub fn parse_ndjson(text: &str) -> Result<Export, Vec<String>> {
        let mut export = Export::default();
        let mut problems = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(line) {
                Ok(v) if !v.is_object() => {
                    problems.push(format!("line {}: not a JSON object", n + 1))
                }
                Ok(v) if v.get("exportedCount").is_some() => export.summary = Some(v),
                Ok(v) => {
                    if export.summary.is_some() {
                        export.after_summary += 1;
                    }
                    export.objects.push(v);
                }
                Err(e) => problems.push(format!("line {}: {e}", n + 1)),
            }
        }
        if problems.is_empty() {
            Ok(export)
        } else {
            Err(problems)
        }
    }

    /// A JSON string without its quotes, anything else as JSON.
    fn text(value: &Value) -> String {
        value
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| value.to_string())
    }

    fn name(object: &Value) -> String {
        format!(
            "{}:{}",
            object["type"].as_str().unwrap_or("?"),
            object["id"].as_str().unwrap_or("?")
        )
    }

    /// type, id, attributes, references and the migration versions an export
    /// writes.
    pub fn check_shape(objects: &[Value]) -> Vec<String> {
        let mut problems = Vec::new();
        for object in objects {
            let n = name(object);
            for key in ["type", "id", "coreMigrationVersion", "typeMigrationVersion"] {
                if object[key].as_str().is_none_or(str::is_empty) {
                    problems.push(format!("{n}: no {key}"));
                }
            }
            if !object["attributes"].is_object() {
                problems.push(format!("{n}: no attributes object"));
            }
            match object["references"].as_array() {
                None => problems.push(format!("{n}: no references array")),
                Some(refs) => {
                    for r in refs {
                        if ["type", "id", "name"]
                            .iter()
                            .any(|k| r[*k].as_str().is_none())
                        {
                            problems.push(format!("{n}: reference without type, id and name: {r}"));
                        }
                    }
                }
            }
            if object["attributes"]["title"]
                .as_str()
                .is_none_or(str::is_empty)
            {
                problems.push(format!("{n}: no title"));
            }
        }
        problems
    }

    /// The summary line is last and counts the objects.
    pub fn check_summary(export: &Export) -> Vec<String> {
        let mut problems = Vec::new();
        let Some(summary) = &export.summary else {
            return vec!["no export summary line".into()];
        };
        if export.after_summary > 0 {
            problems.push("the export summary is not the last line".into());
        }
        if summary["exportedCount"].as_u64() != Some(export.objects.len() as u64) {
            problems.push(format!(
                "exportedCount is {} but the file has {} objects",
                summary["exportedCount"],
                export.objects.len()
            ));
        }
        for (key, want) in [("missingRefCount", 0), ("excludedObjectsCount", 0)] {
            if summary[key].as_u64() != Some(want) {
                problems.push(format!("{key} is {}", summary[key]));
            }
        }
        for key in ["missingReferences", "excludedObjects"] {
            if summary[key].as_array().is_none_or(|a| !a.is_empty()) {
                problems.push(format!("{key} is {}", summary[key]));
            }
        }
        let mut seen = BTreeSet::new();
        for object in &export.objects {
            if !seen.insert(name(object)) {
                problems.push(format!("{} appears twice", name(object)));
            }
        }
        problems
    }

    /// A JSON-in-a-string attribute (`panelsJSON`, ...), parsed.
    fn embedded(value: &Value) -> Option<Value> {
        value.as_str().and_then(|s| serde_json::from_str(s).ok())
    }

    /// Lens attributes found in an object: its own, or those of by-value
    /// panels of a dashboard. With the references they are resolved against
    /// and a label.
    pub fn lens_states(object: &Value) -> Vec<(String, Value, Vec<Value>)> {
        let mut out = Vec::new();
        match object["type"].as_str() {
            Some("lens") => out.push((
                name(object),
                object["attributes"].clone(),
                object["references"].as_array().cloned().unwrap_or_default(),
            )),
            Some("dashboard") => {
                for panel in embedded(&object["attributes"]["panelsJSON"])
                    .and_then(|p| p.as_array().cloned())
                    .unwrap_or_default()
                {
                    let attributes = &panel["embeddableConfig"]["attributes"];
                    if attributes["state"].is_object() {
                        out.push((
                            format!("{} panel {}", name(object), panel["panelIndex"]),
                            attributes.clone(),
                            attributes["references"]
                                .as_array()
                                .cloned()
                                .unwrap_or_default(),
                        ));
                    }
                }
            }
            _ => {}
        }
        out
    }

    fn layers(attributes: &Value) -> Vec<(String, Value)> {
        attributes["state"]["datasourceStates"]["formBased"]["layers"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// Every reference resolves to an object of the file: top-level
    /// references, dashboard panels and controls, Lens layers.
    pub fn check_references(objects: &[Value]) -> Vec<String> {
        let mut problems = Vec::new();
        let present: BTreeSet<(String, String)> = objects
            .iter()
            .map(|o| {
                (
                    o["type"].as_str().unwrap_or_default().to_string(),
                    o["id"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let resolves = |r: &Value| {
            present.contains(&(
                r["type"].as_str().unwrap_or_default().to_string(),
                r["id"].as_str().unwrap_or_default().to_string(),
            ))
        };
        for object in objects {
            let n = name(object);
            let refs = object["references"].as_array().cloned().unwrap_or_default();
            let ref_names: BTreeSet<&str> =
                refs.iter().filter_map(|r| r["name"].as_str()).collect();
            for r in &refs {
                if !resolves(r) {
                    problems.push(format!(
                        "{n}: reference {} → {}:{} is not in the file",
                        text(&r["name"]),
                        text(&r["type"]),
                        text(&r["id"])
                    ));
                }
            }
            if let Some(index_ref) =
                embedded(&object["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
                    .and_then(|s| s["indexRefName"].as_str().map(str::to_string))
                && !ref_names.contains(index_ref.as_str())
            {
                problems.push(format!(
                    "{n}: searchSourceJSON names reference {index_ref}, which is missing"
                ));
            }
            if object["type"] == "dashboard" {
                let Some(panels) = embedded(&object["attributes"]["panelsJSON"]) else {
                    problems.push(format!("{n}: panelsJSON is not a JSON array in a string"));
                    continue;
                };
                let mut indexes = BTreeSet::new();
                for panel in panels.as_array().cloned().unwrap_or_default() {
                    let index = panel["panelIndex"].as_str().unwrap_or_default().to_string();
                    if index.is_empty() || panel["gridData"]["i"].as_str() != Some(index.as_str()) {
                        problems.push(format!(
                            "{n}: panel {index:?} has no panelIndex matching gridData.i"
                        ));
                    }
                    if !indexes.insert(index.clone()) {
                        problems.push(format!("{n}: panelIndex {index} appears twice"));
                    }
                    if let Some(ref_name) = panel["panelRefName"].as_str() {
                        let full = format!("{index}:{ref_name}");
                        match refs.iter().find(|r| r["name"] == full.as_str()) {
                            None => problems.push(format!(
                                "{n}: panel {index} refers to {full}, which is not in references"
                            )),
                            Some(r) if r["type"] != panel["type"] => problems.push(format!(
                                "{n}: panel {index} is a {} but {full} points to a {}",
                                text(&panel["type"]),
                                text(&r["type"])
                            )),
                            Some(_) => {}
                        }
                    } else if !panel["embeddableConfig"]["attributes"].is_object()
                        && !panel["embeddableConfig"]["savedVis"].is_object()
                    {
                        problems.push(format!(
                            "{n}: panel {index} is neither by reference nor by value"
                        ));
                    }
                }
                if let Some(controls) =
                    embedded(&object["attributes"]["controlGroupInput"]["panelsJSON"])
                {
                    for (id, control) in controls.as_object().cloned().unwrap_or_default() {
                        let suffix = match control["type"].as_str() {
                            Some("optionsListControl") => "optionsListDataView",
                            Some("rangeSliderControl") => "rangeSliderDataView",
                            _ => continue,
                        };
                        let want = format!("controlGroup_{id}:{suffix}");
                        if !ref_names.contains(want.as_str()) {
                            problems.push(format!("{n}: control {id} has no reference {want}"));
                        }
                    }
                }
            }
            for (label, attributes, lens_refs) in lens_states(object) {
                for r in &lens_refs {
                    if !resolves(r) {
                        problems.push(format!(
                            "{label}: reference {} → {}:{} is not in the file",
                            text(&r["name"]),
                            text(&r["type"]),
                            text(&r["id"])
                        ));
                    }
                }
                let lens_ref_names: BTreeSet<String> = lens_refs
                    .iter()
                    .filter_map(|r| r["name"].as_str().map(str::to_string))
                    .collect();
                let layer_ids: BTreeSet<String> =
                    layers(&attributes).into_iter().map(|(id, _)| id).collect();
                for id in &layer_ids {
                    let want = format!("indexpattern-datasource-layer-{id}");
                    if !lens_ref_names.contains(&want) {
                        problems.push(format!("{label}: layer {id} has no reference {want}"));
                    }
                }
                for ref_name in &lens_ref_names {
                    if let Some(id) = ref_name.strip_prefix("indexpattern-datasource-layer-")
                        && !layer_ids.contains(id)
                    {
                        problems.push(format!("{label}: reference {ref_name} names no layer"));
                    }
                }
                for (id, layer) in layers(&attributes) {
                    if let Some(dv) = layer["indexPatternId"].as_str()
                        && !present.contains(&("index-pattern".to_string(), dv.to_string()))
                    {
                        problems.push(format!(
                            "{label}: layer {id} uses data view {dv}, not in the file"
                        ));
                    }
                }
            }
        }
        problems
    }

    /// Field types of the measurement mappings: properties flattened to dotted
    /// paths, and dynamic templates for the rest (`labels.*` → keyword).
    pub struct Mappings {
        fields: BTreeMap<String, String>,
        /// `(path_match glob, type)`.
        dynamic: Vec<(String, String)>,
    }

    impl Mappings {
        pub fn from_template(template: &Value) -> Mappings {
            let mappings = &template["template"]["mappings"];
            let mut fields = BTreeMap::new();
            fn walk(prefix: &str, properties: &Value, fields: &mut BTreeMap<String, String>) {
                for (name, field) in properties.as_object().into_iter().flatten() {
                    let path = if prefix.is_empty() {
                        name.clone()
                    } else {
                        format!("{prefix}.{name}")
                    };
                    if let Some(t) = field["type"]
                        .as_str()
                        .filter(|t| *t != "object" && *t != "nested")
                    {
                        fields.insert(path.clone(), t.to_string());
                    }
                    if field["properties"].is_object() {
                        walk(&path, &field["properties"], fields);
                    }
                }
            }
            walk("", &mappings["properties"], &mut fields);
            let dynamic = mappings["dynamic_templates"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_object()?.values().next().cloned())
                .filter_map(|t| {
                    Some((
                        t["path_match"].as_str()?.to_string(),
                        t["mapping"]["type"].as_str()?.to_string(),
                    ))
                })
                .collect();
            Mappings { fields, dynamic }
        }

        /// The type a document field gets, if the mappings allow it.
        pub fn field_type(&self, path: &str) -> Option<&str> {
            if let Some(t) = self.fields.get(path) {
                return Some(t);
            }
            self.dynamic
                .iter()
                .find(|(glob, _)| glob_match(glob, path))
                .map(|(_, t)| t.as_str())
        }
    }

    /// `*` matches any run of characters (Elasticsearch's simple match).
    fn glob_match(glob: &str, path: &str) -> bool {
        match glob.split_once('*') {
            None => glob == path,
            Some((head, tail)) => {
                path.starts_with(head)
                    && (0..=path.len() - head.len())
                        .any(|i| glob_match(tail, &path[head.len() + i..]))
            }
        }
    }

    const NUMERIC: &[&str] = &[
        "long",
        "integer",
        "short",
        "byte",
        "double",
        "float",
        "half_float",
        "scaled_float",
        "unsigned_long",
    ];
    const KEYWORD: &[&str] = &["keyword", "constant_keyword", "wildcard"];
    const DATE: &[&str] = &["date", "date_nanos"];

    /// Field types an operation accepts, and the dataType Lens gives the column.
    fn accepted(operation: &str, field_type: &str) -> Option<&'static str> {
        let numeric = NUMERIC.contains(&field_type);
        let keyword = KEYWORD.contains(&field_type);
        let date = DATE.contains(&field_type);
        let aggregatable = numeric || keyword || date || matches!(field_type, "ip" | "boolean");
        match operation {
            "average" | "sum" | "median" | "percentile" | "percentile_rank"
            | "standard_deviation"
                if numeric =>
            {
                Some("number")
            }
            "min" | "max" if numeric => Some("number"),
            "min" | "max" if date => Some("date"),
            "unique_count" | "count" if aggregatable => Some("number"),
            "last_value" if numeric => Some("number"),
            "last_value" if date => Some("date"),
            "last_value" if keyword || field_type == "ip" => {
                Some(if keyword { "string" } else { "ip" })
            }
            "last_value" if field_type == "boolean" => Some("boolean"),
            "terms" if keyword => Some("string"),
            "terms" if numeric => Some("number"),
            "terms" if field_type == "ip" => Some("ip"),
            "terms" if field_type == "boolean" => Some("boolean"),
            "date_histogram" if date => Some("date"),
            "range" if numeric => Some("number"),
            _ => None,
        }
    }

    /// Field names a KQL query uses: the operand before `:`, `<`, `<=`, `>`
    /// or `>=`, bare or quoted; values are skipped.
    pub fn kql_fields(query: &str) -> Vec<String> {
        #[derive(Debug)]
        enum Token {
            Word(String),
            Operator,
            Other,
        }
        let mut tokens = Vec::new();
        let chars: Vec<char> = query.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_whitespace() {
                i += 1;
            } else if c == '"' {
                let mut word = String::new();
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    word.push(chars[i]);
                    i += 1;
                }
                i += 1;
                tokens.push(Token::Word(word));
            } else if c == ':' || c == '<' || c == '>' {
                i += 1;
                if i < chars.len() && chars[i] == '=' {
                    i += 1;
                }
                tokens.push(Token::Operator);
            } else if "(){}".contains(c) {
                i += 1;
                tokens.push(Token::Other);
            } else {
                let mut word = String::new();
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !":<>(){}\"".contains(chars[i])
                {
                    word.push(chars[i]);
                    i += 1;
                }
                tokens.push(Token::Word(word));
            }
        }
        tokens
            .windows(2)
            .filter_map(|w| match w {
                [Token::Word(field), Token::Operator] => Some(field.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every field a data view, a visualisation or a control uses exists in
    /// the mappings with a type its operation accepts.
    pub fn check_fields(objects: &[Value], mappings: &Mappings) -> Vec<String> {
        let mut problems = Vec::new();
        let kql = |label: &str, query: &Value, problems: &mut Vec<String>| {
            if query["language"].as_str().unwrap_or("kuery") != "kuery" {
                problems.push(format!(
                    "{label}: query language {} (only KQL is checked)",
                    query["language"]
                ));
                return;
            }
            for field in kql_fields(query["query"].as_str().unwrap_or_default()) {
                if !field.contains('*') && mappings.field_type(&field).is_none() {
                    problems.push(format!(
                        "{label}: query uses field {field}, not in the mappings"
                    ));
                }
            }
        };
        for object in objects {
            let n = name(object);
            if object["type"] == "index-pattern"
                && let Some(time) = object["attributes"]["timeFieldName"].as_str()
                && !mappings.field_type(time).is_some_and(|t| DATE.contains(&t))
            {
                problems.push(format!(
                    "{n}: time field {time} is not a date in the mappings"
                ));
            }
            if object["type"] == "dashboard"
                && let Some(controls) =
                    embedded(&object["attributes"]["controlGroupInput"]["panelsJSON"])
            {
                for (id, control) in controls.as_object().cloned().unwrap_or_default() {
                    let field = control["explicitInput"]["fieldName"]
                        .as_str()
                        .unwrap_or_default();
                    let t = mappings.field_type(field);
                    let ok = match control["type"].as_str() {
                        Some("optionsListControl") => t.is_some_and(|t| {
                            KEYWORD.contains(&t)
                                || NUMERIC.contains(&t)
                                || matches!(t, "ip" | "boolean")
                        }),
                        Some("rangeSliderControl") => t.is_some_and(|t| NUMERIC.contains(&t)),
                        _ => true,
                    };
                    if !ok {
                        problems.push(format!(
                            "{n}: control {id} on {field} ({t:?}) is not possible"
                        ));
                    }
                }
            }
            for (label, attributes, _) in lens_states(object) {
                let state = &attributes["state"];
                kql(&format!("{label} query"), &state["query"], &mut problems);
                for filter in state["filters"].as_array().into_iter().flatten() {
                    if let Some(key) = filter["meta"]["key"].as_str()
                        && mappings.field_type(key).is_none()
                    {
                        problems.push(format!("{label}: filter on {key}, not in the mappings"));
                    }
                }
                for (layer_id, layer) in layers(&attributes) {
                    let columns = layer["columns"].as_object().cloned().unwrap_or_default();
                    for id in layer["columnOrder"].as_array().into_iter().flatten() {
                        if !columns.contains_key(id.as_str().unwrap_or_default()) {
                            problems.push(format!(
                                "{label}: columnOrder names {id}, not a column of layer {layer_id}"
                            ));
                        }
                    }
                    for (column_id, column) in &columns {
                        let at = format!(
                            "{label} column {:?}",
                            column["label"].as_str().unwrap_or(column_id)
                        );
                        let operation = column["operationType"].as_str().unwrap_or_default();
                        if let Some(field) = column["sourceField"]
                            .as_str()
                            .filter(|f| *f != "___records___")
                        {
                            match mappings.field_type(field) {
                                None => problems.push(format!("{at}: {operation} of {field}, not in the mappings")),
                                Some(t) => match accepted(operation, t) {
                                    None => problems.push(format!("{at}: {operation} cannot use {field} ({t})")),
                                    Some(data_type) if column["dataType"] != data_type => problems.push(format!(
                                        "{at}: {operation} of {field} ({t}) gives {data_type}, the column says {}",
                                        column["dataType"]
                                    )),
                                    Some(_) => {}
                                },
                            }
                        } else if matches!(
                            operation,
                            "terms"
                                | "date_histogram"
                                | "average"
                                | "sum"
                                | "min"
                                | "max"
                                | "last_value"
                                | "unique_count"
                                | "median"
                        ) {
                            problems.push(format!("{at}: {operation} without a sourceField"));
                        }
                        if column["filter"].is_object() {
                            kql(&format!("{at} filter"), &column["filter"], &mut problems);
                        }
                        for f in column["params"]["filters"].as_array().into_iter().flatten() {
                            kql(&format!("{at} filters"), &f["input"], &mut problems);
                        }
                        if let Some(sort) = column["params"]["sortField"].as_str()
                            && !mappings.field_type(sort).is_some_and(|t| DATE.contains(&t))
                        {
                            problems.push(format!("{at}: sorts on {sort}, not a date"));
                        }
                        if let Some(order) = column["params"]["orderBy"]["columnId"].as_str()
                            && !columns.contains_key(order)
                        {
                            problems
                                .push(format!("{at}: ordered by column {order}, not in the layer"));
                        }
                        for r in column["references"].as_array().into_iter().flatten() {
                            if !columns.contains_key(r.as_str().unwrap_or_default()) {
                                problems
                                    .push(format!("{at}: references column {r}, not in the layer"));
                            }
                        }
                    }
                }
                // Accessors of the visualisation name columns of the layer.
                let all_columns: BTreeSet<String> = layers(&attributes)
                    .iter()
                    .flat_map(|(_, l)| {
                        l["columns"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(k, _)| k.clone())
                    })
                    .collect();
                let vis = &state["visualization"];
                let mut accessors: Vec<&Value> = Vec::new();
                for l in vis["layers"].as_array().into_iter().flatten() {
                    accessors.extend(l["accessors"].as_array().into_iter().flatten());
                    accessors.extend([&l["xAccessor"], &l["splitAccessor"]]);
                }
                accessors.extend(
                    vis["columns"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| &c["columnId"]),
                );
                accessors.extend([&vis["metricAccessor"], &vis["accessor"]]);
                for a in accessors.into_iter().filter_map(Value::as_str) {
                    if !all_columns.contains(a) {
                        problems.push(format!(
                            "{label}: the visualisation shows column {a}, not in any layer"
                        ));
                    }
                }
            }
        }
        problems
    }

    /// All checks of one export file.
    pub fn check_export(text: &str, mappings: &Mappings) -> Vec<String> {
        match parse_ndjson(text) {
            Err(problems) => problems,
            Ok(export) => {
                let mut problems = check_shape(&export.objects);
                problems.extend(check_summary(&export));
                problems.extend(check_references(&export.objects));
                problems.extend(check_fields(&export.objects, mappings));
                problems
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::checks::*;
    use super::*;
    use std::path::PathBuf;

    fn mappings() -> Mappings {
        let path =
            crate::workspace().join("engine/src/store/elasticsearch/templates/mappings.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Mappings::from_template(&serde_json::from_str(&text).expect("mappings.json"))
    }

    fn shipped_exports() -> Vec<PathBuf> {
        let dir = crate::workspace().join("deploy/kibana");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no .ndjson file in deploy/kibana");
        files
    }

    fn shipped() -> Vec<Value> {
        shipped_exports()
            .iter()
            .flat_map(|p| {
                parse_ndjson(&std::fs::read_to_string(p).unwrap())
                    .unwrap()
                    .objects
            })
            .collect()
    }

    // ---------------- the shipped saved objects ----------------

    #[test]
    fn kibana_shipped_saved_objects_pass_every_check() {
        let mappings = mappings();
        for path in shipped_exports() {
            let problems = check_export(&std::fs::read_to_string(&path).unwrap(), &mappings);
            assert!(
                problems.is_empty(),
                "{}:\n{}",
                path.display(),
                problems.join("\n")
            );
        }
    }

    #[test]
    fn kibana_shipped_saved_objects_are_what_the_contract_asks() {
        let objects = shipped();
        let data_view = objects
            .iter()
            .find(|o| o["type"] == "index-pattern")
            .expect("a data view");
        assert_eq!(data_view["id"], "smm-measurements");
        assert_eq!(
            data_view["attributes"]["title"],
            "metrics-smm.measurements-*"
        );
        assert_eq!(data_view["attributes"]["timeFieldName"], "@timestamp");
        let dashboards: Vec<&str> = objects
            .iter()
            .filter(|o| o["type"] == "dashboard")
            .filter_map(|o| o["id"].as_str())
            .collect();
        assert_eq!(
            dashboards,
            [
                "smm-dashboard-measures",
                "smm-dashboard-latest",
                "smm-dashboard-collections",
                "smm-dashboard-grades"
            ]
        );
        // One coherent Kibana version: what an 8.17 export writes.
        for o in &objects {
            let want = match o["type"].as_str().unwrap() {
                "index-pattern" => "8.0.0",
                "lens" => "8.9.0",
                "dashboard" => "10.2.0",
                other => panic!("unexpected type {other}"),
            };
            assert_eq!(o["coreMigrationVersion"], "8.8.0", "{}", o["id"]);
            assert_eq!(o["typeMigrationVersion"], want, "{}", o["id"]);
        }
        // The fields the brief names are used where it says.
        let text: String = objects.iter().map(|o| o.to_string()).collect();
        for needle in [
            r#""sourceField":"labels.team""#,
            r#""sourceField":"service.name""#,
            r#""operationType":"average""#,
            r#""sourceField":"measure.reference""#,
            r#""sourceField":"measurement.instance""#,
            r#""operationType":"last_value""#,
            r#""sourceField":"error.type""#,
            r#""sourceField":"event.outcome""#,
            r#""sourceField":"measurement.text""#,
            r#"measure.kind : \"grade\""#,
            r#"\"fieldName\":\"measure.id\""#,
        ] {
            assert!(text.contains(needle), "no {needle} in the shipped objects");
        }
    }

    #[test]
    fn kibana_shipped_saved_objects_import_into_the_stand_in() {
        let server = KibanaServer::start(KibanaConfig::default()).unwrap();
        let objects = shipped();
        let text = std::fs::read_to_string(&shipped_exports()[0]).unwrap();
        let body = run_import_text(&server, &text, &ImportOptions::default());
        assert_eq!(body["success"], true, "{body}");
        assert_eq!(body["successCount"], objects.len());
        assert_eq!(server.objects().len(), objects.len());
        let again = run_import_text(&server, &text, &ImportOptions::default());
        assert_eq!(again["success"], false);
        assert_eq!(again["errors"].as_array().unwrap().len(), objects.len());
        assert!(
            again["errors"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["error"]["type"] == "conflict")
        );
    }

    fn run_import_text(server: &KibanaServer, text: &str, options: &ImportOptions) -> Value {
        let objects = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v.get("exportedCount").is_none())
            .collect();
        run_import(&server.shared, "default", objects, options).body
    }

    // ---------------- each checker fails on a broken object ----------------

    fn lens_object() -> Value {
        let objects = shipped();
        objects
            .into_iter()
            .find(|o| o["id"] == "smm-lens-value-by-team")
            .expect("smm-lens-value-by-team")
    }

    fn with_data_view(mut objects: Vec<Value>) -> Vec<Value> {
        objects.insert(
            0,
            shipped()
                .into_iter()
                .find(|o| o["type"] == "index-pattern")
                .unwrap(),
        );
        objects
    }

    /// The single formBased layer of a Lens object, mutably.
    fn layer_mut(lens: &mut Value) -> &mut Value {
        let layers = lens["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
            .as_object_mut()
            .unwrap();
        layers.values_mut().next().unwrap()
    }

    fn column_mut<'a>(lens: &'a mut Value, operation: &str) -> &'a mut Value {
        layer_mut(lens)["columns"]
            .as_object_mut()
            .unwrap()
            .values_mut()
            .find(|c| c["operationType"] == operation)
            .unwrap()
    }

    #[test]
    fn kibana_check_parse_rejects_a_broken_line() {
        let problems = parse_ndjson("{\"type\":\"lens\"}\n{\"type\": lens}\n").unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("line 2:"), "{problems:?}");
        assert!(parse_ndjson("[1]\n").is_err());
    }

    #[test]
    fn kibana_check_shape_rejects_an_object_without_id_or_attributes() {
        let mut lens = lens_object();
        assert!(check_shape(std::slice::from_ref(&lens)).is_empty());
        lens.as_object_mut().unwrap().remove("id");
        lens["attributes"] = Value::Null;
        let problems = check_shape(&[lens]);
        assert!(problems.iter().any(|p| p.contains("no id")), "{problems:?}");
        assert!(
            problems.iter().any(|p| p.contains("no attributes")),
            "{problems:?}"
        );
    }

    #[test]
    fn kibana_check_summary_rejects_a_wrong_count() {
        let text = std::fs::read_to_string(&shipped_exports()[0]).unwrap();
        let mut export = parse_ndjson(&text).unwrap();
        assert!(check_summary(&export).is_empty());
        export.objects.pop();
        let problems = check_summary(&export);
        assert!(
            problems.iter().any(|p| p.contains("exportedCount")),
            "{problems:?}"
        );
        export.summary = None;
        assert_eq!(check_summary(&export), ["no export summary line"]);
    }

    #[test]
    fn kibana_check_references_rejects_dangling_ones() {
        let lens = lens_object();
        assert!(check_references(&with_data_view(vec![lens.clone()])).is_empty());
        // The data view is not in the file.
        let problems = check_references(std::slice::from_ref(&lens));
        assert!(
            problems.iter().any(|p| p.contains("is not in the file")),
            "{problems:?}"
        );
        // A layer without its reference.
        let mut broken = lens.clone();
        broken["references"] = json!([]);
        let problems = check_references(&with_data_view(vec![broken]));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("has no reference indexpattern-datasource-layer-")),
            "{problems:?}"
        );
        // A dashboard panel pointing to a Lens object that is not there.
        let dashboard = shipped()
            .into_iter()
            .find(|o| o["id"] == "smm-dashboard-latest")
            .unwrap();
        let problems = check_references(&with_data_view(vec![dashboard.clone()]));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("lens:smm-lens-latest-per-instance is not in the file")),
            "{problems:?}"
        );
        // A panel whose panelRefName has no reference.
        let mut broken = dashboard;
        broken["references"]
            .as_array_mut()
            .unwrap()
            .retain(|r| r["type"] != "lens");
        let problems = check_references(&with_data_view(vec![broken]));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("which is not in references")),
            "{problems:?}"
        );
    }

    #[test]
    fn kibana_check_fields_rejects_unknown_fields_and_wrong_types() {
        let mappings = mappings();
        let lens = lens_object();
        assert!(check_fields(std::slice::from_ref(&lens), &mappings).is_empty());

        let mut unknown = lens.clone();
        column_mut(&mut unknown, "average")["sourceField"] = "measurement.valu".into();
        let problems = check_fields(&[unknown], &mappings);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("measurement.valu, not in the mappings")),
            "{problems:?}"
        );

        let mut keyword = lens.clone();
        column_mut(&mut keyword, "average")["sourceField"] = "labels.team".into();
        let problems = check_fields(&[keyword], &mappings);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("average cannot use labels.team (keyword)")),
            "{problems:?}"
        );

        let mut text = lens.clone();
        column_mut(&mut text, "terms")["sourceField"] = "error.message".into();
        let problems = check_fields(&[text], &mappings);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("terms cannot use error.message (match_only_text)")),
            "{problems:?}"
        );

        let mut histogram = lens.clone();
        column_mut(&mut histogram, "date_histogram")["sourceField"] = "measurement.value".into();
        let problems = check_fields(&[histogram], &mappings);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("date_histogram cannot use measurement.value (double)")),
            "{problems:?}"
        );

        let mut query = lens.clone();
        query["attributes"]["state"]["query"]["query"] = "event.outcom : \"success\"".into();
        let problems = check_fields(&[query], &mappings);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("query uses field event.outcom")),
            "{problems:?}"
        );

        let mut accessor = lens;
        accessor["attributes"]["state"]["visualization"]["layers"][0]["xAccessor"] = "nope".into();
        let problems = check_fields(&[accessor], &mappings);
        assert!(
            problems.iter().any(|p| p.contains("shows column nope")),
            "{problems:?}"
        );

        let mut dashboard = shipped()
            .into_iter()
            .find(|o| o["id"] == "smm-dashboard-measures")
            .unwrap();
        let controls = dashboard["attributes"]["controlGroupInput"]["panelsJSON"]
            .as_str()
            .unwrap();
        dashboard["attributes"]["controlGroupInput"]["panelsJSON"] = controls
            .replace("\"labels.team\"", "\"error.message\"")
            .into();
        let problems = check_fields(&[dashboard], &mappings);
        assert!(
            problems.iter().any(|p| p.contains("on error.message")),
            "{problems:?}"
        );
    }

    #[test]
    fn kibana_mappings_resolve_labels_through_the_dynamic_template() {
        let mappings = mappings();
        assert_eq!(mappings.field_type("labels.team"), Some("keyword"));
        assert_eq!(mappings.field_type("labels.anything"), Some("keyword"));
        assert_eq!(mappings.field_type("measurement.value"), Some("double"));
        assert_eq!(mappings.field_type("@timestamp"), Some("date"));
        assert_eq!(mappings.field_type("labels"), None);
        assert_eq!(mappings.field_type("team"), None);
    }

    #[test]
    fn kibana_kql_fields_are_the_operands_before_operators() {
        assert_eq!(
            kql_fields(r#"event.outcome : "failure""#),
            ["event.outcome"]
        );
        assert_eq!(
            kql_fields(r#""measurement.value": * and not (labels.team:payments or x >= 3)"#),
            ["measurement.value", "labels.team", "x"]
        );
        assert_eq!(kql_fields(r#"error.message : "a: b""#), ["error.message"]);
        assert!(kql_fields("").is_empty());
    }

    // ---------------- the stand-in's own pieces ----------------

    #[test]
    fn kibana_multipart_parser_reads_parts_and_refuses_garbage() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.ndjson\"\r\nContent-Type: application/ndjson\r\n\r\n{}\n{}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--XyZ--\r\n";
        let parts = parse_multipart("XyZ", body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "file");
        assert_eq!(parts[0].filename.as_deref(), Some("a.ndjson"));
        assert_eq!(parts[0].data, b"{}\n{}");
        assert_eq!(parts[1].filename, None);
        assert_eq!(
            parse_multipart("other", body).unwrap_err(),
            INVALID_MULTIPART
        );
        assert!(parse_multipart("XyZ", b"--XyZ\r\nno headers").is_err());
    }

    #[test]
    fn kibana_extname_is_nodes() {
        assert_eq!(extname("smm.ndjson"), ".ndjson");
        assert_eq!(extname("dir/smm.v1.NDJSON"), ".NDJSON");
        assert_eq!(extname(".ndjson"), "");
        assert_eq!(extname("smm"), "");
        assert!(version_gt("10.2.0", "8.9.0"));
        assert!(!version_gt("8.9.0", "8.9.0"));
    }

    // ---------------- the stand-in over HTTP ----------------

    const DATA_VIEW: &str = r#"{"attributes":{"title":"metrics-smm.measurements-*","timeFieldName":"@timestamp"},"coreMigrationVersion":"8.8.0","id":"dv","managed":false,"references":[],"type":"index-pattern","typeMigrationVersion":"8.0.0"}"#;
    const LENS: &str = r#"{"attributes":{"title":"A chart","state":{}},"coreMigrationVersion":"8.8.0","id":"chart","managed":false,"references":[{"id":"dv","name":"indexpattern-datasource-layer-1","type":"index-pattern"}],"type":"lens","typeMigrationVersion":"8.9.0"}"#;
    const DASHBOARD: &str = r#"{"attributes":{"title":"A board","panelsJSON":"[]"},"coreMigrationVersion":"8.8.0","id":"board","managed":false,"references":[{"id":"chart","name":"p1:panel_p1","type":"lens"}],"type":"dashboard","typeMigrationVersion":"10.2.0"}"#;
    const SUMMARY: &str = r#"{"excludedObjects":[],"excludedObjectsCount":0,"exportedCount":3,"missingRefCount":0,"missingReferences":[]}"#;

    fn ndjson(lines: &[&str]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    fn form(text: &str, filename: &str) -> reqwest::multipart::Form {
        let part = reqwest::multipart::Part::bytes(text.as_bytes().to_vec())
            .file_name(filename.to_string())
            .mime_str("application/ndjson")
            .unwrap();
        reqwest::multipart::Form::new().part("file", part)
    }

    async fn post(server: &KibanaServer, query: &str, text: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/api/saved_objects/_import{query}", server.url()))
            .header("kbn-xsrf", "true")
            .multipart(form(text, "export.ndjson"))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    #[tokio::test]
    async fn kibana_stand_in_imports_and_reports_like_kibana() {
        let server = KibanaServer::start(KibanaConfig::default()).unwrap();
        let (status, body) =
            post(&server, "", &ndjson(&[DATA_VIEW, LENS, DASHBOARD, SUMMARY])).await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({
                "successCount": 3, "success": true, "warnings": [],
                "successResults": [
                    {"type": "index-pattern", "id": "dv", "meta": {"title": "metrics-smm.measurements-*", "icon": "indexPatternApp"}, "managed": false},
                    {"type": "lens", "id": "chart", "meta": {"title": "A chart", "icon": "lensApp"}, "managed": false},
                    {"type": "dashboard", "id": "board", "meta": {"title": "A board", "icon": "dashboardApp"}, "managed": false}
                ]
            })
        );
        let stored: Vec<(String, String)> = server
            .objects()
            .into_iter()
            .map(|o| (o.object_type, o.id))
            .collect();
        assert_eq!(stored.len(), 3);
        let lens = server.object("lens", "chart").unwrap();
        assert_eq!(lens.title(), Some("A chart"));
        assert_eq!(lens.references()[0].1, "dv");
        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].method, "POST");
        assert_eq!(requests[0].path, "/api/saved_objects/_import");
        assert_eq!(requests[0].header("kbn-xsrf"), Some("true"));
        assert_eq!(requests[0].status, 200);
    }

    #[tokio::test]
    async fn kibana_stand_in_reports_conflicts_and_overwrites_on_request() {
        let server = KibanaServer::start(KibanaConfig::default()).unwrap();
        let text = ndjson(&[DATA_VIEW, LENS]);
        assert_eq!(post(&server, "", &text).await.1["success"], true);

        let (status, body) = post(&server, "?overwrite=false", &text).await;
        assert_eq!(status, 200);
        assert_eq!(body["success"], false);
        assert_eq!(body["successCount"], 0);
        assert_eq!(
            body["errors"][1],
            json!({"id": "chart", "type": "lens", "meta": {"title": "A chart", "icon": "lensApp"}, "error": {"type": "conflict"}})
        );
        assert!(body.get("successResults").is_none());

        let (_, body) = post(&server, "?overwrite=true", &text).await;
        assert_eq!(body["success"], true, "{body}");
        assert_eq!(body["successResults"][0]["overwrite"], true);
        assert_eq!(body["successResults"][1]["overwrite"], true);
        assert!(body.get("errors").is_none());
    }

    #[tokio::test]
    async fn kibana_stand_in_writes_nothing_while_a_reference_is_missing() {
        let server = KibanaServer::start(KibanaConfig::default()).unwrap();
        // The dashboard's Lens reference is not validated (as Kibana); the
        // Lens object's data view reference is.
        let (status, body) = post(&server, "", &ndjson(&[LENS, DASHBOARD])).await;
        assert_eq!(status, 200);
        assert_eq!(body["success"], false);
        assert_eq!(
            body["errors"],
            json!([{"id": "chart", "type": "lens", "meta": {"title": "A chart", "icon": "lensApp"},
                    "error": {"type": "missing_references", "references": [{"type": "index-pattern", "id": "dv"}]}}])
        );
        // The dashboard would have been imported, but nothing was written.
        assert_eq!(body["successCount"], 1);
        assert_eq!(body["successResults"][0]["id"], "board");
        assert!(server.objects().is_empty());

        // Once Kibana has the data view, the same file imports.
        server.preload("default", serde_json::from_str(DATA_VIEW).unwrap());
        let (_, body) = post(&server, "", &ndjson(&[LENS, DASHBOARD])).await;
        assert_eq!(body["success"], true, "{body}");
        assert_eq!(server.objects().len(), 3);
    }

    #[tokio::test]
    async fn kibana_stand_in_refuses_unsupported_types_and_objects_from_a_later_kibana() {
        let server = KibanaServer::start(KibanaConfig::default()).unwrap();
        let alien = r#"{"attributes":{"title":"x"},"id":"a","references":[],"type":"alien"}"#;
        let future = DASHBOARD.replace("\"10.2.0\"", "\"10.9.0\"");
        let (status, body) = post(&server, "", &ndjson(&[DATA_VIEW, alien, &future])).await;
        assert_eq!(status, 200);
        assert_eq!(body["success"], false);
        assert_eq!(body["successCount"], 1);
        assert_eq!(
            body["errors"][0]["error"],
            json!({"type": "unsupported_type"})
        );
        assert_eq!(body["errors"][1]["error"]["type"], "unknown");
        assert_eq!(
            body["errors"][1]["error"]["message"],
            "Document \"board\" has property \"dashboard\" which belongs to a more recent version of Kibana [10.9.0]. The last known version is [10.2.0]"
        );
        assert_eq!(
            server.objects().len(),
            1,
            "unsupported and unknown errors do not block the rest"
        );

        let (status, body) = post(&server, "", &ndjson(&[DATA_VIEW, DATA_VIEW])).await;
        assert_eq!(status, 400);
        assert_eq!(
            body["message"],
            "Non-unique import objects detected: [index-pattern:dv]"
        );
    }

    #[tokio::test]
    async fn kibana_stand_in_is_strict_about_the_request() {
        let server = KibanaServer::start(KibanaConfig::default()).unwrap();
        let client = reqwest::Client::new();
        let url = format!("{}/api/saved_objects/_import", server.url());
        let text = ndjson(&[DATA_VIEW]);

        // No kbn-xsrf header.
        let response = client
            .post(&url)
            .multipart(form(&text, "a.ndjson"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"statusCode": 400, "error": "Bad Request", "message": "Request must contain a kbn-xsrf header."})
        );
        // kbn-version stands in for kbn-xsrf, as in Kibana.
        let response = client
            .post(&url)
            .header("kbn-version", "8.19.21")
            .multipart(form(&text, "a.ndjson"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);

        let cases: &[(&str, &str, &str)] = &[
            (
                "?overwrite=true&createNewCopies=true",
                "a.ndjson",
                "[request query]: cannot use [overwrite] with [createNewCopies]",
            ),
            (
                "?overwrite=yes",
                "a.ndjson",
                "[request query.overwrite]: expected value of type [boolean] but got [string]",
            ),
            (
                "?pretty=true",
                "a.ndjson",
                "[request query.pretty]: definition for this key is missing",
            ),
            ("", "a.json", "Invalid file extension .json"),
            ("", "ndjson", "Invalid file extension "),
        ];
        for (query, filename, message) in cases {
            let response = client
                .post(format!("{url}{query}"))
                .header("kbn-xsrf", "true")
                .multipart(form(&text, filename))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 400, "{query} {filename}");
            assert_eq!(
                response.json::<Value>().await.unwrap()["message"],
                *message,
                "{query} {filename}"
            );
        }

        // Not multipart at all.
        let response = client
            .post(&url)
            .header("kbn-xsrf", "true")
            .header("content-type", "application/json")
            .body(text.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 415);
        // Multipart without a file part, or with the file as a plain field.
        let no_file = reqwest::multipart::Form::new().text("other", "x");
        let response = client
            .post(&url)
            .header("kbn-xsrf", "true")
            .multipart(no_file)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.json::<Value>().await.unwrap()["message"],
            "[request body.file]: expected value of type [Stream] but got [undefined]"
        );
        let field = reqwest::multipart::Form::new().text("file", text.clone());
        let response = client
            .post(&url)
            .header("kbn-xsrf", "true")
            .multipart(field)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.json::<Value>().await.unwrap()["message"],
            "[request body.file]: expected value of type [Stream] but got [string]"
        );
        // A broken line.
        let (status, body) = post(&server, "", "{\"type\":\n").await;
        assert_eq!(status, 400);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .starts_with("Unexpected token in JSON"),
            "{body}"
        );
        // Unknown routes.
        let response = client
            .get(format!("{}/api/nothing", server.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 404);
        assert!(
            server.objects().len() == 1,
            "only the kbn-version import wrote"
        );
    }

    #[tokio::test]
    async fn kibana_stand_in_requires_credentials_when_security_is_on() {
        let basic = KibanaAuth::basic("elastic", "s3cret");
        let key = KibanaAuth::api_key("kid", "kval");
        let server = KibanaServer::start(
            KibanaConfig::default()
                .with_auth(basic.clone())
                .with_auth(key.clone()),
        )
        .unwrap();
        let client = reqwest::Client::new();
        let url = format!("{}/api/saved_objects/_import", server.url());
        let text = ndjson(&[DATA_VIEW]);
        let send = |auth: Option<String>| {
            let mut request = client
                .post(&url)
                .header("kbn-xsrf", "true")
                .multipart(form(&text, "a.ndjson"));
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            request.send()
        };

        let response = send(None).await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"statusCode": 401, "error": "Unauthorized", "message": "Unauthorized"})
        );
        let wrong = KibanaAuth::basic("elastic", "nope").header_value();
        let response = send(Some(wrong)).await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(
            response.json::<Value>().await.unwrap()["message"]
                .as_str()
                .unwrap()
                .contains("unable to authenticate user [elastic]")
        );
        let response = send(Some(KibanaAuth::api_key("kid", "other").header_value()))
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        // 401 comes before the XSRF check.
        let response = client
            .post(&url)
            .multipart(form(&text, "a.ndjson"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);

        assert_eq!(
            send(Some(basic.header_value())).await.unwrap().status(),
            200
        );
        assert_eq!(send(Some(key.header_value())).await.unwrap().status(), 200);

        let status_url = format!("{}/api/status", server.url());
        assert_eq!(client.get(&status_url).send().await.unwrap().status(), 401);
        let status: Value = client
            .get(&status_url)
            .header("authorization", basic.header_value())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["version"]["number"], "8.19.21");
        assert_eq!(status["status"]["overall"]["level"], "available");
        assert_eq!(server.requests().len(), 8);
    }

    #[tokio::test]
    async fn kibana_stand_in_creates_new_copies_and_keeps_spaces_apart() {
        let server = KibanaServer::start(KibanaConfig::default()).unwrap();
        let text = ndjson(&[DATA_VIEW, LENS]);
        let (_, body) = post(&server, "?createNewCopies=true", &text).await;
        assert_eq!(body["success"], true, "{body}");
        let new_dv = body["successResults"][0]["destinationId"]
            .as_str()
            .unwrap()
            .to_string();
        assert_ne!(new_dv, "dv");
        let copy = server
            .objects()
            .into_iter()
            .find(|o| o.object_type == "lens")
            .unwrap();
        assert_eq!(
            copy.references()[0].1,
            new_dv,
            "references follow the new ids"
        );

        let response = reqwest::Client::new()
            .post(format!(
                "{}/s/team-a/api/saved_objects/_import",
                server.url()
            ))
            .header("kbn-xsrf", "true")
            .multipart(form(&text, "a.ndjson"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.json::<Value>().await.unwrap()["success"], true);
        assert_eq!(
            server
                .objects()
                .iter()
                .filter(|o| o.space == "team-a")
                .count(),
            2
        );
        assert!(
            server.object("lens", "chart").is_none(),
            "team-a's objects are not in the default space"
        );
    }
}
