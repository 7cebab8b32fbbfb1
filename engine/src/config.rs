//! The installation's configuration: `smm.toml` under `$SMM_HOME` (or
//! `--config-file`), overridden by environment variables.
//!
//! Parsing and validation are pure; the only I/O is reading the file and,
//! later, resolving secret references ([`Secret::resolve`]) when a backend
//! is built. Secrets are never printed: their `Debug` shows the reference
//! (`env:NAME`, `file:/path`) or `<redacted>`.
//!
//! ```toml
//! store = "elasticsearch"          # or "sqlite" (the default)
//! [elasticsearch]
//! urls = ["https://es01:9200"]
//! namespace = "default"            # data stream metrics-smm.measurements-<namespace>
//! ca_file = "/certs/ca/ca.crt"
//! [elasticsearch.auth]
//! basic = { username = "elastic", password = "env:ELASTIC_PASSWORD" }
//! # api_key = "env:SMM_ES_API_KEY"   (the encoded key Elasticsearch returns)
//! # bearer = "file:/run/secrets/es-token"
//! [sandbox]
//! compile_memory_mib = 1024        # most memory one compilation may use
//! ```
//!
//! Environment overrides: `SMM_COMPILE_MEMORY_MIB`, `SMM_STORE`, `SMM_ES_URL` (comma-separated),
//! `SMM_ES_NAMESPACE`, `SMM_ES_CA_FILE`, `SMM_ES_USERNAME` +
//! `SMM_ES_PASSWORD`, `SMM_ES_API_KEY`, `SMM_ES_BEARER` (the values of the
//! last four are secrets themselves, or `env:`/`file:` references).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("secret {reference}: {message}")]
    Secret { reference: String, message: String },
}

/// Which backend keeps measurements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    #[default]
    Sqlite,
    Elasticsearch,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub store: StoreKind,
    pub elasticsearch: Option<ElasticsearchConfig>,
    #[serde(default)]
    pub sandbox: SandboxSettings,
}

/// `[sandbox]`: bounds of the work the engine does on a plugin's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    /// Most memory one compilation of a component may use, in MiB.
    #[serde(default = "default_compile_memory_mib")]
    pub compile_memory_mib: u64,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            compile_memory_mib: default_compile_memory_mib(),
        }
    }
}

/// One compilation's memory bound by default: a measure built with the
/// SDK compiles in well under 100 MiB.
fn default_compile_memory_mib() -> u64 {
    1024
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchConfig {
    pub urls: Vec<String>,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// PEM file of the CA that signed the cluster's certificate.
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default)]
    pub bulk: BulkConfig,
    /// Timeout of one request.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long a write retries transient failures (429, 5xx, a dropped
    /// connection) before the measurements go to the durable spool.
    #[serde(default = "default_retry_for", with = "humantime_serde")]
    pub retry_for: Duration,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    pub basic: Option<Basic>,
    pub api_key: Option<Secret>,
    pub bearer: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Basic {
    pub username: String,
    pub password: Secret,
}

/// How appends are grouped into bulk requests: a batch is sent when it
/// holds `max_actions` measurements or `max_bytes` of NDJSON, or `linger`
/// after its first measurement (0: as soon as the previous request is
/// answered, so an idle engine adds no latency and a busy one batches).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkConfig {
    #[serde(default = "default_max_actions")]
    pub max_actions: usize,
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    #[serde(default, with = "humantime_serde")]
    pub linger: Duration,
}

impl Default for BulkConfig {
    fn default() -> Self {
        BulkConfig {
            max_actions: default_max_actions(),
            max_bytes: default_max_bytes(),
            linger: Duration::ZERO,
        }
    }
}

fn default_namespace() -> String {
    "default".into()
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_retry_for() -> Duration {
    Duration::from_secs(10)
}
fn default_max_actions() -> usize {
    1000
}
fn default_max_bytes() -> usize {
    5 << 20
}

mod humantime_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text)
            .map_err(|e| serde::de::Error::custom(format!("invalid duration {text:?} ({e})")))
    }
}

