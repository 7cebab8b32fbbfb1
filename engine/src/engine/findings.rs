//! The finding lifecycle from the engine's side: a stored scan's findings
//! handed to the ledger (the embedded store), the periods read back, and
//! derived `findings` measures evaluated over them; also the `practices`
//! kind, which needs the catalogue's instances to list the assets.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use smm_catalogue::Instance;
use smm_catalogue::derived::{DerivedDefinition, DerivedKind};

use super::run::STORE_PATIENCE;
use super::{Engine, EngineError};
use crate::derived::Derived;
use crate::derived::findings::{self as statistics, Params};
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
            let tracked = tokio::task::spawn_blocking(move || ledger.track(&name, at, &list)).await;
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
        tokio::task::spawn_blocking(move || ledger.periods(instance.as_deref(), open_only))
            .await
            .map_err(|e| {
                smm_catalogue::StoreError::permanent(format!("a store task did not finish: {e}"))
            })?
            .map_err(Into::into)
    }
}

impl Engine {
    /// Evaluate a derived definition for `instance` at `at`: over the
    /// finding lifecycle for `kind = "findings"`, over stored measurements
    /// otherwise.
    pub(super) async fn evaluate(
        &self,
        definition: &DerivedDefinition,
        instance: &Instance,
        at: DateTime<Utc>,
    ) -> Result<Vec<Derived>, EngineError> {
        if let DerivedKind::Practices {
            practices,
            asset_label,
            freshness,
            statistic,
        } = &definition.kind
        {
            let freshness = smm_catalogue::derived::parse_window("freshness", freshness)
                .map_err(smm_catalogue::StoreError::permanent)?;
            let params = crate::derived::practices::Params {
                practices,
                asset_label,
                freshness,
                statistic: *statistic,
            };
            return self.evaluate_practices(&params, instance, at).await;
        }
        let DerivedKind::Findings {
            input,
            statistic,
            window,
            severities,
            sla_days,
        } = &definition.kind
        else {
            return Ok(crate::derived::evaluate(
                definition,
                instance,
                at,
                self.measurements.as_ref(),
            )
            .await?);
        };
        // The scanning instances in scope: of the input's measure, carrying
        // every label of the scope.
        let scope = crate::derived::scope(input, instance);
        let scanning: HashMap<String, Option<String>> = self
            .instances()?
            .into_iter()
            .filter(|i| {
                i.measure_id == input.measure
                    && scope.iter().all(|(k, v)| i.labels.get(k) == Some(v))
            })
            .map(|i| {
                let tier = i.labels.get("tier").cloned();
                (i.name, tier)
            })
            .collect();
        let mut periods = Vec::new();
        for name in scanning.keys() {
            periods.extend(self.finding_periods(Some(name), false).await?);
        }
        let window = window
            .as_deref()
            .map(|w| smm_catalogue::derived::parse_window("window", w))
            .transpose()
            .map_err(smm_catalogue::StoreError::permanent)?;
        let params = Params {
            statistic: *statistic,
            window,
            severities,
            sla_days,
        };
        Ok(vec![statistics::evaluate(&params, &periods, &scanning, at)])
    }

    /// AppSec practice coverage: the assets are the values of the asset
    /// label among the instances carrying every label of the derived
    /// instance; an asset's tier is the lowest `tier` among them.
    async fn evaluate_practices(
        &self,
        params: &crate::derived::practices::Params<'_>,
        instance: &Instance,
        at: DateTime<Utc>,
    ) -> Result<Vec<Derived>, EngineError> {
        let mut assets: std::collections::BTreeMap<String, Option<String>> = Default::default();
        for i in self.instances()? {
            let in_scope = instance
                .labels
                .iter()
                .all(|(k, v)| i.labels.get(k) == Some(v));
            let Some(asset) = i.labels.get(params.asset_label).filter(|_| in_scope) else {
                continue;
            };
            // The most critical tier wins: the lowest number ("2" < "10").
            let rank = |t: &Option<String>| {
                t.as_deref()
                    .and_then(|t| t.parse::<u64>().ok())
                    .unwrap_or(u64::MAX)
            };
            let tier = i.labels.get("tier").cloned();
            let entry = assets.entry(asset.clone()).or_insert(None);
            if tier.is_some() && (entry.is_none() || rank(&tier) < rank(entry)) {
                *entry = tier;
            }
        }
        Ok(vec![
            crate::derived::practices::evaluate(
                params,
                &assets,
                instance,
                at,
                self.measurements.as_ref(),
            )
            .await?,
        ])
    }
}
