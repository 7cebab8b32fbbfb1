//! Mappings: parsing and merging template mappings, and checking every
//! document against its index's mapping as ES does at index time
//! (`dynamic: strict|false|true`, `subobjects: false`, dynamic templates,
//! coercion rules and type errors of the field types smm uses).
//!
//! A parsed document yields its indexed values per full field path
//! ([`Val`]); search, sort and aggregations read those, never `_source`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::dates::{self, DEFAULT_FORMAT};
use super::error::{EsError, cause};

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Dynamic {
    True,
    False,
    Strict,
    Runtime,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct ObjectMapping {
    pub dynamic: Option<Dynamic>,
    pub subobjects: Option<bool>,
    pub enabled: Option<bool>,
    pub properties: BTreeMap<String, FieldMapping>,
}

#[derive(Clone, Debug)]
pub(crate) enum FieldMapping {
    Object(ObjectMapping),
    Leaf(Leaf),
}

#[derive(Clone, Debug)]
pub(crate) struct Leaf {
    pub ty: String,
    /// Every parameter but `type` and `fields`.
    pub params: Map<String, Value>,
    pub fields: BTreeMap<String, Leaf>,
}

#[derive(Clone, Debug)]
pub(crate) struct DynamicTemplate {
    name: String,
    rule: Map<String, Value>,
}

#[derive(Clone, Debug)]
pub(crate) struct Mapping {
    pub root: ObjectMapping,
    pub dynamic_templates: Vec<DynamicTemplate>,
    pub date_detection: bool,
    pub numeric_detection: bool,
    /// Other root parameters (`_source`, `_meta`, `_data_stream_timestamp`, ...).
    pub meta: Map<String, Value>,
}

/// An indexed value, as doc values hold it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    Str(String),
    Num(f64),
    Date(i64),
    Bool(bool),
    /// Analysed text: matched on lowercase tokens.
    Text(String),
}

/// Where a field path leads in a mapping.
pub(crate) enum Found<'a> {
    Leaf(&'a Leaf),
    /// A key below a `flattened` field: a keyword.
    Keyed,
    Object,
}

const KNOWN_TYPES: &[&str] = &[
    "binary",
    "boolean",
    "keyword",
    "constant_keyword",
    "wildcard",
    "long",
    "integer",
    "short",
    "byte",
    "double",
    "float",
    "half_float",
    "scaled_float",
    "unsigned_long",
    "date",
    "date_nanos",
    "alias",
    "object",
    "flattened",
    "nested",
    "join",
    "integer_range",
    "float_range",
    "long_range",
    "double_range",
    "date_range",
    "ip_range",
    "ip",
    "version",
    "murmur3",
    "aggregate_metric_double",
    "histogram",
    "text",
    "match_only_text",
    "annotated_text",
    "completion",
    "search_as_you_type",
    "semantic_text",
    "token_count",
    "dense_vector",
    "sparse_vector",
    "rank_feature",
    "rank_features",
    "geo_point",
    "geo_shape",
    "point",
    "shape",
    "percolator",
    "passthrough",
    "counted_keyword",
    "icu_collation_keyword",
];

pub(crate) fn is_numeric(ty: &str) -> bool {
    matches!(
        ty,
        "long"
            | "integer"
            | "short"
            | "byte"
            | "double"
            | "float"
            | "half_float"
            | "scaled_float"
            | "unsigned_long"
    )
}

pub(crate) fn is_integer(ty: &str) -> bool {
    matches!(ty, "long" | "integer" | "short" | "byte" | "unsigned_long")
}

pub(crate) fn is_date(ty: &str) -> bool {
    matches!(ty, "date" | "date_nanos")
}

pub(crate) fn is_keyword_like(ty: &str) -> bool {
    matches!(
        ty,
        "keyword" | "constant_keyword" | "wildcard" | "ip" | "version" | "flattened"
    )
}

/// Whether a modelled type accepts a parameter; `None`: not checked.
fn param_allowed(ty: &str, param: &str) -> Option<bool> {
    const COMMON: &[&str] = &[
        "meta",
        "fields",
        "copy_to",
        "store",
        "index",
        "doc_values",
        "script",
        "on_script_error",
        "null_value",
    ];
    let (common, extra): (bool, &[&str]) = match ty {
        "keyword" | "wildcard" => (
            true,
            &[
                "ignore_above",
                "normalizer",
                "eager_global_ordinals",
                "index_options",
                "norms",
                "similarity",
                "split_queries_on_whitespace",
                "time_series_dimension",
            ],
        ),
        "constant_keyword" => (false, &["value", "meta"]),
        "long" | "integer" | "short" | "byte" | "double" | "float" | "half_float"
        | "unsigned_long" => (
            true,
            &[
                "coerce",
                "ignore_malformed",
                "time_series_dimension",
                "time_series_metric",
            ],
        ),
        "scaled_float" => (
            true,
            &[
                "coerce",
                "ignore_malformed",
                "time_series_dimension",
                "time_series_metric",
                "scaling_factor",
            ],
        ),
        "date" | "date_nanos" => (true, &["format", "locale", "ignore_malformed"]),
        "boolean" | "ip" => (true, &["ignore_malformed", "time_series_dimension"]),
        "text" => (
            false,
            &[
                "analyzer",
                "search_analyzer",
                "search_quote_analyzer",
                "eager_global_ordinals",
                "fielddata",
                "fielddata_frequency_filter",
                "fields",
                "index",
                "index_options",
                "index_prefixes",
                "index_phrases",
                "norms",
                "position_increment_gap",
                "store",
                "similarity",
                "term_vector",
                "meta",
                "copy_to",
            ],
        ),
        "match_only_text" => (false, &["fields", "meta", "copy_to"]),
        "flattened" => (
            false,
            &[
                "depth_limit",
                "doc_values",
                "eager_global_ordinals",
                "ignore_above",
                "index",
                "index_options",
                "null_value",
                "similarity",
                "split_queries_on_whitespace",
                "time_series_dimensions",
            ],
        ),
        _ => return None,
    };
    Some(extra.contains(&param) || (common && COMMON.contains(&param)))
}

fn mapper_error(reason: impl Into<String>) -> EsError {
    EsError::new(400, "mapper_parsing_exception", reason)
}

