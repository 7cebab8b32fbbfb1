//! Deterministic fault injection: whole requests, bulk items, latency and
//! the HTTP body size limit.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use super::error::{EsError, cause};

/// Fail whole requests with an ES-shaped error (the request has no effect).
///
/// ```ignore
/// es.inject(RequestFault::new(429).times(2).on_path("/_bulk"));
/// ```
#[derive(Clone, Debug)]
pub struct RequestFault {
    pub(crate) status: u16,
    pub(crate) times: usize,
    pub(crate) path_contains: Option<String>,
    pub(crate) method: Option<String>,
    pub(crate) body: Option<Value>,
}

impl RequestFault {
    /// The next request fails with `status` (429, 500, 503, ...).
    pub fn new(status: u16) -> Self {
        RequestFault {
            status,
            times: 1,
            path_contains: None,
            method: None,
            body: None,
        }
    }

    /// Fail the next `n` matching requests instead of one.
    pub fn times(mut self, n: usize) -> Self {
        self.times = n;
        self
    }

    /// Only requests whose path contains `fragment` (e.g. `"/_bulk"`).
    pub fn on_path(mut self, fragment: &str) -> Self {
        self.path_contains = Some(fragment.to_string());
        self
    }

    /// Only requests with this HTTP method.
    pub fn on_method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Answer with this exact body instead of the ES-shaped default.
    pub fn with_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// Which items of a bulk request fail.
#[derive(Clone, Debug)]
pub enum ItemSelector {
    /// Items with these `_id`s, each for its next `attempts` tries.
    Ids(Vec<String>),
    /// The k-th, 2k-th, ... item of each of the next `attempts` bulk requests.
    EveryNth(usize),
    /// Every item of the next `attempts` bulk requests.
    All,
}

/// Fail selected bulk items with 429 (`es_rejected_execution_exception`),
/// 503 (`unavailable_shards_exception`) or another status; the rest of the
/// bulk request goes through.
#[derive(Clone, Debug)]
pub struct ItemFault {
    pub(crate) selector: ItemSelector,
    pub(crate) status: u16,
    pub(crate) attempts: usize,
}

impl ItemFault {
    pub fn ids<I, S>(ids: I, status: u16) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ItemFault {
            selector: ItemSelector::Ids(ids.into_iter().map(Into::into).collect()),
            status,
            attempts: 1,
        }
    }

    pub fn every_nth(k: usize, status: u16) -> Self {
        assert!(k > 0, "every_nth needs k >= 1");
        ItemFault {
            selector: ItemSelector::EveryNth(k),
            status,
            attempts: 1,
        }
    }

    pub fn all(status: u16) -> Self {
        ItemFault {
            selector: ItemSelector::All,
            status,
            attempts: 1,
        }
    }

    /// How many attempts fail (per `_id` for [`ItemSelector::Ids`], per
    /// bulk request otherwise). Default 1.
    pub fn attempts(mut self, m: usize) -> Self {
        self.attempts = m;
        self
    }
}

struct ItemState {
    fault: ItemFault,
    per_id: HashMap<String, usize>,
    remaining: usize,
}

#[derive(Default)]
pub(crate) struct Faults {
    requests: Vec<RequestFault>,
    items: Vec<ItemState>,
    pub latency: Duration,
    pub max_content_length: Option<usize>,
}

/// The positional item faults active for one bulk request.
pub(crate) struct BulkFaults(Vec<(ItemSelector, u16)>);

impl Faults {
    pub fn push_request(&mut self, f: RequestFault) {
        self.requests.push(f);
    }

    pub fn push_item(&mut self, f: ItemFault) {
        let per_id = match &f.selector {
            ItemSelector::Ids(ids) => ids.iter().map(|id| (id.clone(), f.attempts)).collect(),
            _ => HashMap::new(),
        };
        self.items.push(ItemState {
            remaining: f.attempts,
            per_id,
            fault: f,
        });
    }

    pub fn clear(&mut self) {
        self.requests.clear();
        self.items.clear();
        self.latency = Duration::ZERO;
    }

    /// The injected failure for this request, if one is due.
    pub fn take_request(&mut self, method: &str, path: &str) -> Option<EsError> {
        let f = self.requests.iter_mut().find(|f| {
            f.times > 0
                && f.path_contains.as_deref().is_none_or(|p| path.contains(p))
                && f.method.as_deref().is_none_or(|m| m == method)
        })?;
        f.times -= 1;
        let (status, body) = (f.status, f.body.clone());
        self.requests.retain(|f| f.times > 0);
        let mut err = match status {
            429 => EsError::new(
                429,
                "es_rejected_execution_exception",
                "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1048576, max_coordinating_and_primary_bytes=107374182]",
            ),
            503 => EsError::new(
                503,
                "cluster_block_exception",
                "blocked by: [SERVICE_UNAVAILABLE/2/no master];",
            ),
            s => EsError::new(s, "exception", format!("injected failure (HTTP {s})")),
        };
        if let Some(body) = body {
            err.form = super::error::Form::Raw(body);
        }
        Some(err)
    }

    pub fn begin_bulk(&mut self) -> BulkFaults {
        let mut active = Vec::new();
        for s in &mut self.items {
            if !matches!(s.fault.selector, ItemSelector::Ids(_)) && s.remaining > 0 {
                s.remaining -= 1;
                active.push((s.fault.selector.clone(), s.fault.status));
            }
        }
        BulkFaults(active)
    }

    /// The status an item fails with, if any (`position` is 1-based).
    pub fn item(&mut self, bulk: &BulkFaults, position: usize, id: &str) -> Option<u16> {
        for (sel, status) in &bulk.0 {
            match sel {
                ItemSelector::EveryNth(k) if position.is_multiple_of(*k) => return Some(*status),
                ItemSelector::All => return Some(*status),
                _ => {}
            }
        }
        for s in &mut self.items {
            if let Some(left) = s.per_id.get_mut(id)
                && *left > 0
            {
                *left -= 1;
                return Some(s.fault.status);
            }
        }
        None
    }
}

/// The item-level error for an injected item failure.
pub(crate) fn item_error(status: u16, index: &str, uuid: &str, bytes: usize) -> Value {
    let mut c = match status {
        429 => cause(
            "es_rejected_execution_exception",
            format!(
                "rejected execution of primary operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes={bytes}, primary_operation_bytes={bytes}, max_coordinating_and_primary_bytes=107374182]"
            ),
        ),
        503 => cause(
            "unavailable_shards_exception",
            format!(
                "[{index}][0] primary shard is not active Timeout: [1m], request: [BulkShardRequest [[{index}][0]] containing [1] requests]"
            ),
        ),
        s => cause("exception", format!("injected failure (HTTP {s})")),
    };
    if status == 503 {
        c["index_uuid"] = uuid.into();
        c["shard"] = "0".into();
        c["index"] = index.into();
    }
    c
}
