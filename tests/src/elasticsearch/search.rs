//! `_search` (with or without a point in time), `_count`, `_pit`.
//!
//! Shapes follow `specification/_global/search/` (`SearchRequestBody.ts`,
//! `SearchResponse.ts`, `_types/hits.ts`: `HitsMetadata`, `TotalHits`,
//! `Hit`), `specification/_global/open_point_in_time/` and
//! `close_point_in_time/`, `specification/_global/count/`.
//!
//! Only refreshed documents are visible; a PIT searches the snapshots taken
//! when it was opened and adds the implicit `_shard_doc` tiebreaker to an
//! explicit sort, so its hits' `sort` values end with that tiebreaker.

use std::cmp::Ordering;
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::aggs::{self, Agg};
use super::cluster::{Cluster, Doc, ShardView};
use super::dates::{self, DEFAULT_FORMAT};
use super::error::{EsError, cause};
use super::mapping::{Found, glob, is_date, is_integer, is_keyword_like, is_numeric};
use super::query::{Compiled, Query, compile, parse_query};
use super::server::Req;

#[derive(Clone, Copy, PartialEq, Debug)]
enum TrackTotal {
    Exact,
    UpTo(u64),
    Off,
}

#[derive(Clone, Debug)]
struct SortSpec {
    field: String,
    desc: bool,
    missing_first: bool,
    missing: Option<Value>,
    unmapped_type: Option<String>,
    mode: Option<String>,
    format: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Score,
    Doc,
    ShardDoc,
    Int,
    Float,
    Date,
    Str,
    Bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Key {
    Missing,
    Num(f64),
    Str(String),
}

#[derive(Clone, Debug, Default)]
pub(crate) struct SourceFilter {
    fetch: bool,
    includes: Vec<String>,
    excludes: Vec<String>,
}

fn token_name(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "START_OBJECT",
        Value::Array(_) => "START_ARRAY",
        Value::String(_) => "VALUE_STRING",
        Value::Number(_) => "VALUE_NUMBER",
        Value::Bool(_) => "VALUE_BOOLEAN",
        Value::Null => "VALUE_NULL",
    }
}

fn int_of(v: &Value, what: &str) -> Result<i64, EsError> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| {
            EsError::x_content(format!(
                "[1:1] [{what}] failed to parse field: expected an integer"
            ))
        })
}

impl SourceFilter {
    fn all() -> Self {
        SourceFilter {
            fetch: true,
            ..Default::default()
        }
    }

    fn parse(v: &Value) -> Result<Self, EsError> {
        let list = |v: &Value| -> Result<Vec<String>, EsError> {
            match v {
                Value::String(s) => Ok(vec![s.clone()]),
                Value::Array(a) => Ok(a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()),
                other => Err(EsError::parsing(format!(
                    "Unknown key for a {} in [_source].",
                    token_name(other)
                ))),
            }
        };
        Ok(match v {
            Value::Bool(b) => SourceFilter {
                fetch: *b,
                ..Default::default()
            },
            Value::String(_) | Value::Array(_) => SourceFilter {
                fetch: true,
                includes: list(v)?,
                excludes: vec![],
            },
            Value::Object(m) => {
                let mut f = SourceFilter::all();
                for (k, v) in m {
                    match k.as_str() {
                        "includes" | "include" => f.includes = list(v)?,
                        "excludes" | "exclude" => f.excludes = list(v)?,
                        _ => {
                            return Err(EsError::parsing(format!(
                                "Unknown key for a {} in [{k}].",
                                token_name(v)
                            )));
                        }
                    }
                }
                f
            }
            other => {
                return Err(EsError::parsing(format!(
                    "Unknown key for a {} in [_source].",
                    token_name(other)
                )));
            }
        })
    }

    fn excluded(&self, path: &str) -> bool {
        self.excludes.iter().any(|p| glob(p, path))
    }

    fn included(&self, path: &str) -> bool {
        self.includes.is_empty() || self.includes.iter().any(|p| glob(p, path))
    }

    fn apply(&self, src: &Value) -> Option<Value> {
        if !self.fetch {
            return None;
        }
        if self.includes.is_empty() && self.excludes.is_empty() {
            return Some(src.clone());
        }
        Some(match src {
            Value::Object(m) => Value::Object(self.filter_obj(m, "", false)),
            other => other.clone(),
        })
    }

