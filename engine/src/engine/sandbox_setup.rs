//! The engine's sandbox, set up on another thread while the engine opens
//! its stores and looks up what to run.
//!
//! Setting up wasmtime (its engine, the WASI linker, the compile cache)
//! takes about as long as opening the database and finding an instance,
//! its measure and its cache entry: half a millisecond each, a fifth of a
//! one-shot `smm run`. Side by side on two cores, that half is hidden; a
//! command that never runs a plugin (`smm instance list`) waits for it
//! only as it exits, by when it is usually done.
//!
//! Invariant: the sandbox is set up once, by the setup thread or, if that
//! thread has not started when the sandbox is first needed, by the caller.
//! The first caller waits for it (once per process, at most the setup's
//! time) and gets it with the ledger and isolation the engine was given
//! meanwhile: no cache entry is loaded before the ledger is in place.

use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use crate::sandbox::{ArtifactLedger, Isolation, Sandbox};

use super::EngineError;

pub(super) struct SandboxSetup {
    ready: OnceLock<Result<Sandbox, String>>,
    pending: Mutex<Option<Pending>>,
}

type Setup = Box<dyn FnOnce() -> Result<Sandbox, String> + Send>;

/// A setup not finished, and what to give the sandbox once it is done.
struct Pending {
    /// The setup, for whichever thread comes to it first: the background
    /// thread, or the first caller if that thread has not started yet (a
    /// busy host may start it late; waiting for it would only add its
    /// start to the setup).
    setup: Arc<Mutex<Option<Setup>>>,
    /// The background thread: the setup's result, if it took it.
    thread: JoinHandle<Option<Result<Sandbox, String>>>,
    ledger: Option<Arc<dyn ArtifactLedger>>,
    isolation: Option<Isolation>,
}

impl SandboxSetup {
    /// A sandbox already set up.
    pub(super) fn ready(sandbox: Sandbox) -> SandboxSetup {
        SandboxSetup {
            ready: OnceLock::from(Ok(sandbox)),
            pending: Mutex::new(None),
        }
    }

    /// Set up with `setup` on a new thread.
    pub(super) fn in_background(
        setup: impl FnOnce() -> Result<Sandbox, String> + Send + 'static,
    ) -> Result<SandboxSetup, EngineError> {
        let setup: Arc<Mutex<Option<Setup>>> = Arc::new(Mutex::new(Some(Box::new(setup))));
        let work = setup.clone();
        let thread = std::thread::Builder::new()
            .name("smm-sandbox-setup".into())
            .spawn(move || take(&work).map(|setup| setup()))
            .map_err(|e| EngineError::Sandbox(format!("starting the sandbox setup: {e}")))?;
        Ok(SandboxSetup {
            ready: OnceLock::new(),
            pending: Mutex::new(Some(Pending {
                setup,
                thread,
                ledger: None,
                isolation: None,
            })),
        })
    }

    /// Once set up, the sandbox's cache uses only entries whose digest
    /// `ledger` records.
    pub(super) fn record_digests_in(mut self, ledger: Arc<dyn ArtifactLedger>) -> SandboxSetup {
        self.now_or_once_set_up(
            |sandbox, ledger| sandbox.record_digests_in(ledger),
            |pending, ledger| pending.ledger = Some(ledger),
            ledger,
        );
        self
    }

    /// The sandbox, waiting for its setup the first time.
    pub(super) fn get(&self) -> Result<&Sandbox, EngineError> {
        self.ready
            .get_or_init(|| {
                let pending = self
                    .pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take()
                    .expect("a sandbox not ready has a setup pending");
                let mut sandbox = match take(&pending.setup) {
                    Some(setup) => setup()?,
                    None => pending
                        .thread
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                        .expect("the thread that took the setup returns its result")?,
                };
                if let Some(ledger) = pending.ledger {
                    sandbox.record_digests_in(ledger);
                }
                if let Some(isolation) = pending.isolation {
                    sandbox.isolate(isolation);
                }
                Ok(sandbox)
            })
            .as_ref()
            .map_err(|e| EngineError::Sandbox(e.clone()))
    }

    /// Compile in a child process (see [`Isolation`]), now or once set up.
    pub(super) fn isolate(&mut self, isolation: Isolation) {
        self.now_or_once_set_up(
            |sandbox, isolation| sandbox.isolate(isolation),
            |pending, isolation| pending.isolation = Some(isolation),
            isolation,
        );
    }

    /// Give `setting` to the sandbox if it is set up (`now`), or keep it
    /// for when it is (`later`; `get` applies it).
    fn now_or_once_set_up<S>(
        &mut self,
        now: impl FnOnce(&mut Sandbox, S),
        later: impl FnOnce(&mut Pending, S),
        setting: S,
    ) {
        match self.ready.get_mut() {
            Some(Ok(sandbox)) => now(sandbox, setting),
            Some(Err(_)) => {}
            None => {
                if let Some(pending) = self.pending.get_mut().unwrap_or_else(|p| p.into_inner()) {
                    later(pending, setting);
                }
            }
        }
    }

    /// For a process about to exit (see [`Sandbox::exit`]). A setup still
    /// running is waited for: it also tidies the compile cache (leftovers
    /// of killed compilations), which must not depend on how fast the
    /// command was.
    pub(super) fn exit(self) {
        // A failed setup has nothing to leave behind.
        let _finished = self.get();
        if let Some(Ok(sandbox)) = self.ready.into_inner() {
            sandbox.exit();
        }
    }
}

/// The setup, if no thread took it yet.
fn take(setup: &Mutex<Option<Setup>>) -> Option<Setup> {
    setup.lock().unwrap_or_else(|p| p.into_inner()).take()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::SandboxConfig;

    #[test]
    fn the_first_caller_gets_the_one_sandbox_set_up() {
        let setup = SandboxSetup::in_background(|| Sandbox::new(SandboxConfig::default())).unwrap();
        let first: *const Sandbox = setup.get().unwrap();
        let again: *const Sandbox = setup.get().unwrap();
        assert_eq!(first, again, "set up once");
        setup.exit();
    }

    #[test]
    fn a_failed_setup_is_an_error_each_time_it_is_asked_for() {
        let setup = SandboxSetup::in_background(|| Err("no wasmtime today".to_string())).unwrap();
        for _ in 0..2 {
            match setup.get() {
                Err(EngineError::Sandbox(m)) => assert_eq!(m, "no wasmtime today"),
                other => panic!("{:?}", other.map(|_| ())),
            }
        }
        setup.exit();
    }
}
