//! Evaluating a derived definition: over stored measurements (the SMM
//! kinds, `crate::derived`), over the finding lifecycle (`findings`), or
//! over the catalogue's assets (`practices`). The last two need what only
//! the engine holds (the ledger, the instances), so they are wired here.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use smm_catalogue::Instance;
use smm_catalogue::derived::{DerivedDefinition, DerivedKind};

use super::{Engine, EngineError};
use crate::derived::Derived;
use crate::derived::findings::{self as statistics, Params};

impl Engine {
    /// Evaluate a derived definition for `instance` at `at`: over the
    /// finding lifecycle for `kind = "findings"`, over the catalogue's
    /// assets for `kind = "practices"`, over stored measurements otherwise.
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
            deployments,
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
        let shipped = match deployments {
            Some(d) => Some(self.deployments(d, instance, at).await?),
            None => None,
        };
        let params = Params {
            statistic: *statistic,
            window,
            severities,
            sla_days,
            deployments: shipped
                .as_ref()
                .map(|r| r.as_ref().map(Vec::as_slice).map_err(String::as_str)),
        };
        Ok(vec![statistics::evaluate(&params, &periods, &scanning, at)])
    }

    /// The successful deployments listed by the latest measurement of
    /// `input` in scope at `at` (`details.deployments[]` with `finished_at`
    /// and `state`), as (id, finished at). `Err` with a reason the derived
    /// measurement states when there is none.
    async fn deployments(
        &self,
        input: &smm_catalogue::derived::InputRef,
        instance: &Instance,
        at: DateTime<Utc>,
    ) -> Result<Result<Vec<(String, DateTime<Utc>)>, String>, EngineError> {
        let selector = crate::store::Selector {
            measure_id: input.measure.clone(),
            labels: crate::derived::scope(input, instance),
        };
        let Some(m) = self.measurements.latest(&selector, at).await? else {
            return Ok(Err(format!(
                "deployments: no measurement of {} at or before {}",
                input.measure,
                at.to_rfc3339()
            )));
        };
        let listed = m
            .details
            .as_ref()
            .and_then(|d| d.get("deployments"))
            .and_then(|d| d.as_array());
        let Some(listed) = listed else {
            return Ok(Err(format!(
                "deployments: measurement {} of {} lists no details.deployments",
                m.id, input.measure
            )));
        };
        Ok(Ok(listed
            .iter()
            .filter(|d| d.get("state").and_then(|s| s.as_str()) == Some("success"))
            .filter_map(|d| {
                let at = d.get("finished_at")?.as_str()?.parse().ok()?;
                let id = match d.get("id")? {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Some((id, at))
            })
            .collect()))
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