    fn filter_obj(
        &self,
        m: &Map<String, Value>,
        path: &str,
        parent_in: bool,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in m {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if self.excluded(&p) {
                continue;
            }
            let inc = parent_in || self.included(&p);
            if let Some(v) = self.filter_value(v, &p, inc) {
                out.insert(k.clone(), v);
            }
        }
        out
    }

    fn filter_value(&self, v: &Value, p: &str, inc: bool) -> Option<Value> {
        match v {
            Value::Object(m) => {
                let child = self.filter_obj(m, p, inc);
                (!child.is_empty() || (inc && m.is_empty())).then_some(Value::Object(child))
            }
            Value::Array(a) => {
                let items: Vec<Value> = a
                    .iter()
                    .filter_map(|x| self.filter_value(x, p, inc))
                    .collect();
                (!items.is_empty() || (inc && a.is_empty())).then_some(Value::Array(items))
            }
            other => inc.then(|| other.clone()),
        }
    }
}

fn parse_sort(v: &Value) -> Result<Vec<SortSpec>, EsError> {
    let one = |field: &str, desc: Option<bool>| SortSpec {
        field: field.to_string(),
        desc: desc.unwrap_or(field == "_score"),
        missing_first: false,
        missing: None,
        unmapped_type: None,
        mode: None,
        format: None,
    };
    let order = |v: &Value| -> Result<bool, EsError> {
        match v.as_str() {
            Some("asc") | Some("ASC") => Ok(false),
            Some("desc") | Some("DESC") => Ok(true),
            _ => Err(EsError::illegal_argument(format!(
                "Unknown SortOrder [{}]",
                v.as_str().unwrap_or_default()
            ))),
        }
    };
    let mut out = Vec::new();
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    for item in items {
        match item {
            Value::String(f) => out.push(one(f, None)),
            Value::Object(m) => {
                for (field, spec) in m {
                    match spec {
                        Value::String(_) => out.push(one(field, Some(order(spec)?))),
                        Value::Object(opts) => {
                            let mut s = one(field, None);
                            for (k, v) in opts {
                                match k.as_str() {
                                    "order" => s.desc = order(v)?,
                                    "missing" => match v.as_str() {
                                        Some("_last") => s.missing_first = false,
                                        Some("_first") => s.missing_first = true,
                                        _ => s.missing = Some(v.clone()),
                                    },
                                    "unmapped_type" => {
                                        s.unmapped_type = v.as_str().map(str::to_string)
                                    }
                                    "mode" => s.mode = v.as_str().map(str::to_string),
                                    "format" => s.format = v.as_str().map(str::to_string),
                                    "numeric_type" => {}
                                    "nested" | "nested_path" | "nested_filter" => {
                                        return Err(EsError::unsupported("nested sort"));
                                    }
                                    other => {
                                        return Err(EsError::x_content(format!(
                                            "[1:1] [field_sort] unknown field [{other}]"
                                        )));
                                    }
                                }
                            }
                            out.push(s);
                        }
                        other => {
                            return Err(EsError::parsing(format!(
                                "[field_sort] unexpected token [{}]",
                                token_name(other)
                            )));
                        }
                    }
                }
            }
            other => {
                return Err(EsError::parsing(format!(
                    "malformed sort format, within the sort array, an object, or an actual string are allowed, found [{}]",
                    token_name(other)
                )));
            }
        }
    }
    if out
        .iter()
        .any(|s| s.field == "_geo_distance" || s.field == "_script")
    {
        return Err(EsError::unsupported("script and geo-distance sorts"));
    }
    Ok(out)
}

