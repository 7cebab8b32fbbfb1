//! The HTTP layer: connections, the body size limit (413), authentication
//! (401), injected request faults, routing (400 "no handler", 405),
//! content-type negotiation (406), unrecognized parameters, dispatch.
//! The order is ES's: HTTP layer, security, then the REST controller.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::cluster::Cluster;
use super::error::EsError;
use super::faults::Faults;
use super::{Credentials, NODE_ID, RecordedRequest, bulk, indices, search, templates};

pub(crate) struct Shared {
    pub cluster: Mutex<Cluster>,
    pub faults: Mutex<Faults>,
    pub requests: Mutex<Vec<RecordedRequest>>,
    pub version: String,
    pub cluster_name: String,
    pub cluster_uuid: String,
    pub credentials: Vec<Credentials>,
}

/// Lock, ignoring poisoning (a panicking test must not cascade).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One request as the handlers see it.
pub(crate) struct Req {
    pub method: String,
    pub params: Vec<(String, String)>,
    pub body: Bytes,
}

impl Req {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter (`?refresh` alone means true).
    pub fn flag(&self, name: &str) -> Result<Option<bool>, EsError> {
        match self.param(name) {
            None => Ok(None),
            Some("" | "true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(EsError::illegal_argument(format!(
                "Failed to parse value [{other}] as only [true] or [false] are allowed."
            ))),
        }
    }

    /// The JSON body, `None` when there is none.
    pub fn json_body(&self) -> Result<Option<Value>, EsError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&self.body)
            .map(Some)
            .map_err(|e| EsError::json_syntax(&e))
    }
}

fn decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

// ---- connections ------------------------------------------------------------

pub(crate) async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
    refresh: Option<Duration>,
) {
    let mut conns = JoinSet::new();
    let mut ticker = refresh.map(tokio::time::interval);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(serve_connection(stream, shared.clone()));
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = async { match ticker.as_mut() { Some(t) => { t.tick().await; } None => std::future::pending().await } } => {
                lock(&shared.cluster).refresh_all();
            }
        }
    }
    drop(listener);
    conns.shutdown().await;
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let service = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(shared, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// The ES default `http.max_content_length`.
pub(crate) const DEFAULT_MAX_CONTENT_LENGTH: usize = 100 * 1024 * 1024;

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let (latency, max_len) = {
        let f = lock(&shared.faults);
        (
            f.latency,
            f.max_content_length.unwrap_or(DEFAULT_MAX_CONTENT_LENGTH),
        )
    };
    let declared: Option<usize> = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let mut too_large = declared.is_some_and(|n| n > max_len);
    let mut bytes = Bytes::new();
    if !too_large {
        match Limited::new(body, max_len).collect().await {
            Ok(c) => bytes = c.to_bytes(),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => too_large = true,
            Err(_) => return reply(400, None, &[], false),
        }
    }
    let body_len = declared.unwrap_or(bytes.len());
    let (status, body, extra) = process(
        &shared,
        &method,
        &path,
        query.as_deref(),
        &headers,
        bytes,
        too_large,
    );
    lock(&shared.requests).push(RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        headers: headers.clone(),
        body_len,
        status,
    });
    // The latency delays the answer, not the work: like a busy or distant
    // cluster, the request is processed even if the client gives up
    // waiting (a lost answer), as Elasticsearch does not cancel a bulk
    // whose connection closed.
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let pretty = parse_query(query.as_deref())
        .iter()
        .any(|(k, v)| k == "pretty" && v != "false");
    let compat = headers
        .iter()
        .find(|(k, _)| k == "accept")
        .and_then(|(_, v)| media_type(v))
        .and_then(|m| m.compat);
    let mut extra = extra;
    if let Some(v) = compat {
        extra.push((
            "content-type".into(),
            format!("application/vnd.elasticsearch+json;compatible-with={v}"),
        ));
    }
    let body = if method == "HEAD" { None } else { body };
    reply(
        status,
        body.map(|b| {
            if pretty {
                serde_json::to_vec_pretty(&b)
            } else {
                serde_json::to_vec(&b)
            }
            .unwrap_or_default()
        }),
        &extra,
        true,
    )
}

