//! Network grants of an instance: the HTTP(S) destinations its measure may
//! reach, and the host-held secrets sent to them.
//!
//! Invariants:
//! - A grant names one scheme, one host (a DNS name or an IP literal), one
//!   port and optionally a path prefix; nothing else (no wildcard, no
//!   credentials, no query) is a grant.
//! - A secret is stored as a reference (`env:NAME` or `file:/path`), never
//!   as a value; it is bound to exactly one granted host, and never to a
//!   plain-HTTP host other than a loopback address.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// URL scheme of a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantScheme {
    Https,
    Http,
}

impl GrantScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantScheme::Https => "https",
            GrantScheme::Http => "http",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            GrantScheme::Https => 443,
            GrantScheme::Http => 80,
        }
    }
}

/// One destination an instance's measure may send HTTP requests to:
/// `--allow-host api.github.com`, `--allow-host http://127.0.0.1:8080`,
/// `--allow-host https://ghe.example.com/api/v3/`.
///
/// A grant by DNS name reaches public addresses only, unless `private`
/// (`--allow-private-host`): the name's addresses are checked when the
/// request is sent, so a name that resolves to a loopback, private or
/// link-local address is refused. A grant by IP literal reaches that
/// address, whatever it is: the user named it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "GrantRecord", into = "GrantRecord")]
pub struct HostGrant {
    pub scheme: GrantScheme,
    /// Lowercase DNS name, or an IP literal (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// Requests must have a path under this prefix (starts with `/`).
    pub path_prefix: Option<String>,
    /// The DNS name may resolve to non-public addresses.
    pub private: bool,
}

#[derive(Serialize, Deserialize)]
struct GrantRecord {
    url: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    private: bool,
}

impl TryFrom<GrantRecord> for HostGrant {
    type Error = String;
    fn try_from(r: GrantRecord) -> Result<Self, String> {
        HostGrant::parse(&r.url, r.private)
    }
}

impl From<HostGrant> for GrantRecord {
    fn from(g: HostGrant) -> Self {
        GrantRecord {
            url: g.to_string(),
            private: g.private,
        }
    }
}

