//! Derived measures (OMG SMM 1.1): declared in a TOML file, computed by the
//! engine from stored measurements.
//!
//! ```toml
//! [measure]
//! id = "escape-rate"
//! version = "1.0.0"
//! name = "Defect escape rate"
//! unit = "%"
//! scale = "ratio"
//!
//! [derived]
//! kind = "ratio"                 # collective | binary | ratio | rescaled | counting | grade | ranking | expression
//! max_age = "2d"                 # an input older than this makes the result an error
//! numerator = { measure = "escaped-defects" }
//! denominator = { measure = "deployments", labels = { env = "prod" } }
//! percent = true
//! ```
//!
//! Invariant: a registered definition is valid (kinds, parameters, windows,
//! intervals) and the dependency graph of all registered derived measures
//! has no cycle.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::CatalogueError;
use crate::metadata::{MeasureKind, MeasureMetadata, RawMetadata, Scale};

/// Which stored measurements an input reads: those of measure `measure`
/// whose labels include all of `labels` (and all of the derived
/// instance's labels, which scope every input).
///
/// With `field`, the input's value is a number in the measurement's
/// details instead of its value: a dotted path of keys, e.g.
/// `security.change_failure_rate` (kinds over the latest measurement only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputRef {
    pub measure: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl InputRef {
    /// The JSON pointer of `field` in the details.
    pub fn pointer(&self) -> Option<String> {
        self.field.as_ref().map(|f| {
            f.split('.')
                .map(|k| format!("/{}", k.replace('~', "~0").replace('/', "~1")))
                .collect()
        })
    }
}

/// SMM collective accumulators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Accumulator {
    Sum,
    Maximum,
    Minimum,
    Average,
    /// Sample standard deviation (n − 1).
    StandardDeviation,
    Product,
    Count,
    Median,
    /// `percentile` in [0, 100], linear interpolation between closest ranks.
    Percentile,
}

/// SMM binary functors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinaryOp {
    Plus,
    Minus,
    Multiply,
    Divide,
}

/// An interval of values; an absent bound is unbounded. Bounds are closed
/// unless said otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interval {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    #[serde(default = "yes")]
    pub lower_closed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    #[serde(default = "yes")]
    pub upper_closed: bool,
    /// Grade: the symbol of this interval (e.g. `A`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// Ranking: the rank of this interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<f64>,
}

fn yes() -> bool {
    true
}

impl Interval {
    pub fn contains(&self, v: f64) -> bool {
        let above = match self.lower {
            None => true,
            Some(l) if self.lower_closed => v >= l,
            Some(l) => v > l,
        };
        let below = match self.upper {
            None => true,
            Some(u) if self.upper_closed => v <= u,
            Some(u) => v < u,
        };
        above && below
    }

    /// Whether two intervals share at least one value.
    fn overlaps(&self, other: &Interval) -> bool {
        // Order by lower bound, then check the first ends before the second starts.
        let (a, b) = if lower_key(self) <= lower_key(other) {
            (self, other)
        } else {
            (other, self)
        };
        match (a.upper, b.lower) {
            (None, _) | (_, None) => true,
            (Some(u), Some(l)) => u > l || (u == l && a.upper_closed && b.lower_closed),
        }
    }

    fn describe(&self) -> String {
        format!(
            "{}{}, {}{}",
            if self.lower_closed { '[' } else { '(' },
            self.lower.map_or("-inf".into(), |v| v.to_string()),
            self.upper.map_or("+inf".into(), |v| v.to_string()),
            if self.upper_closed { ']' } else { ')' },
        )
    }
}

fn lower_key(i: &Interval) -> (f64, bool) {
    (i.lower.unwrap_or(f64::NEG_INFINITY), !i.lower_closed)
}

