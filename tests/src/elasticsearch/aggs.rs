//! Metric aggregations: `sum`, `avg`, `min`, `max`, `value_count`, `stats`
//! on a field, with ES's empty results (sum 0.0, count 0, avg/min/max
//! `null`) and its compensated (Kahan) summation for sum and avg.

use serde_json::{Map, Value, json};

use super::cluster::{Doc, ShardView};
use super::dates::format_millis;
use super::error::{EsError, cause};
use super::mapping::{Found, Val, is_date, is_numeric};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Sum,
    Avg,
    Min,
    Max,
    ValueCount,
    Stats,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sum => "sum",
            Kind::Avg => "avg",
            Kind::Min => "min",
            Kind::Max => "max",
            Kind::ValueCount => "value_count",
            Kind::Stats => "stats",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Agg {
    pub name: String,
    kind: Kind,
    field: String,
    missing: Option<f64>,
}

const OTHER_AGGS: &[&str] = &[
    "terms",
    "multi_terms",
    "significant_terms",
    "significant_text",
    "rare_terms",
    "histogram",
    "date_histogram",
    "auto_date_histogram",
    "variable_width_histogram",
    "range",
    "date_range",
    "ip_range",
    "ip_prefix",
    "filter",
    "filters",
    "composite",
    "nested",
    "reverse_nested",
    "global",
    "missing",
    "sampler",
    "diversified_sampler",
    "random_sampler",
    "adjacency_matrix",
    "geohash_grid",
    "geotile_grid",
    "geohex_grid",
    "geo_distance",
    "geo_bounds",
    "geo_centroid",
    "geo_line",
    "cardinality",
    "percentiles",
    "percentile_ranks",
    "extended_stats",
    "top_hits",
    "top_metrics",
    "weighted_avg",
    "median_absolute_deviation",
    "boxplot",
    "rate",
    "string_stats",
    "t_test",
    "scripted_metric",
    "matrix_stats",
    "categorize_text",
    "frequent_item_sets",
    "time_series",
    "children",
    "parent",
    "bucket_script",
    "bucket_selector",
    "bucket_sort",
    "avg_bucket",
    "sum_bucket",
    "min_bucket",
    "max_bucket",
    "stats_bucket",
    "extended_stats_bucket",
    "percentiles_bucket",
    "derivative",
    "cumulative_sum",
    "cumulative_cardinality",
    "moving_fn",
    "moving_percentiles",
    "serial_diff",
    "normalize",
    "inference",
    "change_point",
];

pub(crate) fn parse_aggs(v: &Value) -> Result<Vec<Agg>, EsError> {
    let Some(obj) = v.as_object() else {
        return Err(EsError::parsing(
            "Expected [START_OBJECT] under [aggregations], but got a [VALUE_STRING]",
        ));
    };
    let mut out = Vec::new();
    for (name, def) in obj {
        if name.contains(['[', ']', '>']) {
            return Err(EsError::parsing(format!(
                "Invalid aggregation name [{name}]. Aggregation names can contain any character except '[', ']', and '>'"
            )));
        }
        let Some(def) = def.as_object() else {
            return Err(EsError::parsing(format!(
                "Aggregation definition for [{name}] starts with a [VALUE_STRING], expected a [START_OBJECT]."
            )));
        };
        let mut kind = None;
        for (k, body) in def {
            match k.as_str() {
                "aggs" | "aggregations" => {
                    if let Some(t) = def
                        .keys()
                        .find(|t| !matches!(t.as_str(), "aggs" | "aggregations" | "meta"))
                    {
                        return Err(EsError::new(
                            400,
                            "aggregation_initialization_exception",
                            format!(
                                "Aggregator [{name}] of type [{t}] cannot accept sub-aggregations"
                            ),
                        ));
                    }
                }
                "meta" => {}
                t => {
                    if let Some((prev, _)) = &kind {
                        return Err(EsError::parsing(format!(
                            "Found two aggregation type definitions in [{name}]: [{prev}] and [{t}]"
                        )));
                    }
                    let k = match t {
                        "sum" => Kind::Sum,
                        "avg" => Kind::Avg,
                        "min" => Kind::Min,
                        "max" => Kind::Max,
                        "value_count" => Kind::ValueCount,
                        "stats" => Kind::Stats,
                        t if OTHER_AGGS.contains(&t) => {
                            return Err(EsError::unsupported(format!("[{t}] aggregations")));
                        }
                        t => {
                            return Err(EsError::parsing(format!(
                                "Unknown aggregation type [{t}]"
                            )));
                        }
                    };
                    kind = Some((t.to_string(), (k, body.clone())));
                }
            }
        }
        let Some((_, (kind, body))) = kind else {
            return Err(EsError::parsing(format!(
                "Missing definition for aggregation [{name}]"
            )));
        };
        let Some(body) = body.as_object() else {
            return Err(EsError::parsing(format!(
                "[{}] query malformed",
                kind.name()
            )));
        };
        let (mut field, mut missing) = (None, None);
        for (k, v) in body {
            match k.as_str() {
                "field" => field = v.as_str().map(str::to_string),
                "missing" => {
                    missing = v
                        .as_f64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                }
                "script" => return Err(EsError::unsupported("aggregation scripts")),
                "format" | "value_type" => {}
                other => {
                    return Err(EsError::x_content(format!(
                        "[{}] unknown field [{other}]",
                        kind.name()
                    )));
                }
            }
        }
        let field = field.ok_or_else(|| {
            EsError::illegal_argument(
                "Required one of fields [field, script], but none were specified. ",
            )
        })?;
        out.push(Agg {
            name: name.clone(),
            kind,
            field,
            missing,
        });
    }
    Ok(out)
}

