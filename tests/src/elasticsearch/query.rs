//! The query DSL subset: `bool` (must/filter/should/must_not,
//! minimum_should_match), `term`, `terms`, `range`, `exists`, `ids`,
//! `prefix`, `match_all`, `match_none`, `constant_score`.
//!
//! A query is parsed once (request-level `parsing_exception`s), then
//! compiled against each shard's mapping (shard-level failures, e.g. a
//! date that does not parse), then evaluated on each document's indexed
//! values. Other real query types are refused as unsupported.

use serde_json::{Map, Value};

use super::cluster::{Doc, ShardView};
use super::dates::{self, DEFAULT_FORMAT};
use super::error::{EsError, cause};
use super::mapping::{Found, Val, is_date, is_keyword_like, is_numeric, tokens};

#[derive(Debug, Clone)]
pub(crate) enum Query {
    MatchAll(f32),
    MatchNone,
    Term {
        field: String,
        values: Vec<Value>,
        boost: f32,
        ci: bool,
    },
    Range {
        field: String,
        lo: Option<(Value, bool)>,
        hi: Option<(Value, bool)>,
        format: Option<String>,
        boost: f32,
    },
    Exists {
        field: String,
        boost: f32,
    },
    Prefix {
        field: String,
        value: String,
        ci: bool,
        boost: f32,
    },
    Ids {
        values: Vec<String>,
        boost: f32,
    },
    Bool {
        must: Vec<Query>,
        filter: Vec<Query>,
        should: Vec<Query>,
        must_not: Vec<Query>,
        msm: Option<Value>,
        boost: f32,
    },
    Constant {
        filter: Box<Query>,
        boost: f32,
    },
}

const OTHER_QUERIES: &[&str] = &[
    "match",
    "match_phrase",
    "match_phrase_prefix",
    "match_bool_prefix",
    "multi_match",
    "query_string",
    "simple_query_string",
    "wildcard",
    "regexp",
    "fuzzy",
    "nested",
    "has_child",
    "has_parent",
    "parent_id",
    "function_score",
    "script_score",
    "script",
    "dis_max",
    "boosting",
    "geo_bounding_box",
    "geo_distance",
    "geo_grid",
    "geo_polygon",
    "geo_shape",
    "shape",
    "more_like_this",
    "percolate",
    "rank_feature",
    "distance_feature",
    "pinned",
    "wrapper",
    "combined_fields",
    "intervals",
    "knn",
    "span_term",
    "span_near",
    "span_or",
    "span_not",
    "span_first",
    "span_multi",
    "span_containing",
    "span_within",
    "field_masking_span",
    "terms_set",
    "sparse_vector",
    "semantic",
    "text_expansion",
    "weighted_tokens",
    "rule",
];

fn bad(reason: String) -> EsError {
    EsError::parsing(reason)
}

fn boost_of(v: &Value) -> Result<f32, EsError> {
    v.as_f64()
        .map(|b| b as f32)
        .ok_or_else(|| bad("[boost] must be a number".into()))
}

/// The single `field: body` entry of a field-level query.
fn single_field<'a>(
    name: &str,
    body: &'a Map<String, Value>,
) -> Result<(&'a String, &'a Value), EsError> {
    let mut fields = body.iter();
    let Some(first) = fields.next() else {
        return Err(bad(format!("[{name}] query doesn't support empty fields")));
    };
    if let Some(second) = fields.next() {
        return Err(bad(format!(
            "[{name}] query doesn't support multiple fields, found [{}] and [{}]",
            first.0, second.0
        )));
    }
    Ok(first)
}

