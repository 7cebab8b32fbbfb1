//! A stand-in for the GitHub REST API, for tests of measures that reach it
//! through the host's HTTP capability.
//!
//! It answers with recorded exchanges (octokit/fixtures, in
//! `../shared/fixtures/github-rest/`) and objects from the real webhook
//! payloads (their `deployment`, `deployment_status`, `pull_request` and
//! `issue` objects have the REST API's shape), rewriting
//! `https://api.github.com` in `Link` headers and URLs to its own address.
//! Like GitHub, it answers an unknown path with `404 {"message": "Not
//! Found"}`. A few paths misbehave on purpose: `/_redirect?to=URL` (302),
//! `/_slow` (never answers), `/_huge?mib=N` (a body of N MiB),
//! `/_rate-limited?reset_in=S` (403 with `x-ratelimit-remaining: 0`),
//! `/_retry-after?s=S` (429 once, then 200), `/_unauthorized` (401).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Response, StatusCode};
use serde_json::Value;

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path_and_query: String,
    pub authorization: Option<String>,
    pub host: Option<String>,
}

/// A canned answer.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    /// path and query → answer.
    routes: BTreeMap<String, Canned>,
    retried: std::collections::BTreeSet<String>,
    /// See [`GitHubServer::json_where`].
    loose: Vec<Loose>,
}

/// An answer to a path whatever its query holds besides some pairs.
struct Loose {
    path: String,
    params: Vec<(String, String)>,
    canned: Canned,
}

/// A running stand-in on `127.0.0.1` and a free port, stopped when dropped.
pub struct GitHubServer {
    url: String,
    state: Arc<Mutex<State>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl GitHubServer {
    pub fn start() -> GitHubServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (app_state, base) = (state.clone(), url.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = Router::new().fallback(move |request: Request| {
                    let (state, base) = (app_state.clone(), base.clone());
                    async move { answer(&state, &base, request).await }
                });
                tokio::select! {
                    _ = axum::serve(listener, app).into_future() => {}
                    _ = rx => {}
                }
            });
        });
        GitHubServer {
            url,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The host grant for this server (`http://127.0.0.1:<port>`).
    pub fn grant(&self) -> &str {
        &self.url
    }

    /// Answer `path_and_query` with `canned`, replacing any earlier answer.
    pub fn route(&self, path_and_query: &str, canned: Canned) {
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path_and_query.to_string(), canned);
    }

    /// Answer `path_and_query` with 200 and `json`.
    pub fn json(&self, path_and_query: &str, json: &Value) {
        self.route(
            path_and_query,
            Canned {
                status: 200,
                headers: vec![(
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                )],
                body: serde_json::to_vec(json).unwrap(),
            },
        );
    }

    /// Answer `path_and_query` with 200, `json`, and, when `next` is given
    /// (a path and query on this server), a `Link` header to it with
    /// `rel="next"`, as GitHub paginates.
    pub fn json_page(&self, path_and_query: &str, json: &Value, next: Option<&str>) {
        let mut headers = vec![(
            "content-type".to_string(),
            "application/json; charset=utf-8".to_string(),
        )];
        if let Some(next) = next {
            headers.push((
                "link".into(),
                format!("<https://api.github.com{next}>; rel=\"next\""),
            ));
        }
        self.route(
            path_and_query,
            Canned {
                status: 200,
                headers,
                body: serde_json::to_vec(json).unwrap(),
            },
        );
    }

    /// Answer GET `path` with 200 and `json` whenever its query holds every
    /// pair of `params` (percent-decoded), whatever else it holds: for
    /// queries with a value a test cannot know beforehand (`since=` a time
    /// computed by the measure). An exact route wins; among these, the
    /// latest added.
    pub fn json_where(&self, path: &str, params: &[(&str, &str)], json: &Value) {
        let canned = Canned {
            status: 200,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: serde_json::to_vec(json).unwrap(),
        };
        let params = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.state.lock().unwrap().loose.push(Loose {
            path: path.to_string(),
            params,
            canned,
        });
    }

    /// Load octokit/fixtures recorded exchanges (a JSON array of
    /// `{method, path, status, response, headers}`); every recorded
    /// request becomes a GET route of the same path.
    pub fn replay(&self, fixture: &std::path::Path) {
        let exchanges: Vec<Value> =
            serde_json::from_slice(&std::fs::read(fixture).unwrap()).unwrap();
        for x in exchanges {
            let headers = x["headers"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "content-length" | "connection"))
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            self.route(
                x["path"].as_str().unwrap(),
                Canned {
                    status: x["status"].as_u64().unwrap() as u16,
                    headers,
                    body: serde_json::to_vec(&x["response"]).unwrap(),
                },
            );
        }
    }

    /// Every request received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }
}

