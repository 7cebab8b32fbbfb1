//! The epoch ticker: advances the engine's epoch at a fixed period. At each
//! tick a running plugin's store checks its deadline and yields to the
//! executor (see `Sandbox::store`).
//!
//! Invariant: the ticker holds only a weak reference to the engine and stops
//! once the engine is dropped.

use std::time::Duration;

use wasmtime::Engine;

/// Period of one epoch tick: the granularity of deadlines and of yields.
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
