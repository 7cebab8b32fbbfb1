//! Where blocking work (SQLite, the compile cache on disk) runs.
//!
//! A serving process runs it on tokio's blocking pool, never on an async
//! worker: one slow query never holds up the runs around it. A one-shot
//! command (`smm run`, `smm query`) does one thing on one thread, with
//! nothing to run meanwhile; there a hop to the pool and back (a thread to
//! start, two wake-ups across cores) costs more than most of its queries:
//! 0.5 ms of a 5.5 ms `smm run`, measured here. Such a process says so
//! once ([`in_place`]), and its blocking work runs where it is awaited.
//!
//! Invariant: work runs in place only on a current-thread runtime of a
//! process that asked for it; anywhere else (`smm serve`, tests, a
//! library user's runtime) it goes to the blocking pool.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::task::JoinError;

static IN_PLACE: AtomicBool = AtomicBool::new(false);

/// For a process that does one thing and exits, on a current-thread
/// runtime: from now on its blocking work runs in place.
pub fn in_place() {
    IN_PLACE.store(true, Ordering::Relaxed);
}

/// Run `f`, which blocks, off the async workers (or in place, see the
/// module documentation).
pub async fn run<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, JoinError> {
    let single =
        || Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::CurrentThread);
    if IN_PLACE.load(Ordering::Relaxed) && single() {
        return Ok(f());
    }
    tokio::task::spawn_blocking(f).await
}
