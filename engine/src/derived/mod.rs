//! Derived measures: computed from stored measurements, one file per SMM
//! kind (`collective`, `binary`, `ratio`, `rescaled`, `counting`, `grade`,
//! `ranking`), for the expression form (`expression`), for statistics over
//! the finding lifecycle (`findings`) and for AppSec practice coverage
//! (`practices`); this module
//! aligns the inputs in time and records provenance.
//!
//! Time alignment (Architecture Invariant): a derived value at time `t`
//! uses, per input, the latest successful measurement at or before `t`
//! (point-in-time kinds) or every successful measurement in the window
//! `(t − window, t]` (collective, counting). Inputs select measurements by
//! measure id, the input's labels, and the derived instance's labels.
//! A missing input, an input older than `max_age`, a zero denominator or a
//! value outside every interval gives an error measurement naming the
//! cause — never NaN, infinity or a silently wrong number.

pub mod binary;
pub mod collective;
pub mod counting;
pub mod expression;
pub mod findings;
pub mod grade;
pub mod practices;
pub mod ranking;
pub mod ratio;
pub mod rescaled;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use smm_catalogue::derived::{DerivedDefinition, DerivedKind, InputRef, parse_window};
use smm_catalogue::{Instance, StoreError};

use crate::store::{MeasurementStore, Selector, WindowColumns};

/// One computed value (or the reason there is none), with its provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub value: Option<f64>,
    pub text: Option<String>,
    /// Extra labels (the group of a grouped collective).
    pub group: BTreeMap<String, String>,
    /// `{"inputs": [...]}` and kind-specific facts.
    pub details: Value,
    pub error: Option<(&'static str, String)>,
}

impl Derived {
    pub(crate) fn ok(value: f64, details: Value) -> Self {
        Derived {
            value: Some(value),
            text: None,
            group: BTreeMap::new(),
            details,
            error: None,
        }
    }
    pub(crate) fn failed(kind: &'static str, reason: String, details: Value) -> Self {
        Derived {
            value: None,
            text: None,
            group: BTreeMap::new(),
            details,
            error: Some((kind, reason)),
        }
    }
}

/// The labels an input's measurements must carry: the derived instance's
/// labels, overridden by the input's own.
pub fn scope(input: &InputRef, instance: &Instance) -> BTreeMap<String, String> {
    let mut labels = instance.labels.clone();
    labels.extend(input.labels.clone());
    labels
}

fn selector(input: &InputRef, instance: &Instance) -> Selector {
    Selector {
        measure_id: input.measure.clone(),
        labels: scope(input, instance),
    }
}