fn parse_dynamic(v: &Value) -> Result<Dynamic, EsError> {
    match v {
        Value::Bool(true) => Ok(Dynamic::True),
        Value::Bool(false) => Ok(Dynamic::False),
        Value::String(s) => match s.as_str() {
            "true" => Ok(Dynamic::True),
            "false" => Ok(Dynamic::False),
            "strict" => Ok(Dynamic::Strict),
            "runtime" => Ok(Dynamic::Runtime),
            _ => Err(mapper_error(format!(
                "Could not convert [dynamic] to boolean: [{s}]"
            ))),
        },
        _ => Err(mapper_error("Could not convert [dynamic] to boolean")),
    }
}

fn dynamic_json(d: Dynamic) -> Value {
    match d {
        Dynamic::True => json!(true),
        Dynamic::False => json!(false),
        Dynamic::Strict => json!("strict"),
        Dynamic::Runtime => json!("runtime"),
    }
}

fn unsupported_params(name: &str, m: &Map<String, Value>) -> EsError {
    let list: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k} : {}", preview(v)))
        .collect();
    mapper_error(format!(
        "Mapping definition for [{name}] has unsupported parameters:  [{}]",
        list.join("] [")
    ))
}

impl Mapping {
    pub fn empty() -> Mapping {
        Mapping {
            root: ObjectMapping::default(),
            dynamic_templates: Vec::new(),
            date_detection: true,
            numeric_detection: false,
            meta: Map::new(),
        }
    }

    /// Parse a `mappings` object as ES validates it.
    pub fn from_json(v: &Value) -> Result<Mapping, EsError> {
        let Some(obj) = v.as_object() else {
            return Err(mapper_error("Root mapping definition must be an object"));
        };
        let mut m = Mapping::empty();
        let mut unknown = Map::new();
        for (k, val) in obj {
            match k.as_str() {
                "dynamic" => m.root.dynamic = Some(parse_dynamic(val)?),
                "subobjects" => m.root.subobjects = val.as_bool(),
                "enabled" => m.root.enabled = val.as_bool(),
                "properties" => {}
                "date_detection" => m.date_detection = val.as_bool().unwrap_or(true),
                "numeric_detection" => m.numeric_detection = val.as_bool().unwrap_or(false),
                "dynamic_templates" => {
                    let Some(list) = val.as_array() else {
                        return Err(mapper_error(
                            "Dynamic template syntax error. An array of named objects is expected.",
                        ));
                    };
                    for t in list {
                        let Some((name, rule)) = t
                            .as_object()
                            .filter(|o| o.len() == 1)
                            .and_then(|o| o.iter().next())
                        else {
                            return Err(mapper_error(
                                "Dynamic template syntax error. An array of named objects is expected.",
                            ));
                        };
                        let rule = rule.as_object().cloned().unwrap_or_default();
                        if rule.get("match_pattern").and_then(Value::as_str) == Some("regex") {
                            return Err(EsError::unsupported(
                                "dynamic templates with match_pattern regex",
                            ));
                        }
                        if !rule.contains_key("mapping") && !rule.contains_key("runtime") {
                            return Err(mapper_error(format!(
                                "template [{name}] must have either mapping or runtime set"
                            )));
                        }
                        m.dynamic_templates.push(DynamicTemplate {
                            name: name.clone(),
                            rule,
                        });
                    }
                }
                "_source"
                | "_meta"
                | "_routing"
                | "_data_stream_timestamp"
                | "dynamic_date_formats"
                | "runtime"
                | "_field_names"
                | "_size" => {
                    m.meta.insert(k.clone(), val.clone());
                }
                _ => {
                    unknown.insert(k.clone(), val.clone());
                }
            }
        }
        if !unknown.is_empty() {
            let list: Vec<String> = unknown
                .iter()
                .map(|(k, v)| format!("{k} : {}", preview(v)))
                .collect();
            return Err(mapper_error(format!(
                "Root mapping definition has unsupported parameters:  [{}]",
                list.join("] [")
            )));
        }
        if let Some(props) = obj.get("properties") {
            parse_properties(&mut m.root, "", props)?;
        }
        Ok(m)
    }

    pub fn to_json(&self) -> Value {
        let mut out = self.meta.clone();
        if let Some(d) = self.root.dynamic {
            out.insert("dynamic".into(), dynamic_json(d));
        }
        if !self.date_detection {
            out.insert("date_detection".into(), json!(false));
        }
        if self.numeric_detection {
            out.insert("numeric_detection".into(), json!(true));
        }
        if !self.dynamic_templates.is_empty() {
            let list: Vec<Value> = self
                .dynamic_templates
                .iter()
                .map(|t| json!({ t.name.clone(): Value::Object(t.rule.clone()) }))
                .collect();
            out.insert("dynamic_templates".into(), Value::Array(list));
        }
        if !self.root.properties.is_empty() {
            out.insert("properties".into(), properties_json(&self.root.properties));
        }
        Value::Object(out)
    }

    /// What a field path is in this mapping.
    pub fn lookup(&self, path: &str) -> Option<Found<'_>> {
        lookup(&self.root, path)
    }

    /// The `type` of a path's leaf (`keyword` for flattened keys).
    pub fn field_type(&self, path: &str) -> Option<String> {
        match self.lookup(path)? {
            Found::Leaf(l) => Some(l.ty.clone()),
            Found::Keyed => Some("keyword".into()),
            Found::Object => Some("object".into()),
        }
    }

    /// Add `@timestamp: date` to a data stream's mapping unless mapped.
    pub fn ensure_timestamp(&mut self) -> Result<(), EsError> {
        match self.root.properties.get("@timestamp") {
            None => {
                self.root.properties.insert(
                    "@timestamp".into(),
                    FieldMapping::Leaf(Leaf {
                        ty: "date".into(),
                        params: Map::new(),
                        fields: BTreeMap::new(),
                    }),
                );
            }
            Some(FieldMapping::Leaf(l)) if is_date(&l.ty) => {}
            Some(FieldMapping::Leaf(l)) => {
                return Err(EsError::illegal_argument(format!(
                    "data stream timestamp field [@timestamp] is of type [{}], but [date,date_nanos] is expected",
                    l.ty
                )));
            }
            Some(FieldMapping::Object(_)) => {
                return Err(EsError::illegal_argument(
                    "data stream timestamp field [@timestamp] is of type [object], but [date,date_nanos] is expected",
                ));
            }
        }
        self.meta
            .insert("_data_stream_timestamp".into(), json!({"enabled": true}));
        Ok(())
    }
}

