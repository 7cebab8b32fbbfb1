//! The epoch ticker: advances the engine's epoch at a fixed period so that
//! store deadlines (counted in ticks) interrupt running plugins.
//!
//! Invariant: the ticker holds only a weak reference to the engine and stops
//! once the engine is dropped.

use std::time::Duration;

use wasmtime::Engine;

/// Period of one epoch tick; deadlines are rounded up to whole ticks.
pub(crate) const TICK: Duration = Duration::from_millis(5);

pub(crate) fn start(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("smm-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => return,
                }
            }
        })
        .expect("spawning the epoch ticker thread");
}

/// Deadline in ticks: rounded up, plus one for the tick already in progress
/// (so a plugin never gets less than its deadline).
pub(crate) fn ticks(deadline: Duration) -> u64 {
    let tick = TICK.as_nanos();
    deadline.as_nanos().div_ceil(tick) as u64 + 1
}
