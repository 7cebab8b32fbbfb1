//! Reads: queries, point-in-time inputs and windows of derived measures,
//! and aggregations pushed down to Elasticsearch.
//!
//! - Every search sorts by `@timestamp` then `measurement.id` (unique, the
//!   document `_id`): the order every backend promises, and a total order,
//!   so `search_after` pages are exact.
//! - A result larger than one page is read again from the start inside a
//!   point in time and paged with `search_after`, so it is one consistent
//!   snapshot however long the reading takes.
//! - Read-your-writes: after this engine delivered measurements, and at a
//!   process's first read, the read refreshes the data stream first (a
//!   recomputed derived measure sees the input just stored; `smm query`
//!   sees what the previous `smm run` stored). Concurrent readers wait for
//!   the refresh in flight; credentials without the `maintenance`
//!   privilege (403) fall back to the cluster's refresh interval.
//! - Pushed down: sum, average, minimum, maximum and count (computed
//!   exactly by Elasticsearch); median and percentiles are not (its
//!   percentiles are approximations): the engine reads those values.
//! - A data stream that does not exist yet reads as empty.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use elasticsearch::http::Method;
use serde_json::{Value, json};
use smm_catalogue::StoreError;
use smm_catalogue::derived::Accumulator;

use super::encoder::decode;
use super::service::Service;
use crate::measurement::{Measurement, Query};
use crate::store::{Aggregate, Selector, WindowColumns, WindowRow};

/// Hits per page (Elasticsearch's `index.max_result_window` is 10 000).
const PAGE: usize = 5_000;

pub struct Reader {
    service: Service,
    data_stream: String,
    /// Deliveries so far (bumped by the writer).
    written: Arc<AtomicU64>,
    /// The value of `written` when the last refresh started.
    refreshed: AtomicU64,
    /// One refresh at a time; readers that need one wait for it.
    refreshing: tokio::sync::Mutex<()>,
    /// The credentials may not refresh (403): warned once, then reads
    /// rely on the cluster's refresh interval.
    refresh_forbidden: AtomicBool,
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn selector_filters(sel: &Selector) -> Vec<Value> {
    let mut filters = vec![json!({"term": {"measure.id": sel.measure_id}})];
    filters.extend(label_filters(&sel.labels));
    filters
}

fn label_filters(labels: &std::collections::BTreeMap<String, String>) -> Vec<Value> {
    labels
        .iter()
        .map(|(k, v)| json!({"term": {format!("labels.{k}"): v}}))
        .collect()
}

fn success() -> Value {
    json!({"term": {"event.outcome": "success"}})
}

fn sort(order: &str) -> Value {
    json!([{"@timestamp": {"order": order}}, {"measurement.id": {"order": order}}])
}

fn storage(e: String) -> StoreError {
    StoreError::permanent(format!("elasticsearch: {e}"))
}

impl Reader {
    pub fn new(service: Service, data_stream: String, written: Arc<AtomicU64>) -> Reader {
        Reader {
            service,
            data_stream,
            written,
            refreshed: AtomicU64::new(0),
            refreshing: tokio::sync::Mutex::new(()),
            refresh_forbidden: AtomicBool::new(false),
        }
    }