fn reply(
    status: u16,
    body: Option<Vec<u8>>,
    headers: &[(String, String)],
    product: bool,
) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(status);
    if product {
        b = b.header("X-Elastic-Product", "Elasticsearch");
    }
    let has_type = headers.iter().any(|(k, _)| k == "content-type");
    for (k, v) in headers {
        b = b.header(k.as_str(), v.as_str());
    }
    if body.is_some() && !has_type {
        b = b.header("content-type", "application/json");
    }
    b.body(Full::new(Bytes::from(body.unwrap_or_default())))
        .expect("valid response")
}

// ---- the REST layer ---------------------------------------------------------

struct MediaType {
    base: String,
    compat: Option<u32>,
    ok: bool,
}

fn media_type(raw: &str) -> Option<MediaType> {
    let mut parts = raw.split(';');
    let base = parts.next()?.trim().to_ascii_lowercase();
    let vnd = matches!(
        base.as_str(),
        "application/vnd.elasticsearch+json" | "application/vnd.elasticsearch+x-ndjson"
    );
    let mut m = MediaType {
        ok: vnd || matches!(base.as_str(), "application/json" | "application/x-ndjson"),
        base,
        compat: None,
    };
    for p in parts.map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        let v = v.trim().trim_matches('"');
        match k.trim().to_ascii_lowercase().as_str() {
            "charset" if v.eq_ignore_ascii_case("utf-8") => {}
            "compatible-with" if vnd && v.parse::<u32>().is_ok() => m.compat = v.parse().ok(),
            _ => m.ok = false,
        }
    }
    if vnd && m.compat.is_none() {
        m.ok = false;
    }
    Some(m)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// 406 for a body ES cannot read; 400 for an unsupported compatible version.
fn check_media(headers: &[(String, String)], has_body: bool, major: u32) -> Result<(), EsError> {
    let compat_error = |which: &str, v: u32, raw: &str| {
        EsError::new(400, "media_type_header_exception", format!("Invalid media-type value on headers [{which}]")).caused_by(
            super::error::cause(
                "status_exception",
                format!("{which} version must be either version {major} or {}, but found {v}. {which}={raw}", major - 1),
            ),
        )
    };
    let accept = header(headers, "accept").and_then(media_type);
    if let Some(a) = &accept
        && let Some(v) = a.compat
        && v != major
        && v + 1 != major
    {
        return Err(compat_error(
            "Accept",
            v,
            header(headers, "accept").unwrap_or_default(),
        ));
    }
    if !has_body {
        return Ok(());
    }
    let Some(raw) = header(headers, "content-type") else {
        return Err(EsError::plain(406, "Content-Type header is missing"));
    };
    let m = media_type(raw).filter(|m| m.ok).ok_or_else(|| {
        EsError::plain(406, format!("Content-Type header [{raw}] is not supported"))
    })?;
    if let Some(v) = m.compat {
        if v != major && v + 1 != major {
            return Err(compat_error("Content-Type", v, raw));
        }
        if let Some(a) = accept.and_then(|a| a.compat)
            && a != v
        {
            return Err(EsError::new(400, "media_type_header_exception", "Invalid media-type value on headers [Content-Type, Accept]").caused_by(
                super::error::cause(
                    "status_exception",
                    format!("Content-Type and Accept headers have to match when content is present. Accept={a} Content-Type={v}"),
                ),
            ));
        }
    }
    let _ = m.base;
    Ok(())
}