fn properties_json(props: &BTreeMap<String, FieldMapping>) -> Value {
    let mut out = Map::new();
    for (name, f) in props {
        let v = match f {
            FieldMapping::Object(o) => {
                let mut m = Map::new();
                if let Some(d) = o.dynamic {
                    m.insert("dynamic".into(), dynamic_json(d));
                }
                if let Some(s) = o.subobjects {
                    m.insert("subobjects".into(), json!(s));
                }
                if let Some(e) = o.enabled {
                    m.insert("enabled".into(), json!(e));
                }
                if o.properties.is_empty() {
                    m.insert("type".into(), json!("object"));
                } else {
                    m.insert("properties".into(), properties_json(&o.properties));
                }
                Value::Object(m)
            }
            FieldMapping::Leaf(l) => leaf_json(l),
        };
        out.insert(name.clone(), v);
    }
    Value::Object(out)
}

fn leaf_json(l: &Leaf) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(l.ty));
    m.extend(l.params.clone());
    if !l.fields.is_empty() {
        let fields: Map<String, Value> = l
            .fields
            .iter()
            .map(|(k, f)| (k.clone(), leaf_json(f)))
            .collect();
        m.insert("fields".into(), Value::Object(fields));
    }
    Value::Object(m)
}

fn parse_properties(
    parent: &mut ObjectMapping,
    parent_path: &str,
    props: &Value,
) -> Result<(), EsError> {
    let Some(props) = props.as_object() else {
        return Err(mapper_error(format!(
            "Expected map for property [properties] on field [{}] but got a class java.lang.String",
            if parent_path.is_empty() {
                "_doc"
            } else {
                parent_path
            }
        )));
    };
    for (name, def) in props {
        if name.trim().is_empty() {
            return Err(mapper_error("field name cannot be an empty string"));
        }
        let full = join(parent_path, name);
        let field = parse_field(&full, name, def)?;
        // `a.b` under an object with subobjects: expand into objects.
        if parent.subobjects != Some(false) && name.contains('.') {
            let parts: Vec<&str> = name.split('.').collect();
            let mut node = &mut *parent;
            for part in &parts[..parts.len() - 1] {
                let entry = node
                    .properties
                    .entry(part.to_string())
                    .or_insert_with(|| FieldMapping::Object(ObjectMapping::default()));
                node = match entry {
                    FieldMapping::Object(o) => o,
                    FieldMapping::Leaf(_) => {
                        return Err(mapper_error(format!(
                            "can't merge a non object mapping [{part}] with an object mapping"
                        )));
                    }
                };
            }
            node.properties
                .insert(parts[parts.len() - 1].to_string(), field);
        } else {
            parent.properties.insert(name.clone(), field);
        }
    }
    Ok(())
}

fn parse_field(full: &str, name: &str, def: &Value) -> Result<FieldMapping, EsError> {
    let Some(def) = def.as_object() else {
        return Err(mapper_error(format!(
            "Expected map for property [fields] on field [{name}] but got a {def}"
        )));
    };
    let ty = def.get("type").and_then(Value::as_str);
    match ty {
        None | Some("object") | Some("nested") => {
            let mut o = ObjectMapping::default();
            let mut unknown = Map::new();
            for (k, v) in def {
                match k.as_str() {
                    "type" | "properties" => {}
                    "dynamic" => o.dynamic = Some(parse_dynamic(v)?),
                    "subobjects" => {
                        o.subobjects = Some(match v {
                            Value::Bool(b) => *b,
                            Value::String(s) if s == "true" || s == "false" => s == "true",
                            _ => {
                                return Err(mapper_error(format!(
                                    "Failed to parse mapping: Could not convert [subobjects] to boolean for [{full}]"
                                )));
                            }
                        })
                    }
                    "enabled" => o.enabled = v.as_bool(),
                    "include_in_parent" | "include_in_root" if ty == Some("nested") => {}
                    _ => {
                        unknown.insert(k.clone(), v.clone());
                    }
                }
            }
            if !unknown.is_empty() {
                return Err(unsupported_params(full, &unknown));
            }
            if let Some(p) = def.get("properties") {
                parse_properties(&mut o, full, p)?;
            }
            Ok(FieldMapping::Object(o))
        }
        Some(ty) => Ok(FieldMapping::Leaf(parse_leaf(full, name, ty, def)?)),
    }
}

