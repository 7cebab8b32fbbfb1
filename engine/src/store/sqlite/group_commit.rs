//! Group commit of measurement appends: the batches that arrive while a
//! transaction is being written are written together in the next one.
//!
//! Invariants:
//! - A caller's append returns only once a transaction holding its batch
//!   has committed (or with the error that kept it out): acknowledged is
//!   stored, as with one transaction per batch.
//! - At most one committer at a time; the first append to find none
//!   becomes it, on the blocking pool, and commits until nothing waits.
//! - One bad batch never fails another: when a grouped transaction fails
//!   for a reason that is not transient, each batch is retried on its own.

use std::sync::Mutex;

use smm_catalogue::StoreError;
use tokio::sync::oneshot;

use crate::measurement::Measurement;
use crate::store::Appended;

/// What one append waits for.
pub(super) type Reply = Result<Vec<Appended>, StoreError>;

struct Waiting {
    batch: Vec<Measurement>,
    reply: oneshot::Sender<Reply>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    committing: bool,
}

/// The appends waiting for a transaction.
#[derive(Default)]
pub(super) struct GroupCommit {
    queue: Mutex<Queue>,
}

impl GroupCommit {
    /// Queue `batch`; `true` when the caller must become the committer
    /// (none is running).
    pub(super) fn enqueue(&self, batch: Vec<Measurement>) -> (oneshot::Receiver<Reply>, bool) {
        let (reply, rx) = oneshot::channel();
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.waiting.push(Waiting { batch, reply });
        let lead = !q.committing;
        q.committing = true;
        (rx, lead)
    }

    /// As the committer: write what waits, a transaction at a time, until
    /// nothing does. `write` appends the batches given in one transaction
    /// and returns each one's outcomes.
    pub(super) fn commit_all(
        &self,
        mut write: impl FnMut(&[&[Measurement]]) -> Result<Vec<Vec<Appended>>, StoreError>,
    ) {
        loop {
            let work = {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                if q.waiting.is_empty() {
                    q.committing = false;
                    return;
                }
                std::mem::take(&mut q.waiting)
            };
            let batches: Vec<&[Measurement]> = work.iter().map(|w| w.batch.as_slice()).collect();
            match write(&batches) {
                Ok(outcomes) => {
                    for (w, o) in work.into_iter().zip(outcomes) {
                        let _ = w.reply.send(Ok(o));
                    }
                }
                Err(e) if e.is_retryable() || work.len() == 1 => {
                    // The same error for each (its text and kind).
                    let text = e.to_string();
                    for w in work {
                        let _ = w.reply.send(Err(StoreError::new(e.kind(), text.clone())));
                    }
                }
                Err(_) => {
                    // Each on its own: only the bad one fails.
                    for w in work {
                        let one = write(&[w.batch.as_slice()]).map(|mut o| o.remove(0));
                        let _ = w.reply.send(one);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(instance: &str) -> Vec<Measurement> {
        let at = chrono::Utc::now();
        vec![crate::conformance::measurement(instance, "m", at, 1.0, &[])]
    }

    #[test]
    fn waiting_batches_share_a_transaction_and_a_bad_one_fails_alone() {
        let group = GroupCommit::default();
        let (first, lead) = group.enqueue(batch("a"));
        assert!(lead, "the first append commits");
        let (second, lead) = group.enqueue(batch("bad"));
        assert!(!lead, "one committer at a time");
        let (third, _) = group.enqueue(batch("c"));
        let mut transactions = Vec::new();
        group.commit_all(|batches| {
            transactions.push(batches.len());
            if batches.iter().any(|b| b[0].instance == "bad") {
                return Err(StoreError::permanent("refused"));
            }
            Ok(batches
                .iter()
                .map(|b| vec![Appended::Stored; b.len()])
                .collect())
        });
        // One grouped try, then each on its own.
        assert_eq!(transactions, vec![3, 1, 1, 1]);
        let reply = |rx: oneshot::Receiver<Reply>| rx.blocking_recv().unwrap();
        assert_eq!(reply(first).unwrap(), vec![Appended::Stored]);
        assert!(reply(second).unwrap_err().to_string().contains("refused"));
        assert_eq!(reply(third).unwrap(), vec![Appended::Stored]);
        // Nothing waits: the next append commits again.
        assert!(group.enqueue(batch("d")).1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_are_all_acknowledged_once_stored() {
        use crate::store::MeasurementStore;
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(
            super::super::SqliteStore::open(&dir.path().join("smm.db")).unwrap(),
        );
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let store = store.clone();
            tasks.spawn(async move {
                let b = batch(&format!("i{i}"));
                let first = store.append(&b).await.unwrap();
                let again = store.append(&b).await.unwrap();
                (first, again)
            });
        }
        while let Some(r) = tasks.join_next().await {
            let (first, again) = r.unwrap();
            assert_eq!(first, vec![Appended::Stored]);
            assert_eq!(again, vec![Appended::AlreadyStored]);
        }
        let all = store
            .query(&crate::measurement::Query {
                limit: Some(1000),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 200);
    }
}