/// A secret: `env:NAME`, `file:/path`, or (discouraged) the value itself.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(reference: impl Into<String>) -> Self {
        Secret(reference.into())
    }

    /// The secret's value. Reads the environment or the file.
    pub fn resolve(&self) -> Result<String, ConfigError> {
        let fail = |message: String| ConfigError::Secret {
            reference: format!("{self:?}"),
            message,
        };
        if let Some(name) = self.0.strip_prefix("env:") {
            return std::env::var(name).map_err(|_| fail(format!("${name} is not set")));
        }
        if let Some(path) = self.0.strip_prefix("file:") {
            let text = std::fs::read_to_string(path)
                .map_err(|e| fail(format!("cannot read {path}: {e}")))?;
            return Ok(text.trim_end_matches(['\n', '\r']).to_string());
        }
        Ok(self.0.clone())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.starts_with("env:") || self.0.starts_with("file:") {
            f.write_str(&self.0)
        } else {
            f.write_str("<redacted>")
        }
    }
}

impl Config {
    /// Read `path` if it exists (a missing file is the default
    /// configuration, unless `required`), then apply the environment.
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => None,
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Config::parse(&path.display().to_string(), text.as_deref(), env)
    }

    /// Parse and validate `text` (from `origin`), then apply overrides read
    /// through `env`. Pure: no I/O.
    pub fn parse(
        origin: &str,
        text: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: origin.to_string(),
            message,
        };
        let mut config: Config = match text {
            // The error's message and line, not its excerpt of the file:
            // the excerpt could hold a secret.
            Some(text) => toml::from_str(text).map_err(|e| {
                let line = e
                    .span()
                    .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
                match line {
                    Some(line) => invalid(format!("line {line}: {}", e.message())),
                    None => invalid(e.message().to_string()),
                }
            })?,
            None => Config::default(),
        };
        if let Some(store) = env("SMM_STORE") {
            config.store = match store.as_str() {
                "sqlite" => StoreKind::Sqlite,
                "elasticsearch" => StoreKind::Elasticsearch,
                other => {
                    return Err(invalid(format!(
                        "SMM_STORE={other:?}: expected sqlite or elasticsearch"
                    )));
                }
            };
        }
        if let Some(mib) = env("SMM_COMPILE_MEMORY_MIB") {
            config.sandbox.compile_memory_mib = mib.parse().map_err(|_| {
                invalid(format!(
                    "SMM_COMPILE_MEMORY_MIB={mib:?}: expected a number of MiB"
                ))
            })?;
        }
        if config.sandbox.compile_memory_mib < 64 {
            return Err(invalid(format!(
                "[sandbox] compile_memory_mib = {}: at least 64 MiB is needed to compile a component",
                config.sandbox.compile_memory_mib
            )));
        }
        let es_env = [
            "SMM_ES_URL",
            "SMM_ES_NAMESPACE",
            "SMM_ES_CA_FILE",
            "SMM_ES_USERNAME",
            "SMM_ES_API_KEY",
            "SMM_ES_BEARER",
        ]
        .iter()
        .any(|v| env(v).is_some());
        if es_env && config.elasticsearch.is_none() {
            config.elasticsearch = Some(ElasticsearchConfig {
                urls: Vec::new(),
                namespace: default_namespace(),
                ca_file: None,
                auth: Auth::default(),
                bulk: BulkConfig::default(),
                request_timeout: default_request_timeout(),
                retry_for: default_retry_for(),
            });
        }
        if let Some(es) = config.elasticsearch.as_mut() {
            if let Some(urls) = env("SMM_ES_URL") {
                es.urls = urls.split(',').map(|u| u.trim().to_string()).collect();
            }
            if let Some(ns) = env("SMM_ES_NAMESPACE") {
                es.namespace = ns;
            }
            if let Some(ca) = env("SMM_ES_CA_FILE") {
                es.ca_file = Some(ca.into());
            }
            if let Some(username) = env("SMM_ES_USERNAME") {
                let password = env("SMM_ES_PASSWORD").ok_or_else(|| {
                    invalid("SMM_ES_USERNAME is set but SMM_ES_PASSWORD is not".into())
                })?;
                es.auth.basic = Some(Basic {
                    username,
                    password: Secret(password),
                });
            }
            if let Some(key) = env("SMM_ES_API_KEY") {
                es.auth.api_key = Some(Secret(key));
            }
            if let Some(token) = env("SMM_ES_BEARER") {
                es.auth.bearer = Some(Secret(token));
            }
            es.validate()
                .map_err(|m| invalid(format!("[elasticsearch] {m}")))?;
        }
        if config.store == StoreKind::Elasticsearch && config.elasticsearch.is_none() {
            return Err(invalid(
                "store = \"elasticsearch\" needs an [elasticsearch] table with urls (or SMM_ES_URL)"
                    .into(),
            ));
        }
        Ok(config)
    }
}

