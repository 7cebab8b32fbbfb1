//! `smm kibana import`: the shipped saved objects (a data view on the
//! measurements data stream and the dashboards of `deploy/kibana/`) loaded
//! through Kibana's saved objects import API, with overwrite, and a report
//! of what was created or overwritten.
//!
//! Credentials are sent as sensitive headers and never appear in a report
//! or an error.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

/// The saved objects smm ships (`deploy/kibana/smm.ndjson`).
pub const SAVED_OBJECTS: &str = include_str!("../../deploy/kibana/smm.ndjson");

#[derive(Debug, thiserror::Error)]
pub enum KibanaError {
    #[error("kibana {url}: {message}")]
    Request { url: String, message: String },
    #[error("kibana refused the import ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("{0}")]
    Setup(String),
}

/// How to authenticate to Kibana.
#[derive(Clone)]
pub enum KibanaAuth {
    None,
    Basic {
        username: String,
        password: String,
    },
    /// The encoded API key Elasticsearch returns.
    ApiKey(String),
}

/// One imported object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub kind: String,
    pub id: String,
    pub title: String,
    pub overwritten: bool,
}

/// One object Kibana did not import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFailure {
    pub kind: String,
    pub id: String,
    pub error: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: Vec<Imported>,
    pub failures: Vec<ImportFailure>,
}

/// Import `ndjson` into the Kibana at `url` (in `space`, the default one
/// when `None`), overwriting objects of the same ids.
pub async fn import(
    url: &str,
    space: Option<&str>,
    ndjson: &str,
    auth: &KibanaAuth,
    ca_file: Option<&Path>,
) -> Result<ImportReport, KibanaError> {
    let base = url.trim_end_matches('/');
    let endpoint = match space {
        Some(s) => format!("{base}/s/{s}/api/saved_objects/_import"),
        None => format!("{base}/api/saved_objects/_import"),
    };
    let fail = |message: String| KibanaError::Request {
        url: crate::config::redact_url(base),
        message,
    };
    let mut client = reqwest::Client::builder().timeout(Duration::from_secs(60));
    if let Some(ca) = ca_file {
        let pem = std::fs::read(ca)
            .map_err(|e| KibanaError::Setup(format!("--ca-file {}: {e}", ca.display())))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| KibanaError::Setup(format!("--ca-file {}: {e}", ca.display())))?;
        client = client.add_root_certificate(cert);
    }
    let client = client
        .build()
        .map_err(|e| KibanaError::Setup(format!("cannot build an HTTP client: {e}")))?;
    // multipart/form-data with one `file` part, as Kibana's own UI sends it.
    let boundary = format!("smm-{:016x}", rand_u64());
    let mut body = Vec::with_capacity(ndjson.len() + 256);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"smm.ndjson\"\r\nContent-Type: application/ndjson\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(ndjson.as_bytes());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut request = client
        .post(&endpoint)
        .query(&[("overwrite", "true")])
        .header("kbn-xsrf", "smm")
        .header(
            reqwest::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body);
    request = match auth {
        KibanaAuth::None => request,
        KibanaAuth::Basic { username, password } => request.basic_auth(username, Some(password)),
        KibanaAuth::ApiKey(key) => {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("ApiKey {key}"))
                .map_err(|_| {
                    KibanaError::Setup("the API key is not a valid header value".into())
                })?;
            value.set_sensitive(true);
            request.header(reqwest::header::AUTHORIZATION, value)
        }
    };
    let response = request.send().await.map_err(|e| fail(without_url(&e)))?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|e| fail(without_url(&e)))?;
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let message = answer
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| text.chars().take(300).collect());
        return Err(KibanaError::Refused { status, message });
    }
    Ok(report(&answer))
}

fn report(answer: &Value) -> ImportReport {
    let list = |key: &str| {
        answer
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let text = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    ImportReport {
        imported: list("successResults")
            .iter()
            .map(|r| Imported {
                kind: text(r, "/type"),
                id: text(r, "/id"),
                title: text(r, "/meta/title"),
                overwritten: r.get("overwrite").and_then(Value::as_bool).unwrap_or(false),
            })
            .collect(),
        // Kibana omits `errors` when there are none.
        failures: list("errors")
            .iter()
            .map(|e| ImportFailure {
                kind: text(e, "/type"),
                id: text(e, "/id"),
                error: match e.pointer("/error/type").and_then(Value::as_str) {
                    Some("missing_references") => format!(
                        "missing references: {}",
                        e.pointer("/error/references")
                            .map(Value::to_string)
                            .unwrap_or_default()
                    ),
                    Some(t) => t.to_string(),
                    None => e.get("error").map(Value::to_string).unwrap_or_default(),
                },
            })
            .collect(),
    }
}

/// A transport error without the URL's query string.
fn without_url(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), url.path());
    }
    let mut text = crate::config::redact_url(&text);
    let mut source = e.source();
    while let Some(s) = source {
        let cause = s.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = s.source();
    }
    text
}

/// A boundary that does not occur in the body (checked by Kibana's parser
/// only as a delimiter; the NDJSON holds no CRLF-dash-dash line).
fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}