fn parse_leaf(full: &str, name: &str, ty: &str, def: &Map<String, Value>) -> Result<Leaf, EsError> {
    if !KNOWN_TYPES.contains(&ty) {
        return Err(mapper_error(format!(
            "No handler for type [{ty}] declared on field [{name}]"
        )));
    }
    let mut params = Map::new();
    let mut fields = BTreeMap::new();
    for (k, v) in def {
        if k == "type" {
            continue;
        }
        if param_allowed(ty, k) == Some(false) {
            return Err(mapper_error(format!(
                "unknown parameter [{k}] on mapper [{name}] of type [{ty}]"
            )));
        }
        match k.as_str() {
            "fields" => {
                let Some(subs) = v.as_object() else {
                    return Err(mapper_error(format!(
                        "Expected map for property [fields] on field [{name}]"
                    )));
                };
                for (sub, sdef) in subs {
                    let sfull = format!("{full}.{sub}");
                    match parse_field(&sfull, sub, sdef)? {
                        FieldMapping::Leaf(l) => {
                            fields.insert(sub.clone(), l);
                        }
                        FieldMapping::Object(_) => {
                            return Err(mapper_error(format!(
                                "Type [object] cannot be used in multi field [{sub}]"
                            )));
                        }
                    }
                }
            }
            "ignore_above" | "depth_limit" if !v.is_u64() => {
                return Err(mapper_error(format!(
                    "Failed to parse mapping: [{k}] on mapper [{name}] must be a non-negative integer"
                )));
            }
            "format" => {
                let f = v.as_str().unwrap_or_default();
                if !f.split("||").all(|p| dates::is_known_format(p.trim())) {
                    return Err(EsError::unsupported(format!(
                        "custom date format [{f}] on field [{full}]"
                    )));
                }
                params.insert(k.clone(), v.clone());
            }
            _ => {
                params.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(Leaf {
        ty: ty.to_string(),
        params,
        fields,
    })
}

fn lookup<'a>(obj: &'a ObjectMapping, path: &str) -> Option<Found<'a>> {
    match obj.properties.get(path) {
        Some(FieldMapping::Leaf(l)) => return Some(Found::Leaf(l)),
        Some(FieldMapping::Object(_)) => return Some(Found::Object),
        None => {}
    }
    for (i, _) in path.match_indices('.') {
        let (head, rest) = (&path[..i], &path[i + 1..]);
        match obj.properties.get(head) {
            Some(FieldMapping::Object(o)) => {
                if let Some(f) = lookup(o, rest) {
                    return Some(f);
                }
            }
            Some(FieldMapping::Leaf(l)) => {
                if let Some(sub) = l.fields.get(rest) {
                    return Some(Found::Leaf(sub));
                }
                if l.ty == "flattened" {
                    return Some(Found::Keyed);
                }
            }
            None => {}
        }
    }
    None
}

/// Deep-merge template `mappings` as composable templates do: properties
/// per field, dynamic templates by name, anything else replaced.
pub(crate) fn merge_mappings(base: &mut Value, overlay: &Value) {
    let (Some(b), Some(o)) = (base.as_object_mut(), overlay.as_object()) else {
        *base = overlay.clone();
        return;
    };
    for (k, v) in o {
        match k.as_str() {
            "properties" => {
                let target = b.entry(k.clone()).or_insert_with(|| json!({}));
                merge_properties(target, v);
            }
            "dynamic_templates" => {
                let target = b.entry(k.clone()).or_insert_with(|| json!([]));
                if let (Some(list), Some(add)) = (target.as_array_mut(), v.as_array()) {
                    for t in add {
                        let name = t.as_object().and_then(|m| m.keys().next().cloned());
                        if let Some(pos) = list.iter().position(|e| {
                            e.as_object().and_then(|m| m.keys().next().cloned()) == name
                        }) {
                            list[pos] = t.clone();
                        } else {
                            list.push(t.clone());
                        }
                    }
                }
            }
            _ => {
                b.insert(k.clone(), v.clone());
            }
        }
    }
}

fn merge_properties(base: &mut Value, overlay: &Value) {
    let (Some(b), Some(o)) = (base.as_object_mut(), overlay.as_object()) else {
        *base = overlay.clone();
        return;
    };
    for (name, def) in o {
        match b.get_mut(name) {
            Some(existing)
                if existing.get("properties").is_some() && def.get("properties").is_some() =>
            {
                let (Some(e), Some(d)) = (existing.as_object_mut(), def.as_object()) else {
                    continue;
                };
                for (k, v) in d {
                    if k == "properties" {
                        let target = e.entry("properties").or_insert_with(|| json!({}));
                        merge_properties(target, v);
                    } else {
                        e.insert(k.clone(), v.clone());
                    }
                }
            }
            _ => {
                b.insert(name.clone(), def.clone());
            }
        }
    }
}

pub(crate) fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// A value as Java's `toString` shows it in "Preview of field's value".
pub(crate) fn preview(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Array(a) => format!("[{}]", a.iter().map(preview).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{k}={}", preview(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// Simple wildcard match (`*` only), as ES's `Regex.simpleMatch`.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

// ---- documents ------------------------------------------------------------

/// Values indexed for one document, by full field path.
pub(crate) type Values = BTreeMap<String, Vec<Val>>;

struct DocParser<'a> {
    id: &'a str,
    line: &'a str,
    templates: &'a [DynamicTemplate],
    date_detection: bool,
    numeric_detection: bool,
    /// Source keys walked so far (for `[line:col]` in messages).
    keys: Vec<String>,
    values: Values,
    /// Dry run: stop with [`needs_update`] instead of changing the mapping.
    dry: bool,
}

/// The dry run's signal that the mapping must change (status 0: internal).
fn needs_update() -> EsError {
    EsError::new(0, "needs_mapping_update", "")
}

/// Check `source` against `mapping` (updated in place with dynamic fields
/// and constant_keyword values) and return what gets indexed. Errors are
/// the item-level `ErrorCause` ES returns (status 400).
/// With `data_stream`, the document must have exactly one `@timestamp`.
pub(crate) fn parse_document(
    mapping: &mut Mapping,
    id: &str,
    line: &str,
    source: &Value,
    data_stream: bool,
) -> Result<Values, EsError> {
    let Some(obj) = source.as_object() else {
        return Err(EsError::new(
            400,
            "document_parsing_exception",
            "[1:1] Malformed content, must start with an object",
        ));
    };
    // Most documents fit the mapping as it is: check them without copying
    // it; copy only when a dynamic field or constant value must be added,
    // so a failing document leaves the mapping untouched (as in ES).
    let check = |values: Values| {
        if data_stream {
            timestamp_check(values, line)
        } else {
            Ok(values)
        }
    };
    match parse_with(mapping, id, line, obj, true).and_then(check) {
        Err(e) if e.status == 0 => {
            let mut updated = mapping.clone();
            let values = parse_with(&mut updated, id, line, obj, false).and_then(check)?;
            *mapping = updated;
            Ok(values)
        }
        other => other,
    }
}

/// A data stream document has exactly one `@timestamp` value.
fn timestamp_check(values: Values, line: &str) -> Result<Values, EsError> {
    let n = values.get("@timestamp").map_or(0, Vec::len);
    if n == 1 {
        return Ok(values);
    }
    let why = if n == 0 {
        "data stream timestamp field [@timestamp] is missing"
    } else {
        "data stream timestamp field [@timestamp] encountered multiple values"
    };
    Err(EsError::new(
        400,
        "document_parsing_exception",
        format!(
            "[1:{}] failed to parse: {why}",
            line.trim_end().len().max(1)
        ),
    )
    .caused_by(cause("illegal_argument_exception", why)))
}

fn parse_with(
    mapping: &mut Mapping,
    id: &str,
    line: &str,
    obj: &Map<String, Value>,
    dry: bool,
) -> Result<Values, EsError> {
    let Mapping {
        root,
        dynamic_templates,
        date_detection,
        numeric_detection,
        ..
    } = mapping;
    let mut p = DocParser {
        id,
        line,
        templates: dynamic_templates,
        date_detection: *date_detection,
        numeric_detection: *numeric_detection,
        keys: Vec::new(),
        values: BTreeMap::new(),
        dry,
    };
    let dynamic = root.dynamic.unwrap_or(Dynamic::True);
    p.object(root, "", dynamic, obj)?;
    Ok(p.values)
}

impl DocParser<'_> {
    /// `[1:col]` of the value at the current key path (approximate: the
    /// first occurrence of the key chain in the source line).
    fn loc(&self) -> String {
        let mut pos = 0usize;
        for k in &self.keys {
            let needle = format!("\"{k}\"");
            match self.line[pos..].find(&needle) {
                Some(i) => pos += i + needle.len(),
                None => return "[1:1]".into(),
            }
        }
        if self.keys.is_empty() {
            return "[1:1]".into();
        }
        let rest = &self.line[pos..];
        let skip = rest.find(':').map_or(0, |c| c + 1);
        let ws = rest[skip..].len() - rest[skip..].trim_start().len();
        format!("[1:{}]", pos + skip + ws + 1)
    }

    fn field_error(&self, full: &str, ty: &str, value: &Value, inner: Value) -> EsError {
        EsError::new(
            400,
            "document_parsing_exception",
            format!(
                "{} failed to parse field [{full}] of type [{ty}] in document with id '{}'. Preview of field's value: '{}'",
                self.loc(),
                self.id,
                preview(value)
            ),
        )
        .caused_by(inner)
    }

    fn object(
        &mut self,
        node: &mut ObjectMapping,
        path: &str,
        dynamic: Dynamic,
        obj: &Map<String, Value>,
    ) -> Result<(), EsError> {
        if node.enabled == Some(false) {
            return Ok(());
        }
        for (key, value) in obj {
            if key.trim().is_empty() {
                return Err(EsError::new(
                    400,
                    "document_parsing_exception",
                    format!("{} field name cannot be an empty string", self.loc()),
                ));
            }
            self.keys.push(key.clone());
            let r = self.field(node, path, dynamic, key, value);
            self.keys.pop();
            r?;
        }
        Ok(())
    }

    fn field(
        &mut self,
        node: &mut ObjectMapping,
        path: &str,
        dynamic: Dynamic,
        name: &str,
        value: &Value,
    ) -> Result<(), EsError> {
        let subobjects = node.subobjects != Some(false);
        let full = join(path, name);
        if subobjects && name.contains('.') && !node.properties.contains_key(name) {
            let (head, tail) = name.split_once('.').unwrap_or((name, ""));
            if head.is_empty() || tail.is_empty() {
                return Err(EsError::new(
                    400,
                    "document_parsing_exception",
                    format!(
                        "{} field name cannot contain only whitespace: ['{full}']",
                        self.loc()
                    ),
                ));
            }
            let child = match node.properties.get(head) {
                Some(FieldMapping::Object(_)) => true,
                Some(FieldMapping::Leaf(l)) if l.ty == "flattened" => false,
                Some(FieldMapping::Leaf(_)) => {
                    return Err(EsError::new(
                        400,
                        "document_parsing_exception",
                        format!(
                            "{} Could not dynamically add mapping for field [{full}]. Existing mapping for [{}] must be of type object but found [{}].",
                            self.loc(),
                            join(path, head),
                            self.leaf_type(node, head)
                        ),
                    ));
                }
                None => match dynamic {
                    Dynamic::Strict => return Err(self.strict(head, path)),
                    Dynamic::True if self.dry => return Err(needs_update()),
                    Dynamic::True => {
                        node.properties.insert(
                            head.to_string(),
                            FieldMapping::Object(ObjectMapping::default()),
                        );
                        true
                    }
                    Dynamic::False | Dynamic::Runtime => return Ok(()),
                },
            };
            if child {
                let Some(FieldMapping::Object(o)) = node.properties.get_mut(head) else {
                    unreachable!()
                };
                let d = o.dynamic.unwrap_or(dynamic);
                let head_path = join(path, head);
                return self.field(o, &head_path, d, tail, value);
            }
            // a flattened field addressed with a dotted key: index it whole
            let wrapped = json!({ tail: value.clone() });
            let Some(FieldMapping::Leaf(l)) = node.properties.get(head) else {
                unreachable!()
            };
            return self.flattened(l, &join(path, head), &wrapped);
        }
        match node.properties.get_mut(name) {
            Some(FieldMapping::Object(o)) => {
                let d = o.dynamic.unwrap_or(dynamic);
                self.object_value(o, &full, name, d, value)
            }
            Some(FieldMapping::Leaf(l)) => {
                self.leaf(l, &full, value)?;
                Ok(())
            }
            None => self.dynamic_field(node, path, dynamic, name, value, subobjects),
        }
    }

    fn leaf_type(&self, node: &ObjectMapping, name: &str) -> String {
        match node.properties.get(name) {
            Some(FieldMapping::Leaf(l)) => l.ty.clone(),
            _ => "object".into(),
        }
    }

    fn strict(&self, name: &str, parent: &str) -> EsError {
        EsError::new(
            400,
            "strict_dynamic_mapping_exception",
            format!(
                "{} mapping set to strict, dynamic introduction of [{name}] within [{}] is not allowed",
                self.loc(),
                if parent.is_empty() { "_doc" } else { parent }
            ),
        )
    }

    fn object_value(
        &mut self,
        o: &mut ObjectMapping,
        full: &str,
        name: &str,
        dynamic: Dynamic,
        value: &Value,
    ) -> Result<(), EsError> {
        match value {
            Value::Object(m) => self.object(o, full, dynamic, m),
            Value::Null => Ok(()),
            Value::Array(items) => {
                for item in items {
                    self.object_value(o, full, name, dynamic, item)?;
                }
                Ok(())
            }
            _ => Err(EsError::new(
                400,
                "document_parsing_exception",
                format!(
                    "{} object mapping for [{full}] tried to parse field [{name}] as object, but found a concrete value",
                    self.loc()
                ),
            )),
        }
    }

    fn dynamic_field(
        &mut self,
        node: &mut ObjectMapping,
        path: &str,
        dynamic: Dynamic,
        name: &str,
        value: &Value,
        subobjects: bool,
    ) -> Result<(), EsError> {
        let full = join(path, name);
        match dynamic {
            Dynamic::Strict => return Err(self.strict(name, path)),
            Dynamic::False | Dynamic::Runtime => return Ok(()),
            Dynamic::True => {}
        }
        let first = match value {
            Value::Array(a) => a.iter().find(|v| !v.is_null()),
            v => Some(v),
        };
        let Some(first) = first else { return Ok(()) };
        if self.dry && (subobjects || !first.is_object()) {
            return Err(needs_update());
        }
        if let Value::Object(m) = first {
            if !subobjects {
                // subobjects: false: inner objects become dotted leaf names
                for item in value
                    .as_array()
                    .map(|a| a.iter().collect())
                    .unwrap_or_else(|| vec![value])
                {
                    if let Value::Object(m) = item {
                        for (k, v) in m {
                            self.keys.push(k.clone());
                            let r = self.field(node, path, dynamic, &format!("{name}.{k}"), v);
                            self.keys.pop();
                            r?;
                        }
                    }
                }
                return Ok(());
            }
            if let Some(mapping) = self.template_for(&full, name, "object")
                && mapping
                    .get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t != "object")
            {
                let FieldMapping::Leaf(mut l) = parse_field(&full, name, &mapping)? else {
                    unreachable!()
                };
                self.leaf(&mut l, &full, value)?;
                node.properties
                    .insert(name.to_string(), FieldMapping::Leaf(l));
                return Ok(());
            }
            let _ = m;
            node.properties.insert(
                name.to_string(),
                FieldMapping::Object(ObjectMapping::default()),
            );
            let Some(FieldMapping::Object(o)) = node.properties.get_mut(name) else {
                unreachable!()
            };
            return self.object_value(o, &full, name, dynamic, value);
        }
        let detected = match first {
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_f64() => "double",
            Value::Number(_) => "long",
            Value::String(s) => {
                if self.date_detection
                    && dates::parse_date(s, "strict_date_optional_time").is_some()
                    && s.contains('-')
                {
                    "date"
                } else if self.numeric_detection && s.parse::<i64>().is_ok() {
                    "long"
                } else if self.numeric_detection && s.parse::<f64>().is_ok() {
                    "double"
                } else {
                    "string"
                }
            }
            _ => "object",
        };
        let mapping = self.template_for(&full, name, detected).unwrap_or_else(|| match detected {
            "string" => json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}),
            "double" => json!({"type": "float"}),
            other => json!({"type": other}),
        });
        let mut mapping = mapping;
        if mapping.get("type").is_none() {
            let ty = match detected {
                "string" => "text",
                "double" => "float",
                other => other,
            };
            mapping["type"] = json!(ty);
        }
        let FieldMapping::Leaf(mut l) = parse_field(&full, name, &mapping)? else {
            return Ok(());
        };
        self.leaf(&mut l, &full, value)?;
        node.properties
            .insert(name.to_string(), FieldMapping::Leaf(l));
        Ok(())
    }

    /// The first dynamic template matching, with placeholders filled in.
    fn template_for(&self, full: &str, name: &str, detected: &str) -> Option<Value> {
        let matches = |rule: &Map<String, Value>, key: &str, text: &str| -> Option<bool> {
            let v = rule.get(key)?;
            let pats: Vec<&str> = match v {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            Some(pats.iter().any(|p| glob(p, text)))
        };
        let mapping_type_ok = |rule: &Map<String, Value>, key: &str| -> Option<bool> {
            let v = rule.get(key)?;
            let list: Vec<&str> = match v {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            Some(list.iter().any(|t| *t == "*" || *t == detected))
        };
        for t in self.templates {
            let r = &t.rule;
            if mapping_type_ok(r, "match_mapping_type") == Some(false)
                || mapping_type_ok(r, "unmatch_mapping_type") == Some(true)
                || matches(r, "match", name) == Some(false)
                || matches(r, "unmatch", name) == Some(true)
                || matches(r, "path_match", full) == Some(false)
                || matches(r, "path_unmatch", full) == Some(true)
            {
                continue;
            }
            let Some(mapping) = r.get("mapping") else {
                continue;
            };
            let dyn_type = if detected == "string" {
                "text"
            } else {
                detected
            };
            let text = mapping
                .to_string()
                .replace("{name}", name)
                .replace("{dynamic_type}", dyn_type);
            return serde_json::from_str(&text).ok();
        }
        None
    }

    fn push(&mut self, path: &str, v: Val) {
        self.values.entry(path.to_string()).or_default().push(v);
    }

    fn leaf(&mut self, l: &mut Leaf, full: &str, value: &Value) -> Result<(), EsError> {
        if l.ty == "flattened" {
            return self.flattened(l, full, value);
        }
        match value {
            Value::Array(items) => {
                for item in items {
                    self.leaf(l, full, item)?;
                }
                Ok(())
            }
            Value::Null => match l.params.get("null_value").cloned() {
                Some(nv) if !nv.is_null() => self.leaf(l, full, &nv),
                _ => Ok(()),
            },
            _ => {
                self.scalar(l, full, value)?;
                for (sub, sl) in l.fields.iter_mut() {
                    self.leaf(sl, &format!("{full}.{sub}"), value)?;
                }
                Ok(())
            }
        }
    }

    fn scalar(&mut self, l: &mut Leaf, full: &str, value: &Value) -> Result<(), EsError> {
        let ty = l.ty.clone();
        let token = match value {
            Value::Object(_) => "START_OBJECT",
            Value::Bool(true) => "VALUE_TRUE",
            Value::Bool(false) => "VALUE_FALSE",
            Value::Number(_) => "VALUE_NUMBER",
            _ => "VALUE_STRING",
        };
        if value.is_object()
            && ty != "geo_point"
            && ty != "geo_shape"
            && ty != "aggregate_metric_double"
        {
            let inner = cause(
                "illegal_state_exception",
                format!(
                    "Can't get text on a START_OBJECT at {}",
                    &self.loc()[1..self.loc().len() - 1]
                ),
            );
            return Err(self.field_error(full, &ty, value, inner));
        }
        let text = || match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match ty.as_str() {
            "keyword" | "wildcard" | "version" => {
                let s = text();
                let limit = l
                    .params
                    .get("ignore_above")
                    .and_then(Value::as_u64)
                    .unwrap_or(u64::MAX);
                if (s.chars().count() as u64) <= limit {
                    self.push(full, Val::Str(s));
                }
            }
            "constant_keyword" => {
                let s = text();
                match l.params.get("value").and_then(Value::as_str) {
                    Some(v) if v != s => {
                        let inner = cause(
                            "illegal_argument_exception",
                            format!(
                                "[constant_keyword] field [{full}] only accepts values that are equal to the value defined in the mappings [{v}], but got [{s}]"
                            ),
                        );
                        return Err(self.field_error(full, &ty, value, inner));
                    }
                    Some(_) => {}
                    None if self.dry => return Err(needs_update()),
                    None => {
                        l.params.insert("value".into(), json!(s));
                    }
                }
                self.push(full, Val::Str(s));
            }
            "text" | "match_only_text" | "search_as_you_type" | "annotated_text" => {
                self.push(full, Val::Text(text()))
            }
            "ip" => {
                let s = text();
                if s.parse::<std::net::IpAddr>().is_err() {
                    let inner = cause(
                        "illegal_argument_exception",
                        format!("'{s}' is not an IP string literal."),
                    );
                    return Err(self.field_error(full, &ty, value, inner));
                }
                self.push(full, Val::Str(s));
            }
            t if is_numeric(t) => {
                let coerce = l
                    .params
                    .get("coerce")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                let n = match value {
                    Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                    Value::String(s) if coerce => match s.trim().parse::<f64>() {
                        Ok(n)
                            if !s.trim().eq_ignore_ascii_case("nan")
                                && !s.trim().to_ascii_lowercase().contains("inf") =>
                        {
                            n
                        }
                        Ok(_) if !is_integer(t) => {
                            let inner = cause(
                                "illegal_argument_exception",
                                format!("[{t}] supports only finite values, but got [{s}]"),
                            );
                            return Err(self.field_error(full, &ty, value, inner));
                        }
                        _ => {
                            let inner = cause(
                                "number_format_exception",
                                format!("For input string: \"{s}\""),
                            );
                            return Err(self.field_error(full, &ty, value, inner));
                        }
                    },
                    Value::String(_) => {
                        let inner = cause(
                            "illegal_argument_exception",
                            "Cannot parse a string into a number: coerce is disabled",
                        );
                        return Err(self.field_error(full, &ty, value, inner));
                    }
                    _ => {
                        let inner = cause(
                            "x_content_parse_exception",
                            format!(
                                "{} Current token ({token}) not numeric, can not use numeric value accessors",
                                self.loc()
                            ),
                        );
                        return Err(self.field_error(full, &ty, value, inner));
                    }
                };
                let n = if is_integer(t) {
                    if n.fract() != 0.0 && !coerce {
                        let inner = cause(
                            "illegal_argument_exception",
                            format!("Value [{n}] has a decimal part"),
                        );
                        return Err(self.field_error(full, &ty, value, inner));
                    }
                    let (lo, hi) = match t {
                        "integer" => (i32::MIN as f64, i32::MAX as f64),
                        "short" => (i16::MIN as f64, i16::MAX as f64),
                        "byte" => (i8::MIN as f64, i8::MAX as f64),
                        "unsigned_long" => (0.0, u64::MAX as f64),
                        _ => (i64::MIN as f64, i64::MAX as f64),
                    };
                    if n < lo || n > hi {
                        let inner = cause(
                            "illegal_argument_exception",
                            format!(
                                "Value [{}] is out of range for {} {t}",
                                text(),
                                if t == "integer" { "an" } else { "a" }
                            ),
                        );
                        return Err(self.field_error(full, &ty, value, inner));
                    }
                    n.trunc()
                } else {
                    n
                };
                self.push(full, Val::Num(n));
            }
            t if is_date(t) => {
                let format = l
                    .params
                    .get("format")
                    .and_then(Value::as_str)
                    .unwrap_or(DEFAULT_FORMAT)
                    .to_string();
                let parsed = match value {
                    Value::String(s) => dates::parse_date(s, &format),
                    Value::Number(n) => dates::parse_date(&n.to_string(), &format).or_else(|| {
                        n.as_f64()
                            .filter(|_| format.contains("epoch_millis"))
                            .map(|f| f as i64)
                    }),
                    _ => None,
                };
                match parsed {
                    Some(ms) => self.push(full, Val::Date(ms)),
                    None => {
                        let inner = cause(
                            "illegal_argument_exception",
                            format!(
                                "failed to parse date field [{}] with format [{format}]",
                                text()
                            ),
                        )
                        .as_object()
                        .cloned()
                        .map(|mut m| {
                            m.insert(
                                "caused_by".into(),
                                cause(
                                    "date_time_parse_exception",
                                    "Failed to parse with all enclosed parsers",
                                ),
                            );
                            Value::Object(m)
                        })
                        .unwrap_or_default();
                        return Err(self.field_error(full, &ty, value, inner));
                    }
                }
            }
            "boolean" => {
                let b = match value {
                    Value::Bool(b) => Some(*b),
                    Value::String(s) if s == "true" => Some(true),
                    Value::String(s) if s == "false" || s.is_empty() => Some(false),
                    _ => None,
                };
                match b {
                    Some(b) => self.push(full, Val::Bool(b)),
                    None => {
                        let inner = cause(
                            "illegal_argument_exception",
                            format!(
                                "Failed to parse value [{}] as only [true] or [false] are allowed.",
                                text()
                            ),
                        );
                        return Err(self.field_error(full, &ty, value, inner));
                    }
                }
            }
            _ => {} // other real types: accepted, not indexed by the stand-in
        }
        Ok(())
    }

    fn flattened(&mut self, l: &Leaf, full: &str, value: &Value) -> Result<(), EsError> {
        let limit = l
            .params
            .get("depth_limit")
            .and_then(Value::as_u64)
            .unwrap_or(20) as usize;
        let ignore_above = l
            .params
            .get("ignore_above")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX);
        let mut leaves = Vec::new();
        fn walk(v: &Value, key: &str, depth: usize, out: &mut Vec<(String, String)>) -> usize {
            match v {
                Value::Object(m) => m
                    .iter()
                    .map(|(k, v)| walk(v, &join(key, k), depth + 1, out))
                    .max()
                    .unwrap_or(depth),
                Value::Array(a) => a
                    .iter()
                    .map(|v| walk(v, key, depth, out))
                    .max()
                    .unwrap_or(depth),
                Value::Null => depth,
                Value::String(s) => {
                    out.push((key.to_string(), s.clone()));
                    depth
                }
                other => {
                    out.push((key.to_string(), other.to_string()));
                    depth
                }
            }
        }
        let depth = walk(value, "", 0, &mut leaves);
        if depth > limit {
            let inner = cause(
                "illegal_argument_exception",
                format!(
                    "The provided [flattened] field [{full}] exceeds the maximum depth limit of [{limit}]."
                ),
            );
            return Err(EsError::new(400, "document_parsing_exception", format!("{} failed to parse field [{full}] of type [flattened] in document with id '{}'. Preview of field's value: '{}'", self.loc(), self.id, preview(value))).caused_by(inner));
        }
        for (key, s) in leaves {
            if (s.chars().count() as u64) > ignore_above {
                continue;
            }
            self.push(full, Val::Str(s.clone()));
            if !key.is_empty() {
                self.push(&format!("{full}.{key}"), Val::Str(s));
            }
        }
        Ok(())
    }
}