pub(crate) fn parse_query(v: &Value) -> Result<Query, EsError> {
    let Some(obj) = v.as_object() else {
        return Err(bad("query malformed, must start with start_object".into()));
    };
    let mut it = obj.iter();
    let Some((kind, body)) = it.next() else {
        return Err(bad("query malformed, empty clause found".into()));
    };
    if it.next().is_some() {
        return Err(bad(format!(
            "[{kind}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]"
        )));
    }
    let Some(body) = body.as_object() else {
        return Err(bad(format!(
            "[{kind}] query malformed, no start_object after query name"
        )));
    };
    let unsupported_key = |k: &str| bad(format!("[{kind}] query does not support [{k}]"));
    let mut boost = 1.0f32;
    match kind.as_str() {
        "match_all" | "match_none" => {
            for (k, v) in body {
                match k.as_str() {
                    "boost" => boost = boost_of(v)?,
                    "_name" => {}
                    _ => return Err(unsupported_key(k)),
                }
            }
            Ok(if kind == "match_all" {
                Query::MatchAll(boost)
            } else {
                Query::MatchNone
            })
        }
        "term" | "prefix" => {
            let (field, spec) = single_field(kind, body)?;
            let (mut value, mut ci) = (None, false);
            match spec {
                Value::Object(m) => {
                    for (k, v) in m {
                        match k.as_str() {
                            "value" => value = Some(v.clone()),
                            "boost" => boost = boost_of(v)?,
                            "case_insensitive" => ci = v.as_bool().unwrap_or(false),
                            "_name" | "rewrite" => {}
                            _ => return Err(unsupported_key(k)),
                        }
                    }
                }
                Value::Array(_) => {
                    return Err(bad(format!(
                        "[{kind}] query does not support array of values"
                    )));
                }
                other => value = Some(other.clone()),
            }
            let value = value
                .filter(|v| !v.is_null())
                .ok_or_else(|| bad(format!("[{kind}] query value cannot be null")))?;
            if kind == "prefix" {
                let value = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_string);
                return Ok(Query::Prefix {
                    field: field.clone(),
                    value,
                    ci,
                    boost,
                });
            }
            Ok(Query::Term {
                field: field.clone(),
                values: vec![value],
                boost,
                ci,
            })
        }
        "terms" => {
            let mut target = None;
            for (k, v) in body {
                match k.as_str() {
                    "boost" => boost = boost_of(v)?,
                    "_name" => {}
                    _ => {
                        if target.is_some() {
                            return Err(bad(
                                "[terms] query does not support multiple fields".into()
                            ));
                        }
                        match v {
                            Value::Array(a) => target = Some((k.clone(), a.clone())),
                            Value::Object(_) => return Err(EsError::unsupported("terms lookup")),
                            _ => return Err(bad(format!("[terms] query does not support [{k}]"))),
                        }
                    }
                }
            }
            let (field, values) = target.ok_or_else(|| {
                bad("[terms] query requires a field with an array of values".into())
            })?;
            if values.iter().any(Value::is_null) {
                return Err(bad("No value specified for terms query".into()));
            }
            Ok(Query::Term {
                field,
                values,
                boost,
                ci: false,
            })
        }
        "range" => {
            let (field, spec) = single_field(kind, body)?;
            let Some(spec) = spec.as_object() else {
                return Err(bad(
                    "[range] query malformed, no start_object after query name".into(),
                ));
            };
            let (mut lo, mut hi, mut format) = (None, None, None);
            let (mut include_lower, mut include_upper) = (true, true);
            let (mut from, mut to) = (None, None);
            for (k, v) in spec {
                let v = (!v.is_null()).then(|| v.clone());
                match k.as_str() {
                    "gt" => lo = v.map(|v| (v, false)),
                    "gte" => lo = v.map(|v| (v, true)),
                    "lt" => hi = v.map(|v| (v, false)),
                    "lte" => hi = v.map(|v| (v, true)),
                    "from" => from = v,
                    "to" => to = v,
                    "include_lower" => include_lower = v.and_then(|v| v.as_bool()).unwrap_or(true),
                    "include_upper" => include_upper = v.and_then(|v| v.as_bool()).unwrap_or(true),
                    "format" => format = v.and_then(|v| v.as_str().map(str::to_string)),
                    "boost" => boost = v.map_or(Ok(1.0), |v| boost_of(&v))?,
                    "time_zone" => {
                        let tz = v
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default();
                        if !matches!(tz.as_str(), "UTC" | "Z" | "+00:00" | "Etc/UTC") {
                            return Err(EsError::unsupported("range time_zone other than UTC"));
                        }
                    }
                    "relation" | "_name" => {}
                    _ => return Err(unsupported_key(k)),
                }
            }
            if let Some(f) = from {
                lo = Some((f, include_lower));
            }
            if let Some(t) = to {
                hi = Some((t, include_upper));
            }
            if let Some(f) = &format
                && !f.split("||").all(|p| dates::is_known_format(p.trim()))
            {
                return Err(EsError::unsupported(format!("custom date format [{f}]")));
            }
            Ok(Query::Range {
                field: field.clone(),
                lo,
                hi,
                format,
                boost,
            })
        }
        "exists" => {
            let mut field = None;
            for (k, v) in body {
                match k.as_str() {
                    "field" => field = v.as_str().map(str::to_string),
                    "boost" => boost = boost_of(v)?,
                    "_name" => {}
                    _ => return Err(unsupported_key(k)),
                }
            }
            let field =
                field.ok_or_else(|| bad("[exists] must be provided with a [field]".into()))?;
            Ok(Query::Exists { field, boost })
        }
        "ids" => {
            let mut values = Vec::new();
            for (k, v) in body {
                match k.as_str() {
                    "values" => {
                        values = v
                            .as_array()
                            .ok_or_else(|| bad("[ids] values must be an array".into()))?
                            .iter()
                            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                            .collect()
                    }
                    "boost" => boost = boost_of(v)?,
                    "_name" => {}
                    _ => return Err(unsupported_key(k)),
                }
            }
            Ok(Query::Ids { values, boost })
        }
        "bool" => {
            let (mut must, mut filter, mut should, mut must_not, mut msm) =
                (vec![], vec![], vec![], vec![], None);
            for (k, v) in body {
                let clauses = || -> Result<Vec<Query>, EsError> {
                    match v {
                        Value::Array(a) => a.iter().map(parse_query).collect(),
                        Value::Object(_) => Ok(vec![parse_query(v)?]),
                        _ => Err(bad(format!("[bool] query does not support [{k}]"))),
                    }
                };
                match k.as_str() {
                    "must" => must.extend(clauses()?),
                    "filter" => filter.extend(clauses()?),
                    "should" => should.extend(clauses()?),
                    "must_not" => must_not.extend(clauses()?),
                    "minimum_should_match" => msm = Some(v.clone()),
                    "boost" => boost = boost_of(v)?,
                    "_name" | "adjust_pure_negative" => {}
                    _ => return Err(unsupported_key(k)),
                }
            }
            Ok(Query::Bool {
                must,
                filter,
                should,
                must_not,
                msm,
                boost,
            })
        }
        "constant_score" => {
            let mut filter = None;
            for (k, v) in body {
                match k.as_str() {
                    "filter" => filter = Some(parse_query(v)?),
                    "boost" => boost = boost_of(v)?,
                    "_name" => {}
                    _ => return Err(unsupported_key(k)),
                }
            }
            let filter =
                filter.ok_or_else(|| bad("[constant_score] requires a 'filter' element".into()))?;
            Ok(Query::Constant {
                filter: Box::new(filter),
                boost,
            })
        }
        k if OTHER_QUERIES.contains(&k) => Err(EsError::unsupported(format!("[{k}] queries"))),
        k => Err(bad(format!("unknown query [{k}]"))),
    }
}

