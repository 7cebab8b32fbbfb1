//! The bulk writer: one task per backend turning appends into bulk
//! requests, retrying what can succeed later, and spooling what cannot be
//! delivered yet.
//!
//! Invariants:
//! - An append is acknowledged (its future resolves `Ok`) only once each of
//!   its measurements is in Elasticsearch (created, or found there by id),
//!   in the durable spool, or in the dead-letter table with the reason.
//! - While the spool holds anything, new measurements go behind it, so the
//!   cluster receives measurements in the order they were acknowledged; a
//!   timer drains the spool with backoff while the cluster is away, and a
//!   new process drains it before its first write.
//! - Memory is bounded whatever the outage: appends wait for room in a
//!   bounded queue, and in an outage each batch goes straight to disk.
//! - Batches close on `max_actions`, `max_bytes`, or `linger` (0: as soon
//!   as the previous request is answered).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use elasticsearch::http::Method;
use smm_catalogue::StoreError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::request_builder::{Doc, batches, bulk_body};
use super::retry::{ItemDecision, RequestDecision, decide};
use super::service::Service;
use super::spool::Spool;
use crate::config::BulkConfig;
use crate::scheduler::Backoff;
use crate::store::Appended;

/// Appends waiting for the writer, at most (each may hold several documents).
const QUEUE: usize = 1024;

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
    /// `/<data stream>/_bulk`
    pub bulk_path: String,
    pub spool: Spool,
    pub bulk: BulkConfig,
    pub retry_for: Duration,
    /// Set after a delivery, so that the next read refreshes first.
    pub needs_refresh: Arc<AtomicBool>,
}

