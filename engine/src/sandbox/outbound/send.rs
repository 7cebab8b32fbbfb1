//! Sending one permitted request: resolve and check the address, connect
//! to it, TLS with the system's roots, HTTP/1.1, and a response body
//! counted against the collection's byte budget.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use smm_catalogue::{GrantScheme, HostGrant};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::{Budget, address, refused};

/// Time bounds of one request, none past the collection's deadline.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    connect: Duration,
    first_byte: Duration,
    between_bytes: Duration,
    ends: Instant,
}

impl Timeouts {
    /// The plugin's own timeouts, cut to what is left before `ends`.
    pub(super) fn within(options: Option<RequestOptions>, ends: Instant) -> Timeouts {
        let left = ends.saturating_duration_since(Instant::now());
        let cut = |d: Option<Duration>| d.map_or(left, |d| d.min(left));
        let o = options.unwrap_or_default();
        Timeouts {
            connect: cut(o.connect_timeout),
            first_byte: cut(o.first_byte_timeout),
            between_bytes: cut(o.between_bytes_timeout).max(Duration::from_millis(1)),
            ends,
        }
    }

    fn left(&self) -> Duration {
        self.ends.saturating_duration_since(Instant::now())
    }
}

/// TLS client settings: the system's certificate store (`SSL_CERT_FILE` /
/// `SSL_CERT_DIR` are honoured), built once.
fn tls() -> Result<Arc<rustls::ClientConfig>, Error> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = rustls::RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(format!(
                    "no CA certificates found in the system store ({} errors); install ca-certificates or set SSL_CERT_FILE",
                    found.errors.len()
                ));
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| Error::InternalError(Some(e)))
}

/// Where to connect for `grant`: its IP literal, or the addresses its name
/// resolves to, all public unless the grant is private.
async fn destination(
    grant: &HostGrant,
    port: u16,
    timeouts: &Timeouts,
) -> Result<Vec<SocketAddr>, Error> {
    if let Some(ip) = grant.ip() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let lookup = tokio::net::lookup_host((grant.host.as_str(), port));
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(timeouts.left(), lookup).await {
        Err(_) => return Err(Error::DnsTimeout),
        Ok(Err(e)) => {
            return Err(Error::DnsError {
                rcode: Some(format!("{}: {e}", grant.host)),
                info_code: None,
            });
        }
        Ok(Ok(a)) => a.collect(),
    };
    if addrs.is_empty() {
        return Err(Error::DestinationNotFound);
    }
    if !grant.private
        && let Some((addr, why)) = addrs
            .iter()
            .find_map(|a| address::not_public(a.ip()).map(|why| (a, why)))
    {
        return Err(refused(format!(
            "{} resolves to {}, {why}; a grant by name reaches public addresses only (grant it with --allow-private-host if it is meant to be internal)",
            grant.host,
            addr.ip()
        )));
    }
    Ok(addrs)
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T> Stream for T where T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}

async fn connect(grant: &HostGrant, port: u16, t: &Timeouts) -> Result<Box<dyn Stream>, Error> {
    let addrs = destination(grant, port, t).await?;
    let mut last = Error::ConnectionRefused;
    let mut tcp = None;
    for addr in addrs {
        match tokio::time::timeout(t.connect.min(t.left()), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                tcp = Some(s);
                break;
            }
            Ok(Err(e)) => last = Error::Connect(e),
            Err(_) => last = Error::ConnectionTimeout,
        }
    }
    let tcp = tcp.ok_or(last)?;
    let _ = tcp.set_nodelay(true);
    if grant.scheme == GrantScheme::Http {
        return Ok(Box::new(tcp));
    }
    let name = match grant.ip() {
        Some(ip) => rustls::pki_types::ServerName::from(ip),
        None => rustls::pki_types::ServerName::try_from(grant.host.clone())
            .map_err(|e| Error::InternalError(Some(format!("{}: {e}", grant.host))))?,
    };
    let tls = tokio_rustls::TlsConnector::from(tls()?);
    match tokio::time::timeout(t.connect.min(t.left()), tls.connect(name, tcp)).await {
        Ok(Ok(s)) => Ok(Box::new(s)),
        // The reason (an unknown issuer, a name mismatch) is the answer.
        Ok(Err(e)) => Err(Error::InternalError(Some(format!(
            "TLS with {}: {e}",
            grant.host
        )))),
        Err(_) => Err(Error::ConnectionTimeout),
    }
}

/// The I/O driver of a connection, run beside the response.
pub(super) type Driver = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

/// Send `request` (already permitted by `grant`) and return the response,
/// its body counted against `budget` and bounded in time.
pub(super) async fn send(
    mut request: http::Request<WasiBody>,
    grant: &HostGrant,
    t: Timeouts,
    budget: Arc<Budget>,
) -> Result<(http::Response<WasiBody>, Driver), Error> {
    let port = request
        .uri()
        .port_u16()
        .unwrap_or(grant.scheme.default_port());
    let stream = connect(grant, port, &t).await?;
    let (mut sender, conn) = tokio::time::timeout(
        t.connect.min(t.left()),
        hyper::client::conn::http1::Builder::new()
            .max_buf_size(256 << 10)
            .handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;
    // On the wire the request line carries the path only (no proxy).
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(path)
        .build()
        .map_err(|e| Error::InternalError(Some(e.to_string())))?;
    let mut conn: Option<Driver> = Some(Box::pin(async move { conn.await.map_err(Error::from) }));
    let send = sender.send_request(request);
    let first_byte = tokio::time::sleep(t.first_byte.min(t.left()));
    tokio::pin!(send, first_byte);
    // Wait for the response head while driving the connection's I/O.
    let response = std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = send.as_mut().poll(cx) {
            return Poll::Ready(r.map_err(Error::from));
        }
        if let Some(c) = conn.as_mut()
            && let Poll::Ready(done) = c.as_mut().poll(cx)
        {
            conn = None;
            if let Err(e) = done {
                return Poll::Ready(Err(e));
            }
            if let Poll::Ready(r) = send.as_mut().poll(cx) {
                return Poll::Ready(r.map_err(Error::from));
            }
        }
        match first_byte.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Error::ConnectionReadTimeout)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await?;
    let conn: Driver = Box::pin(async move {
        match conn {
            Some(c) => c.await,
            None => Ok(()),
        }
    });
    let headers: u64 = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().len() + v.len() + 4) as u64)
        .sum();
    if let Err(limit) = budget.take_bytes(headers) {
        return Err(too_large(limit));
    }
    let response = response.map(|incoming| {
        Counted {
            inner: incoming,
            budget,
            idle: Box::pin(tokio::time::sleep(t.between_bytes.min(t.left()))),
            between: t.between_bytes,
            ends: t.ends,
        }
        .boxed_unsync()
    });
    Ok((response, conn))
}

fn too_large(limit: u64) -> Error {
    Error::InternalError(Some(format!(
        "smm refused the response: the responses of this collection passed the {limit} bytes it may receive (raise the instance's --http-mib)"
    )))
}

/// A response body counted against the collection's byte budget, failing
/// when no byte arrives within the between-bytes timeout.
struct Counted {
    inner: hyper::body::Incoming,
    budget: Arc<Budget>,
    idle: Pin<Box<tokio::time::Sleep>>,
    between: Duration,
    ends: Instant,
}

impl Body for Counted {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && let Err(limit) = this.budget.take_bytes(data.len() as u64)
                {
                    return Poll::Ready(Some(Err(too_large(limit))));
                }
                let left = this.ends.saturating_duration_since(Instant::now());
                let next = tokio::time::Instant::now() + this.between.min(left);
                this.idle.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.idle.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