/// ES's `CompensatedSum`.
#[derive(Default, Clone, Copy)]
struct Kahan {
    value: f64,
    delta: f64,
}

impl Kahan {
    fn add(&mut self, v: f64) {
        if !v.is_finite() || !self.value.is_finite() {
            self.value += v;
            return;
        }
        let corrected = v - self.delta;
        let next = self.value + corrected;
        self.delta = (next - self.value) - corrected;
        self.value = next;
    }
}

/// Check the field on every shard (shard-level failure causes).
pub(crate) fn validate(aggs: &[Agg], shards: &[ShardView]) -> Result<(), (Value, String)> {
    for a in aggs {
        for s in shards {
            let ty = match s.mapping.lookup(&a.field) {
                Some(Found::Leaf(l)) => l.ty.clone(),
                Some(Found::Keyed) => "keyword".into(),
                Some(Found::Object) | None => continue,
            };
            let ok = match a.kind {
                Kind::ValueCount => ty != "text" && ty != "match_only_text",
                Kind::Min | Kind::Max => is_numeric(&ty) || is_date(&ty) || ty == "boolean",
                _ => is_numeric(&ty) || ty == "boolean",
            };
            if !ok {
                let reason = if ty == "text" || ty == "match_only_text" {
                    format!(
                        "Fielddata is disabled on [{}] in [{}]. Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead.",
                        a.field, s.index
                    )
                } else {
                    format!(
                        "Field [{}] of type [{ty}] is not supported for aggregation [{}]",
                        a.field,
                        a.kind.name()
                    )
                };
                return Err((cause("illegal_argument_exception", reason), s.index.clone()));
            }
        }
    }
    Ok(())
}

/// Run the aggregations over the matching documents.
pub(crate) fn run(aggs: &[Agg], matched: &[(&ShardView, &Doc)], typed_keys: bool) -> Value {
    let mut out = Map::new();
    for a in aggs {
        let mut sum = Kahan::default();
        let (mut count, mut min, mut max) = (0u64, f64::INFINITY, f64::NEG_INFINITY);
        let mut is_date_field = false;
        for (shard, doc) in matched {
            if let Some(ty) = shard.mapping.field_type(&a.field) {
                is_date_field |= is_date(&ty);
            }
            let vals = doc
                .values
                .get(&a.field)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let mut any = false;
            for v in vals {
                let n = match v {
                    Val::Num(n) => Some(*n),
                    Val::Date(d) => Some(*d as f64),
                    Val::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
                    Val::Str(_) | Val::Text(_) => None,
                };
                any = true;
                count += 1;
                if let Some(n) = n {
                    sum.add(n);
                    min = min.min(n);
                    max = max.max(n);
                }
            }
            if !any && let Some(m) = a.missing {
                count += 1;
                sum.add(m);
                min = min.min(m);
                max = max.max(m);
            }
        }
        let opt = |x: f64| if count == 0 { Value::Null } else { json!(x) };
        let with_string = |mut v: Value, x: f64| {
            if is_date_field && count > 0 {
                v["value_as_string"] = json!(format_millis(x as i64));
            }
            v
        };
        let body = match a.kind {
            Kind::Sum => json!({"value": sum.value}),
            Kind::Avg => json!({"value": opt(sum.value / count as f64)}),
            Kind::Min => with_string(json!({"value": opt(min)}), min),
            Kind::Max => with_string(json!({"value": opt(max)}), max),
            Kind::ValueCount => json!({"value": count}),
            Kind::Stats => {
                json!({"count": count, "min": opt(min), "max": opt(max), "avg": opt(sum.value / count as f64), "sum": sum.value})
            }
        };
        let key = if typed_keys {
            format!("{}#{}", a.kind.name(), a.name)
        } else {
            a.name.clone()
        };
        out.insert(key, body);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::Kahan;

    #[test]
    fn compensated_sum_is_exact_where_naive_drifts() {
        let mut k = Kahan::default();
        let mut naive = 0.0;
        for _ in 0..10 {
            k.add(0.1);
            naive += 0.1;
        }
        assert_eq!(k.value, 1.0);
        assert_ne!(naive, 1.0);
    }
}