fn authenticate(
    creds: &[Credentials],
    headers: &[(String, String)],
    uri: &str,
) -> Result<(), EsError> {
    if creds.is_empty() {
        return Ok(());
    }
    let challenge = [
        "Basic realm=\"security\", charset=\"UTF-8\"",
        "Bearer realm=\"security\"",
        "ApiKey",
    ];
    let fail = |reason: String| {
        let mut e = EsError::new(401, "security_exception", reason)
            .with("header", json!({"WWW-Authenticate": challenge}));
        for c in challenge {
            e = e.header("WWW-Authenticate", c);
        }
        e
    };
    let Some(value) = header(headers, "authorization") else {
        return Err(fail(format!(
            "missing authentication credentials for REST request [{uri}]"
        )));
    };
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let decoded = || {
        STANDARD
            .decode(token.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    };
    let unknown = "unable to authenticate with provided credentials and anonymous access is not allowed for this request";
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => {
            let pair = decoded().unwrap_or_default();
            let (user, password) = pair.split_once(':').unwrap_or((&pair, ""));
            if creds.iter().any(|c| matches!(c, Credentials::Basic { user: u, password: p } if u == user && p == password)) {
                return Ok(());
            }
            Err(fail(format!(
                "unable to authenticate user [{user}] for REST request [{uri}]"
            )))
        }
        "apikey" => {
            let pair = decoded().unwrap_or_default();
            let (id, key) = pair.split_once(':').unwrap_or((&pair, ""));
            if creds
                .iter()
                .any(|c| matches!(c, Credentials::ApiKey { id: i, key: k } if i == id && k == key))
            {
                return Ok(());
            }
            Err(fail(unknown.into()).with(
                "additional_unsuccessful_credentials",
                format!(
                    "API key: unable to authenticate with provided credentials for API key [{id}]"
                ),
            ))
        }
        "bearer" => {
            if creds
                .iter()
                .any(|c| matches!(c, Credentials::Bearer(t) if t == token.trim()))
            {
                return Ok(());
            }
            Err(fail(unknown.into()).with(
                "additional_unsuccessful_credentials",
                "oauth2 token: token malformed",
            ))
        }
        _ => Err(fail(format!(
            "missing authentication credentials for REST request [{uri}]"
        ))),
    }
}

#[derive(Debug)]
enum Route {
    Root,
    Bulk(Option<String>),
    Search(Option<String>),
    Count(Option<String>),
    OpenPit(String),
    ClosePit,
    Refresh(Option<String>),
    Ilm(Option<String>),
    Component(Option<String>),
    IndexTemplate(Option<String>),
    DataStream(Option<String>),
    Index(String),
}

fn route(seg: &[String]) -> Option<(Route, &'static [&'static str])> {
    let s: Vec<&str> = seg.iter().map(String::as_str).collect();
    let target = |t: &str| Some(t.to_string());
    Some(match s.as_slice() {
        [] => (Route::Root, &["GET", "HEAD"]),
        ["_bulk"] => (Route::Bulk(None), &["POST", "PUT"]),
        [t, "_bulk"] => (Route::Bulk(target(t)), &["POST", "PUT"]),
        ["_search"] => (Route::Search(None), &["GET", "POST"]),
        [t, "_search"] => (Route::Search(target(t)), &["GET", "POST"]),
        ["_count"] => (Route::Count(None), &["GET", "POST"]),
        [t, "_count"] => (Route::Count(target(t)), &["GET", "POST"]),
        ["_pit"] => (Route::ClosePit, &["DELETE"]),
        [t, "_pit"] => (Route::OpenPit(t.to_string()), &["POST"]),
        ["_refresh"] => (Route::Refresh(None), &["GET", "POST"]),
        [t, "_refresh"] => (Route::Refresh(target(t)), &["GET", "POST"]),
        ["_ilm", "policy"] => (Route::Ilm(None), &["GET"]),
        ["_ilm", "policy", n] => (Route::Ilm(target(n)), &["GET", "PUT", "DELETE"]),
        ["_component_template"] => (Route::Component(None), &["GET"]),
        ["_component_template", n] => (
            Route::Component(target(n)),
            &["GET", "HEAD", "PUT", "POST", "DELETE"],
        ),
        ["_index_template"] => (Route::IndexTemplate(None), &["GET"]),
        ["_index_template", n] => (
            Route::IndexTemplate(target(n)),
            &["GET", "HEAD", "PUT", "POST", "DELETE"],
        ),
        ["_data_stream"] => (Route::DataStream(None), &["GET"]),
        ["_data_stream", n] => (Route::DataStream(target(n)), &["GET", "PUT", "DELETE"]),
        [n] if !n.starts_with('_') => (
            Route::Index(n.to_string()),
            &["GET", "HEAD", "DELETE", "PUT"],
        ),
        _ => return None,
    })
}

