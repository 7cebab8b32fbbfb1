//! AppSec practice coverage (`kind = "practices"`): for every asset (a
//! value of the asset label, `service` by default, among the instances in
//! scope), which practices (SAST, SCA, secrets, coverage, tests...) have a
//! successful measurement no older than `freshness` at `t`. An SMM
//! collective measure whose set is the assets, weighted by tier
//! (`tier` label 1 → 5, 2 → 3, anything else → 1).
//!
//! The engine lists the assets from the catalogue (it knows the
//! instances); this module asks the store for each asset's latest
//! measurement of each practice.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::json;
use smm_catalogue::derived::{InputRef, PracticeStatistic};
use smm_catalogue::{Instance, StoreError};

use super::{Derived, scope};
use crate::store::{MeasurementStore, Selector};

/// Weight of an asset from its `tier` label.
pub fn tier_weight(tier: Option<&str>) -> f64 {
    match tier {
        Some("1") => 5.0,
        Some("2") => 3.0,
        _ => 1.0,
    }
}

/// A `practices` definition's parameters.
pub struct Params<'a> {
    pub practices: &'a BTreeMap<String, InputRef>,
    pub asset_label: &'a str,
    pub freshness: std::time::Duration,
    pub statistic: PracticeStatistic,
}

/// Evaluate at `at` for the derived `instance`; `assets` maps each asset
/// to its tier.
pub async fn evaluate(
    params: &Params<'_>,
    assets: &BTreeMap<String, Option<String>>,
    instance: &Instance,
    at: DateTime<Utc>,
    store: &dyn MeasurementStore,
) -> Result<Derived, StoreError> {
    if assets.is_empty() {
        return Ok(Derived::failed(
            "missing-input",
            format!(
                "no instance in scope carries the asset label `{}`",
                params.asset_label
            ),
            json!({}),
        ));
    }
    let oldest = at - chrono::Duration::from_std(params.freshness).unwrap_or_default();
    let mut per_asset = serde_json::Map::new();
    let mut by_practice: BTreeMap<&str, u64> = BTreeMap::new();
    let (mut weights, mut practice_points, mut asset_points) = (0.0, 0.0, 0.0);
    for (asset, tier) in assets {
        let mut covered = BTreeMap::new();
        for (name, input) in params.practices {
            let mut labels = scope(input, instance);
            labels.insert(params.asset_label.to_string(), asset.clone());
            let selector = Selector {
                measure_id: input.measure.clone(),
                labels,
            };
            let fresh = store
                .latest(&selector, at)
                .await?
                .is_some_and(|m| m.timestamp > oldest);
            if fresh {
                *by_practice.entry(name.as_str()).or_default() += 1;
            }
            covered.insert(name.as_str(), fresh);
        }
        let share = covered.values().filter(|c| **c).count() as f64 / covered.len() as f64;
        let weight = tier_weight(tier.as_deref());
        weights += weight;
        practice_points += weight * share;
        if share == 1.0 {
            asset_points += weight;
        }
        per_asset.insert(asset.clone(), json!({"tier": tier, "practices": covered}));
    }
    let practice_coverage = 100.0 * practice_points / weights;
    let asset_coverage = 100.0 * asset_points / weights;
    let details = json!({
        "assets": per_asset,
        "by_practice": by_practice,
        "practice_coverage": practice_coverage,
        "asset_coverage": asset_coverage,
    });
    Ok(Derived::ok(
        match params.statistic {
            PracticeStatistic::PracticeCoverage => practice_coverage,
            PracticeStatistic::AssetCoverage => asset_coverage,
        },
        details,
    ))
}