/// Evaluate `definition` for `instance` at time `at`. `Err` only when the
/// store fails; every other problem is a [`Derived`] with an error.
pub async fn evaluate(
    definition: &DerivedDefinition,
    instance: &Instance,
    at: DateTime<Utc>,
    store: &dyn MeasurementStore,
) -> Result<Vec<Derived>, StoreError> {
    match &definition.kind {
        DerivedKind::Collective {
            input,
            accumulator,
            window,
            percentile,
            group_by,
        } => {
            let after = window_start(window, at)?;
            let selector = selector(input, instance);
            if group_by.is_empty()
                && let Some(agg) = store.aggregate(&selector, after, at, *accumulator).await?
            {
                return Ok(vec![
                    pushed_down(store, &selector, after, at, agg, input).await?,
                ]);
            }
            let columns = WindowColumns {
                ids: false,
                labels: !group_by.is_empty(),
            };
            let mut rows = store.window(&selector, after, at, columns).await?;
            // Ids serve provenance only, listed for windows small enough:
            // read them again for those instead of a million ids for all.
            let listing = rows.len() <= LISTED_INPUTS;
            if listing {
                let columns = WindowColumns {
                    ids: true,
                    ..columns
                };
                rows = store.window(&selector, after, at, columns).await?;
            }
            let mut groups: BTreeMap<BTreeMap<String, String>, Vec<usize>> = BTreeMap::new();
            for (i, row) in rows.iter().enumerate() {
                let key = group_by
                    .iter()
                    .map(|k| (k.clone(), row.labels.get(k).cloned().unwrap_or_default()))
                    .collect();
                groups.entry(key).or_default().push(i);
            }
            if groups.is_empty() {
                groups.insert(
                    group_by
                        .iter()
                        .map(|k| (k.clone(), String::new()))
                        .collect(),
                    Vec::new(),
                );
            }
            let mut out = Vec::new();
            for (group, members) in groups {
                let mut values: Vec<f64> = members.iter().map(|&i| rows[i].value).collect();
                let listed: Option<Vec<&str>> =
                    listing.then(|| members.iter().map(|&i| rows[i].id.as_str()).collect());
                let provenance = window_provenance(after, at, values.len(), listed.as_deref());
                let mut d = match collective::accumulate(*accumulator, &mut values, *percentile) {
                    Ok(v) if !v.is_finite() => Derived::failed(
                        "no-result",
                        format!(
                            "the {accumulator:?} of input `input` ({}) is not a finite number",
                            input.measure
                        ),
                        provenance,
                    ),
                    Ok(v) => Derived::ok(v, provenance),
                    Err(e) => Derived::failed(
                        "empty-window",
                        format!("input `input` ({}): {e}", input.measure),
                        provenance,
                    ),
                };
                d.group = group.into_iter().filter(|(_, v)| !v.is_empty()).collect();
                out.push(d);
            }
            Ok(out)
        }
        DerivedKind::Counting {
            input,
            window,
            predicate,
        } => {
            let after = window_start(window, at)?;
            let columns = WindowColumns {
                ids: true,
                labels: false,
            };
            let rows = store
                .window(&selector(input, instance), after, at, columns)
                .await?;
            let values: Vec<f64> = rows.iter().map(|r| r.value).collect();
            let matching: Vec<&str> = rows
                .iter()
                .filter(|r| predicate.contains(r.value))
                .map(|r| r.id.as_str())
                .collect();
            let listed = (matching.len() <= LISTED_INPUTS).then_some(matching.as_slice());
            let mut details = window_provenance(after, at, matching.len(), listed);
            details["considered"] = json!(rows.len());
            Ok(vec![Derived::ok(
                counting::count(&values, predicate),
                details,
            )])
        }
        // Over the finding lifecycle or the catalogue's assets: the engine
        // evaluates them (`findings`, `practices`).
        DerivedKind::Findings { .. } | DerivedKind::Practices { .. } => Ok(vec![Derived::failed(
            "no-result",
            "this measure is computed over the finding lifecycle or the catalogue's assets, which this evaluation was not given".into(),
            json!({}),
        )]),
        _ => Ok(vec![point_in_time(definition, instance, at, store).await?]),
    }
}

/// The exclusive start of the window of length `window` ending at `at`.
fn window_start(window: &str, at: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
    let window = parse_window("window", window).map_err(StoreError::permanent)?;
    Ok(at - chrono::Duration::from_std(window).unwrap_or_default())
}

/// Up to this many input measurements are listed one by one (by id) in
/// provenance; beyond, the window, the selector and the count identify
/// them (stores are append-only).
const LISTED_INPUTS: usize = 1000;

fn window_provenance(
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    count: usize,
    ids: Option<&[&str]>,
) -> Value {
    let mut p = json!({
        "window": {"after": after, "until": until},
        "count": count,
    });
    if let Some(ids) = ids {
        p["inputs"] = json!(ids);
    }
    p
}

/// The ids of a window's rows, in the order [`MeasurementStore::window`]
/// returned them with `columns`.
async fn window_ids(
    store: &dyn MeasurementStore,
    selector: &Selector,
    after: DateTime<Utc>,
    at: DateTime<Utc>,
    columns: WindowColumns,
) -> Result<Vec<String>, StoreError> {
    let columns = WindowColumns {
        ids: true,
        ..columns
    };
    Ok(store
        .window(selector, after, at, columns)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect())
}

/// A collective the store aggregated itself.
async fn pushed_down(
    store: &dyn MeasurementStore,
    selector: &Selector,
    after: DateTime<Utc>,
    at: DateTime<Utc>,
    agg: crate::store::Aggregate,
    input: &InputRef,
) -> Result<Derived, StoreError> {
    let count = agg.count as usize;
    let ids = if count <= LISTED_INPUTS {
        Some(window_ids(store, selector, after, at, WindowColumns::default()).await?)
    } else {
        None
    };
    let listed: Option<Vec<&str>> = ids.as_ref().map(|v| v.iter().map(String::as_str).collect());
    let provenance = window_provenance(after, at, count, listed.as_deref());
    Ok(match agg.value {
        Some(v) if !v.is_finite() => Derived::failed(
            "no-result",
            format!(
                "the aggregate of input `input` ({}) is not a finite number",
                input.measure
            ),
            provenance,
        ),
        Some(v) => Derived::ok(v, provenance),
        None => Derived::failed(
            "empty-window",
            format!(
                "input `input` ({}): the window holds no measurement",
                input.measure
            ),
            provenance,
        ),
    })
}