impl Drop for GitHubServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn query(pq: &str, key: &str) -> Option<String> {
    let q = pq.split_once('?')?.1;
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.replace("%3A", ":").replace("%2F", "/"))
}

/// The query pairs of `pq`, percent-decoded.
pub fn query_pairs(pq: &str) -> Vec<(String, String)> {
    let Some((_, q)) = pq.split_once('?') else {
        return Vec::new();
    };
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn loose(routes: &[Loose], pq: &str) -> Option<Canned> {
    let path = pq.split('?').next().unwrap_or("/");
    let pairs = query_pairs(pq);
    routes
        .iter()
        .rev()
        .find(|r| r.path == path && r.params.iter().all(|kv| pairs.contains(kv)))
        .map(|r| r.canned.clone())
}

fn reply(status: u16, headers: &[(String, String)], body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            r.headers_mut()
                .append(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v);
        }
    }
    r
}

fn message(status: u16, text: &str) -> Response<Body> {
    let body = serde_json::json!({
        "message": text,
        "documentation_url": "https://docs.github.com/rest",
    });
    reply(
        status,
        &[(
            "content-type".into(),
            "application/json; charset=utf-8".into(),
        )],
        serde_json::to_vec(&body).unwrap(),
    )
}

async fn answer(state: &Mutex<State>, base: &str, request: Request) -> Response<Body> {
    let pq = request
        .uri()
        .path_and_query()
        .map_or("/".to_string(), |p| p.as_str().to_string());
    let headers = request.headers().clone();
    drop(request);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let canned = {
        let mut s = state.lock().unwrap();
        s.received.push(Received {
            path_and_query: pq.clone(),
            authorization: header("authorization"),
            host: header("host"),
        });
        s.routes.get(&pq).cloned().or_else(|| loose(&s.loose, &pq))
    };
    let path = pq.split('?').next().unwrap_or("/");
    match path {
        "/_redirect" => {
            let to = query(&pq, "to").unwrap_or_default();
            return reply(302, &[("location".into(), to)], Vec::new());
        }
        "/_slow" => {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            return message(504, "too late");
        }
        "/_huge" => {
            let mib: usize = query(&pq, "mib").and_then(|m| m.parse().ok()).unwrap_or(1);
            return reply(200, &[], vec![b' '; mib << 20]);
        }
        "/_unauthorized" => return message(401, "Bad credentials"),
        "/_rate-limited" => {
            let reset_in: u64 = query(&pq, "reset_in")
                .and_then(|m| m.parse().ok())
                .unwrap_or(3600);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let mut r = message(403, "API rate limit exceeded for installation ID 1.");
            r.headers_mut()
                .insert("x-ratelimit-remaining", HeaderValue::from(0));
            r.headers_mut()
                .insert("x-ratelimit-reset", HeaderValue::from(now + reset_in));
            return r;
        }
        "/_retry-after" => {
            let first = state.lock().unwrap().retried.insert(pq.clone());
            if first {
                let s = query(&pq, "s").unwrap_or_else(|| "1".into());
                let mut r = message(429, "You have exceeded a secondary rate limit.");
                r.headers_mut()
                    .insert("retry-after", HeaderValue::from_str(&s).unwrap());
                return r;
            }
            return reply(200, &[], b"[]".to_vec());
        }
        _ => {}
    }
    match canned {
        Some(c) => {
            let headers: Vec<(String, String)> = c
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.replace("https://api.github.com", base)))
                .collect();
            reply(c.status, &headers, c.body)
        }
        None => message(404, "Not Found"),
    }
}