// ---- per shard --------------------------------------------------------

#[derive(Debug)]
pub(crate) enum Cmp {
    Num(f64),
    Str(String),
}

#[derive(Debug)]
pub(crate) enum Test {
    Str(Vec<String>, bool),
    Num(Vec<f64>),
    Bool(Vec<bool>),
    Token(Vec<String>),
    Prefix(String, bool),
    Range(Option<(Cmp, bool)>, Option<(Cmp, bool)>),
}

#[derive(Debug)]
pub(crate) enum Compiled {
    All(f32),
    Nothing,
    Values {
        field: String,
        test: Test,
        boost: f32,
    },
    Exists {
        field: String,
        object: bool,
        boost: f32,
    },
    Ids(Vec<String>, f32),
    Bool {
        must: Vec<Compiled>,
        filter: Vec<Compiled>,
        should: Vec<Compiled>,
        must_not: Vec<Compiled>,
        msm: usize,
        boost: f32,
    },
    Constant(Box<Compiled>, f32),
}

fn value_text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// A shard-level failure (`query_shard_exception` with the index).
fn shard_error(shard: &ShardView, inner: Value) -> Value {
    let mut c = cause(
        "query_shard_exception",
        format!(
            "failed to create query: {}",
            inner["reason"].as_str().unwrap_or_default()
        ),
    );
    c["index_uuid"] = shard.uuid.clone().into();
    c["index"] = shard.index.clone().into();
    c["caused_by"] = inner;
    c
}