impl Writer {
    /// Start the writer task on the current tokio runtime.
    pub fn start(ctx: Context, backlog: u64) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(
            Task {
                ctx,
                backlog,
                outage: false,
                drain_failures: 0,
                next_drain: Instant::now(),
                backoff: Backoff {
                    base: Duration::from_millis(100),
                    max: Duration::from_secs(30),
                    jitter: 0.2,
                },
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
    /// Documents in the spool (as far as this process knows).
    backlog: u64,
    /// Delivery failed for longer than `retry_for`: new batches go straight
    /// to the spool until a drain succeeds.
    outage: bool,
    drain_failures: u32,
    next_drain: Instant,
    backoff: Backoff,
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
            let drain_at = (self.backlog > 0 && self.outage).then_some(self.next_drain);
            let job = tokio::select! {
                job = rx.recv() => match job {
                    Some(job) => job,
                    None => return,
                },
                () = sleep_until(drain_at) => {
                    self.drain_once().await;
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
        let result = self.write(docs).await;
        let mut offset = 0;
        for job in jobs {
            let n = job.docs.len();
            let answer = match &result {
                Ok(outcomes) => Ok(outcomes[offset..offset + n].to_vec()),
                Err(e) => Err(StoreError::new(e.kind(), e.message())),
            };
            offset += n;
            let _ = job.ack.send(answer);
        }
    }

    /// Deliver `docs` behind the spool; spool what cannot be delivered in time.
    async fn write(&mut self, docs: Vec<Doc>) -> Result<Vec<Appended>, StoreError> {
        if docs.is_empty() {
            // A flush: the spool may have grown from outside (a re-drive),
            // and it gets a full try whatever happened before.
            self.backlog = self.ctx.spool.run(|s| s.backlog()).await?;
            self.outage = false;
        }
        if self.backlog > 0 && !self.outage {
            // A new process, or the first write since the cluster was
            // last seen: give the backlog its chance, in order, first.
            let deadline = Instant::now() + self.ctx.retry_for;
            while self.backlog > 0 && Instant::now() < deadline {
                if !self.drain_once().await {
                    tokio::time::sleep_until(self.next_drain.min(deadline)).await;
                }
            }
            if self.backlog > 0 {
                self.outage = true;
            }
        }
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        if self.backlog > 0 {
            return self.spool_all(&docs).await;
        }
        let deadline = Instant::now() + self.ctx.retry_for;
        let fates = self.deliver(&docs, Some(deadline)).await?;
        let pending: Vec<usize> = fates
            .iter()
            .enumerate()
            .filter(|(_, f)| matches!(f, Fate::Pending(_)))
            .map(|(i, _)| i)
            .collect();
        let mut outcomes: Vec<Appended> = fates
            .iter()
            .map(|f| match f {
                Fate::Done(a) => *a,
                Fate::Pending(_) => Appended::Spooled,
            })
            .collect();
        if !pending.is_empty() {
            let reason = match &fates[pending[0]] {
                Fate::Pending(r) => r.clone(),
                Fate::Done(_) => unreachable!(),
            };
            tracing::warn!(
                measurements = pending.len(),
                "Elasticsearch unavailable for {:?} ({reason}): spooling to disk",
                self.ctx.retry_for
            );
            let rest: Vec<Doc> = pending.iter().map(|&i| docs[i].clone()).collect();
            let spooled = self.spool_all(&rest).await?;
            for (&i, a) in pending.iter().zip(spooled) {
                outcomes[i] = a;
            }
            self.outage = true;
            self.schedule_drain(false);
        }
        Ok(outcomes)
    }

    async fn spool_all(&mut self, docs: &[Doc]) -> Result<Vec<Appended>, StoreError> {
        let rows: Vec<(String, Vec<u8>)> = docs
            .iter()
            .map(|d| (d.id.clone(), d.source.to_vec()))
            .collect();
        self.ctx.spool.run(move |s| s.push(&rows)).await?;
        self.backlog += docs.len() as u64;
        Ok(vec![Appended::Spooled; docs.len()])
    }

    /// Send `docs` in batches, retrying retryable failures until `deadline`
    /// (one round when `None`). Dead letters are written here.
    async fn deliver(
        &mut self,
        docs: &[Doc],
        deadline: Option<Instant>,
    ) -> Result<Vec<Fate>, StoreError> {
        let mut fates = vec![Fate::Pending("not sent".into()); docs.len()];
        let mut attempt = 0u32;
        loop {
            let pending: Vec<usize> = (0..docs.len())
                .filter(|&i| matches!(fates[i], Fate::Pending(_)))
                .collect();
            if pending.is_empty() {
                break;
            }
            let subset: Vec<Doc> = pending.iter().map(|&i| docs[i].clone()).collect();
            let mut sub_fates = Vec::with_capacity(subset.len());
            for range in batches(&subset, self.ctx.bulk.max_actions, self.ctx.bulk.max_bytes) {
                sub_fates.extend(Box::pin(self.send(&subset[range])).await?);
            }
            for (&i, fate) in pending.iter().zip(sub_fates) {
                fates[i] = fate;
            }
            let still: Vec<&Fate> = fates
                .iter()
                .filter(|f| matches!(f, Fate::Pending(_)))
                .collect();
            if still.is_empty() {
                break;
            }
            attempt += 1;
            let delay = self.backoff.delay("elasticsearch-bulk", attempt);
            match deadline {
                Some(d) if Instant::now() + delay < d => {
                    tracing::debug!(
                        pending = still.len(),
                        attempt,
                        "retrying failed bulk items in {delay:?}"
                    );
                    tokio::time::sleep(delay).await;
                }
                _ => break,
            }
        }
        Ok(fates)
    }

    /// One bulk request for `docs` (split on 413); dead letters written.
    async fn send(&mut self, docs: &[Doc]) -> Result<Vec<Fate>, StoreError> {
        let body = bulk_body(docs);
        let sent = self
            .ctx
            .service
            .send(Method::Post, &self.ctx.bulk_path, &[], Some(body))
            .await;
        let fates = match decide(&sent, docs.len()) {
            RequestDecision::Split if docs.len() > 1 => {
                let (a, b) = docs.split_at(docs.len() / 2);
                let mut fates = Box::pin(self.send(a)).await?;
                fates.extend(Box::pin(self.send(b)).await?);
                return Ok(fates);
            }
            RequestDecision::Split => {
                let reason = format!(
                    "413: the document alone ({} bytes) is larger than the cluster accepts (http.max_content_length)",
                    docs[0].bulk_len()
                );
                self.dead_letter(&docs[0], 413, &reason).await?;
                vec![Fate::Done(Appended::DeadLettered)]
            }
            RequestDecision::RetryAll(reason) => {
                self.note_failure(&reason).await;
                vec![Fate::Pending(reason); docs.len()]
            }
            RequestDecision::RefuseAll { status, reason } => {
                for doc in docs {
                    self.dead_letter(doc, status, &reason).await?;
                }
                vec![Fate::Done(Appended::DeadLettered); docs.len()]
            }
            RequestDecision::Items(items) => {
                let mut fates = Vec::with_capacity(items.len());
                for (doc, item) in docs.iter().zip(items) {
                    fates.push(match item {
                        ItemDecision::Created => Fate::Done(Appended::Stored),
                        ItemDecision::AlreadyStored => Fate::Done(Appended::AlreadyStored),
                        ItemDecision::Retry(reason) => Fate::Pending(reason),
                        ItemDecision::DeadLetter { status, reason } => {
                            self.dead_letter(doc, status, &reason).await?;
                            Fate::Done(Appended::DeadLettered)
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
        let delivered = fates
            .iter()
            .filter(|f| matches!(f, Fate::Done(Appended::Stored | Appended::AlreadyStored)))
            .count();
        if delivered > 0 {
            self.ctx.needs_refresh.store(true, Ordering::Release);
            let spool = self.ctx.spool.clone();
            // Statistics only: a failure to record them loses no measurement.
            if let Err(e) = spool.run(move |s| s.delivered(delivered)).await {
                tracing::debug!("cannot record delivery statistics: {e}");
            }
        }
        Ok(fates)
    }

    async fn dead_letter(&self, doc: &Doc, status: u16, reason: &str) -> Result<(), StoreError> {
        tracing::error!(id = %doc.id, status, "Elasticsearch refused a measurement; kept as a dead letter: {reason}");
        let (id, bytes, reason) = (doc.id.clone(), doc.source.to_vec(), reason.to_string());
        self.ctx
            .spool
            .run(move |s| s.dead_letter(&id, &bytes, status, &reason, None))
            .await
    }

    async fn note_failure(&self, reason: &str) {
        let reason = reason.to_string();
        if let Err(e) = self.ctx.spool.run(move |s| s.failed(&reason)).await {
            tracing::debug!("cannot record the delivery error: {e}");
        }
    }

    /// Try to deliver the oldest spooled documents, batch after batch, until
    /// the spool is empty or a batch cannot be delivered. Returns whether
    /// the spool is now empty.
    async fn drain_once(&mut self) -> bool {
        loop {
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
                if self.backlog > 0 || self.outage {
                    tracing::info!("Elasticsearch reachable again: spool delivered");
                }
                self.backlog = 0;
                self.outage = false;
                self.drain_failures = 0;
                return true;
            }
            let docs: Vec<Doc> = oldest
                .iter()
                .map(|s| Doc {
                    id: s.id.clone(),
                    source: s.doc.clone().into(),
                })
                .collect();
            let fates = match self.deliver(&docs, None).await {
                Ok(f) => f,
                Err(e) => {
                    tracing::error!("cannot deliver the spool: {e}");
                    self.schedule_drain(false);
                    return false;
                }
            };
            // Done (delivered or dead-lettered: the dead letter is written)
            // leaves the spool; pending stays, in order.
            let done: Vec<i64> = oldest
                .iter()
                .zip(&fates)
                .filter(|(_, f)| matches!(f, Fate::Done(_)))
                .map(|(s, _)| s.seq)
                .collect();
            let removed = done.len() as u64;
            if let Err(e) = self.ctx.spool.run(move |s| s.remove(&done)).await {
                tracing::error!("cannot update the spool: {e}");
                self.schedule_drain(false);
                return false;
            }
            self.backlog = self.backlog.saturating_sub(removed);
            if fates.iter().any(|f| matches!(f, Fate::Pending(_))) {
                self.schedule_drain(false);
                return false;
            }
            self.schedule_drain(true);
        }
    }

    fn schedule_drain(&mut self, success: bool) {
        if success {
            self.drain_failures = 0;
            self.next_drain = Instant::now();
        } else {
            self.drain_failures += 1;
            self.next_drain = Instant::now()
                + self
                    .backoff
                    .delay("elasticsearch-drain", self.drain_failures);
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
