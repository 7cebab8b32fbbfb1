//! The finding lifecycle from the engine's side: a stored scan's findings
//! handed to the ledger (the embedded store), and the periods read back.

use std::time::Instant;

use super::run::STORE_PATIENCE;
use super::{Engine, EngineError};
use crate::lifecycle::{FindingLedger, Observed, Period, Tracked};
use crate::measurement::Measurement;

impl Engine {
    /// Hand a stored scan's findings to the lifecycle, at the
    /// measurement's time; waits out a locked database like an append. A
    /// failure is logged: the measurement itself is stored.
    pub(super) async fn track_findings(
        &self,
        m: &Measurement,
        findings: Vec<Observed>,
    ) -> Option<Tracked> {
        let findings = std::sync::Arc::new(findings);
        let started = Instant::now();
        let mut pause = std::time::Duration::from_millis(50);
        loop {
            let (ledger, name, at, list) = (
                self.embedded.clone(),
                m.instance.clone(),
                m.timestamp,
                findings.clone(),
            );
            let tracked = crate::blocking::run(move || ledger.track(&name, at, &list)).await;
            match tracked {
                Ok(Ok(tracked)) => return Some(tracked),
                Ok(Err(e)) if e.is_retryable() && started.elapsed() < STORE_PATIENCE => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(5));
                }
                Ok(Err(e)) => {
                    tracing::error!(instance = %m.instance, "cannot track the scan's findings: {e}");
                    return None;
                }
                Err(e) => {
                    tracing::error!(instance = %m.instance, "cannot track the scan's findings: {e}");
                    return None;
                }
            }
        }
    }

    /// The periods of `instance` (all instances when `None`), open ones
    /// only when `open_only`, oldest first.
    pub async fn finding_periods(
        &self,
        instance: Option<&str>,
        open_only: bool,
    ) -> Result<Vec<Period>, EngineError> {
        let (ledger, instance) = (self.embedded.clone(), instance.map(str::to_string));
        crate::blocking::run(move || ledger.periods(instance.as_deref(), open_only))
            .await
            .map_err(|e| {
                smm_catalogue::StoreError::permanent(format!("a store task did not finish: {e}"))
            })?
            .map_err(Into::into)
    }
}