/// The sort kind of a field across shards; `Err` is a shard failure.
fn sort_kind(s: &SortSpec, shards: &[ShardView]) -> Result<Kind, (Value, String)> {
    match s.field.as_str() {
        "_score" => return Ok(Kind::Score),
        "_doc" => return Ok(Kind::Doc),
        "_shard_doc" => return Ok(Kind::ShardDoc),
        _ => {}
    }
    let kind_of = |ty: &str| -> Option<Kind> {
        Some(if is_integer(ty) {
            Kind::Int
        } else if is_numeric(ty) {
            Kind::Float
        } else if is_date(ty) {
            Kind::Date
        } else if ty == "boolean" {
            Kind::Bool
        } else if is_keyword_like(ty) {
            Kind::Str
        } else {
            return None;
        })
    };
    for shard in shards {
        if s.field == "_id" {
            return Err((
                cause(
                    "illegal_argument_exception",
                    "Fielddata access on the _id field is disallowed, you can re-enable it by updating the dynamic cluster setting: indices.id_field_data.enabled",
                ),
                shard.index.clone(),
            ));
        }
        let ty = match shard.mapping.lookup(&s.field) {
            Some(Found::Leaf(l)) => l.ty.clone(),
            Some(Found::Keyed) => "keyword".into(),
            Some(Found::Object) | None => continue,
        };
        return kind_of(&ty).ok_or_else(|| {
            let reason = if ty == "text" || ty == "match_only_text" {
                format!("Fielddata is disabled on [{}] in [{}]. Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set fielddata=true on [{}] in order to load field data by uninverting the inverted index. Note that this can use significant memory.", s.field, shard.index, s.field)
            } else {
                format!("Sorting on field [{}] of type [{ty}] is not supported by the stand-in", s.field)
            };
            (cause("illegal_argument_exception", reason), shard.index.clone())
        });
    }
    if let Some(t) = &s.unmapped_type {
        return Ok(kind_of(t).unwrap_or(Kind::Str));
    }
    let shard = shards.first().expect("sort_kind called with shards");
    let mut c = cause(
        "query_shard_exception",
        format!("No mapping found for [{}] in order to sort on", s.field),
    );
    c["index_uuid"] = shard.uuid.clone().into();
    c["index"] = shard.index.clone().into();
    Err((c, shard.index.clone()))
}

fn missing_key(s: &SortSpec, kind: Kind) -> Key {
    if let Some(v) = &s.missing {
        return match kind {
            Kind::Str => Key::Str(v.as_str().map_or_else(|| v.to_string(), str::to_string)),
            _ => Key::Num(
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|t| t.parse().ok()))
                    .unwrap_or(0.0),
            ),
        };
    }
    let last = !s.missing_first;
    match kind {
        Kind::Str => Key::Missing,
        Kind::Float => Key::Num(if last != s.desc {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        }),
        _ => Key::Num(if last != s.desc {
            i64::MAX as f64
        } else {
            i64::MIN as f64
        }),
    }
}

fn key_of(s: &SortSpec, kind: Kind, shard_no: usize, doc: &Doc, score: f32) -> Key {
    match kind {
        Kind::Score => return Key::Num(score as f64),
        Kind::Doc => return Key::Num(doc.docid as f64),
        Kind::ShardDoc => return Key::Num(((shard_no as u64) << 32 | doc.docid as u64) as f64),
        _ => {}
    }
    let vals = doc
        .values
        .get(&s.field)
        .map(Vec::as_slice)
        .unwrap_or_default();
    use super::mapping::Val;
    if kind == Kind::Str {
        let mut strs: Vec<&str> = vals
            .iter()
            .filter_map(|v| {
                if let Val::Str(s) = v {
                    Some(s.as_str())
                } else {
                    None
                }
            })
            .collect();
        strs.sort_unstable();
        let pick = if s.mode.as_deref() == Some("max") || (s.mode.is_none() && s.desc) {
            strs.last()
        } else {
            strs.first()
        };
        return pick.map_or_else(|| missing_key(s, kind), |v| Key::Str(v.to_string()));
    }
    let nums: Vec<f64> = vals
        .iter()
        .filter_map(|v| match v {
            Val::Num(n) => Some(*n),
            Val::Date(d) => Some(*d as f64),
            Val::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        })
        .collect();
    if nums.is_empty() {
        return missing_key(s, kind);
    }
    let min = nums.iter().copied().fold(f64::INFINITY, f64::min);
    let max = nums.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Key::Num(match s.mode.as_deref() {
        Some("sum") => nums.iter().sum(),
        Some("avg") => nums.iter().sum::<f64>() / nums.len() as f64,
        Some("median") => {
            let mut v = nums.clone();
            v.sort_by(|a, b| a.total_cmp(b));
            let n = v.len();
            if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            }
        }
        Some("max") => max,
        Some("min") => min,
        _ => {
            if s.desc {
                max
            } else {
                min
            }
        }
    })
}

fn key_json(k: &Key, kind: Kind, s: &SortSpec) -> Value {
    match (k, kind) {
        (Key::Missing, _) => Value::Null,
        (Key::Str(v), _) => json!(v),
        (Key::Num(n), Kind::Float | Kind::Score) => {
            if n.is_finite() {
                json!(n)
            } else {
                json!(if *n > 0.0 { "Infinity" } else { "-Infinity" })
            }
        }
        (Key::Num(n), Kind::Date) if s.format.is_some() && n.abs() < 9.0e18 => {
            json!(dates::format_millis(*n as i64))
        }
        (Key::Num(n), _) => json!(*n as i64),
    }
}

