//! Outgoing HTTP for measures (`wasi:http/outgoing-handler`), as a
//! capability: only to the destinations granted to the instance.
//!
//! Invariants:
//! - A request leaves only if a grant of the instance permits its scheme,
//!   host, port and path; otherwise the plugin gets an error naming the
//!   destination, and nothing is sent. Redirects are answers like any
//!   other: following one is a new request, checked again.
//! - A grant by name reaches only public addresses unless marked private
//!   ([`address`]); the connection goes to the address that was checked.
//! - Secrets stay on the host: the `Authorization` header is added here,
//!   to requests for the secret's host only, after the plugin handed the
//!   request over; the plugin never holds the value.
//! - Every request is bounded: by count and response bytes per collection
//!   ([`Budget`]), and in time by what is left of the collection's
//!   deadline (connect, first byte, between bytes).

mod address;
mod send;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use http::HeaderValue;
use http::uri::Scheme;
use smm_catalogue::{GrantScheme, HostGrant, SecretRef, SecretSource};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// Longest secret read from a file or the environment.
const MAX_SECRET_BYTES: usize = 16 << 10;

/// What one instance may reach: its host grants, with the secret values
/// read for this run.
#[derive(Debug, Default)]
pub struct Network {
    hosts: Vec<HostGrant>,
    /// (host the secret is bound to, `Bearer <value>`), marked sensitive.
    secrets: Vec<(String, HeaderValue)>,
}

impl Network {
    /// Grants without secrets (tests, benches, library users).
    pub fn hosts(hosts: Vec<HostGrant>) -> Network {
        Network {
            hosts,
            secrets: Vec::new(),
        }
    }