fn parse_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_date_value(v: &Value, format: &str, round_up: bool) -> Result<i64, Value> {
    let text = value_text(v);
    let parsed = match v {
        Value::Number(n) if format.contains("epoch_millis") => n.as_f64().map(|f| f as i64),
        _ => dates::parse_date_math(&text, format, round_up),
    };
    parsed.ok_or_else(|| {
        cause(
            "parse_exception",
            format!("failed to parse date field [{text}] with format [{format}]: [failed to parse date field [{text}] with format [{format}]]"),
        )
    })
}

/// Compile against one shard's mapping; `Err` is the shard failure cause.
pub(crate) fn compile(q: &Query, shard: &ShardView) -> Result<Compiled, Value> {
    let m = &shard.mapping;
    Ok(match q {
        Query::MatchAll(b) => Compiled::All(*b),
        Query::MatchNone => Compiled::Nothing,
        Query::Ids { values, boost } => Compiled::Ids(values.clone(), *boost),
        Query::Term {
            field,
            values,
            boost,
            ci,
        } => {
            if field == "_id" {
                return Ok(Compiled::Ids(
                    values.iter().map(value_text).collect(),
                    *boost,
                ));
            }
            if field == "_index" {
                let hit = values
                    .iter()
                    .map(value_text)
                    .any(|v| v == shard.index || Some(&v) == shard.data_stream.as_ref());
                return Ok(if hit {
                    Compiled::All(*boost)
                } else {
                    Compiled::Nothing
                });
            }
            let (ty, leaf) = match m.lookup(field) {
                Some(Found::Leaf(l)) => (l.ty.as_str(), Some(l)),
                Some(Found::Keyed) => ("keyword", None),
                _ => return Ok(Compiled::Nothing),
            };
            let test = match ty {
                "constant_keyword" => {
                    let constant = leaf.and_then(|l| l.params.get("value")).and_then(Value::as_str);
                    let hit = constant.is_some_and(|c| values.iter().any(|v| value_text(v) == c));
                    return Ok(if hit { Compiled::All(*boost) } else { Compiled::Nothing });
                }
                t if is_keyword_like(t) => Test::Str(values.iter().map(|v| if *ci { value_text(v).to_lowercase() } else { value_text(v) }).collect(), *ci),
                t if is_numeric(t) => Test::Num(
                    values
                        .iter()
                        .map(|v| parse_number(v).ok_or_else(|| shard_error(shard, cause("number_format_exception", format!("For input string: \"{}\"", value_text(v))))))
                        .collect::<Result<_, _>>()?,
                ),
                t if is_date(t) => {
                    let format = leaf.and_then(|l| l.params.get("format")).and_then(Value::as_str).unwrap_or(DEFAULT_FORMAT);
                    Test::Num(values.iter().map(|v| parse_date_value(v, format, false).map(|ms| ms as f64)).collect::<Result<_, _>>()?)
                }
                "boolean" => Test::Bool(
                    values
                        .iter()
                        .map(|v| match value_text(v).as_str() {
                            "true" => Ok(true),
                            "false" => Ok(false),
                            other => Err(shard_error(shard, cause("illegal_argument_exception", format!("Can't parse boolean value [{other}], expected [true] or [false]")))),
                        })
                        .collect::<Result<_, _>>()?,
                ),
                "text" | "match_only_text" => Test::Token(values.iter().map(value_text).collect()),
                _ => return Ok(Compiled::Nothing),
            };
            Compiled::Values {
                field: field.clone(),
                test,
                boost: *boost,
            }
        }
        Query::Prefix {
            field,
            value,
            ci,
            boost,
        } => match m.field_type(field).as_deref() {
            Some(t) if is_keyword_like(t) => Compiled::Values {
                field: field.clone(),
                test: Test::Prefix(
                    if *ci {
                        value.to_lowercase()
                    } else {
                        value.clone()
                    },
                    *ci,
                ),
                boost: *boost,
            },
            Some("text" | "match_only_text") => Compiled::Values {
                field: field.clone(),
                test: Test::Token(vec![]),
                boost: *boost,
            },
            _ => Compiled::Nothing,
        },
        Query::Range {
            field,
            lo,
            hi,
            format,
            boost,
        } => {
            let (ty, leaf) = match m.lookup(field) {
                Some(Found::Leaf(l)) => (l.ty.clone(), Some(l)),
                Some(Found::Keyed) => ("keyword".to_string(), None),
                _ => return Ok(Compiled::Nothing),
            };
            let bound = |b: &Option<(Value, bool)>,
                         upper: bool|
             -> Result<Option<(Cmp, bool)>, Value> {
                let Some((v, inclusive)) = b else {
                    return Ok(None);
                };
                let c = if is_numeric(&ty) {
                    Cmp::Num(parse_number(v).ok_or_else(|| {
                        shard_error(
                            shard,
                            cause(
                                "number_format_exception",
                                format!("For input string: \"{}\"", value_text(v)),
                            ),
                        )
                    })?)
                } else if is_date(&ty) {
                    let f = format
                        .clone()
                        .or_else(|| {
                            leaf.and_then(|l| l.params.get("format"))
                                .and_then(Value::as_str)
                                .map(str::to_string)
                        })
                        .unwrap_or_else(|| DEFAULT_FORMAT.into());
                    // gt and lte round up, gte and lt round down (date math `/unit`)
                    let round_up = upper == *inclusive;
                    Cmp::Num(parse_date_value(v, &f, round_up)? as f64)
                } else if is_keyword_like(&ty) {
                    Cmp::Str(value_text(v))
                } else {
                    return Err(shard_error(
                        shard,
                        cause(
                            "illegal_argument_exception",
                            format!(
                                "range queries on field type [{ty}] are not supported by the stand-in"
                            ),
                        ),
                    ));
                };
                Ok(Some((c, *inclusive)))
            };
            Compiled::Values {
                field: field.clone(),
                test: Test::Range(bound(lo, false)?, bound(hi, true)?),
                boost: *boost,
            }
        }
        Query::Exists { field, boost } => match m.lookup(field) {
            Some(Found::Leaf(l)) if l.ty == "constant_keyword" => {
                if l.params.contains_key("value") {
                    Compiled::All(*boost)
                } else {
                    Compiled::Nothing
                }
            }
            Some(Found::Leaf(_) | Found::Keyed) => Compiled::Exists {
                field: field.clone(),
                object: false,
                boost: *boost,
            },
            Some(Found::Object) => Compiled::Exists {
                field: field.clone(),
                object: true,
                boost: *boost,
            },
            None => Compiled::Nothing,
        },
        Query::Bool {
            must,
            filter,
            should,
            must_not,
            msm,
            boost,
        } => {
            let all = |qs: &Vec<Query>| {
                qs.iter()
                    .map(|q| compile(q, shard))
                    .collect::<Result<Vec<_>, _>>()
            };
            let default = if should.is_empty() || !(must.is_empty() && filter.is_empty()) {
                0
            } else {
                1
            };
            let n = should.len() as i64;
            let msm = match msm {
                None => default,
                Some(v) => {
                    let text = value_text(v);
                    let want = if let Some(p) = text.strip_suffix('%') {
                        let p: i64 = p.trim().parse().unwrap_or(0);
                        let k = n * p.abs() / 100;
                        if p < 0 { n - k } else { k }
                    } else {
                        let k: i64 = text.trim().parse().unwrap_or(0);
                        if k < 0 { n + k } else { k }
                    };
                    want.clamp(0, n) as usize
                }
            };
            Compiled::Bool {
                must: all(must)?,
                filter: all(filter)?,
                should: all(should)?,
                must_not: all(must_not)?,
                msm,
                boost: *boost,
            }
        }
        Query::Constant { filter, boost } => {
            Compiled::Constant(Box::new(compile(filter, shard)?), *boost)
        }
    })
}

