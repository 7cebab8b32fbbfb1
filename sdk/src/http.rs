//! Outgoing HTTP for measures, through `wasi:http` and the hosts granted to
//! the instance (`smm instance create … --allow-host api.github.com`).
//!
//! The host decides where a request may go and adds credentials itself
//! (`--secret github=env:GITHUB_TOKEN`): a measure never holds a token, and
//! a request to a host that is not granted fails with the host's reason.
//!
//! ```no_run
//! use smm_sdk::http::Client;
//! # fn run() -> Result<(), smm_sdk::Error> {
//! let client = Client::new();
//! // Every page of a paginated GitHub listing (`Link: <…>; rel="next"`).
//! let issues: Vec<serde_json::Value> =
//!     client.get_all("https://api.github.com/repos/o/r/issues?state=all&per_page=100", 10)?;
//! # Ok(()) }
//! ```
//!
//! What it does for you: follows redirects (each one checked by the host
//! again), waits out a rate limit (`retry-after`, or
//! `x-ratelimit-remaining: 0` with `x-ratelimit-reset`) when the wait is
//! short, and turns every failure into an [`Error::Input`] naming the URL,
//! the status and the server's message.

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::Error;

/// A GET client with sensible defaults for REST APIs.
#[derive(Debug, Clone)]
pub struct Client {
    headers: Vec<(String, String)>,
    max_redirects: u32,
    max_wait: Duration,
    max_body: usize,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

/// A response read whole.
#[derive(Debug, Clone)]
pub struct Response {
    /// The URL that answered (after redirects).
    pub url: String,
    pub status: u16,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON of type `T`; the error names the URL and where the
    /// body stopped fitting.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let mut de = serde_json::Deserializer::from_slice(&self.body);
        serde::Deserialize::deserialize(&mut de).map_err(|e| {
            Error::input(format!(
                "{}: the answer is not what was expected: {e}",
                self.url
            ))
        })
    }

    /// The `rel="next"` target of the `Link` header (RFC 8288), if any.
    pub fn next_link(&self) -> Option<String> {
        link(self.header("link")?, "next")
    }
}

/// The target of relation `rel` in a `Link` header value.
pub fn link(header: &str, rel: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("rel="))
            .map(|r| r.trim_matches('"'))
            .any(|r| r.split_whitespace().any(|r| r == rel))
            .then(|| target.to_string())
    })
}

impl Client {
    /// JSON accepted, `User-Agent: smm-measure`, 5 redirects, rate limits
    /// waited out up to 60 s, bodies up to 32 MiB.
    pub fn new() -> Client {
        Client {
            headers: vec![
                ("accept".into(), "application/json".into()),
                ("user-agent".into(), "smm-measure".into()),
            ],
            max_redirects: 5,
            max_wait: Duration::from_secs(60),
            max_body: 32 << 20,
        }
    }

    /// Send header `name: value` with every request (replacing a default).
    pub fn header(mut self, name: &str, value: &str) -> Client {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(k, _)| *k != name);
        self.headers.push((name, value.to_string()));
        self
    }

    /// Longest rate-limit wait before giving up with an error.
    pub fn max_wait(mut self, wait: Duration) -> Client {
        self.max_wait = wait;
        self
    }

    /// GET `url`; a status outside 2xx is an [`Error::Input`] with the
    /// status and the server's message.
    pub fn get(&self, url: &str) -> Result<Response, Error> {
        let mut url = url.to_string();
        let mut redirects = 0;
        let mut waited = Duration::ZERO;
        loop {
            let response = self.send(&url)?;
            match response.status {
                200..=299 => return Ok(response),
                301 | 302 | 303 | 307 | 308 => {
                    let Some(location) = response.header("location") else {
                        return Err(status_error(&response));
                    };
                    redirects += 1;
                    if redirects > self.max_redirects {
                        return Err(Error::input(format!(
                            "GET {url}: more than {} redirects",
                            self.max_redirects
                        )));
                    }
                    url = resolve(&url, location)?;
                }
                403 | 429 => match rate_limit_wait(&response) {
                    Some(wait) if waited + wait <= self.max_wait => {
                        waited += wait;
                        std::thread::sleep(wait);
                    }
                    Some(wait) => {
                        return Err(Error::input(format!(
                            "GET {url}: rate limited (status {}) for another {} s, longer than the {} s this measure waits: {}",
                            response.status,
                            wait.as_secs(),
                            self.max_wait.as_secs(),
                            server_message(&response)
                        )));
                    }
                    None => return Err(status_error(&response)),
                },
                _ => return Err(status_error(&response)),
            }
        }
    }

    /// GET `url` and decode its JSON body.
    pub fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, Error> {
        self.get(url)?.json()
    }

    /// GET `url` and every following page (`Link: rel="next"`), each page
    /// a JSON array, at most `max_pages` pages.
    pub fn get_all<T: DeserializeOwned>(
        &self,
        url: &str,
        max_pages: usize,
    ) -> Result<Vec<T>, Error> {
        let mut all = Vec::new();
        let mut next = Some(url.to_string());
        let mut pages = 0;
        while let Some(url) = next {
            if pages == max_pages {
                return Err(Error::input(format!(
                    "{url}: more than {max_pages} pages; narrow the window or raise the limit"
                )));
            }
            let page = self.get(&url)?;
            all.extend(page.json::<Vec<T>>()?);
            next = page.next_link();
            pages += 1;
        }
        Ok(all)
    }

    /// One request, no redirect or retry.
    fn send(&self, url: &str) -> Result<Response, Error> {
        let parts = Url::parse(url)?;
        let fail = |what: String| Error::input(format!("GET {url}: {what}"));
        transport::get(&parts, &self.headers, self.max_body)
            .map(|(status, headers, body)| Response {
                url: url.to_string(),
                status,
                headers,
                body,
            })
            .map_err(fail)
    }
}

