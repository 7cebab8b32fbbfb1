//! The bulk writer: one task per backend turning appends into bulk
//! requests, retrying what can succeed later, and spooling what cannot be
//! delivered yet.
//!
//! Invariants:
//! - An append is acknowledged (its future resolves `Ok`) only once each of
//!   its measurements is in Elasticsearch (created, or found there by id),
//!   in the durable spool, or in the dead-letter table with the reason. An
//!   append whose measurements are not all there gets an error; the other
//!   appends of the same bulk request are not affected.
//! - While the spool holds anything (put there by this process or another),
//!   new measurements go behind it, so the cluster receives measurements in
//!   the order they were acknowledged. A timer drains the spool with
//!   backoff while the cluster is away (the backoff restarts whenever a
//!   batch makes progress), a few batches at a time so appends are never
//!   held up behind a long backlog, and a new process drains it before its
//!   first write, for at most `retry_for`.
//! - A document that may have reached the cluster before (a retry after an
//!   unknown outcome, anything from the spool) is first looked up by id in
//!   the whole data stream: a `create` is refused with 409 only inside the
//!   current backing index, and a rollover between two attempts must not
//!   duplicate a measurement.
//! - Nothing is written before the index template is known to be installed
//!   (checked once per process): otherwise Elasticsearch would create the
//!   data stream from its built-in `metrics-*-*` template.
//! - Memory is bounded whatever the outage: appends wait for room in a
//!   bounded queue, and in an outage each batch goes straight to disk.
//! - Batches close on `max_actions`, `max_bytes`, or `linger` (0: as soon
//!   as the previous request is answered).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use elasticsearch::http::Method;
use serde_json::{Value, json};
use smm_catalogue::StoreError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::request_builder::{Doc, batches, bulk_body};
use super::retry::{ItemDecision, RequestDecision, decide};
use super::service::{Sent, Service};
use super::spool::Spool;
use crate::config::BulkConfig;
use crate::scheduler::Backoff;
use crate::store::Appended;

/// Appends waiting for the writer, at most (each may hold several documents).
const QUEUE: usize = 1024;
/// Spool batches one drain step delivers before the writer looks at its
/// queue again.
const DRAIN_BATCHES: usize = 4;

struct Job {
    docs: Vec<Doc>,
    ack: oneshot::Sender<Result<Vec<Appended>, StoreError>>,
}

/// The handle appends go through.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

/// What the writer task needs.
pub struct Context {
    pub service: Service,
    pub data_stream: String,
    pub spool: Spool,
    pub bulk: BulkConfig,
    pub retry_for: Duration,
    /// Bumped after each delivery, so that the next read refreshes first.
    pub written: Arc<AtomicU64>,
    /// Spooled measurements delivered since, for the engine to propagate.
    pub late: Arc<std::sync::Mutex<Late>>,
}

/// Measurements delivered from the spool, waiting for the engine
/// (bounded: beyond, only a count, and a hint to backfill).
#[derive(Default)]
pub struct Late {
    pub measurements: std::collections::VecDeque<crate::measurement::Measurement>,
    pub dropped: u64,
}

/// Most late deliveries kept for propagation.
const LATE_MAX: usize = 10_000;

impl Writer {
    /// Start the writer task on the current tokio runtime.
    pub fn start(ctx: Context) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE);
        // Jitter differs per process: engines sharing a cluster do not
        // retry in lockstep.
        let jitter_key = format!(
            "elasticsearch-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        tokio::spawn(
            Task {
                ctx,
                outage: false,
                template_ok: false,
                drain_failures: 0,
                next_drain: Instant::now(),
                backoff: Backoff {
                    base: Duration::from_millis(100),
                    max: Duration::from_secs(30),
                    jitter: 0.2,
                },
                jitter_key,
            }
            .run(rx),
        );
        Writer { tx }
    }

    /// Write `docs`; resolves once each is delivered, spooled or dead-lettered.
    pub async fn append(&self, docs: Vec<Doc>) -> Result<Vec<Appended>, StoreError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Job { docs, ack })
            .await
            .map_err(|_| StoreError::permanent("the Elasticsearch writer has stopped"))?;
        done.await.map_err(|_| {
            StoreError::permanent("the Elasticsearch writer stopped before answering")
        })?
    }

    /// Give the spool its chance to drain now (retrying for the configured
    /// time), behind the appends already queued.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.append(Vec::new()).await.map(|_| ())
    }
}

