//! The scheduler's run slots: at most `concurrency` runs collect at once.
//!
//! A run holds its slot while it works (the sandboxed collection, a derived
//! computation) and gives it back as soon as that work is done, before it
//! waits for its measurement to be stored: waiting on the store uses no
//! core, and a slot held through it would leave the cores idle while the
//! store's group commit waits for company. The run itself is not over until
//! its measurement is stored, so runs of one instance still never overlap.
//!
//! The slot travels with the run's task (a task-local), so the engine's run
//! path gives it back without knowing about the scheduler;
//! [`release`] outside a scheduled run does nothing.

use std::cell::RefCell;
use std::future::Future;

use tokio::sync::OwnedSemaphorePermit;

tokio::task_local! {
    static SLOT: RefCell<Option<OwnedSemaphorePermit>>;
}

/// Run `fut` holding `permit` until it finishes or calls [`release`].
pub(super) async fn holding<F: Future>(permit: OwnedSemaphorePermit, fut: F) -> F::Output {
    SLOT.scope(RefCell::new(Some(permit)), fut).await
}

/// Give the current run's slot back (its work is done; what remains is
/// waiting). Idempotent; a no-op outside a scheduled run.
pub fn release() {
    let _ = SLOT.try_with(|slot| slot.borrow_mut().take());
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Semaphore;

    use super::*;

    #[tokio::test]
    async fn a_slot_is_given_back_on_release_or_at_the_end() {
        let slots = Arc::new(Semaphore::new(1));
        let permit = slots.clone().acquire_owned().await.unwrap();
        let seen = holding(permit, {
            let slots = slots.clone();
            async move {
                let before = slots.available_permits();
                release();
                release();
                (before, slots.available_permits())
            }
        })
        .await;
        assert_eq!(seen, (0, 1));
        let permit = slots.clone().acquire_owned().await.unwrap();
        holding(permit, async {}).await;
        assert_eq!(slots.available_permits(), 1);
        release(); // outside a run: nothing happens
    }
}