/// How long a rate-limited answer asks to wait, if it says.
fn rate_limit_wait(r: &Response) -> Option<Duration> {
    if let Some(secs) = r
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(secs));
    }
    if r.header("x-ratelimit-remaining").map(str::trim) == Some("0") {
        let reset = r.header("x-ratelimit-reset")?.trim().parse::<u64>().ok()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        return Some(Duration::from_secs(reset.saturating_sub(now) + 1));
    }
    None
}

/// The server's own explanation: GitHub's and GitLab's JSON `message`,
/// else the start of the body.
fn server_message(r: &Response) -> String {
    #[derive(serde::Deserialize)]
    struct Message {
        message: String,
        #[serde(default)]
        errors: Vec<serde_json::Value>,
    }
    match serde_json::from_slice::<Message>(&r.body) {
        Ok(m) if m.errors.is_empty() => m.message,
        Ok(m) => format!(
            "{} ({})",
            m.message,
            m.errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(_) => {
            let text = String::from_utf8_lossy(&r.body);
            text.chars()
                .take(200)
                .collect::<String>()
                .trim()
                .to_string()
        }
    }
}

fn status_error(r: &Response) -> Error {
    let hint = match r.status {
        401 => " (the credentials were refused: check the instance's --secret)",
        403 => " (forbidden: the token may lack a scope)",
        404 => " (not found, or not visible with these credentials)",
        _ => "",
    };
    Error::input(format!(
        "GET {}: status {}{hint}: {}",
        r.url,
        r.status,
        server_message(r)
    ))
}

/// `scheme://authority/path?query`, as `wasi:http` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Url {
    https: bool,
    authority: String,
    path_and_query: String,
}

impl Url {
    fn parse(url: &str) -> Result<Url, Error> {
        let bad = |why: &str| Error::config(format!("URL {url:?} {why}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("has no scheme"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return Err(bad("is neither https nor http")),
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("has no host, or has credentials"));
        }
        let path = path.split('#').next().unwrap_or("/");
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        Ok(Url {
            https,
            authority: authority.to_string(),
            path_and_query: path,
        })
    }
}

/// A redirect's `Location`, absolute or relative to `base`.
fn resolve(base: &str, location: &str) -> Result<String, Error> {
    if location.contains("://") {
        return Ok(location.to_string());
    }
    let b = Url::parse(base)?;
    let scheme = if b.https { "https" } else { "http" };
    if let Some(rest) = location.strip_prefix("//") {
        return Ok(format!("{scheme}://{rest}"));
    }
    if location.starts_with('/') {
        return Ok(format!("{scheme}://{}{location}", b.authority));
    }
    let dir = b
        .path_and_query
        .split('?')
        .next()
        .and_then(|p| p.rsplit_once('/'))
        .map_or("", |(d, _)| d);
    Ok(format!("{scheme}://{}{dir}/{location}", b.authority))
}