fn parse_after(v: &Value, kind: Kind, s: &SortSpec) -> Result<Key, Value> {
    let fail = || {
        cause(
            "illegal_argument_exception",
            format!(
                "Failed to parse search_after value for field [{}].",
                s.field
            ),
        )
    };
    match (v, kind) {
        (Value::Null, Kind::Str) => Ok(Key::Missing),
        (Value::String(t), Kind::Str) => Ok(Key::Str(t.clone())),
        (_, Kind::Str) => Err(fail()),
        (Value::Number(n), _) => n.as_f64().map(Key::Num).ok_or_else(fail),
        (Value::String(t), _) => match t.as_str() {
            "Infinity" => Ok(Key::Num(f64::INFINITY)),
            "-Infinity" => Ok(Key::Num(f64::NEG_INFINITY)),
            t => t
                .parse::<f64>()
                .ok()
                .or_else(|| {
                    (kind == Kind::Date)
                        .then(|| {
                            dates::parse_date(t, s.format.as_deref().unwrap_or(DEFAULT_FORMAT))
                                .map(|m| m as f64)
                        })
                        .flatten()
                })
                .map(Key::Num)
                .ok_or_else(fail),
        },
        (Value::Bool(b), Kind::Bool) => Ok(Key::Num(if *b { 1.0 } else { 0.0 })),
        _ => Err(fail()),
    }
}