impl Test {
    fn matches(&self, v: &Val) -> bool {
        let cmp = |x: &Cmp, v: &Val| -> Option<std::cmp::Ordering> {
            match (v, x) {
                (Val::Num(n), Cmp::Num(b)) => n.partial_cmp(b),
                (Val::Date(d), Cmp::Num(b)) => (*d as f64).partial_cmp(b),
                (Val::Str(s), Cmp::Str(b)) => Some(s.as_str().cmp(b.as_str())),
                _ => None,
            }
        };
        match (self, v) {
            (Test::Str(list, false), Val::Str(s)) => list.iter().any(|x| x == s),
            (Test::Str(list, true), Val::Str(s)) => list.contains(&s.to_lowercase()),
            (Test::Num(list), Val::Num(n)) => list.contains(n),
            (Test::Num(list), Val::Date(d)) => list.contains(&(*d as f64)),
            (Test::Bool(list), Val::Bool(b)) => list.contains(b),
            (Test::Token(list), Val::Text(t)) => tokens(t).any(|tok| list.contains(&tok)),
            (Test::Prefix(p, ci), Val::Str(s)) => {
                if *ci {
                    s.to_lowercase().starts_with(p.as_str())
                } else {
                    s.starts_with(p.as_str())
                }
            }
            (Test::Range(lo, hi), v) => {
                use std::cmp::Ordering::{Equal, Greater, Less};
                // `cmp(bound, v)` orders the value against the bound
                let lo_ok = lo.as_ref().is_none_or(|(b, inc)| match cmp(b, v) {
                    Some(Greater) => true,
                    Some(Equal) => *inc,
                    _ => false,
                });
                let hi_ok = hi.as_ref().is_none_or(|(b, inc)| match cmp(b, v) {
                    Some(Less) => true,
                    Some(Equal) => *inc,
                    _ => false,
                });
                lo_ok && hi_ok
            }
            _ => false,
        }
    }
}

