//! What to do with a bulk answer: typed decisions, for the whole request
//! and for each item, so the writer retries only what can succeed later.
//!
//! - 201 created → stored; 409 version conflict on `create` → the id is
//!   already stored (a retry or another engine wrote it): success.
//! - 429 and 5xx, a dropped connection, a timeout → retry (only the failed
//!   items when the request itself succeeded), with jittered backoff, for a
//!   bounded time; then the durable spool.
//! - 413 (request too large) → split the batch in two.
//! - Any other 4xx on an item (a mapping error) → dead letter: retrying the
//!   same document cannot succeed.
//! - 401/403 on the request → retry then spool: credentials get fixed, and
//!   the measurements must wait for it rather than be dropped.

use serde_json::Value;

use super::service::{Sent, cause_chain, error_reason};

#[derive(Debug, Clone, PartialEq)]
pub enum ItemDecision {
    Created,
    AlreadyStored,
    Retry(String),
    DeadLetter { status: u16, reason: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum RequestDecision {
    /// One decision per document, in order.
    Items(Vec<ItemDecision>),
    RetryAll(String),
    Split,
    /// The request was refused as a whole for a reason retrying cannot fix.
    RefuseAll {
        status: u16,
        reason: String,
    },
}

fn retryable(status: u16) -> bool {
    status == 429 || status >= 500 || status == 401 || status == 403 || status == 408
}

/// Decide what `sent` means for a bulk request of `count` documents.
pub fn decide(sent: &Sent, count: usize) -> RequestDecision {
    let (status, body) = match sent {
        Sent::Unreachable(e) => return RequestDecision::RetryAll(e.clone()),
        Sent::Response { status, body } => (*status, body),
    };
    match status {
        413 => return RequestDecision::Split,
        s if retryable(s) => {
            return RequestDecision::RetryAll(format!("{s} {}", error_reason(body)));
        }
        s if !(200..300).contains(&s) => {
            return RequestDecision::RefuseAll {
                status: s,
                reason: error_reason(body),
            };
        }
        _ => {}
    }
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let Some(items) = parsed
        .as_ref()
        .and_then(|v| v.get("items"))
        .and_then(Value::as_array)
    else {
        return RequestDecision::RetryAll(format!(
            "a bulk answer without items: {}",
            error_reason(body)
        ));
    };
    if items.len() != count {
        return RequestDecision::RetryAll(format!(
            "a bulk answer with {} items for {count} documents",
            items.len()
        ));
    }
    RequestDecision::Items(items.iter().map(item).collect())
}

fn item(item: &Value) -> ItemDecision {
    // Each item is {"<action>": {...}}; we send only `create`.
    let result = item
        .as_object()
        .and_then(|o| o.values().next())
        .cloned()
        .unwrap_or(Value::Null);
    let status = result.get("status").and_then(Value::as_u64).unwrap_or(0) as u16;
    let reason = || match result.get("error") {
        Some(e @ Value::Object(_)) => cause_chain(e),
        Some(other) => other.to_string(),
        None => format!("status {status}"),
    };
    match status {
        200..=299 => ItemDecision::Created,
        409 => ItemDecision::AlreadyStored,
        s if retryable(s) => ItemDecision::Retry(format!("{s} {}", reason())),
        0 => ItemDecision::Retry("an item without a status".into()),
        s => ItemDecision::DeadLetter {
            status: s,
            reason: reason(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use serde_json::json;

    fn response(status: u16, body: Value) -> Sent {
        Sent::Response {
            status,
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn per_item_decisions_follow_the_status() {
        let body = json!({"errors": true, "took": 3, "items": [
            {"create": {"_id": "a", "status": 201, "result": "created"}},
            {"create": {"_id": "b", "status": 409, "error": {"type": "version_conflict_engine_exception", "reason": "[b]: version conflict, document already exists (current version [1])"}}},
            {"create": {"_id": "c", "status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "rejected execution"}}},
            {"create": {"_id": "d", "status": 400, "error": {"type": "document_parsing_exception", "reason": "[1:42] failed to parse field [measurement.value] of type [double]"}}},
            {"create": {"_id": "e", "status": 503, "error": {"type": "unavailable_shards_exception", "reason": "primary shard is not active"}}},
        ]});
        let RequestDecision::Items(items) = decide(&response(200, body), 5) else {
            panic!("items expected")
        };
        assert_eq!(items[0], ItemDecision::Created);
        assert_eq!(items[1], ItemDecision::AlreadyStored);
        assert!(
            matches!(&items[2], ItemDecision::Retry(r) if r.contains("es_rejected_execution_exception"))
        );
        assert!(
            matches!(&items[3], ItemDecision::DeadLetter { status: 400, reason } if reason.contains("measurement.value"))
        );
        assert!(matches!(&items[4], ItemDecision::Retry(_)));
    }

    #[test]
    fn whole_request_decisions() {
        assert_eq!(decide(&response(413, json!({})), 3), RequestDecision::Split);
        assert!(matches!(
            decide(&response(503, json!({"error": "x"})), 3),
            RequestDecision::RetryAll(_)
        ));
        assert!(matches!(
            decide(&response(401, json!({})), 3),
            RequestDecision::RetryAll(_)
        ));
        assert!(
            matches!(decide(&Sent::Unreachable("connection refused".into()), 3), RequestDecision::RetryAll(r) if r.contains("refused"))
        );
        assert!(matches!(
            decide(&response(400, json!({"error": {"type": "illegal_argument_exception", "reason": "Malformed action/metadata line [1]"}})), 3),
            RequestDecision::RefuseAll { status: 400, reason } if reason.contains("Malformed")
        ));
        // An answer that does not match the request is retried, not trusted.
        assert!(matches!(
            decide(&response(200, json!({"items": []})), 3),
            RequestDecision::RetryAll(_)
        ));
    }
}