impl ElasticsearchConfig {
    fn validate(&self) -> Result<(), String> {
        if self.urls.is_empty() {
            return Err("urls: at least one URL is needed".into());
        }
        for u in &self.urls {
            let shown = redact_url(u);
            let parsed = url::Url::parse(u).map_err(|e| format!("urls: {shown:?}: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!("urls: {shown:?}: the scheme must be http or https"));
            }
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(format!(
                    "urls: {}: credentials belong in [elasticsearch.auth], not in the URL",
                    parsed.host_str().unwrap_or("?")
                ));
            }
        }
        // Data stream names: lowercase, no `-` in the namespace (Elastic's
        // type-dataset-namespace naming), at most 100 bytes.
        let ns = &self.namespace;
        if ns.is_empty()
            || ns.len() > 100
            || !ns
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
        {
            return Err(format!(
                "namespace {ns:?}: use 1-100 of lowercase letters, digits, '_' and '.' (no '-')"
            ));
        }
        let methods = [
            self.auth.basic.is_some(),
            self.auth.api_key.is_some(),
            self.auth.bearer.is_some(),
        ];
        if methods.iter().filter(|m| **m).count() > 1 {
            return Err("auth: choose one of basic, api_key, bearer".into());
        }
        if self.bulk.max_actions == 0 || self.bulk.max_bytes < 1024 {
            return Err("bulk: max_actions must be at least 1 and max_bytes at least 1024".into());
        }
        Ok(())
    }

    /// The data stream measurements are written to.
    pub fn data_stream(&self) -> String {
        format!("metrics-smm.measurements-{}", self.namespace)
    }
}