fn allowed_params(route: &Route, method: &str) -> &'static [&'static str] {
    match (route, method) {
        (Route::Root, _) | (Route::ClosePit, _) => &[],
        (Route::Bulk(_), _) => &[
            "include_source_on_error",
            "list_executed_pipelines",
            "pipeline",
            "refresh",
            "routing",
            "_source",
            "_source_excludes",
            "_source_includes",
            "timeout",
            "wait_for_active_shards",
            "require_alias",
            "require_data_stream",
        ],
        (Route::Search(_), _) => &[
            "allow_no_indices",
            "allow_partial_search_results",
            "analyzer",
            "analyze_wildcard",
            "batched_reduce_size",
            "ccs_minimize_roundtrips",
            "default_operator",
            "df",
            "docvalue_fields",
            "expand_wildcards",
            "explain",
            "ignore_throttled",
            "ignore_unavailable",
            "include_named_queries_score",
            "lenient",
            "max_concurrent_shard_requests",
            "preference",
            "pre_filter_shard_size",
            "request_cache",
            "routing",
            "scroll",
            "search_type",
            "stats",
            "stored_fields",
            "suggest_field",
            "suggest_mode",
            "suggest_size",
            "suggest_text",
            "terminate_after",
            "timeout",
            "track_total_hits",
            "track_scores",
            "typed_keys",
            "rest_total_hits_as_int",
            "version",
            "_source",
            "_source_excludes",
            "_source_exclude_vectors",
            "_source_includes",
            "seq_no_primary_term",
            "q",
            "size",
            "from",
            "sort",
            "force_synthetic_source",
        ],
        (Route::Count(_), _) => &[
            "allow_no_indices",
            "analyzer",
            "analyze_wildcard",
            "default_operator",
            "df",
            "expand_wildcards",
            "ignore_throttled",
            "ignore_unavailable",
            "lenient",
            "min_score",
            "preference",
            "routing",
            "stats",
            "terminate_after",
            "q",
        ],
        (Route::OpenPit(_), _) => &[
            "keep_alive",
            "ignore_unavailable",
            "preference",
            "routing",
            "expand_wildcards",
            "allow_partial_search_results",
            "max_concurrent_shard_requests",
        ],
        (Route::Refresh(_), _) => &["allow_no_indices", "expand_wildcards", "ignore_unavailable"],
        (Route::Ilm(_), _) => &["master_timeout", "timeout"],
        (Route::Component(_) | Route::IndexTemplate(_), "PUT" | "POST") => {
            &["create", "cause", "master_timeout"]
        }
        (Route::Component(_) | Route::IndexTemplate(_), "DELETE") => &["master_timeout", "timeout"],
        (Route::Component(_) | Route::IndexTemplate(_), _) => &[
            "flat_settings",
            "settings_filter",
            "include_defaults",
            "local",
            "master_timeout",
        ],
        (Route::DataStream(_), "PUT") => &["master_timeout", "timeout"],
        (Route::DataStream(_), "DELETE") => &["master_timeout", "expand_wildcards"],
        (Route::DataStream(_), _) => &[
            "expand_wildcards",
            "include_defaults",
            "master_timeout",
            "verbose",
        ],
        (Route::Index(_), "DELETE") => &[
            "allow_no_indices",
            "expand_wildcards",
            "ignore_unavailable",
            "master_timeout",
            "timeout",
        ],
        (Route::Index(_), _) => &[
            "allow_no_indices",
            "expand_wildcards",
            "flat_settings",
            "ignore_unavailable",
            "include_defaults",
            "local",
            "master_timeout",
            "features",
        ],
    }
}

fn check_params(
    route: &Route,
    method: &str,
    path: &str,
    params: &[(String, String)],
) -> Result<(), EsError> {
    const GLOBAL: &[&str] = &["pretty", "human", "error_trace", "filter_path"];
    let allowed = allowed_params(route, method);
    let mut unknown: Vec<&str> = params
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !GLOBAL.contains(k) && !allowed.contains(k))
        .collect();
    unknown.dedup();
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(|k| format!("[{k}]")).collect();
        return Err(EsError::illegal_argument(format!(
            "request [{path}] contains unrecognized parameter{}: {}",
            if unknown.len() > 1 { "s" } else { "" },
            list.join(", ")
        )));
    }
    if params.iter().any(|(k, _)| k == "filter_path") {
        return Err(EsError::unsupported("the filter_path parameter"));
    }
    Ok(())
}