/// The SMM kind of a derived measure, with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DerivedKind {
    /// Accumulate the values of one input over a time window, optionally per
    /// group of label values.
    Collective {
        input: InputRef,
        accumulator: Accumulator,
        window: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        percentile: Option<f64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        group_by: Vec<String>,
    },
    Binary {
        left: InputRef,
        right: InputRef,
        operator: BinaryOp,
    },
    /// `numerator / denominator`, × 100 when `percent`.
    Ratio {
        numerator: InputRef,
        denominator: InputRef,
        #[serde(default)]
        percent: bool,
    },
    /// `offset + multiplier × input`.
    Rescaled {
        input: InputRef,
        #[serde(default)]
        offset: f64,
        #[serde(default = "one")]
        multiplier: f64,
    },
    /// How many measurements of the input in the window match `predicate`.
    Counting {
        input: InputRef,
        window: String,
        predicate: Interval,
    },
    /// The symbol of the interval the input's value falls in.
    Grade {
        input: InputRef,
        intervals: Vec<Interval>,
    },
    /// The rank of the interval the input's value falls in.
    Ranking {
        input: InputRef,
        intervals: Vec<Interval>,
    },
    /// A small arithmetic expression over named inputs, e.g.
    /// `100 * failed / deployed` (a convenience over binary/ratio/rescaled).
    Expression {
        inputs: BTreeMap<String, InputRef>,
        expression: String,
    },
    /// AppSec coverage: for every asset (a value of `asset_label` among the
    /// instances in scope), which practices have a successful measurement
    /// no older than `freshness`; weighted by the asset's `tier` label
    /// (1 → 5, 2 → 3, else 1). An SMM collective measure over the assets.
    Practices {
        practices: BTreeMap<String, InputRef>,
        #[serde(default = "default_asset_label")]
        asset_label: String,
        freshness: String,
        #[serde(default)]
        statistic: PracticeStatistic,
    },
    /// An SMM collective measure over the findings the lifecycle tracks for
    /// the scanning instances of `input` in scope (not over measurements):
    /// see [`FindingStatistic`].
    Findings {
        input: InputRef,
        statistic: FindingStatistic,
        /// For statistics over fixes and openings: `(t − window, t]`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        window: Option<String>,
        /// Only findings of these severities (all when empty).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        severities: Vec<String>,
        /// SLA in days per severity (`sla_breaches`); defaults critical 7,
        /// high 30, medium 90, low 120.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        sla_days: BTreeMap<String, u64>,
        /// The deployments (`escape_rate`): the latest measurement of a
        /// measure listing them in `details.deployments` (`finished_at`,
        /// `state`), e.g. `github-deployments`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deployments: Option<Box<InputRef>>,
    },
}

/// What a `practices` derived measure computes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PracticeStatistic {
    /// Σ over assets of tier weight × share of practices covered, over
    /// Σ of tier weights, in percent.
    #[default]
    PracticeCoverage,
    /// Tier-weighted share of assets covering every practice, in percent.
    AssetCoverage,
}

/// The label that names an asset, by default.
pub fn default_asset_label() -> String {
    "service".into()
}

/// What a `findings` derived measure computes at time `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatistic {
    /// Findings open at `t` (details: by severity, and by age since first
    /// seen — up to 7 days, 30, 90, more — and severity).
    Open,
    /// Findings open at `t` minus findings open at `t − window`: the debt
    /// trend (negative when it shrinks).
    OpenChange,
    /// Open findings older (since first seen) than their severity's SLA.
    SlaBreaches,
    /// Σ over open findings of severity weight (critical 5, high 4,
    /// medium 2, low 1) × exploitability (3 when in KEV or EPSS ≥ 0.1, 2
    /// when a fix exists, else 1) × asset criticality from the scanning
    /// instance's `tier` label (1 → 3, 2 → 2, else 1).
    RiskIndex,
    /// Dependency-Track's inherited risk score over open findings:
    /// 10·critical + 5·high + 3·medium + 1·low + 5·unassigned (unknown).
    InheritedRisk,
    /// Mean time to remediate, in hours: fix time − opening time over the
    /// periods fixed in the window (median in the details).
    Mttr,
    /// Exposure window, in hours: fix time − first seen (across
    /// reopenings) over the periods fixed in the window; with `severities
    /// = ["critical"]`, the exposure window of fixed criticals.
    Exposure,
    /// Reopenings in the window per fix in the window, in percent.
    ReopenRate,
    /// Fixes in the window per openings (new or reopened) in the window.
    FixIntakeRatio,
    /// Escape rate: of the successful deployments finished in the window
    /// (from `deployments`), the share that shipped while a finding (of
    /// `severities`) was open, in percent.
    EscapeRate,
}