#[cfg(target_os = "wasi")]
mod transport {
    use super::Url;
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingRequest, Scheme};
    use wasip2::io::streams::StreamError;

    type Answer = (u16, Vec<(String, String)>, Vec<u8>);

    fn code(e: &ErrorCode) -> String {
        match e {
            ErrorCode::InternalError(Some(m)) => m.clone(),
            ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
                "no answer in time".into()
            }
            ErrorCode::ConnectionTimeout => "could not connect in time".into(),
            ErrorCode::ConnectionRefused => "connection refused".into(),
            ErrorCode::DnsError(d) => format!("DNS: {}", d.rcode.clone().unwrap_or_default()),
            other => format!("{other:?}"),
        }
    }

    pub(super) fn get(
        url: &Url,
        headers: &[(String, String)],
        max_body: usize,
    ) -> Result<Answer, String> {
        let list: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect();
        let fields = Fields::from_list(&list).map_err(|e| format!("header: {e:?}"))?;
        let request = OutgoingRequest::new(fields);
        let scheme = if url.https {
            Scheme::Https
        } else {
            Scheme::Http
        };
        let set = request.set_method(&Method::Get).is_ok()
            && request.set_scheme(Some(&scheme)).is_ok()
            && request.set_authority(Some(&url.authority)).is_ok()
            && request
                .set_path_with_query(Some(&url.path_and_query))
                .is_ok();
        if !set {
            return Err("the URL cannot be sent".into());
        }
        let future = outgoing_handler::handle(request, None).map_err(|e| code(&e))?;
        let response = loop {
            match future.get() {
                Some(r) => break r,
                None => future.subscribe().block(),
            }
        };
        let response = response
            .map_err(|()| "the response was already taken".to_string())?
            .map_err(|e| code(&e))?;
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect();
        let body = response.consume().map_err(|()| "no body".to_string())?;
        let stream = body.stream().map_err(|()| "no body stream".to_string())?;
        let mut bytes = Vec::new();
        loop {
            match stream.blocking_read(64 << 10) {
                Ok(chunk) => {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > max_body {
                        return Err(format!("the body is larger than {max_body} bytes"));
                    }
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(match wasip2::http::types::http_error_code(&e) {
                        Some(c) => code(&c),
                        None => e.to_debug_string(),
                    });
                }
            }
        }
        drop(stream);
        Ok((status, headers, bytes))
    }
}

#[cfg(not(target_os = "wasi"))]
mod transport {
    use super::Url;

    type Answer = (u16, Vec<(String, String)>, Vec<u8>);

    /// Outside a component there is no `wasi:http`: native unit tests test
    /// what is around the transport.
    pub(super) fn get(url: &Url, _: &[(String, String)], _: usize) -> Result<Answer, String> {
        Err(format!(
            "no HTTP outside a component (asked for {})",
            url.authority
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_give_the_next_page() {
        // From a recorded GitHub answer (octokit/fixtures paginate-issues).
        let h = "<https://api.github.com/repositories/1/issues?per_page=3&page=2>; rel=\"next\", <https://api.github.com/repositories/1/issues?per_page=3&page=5>; rel=\"last\"";
        assert_eq!(
            link(h, "next").as_deref(),
            Some("https://api.github.com/repositories/1/issues?per_page=3&page=2")
        );
        assert_eq!(
            link(h, "last").as_deref(),
            Some("https://api.github.com/repositories/1/issues?per_page=3&page=5")
        );
        assert_eq!(link(h, "prev"), None);
    }

    #[test]
    fn urls_split_into_what_wasi_http_takes() {
        let u = Url::parse("https://api.github.com/repos/o/r?x=1#frag").unwrap();
        assert_eq!(
            (u.https, u.authority.as_str(), u.path_and_query.as_str()),
            (true, "api.github.com", "/repos/o/r?x=1")
        );
        assert_eq!(Url::parse("http://h:8080").unwrap().path_and_query, "/");
        assert!(Url::parse("ftp://h/").is_err());
        assert!(Url::parse("https://user@h/").is_err());
        assert_eq!(
            resolve("https://a.com/x/y?z", "/p").unwrap(),
            "https://a.com/p"
        );
        assert_eq!(
            resolve("https://a.com/x/y", "q").unwrap(),
            "https://a.com/x/q"
        );
        assert_eq!(
            resolve("https://a.com/x", "http://b.com/").unwrap(),
            "http://b.com/"
        );
    }

    #[test]
    fn rate_limits_and_errors_read_the_headers_and_message() {
        let r = Response {
            url: "https://api.github.com/x".into(),
            status: 422,
            headers: vec![("retry-after".into(), "7".into())],
            body: br#"{"message":"Validation Failed","errors":[{"code":"missing_field"}]}"#
                .to_vec(),
        };
        assert_eq!(rate_limit_wait(&r), Some(Duration::from_secs(7)));
        let e = status_error(&r).to_string();
        assert!(
            e.contains("422") && e.contains("Validation Failed") && e.contains("missing_field"),
            "{e}"
        );
    }
}