struct Task {
    ctx: Context,
    /// Delivery failed for longer than `retry_for`: new batches go straight
    /// to the spool until a drain succeeds.
    outage: bool,
    /// The index template was found installed.
    template_ok: bool,
    drain_failures: u32,
    next_drain: Instant,
    backoff: Backoff,
    jitter_key: String,
}

/// The fate of one document after delivery attempts.
#[derive(Debug, Clone, PartialEq)]
enum Fate {
    Done(Appended),
    Pending(String),
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        loop {
            let drain_at = self.outage.then_some(self.next_drain);
            let job = tokio::select! {
                job = rx.recv() => match job {
                    Some(job) => job,
                    None => return,
                },
                () = sleep_until(drain_at) => {
                    self.drain_step(DRAIN_BATCHES).await;
                    continue;
                }
            };
            let jobs = self.gather(job, &mut rx).await;
            self.handle(jobs).await;
        }
    }

    /// The first job and whatever else is queued, up to the batch limits,
    /// waiting up to `linger` for more.
    async fn gather(&self, first: Job, rx: &mut mpsc::Receiver<Job>) -> Vec<Job> {
        let size = |j: &Job| j.docs.iter().map(Doc::bulk_len).sum::<usize>();
        let (mut actions, mut bytes) = (first.docs.len(), size(&first));
        let mut jobs = vec![first];
        let deadline = Instant::now() + self.ctx.bulk.linger;
        while actions < self.ctx.bulk.max_actions && bytes < self.ctx.bulk.max_bytes {
            let next = match rx.try_recv() {
                Ok(job) => job,
                Err(_) if self.ctx.bulk.linger.is_zero() => break,
                Err(_) => match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(job)) => job,
                    _ => break,
                },
            };
            actions += next.docs.len();
            bytes += size(&next);
            jobs.push(next);
        }
        jobs
    }

    async fn handle(&mut self, jobs: Vec<Job>) {
        let docs: Vec<Doc> = jobs.iter().flat_map(|j| j.docs.iter().cloned()).collect();
        let (outcomes, error) = self.write(docs).await;
        let mut offset = 0;
        for job in jobs {
            let mine = &outcomes[offset..offset + job.docs.len()];
            offset += job.docs.len();
            let answer = match mine.iter().copied().collect::<Option<Vec<Appended>>>() {
                Some(done) => Ok(done),
                None => Err(match &error {
                    Some(e) => StoreError::new(e.kind(), e.message()),
                    None => StoreError::retryable("the measurement could not be stored"),
                }),
            };
            let _ = job.ack.send(answer);
        }
    }

    /// Deliver `docs` behind the spool; spool what cannot be delivered in
    /// time. One outcome per document (`None`: neither delivered nor
    /// spooled, and the error why).
    async fn write(&mut self, docs: Vec<Doc>) -> (Vec<Option<Appended>>, Option<StoreError>) {
        let flush = docs.is_empty();
        if flush {
            // A flush gives the spool a full try whatever happened before.
            self.outage = false;
        }
        let mut backlog = self.spooled().await;
        if backlog && !self.outage {
            // A new process, or the first write since the cluster was last
            // seen: give the backlog its chance, in order, first.
            let deadline = Instant::now() + self.ctx.retry_for;
            while backlog && Instant::now() < deadline {
                if !self.drain_step(DRAIN_BATCHES).await {
                    tokio::time::sleep_until(self.next_drain.min(deadline)).await;
                }
                backlog = self.spooled().await;
            }
            if backlog {
                self.outage = true;
            }
        }
        if flush {
            return (Vec::new(), None);
        }
        if backlog {
            return self.spool_all(&docs).await;
        }
        let deadline = Instant::now() + self.ctx.retry_for;
        let fates = self.deliver(&docs, Some(deadline), false).await;
        let mut outcomes: Vec<Option<Appended>> = fates
            .iter()
            .map(|f| match f {
                Fate::Done(a) => Some(*a),
                Fate::Pending(_) => None,
            })
            .collect();
        let pending: Vec<usize> = (0..docs.len()).filter(|&i| outcomes[i].is_none()).collect();
        if pending.is_empty() {
            return (outcomes, None);
        }
        if let Fate::Pending(reason) = &fates[pending[0]] {
            tracing::warn!(
                measurements = pending.len(),
                "Elasticsearch unavailable for {:?} ({reason}): spooling to disk",
                self.ctx.retry_for
            );
        }
        let rest: Vec<Doc> = pending.iter().map(|&i| docs[i].clone()).collect();
        let (spooled, error) = self.spool_all(&rest).await;
        for (&i, a) in pending.iter().zip(spooled) {
            outcomes[i] = a;
        }
        self.outage = true;
        self.schedule_drain(false);
        (outcomes, error)
    }

    /// Whether the spool holds anything (an unreadable spool counts as
    /// holding something: order first).
    async fn spooled(&self) -> bool {
        match self.ctx.spool.run(|s| s.any()).await {
            Ok(any) => any,
            Err(e) => {
                tracing::error!("cannot read the spool: {e}");
                true
            }
        }
    }

    /// Append `docs` to the spool (retrying a failed write a few times).
    async fn spool_all(&mut self, docs: &[Doc]) -> (Vec<Option<Appended>>, Option<StoreError>) {
        let rows: Arc<Vec<(String, Vec<u8>)>> = Arc::new(
            docs.iter()
                .map(|d| (d.id.clone(), d.source.to_vec()))
                .collect(),
        );
        let mut last = None;
        for attempt in 0..3u32 {
            let rows = rows.clone();
            match self.ctx.spool.run(move |s| s.push(&rows)).await {
                Ok(()) => return (vec![Some(Appended::Spooled); docs.len()], None),
                Err(e) => {
                    tracing::error!(attempt, "cannot write to the spool: {e}");
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
        (vec![None; docs.len()], last)
    }

    /// The ids among `docs` already in the data stream (any backing index).
    async fn already_there(&self, docs: &[Doc], deadline: Option<Instant>) -> HashSet<String> {
        let ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
        let body = json!({
            "size": ids.len(), "_source": ["measurement.id"],
            "query": {"terms": {"measurement.id": ids}},
        });
        let path = format!("/{}/_search", self.ctx.data_stream);
        let body = Bytes::from(serde_json::to_vec(&body).expect("JSON serialises"));
        let found = match self
            .ctx
            .service
            .send_within(
                Method::Post,
                &path,
                &[],
                Some(body),
                self.time_left(deadline),
            )
            .await
        {
            Sent::Response { status: 200, body } => serde_json::from_slice::<Value>(&body).ok(),
            _ => None, // unknown: the `create` and its 409 decide
        };
        found
            .as_ref()
            .and_then(|v| v.pointer("/hits/hits"))
            .and_then(Value::as_array)
            .map(|hits| {
                hits.iter()
                    .filter_map(|h| h.pointer("/_source/measurement/id")?.as_str())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn time_left(&self, deadline: Option<Instant>) -> Duration {
        match deadline {
            // Never less than a moment: a request needs one to succeed.
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(200)),
            None => Duration::MAX,
        }
    }

    /// Whether the index template is installed (checked once per process).
    async fn template_installed(&mut self) -> Result<(), String> {
        if self.template_ok {
            return Ok(());
        }
        match super::templates::check(&self.ctx.service).await {
            Ok(true) => {
                self.template_ok = true;
                Ok(())
            }
            Ok(false) => Err(format!(
                "the index template {} is missing or older than this smm: run `smm es setup`",
                super::templates::TEMPLATE
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Send `docs` in batches, retrying retryable failures until `deadline`
    /// (one round when `None`). `maybe_sent`: the documents may have reached
    /// the cluster before (they come from the spool). Dead letters are
    /// written here.
    async fn deliver(
        &mut self,
        docs: &[Doc],
        deadline: Option<Instant>,
        maybe_sent: bool,
    ) -> Vec<Fate> {
        if let Err(reason) = self.template_installed().await {
            self.note_failure(&reason).await;
            return vec![Fate::Pending(reason); docs.len()];
        }
        let mut fates = vec![Fate::Pending("not sent".into()); docs.len()];
        let mut attempt = 0u32;
        loop {
            let mut pending: Vec<usize> = (0..docs.len())
                .filter(|&i| matches!(fates[i], Fate::Pending(_)))
                .collect();
            if (maybe_sent || attempt > 0) && !pending.is_empty() {
                let candidates: Vec<Doc> = pending.iter().map(|&i| docs[i].clone()).collect();
                let there = self.already_there(&candidates, deadline).await;
                for &i in &pending {
                    if there.contains(&docs[i].id) {
                        fates[i] = Fate::Done(Appended::AlreadyStored);
                    }
                }
                pending.retain(|&i| !there.contains(&docs[i].id));
            }
            if pending.is_empty() {
                break;
            }
            let subset: Vec<Doc> = pending.iter().map(|&i| docs[i].clone()).collect();
            let mut sub_fates = Vec::with_capacity(subset.len());
            for range in batches(&subset, self.ctx.bulk.max_actions, self.ctx.bulk.max_bytes) {
                sub_fates.extend(self.send(&subset[range], deadline).await);
            }
            for (&i, fate) in pending.iter().zip(sub_fates) {
                fates[i] = fate;
            }
            let still = fates
                .iter()
                .filter(|f| matches!(f, Fate::Pending(_)))
                .count();
            if still == 0 {
                break;
            }
            attempt += 1;
            let delay = self.backoff.delay(&self.jitter_key, attempt);
            match deadline {
                Some(d) if Instant::now() + delay < d => {
                    tracing::debug!(
                        pending = still,
                        attempt,
                        "retrying failed bulk items in {delay:?}"
                    );
                    tokio::time::sleep(delay).await;
                }
                _ => break,
            }
        }
        fates
    }

    /// One bulk request for `docs` (split on 413); dead letters written.
    async fn send(&mut self, docs: &[Doc], deadline: Option<Instant>) -> Vec<Fate> {
        let path = format!("/{}/_bulk", self.ctx.data_stream);
        let sent = self
            .ctx
            .service
            .send_within(
                Method::Post,
                &path,
                &[],
                Some(bulk_body(docs)),
                self.time_left(deadline),
            )
            .await;
        let fates = match decide(&sent, docs.len()) {
            RequestDecision::Split if docs.len() > 1 => {
                let (a, b) = docs.split_at(docs.len() / 2);
                let mut fates = Box::pin(self.send(a, deadline)).await;
                fates.extend(Box::pin(self.send(b, deadline)).await);
                return fates;
            }
            RequestDecision::Split => {
                let reason = format!(
                    "413: the document alone ({} bytes) is larger than the cluster accepts (http.max_content_length)",
                    docs[0].bulk_len()
                );
                vec![self.dead_letter(&docs[0], 413, &reason).await]
            }
            RequestDecision::RetryAll(reason) => {
                self.note_failure(&reason).await;
                vec![Fate::Pending(reason); docs.len()]
            }
            RequestDecision::RefuseAll { status, reason } => {
                let mut fates = Vec::with_capacity(docs.len());
                for doc in docs {
                    fates.push(self.dead_letter(doc, status, &reason).await);
                }
                fates
            }
            RequestDecision::Items(items) => {
                let mut fates = Vec::with_capacity(items.len());
                for (doc, item) in docs.iter().zip(items) {
                    fates.push(match item {
                        ItemDecision::Created => Fate::Done(Appended::Stored),
                        ItemDecision::AlreadyStored => Fate::Done(Appended::AlreadyStored),
                        ItemDecision::Retry(reason) => Fate::Pending(reason),
                        ItemDecision::DeadLetter { status, reason } => {
                            self.dead_letter(doc, status, &reason).await
                        }
                    });
                }
                if let Some(Fate::Pending(reason)) =
                    fates.iter().find(|f| matches!(f, Fate::Pending(_)))
                {
                    let reason = reason.clone();
                    self.note_failure(&reason).await;
                }
                fates
            }
        };
        let created = fates
            .iter()
            .filter(|f| matches!(f, Fate::Done(Appended::Stored)))
            .count();
        if fates
            .iter()
            .any(|f| matches!(f, Fate::Done(Appended::Stored | Appended::AlreadyStored)))
        {
            self.ctx.written.fetch_add(1, Ordering::AcqRel);
        }
        if created > 0 {
            // Statistics only: a failure to record them loses no measurement.
            if let Err(e) = self.ctx.spool.run(move |s| s.delivered(created)).await {
                tracing::debug!("cannot record delivery statistics: {e}");
            }
        }
        fates
    }

    /// Keep a refused document with the reason (out of the spool in the
    /// same transaction when it came from there). A dead letter that cannot
    /// be written leaves the document pending: it is not lost.
    async fn dead_letter(&self, doc: &Doc, status: u16, reason: &str) -> Fate {
        tracing::error!(id = %doc.id, status, "Elasticsearch refused a measurement; kept as a dead letter: {reason}");
        let (id, bytes, why, seq) = (
            doc.id.clone(),
            doc.source.to_vec(),
            reason.to_string(),
            doc.spool_seq,
        );
        match self
            .ctx
            .spool
            .run(move |s| s.dead_letter(&id, &bytes, status, &why, seq))
            .await
        {
            Ok(()) => Fate::Done(Appended::DeadLettered),
            Err(e) => {
                tracing::error!("cannot write the dead letter: {e}");
                Fate::Pending(format!(
                    "{reason} (and the dead letter could not be written: {e})"
                ))
            }
        }
    }

    async fn note_failure(&self, reason: &str) {
        let reason = reason.to_string();
        if let Err(e) = self.ctx.spool.run(move |s| s.failed(&reason)).await {
            tracing::debug!("cannot record the delivery error: {e}");
        }
    }

    /// Deliver up to `max_batches` batches of the oldest spooled documents.
    /// Returns whether the spool is now empty.
    async fn drain_step(&mut self, max_batches: usize) -> bool {
        for _ in 0..max_batches {
            let max = self.ctx.bulk.max_actions;
            let oldest = match self.ctx.spool.run(move |s| s.oldest(max)).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!("cannot read the spool: {e}");
                    self.schedule_drain(false);
                    return false;
                }
            };
            if oldest.is_empty() {
                if self.outage {
                    tracing::info!("Elasticsearch reachable again: spool delivered");
                }
                self.outage = false;
                self.drain_failures = 0;
                return true;
            }
            let docs: Vec<Doc> = oldest
                .iter()
                .map(|s| Doc {
                    id: s.id.clone(),
                    source: s.doc.clone().into(),
                    spool_seq: Some(s.seq),
                })
                .collect();
            let fates = self.deliver(&docs, None, true).await;
            // Delivered leaves the spool; dead letters left it already (in
            // their own transaction); pending stays, in order.
            let delivered: Vec<i64> = oldest
                .iter()
                .zip(&fates)
                .filter(|(_, f)| {
                    matches!(f, Fate::Done(Appended::Stored | Appended::AlreadyStored))
                })
                .map(|(s, _)| s.seq)
                .collect();
            self.note_late(&docs, &fates);
            let progress = fates.iter().any(|f| matches!(f, Fate::Done(_)));
            if let Err(e) = self.ctx.spool.run(move |s| s.remove(&delivered)).await {
                tracing::error!("cannot update the spool: {e}");
                self.schedule_drain(false);
                return false;
            }
            if fates.iter().any(|f| matches!(f, Fate::Pending(_))) {
                // Progress restarts the backoff; none lengthens it.
                self.schedule_drain(progress);
                return false;
            }
            self.schedule_drain(true);
        }
        false
    }

    /// Keep the successful measurements the spool just delivered for the
    /// engine's propagation (see [`crate::store::MeasurementStore::delivered_late`]).
    fn note_late(&self, docs: &[Doc], fates: &[Fate]) {
        let mut late = self.ctx.late.lock().unwrap_or_else(|p| p.into_inner());
        for (doc, fate) in docs.iter().zip(fates) {
            if !matches!(fate, Fate::Done(Appended::Stored | Appended::AlreadyStored)) {
                continue;
            }
            let Ok(m) = serde_json::from_slice::<Value>(&doc.source)
                .map_err(|e| e.to_string())
                .and_then(|v| super::encoder::decode(&v))
            else {
                continue;
            };
            if m.is_error() {
                continue;
            }
            if late.measurements.len() == LATE_MAX {
                late.measurements.pop_front();
                late.dropped += 1;
            }
            late.measurements.push_back(m);
        }
    }

    fn schedule_drain(&mut self, progress: bool) {
        if progress {
            self.drain_failures = 0;
            self.next_drain = Instant::now() + self.backoff.base;
        } else {
            self.drain_failures += 1;
            self.next_drain =
                Instant::now() + self.backoff.delay(&self.jitter_key, self.drain_failures);
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