impl HostGrant {
    /// Parse `[scheme://]host[:port][/path-prefix]` (scheme `https` when
    /// absent).
    pub fn parse(text: &str, private: bool) -> Result<HostGrant, String> {
        let what = |reason: &str| format!("host grant {text:?}: {reason}");
        if text.is_empty() {
            return Err(what("is empty"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(what("contains whitespace or control characters"));
        }
        if text.contains('*') {
            return Err(what("wildcards are not grants: name each host"));
        }
        let full = if text.contains("://") {
            text.to_string()
        } else {
            format!("https://{text}")
        };
        // The URL parser folds `..` away: refuse it before, as written.
        if full
            .split('/')
            .skip(3)
            .map(|s| s.to_ascii_lowercase().replace("%2e", "."))
            .any(|s| s == ".." || s == ".")
        {
            return Err(what("the path has `.` or `..` segments"));
        }
        let url = url::Url::parse(&full).map_err(|e| what(&e.to_string()))?;
        let scheme = match url.scheme() {
            "https" => GrantScheme::Https,
            "http" => GrantScheme::Http,
            other => return Err(what(&format!("scheme {other:?} is neither https nor http"))),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(what(
                "credentials do not belong in a grant: use --secret for them",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(what("a grant has no query or fragment"));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(what("has no host")),
        };
        if host.is_empty() {
            return Err(what("has no host"));
        }
        let port = url.port().unwrap_or(scheme.default_port());
        let path = url.path();
        let path_prefix = if path.is_empty() || path == "/" {
            None
        } else {
            Some(path.to_string())
        };
        Ok(HostGrant {
            scheme,
            host,
            port,
            path_prefix,
            private,
        })
    }

    /// The host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// Whether a request to `scheme://host:port` + `path` falls under this
    /// grant. `host` is compared case-insensitively, without a trailing dot;
    /// `path` must not climb out of the prefix with `..` segments (plain or
    /// percent-encoded).
    pub fn permits(&self, scheme: GrantScheme, host: &str, port: u16, path: &str) -> bool {
        if scheme != self.scheme || port != self.port {
            return false;
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.');
        if !host.eq_ignore_ascii_case(&self.host) {
            // IPv6 literals may be written in several forms.
            match (host.parse::<IpAddr>(), self.ip()) {
                (Ok(a), Some(b)) if a == b => {}
                _ => return false,
            }
        }
        let Some(prefix) = &self.path_prefix else {
            return true;
        };
        let path = path.split(['?', '#']).next().unwrap_or("");
        if path
            .split('/')
            .map(|s| s.to_ascii_lowercase().replace("%2e", "."))
            .any(|s| s == ".." || s == ".")
        {
            return false;
        }
        if prefix.ends_with('/') {
            path.starts_with(prefix.as_str())
        } else {
            path == prefix
                || path
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        }
    }

    /// `host` or `host:port` as a user would name it in `--secret …@host`.
    pub fn names(&self, name: &str) -> bool {
        let (host, port) = match name.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.starts_with('[') => (h, p.parse::<u16>().ok()),
            _ => (name, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case(&self.host) && port.is_none_or(|p| p == self.port)
    }

    /// `host`, or `host:port` when the port is not the scheme's default:
    /// what a secret is bound to.
    pub fn authority(&self) -> String {
        let host = match self.ip() {
            Some(IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => self.host.clone(),
        };
        if self.port == self.scheme.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// A loopback IP literal (where plain HTTP cannot leak anything).
    pub fn is_loopback(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_loopback())
    }
}

impl fmt::Display for HostGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = match self.ip() {
            Some(IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => self.host.clone(),
        };
        write!(f, "{}://{host}", self.scheme.as_str())?;
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        if let Some(p) = &self.path_prefix {
            f.write_str(p)?;
        }
        Ok(())
    }
}

/// Where the engine reads a secret's value, at each run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretSource {
    /// An environment variable of the engine's process.
    Env(String),
    /// A file (its content, without the trailing newline).
    File(PathBuf),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(v) => write!(f, "env:{v}"),
            SecretSource::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

/// A secret the host sends, as `Authorization: Bearer <value>`, with every
/// request to the host it is bound to: `--secret github=env:GITHUB_TOKEN`
/// (bound to the only granted host) or
/// `--secret github=env:GITHUB_TOKEN@api.github.com`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRef {
    pub name: String,
    pub source: SecretSource,
    /// The granted host (as in the grant) the secret is sent to.
    pub host: String,
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}@{}", self.name, self.source, self.host)
    }
}

impl SecretRef {
    /// Parse `name=env:VAR[@host]` or `name=file:/path[@host]`, binding it
    /// to one of `grants` (the only one when `@host` is absent).
    pub fn parse(text: &str, grants: &[HostGrant]) -> Result<SecretRef, String> {
        // A mistaken argument may be the secret itself: never echo it.
        let (name, rest) = text.split_once('=').ok_or_else(|| {
            "a --secret argument (not shown) is not NAME=env:VARIABLE or NAME=file:/path, optionally followed by @host".to_string()
        })?;
        let what = |reason: String| format!("secret {name:?}: {reason}");
        crate::validate_name(name)
            .map_err(|e| format!("a --secret argument (not shown) has an invalid name: it {e}"))?;
        let (source, host) = match rest.rsplit_once('@') {
            Some((s, h)) if !h.contains('/') => (s, Some(h)),
            _ => (rest, None),
        };
        let source = if let Some(var) = source.strip_prefix("env:") {
            if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(what(
                    "env: is not followed by an environment variable name".into(),
                ));
            }
            SecretSource::Env(var.to_string())
        } else if let Some(path) = source.strip_prefix("file:") {
            let path = PathBuf::from(path);
            if !path.is_absolute() {
                return Err(what(format!("{} is not an absolute path", path.display())));
            }
            SecretSource::File(path)
        } else {
            return Err(what(
                "the source (not shown) is neither env:VARIABLE nor file:/path: a secret's value is never given on the command line, only where to read it".into(),
            ));
        };
        let grant = match host {
            Some(h) => grants.iter().find(|g| g.names(h)).ok_or_else(|| {
                what(format!(
                    "host {h:?} is not granted to this instance (grant it with --allow-host)"
                ))
            })?,
            None => match grants {
                [one] => one,
                [] => {
                    return Err(what(
                        "no host is granted to send it to (--allow-host)".into(),
                    ));
                }
                _ => {
                    return Err(what(format!(
                        "several hosts are granted: name one, e.g. {name}={}@{}",
                        source, grants[0].host
                    )));
                }
            },
        };
        let secret = SecretRef {
            name: name.to_string(),
            source,
            host: grant.authority(),
        };
        secret.check(grants)?;
        Ok(secret)
    }

    /// The secret is bound to a granted host, over HTTPS (or to a loopback
    /// address, where plain HTTP stays on the machine).
    pub fn check(&self, grants: &[HostGrant]) -> Result<(), String> {
        let bound: Vec<&HostGrant> = grants.iter().filter(|g| g.names(&self.host)).collect();
        if bound.is_empty() {
            return Err(format!(
                "secret {:?} is bound to {}, which is not granted to this instance",
                self.name, self.host
            ));
        }
        if let Some(g) = bound
            .iter()
            .find(|g| g.scheme == GrantScheme::Http && !g.is_loopback())
        {
            return Err(format!(
                "secret {:?} would be sent in clear text to {g}: bind secrets to https hosts",
                self.name
            ));
        }
        Ok(())
    }
}

/// Check an instance's network grants together: no duplicate grant or
/// secret name, every secret bound to a granted HTTPS host.
pub fn check(grants: &[HostGrant], secrets: &[SecretRef]) -> Result<(), String> {
    for (i, g) in grants.iter().enumerate() {
        if grants[..i].contains(g) {
            return Err(format!("host {g} is granted twice"));
        }
    }
    for (i, s) in secrets.iter().enumerate() {
        if secrets[..i].iter().any(|o| o.name == s.name) {
            return Err(format!("secret {:?} is given twice", s.name));
        }
        if secrets[..i].iter().any(|o| o.host == s.host) {
            return Err(format!(
                "two secrets are bound to {}: only one Authorization header is sent",
                s.host
            ));
        }
        s.check(grants)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(s: &str) -> HostGrant {
        HostGrant::parse(s, false).unwrap()
    }

    #[test]
    fn grants_parse_to_scheme_host_port_and_prefix() {
        let g = grant("api.github.com");
        assert_eq!(
            (g.scheme, g.host.as_str(), g.port, g.path_prefix.as_deref()),
            (GrantScheme::Https, "api.github.com", 443, None)
        );
        assert_eq!(g.to_string(), "https://api.github.com");
        let g = grant("http://127.0.0.1:8080/api/");
        assert_eq!(g.to_string(), "http://127.0.0.1:8080/api/");
        assert!(g.is_loopback());
        let g = grant("https://[::1]:9443");
        assert_eq!((g.host.as_str(), g.port), ("::1", 9443));
        assert_eq!(g.to_string(), "https://[::1]:9443");
        assert_eq!(grant("API.GitHub.com.").host, "api.github.com");
    }

    #[test]
    fn what_is_not_a_grant_is_refused_with_the_reason() {
        for (text, reason) in [
            ("", "empty"),
            ("*.github.com", "wildcard"),
            ("ftp://example.com", "neither https nor http"),
            ("https://user:pw@example.com", "credentials"),
            ("https://example.com/?a=1", "query"),
            ("https://example.com/a/../b", ".."),
            ("https://exa mple.com", "whitespace"),
        ] {
            let e = HostGrant::parse(text, false).unwrap_err();
            assert!(e.contains(reason), "{text}: {e}");
        }
    }

    #[test]
    fn a_grant_permits_its_scheme_host_port_and_prefix_only() {
        let g = grant("https://ghe.example.com/api/v3");
        let https = GrantScheme::Https;
        assert!(g.permits(https, "ghe.example.com", 443, "/api/v3"));
        assert!(g.permits(https, "GHE.example.com.", 443, "/api/v3/repos?page=2"));
        assert!(!g.permits(https, "ghe.example.com", 443, "/api/v3x"));
        assert!(!g.permits(https, "ghe.example.com", 443, "/api/v3/../../admin"));
        assert!(!g.permits(https, "ghe.example.com", 443, "/api/v3/%2E%2e/admin"));
        assert!(!g.permits(GrantScheme::Http, "ghe.example.com", 443, "/api/v3"));
        assert!(!g.permits(https, "ghe.example.com", 8443, "/api/v3"));
        assert!(!g.permits(https, "evil.example.com", 443, "/api/v3"));
        assert!(!g.permits(https, "ghe.example.com.evil.com", 443, "/api/v3"));
        let v6 = grant("http://[::1]:8080");
        assert!(v6.permits(GrantScheme::Http, "[0:0:0:0:0:0:0:1]", 8080, "/"));
    }

    #[test]
    fn secrets_are_references_bound_to_a_granted_https_host() {
        let grants = [grant("api.github.com")];
        let s = SecretRef::parse("github=env:GITHUB_TOKEN", &grants).unwrap();
        assert_eq!(s.to_string(), "github=env:GITHUB_TOKEN@api.github.com");
        let s = SecretRef::parse("gh=file:/run/secrets/gh@api.github.com", &grants).unwrap();
        assert_eq!(s.source, SecretSource::File("/run/secrets/gh".into()));
        for (text, reason) in [
            ("github=ghp_0123456789", "neither env:"),
            ("github=env:GITHUB_TOKEN@example.com", "not granted"),
            ("github=file:relative", "absolute"),
            ("ghp_0123456789", "is not NAME=env:"),
            (
                "github=env:A-B",
                "not followed by an environment variable name",
            ),
        ] {
            let e = SecretRef::parse(text, &grants).unwrap_err();
            assert!(e.contains(reason), "{text}: {e}");
            assert!(!e.contains("ghp_"), "a secret was echoed: {e}");
        }
        let two = [grant("api.github.com"), grant("gitlab.com")];
        let e = SecretRef::parse("t=env:T", &two).unwrap_err();
        assert!(e.contains("name one"), "{e}");
        let clear = [grant("http://ci.example.com")];
        let e = SecretRef::parse("t=env:T", &clear).unwrap_err();
        assert!(e.contains("clear text"), "{e}");
        let local = [
            grant("http://127.0.0.1:9000"),
            grant("http://127.0.0.1:9001"),
        ];
        let s = SecretRef::parse("t=env:T@127.0.0.1:9000", &local).unwrap();
        assert_eq!(s.host, "127.0.0.1:9000");
        assert!(local[0].names(&s.host) && !local[1].names(&s.host));
    }

    #[test]
    fn grants_round_trip_through_their_stored_form() {
        let g = HostGrant::parse("https://git.internal:8443/api/", true).unwrap();
        let json = serde_json::to_value(&g).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"url": "https://git.internal:8443/api/", "private": true})
        );
        assert_eq!(serde_json::from_value::<HostGrant>(json).unwrap(), g);
        let bad = serde_json::json!({"url": "ftp://x"});
        assert!(serde_json::from_value::<HostGrant>(bad).is_err());
    }
}