type Outcome = (u16, Option<Value>, Vec<(String, String)>);

fn process(
    shared: &Shared,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &[(String, String)],
    body: Bytes,
    too_large: bool,
) -> Outcome {
    match process_inner(shared, method, path, query, headers, body, too_large) {
        Ok((status, body)) => (status, body, Vec::new()),
        Err(e) => (e.status, e.body(), e.headers.clone()),
    }
}

fn process_inner(
    shared: &Shared,
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &[(String, String)],
    body: Bytes,
    too_large: bool,
) -> Result<(u16, Option<Value>), EsError> {
    let uri = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    authenticate(&shared.credentials, headers, &uri)?;
    if too_large {
        return Err(EsError::empty(413).header("connection", "close"));
    }
    if let Some(e) = lock(&shared.faults).take_request(method, path) {
        return Err(e);
    }
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    let Some((route, methods)) = route(&segments) else {
        return Err(EsError::plain(
            400,
            format!("no handler found for uri [{uri}] and method [{method}]"),
        ));
    };
    if !methods.contains(&method) {
        return Err(EsError::plain(
            405,
            format!(
                "Incorrect HTTP method for uri [{uri}] and method [{method}], allowed: [{}]",
                methods.join(", ")
            ),
        )
        .header("Allow", methods.join(",")));
    }
    let major: u32 = shared
        .version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(8);
    check_media(headers, !body.is_empty(), major)?;
    let params = parse_query(query);
    check_params(&route, method, path, &params)?;
    let req = Req {
        method: method.to_string(),
        params,
        body,
    };
    let mut cluster = lock(&shared.cluster);
    let ok = |v: Value| Ok((200, Some(v)));
    match route {
        Route::Root => ok(json!({
            "name": NODE_ID,
            "cluster_name": shared.cluster_name,
            "cluster_uuid": shared.cluster_uuid,
            "version": {
                "number": shared.version,
                "build_flavor": "default",
                "build_type": "docker",
                "build_hash": "0000000000000000000000000000000000000000",
                "build_date": "2026-01-01T00:00:00.000000000Z",
                "build_snapshot": false,
                "lucene_version": "9.12.2",
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0"
            },
            "tagline": "You Know, for Search"
        })),
        Route::Bulk(t) => {
            let mut faults = lock(&shared.faults);
            ok(bulk::bulk(&mut cluster, &mut faults, &req, t.as_deref())?)
        }
        Route::Search(t) => ok(search::search(&mut cluster, &req, t.as_deref())?),
        Route::Count(t) => ok(search::count(&mut cluster, &req, t.as_deref())?),
        Route::OpenPit(t) => ok(search::open_pit(&mut cluster, &req, &t)?),
        Route::ClosePit => {
            let (status, v) = search::close_pit(&mut cluster, &req)?;
            Ok((status, Some(v)))
        }
        Route::Refresh(t) => ok(indices::refresh(&mut cluster, &req, t.as_deref())?),
        Route::Ilm(n) => ok(templates::ilm(&mut cluster, &req, n.as_deref())?),
        Route::Component(n) => ok(templates::component(&mut cluster, &req, n.as_deref())?),
        Route::IndexTemplate(n) => ok(templates::index_template(&mut cluster, &req, n.as_deref())?),
        Route::DataStream(n) => ok(templates::data_stream(&mut cluster, &req, n.as_deref())?),
        Route::Index(n) => match method {
            "GET" => ok(indices::get(&cluster, &req, &n)?),
            "HEAD" => match indices::get(&cluster, &req, &n) {
                Ok(_) => Ok((200, None)),
                Err(e) => Ok((e.status, None)),
            },
            "DELETE" => ok(indices::delete(&mut cluster, &n)?),
            _ => Err(EsError::unsupported(
                "creating indices explicitly (PUT /{index}); use templates and bulk auto-creation",
            )),
        },
    }
}