/// Kinds that combine the latest value of each input at `at`.
async fn point_in_time(
    definition: &DerivedDefinition,
    instance: &Instance,
    at: DateTime<Utc>,
    store: &dyn MeasurementStore,
) -> Result<Derived, StoreError> {
    let max_age = definition.max_age();
    let mut values = Vec::new();
    let mut named = BTreeMap::new();
    let mut provenance = Vec::new();
    for (name, input) in definition.inputs() {
        let Some(m) = store.latest(&selector(input, instance), at).await? else {
            let details = json!({"inputs": provenance});
            return Ok(Derived::failed(
                "missing-input",
                format!(
                    "input `{name}`: no measurement of {} at or before {}",
                    input.measure,
                    at.to_rfc3339()
                ),
                details,
            ));
        };
        let value = match input.pointer() {
            None => m.value,
            Some(p) => m
                .details
                .as_ref()
                .and_then(|d| d.pointer(&p))
                .and_then(Value::as_f64),
        };
        let mut p = json!({
            "input": name, "instance": m.instance, "measure": m.measure,
            "id": m.id, "timestamp": m.timestamp, "value": value,
        });
        if let Some(field) = &input.field {
            p["field"] = json!(field);
        }
        provenance.push(p);
        if let Some(max_age) = max_age {
            let age = (at - m.timestamp).to_std().unwrap_or_default();
            if age > max_age {
                return Ok(Derived::failed(
                    "stale-input",
                    format!(
                        "input `{name}` ({} from instance {}) is stale: its latest measurement, at {}, is older than max_age {}",
                        input.measure,
                        m.instance,
                        m.timestamp.to_rfc3339(),
                        humantime::format_duration(max_age)
                    ),
                    json!({"inputs": provenance}),
                ));
            }
        }
        let Some(v) = value else {
            let what = match &input.field {
                Some(f) => format!(
                    "no number at details field `{f}` (absent, or null: nothing to compute it from)"
                ),
                None => "no numeric value".to_string(),
            };
            return Ok(Derived::failed(
                "missing-input",
                format!("input `{name}` ({}) has {what}", input.measure),
                json!({"inputs": provenance}),
            ));
        };
        values.push(v);
        named.insert(name, v);
    }
    let details = json!({"inputs": provenance});
    let computed: Result<Derived, String> =
        match &definition.kind {
            DerivedKind::Binary { operator, .. } => binary::apply(*operator, values[0], values[1])
                .map(|v| Derived::ok(v, details.clone())),
            DerivedKind::Ratio { percent, .. } => ratio::ratio(values[0], values[1], *percent)
                .map(|v| Derived::ok(v, details.clone())),
            DerivedKind::Rescaled {
                offset, multiplier, ..
            } => rescaled::rescale(values[0], *offset, *multiplier)
                .map(|v| Derived::ok(v, details.clone())),
            DerivedKind::Grade { intervals, .. } => {
                grade::grade(values[0], intervals).map(|symbol| Derived {
                    value: None,
                    text: Some(symbol),
                    group: BTreeMap::new(),
                    details: details.clone(),
                    error: None,
                })
            }
            DerivedKind::Ranking { intervals, .. } => {
                ranking::rank(values[0], intervals).map(|v| Derived::ok(v, details.clone()))
            }
            DerivedKind::Expression { expression, .. } => {
                expression::evaluate(expression, &named).map(|v| Derived::ok(v, details.clone()))
            }
            DerivedKind::Collective { .. }
            | DerivedKind::Counting { .. }
            | DerivedKind::Findings { .. }
            | DerivedKind::Practices { .. } => {
                unreachable!("kinds over a window or the finding lifecycle")
            }
        };
    Ok(computed.unwrap_or_else(|e| {
        let kind = if e.contains("division by zero") {
            "division-by-zero"
        } else {
            "no-result"
        };
        Derived::failed(kind, e, details)
    }))
}