impl Compiled {
    /// The document's score if it matches (0 in filter context).
    pub(crate) fn eval(&self, doc: &Doc, scoring: bool) -> Option<f32> {
        let score = |b: f32| Some(if scoring { b } else { 0.0 });
        match self {
            Compiled::All(b) => score(*b),
            Compiled::Nothing => None,
            Compiled::Values { field, test, boost } => {
                let vals = doc.values.get(field)?;
                if vals.iter().any(|v| test.matches(v)) {
                    score(*boost)
                } else {
                    None
                }
            }
            Compiled::Exists {
                field,
                object,
                boost,
            } => {
                let found = if *object {
                    let prefix = format!("{field}.");
                    doc.values
                        .range(prefix.clone()..)
                        .next()
                        .is_some_and(|(k, v)| k.starts_with(&prefix) && !v.is_empty())
                } else {
                    doc.values.get(field).is_some_and(|v| !v.is_empty())
                };
                if found { score(*boost) } else { None }
            }
            Compiled::Ids(ids, b) => {
                if ids.contains(&doc.id) {
                    score(*b)
                } else {
                    None
                }
            }
            Compiled::Constant(q, b) => q.eval(doc, false).and_then(|_| score(*b)),
            Compiled::Bool {
                must,
                filter,
                should,
                must_not,
                msm,
                boost,
            } => {
                let mut total = 0.0;
                for q in must {
                    total += q.eval(doc, scoring)?;
                }
                for q in filter {
                    q.eval(doc, false)?;
                }
                if must_not.iter().any(|q| q.eval(doc, false).is_some()) {
                    return None;
                }
                let mut matched = 0;
                for q in should {
                    if let Some(s) = q.eval(doc, scoring) {
                        matched += 1;
                        total += s;
                    }
                }
                if matched < *msm {
                    return None;
                }
                Some(if scoring { total * boost } else { 0.0 })
            }
        }
    }
}