impl FindingStatistic {
    /// Whether the statistic counts events in a window.
    pub fn windowed(self) -> bool {
        matches!(
            self,
            FindingStatistic::Mttr
                | FindingStatistic::Exposure
                | FindingStatistic::ReopenRate
                | FindingStatistic::FixIntakeRatio
                | FindingStatistic::OpenChange
                | FindingStatistic::EscapeRate
        )
    }
}

/// Finding severities (the lifecycle's scale).
pub const FINDING_SEVERITIES: [&str; 6] = ["critical", "high", "medium", "low", "info", "unknown"];

fn one() -> f64 {
    1.0
}

/// The `[derived]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DerivedDefinition {
    #[serde(flatten)]
    pub kind: DerivedKind,
    /// Inputs older than this (at evaluation time) make the result an error
    /// naming the stale input. Point-in-time kinds only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    id: String,
    version: String,
    name: String,
    #[serde(default)]
    description: String,
    unit: String,
    scale: Scale,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    measure: Header,
    derived: DerivedDefinition,
}

/// Parse a duration such as `30d`, `12h`, `90s`.
pub fn parse_window(what: &str, s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{what} {s:?}: {e} (use e.g. 30d, 12h, 15m)"))?;
    if d.is_zero() {
        return Err(format!("{what} {s:?} must be longer than zero"));
    }
    Ok(d)
}

impl DerivedDefinition {
    /// Every input, named as in the definition.
    pub fn inputs(&self) -> Vec<(&str, &InputRef)> {
        match &self.kind {
            DerivedKind::Collective { input, .. }
            | DerivedKind::Rescaled { input, .. }
            | DerivedKind::Counting { input, .. }
            | DerivedKind::Grade { input, .. }
            | DerivedKind::Ranking { input, .. }
            | DerivedKind::Findings {
                input,
                deployments: None,
                ..
            } => vec![("input", input)],
            DerivedKind::Findings {
                input,
                deployments: Some(d),
                ..
            } => vec![("input", input), ("deployments", &**d)],
            DerivedKind::Binary { left, right, .. } => vec![("left", left), ("right", right)],
            DerivedKind::Ratio {
                numerator,
                denominator,
                ..
            } => {
                vec![("numerator", numerator), ("denominator", denominator)]
            }
            DerivedKind::Expression { inputs, .. } => {
                inputs.iter().map(|(n, i)| (n.as_str(), i)).collect()
            }
            DerivedKind::Practices { practices, .. } => {
                practices.iter().map(|(n, i)| (n.as_str(), i)).collect()
            }
        }
    }

    pub fn max_age(&self) -> Option<Duration> {
        self.max_age
            .as_deref()
            .and_then(|s| parse_window("max_age", s).ok())
    }

    fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, input) in self.inputs() {
            if !crate::metadata::is_kebab_case(&input.measure) {
                problems.push(format!(
                    "{name}: measure {:?} is not a kebab-case measure id",
                    input.measure
                ));
            }
            for key in input.labels.keys() {
                if let Err(e) = crate::instance::validate_name(key) {
                    problems.push(format!("{name}: label key {key:?} {e}"));
                }
            }
            if let Some(field) = &input.field {
                let over_latest = matches!(
                    self.kind,
                    DerivedKind::Binary { .. }
                        | DerivedKind::Ratio { .. }
                        | DerivedKind::Rescaled { .. }
                        | DerivedKind::Grade { .. }
                        | DerivedKind::Ranking { .. }
                        | DerivedKind::Expression { .. }
                );
                if !over_latest {
                    problems.push(format!(
                        "{name}: field {field:?} reads the details of the latest measurement, which this kind does not use"
                    ));
                }
                if field.split('.').any(|k| {
                    k.is_empty()
                        || !k
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                }) {
                    problems.push(format!(
                        "{name}: field {field:?} is not a dotted path of keys (letters, digits, '_', '-'), e.g. security.change_failure_rate"
                    ));
                }
            }
        }
        if let Some(m) = &self.max_age
            && let Err(e) = parse_window("max_age", m)
        {
            problems.push(e);
        }
        match &self.kind {
            DerivedKind::Collective {
                accumulator,
                window,
                percentile,
                group_by,
                ..
            } => {
                for key in group_by {
                    if let Err(e) = crate::instance::validate_name(key) {
                        problems.push(format!("group_by: label key {key:?} {e}"));
                    }
                }
                if let Err(e) = parse_window("window", window) {
                    problems.push(e);
                }
                match (accumulator, percentile) {
                    (Accumulator::Percentile, None) => {
                        problems.push("accumulator percentile needs `percentile` (0 to 100)".into())
                    }
                    (Accumulator::Percentile, Some(p)) if !(0.0..=100.0).contains(p) => {
                        problems.push(format!("percentile {p} is outside 0 to 100"))
                    }
                    (Accumulator::Percentile, Some(_)) => {}
                    (_, Some(_)) => problems
                        .push("`percentile` only goes with accumulator = \"percentile\"".into()),
                    (_, None) => {}
                }
                if self.max_age.is_some() {
                    problems.push("max_age does not apply to a collective measure (its window bounds the inputs)".into());
                }
            }
            DerivedKind::Counting { window, .. } => {
                if let Err(e) = parse_window("window", window) {
                    problems.push(e);
                }
            }
            DerivedKind::Practices {
                practices,
                asset_label,
                freshness,
                ..
            } => {
                if practices.is_empty() {
                    problems.push("practices: at least one practice is needed".into());
                }
                if let Err(e) = crate::instance::validate_name(asset_label) {
                    problems.push(format!("asset_label {asset_label:?} {e}"));
                }
                if let Err(e) = parse_window("freshness", freshness) {
                    problems.push(e);
                }
                if self.max_age.is_some() {
                    problems.push(
                        "max_age does not apply to a practices measure (freshness does)".into(),
                    );
                }
            }
            DerivedKind::Findings {
                statistic,
                window,
                severities,
                sla_days,
                deployments,
                ..
            } => {
                match (*statistic == FindingStatistic::EscapeRate, deployments) {
                    (true, None) => problems.push(
                        "statistic EscapeRate needs `deployments` (e.g. { measure = \"github-deployments\" })".into(),
                    ),
                    (false, Some(_)) => problems.push(
                        "`deployments` only goes with statistic = \"escape_rate\"".into(),
                    ),
                    _ => {}
                }
                match (statistic.windowed(), window) {
                    (true, None) => problems.push(format!(
                        "statistic {statistic:?} needs a `window` (e.g. \"30d\")"
                    )),
                    (true, Some(w)) => {
                        if let Err(e) = parse_window("window", w) {
                            problems.push(e);
                        }
                    }
                    (false, Some(_)) => problems.push(format!(
                        "`window` does not apply to statistic {statistic:?} (it is taken at one instant)"
                    )),
                    (false, None) => {}
                }
                for s in severities.iter().chain(sla_days.keys()) {
                    if !FINDING_SEVERITIES.contains(&s.as_str()) {
                        problems.push(format!(
                            "severity {s:?} is not one of {}",
                            FINDING_SEVERITIES.join(", ")
                        ));
                    }
                }
                if !sla_days.is_empty() && *statistic != FindingStatistic::SlaBreaches {
                    problems.push("`sla_days` only goes with statistic = \"sla_breaches\"".into());
                }
                if self.max_age.is_some() {
                    problems.push("max_age does not apply to a findings measure".into());
                }
            }
            DerivedKind::Rescaled {
                offset, multiplier, ..
            } => {
                if !offset.is_finite() || !multiplier.is_finite() {
                    problems.push("offset and multiplier must be finite numbers".into());
                }
            }
            DerivedKind::Grade { intervals, .. } | DerivedKind::Ranking { intervals, .. } => {
                let grade = matches!(self.kind, DerivedKind::Grade { .. });
                if intervals.is_empty() {
                    problems.push("intervals: at least one interval is needed".into());
                }
                for (i, iv) in intervals.iter().enumerate() {
                    if let (Some(l), Some(u)) = (iv.lower, iv.upper)
                        && (l > u || (l == u && !(iv.lower_closed && iv.upper_closed)))
                    {
                        problems.push(format!("intervals[{i}] {} is empty", iv.describe()));
                    }
                    match (grade, &iv.symbol, iv.rank) {
                        (true, None, _) => {
                            problems.push(format!("intervals[{i}] needs a `symbol`"))
                        }
                        (false, _, None) => problems.push(format!("intervals[{i}] needs a `rank`")),
                        _ => {}
                    }
                    for (j, other) in intervals.iter().enumerate().skip(i + 1) {
                        if iv.overlaps(other) {
                            problems.push(format!(
                                "intervals[{i}] {} and intervals[{j}] {} overlap",
                                iv.describe(),
                                other.describe()
                            ));
                        }
                    }
                }
            }
            DerivedKind::Expression { inputs, expression } => {
                match crate::expression::Expr::parse(expression) {
                    Err(e) => problems.push(format!("expression {expression:?}: {e}")),
                    Ok(e) => {
                        let used = e.names();
                        for name in &used {
                            if !inputs.contains_key(name) {
                                problems.push(format!(
                                    "expression {expression:?} reads `{name}`, which is not in `inputs`"
                                ));
                            }
                        }
                        for name in inputs.keys() {
                            if !used.contains(name) {
                                problems
                                    .push(format!("input `{name}` is not used by the expression"));
                            }
                        }
                    }
                }
            }
            DerivedKind::Binary { .. } | DerivedKind::Ratio { .. } => {}
        }
        problems
    }
}