fn compare(a: &[Key], b: &[Key], specs: &[SortSpec]) -> Ordering {
    for ((x, y), s) in a.iter().zip(b).zip(specs) {
        let o = match (x, y) {
            (Key::Missing, Key::Missing) => Ordering::Equal,
            (Key::Missing, _) => {
                return if s.missing_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
            }
            (_, Key::Missing) => {
                return if s.missing_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                };
            }
            (Key::Num(p), Key::Num(q)) => p.total_cmp(q),
            (Key::Str(p), Key::Str(q)) => p.cmp(q),
            (Key::Num(_), Key::Str(_)) => Ordering::Less,
            (Key::Str(_), Key::Num(_)) => Ordering::Greater,
        };
        let o = if s.desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn parse_track_total(v: &Value) -> Result<TrackTotal, EsError> {
    match v {
        Value::Bool(true) => Ok(TrackTotal::Exact),
        Value::Bool(false) => Ok(TrackTotal::Off),
        Value::String(s) if s == "true" => Ok(TrackTotal::Exact),
        Value::String(s) if s == "false" => Ok(TrackTotal::Off),
        other => match int_of(other, "track_total_hits")? {
            -1 => Ok(TrackTotal::Exact),
            n if n < 0 => Err(EsError::validation(&[format!(
                "[track_total_hits] parameter must be positive or equals to -1, got {n}"
            )])),
            n => Ok(TrackTotal::UpTo(n as u64)),
        },
    }
}

struct Request {
    query: Query,
    post_filter: Option<Query>,
    size: i64,
    from: i64,
    sort: Vec<SortSpec>,
    search_after: Option<Vec<Value>>,
    source: SourceFilter,
    track_total: TrackTotal,
    aggs: Vec<Agg>,
    pit: Option<(String, Option<String>)>,
    version: bool,
    seq_no: bool,
    track_scores: bool,
}

fn parse_request(req: &Req) -> Result<Request, EsError> {
    let mut r = Request {
        query: Query::MatchAll(1.0),
        post_filter: None,
        size: 10,
        from: 0,
        sort: Vec::new(),
        search_after: None,
        source: SourceFilter::all(),
        track_total: TrackTotal::UpTo(10_000),
        aggs: Vec::new(),
        pit: None,
        version: false,
        seq_no: false,
        track_scores: false,
    };
    if let Some(body) = req.json_body()? {
        let Some(obj) = body.as_object() else {
            return Err(EsError::parsing(format!(
                "Unknown key for a {} in [null].",
                token_name(&body)
            )));
        };
        for (k, v) in obj {
            match k.as_str() {
                "query" => r.query = parse_query(v)?,
                "post_filter" => r.post_filter = Some(parse_query(v)?),
                "size" => r.size = int_of(v, "size")?,
                "from" => r.from = int_of(v, "from")?,
                "sort" => r.sort = parse_sort(v)?,
                "search_after" => {
                    let a = v.as_array().ok_or_else(|| {
                        EsError::parsing(format!(
                            "Unknown key for a {} in [search_after].",
                            token_name(v)
                        ))
                    })?;
                    if a.is_empty() {
                        return Err(EsError::illegal_argument(
                            "Values must contains at least one value.",
                        ));
                    }
                    r.search_after = Some(a.clone());
                }
                "_source" => r.source = SourceFilter::parse(v)?,
                "track_total_hits" => r.track_total = parse_track_total(v)?,
                "aggs" | "aggregations" => r.aggs = aggs::parse_aggs(v)?,
                "pit" => {
                    let m = v
                        .as_object()
                        .ok_or_else(|| EsError::parsing("[pit] must be an object"))?;
                    let mut id = None;
                    let mut keep_alive = None;
                    for (pk, pv) in m {
                        match pk.as_str() {
                            "id" => id = pv.as_str().map(str::to_string),
                            "keep_alive" => keep_alive = pv.as_str().map(str::to_string),
                            other => {
                                return Err(EsError::x_content(format!(
                                    "[1:1] [point_in_time] unknown field [{other}]"
                                )));
                            }
                        }
                    }
                    let id = id.ok_or_else(|| EsError::x_content("[1:1] Required [id]"))?;
                    r.pit = Some((id, keep_alive));
                }
                "version" => r.version = v.as_bool().unwrap_or(false),
                "seq_no_primary_term" => r.seq_no = v.as_bool().unwrap_or(false),
                "track_scores" => r.track_scores = v.as_bool().unwrap_or(false),
                "timeout" | "stats" => {}
                "explain" | "profile" if v == &json!(false) => {}
                "explain" | "profile" | "collapse" | "ext" | "highlight" | "indices_boost"
                | "docvalue_fields" | "knn" | "rank" | "rescore" | "retriever"
                | "script_fields" | "slice" | "fields" | "suggest" | "stored_fields"
                | "runtime_mappings" | "min_score" | "terminate_after" => {
                    return Err(EsError::unsupported(format!("search body [{k}]")));
                }
                _ => {
                    return Err(EsError::parsing(format!(
                        "Unknown key for a {} in [{k}].",
                        token_name(v)
                    )));
                }
            }
        }
    }
    // URL parameters win over the body, as in ES.
    if let Some(s) = req.param("size") {
        r.size = int_of(&json!(s), "size")?;
    }
    if let Some(f) = req.param("from") {
        r.from = int_of(&json!(f), "from")?;
    }
    if let Some(t) = req.param("track_total_hits") {
        r.track_total = parse_track_total(&json!(t))?;
    }
    if let Some(s) = req.param("_source") {
        r.source = match s {
            "true" | "" => SourceFilter::all(),
            "false" => SourceFilter::default(),
            list => SourceFilter {
                fetch: true,
                includes: list.split(',').map(str::to_string).collect(),
                excludes: vec![],
            },
        };
    }
    if let Some(s) = req.param("_source_includes") {
        r.source.fetch = true;
        r.source.includes = s.split(',').map(str::to_string).collect();
    }
    if let Some(s) = req.param("_source_excludes") {
        r.source.excludes = s.split(',').map(str::to_string).collect();
    }
    r.version |= req.flag("version")?.unwrap_or(false);
    r.seq_no |= req.flag("seq_no_primary_term")?.unwrap_or(false);
    r.track_scores |= req.flag("track_scores")?.unwrap_or(false);
    for p in [
        "q",
        "sort",
        "scroll",
        "docvalue_fields",
        "stored_fields",
        "suggest_field",
        "terminate_after",
    ] {
        if req.param(p).is_some() {
            return Err(EsError::unsupported(format!("search parameter [{p}]")));
        }
    }
    Ok(r)
}

fn shards_json(n: usize) -> Value {
    json!({"total": n, "successful": n, "skipped": 0, "failed": 0})
}

fn pit_missing(id: &str) -> EsError {
    let n = decode_pit(id).unwrap_or(0);
    let c = cause(
        "search_context_missing_exception",
        format!("No search context found for id [{n}]"),
    );
    let mut e = EsError::search_phase(c, None, 404);
    if let Some(Value::Object(m)) = &mut e.cause
        && let Some(Value::Array(shards)) = m.get_mut("failed_shards")
    {
        shards[0]["shard"] = json!(-1);
    }
    e
}

fn decode_pit(id: &str) -> Option<u64> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD.decode(id).ok()?;
    let text = String::from_utf8(raw).ok()?;
    text.strip_prefix("smm-es-stand-in:pit:")?
        .split(':')
        .next()?
        .parse()
        .ok()
}