/// `url` without the credentials it may carry (`user:password@`), for
/// messages; works on strings that do not parse as URLs too.
pub fn redact_url(url: &str) -> String {
    let limit = url.find(['?', '#']).unwrap_or(url.len());
    match url[..limit].rfind('@') {
        Some(at) => {
            let start = url
                .find("://")
                .map(|i| i + 3)
                .filter(|&i| i <= at)
                .unwrap_or(0);
            format!("{}***@{}", &url[..start], &url[at + 1..])
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::parse("smm.toml", Some(text), move |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn the_default_is_the_embedded_store() {
        let c = Config::parse("smm.toml", None, |_| None).unwrap();
        assert_eq!(c.store, StoreKind::Sqlite);
        assert!(c.elasticsearch.is_none());
    }

    #[test]
    fn an_elasticsearch_file_with_env_overrides() {
        let c = parse(
            r#"store = "elasticsearch"
[elasticsearch]
urls = ["https://es01:9200"]
ca_file = "/certs/ca.crt"
[elasticsearch.auth]
basic = { username = "elastic", password = "env:ELASTIC_PASSWORD" }
[elasticsearch.bulk]
max_actions = 200
linger = "20ms"
"#,
            &[("SMM_ES_URL", "https://a:9200, https://b:9200")],
        )
        .unwrap();
        let es = c.elasticsearch.unwrap();
        assert_eq!(es.urls, vec!["https://a:9200", "https://b:9200"]);
        assert_eq!(es.data_stream(), "metrics-smm.measurements-default");
        assert_eq!(es.bulk.max_actions, 200);
        assert_eq!(es.bulk.linger, Duration::from_millis(20));
        assert_eq!(
            format!("{:?}", es.auth.basic.unwrap().password),
            "env:ELASTIC_PASSWORD"
        );
    }

    #[test]
    fn the_compile_memory_bound_comes_from_the_file_or_the_environment() {
        assert_eq!(parse("", &[]).unwrap().sandbox.compile_memory_mib, 1024);
        let c = parse("[sandbox]\ncompile_memory_mib = 300", &[]).unwrap();
        assert_eq!(c.sandbox.compile_memory_mib, 300);
        let c = parse("", &[("SMM_COMPILE_MEMORY_MIB", "2048")]).unwrap();
        assert_eq!(c.sandbox.compile_memory_mib, 2048);
        let e = parse("", &[("SMM_COMPILE_MEMORY_MIB", "lots")]).unwrap_err();
        assert!(
            e.to_string().contains("SMM_COMPILE_MEMORY_MIB=\"lots\""),
            "{e}"
        );
    }

    #[test]
    fn bad_configurations_say_what_and_where() {
        let cases = [
            (
                "store = \"elasticsearch\"",
                "needs an [elasticsearch] table",
            ),
            ("store = \"mongo\"", "unknown variant"),
            ("[elasticsearch]\nurls = []", "at least one URL"),
            ("[elasticsearch]\nurls = [\"ftp://x\"]", "http or https"),
            (
                "[elasticsearch]\nurls = [\"https://elastic:hunter2@x:9200\"]",
                "credentials belong in [elasticsearch.auth]",
            ),
            (
                "[elasticsearch]\nurls = [\"http://x:9200\"]\nnamespace = \"a-b\"",
                "no '-'",
            ),
            (
                "[elasticsearch]\nurls = [\"http://x:9200\"]\n[elasticsearch.auth]\napi_key = \"k\"\nbearer = \"t\"",
                "choose one",
            ),
            (
                "[elasticsearch]\nurls = [\"http://x:9200\"]\nretry_for = \"soon\"",
                "line 3: invalid duration \"soon\"",
            ),
            ("colour = \"blue\"", "unknown field"),
            (
                "[sandbox]\ncompile_memory_mib = 8",
                "compile_memory_mib = 8: at least 64 MiB",
            ),
            (
                "[elasticsearch]\nurls = [\"ftp://elastic:hunter2@x\"]",
                "http or https",
            ),
            (
                "[elasticsearch]\nurls = [\"https://elastic:hunter2@x:99999\"]",
                "urls",
            ),
            (
                "[elasticsearch]\nurls = [\"http://x:9200\"]\n[elasticsearch.auth]\nbasic = { username = \"elastic\", pasword = \"hunter2\" }",
                "unknown field",
            ),
        ];
        for (text, want) in cases {
            let e = parse(text, &[]).unwrap_err().to_string();
            assert!(e.starts_with("smm.toml"), "{e}");
            assert!(e.contains(want), "{text}: {e}");
            assert!(!e.contains("hunter2"), "a password leaked: {e}");
        }
    }

    #[test]
    fn credentials_in_urls_are_cut_from_messages() {
        assert_eq!(
            redact_url("https://u:pw@x:9200/a?b"),
            "https://***@x:9200/a?b"
        );
        assert_eq!(redact_url("http//u:pw@x"), "***@x");
        assert_eq!(redact_url("https://x:9200"), "https://x:9200");
    }

    #[test]
    fn secrets_resolve_and_never_print() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cr3t\n").unwrap();
        let s = Secret::new(format!("file:{}", file.display()));
        assert_eq!(s.resolve().unwrap(), "s3cr3t");
        let literal = Secret::new("hunter2");
        assert_eq!(format!("{literal:?}"), "<redacted>");
        let missing = Secret::new("env:SMM_TEST_NO_SUCH_VARIABLE_3141");
        let e = missing.resolve().unwrap_err().to_string();
        assert!(
            e.contains("SMM_TEST_NO_SUCH_VARIABLE_3141 is not set"),
            "{e}"
        );
    }
}
