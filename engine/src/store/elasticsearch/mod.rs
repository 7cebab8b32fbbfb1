//! The Elasticsearch measurement store (8.x and 9.x), through the official
//! `elasticsearch` client.
//!
//! One concern per file: `service.rs` (HTTP, TLS, credentials),
//! `encoder.rs` (a measurement as an ECS-named document and back),
//! `request_builder.rs` (bulk NDJSON), `retry.rs` (typed decisions on bulk
//! answers), `sink.rs` (the bulk writer: batching, retries, spooling),
//! `spool.rs` (the durable spool and dead letters), `reader.rs` (searches
//! and aggregations), `templates.rs` (index template, component templates,
//! ILM policy; `smm es setup`).
//!
//! Measurements go to the data stream `metrics-smm.measurements-<namespace>`
//! with `create` and the measurement id as `_id`: a re-sent measurement is
//! a 409, counted as already stored, so retries, restarts and several
//! engines writing to one cluster never duplicate a measurement. Nothing
//! here assumes a single writer.

mod encoder;
mod reader;
mod request_builder;
mod retry;
mod service;
mod sink;
mod spool;
mod templates;

pub use encoder::encode as encode_document;
pub use spool::{DeadLetter, DeliveryStatus};
pub use templates::Setup;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use elasticsearch::http::Method;
use serde_json::Value;
use smm_catalogue::StoreError;
use smm_catalogue::derived::Accumulator;

use crate::config::ElasticsearchConfig;
use crate::measurement::{Measurement, Query};
use crate::store::{Aggregate, Appended, MeasurementStore, Selector, WindowColumns, WindowRow};
use reader::Reader;
use request_builder::Doc;
use service::Service;
use sink::{Context, Writer};
use spool::Spool;

pub struct ElasticsearchStore {
    service: Service,
    namespace: String,
    data_stream: String,
    reader: Reader,
    writer: Writer,
    spool: Spool,
    late: Arc<std::sync::Mutex<sink::Late>>,
}

impl ElasticsearchStore {
    /// Build the client and start the writer on the current tokio runtime;
    /// `spool` is the durable spool's file. Does not contact the cluster.
    pub fn open(config: &ElasticsearchConfig, spool: &Path) -> Result<Self, StoreError> {
        let service = Service::build(config)?;
        let spool = Spool::open(spool)?;
        let data_stream = config.data_stream();
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(StoreError::permanent(
                "the Elasticsearch store needs a tokio runtime",
            ));
        }
        // Bumped by each delivery; a read refreshes first when it moved
        // since the last refresh. It starts at 1 (and the last refresh at
        // 0): a new process refreshes before its first read, so a command
        // sees what the previous command wrote. Other engines' writes are
        // visible after the cluster's refresh interval.
        let written = Arc::new(AtomicU64::new(1));
        let late = Arc::new(std::sync::Mutex::new(sink::Late::default()));
        let writer = Writer::start(Context {
            service: service.clone(),
            data_stream: data_stream.clone(),
            spool: spool.clone(),
            bulk: config.bulk.clone(),
            retry_for: config.retry_for,
            written: written.clone(),
            late: late.clone(),
        });
        Ok(ElasticsearchStore {
            reader: Reader::new(service.clone(), data_stream.clone(), written),
            service,
            namespace: config.namespace.clone(),
            data_stream,
            writer,
            spool,
            late,
        })
    }

    pub fn data_stream(&self) -> &str {
        &self.data_stream
    }

    /// The cluster's version (`GET /`).
    pub async fn version(&self) -> Result<String, StoreError> {
        let info = self
            .service
            .json(Method::Get, "/", &[], None)
            .await?
            .unwrap_or(Value::Null);
        info.pointer("/version/number")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| StoreError::permanent(format!("GET / gave no version: {info}")))
    }

    /// Install the ILM policy, templates and data stream (idempotent).
    pub async fn setup(&self) -> Result<Vec<(String, Setup)>, StoreError> {
        templates::setup(&self.service, &self.data_stream).await
    }

    /// Check that the cluster answers and holds our index template; the
    /// error says what to do.
    pub async fn check(&self) -> Result<String, StoreError> {
        let version = self.version().await?;
        let major: u32 = version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if !(8..=9).contains(&major) {
            return Err(StoreError::permanent(format!(
                "Elasticsearch {version} is not supported (8.x and 9.x are)"
            )));
        }
        if !templates::check(&self.service).await? {
            return Err(StoreError::permanent(format!(
                "the index template {} is missing or older than this smm: run `smm es setup`",
                templates::TEMPLATE
            )));
        }
        Ok(version)
    }

    /// Backlog, dead letters, delivery rate and the last error.
    pub async fn status(&self) -> Result<DeliveryStatus, StoreError> {
        self.spool.run(|s| s.status()).await
    }

    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        self.spool.run(move |s| s.dead_letters(limit)).await
    }

    /// Put dead letters (all when `ids` is empty) back in the spool, then
    /// try to deliver; returns how many were re-driven.
    pub async fn redrive(&self, ids: Vec<String>) -> Result<usize, StoreError> {
        let moved = self.spool.run(move |s| s.redrive(&ids)).await?;
        self.writer.flush().await?;
        Ok(moved)
    }

    /// Deliver the spool now (behind queued appends).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.writer.flush().await
    }
}

#[async_trait]
impl MeasurementStore for ElasticsearchStore {
    async fn append(&self, batch: &[Measurement]) -> Result<Vec<Appended>, StoreError> {
        if let Some(m) = batch.iter().find(|m| m.id.is_empty()) {
            return Err(StoreError::permanent(format!(
                "a measurement of instance {} at {} has no id (not sealed)",
                m.instance, m.timestamp
            )));
        }
        let docs = batch
            .iter()
            .map(|m| Doc {
                id: m.id.clone(),
                source: Bytes::from(encoder::encode(m, &self.namespace)),
                spool_seq: None,
            })
            .collect();
        self.writer.append(docs).await
    }

    async fn query(&self, query: &Query) -> Result<Vec<Measurement>, StoreError> {
        self.reader.query(query).await
    }

    async fn latest(
        &self,
        selector: &Selector,
        at: DateTime<Utc>,
    ) -> Result<Option<Measurement>, StoreError> {
        self.reader.latest(selector, at).await
    }

    async fn window(
        &self,
        selector: &Selector,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        columns: WindowColumns,
    ) -> Result<Vec<WindowRow>, StoreError> {
        self.reader.window(selector, after, until, columns).await
    }

    async fn aggregate(
        &self,
        selector: &Selector,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        accumulator: Accumulator,
    ) -> Result<Option<Aggregate>, StoreError> {
        self.reader
            .aggregate(selector, after, until, accumulator)
            .await
    }

    async fn delivered_late(&self) -> Vec<Measurement> {
        let mut late = self.late.lock().unwrap_or_else(|p| p.into_inner());
        if late.dropped > 0 {
            tracing::warn!(
                measurements = late.dropped,
                "measurements delivered from the spool without recomputing the derived measures that read them: run `smm derive <instance> --since <outage start>`"
            );
            late.dropped = 0;
        }
        late.measurements.drain(..).collect()
    }

    async fn health(&self) -> Result<String, StoreError> {
        let version = self.check().await?;
        Ok(format!(
            "Elasticsearch {version} (data stream {})",
            self.data_stream
        ))
    }

    async fn exists_at(
        &self,
        instance: &str,
        at: DateTime<Utc>,
        successful: bool,
    ) -> Result<bool, StoreError> {
        self.reader.exists_at(instance, at, successful).await
    }
}