pub(crate) fn search(
    cluster: &mut Cluster,
    req: &Req,
    target: Option<&str>,
) -> Result<Value, EsError> {
    let started = Instant::now();
    let r = parse_request(req)?;
    let typed_keys = req.flag("typed_keys")?.unwrap_or(false);
    let total_as_int = req.flag("rest_total_hits_as_int")?.unwrap_or(false);
    let ignore_unavailable = req.flag("ignore_unavailable")?.unwrap_or(false);

    let mut problems = Vec::new();
    if r.search_after.is_some() && r.from > 0 {
        problems.push("`from` parameter must be set to 0 when `search_after` is used.".to_string());
    }
    if r.size < 0 {
        problems.push(format!(
            "[size] parameter cannot be negative, found [{}]",
            r.size
        ));
    }
    if r.from < 0 {
        problems.push(format!(
            "[from] parameter cannot be negative, found [{}]",
            r.from
        ));
    }
    if r.pit.is_none() && r.sort.iter().any(|s| s.field == "_shard_doc") {
        problems.push("[_shard_doc] sort field cannot be used without [point in time]".into());
    }
    if r.pit.is_some() {
        if target.is_some() {
            problems.push("[indices] cannot be used with point in time. Do not specify any index with point in time.".into());
        }
        for p in ["ignore_unavailable", "expand_wildcards", "allow_no_indices"] {
            if req.param(p).is_some() {
                problems.push("[indicesOptions] cannot be used with point in time".into());
                break;
            }
        }
        for p in ["routing", "preference"] {
            if req.param(p).is_some() {
                problems.push(format!("[{p}] cannot be used with point in time"));
            }
        }
    }
    if !problems.is_empty() {
        return Err(EsError::validation(&problems));
    }

    let shards = match &r.pit {
        Some((id, keep_alive)) => {
            let extend = keep_alive
                .as_deref()
                .map(|k| dates::parse_time_value(k, "keep_alive"))
                .transpose()?;
            let Some(pit) = cluster.pit(id) else {
                return Err(pit_missing(id));
            };
            if let Some(d) = extend {
                pit.expires = Instant::now() + d;
            }
            pit.shards.clone()
        }
        None => {
            let names = cluster.resolve(target.unwrap_or("_all"), ignore_unavailable)?;
            cluster.shard_views(&names)
        }
    };
    let mut sort = r.sort.clone();
    if r.pit.is_some() && !sort.is_empty() && !sort.iter().any(|s| s.field == "_shard_doc") {
        sort.push(SortSpec {
            field: "_shard_doc".into(),
            desc: false,
            missing_first: false,
            missing: None,
            unmapped_type: None,
            mode: None,
            format: None,
        });
    }
    let fail = |(c, index): (Value, String)| EsError::search_phase(c, Some(&index), 400);

    // Shard-level checks (only when there are shards, as in ES).
    let mut kinds = Vec::new();
    let mut after = None;
    let mut compiled = Vec::new();
    if let Some(first) = shards.first() {
        let window = shards
            .iter()
            .map(|s| s.max_result_window)
            .min()
            .unwrap_or(10_000) as i64;
        if r.from + r.size > window {
            return Err(fail((
                cause(
                    "illegal_argument_exception",
                    format!(
                        "Result window is too large, from + size must be less than or equal to: [{window}] but was [{}]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.",
                        r.from + r.size
                    ),
                ),
                first.index.clone(),
            )));
        }
        for s in &sort {
            kinds.push(sort_kind(s, &shards).map_err(fail)?);
        }
        if let Some(values) = &r.search_after {
            if sort.is_empty() {
                return Err(fail((
                    cause(
                        "illegal_argument_exception",
                        "Sort must contain at least one field.",
                    ),
                    first.index.clone(),
                )));
            }
            if values.len() != sort.len() {
                return Err(fail((
                    cause(
                        "illegal_argument_exception",
                        format!(
                            "search_after has {} value(s) but sort has {}.",
                            values.len(),
                            sort.len()
                        ),
                    ),
                    first.index.clone(),
                )));
            }
            let keys = values
                .iter()
                .zip(&sort)
                .zip(&kinds)
                .map(|((v, s), k)| parse_after(v, *k, s))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|c| fail((c, first.index.clone())))?;
            after = Some(keys);
        }
        aggs::validate(&r.aggs, &shards).map_err(fail)?;
        for s in &shards {
            let q = compile(&r.query, s).map_err(|c| fail((c, s.index.clone())))?;
            let pf = r
                .post_filter
                .as_ref()
                .map(|p| compile(p, s))
                .transpose()
                .map_err(|c| fail((c, s.index.clone())))?;
            compiled.push((q, pf));
        }
    }

    // Collect matches (aggregations see them before post_filter).
    struct Hit<'a> {
        shard: usize,
        doc: &'a Doc,
        score: f32,
        keys: Vec<Key>,
    }
    let mut matched: Vec<(&ShardView, &Doc)> = Vec::new();
    let mut hits: Vec<Hit> = Vec::new();
    for (i, (shard, (q, pf))) in shards.iter().zip(&compiled).enumerate() {
        for doc in shard.docs.iter() {
            let Some(score) = q.eval(doc, true) else {
                continue;
            };
            matched.push((shard, doc));
            if pf
                .as_ref()
                .is_some_and(|p: &Compiled| p.eval(doc, false).is_none())
            {
                continue;
            }
            let keys = sort
                .iter()
                .zip(&kinds)
                .map(|(s, k)| key_of(s, *k, i, doc, score))
                .collect();
            hits.push(Hit {
                shard: i,
                doc,
                score,
                keys,
            });
        }
    }
    let total = hits.len() as u64;
    let aggregations = (!r.aggs.is_empty()).then(|| aggs::run(&r.aggs, &matched, typed_keys));
    let sorted = !sort.is_empty();
    let by_score = !sorted || sort.first().is_some_and(|s| s.field == "_score");
    let max_score = if r.size > 0 && (by_score || r.track_scores) {
        hits.iter()
            .map(|h| h.score)
            .fold(None, |m: Option<f32>, s| Some(m.map_or(s, |m| m.max(s))))
    } else {
        None
    };
    if sorted {
        hits.sort_by(|a, b| {
            compare(&a.keys, &b.keys, &sort)
                .then(a.shard.cmp(&b.shard))
                .then(a.doc.docid.cmp(&b.doc.docid))
        });
    } else {
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.shard.cmp(&b.shard))
                .then(a.doc.docid.cmp(&b.doc.docid))
        });
    }
    if let Some(after) = &after {
        hits.retain(|h| compare(&h.keys, after, &sort) == Ordering::Greater);
    }
    let page = hits.iter().skip(r.from as usize).take(r.size as usize);
    let rendered: Vec<Value> = page
        .map(|h| {
            let shard = &shards[h.shard];
            let mut hit = Map::new();
            hit.insert("_index".into(), json!(shard.index));
            hit.insert("_id".into(), json!(h.doc.id));
            let score = if !sorted || by_score || r.track_scores {
                json!(h.score)
            } else {
                Value::Null
            };
            hit.insert("_score".into(), score);
            if r.version {
                hit.insert("_version".into(), json!(h.doc.version));
            }
            if r.seq_no {
                hit.insert("_seq_no".into(), json!(h.doc.seq_no));
                hit.insert("_primary_term".into(), json!(1));
            }
            if let Some(src) = r.source.apply(&h.doc.source) {
                hit.insert("_source".into(), src);
            }
            if sorted {
                let values: Vec<Value> = h
                    .keys
                    .iter()
                    .zip(&kinds)
                    .zip(&sort)
                    .map(|((k, kind), s)| key_json(k, *kind, s))
                    .collect();
                hit.insert("sort".into(), Value::Array(values));
            }
            Value::Object(hit)
        })
        .collect();

    let mut hits_json = Map::new();
    let total_json = match r.track_total {
        TrackTotal::Off => None,
        TrackTotal::Exact => Some((total, "eq")),
        TrackTotal::UpTo(t) if total <= t => Some((total, "eq")),
        TrackTotal::UpTo(t) => Some((t, "gte")),
    };
    if let Some((value, relation)) = total_json {
        hits_json.insert(
            "total".into(),
            if total_as_int {
                json!(value)
            } else {
                json!({"value": value, "relation": relation})
            },
        );
    } else if total_as_int {
        hits_json.insert("total".into(), json!(-1));
    }
    hits_json.insert(
        "max_score".into(),
        max_score.map_or(Value::Null, |m| json!(m)),
    );
    hits_json.insert("hits".into(), Value::Array(rendered));

    let mut out = Map::new();
    if let Some((id, _)) = &r.pit {
        out.insert("pit_id".into(), json!(id));
    }
    out.insert("took".into(), json!(started.elapsed().as_millis() as u64));
    out.insert("timed_out".into(), json!(false));
    out.insert("_shards".into(), shards_json(shards.len()));
    out.insert("hits".into(), Value::Object(hits_json));
    if let Some(a) = aggregations {
        out.insert("aggregations".into(), a);
    }
    Ok(Value::Object(out))
}