    /// The instance's grants with its secrets read now (from the engine's
    /// environment or files). The error names the secret and its source,
    /// never a value.
    pub fn read(hosts: &[HostGrant], secrets: &[SecretRef]) -> Result<Network, String> {
        let mut values = Vec::with_capacity(secrets.len());
        for s in secrets {
            let raw = match &s.source {
                SecretSource::Env(var) => std::env::var(var).map_err(|e| match e {
                    std::env::VarError::NotPresent => format!(
                        "secret {:?}: environment variable {var} is not set in the engine's environment",
                        s.name
                    ),
                    std::env::VarError::NotUnicode(_) => format!(
                        "secret {:?}: environment variable {var} is not UTF-8",
                        s.name
                    ),
                })?,
                SecretSource::File(path) => {
                    let bytes = std::fs::read(path).map_err(|e| {
                        format!("secret {:?}: cannot read {}: {e}", s.name, path.display())
                    })?;
                    if bytes.len() > MAX_SECRET_BYTES {
                        return Err(format!(
                            "secret {:?}: {} holds more than {MAX_SECRET_BYTES} bytes",
                            s.name,
                            path.display()
                        ));
                    }
                    String::from_utf8(bytes).map_err(|_| {
                        format!("secret {:?}: {} is not UTF-8", s.name, path.display())
                    })?
                }
            };
            let value = raw.trim_end_matches(['\n', '\r']);
            if value.is_empty() {
                return Err(format!("secret {:?} ({}) is empty", s.name, s.source));
            }
            let mut header = HeaderValue::from_str(&format!("Bearer {value}")).map_err(|_| {
                format!(
                    "secret {:?} ({}) has characters a header cannot carry",
                    s.name, s.source
                )
            })?;
            header.set_sensitive(true);
            values.push((s.host.clone(), header));
        }
        Ok(Network {
            hosts: hosts.to_vec(),
            secrets: values,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }
}

/// The network of an instance with no host grant (shared).
pub(crate) fn nowhere() -> Arc<Network> {
    static NOWHERE: std::sync::OnceLock<Arc<Network>> = std::sync::OnceLock::new();
    NOWHERE.get_or_init(Default::default).clone()
}

/// Requests and response bytes left to one collection.
#[derive(Debug)]
pub(crate) struct Budget {
    requests: AtomicU64,
    bytes: AtomicU64,
    max_requests: u64,
    max_bytes: u64,
}

impl Budget {
    pub(crate) fn new(max_requests: u64, max_bytes: u64) -> Budget {
        Budget {
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            max_requests,
            max_bytes,
        }
    }

    fn take_request(&self) -> Result<(), String> {
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if n > self.max_requests {
            return Err(format!(
                "more than {} HTTP requests in one collection (raise the instance's --http-requests)",
                self.max_requests
            ));
        }
        Ok(())
    }

    /// Count `n` received bytes; `Err` with the limit once it is passed.
    pub(crate) fn take_bytes(&self, n: u64) -> Result<(), u64> {
        let total = self.bytes.fetch_add(n, Ordering::Relaxed) + n;
        if total > self.max_bytes {
            return Err(self.max_bytes);
        }
        Ok(())
    }
}

/// The `wasi:http` hooks of one collection: where requests may go.
pub(crate) struct Gate {
    network: Arc<Network>,
    budget: Arc<Budget>,
    ends: Instant,
}

impl Gate {
    pub(crate) fn new(network: Arc<Network>, budget: Arc<Budget>, ends: Instant) -> Gate {
        Gate {
            network,
            budget,
            ends,
        }
    }

    /// The grant that permits `uri`, or why none does.
    fn grant_for(&self, uri: &http::Uri) -> Result<&HostGrant, String> {
        let scheme = match uri.scheme() {
            Some(s) if *s == Scheme::HTTPS => GrantScheme::Https,
            Some(s) if *s == Scheme::HTTP => GrantScheme::Http,
            _ => return Err(format!("{} has neither https nor http scheme", shown(uri))),
        };
        let host = uri.host().unwrap_or("");
        let port = uri.port_u16().unwrap_or(scheme.default_port());
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        if self.network.hosts.is_empty() {
            return Err(format!(
                "{} is not reachable: no host is granted to this instance (grant one with --allow-host)",
                shown(uri)
            ));
        }
        self.network
            .hosts
            .iter()
            .find(|g| g.permits(scheme, host, port, path))
            .ok_or_else(|| {
                let granted: Vec<String> =
                    self.network.hosts.iter().map(|g| g.to_string()).collect();
                format!(
                    "{} is not granted to this instance (granted: {})",
                    shown(uri),
                    granted.join(", ")
                )
            })
    }
}

/// A URI as shown in messages: what the plugin asked for, without the
/// query (it may carry tokens), bounded and printable.
fn shown(uri: &http::Uri) -> String {
    let text = format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("?"),
        uri.authority().map_or("", |a| a.as_str()),
        uri.path()
    );
    smm_catalogue::text::shorten(&text, 200)
}

fn refused(message: String) -> Error {
    tracing::debug!(%message, "outgoing request refused");
    Error::InternalError(Some(format!("smm refused the request: {message}")))
}

type Sent = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for Gate {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Sent {
        let checked = self.grant_for(request.uri()).cloned().and_then(|grant| {
            self.budget.take_request()?;
            Ok(grant)
        });
        let grant = match checked {
            Ok(g) => g,
            Err(message) => return Box::new(async move { Err(refused(message)) }),
        };
        // The host's secret, not anything the plugin set, authenticates.
        request.headers_mut().remove(http::header::AUTHORIZATION);
        if let Some((_, value)) = self.network.secrets.iter().find(|(h, _)| grant.names(h)) {
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, value.clone());
        }
        let timeouts = send::Timeouts::within(options, self.ends);
        let budget = self.budget.clone();
        Box::new(async move {
            send::send(request, &grant, timeouts, budget)
                .await
                .map(|(response, io)| {
                    (response, Box::new(io) as Box<dyn Future<Output = _> + Send>)
                })
        })
    }
}