/// Lowercase word tokens of analysed text (the standard analyzer, roughly).
pub(crate) fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smm_mapping() -> Mapping {
        Mapping::from_json(&json!({
            "dynamic": "strict",
            "dynamic_templates": [{"labels_as_keywords": {"path_match": "labels.*", "mapping": {"type": "keyword", "ignore_above": 1024}}}],
            "properties": {
                "@timestamp": {"type": "date"},
                "data_stream": {"properties": {"type": {"type": "constant_keyword"}}},
                "measurement": {"properties": {"value": {"type": "double"}, "details": {"type": "flattened", "depth_limit": 2}}},
                "event": {"properties": {"duration": {"type": "long"}}},
                "labels": {"type": "object", "dynamic": true, "subobjects": false}
            }
        }))
        .unwrap()
    }

    fn parse(m: &mut Mapping, doc: Value) -> Result<Values, EsError> {
        let line = doc.to_string();
        parse_document(m, "1", &line, &doc, false)
    }

    #[test]
    fn strict_mapping_and_types() {
        let mut m = smm_mapping();
        let v = parse(&mut m, json!({"@timestamp": "2026-11-27T10:00:00Z", "measurement": {"value": "12.5", "details": {"a": 1}},
            "labels": {"team": "payments", "tier": 1, "a": {"b": "c"}}, "event": {"duration": 2.7}})).unwrap();
        assert_eq!(v["measurement.value"], vec![Val::Num(12.5)]);
        assert_eq!(v["labels.tier"], vec![Val::Str("1".into())]);
        assert_eq!(v["labels.a.b"], vec![Val::Str("c".into())]);
        assert_eq!(v["measurement.details.a"], vec![Val::Str("1".into())]);
        assert_eq!(v["event.duration"], vec![Val::Num(2.0)]);
        assert_eq!(m.field_type("labels.team").as_deref(), Some("keyword"));

        // a failing document leaves no dynamic field behind
        let e = parse(&mut m, json!({"labels": {"new": "x"}, "zzz": 1})).unwrap_err();
        assert_eq!(e.item_cause()["type"], "strict_dynamic_mapping_exception");
        assert!(m.lookup("labels.new").is_none());
        parse(&mut m, json!({"labels": {"new": "x"}})).unwrap();
        assert!(m.lookup("labels.new").is_some());
        let e = parse(&mut m, json!({"extra": 1})).unwrap_err();
        assert_eq!(e.item_cause()["type"], "strict_dynamic_mapping_exception");
        assert_eq!(
            e.item_cause()["reason"],
            "[1:10] mapping set to strict, dynamic introduction of [extra] within [_doc] is not allowed"
        );
        let e = parse(&mut m, json!({"event": {"kind2": "x"}})).unwrap_err();
        assert!(
            e.item_cause()["reason"]
                .as_str()
                .unwrap()
                .contains("[kind2] within [event]")
        );
        let e = parse(&mut m, json!({"measurement": {"value": "twelve"}})).unwrap_err();
        assert_eq!(e.item_cause()["type"], "document_parsing_exception");
        assert_eq!(
            e.item_cause()["caused_by"]["type"],
            "number_format_exception"
        );
        let e = parse(&mut m, json!({"@timestamp": "yesterday"})).unwrap_err();
        assert_eq!(
            e.item_cause()["caused_by"]["type"],
            "illegal_argument_exception"
        );
        let e = parse(
            &mut m,
            json!({"measurement": {"details": {"a": {"b": {"c": 1}}}}}),
        )
        .unwrap_err();
        assert!(
            e.item_cause()["caused_by"]["reason"]
                .as_str()
                .unwrap()
                .contains("maximum depth limit of [2]")
        );
        let e = parse(&mut m, json!({"event": "x"})).unwrap_err();
        assert!(
            e.item_cause()["reason"]
                .as_str()
                .unwrap()
                .contains("tried to parse field [event] as object")
        );
        // constant_keyword: the first value sticks
        parse(&mut m, json!({"data_stream": {"type": "metrics"}})).unwrap();
        let e = parse(&mut m, json!({"data_stream.type": "logs"})).unwrap_err();
        assert!(
            e.item_cause()["caused_by"]["reason"]
                .as_str()
                .unwrap()
                .contains("equal to the value defined in the mappings [metrics]")
        );
    }

    #[test]
    fn mapping_validation() {
        assert!(Mapping::from_json(&json!({"properties": {"a": {"type": "strnig"}}})).is_err());
        assert!(
            Mapping::from_json(&json!({"properties": {"a": {"type": "keyword", "foo": 1}}}))
                .is_err()
        );
        assert!(Mapping::from_json(&json!({"foo": 1})).is_err());
        assert!(glob("labels.*", "labels.a.b") && !glob("labels.*", "labels") && glob("*", ""));
    }
}