/// A parsed and validated derived-measure file.
#[derive(Debug, Clone)]
pub struct DerivedMeasure {
    pub metadata: MeasureMetadata,
    pub definition: DerivedDefinition,
}

impl DerivedMeasure {
    /// Parse and validate a TOML definition; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<DerivedMeasure, CatalogueError> {
        let file: File = toml::from_str(text).map_err(|e| {
            CatalogueError::InvalidDerived(format!(
                "{origin}: {}",
                e.to_string().trim_end().replace('\n', " ")
            ))
        })?;
        let mut problems = unknown_keys(text, &file.derived.kind);
        problems.extend(file.derived.check());
        if !problems.is_empty() {
            return Err(CatalogueError::InvalidDerived(format!(
                "{origin}: {}",
                problems.join("; ")
            )));
        }
        let kind = match file.derived.kind {
            DerivedKind::Grade { .. } => MeasureKind::Grade,
            DerivedKind::Ranking { .. } => MeasureKind::Ranking,
            DerivedKind::Counting { .. } => MeasureKind::Counting,
            _ => MeasureKind::Direct,
        };
        let metadata = RawMetadata {
            id: file.measure.id,
            version: file.measure.version,
            name: file.measure.name,
            description: file.measure.description,
            kind,
            unit: file.measure.unit,
            scale: file.measure.scale,
            // A derived instance takes no configuration: its labels scope it.
            config_schema: r#"{"type":"object","additionalProperties":false}"#.into(),
            output: format!(
                "{} of {}",
                kind_name(&file.derived.kind),
                input_names(&file.derived)
            ),
        }
        .validate()?;
        Ok(DerivedMeasure {
            metadata,
            definition: file.derived,
        })
    }
}

/// Keys of `[derived]` that its kind does not take (serde cannot deny
/// unknown fields through the flattened, tagged kind).
fn unknown_keys(text: &str, kind: &DerivedKind) -> Vec<String> {
    let allowed: &[&str] = match kind {
        DerivedKind::Collective { .. } => {
            &["input", "accumulator", "window", "percentile", "group_by"]
        }
        DerivedKind::Binary { .. } => &["left", "right", "operator"],
        DerivedKind::Ratio { .. } => &["numerator", "denominator", "percent"],
        DerivedKind::Rescaled { .. } => &["input", "offset", "multiplier"],
        DerivedKind::Counting { .. } => &["input", "window", "predicate"],
        DerivedKind::Grade { .. } | DerivedKind::Ranking { .. } => &["input", "intervals"],
        DerivedKind::Expression { .. } => &["inputs", "expression"],
        DerivedKind::Findings { .. } => &[
            "input",
            "statistic",
            "window",
            "severities",
            "sla_days",
            "deployments",
        ],
        DerivedKind::Practices { .. } => &["practices", "asset_label", "freshness", "statistic"],
    };
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let Some(derived) = table.get("derived").and_then(|d| d.as_table()) else {
        return Vec::new();
    };
    derived
        .keys()
        .filter(|k| !["kind", "max_age"].contains(&k.as_str()) && !allowed.contains(&k.as_str()))
        .map(|k| {
            format!(
                "unknown key `{k}` for kind {} (expected: kind, max_age, {})",
                kind_name(kind),
                allowed.join(", ")
            )
        })
        .collect()
}

