//! Elasticsearch-shaped errors.
//!
//! Shapes follow `specification/_types/Errors.ts` (`ErrorCause`: `type`,
//! `reason`, `caused_by`, `root_cause`, plus free metadata such as
//! `index_uuid`, `index`, `resource.type`) and `ErrorResponseBase`
//! (`{"error": ErrorCause, "status": n}`) in `specification/_types/Base.ts`,
//! including its edge case where `error` is a plain string (content-type,
//! method and routing errors raised by the REST layer).

use serde_json::{Map, Value, json};

/// One `ErrorCause` object.
pub(crate) fn cause(ty: &str, reason: impl Into<String>) -> Value {
    json!({"type": ty, "reason": reason.into()})
}

/// How an error's body is written.
#[derive(Debug, Clone)]
pub(crate) enum Form {
    /// `{"error": {root_cause, ...ErrorCause}, "status": n}`
    Cause,
    /// `{"error": "<text>", "status": n}` (REST-layer errors).
    Plain(String),
    /// No body at all (413 from the HTTP layer).
    Empty,
    /// A verbatim body (injected faults with a custom body).
    Raw(Value),
}

/// A request-level error: status, cause and the headers it carries.
#[derive(Debug, Clone)]
pub(crate) struct EsError {
    pub status: u16,
    /// The top-level `ErrorCause` (for [`Form::Cause`]).
    pub cause: Option<Value>,
    /// Explicit `root_cause` entries (search-phase failures); otherwise the
    /// cause itself, stripped of `caused_by`, is the root cause.
    pub root_causes: Option<Vec<Value>>,
    pub form: Form,
    pub headers: Vec<(String, String)>,
}

impl EsError {
    pub fn new(status: u16, ty: &str, reason: impl Into<String>) -> Self {
        Self::from_cause(status, cause(ty, reason))
    }

    pub fn from_cause(status: u16, cause: Value) -> Self {
        EsError {
            status,
            cause: Some(cause),
            root_causes: None,
            form: Form::Cause,
            headers: Vec::new(),
        }
    }

    pub fn plain(status: u16, text: impl Into<String>) -> Self {
        EsError {
            status,
            cause: None,
            root_causes: None,
            form: Form::Plain(text.into()),
            headers: Vec::new(),
        }
    }

    pub fn empty(status: u16) -> Self {
        EsError {
            status,
            cause: None,
            root_causes: None,
            form: Form::Empty,
            headers: Vec::new(),
        }
    }

    /// Add a metadata field to the cause (`index_uuid`, `index`, ...).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Some(Value::Object(m)) = &mut self.cause {
            m.insert(key.to_string(), value.into());
        }
        self
    }

    pub fn caused_by(mut self, inner: Value) -> Self {
        if let Some(Value::Object(m)) = &mut self.cause {
            m.insert("caused_by".into(), inner);
        }
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The `ErrorCause` as it appears inside a bulk item (`error` field).
    pub fn item_cause(&self) -> Value {
        match (&self.cause, &self.form) {
            (Some(c), _) => c.clone(),
            (None, Form::Plain(text)) => cause("exception", text.clone()),
            (None, _) => cause("exception", "error"),
        }
    }

    /// The response body; `None` for an empty body.
    pub fn body(&self) -> Option<Value> {
        match &self.form {
            Form::Empty => return None,
            Form::Raw(raw) => return Some(raw.clone()),
            Form::Plain(text) => return Some(json!({"error": text, "status": self.status})),
            Form::Cause => {}
        }
        let cause = self.cause.clone().unwrap_or_else(|| cause("exception", ""));
        let roots = self.root_causes.clone().unwrap_or_else(|| {
            let mut root = cause.as_object().cloned().unwrap_or_default();
            root.remove("caused_by");
            vec![Value::Object(root)]
        });
        let mut error = Map::new();
        error.insert("root_cause".into(), Value::Array(roots));
        if let Value::Object(m) = cause {
            error.extend(m);
        }
        Some(json!({"error": Value::Object(error), "status": self.status}))
    }

    // ---- the errors used throughout ------------------------------------

    pub fn illegal_argument(reason: impl Into<String>) -> Self {
        Self::new(400, "illegal_argument_exception", reason)
    }

    /// What the stand-in deliberately does not model (valid for real ES).
    pub fn unsupported(what: impl AsRef<str>) -> Self {
        Self::illegal_argument(format!(
            "not supported by the Elasticsearch stand-in: {}",
            what.as_ref()
        ))
    }

    pub fn parse(reason: impl Into<String>) -> Self {
        Self::new(400, "parse_exception", reason)
    }

    pub fn parsing(reason: impl Into<String>) -> Self {
        Self::new(400, "parsing_exception", reason)
    }

    pub fn x_content(reason: impl Into<String>) -> Self {
        Self::new(400, "x_content_parse_exception", reason)
    }

    /// `action_request_validation_exception` with ES's numbered list.
    pub fn validation(errors: &[String]) -> Self {
        let mut reason = String::from("Validation Failed: ");
        for (i, e) in errors.iter().enumerate() {
            reason.push_str(&format!("{}: {};", i + 1, e));
        }
        Self::new(400, "action_request_validation_exception", reason)
    }

    pub fn index_not_found(name: &str) -> Self {
        Self::new(
            404,
            "index_not_found_exception",
            format!("no such index [{name}]"),
        )
        .with("resource.type", "index_or_alias")
        .with("resource.id", name)
        .with("index_uuid", "_na_")
        .with("index", name)
    }

    pub fn resource_not_found(reason: impl Into<String>) -> Self {
        Self::new(404, "resource_not_found_exception", reason)
    }

    /// A JSON body that does not parse (Jackson's message shape).
    pub fn json_syntax(err: &serde_json::Error) -> Self {
        let msg = err.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        Self::x_content(format!("[{}:{}] {}", err.line(), err.column(), msg))
    }

    /// `search_phase_execution_exception` "all shards failed" wrapping the
    /// same shard-level failure on each shard (ES groups identical ones).
    pub fn search_phase(shard_cause: Value, index: Option<&str>, status: u16) -> Self {
        let mut err = EsError::new(
            status,
            "search_phase_execution_exception",
            "all shards failed",
        )
        .with("phase", "query")
        .with("grouped", true)
        .with(
            "failed_shards",
            json!([{"shard": 0, "index": index, "node": super::NODE_ID, "reason": shard_cause.clone()}]),
        );
        let mut root = shard_cause.as_object().cloned().unwrap_or_default();
        root.remove("caused_by");
        err.root_causes = Some(vec![Value::Object(root)]);
        err.caused_by(shard_cause)
    }
}