pub(crate) fn count(
    cluster: &mut Cluster,
    req: &Req,
    target: Option<&str>,
) -> Result<Value, EsError> {
    if req.param("q").is_some() {
        return Err(EsError::unsupported("count parameter [q]"));
    }
    let mut query = Query::MatchAll(1.0);
    if let Some(body) = req.json_body()? {
        for (k, v) in body.as_object().into_iter().flatten() {
            match k.as_str() {
                "query" => query = parse_query(v)?,
                other => {
                    return Err(EsError::parsing(format!(
                        "request does not support [{other}]"
                    )));
                }
            }
        }
    }
    let ignore_unavailable = req.flag("ignore_unavailable")?.unwrap_or(false);
    let names = cluster.resolve(target.unwrap_or("_all"), ignore_unavailable)?;
    let shards = cluster.shard_views(&names);
    let mut n = 0u64;
    for s in &shards {
        let q = compile(&query, s).map_err(|c| EsError::search_phase(c, Some(&s.index), 400))?;
        n += s.docs.iter().filter(|d| q.eval(d, false).is_some()).count() as u64;
    }
    Ok(json!({"count": n, "_shards": shards_json(shards.len())}))
}

pub(crate) fn open_pit(cluster: &mut Cluster, req: &Req, target: &str) -> Result<Value, EsError> {
    let Some(keep_alive) = req.param("keep_alive") else {
        return Err(EsError::validation(&[
            "[keep_alive] is not specified".into()
        ]));
    };
    let keep_alive = dates::parse_time_value(keep_alive, "keep_alive")?;
    if let Some(body) = req.json_body()?
        && let Some(k) = body.as_object().and_then(|m| m.keys().next())
    {
        return Err(match k.as_str() {
            "index_filter" => EsError::unsupported("PIT index_filter"),
            other => EsError::x_content(format!(
                "[1:2] [open_point_in_time] unknown field [{other}]"
            )),
        });
    }
    let names = cluster.resolve(target, req.flag("ignore_unavailable")?.unwrap_or(false))?;
    let shards = cluster.shard_views(&names);
    let n = shards.len();
    let id = cluster.new_pit(shards, keep_alive);
    Ok(json!({"id": id, "_shards": shards_json(n)}))
}

