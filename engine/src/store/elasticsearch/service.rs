//! HTTP to the cluster through the official client: one [`Service`] per
//! backend, holding the connection pool, TLS and credentials.
//!
//! Invariant: credentials live only in the client's transport (sent as
//! sensitive headers); no message built here contains them. Error
//! messages name the method, path and the reason Elasticsearch gave.

use std::time::Duration;

use bytes::Bytes;
use elasticsearch::Elasticsearch;
use elasticsearch::auth::Credentials;
use elasticsearch::cert::{Certificate, CertificateValidation};
use elasticsearch::http::Method;
use elasticsearch::http::headers::HeaderMap;
use elasticsearch::http::transport::{
    MultiNodeConnectionPool, SingleNodeConnectionPool, TransportBuilder,
};
use serde_json::Value;
use smm_catalogue::StoreError;

use crate::config::ElasticsearchConfig;

/// What came back from one request.
#[derive(Debug)]
pub enum Sent {
    Response {
        status: u16,
        body: Bytes,
    },
    /// No response: refused, reset, timed out, TLS failure.
    Unreachable(String),
}

#[derive(Clone)]
pub struct Service {
    client: Elasticsearch,
    timeout: Duration,
}

impl Service {
    /// Build the client: resolve secrets, load the CA. Fails on bad
    /// configuration, never on an unreachable cluster.
    pub fn build(config: &ElasticsearchConfig) -> Result<Service, StoreError> {
        let invalid = |m: String| StoreError::permanent(format!("elasticsearch: {m}"));
        let urls: Vec<url::Url> = config
            .urls
            .iter()
            .map(|u| {
                url::Url::parse(u)
                    .map_err(|e| invalid(format!("{}: {e}", crate::config::redact_url(u))))
            })
            .collect::<Result<_, _>>()?;
        let mut builder = match urls.len() {
            1 => TransportBuilder::new(SingleNodeConnectionPool::new(urls[0].clone())),
            _ => TransportBuilder::new(MultiNodeConnectionPool::round_robin(urls, None)),
        }
        .timeout(config.request_timeout)
        .disable_proxy();
        let auth = &config.auth;
        // A secret that cannot be a header value (a stray newline, say)
        // is refused here, not found out as a panic or a fake outage.
        let resolve = |what: &str, s: &crate::config::Secret| {
            let value = s.resolve().map_err(|e| invalid(e.to_string()))?;
            if value.is_empty() || value.chars().any(|c| c.is_control()) {
                return Err(invalid(format!(
                    "the {what} ({s:?}) is empty or holds control characters"
                )));
            }
            Ok(value)
        };
        if let Some(basic) = &auth.basic {
            builder = builder.auth(Credentials::Basic(
                basic.username.clone(),
                resolve("password", &basic.password)?,
            ));
        } else if let Some(key) = &auth.api_key {
            builder = builder.auth(Credentials::EncodedApiKey(resolve("API key", key)?));
        } else if let Some(token) = &auth.bearer {
            builder = builder.auth(Credentials::Bearer(resolve("bearer token", token)?));
        }
        if let Some(ca) = &config.ca_file {
            let pem =
                std::fs::read(ca).map_err(|e| invalid(format!("ca_file {}: {e}", ca.display())))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| invalid(format!("ca_file {}: {e}", ca.display())))?;
            builder = builder.cert_validation(CertificateValidation::Full(cert));
        }
        let transport = builder
            .build()
            .map_err(|e| invalid(format!("cannot build the client: {e}")))?;
        Ok(Service {
            client: Elasticsearch::new(transport),
            timeout: config.request_timeout,
        })
    }

    /// Send one request; never an `Err`: what happened is in [`Sent`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Sent {
        self.send_within(method, path, query, body, self.timeout)
            .await
    }

    /// [`Service::send`] with at most `timeout` (bounded by the configured
    /// request timeout), so that a retry deadline bounds the request in
    /// flight too.
    pub async fn send_within(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Sent {
        let timeout = timeout.min(self.timeout);
        let query = (!query.is_empty()).then_some(query);
        let response = self
            .client
            .send(method, path, HeaderMap::new(), query, body, Some(timeout))
            .await;
        match response {
            Ok(r) => {
                let status = r.status_code().as_u16();
                match r.bytes().await {
                    Ok(body) => Sent::Response { status, body },
                    Err(e) => Sent::Unreachable(format!("reading the response: {e}")),
                }
            }
            Err(e) => Sent::Unreachable(describe(&e)),
        }
    }

    /// A JSON request whose answer must be 2xx; 404 gives `Ok(None)`.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Option<Value>, StoreError> {
        let what = format!("{} {path}", method_name(&method));
        let body = body.map(|b| Bytes::from(serde_json::to_vec(b).expect("JSON serialises")));
        match self.send(method, path, query, body).await {
            Sent::Unreachable(e) => {
                Err(StoreError::retryable(format!("elasticsearch {what}: {e}")))
            }
            Sent::Response { status: 404, .. } => Ok(None),
            Sent::Response { status, body } if (200..300).contains(&status) => {
                serde_json::from_slice(&body).map(Some).map_err(|e| {
                    StoreError::permanent(format!(
                        "elasticsearch {what}: an answer that is not JSON: {e}"
                    ))
                })
            }
            Sent::Response { status, body } => {
                let reason = error_reason(&body);
                let kind = if status == 429 || status >= 500 {
                    StoreError::retryable
                } else if status == 409 {
                    StoreError::conflict
                } else {
                    StoreError::permanent
                };
                Err(kind(format!("elasticsearch {what}: {status} {reason}")))
            }
        }
    }
}

fn method_name(m: &Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Put => "PUT",
        Method::Post => "POST",
        Method::Delete => "DELETE",
        Method::Head => "HEAD",
    }
}

/// A transport error in one line with its causes (URLs never carry
/// credentials: the configuration refuses them there).
fn describe(e: &elasticsearch::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
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

/// `type: reason` of an Elasticsearch error body (with its `caused_by`
/// chain), or the body's start.
pub fn error_reason(body: &[u8]) -> String {
    let value: Option<Value> = serde_json::from_slice(body).ok();
    match value.as_ref().and_then(|v| v.get("error")) {
        Some(e @ Value::Object(_)) => cause_chain(e),
        Some(Value::String(s)) => s.clone(),
        _ => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

/// `type: reason; caused by type: reason; ...` of an Elasticsearch
/// `ErrorCause` (at most five levels).
pub fn cause_chain(error: &Value) -> String {
    let mut parts = Vec::new();
    let mut cause = Some(error);
    while let Some(c) = cause.filter(|_| parts.len() < 5) {
        parts.push(format!(
            "{}: {}",
            c.get("type").and_then(Value::as_str).unwrap_or("error"),
            c.get("reason").and_then(Value::as_str).unwrap_or("")
        ));
        cause = c.get("caused_by");
    }
    parts.join("; caused by ")
}