/// The SMM kind's name (`collective`, `ratio`, ...; `expression` for the
/// expression form).
pub fn kind_name(k: &DerivedKind) -> &'static str {
    match k {
        DerivedKind::Collective { .. } => "collective",
        DerivedKind::Binary { .. } => "binary",
        DerivedKind::Ratio { .. } => "ratio",
        DerivedKind::Rescaled { .. } => "rescaled",
        DerivedKind::Counting { .. } => "counting",
        DerivedKind::Grade { .. } => "grade",
        DerivedKind::Ranking { .. } => "ranking",
        DerivedKind::Expression { .. } => "expression",
        // SMM: a collective measure, accumulating over the findings set.
        DerivedKind::Findings { .. } | DerivedKind::Practices { .. } => "collective",
    }
}

fn input_names(d: &DerivedDefinition) -> String {
    d.inputs()
        .iter()
        .map(|(_, i)| i.measure.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATIO: &str = r#"
[measure]
id = "escape-rate"
version = "1.0.0"
name = "Defect escape rate"
unit = "%"
scale = "ratio"

[derived]
kind = "ratio"
max_age = "2d"
numerator = { measure = "escaped-defects" }
denominator = { measure = "deployments", labels = { env = "prod" } }
percent = true
"#;

    #[test]
    fn a_ratio_definition_parses() {
        let d = DerivedMeasure::parse("escape.toml", RATIO).unwrap();
        assert_eq!(d.metadata.id, "escape-rate");
        assert_eq!(d.definition.max_age(), Some(Duration::from_secs(2 * 86400)));
        let inputs = d.definition.inputs();
        assert_eq!(inputs[1].1.labels["env"], "prod");
        assert!(matches!(
            d.definition.kind,
            DerivedKind::Ratio { percent: true, .. }
        ));
    }

    fn derived(body: &str) -> Result<DerivedMeasure, CatalogueError> {
        let text = format!(
            "[measure]\nid = \"d\"\nversion = \"1.0.0\"\nname = \"D\"\nunit = \"1\"\nscale = \"ratio\"\n\n[derived]\n{body}"
        );
        DerivedMeasure::parse("d.toml", &text)
    }

    #[test]
    fn bad_definitions_say_what_and_where() {
        let err = derived("kind = \"median\"\ninput = { measure = \"x\" }")
            .unwrap_err()
            .to_string();
        assert!(err.contains("d.toml") && err.contains("median"), "{err}");
        let err = derived("kind = \"collective\"\ninput = { measure = \"x\" }\naccumulator = \"percentile\"\nwindow = \"forever\"").unwrap_err().to_string();
        assert!(
            err.contains("window \"forever\"") && err.contains("needs `percentile`"),
            "{err}"
        );
        let err = derived("kind = \"grade\"\ninput = { measure = \"x\" }\nintervals = [{ upper = 10, symbol = \"A\" }, { lower = 10, symbol = \"B\" }]").unwrap_err().to_string();
        assert!(err.contains("overlap"), "closed 10 in both: {err}");
        derived("kind = \"grade\"\ninput = { measure = \"x\" }\nintervals = [{ upper = 10, upper_closed = false, symbol = \"A\" }, { lower = 10, symbol = \"B\" }]").unwrap();
        let err = derived("kind = \"ranking\"\ninput = { measure = \"x\" }\nintervals = [{ lower = 5, upper = 1, rank = 1 }]").unwrap_err().to_string();
        assert!(err.contains("is empty"), "{err}");
        let err = derived("kind = \"rescaled\"\ninput = { measure = \"Bad Id\" }")
            .unwrap_err()
            .to_string();
        assert!(err.contains("kebab-case"), "{err}");
        let err = derived("kind = \"ratio\"\nnumerator = { measure = \"a\" }\ndenominator = { measure = \"b\" }\ntypo = 1").unwrap_err().to_string();
        assert!(err.contains("typo"), "{err}");
    }

    #[test]
    fn findings_definitions_are_checked() {
        let ok = derived("kind = \"findings\"\ninput = { measure = \"trivy-vulnerabilities\" }\nstatistic = \"mttr\"\nwindow = \"30d\"\nseverities = [\"critical\"]").unwrap();
        assert_eq!(kind_name(&ok.definition.kind), "collective");
        assert_eq!(ok.definition.inputs()[0].1.measure, "trivy-vulnerabilities");
        for (body, want) in [
            ("statistic = \"mttr\"", "needs a `window`"),
            ("statistic = \"open\"\nwindow = \"7d\"", "does not apply"),
            (
                "statistic = \"open\"\nseverities = [\"dire\"]",
                "\"dire\" is not one of",
            ),
            (
                "statistic = \"open\"\nsla_days = { high = 3 }",
                "only goes with",
            ),
            ("statistic = \"loudness\"", "loudness"),
            (
                "statistic = \"open\"\ngroup_by = [\"team\"]",
                "unknown key `group_by`",
            ),
            (
                "statistic = \"escape_rate\"\nwindow = \"30d\"",
                "needs `deployments`",
            ),
            (
                "statistic = \"open\"\ndeployments = { measure = \"d\" }",
                "only goes with statistic = \"escape_rate\"",
            ),
        ] {
            let err = derived(&format!(
                "kind = \"findings\"\ninput = {{ measure = \"x\" }}\n{body}"
            ))
            .unwrap_err()
            .to_string();
            assert!(err.contains(want), "{body}: {err}");
        }
    }

    #[test]
    fn detail_fields_are_read_by_kinds_over_the_latest_measurement_only() {
        let ok = derived("kind = \"grade\"\ninput = { measure = \"github-incidents\", field = \"security.change_failure_rate\" }\nintervals = [{ lower = 0, symbol = \"A\" }]").unwrap();
        let input = ok.definition.inputs()[0].1;
        assert_eq!(
            input.pointer().as_deref(),
            Some("/security/change_failure_rate")
        );
        let err = derived("kind = \"collective\"\ninput = { measure = \"m\", field = \"x\" }\naccumulator = \"sum\"\nwindow = \"7d\"").unwrap_err().to_string();
        assert!(err.contains("does not use"), "{err}");
        let err = derived("kind = \"rescaled\"\ninput = { measure = \"m\", field = \"a..b\" }")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a dotted path"), "{err}");
    }

    #[test]
    fn expressions_are_checked_against_their_inputs() {
        let ok = derived("kind = \"expression\"\nexpression = \"100 * failed / deployed\"\ninputs = { failed = { measure = \"f\" }, deployed = { measure = \"d\" } }").unwrap();
        assert_eq!(ok.definition.inputs().len(), 2);
        let err = derived("kind = \"expression\"\nexpression = \"100 * faild / deployed\"\ninputs = { failed = { measure = \"f\" }, deployed = { measure = \"d\" } }").unwrap_err().to_string();
        assert!(
            err.contains("reads `faild`") && err.contains("`failed` is not used"),
            "{err}"
        );
        let err = derived("kind = \"expression\"\nexpression = \"100 *\"\ninputs = {}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("column"), "{err}");
    }

    #[test]
    fn interval_endpoints() {
        let half_open = Interval {
            lower: Some(0.0),
            lower_closed: true,
            upper: Some(10.0),
            upper_closed: false,
            symbol: None,
            rank: None,
        };
        assert!(
            half_open.contains(0.0)
                && half_open.contains(9.999)
                && !half_open.contains(10.0)
                && !half_open.contains(-0.1)
        );
        let open_below = Interval {
            lower: Some(0.0),
            lower_closed: false,
            upper: None,
            upper_closed: true,
            symbol: None,
            rank: None,
        };
        assert!(!open_below.contains(0.0) && open_below.contains(1e300));
    }
}