pub(crate) fn close_pit(cluster: &mut Cluster, req: &Req) -> Result<(u16, Value), EsError> {
    let Some(body) = req.json_body()? else {
        return Err(EsError::validation(&["[id] is not specified".into()]));
    };
    let mut id = None;
    for (k, v) in body.as_object().into_iter().flatten() {
        match k.as_str() {
            "id" => id = v.as_str().map(str::to_string),
            other => {
                return Err(EsError::x_content(format!(
                    "[1:2] [close_point_in_time] unknown field [{other}]"
                )));
            }
        }
    }
    let Some(id) = id else {
        return Err(EsError::validation(&["[id] is not specified".into()]));
    };
    let _ = cluster.pit("");
    match cluster.pits.remove(&id) {
        Some(pit) => Ok((
            200,
            json!({"succeeded": true, "num_freed": pit.shards.len()}),
        )),
        None => Ok((404, json!({"succeeded": true, "num_freed": 0}))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_filtering() {
        let src = json!({"@timestamp": "t", "labels": {"team": "a", "tier": "1"}, "measurement": {"id": "x", "value": 1.0, "details": {"a": 1}}, "labels.flat": "y"});
        let f = |v: Value| SourceFilter::parse(&v).unwrap().apply(&src).unwrap();
        assert_eq!(
            f(json!(["labels.*"])),
            json!({"labels": {"team": "a", "tier": "1"}, "labels.flat": "y"})
        );
        assert_eq!(
            f(json!(["labels"])),
            json!({"labels": {"team": "a", "tier": "1"}})
        );
        assert_eq!(
            f(json!(["measurement.value", "@timestamp"])),
            json!({"@timestamp": "t", "measurement": {"value": 1.0}})
        );
        assert_eq!(
            f(json!({"includes": ["measurement"], "excludes": ["measurement.details"]})),
            json!({"measurement": {"id": "x", "value": 1.0}})
        );
        assert_eq!(
            SourceFilter::parse(&json!(false)).unwrap().apply(&src),
            None
        );
    }
}