    /// Refresh the data stream if this engine delivered measurements since
    /// the last refresh started; a reader arriving while a refresh runs
    /// waits for it, so no read misses a delivery that preceded it.
    async fn refresh_if_needed(&self) -> Result<(), StoreError> {
        if self.refresh_forbidden.load(Ordering::Acquire)
            || self.refreshed.load(Ordering::Acquire) >= self.written.load(Ordering::Acquire)
        {
            return Ok(());
        }
        let _one = self.refreshing.lock().await;
        let target = self.written.load(Ordering::Acquire);
        if self.refreshed.load(Ordering::Acquire) >= target {
            return Ok(()); // refreshed by the reader we waited for
        }
        let path = format!("/{}/_refresh", self.data_stream);
        match self.service.json(Method::Post, &path, &[], None).await {
            Ok(_) => {
                self.refreshed.store(target, Ordering::Release);
                Ok(())
            }
            Err(e) if e.message().contains(": 403 ") => {
                tracing::warn!(
                    "the credentials may not refresh {} (privilege `maintenance`): reads see new measurements after the cluster's refresh interval: {e}",
                    self.data_stream
                );
                self.refresh_forbidden.store(true, Ordering::Release);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// One search; `None` when the data stream does not exist.
    async fn search(&self, path: &str, body: &Value) -> Result<Option<Value>, StoreError> {
        self.service.json(Method::Post, path, &[], Some(body)).await
    }

    fn search_path(&self) -> String {
        format!("/{}/_search", self.data_stream)
    }

    /// Every hit of `query`, sorted `order`, at most `limit`; `source` lists
    /// the fields to return.
    async fn hits(
        &self,
        query: Value,
        order: &str,
        source: Value,
        limit: Option<usize>,
    ) -> Result<Vec<Value>, StoreError> {
        self.refresh_if_needed().await?;
        let want = limit.unwrap_or(usize::MAX);
        let size = want.min(PAGE);
        let body = json!({
            "size": size, "query": query, "sort": sort(order), "_source": source,
            "track_total_hits": false,
        });
        let Some(first) = self.search(&self.search_path(), &body).await? else {
            return Ok(Vec::new());
        };
        let hits = hits_of(&first)?;
        if hits.len() < size || hits.len() >= want {
            return Ok(hits);
        }
        // More than a page: read it all again as one snapshot.
        self.paged(query, order, source, want).await
    }

    async fn paged(
        &self,
        query: Value,
        order: &str,
        source: Value,
        want: usize,
    ) -> Result<Vec<Value>, StoreError> {
        let pit_path = format!("/{}/_pit", self.data_stream);
        let Some(opened) = self
            .service
            .json(Method::Post, &pit_path, &[("keep_alive", "1m")], None)
            .await?
        else {
            return Ok(Vec::new());
        };
        let mut pit = opened
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| storage("opening a point in time gave no id".into()))?
            .to_string();
        let mut out: Vec<Value> = Vec::new();
        let mut after: Option<Value> = None;
        let result = loop {
            let size = (want - out.len()).min(PAGE);
            let mut body = json!({
                "size": size, "query": query, "sort": sort(order), "_source": source,
                "track_total_hits": false, "pit": {"id": pit, "keep_alive": "1m"},
            });
            if let Some(after) = &after {
                body["search_after"] = after.clone();
            }
            let page = match self.search("/_search", &body).await {
                Ok(Some(page)) => page,
                Ok(None) => break Err(storage("the point in time expired while paging".into())),
                Err(e) => break Err(e),
            };
            // Always page (and close) with the most recent id.
            if let Some(id) = page.get("pit_id").and_then(Value::as_str) {
                pit = id.to_string();
            }
            let hits = match hits_of(&page) {
                Ok(h) => h,
                Err(e) => break Err(e),
            };
            let full = hits.len() == size;
            after = hits.last().and_then(|h| h.get("sort")).cloned();
            out.extend(hits);
            if !full || out.len() >= want || after.is_none() {
                break Ok(out);
            }
        };
        let close = json!({"id": pit});
        if let Err(e) = self
            .service
            .json(Method::Delete, "/_pit", &[], Some(&close))
            .await
        {
            tracing::debug!("cannot close a point in time (it expires by itself): {e}");
        }
        result
    }

    pub async fn query(&self, q: &Query) -> Result<Vec<Measurement>, StoreError> {
        let mut filters = Vec::new();
        if let Some(i) = &q.instance {
            filters.push(json!({"term": {"measurement.instance": i}}));
        }
        if let Some(m) = &q.measure_id {
            filters.push(json!({"term": {"measure.id": m}}));
        }
        filters.extend(label_filters(&q.labels));
        let mut range = serde_json::Map::new();
        if let Some(s) = q.since {
            range.insert("gte".into(), json!(millis(s)));
        }
        if let Some(u) = q.until {
            range.insert("lte".into(), json!(millis(u)));
        }
        if !range.is_empty() {
            range.insert("format".into(), json!("epoch_millis"));
            filters.push(json!({"range": {"@timestamp": range}}));
        }
        let query = json!({"bool": {"filter": filters}});
        // A limit keeps the most recent: read newest first, then reverse.
        let (order, limit) = match q.limit {
            Some(l) => ("desc", Some(l)),
            None => ("asc", None),
        };
        if limit == Some(0) {
            return Ok(Vec::new());
        }
        let mut hits = self.hits(query, order, json!(true), limit).await?;
        if order == "desc" {
            hits.reverse();
        }
        hits.iter()
            .map(|h| decode(&h["_source"]).map_err(storage))
            .collect()
    }

    pub async fn latest(
        &self,
        sel: &Selector,
        at: DateTime<Utc>,
    ) -> Result<Option<Measurement>, StoreError> {
        let mut filters = selector_filters(sel);
        filters.push(success());
        filters
            .push(json!({"range": {"@timestamp": {"lte": millis(at), "format": "epoch_millis"}}}));
        let query = json!({"bool": {"filter": filters}});
        let hits = self.hits(query, "desc", json!(true), Some(1)).await?;
        hits.first()
            .map(|h| decode(&h["_source"]).map_err(storage))
            .transpose()
    }

    fn window_query(sel: &Selector, after: DateTime<Utc>, until: DateTime<Utc>) -> Value {
        let mut filters = selector_filters(sel);
        filters.push(success());
        filters.push(json!({"exists": {"field": "measurement.value"}}));
        filters.push(json!({"range": {"@timestamp": {
            "gt": millis(after), "lte": millis(until), "format": "epoch_millis"
        }}}));
        json!({"bool": {"filter": filters}})
    }

    pub async fn window(
        &self,
        sel: &Selector,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        columns: WindowColumns,
    ) -> Result<Vec<WindowRow>, StoreError> {
        let mut source = vec!["@timestamp", "measurement.value"];
        if columns.ids {
            source.push("measurement.id");
        }
        if columns.labels {
            source.push("labels");
        }
        let hits = self
            .hits(
                Self::window_query(sel, after, until),
                "asc",
                json!(source),
                None,
            )
            .await?;
        hits.iter()
            .map(|h| {
                let s = &h["_source"];
                let timestamp = s["@timestamp"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or_else(|| storage(format!("a hit without a valid @timestamp: {s}")))?;
                let value = s
                    .pointer("/measurement/value")
                    .and_then(Value::as_f64)
                    .ok_or_else(|| storage(format!("a hit without measurement.value: {s}")))?;
                let labels = match (columns.labels, s.get("labels")) {
                    (true, Some(Value::Object(m))) => m
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect(),
                    _ => Default::default(),
                };
                let id = match columns.ids {
                    true => s
                        .pointer("/measurement/id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    false => String::new(),
                };
                Ok(WindowRow {
                    id,
                    timestamp,
                    labels,
                    value,
                })
            })
            .collect()
    }

    pub async fn aggregate(
        &self,
        sel: &Selector,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        accumulator: Accumulator,
    ) -> Result<Option<Aggregate>, StoreError> {
        let function = match accumulator {
            Accumulator::Sum => "sum",
            Accumulator::Average => "avg",
            Accumulator::Maximum => "max",
            Accumulator::Minimum => "min",
            Accumulator::Count => "value_count",
            _ => return Ok(None),
        };
        self.refresh_if_needed().await?;
        let body = json!({
            "size": 0,
            "track_total_hits": true,
            "query": Self::window_query(sel, after, until),
            "aggs": {"v": {function: {"field": "measurement.value"}}},
        });
        let Some(answer) = self.search(&self.search_path(), &body).await? else {
            let value = matches!(accumulator, Accumulator::Sum | Accumulator::Count).then_some(0.0);
            return Ok(Some(Aggregate { value, count: 0 }));
        };
        let count = answer
            .pointer("/hits/total/value")
            .and_then(Value::as_u64)
            .ok_or_else(|| storage(format!("an aggregation without hits.total: {answer}")))?;
        let value = answer
            .pointer("/aggregations/v/value")
            .and_then(Value::as_f64);
        // Elasticsearch gives min/max/avg of nothing as null, sum as 0.
        let value = match accumulator {
            Accumulator::Sum | Accumulator::Count => Some(value.unwrap_or(0.0)),
            _ if count == 0 => None,
            _ => value,
        };
        Ok(Some(Aggregate { value, count }))
    }

    pub async fn exists_at(
        &self,
        instance: &str,
        at: DateTime<Utc>,
        successful: bool,
    ) -> Result<bool, StoreError> {
        let mut filters = vec![
            json!({"term": {"measurement.instance": instance}}),
            json!({"range": {"@timestamp": {"gte": millis(at), "lte": millis(at), "format": "epoch_millis"}}}),
        ];
        if successful {
            filters.push(success());
        }
        let query = json!({"bool": {"filter": filters}});
        let hits = self
            .hits(query, "asc", json!(["measurement.id"]), Some(1))
            .await?;
        Ok(!hits.is_empty())
    }
}

fn hits_of(answer: &Value) -> Result<Vec<Value>, StoreError> {
    answer
        .pointer("/hits/hits")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| storage(format!("a search answer without hits: {answer}")))
}
