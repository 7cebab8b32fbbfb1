//! ILM policies, component templates, composable index templates and
//! data streams.
//!
//! Shapes follow `specification/ilm/put_lifecycle/` and `get_lifecycle/`
//! (`Lifecycle`: `version`, `modified_date`, `policy`), `specification/
//! cluster/put_component_template/` and `get_component_template/`
//! (`component_templates: [{name, component_template}]`),
//! `specification/indices/put_index_template/` and `get_index_template/`
//! (`index_templates: [{name, index_template}]`), `specification/indices/
//! create_data_stream/` and `get_data_stream/` (`data_streams: [...]`).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::cluster::{Cluster, Stored, flatten_settings, nest_settings, patterns};
use super::dates::{self, format_millis, now_millis};
use super::error::{EsError, cause};
use super::mapping::{Mapping, glob};
use super::server::Req;

fn ack() -> Value {
    json!({"acknowledged": true})
}

fn body_object(req: &Req) -> Result<Map<String, Value>, EsError> {
    match req.json_body()? {
        None => Err(EsError::parse("request body is required")),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(EsError::parse("request body must be an object")),
    }
}

fn unknown_field(parser: &str, field: &str) -> EsError {
    EsError::x_content(format!("[1:2] [{parser}] unknown field [{field}]"))
}

/// Names from a path part: comma lists with wildcards, against `names`.
fn select<'a, I: Iterator<Item = &'a String>>(
    expr: Option<&str>,
    names: I,
) -> (Vec<String>, Vec<String>) {
    let names: Vec<&String> = names.collect();
    let Some(expr) = expr.filter(|e| !e.is_empty() && *e != "_all" && *e != "*") else {
        return (names.into_iter().cloned().collect(), Vec::new());
    };
    let (mut found, mut missing) = (Vec::new(), Vec::new());
    for part in expr.split(',') {
        if part.contains('*') {
            found.extend(
                names
                    .iter()
                    .filter(|n| glob(part, n))
                    .map(|n| n.to_string()),
            );
        } else if names.iter().any(|n| *n == part) {
            found.push(part.to_string());
        } else {
            missing.push(part.to_string());
        }
    }
    found.dedup();
    (found, missing)
}

// ---- ILM ------------------------------------------------------------------

const PHASES: &[(&str, &[&str])] = &[
    (
        "hot",
        &[
            "set_priority",
            "unfollow",
            "rollover",
            "readonly",
            "downsample",
            "shrink",
            "forcemerge",
            "searchable_snapshot",
        ],
    ),
    (
        "warm",
        &[
            "set_priority",
            "unfollow",
            "readonly",
            "downsample",
            "allocate",
            "migrate",
            "shrink",
            "forcemerge",
        ],
    ),
    (
        "cold",
        &[
            "set_priority",
            "unfollow",
            "readonly",
            "downsample",
            "searchable_snapshot",
            "allocate",
            "migrate",
            "freeze",
        ],
    ),
    ("frozen", &["unfollow", "searchable_snapshot"]),
    ("delete", &["wait_for_snapshot", "delete"]),
];

fn validate_policy(policy: &Value) -> Result<(), EsError> {
    let Some(p) = policy.as_object() else {
        return Err(EsError::x_content(
            "[1:11] [put_lifecycle_request] failed to parse field [policy]",
        ));
    };
    for k in p.keys() {
        if !matches!(k.as_str(), "phases" | "_meta" | "deprecated") {
            return Err(unknown_field("lifecycle_policy", k));
        }
    }
    let phases = p
        .get("phases")
        .ok_or_else(|| EsError::x_content("[1:2] [lifecycle_policy] Required [phases]"))?;
    for (phase, def) in phases.as_object().into_iter().flatten() {
        let Some((_, allowed)) = PHASES.iter().find(|(n, _)| n == phase) else {
            return Err(EsError::illegal_argument(format!(
                "Timeseries lifecycle does not support phase [{phase}]"
            )));
        };
        let def = def.as_object().cloned().unwrap_or_default();
        for k in def.keys() {
            if !matches!(k.as_str(), "min_age" | "actions") {
                return Err(unknown_field("phase", k));
            }
        }
        if let Some(min_age) = def.get("min_age").and_then(Value::as_str) {
            dates::parse_time_value(min_age, "min_age")?;
        }
        let actions = def
            .get("actions")
            .ok_or_else(|| EsError::x_content("[1:2] [phase] Required [actions]"))?;
        for (action, body) in actions.as_object().into_iter().flatten() {
            if !PHASES
                .iter()
                .any(|(_, acts)| acts.contains(&action.as_str()))
            {
                return Err(
                    EsError::x_content("[1:2] [phase] failed to parse field [actions]").caused_by(
                        cause(
                            "x_content_parse_exception",
                            format!("[1:2] Unknown LifecycleAction [{action}]"),
                        ),
                    ),
                );
            }
            if !allowed.contains(&action.as_str()) {
                return Err(EsError::illegal_argument(format!(
                    "invalid action [{action}] defined in phase [{phase}]"
                )));
            }
            if action == "rollover" {
                const CONDITIONS: &[&str] = &[
                    "max_age",
                    "max_docs",
                    "max_size",
                    "max_primary_shard_size",
                    "max_primary_shard_docs",
                    "min_age",
                    "min_docs",
                    "min_size",
                    "min_primary_shard_size",
                    "min_primary_shard_docs",
                ];
                let conditions = body.as_object().cloned().unwrap_or_default();
                if let Some(k) = conditions
                    .keys()
                    .find(|k| !CONDITIONS.contains(&k.as_str()))
                {
                    return Err(unknown_field("rollover", k));
                }
                if !conditions.keys().any(|k| k.starts_with("max_")) {
                    return Err(EsError::illegal_argument(
                        "At least one max_* rollover condition must be set.",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `index.lifecycle.name` of each index, template and data stream.
fn policy_users(cluster: &Cluster, policy: &str) -> Value {
    let uses = |settings: &Map<String, Value>| {
        settings.get("index.lifecycle.name").and_then(Value::as_str) == Some(policy)
    };
    let indices: Vec<&String> = cluster
        .indices
        .values()
        .filter(|i| uses(&i.settings))
        .map(|i| &i.name)
        .collect();
    let streams: Vec<&String> = cluster
        .data_streams
        .values()
        .filter(|d| {
            d.indices
                .last()
                .and_then(|i| cluster.indices.get(i))
                .is_some_and(|i| uses(&i.settings))
        })
        .map(|d| &d.name)
        .collect();
    let templates: Vec<&String> = cluster
        .index_templates
        .iter()
        .filter(|(_, t)| cluster.compose(&t.body).is_ok_and(|(_, s)| uses(&s)))
        .map(|(n, _)| n)
        .collect();
    json!({"indices": indices, "data_streams": streams, "composable_templates": templates})
}

pub(crate) fn ilm(cluster: &mut Cluster, req: &Req, name: Option<&str>) -> Result<Value, EsError> {
    match req.method.as_str() {
        "PUT" => {
            let name = name.unwrap_or_default();
            let body = body_object(req)?;
            if let Some(k) = body.keys().find(|k| *k != "policy") {
                return Err(unknown_field("put_lifecycle_request", k));
            }
            let policy = body.get("policy").ok_or_else(|| {
                EsError::x_content("[1:2] [put_lifecycle_request] Required [policy]")
            })?;
            validate_policy(policy)?;
            let now = now_millis();
            let entry = cluster.ilm.entry(name.to_string()).or_insert(Stored {
                body: Value::Null,
                version: 0,
                created: now,
                modified: now,
            });
            entry.body = policy.clone();
            entry.version += 1;
            entry.modified = now;
            Ok(ack())
        }
        "DELETE" => {
            let name = name.unwrap_or_default();
            if !cluster.ilm.contains_key(name) {
                return Err(EsError::resource_not_found(format!(
                    "Lifecycle policy not found: {name}"
                )));
            }
            let users = policy_users(cluster, name);
            if users["indices"].as_array().is_some_and(|a| !a.is_empty()) {
                return Err(EsError::illegal_argument(format!(
                    "Cannot delete policy [{name}]. It is in use by one or more indices: {}",
                    users["indices"]
                )));
            }
            cluster.ilm.remove(name);
            Ok(ack())
        }
        _ => {
            let (found, missing) = select(name, cluster.ilm.keys());
            if !missing.is_empty() {
                return Err(EsError::resource_not_found(format!(
                    "Lifecycle policy not found: [{}]",
                    missing.join(", ")
                )));
            }
            let mut out = Map::new();
            for n in found {
                let p = &cluster.ilm[&n];
                out.insert(
                    n.clone(),
                    json!({"version": p.version, "modified_date": format_millis(p.modified), "policy": p.body, "in_use_by": policy_users(cluster, &n)}),
                );
            }
            Ok(Value::Object(out))
        }
    }
}

// ---- component templates ----------------------------------------------------

const SETTING_PREFIXES: &[&str] = &[
    "index.number_of_shards",
    "index.number_of_replicas",
    "index.auto_expand_replicas",
    "index.refresh_interval",
    "index.codec",
    "index.lifecycle.",
    "index.hidden",
    "index.mapping.",
    "index.max_result_window",
    "index.sort.",
    "index.routing.",
    "index.routing_path",
    "index.mode",
    "index.default_pipeline",
    "index.final_pipeline",
    "index.query.",
    "index.translog.",
    "index.priority",
    "index.blocks.",
    "index.analysis.",
    "index.similarity.",
    "index.look_ahead_time",
    "index.time_series.",
    "index.store.",
    "index.merge.",
    "index.search.",
    "index.indexing.",
    "index.unassigned.",
    "index.write.",
    "index.max_inner_result_window",
    "index.max_docvalue_fields_search",
    "index.max_script_fields",
    "index.max_ngram_diff",
    "index.max_shingle_diff",
    "index.max_refresh_listeners",
    "index.analyze.",
    "index.highlight.",
    "index.max_terms_count",
    "index.max_regex_length",
    "index.gc_deletes",
    "index.soft_deletes.",
    "index.shard.",
    "index.queries.",
    "index.requests.",
    "index.load_fixed_bitset_filters_eagerly",
    "index.allocation.",
    "index.routing_partition_size",
    "index.max_slices_per_scroll",
    "index.default_field",
    "index.format",
    "index.frozen",
    "index.source_only",
    "index.dense_vector.",
    "index.logsdb.",
    "index.recovery.",
    "index.fast_refresh",
    "index.bloom_filter_for_id_field.",
    "index.number_of_routing_shards",
];

fn validate_settings(settings: &Value) -> Result<(), EsError> {
    let flat = flatten_settings(settings);
    for (k, v) in &flat {
        if !SETTING_PREFIXES.iter().any(|p| {
            if p.ends_with('.') {
                k.starts_with(p)
            } else {
                k == p
            }
        }) {
            return Err(EsError::illegal_argument(format!(
                "unknown setting [{k}] please check that any required plugins are installed, or check the breaking changes documentation for removed settings"
            )));
        }
        if matches!(
            k.as_str(),
            "index.number_of_shards" | "index.number_of_replicas"
        ) {
            let min = if k == "index.number_of_shards" { 1 } else { 0 };
            let text = v.as_str().unwrap_or_default();
            match text.parse::<i64>() {
                Ok(n) if n >= min => {}
                Ok(_) => {
                    return Err(EsError::illegal_argument(format!(
                        "Failed to parse value [{text}] for setting [{k}] must be >= {min}"
                    )));
                }
                Err(_) => {
                    return Err(EsError::illegal_argument(format!(
                        "Failed to parse value [{text}] for setting [{k}]"
                    )));
                }
            }
        }
    }
    Ok(())
}

fn mapping_error(e: EsError) -> EsError {
    let inner = e.item_cause();
    if inner["type"] != "mapper_parsing_exception" {
        return e;
    }
    EsError::new(
        400,
        "mapper_parsing_exception",
        format!(
            "Failed to parse mapping: {}",
            inner["reason"].as_str().unwrap_or_default()
        ),
    )
    .caused_by(inner)
}

/// Check a `template` block (shared by component and index templates).
fn validate_template_block(t: &Value) -> Result<(), EsError> {
    let Some(t) = t.as_object() else {
        return Err(EsError::x_content(
            "[1:14] [template] failed to parse object",
        ));
    };
    for (k, v) in t {
        match k.as_str() {
            "mappings" => {
                Mapping::from_json(v).map_err(mapping_error)?;
            }
            "settings" => validate_settings(v)?,
            "aliases" | "lifecycle" | "data_stream_options" => {}
            other => return Err(unknown_field("template", other)),
        }
    }
    Ok(())
}

/// Echo a stored body with settings in ES's nested string form.
fn normalized(body: &Value) -> Value {
    let mut b = body.clone();
    if let Some(s) = body.pointer("/template/settings") {
        b["template"]["settings"] = nest_settings(&flatten_settings(s));
    }
    b
}

pub(crate) fn component(
    cluster: &mut Cluster,
    req: &Req,
    name: Option<&str>,
) -> Result<Value, EsError> {
    match req.method.as_str() {
        "PUT" | "POST" => {
            let name = name.unwrap_or_default();
            let body = body_object(req)?;
            if req.flag("create")?.unwrap_or(false) && cluster.components.contains_key(name) {
                return Err(EsError::illegal_argument(format!(
                    "component template [{name}] already exists"
                )));
            }
            for k in body.keys() {
                if !matches!(k.as_str(), "template" | "version" | "_meta" | "deprecated") {
                    return Err(unknown_field("component_template", k));
                }
            }
            let t = body
                .get("template")
                .ok_or_else(|| EsError::x_content("[1:2] Required [template]"))?;
            validate_template_block(t)?;
            let now = now_millis();
            let created = cluster.components.get(name).map_or(now, |c| c.created);
            let version = body.get("version").and_then(Value::as_u64).unwrap_or(0);
            cluster.components.insert(
                name.to_string(),
                Stored {
                    body: Value::Object(body),
                    version,
                    created,
                    modified: now,
                },
            );
            Ok(ack())
        }
        "DELETE" => {
            let name = name.unwrap_or_default();
            if !cluster.components.contains_key(name) {
                return Err(EsError::resource_not_found(format!(
                    "component template matching [{name}] not found"
                )));
            }
            let users: Vec<&String> = cluster
                .index_templates
                .iter()
                .filter(|(_, t)| {
                    t.body
                        .get("composed_of")
                        .and_then(Value::as_array)
                        .is_some_and(|c| c.iter().any(|x| x == name))
                })
                .map(|(n, _)| n)
                .collect();
            if !users.is_empty() {
                return Err(EsError::illegal_argument(format!(
                    "component templates [{name}] cannot be removed as they are still in use by index templates [{}]",
                    users
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            cluster.components.remove(name);
            Ok(ack())
        }
        _ => {
            let (found, missing) = select(name, cluster.components.keys());
            if let Some(m) = missing.first() {
                return Err(EsError::resource_not_found(format!(
                    "component template matching [{m}] not found"
                )));
            }
            if found.is_empty() && name.is_some_and(|n| n.contains('*')) {
                return Ok(json!({"component_templates": []}));
            }
            let list: Vec<Value> = found
                .iter()
                .map(|n| json!({"name": n, "component_template": normalized(&cluster.components[n].body)}))
                .collect();
            Ok(json!({"component_templates": list}))
        }
    }
}

// ---- index templates ------------------------------------------------------------

/// Whether two `*` patterns can match a common name.
pub(crate) fn globs_intersect(a: &str, b: &str) -> bool {
    fn go(a: &[u8], b: &[u8], memo: &mut HashMap<(usize, usize), bool>) -> bool {
        let key = (a.len(), b.len());
        if let Some(&r) = memo.get(&key) {
            return r;
        }
        let r = match (a.first(), b.first()) {
            (None, None) => true,
            (None, _) => b.iter().all(|&c| c == b'*'),
            (_, None) => a.iter().all(|&c| c == b'*'),
            (Some(b'*'), _) => go(&a[1..], b, memo) || go(a, &b[1..], memo),
            (_, Some(b'*')) => go(a, &b[1..], memo) || go(&a[1..], b, memo),
            (Some(x), Some(y)) => x == y && go(&a[1..], &b[1..], memo),
        };
        memo.insert(key, r);
        r
    }
    go(a.as_bytes(), b.as_bytes(), &mut HashMap::new())
}

fn put_index_template(cluster: &mut Cluster, req: &Req, name: &str) -> Result<Value, EsError> {
    let body = body_object(req)?;
    if req.flag("create")?.unwrap_or(false) && cluster.index_templates.contains_key(name) {
        return Err(EsError::illegal_argument(format!(
            "index template [{name}] already exists"
        )));
    }
    for (k, v) in &body {
        match k.as_str() {
            "index_patterns"
            | "composed_of"
            | "template"
            | "priority"
            | "version"
            | "_meta"
            | "allow_auto_create"
            | "ignore_missing_component_templates"
            | "deprecated" => {}
            "data_stream" => {
                for dk in v.as_object().into_iter().flatten().map(|(k, _)| k) {
                    if !matches!(
                        dk.as_str(),
                        "hidden" | "allow_custom_routing" | "failure_store"
                    ) {
                        return Err(unknown_field("data_stream_template", dk));
                    }
                }
            }
            _ => return Err(unknown_field("index_template", k)),
        }
    }
    let body = Value::Object(body);
    let pats = patterns(&body);
    let mut problems = Vec::new();
    if pats.is_empty() {
        problems.push("index patterns are missing".to_string());
    }
    let priority = body.get("priority").and_then(Value::as_i64).unwrap_or(0);
    if priority < 0 {
        problems.push("index template priority must be >= 0".into());
    }
    if !problems.is_empty() {
        return Err(EsError::validation(&problems));
    }
    if let Some(t) = body.get("template") {
        validate_template_block(t)?;
    }
    let composed: Vec<String> = body
        .get("composed_of")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let ignored: Vec<&str> = body
        .get("ignore_missing_component_templates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let missing: Vec<&String> = composed
        .iter()
        .filter(|c| !cluster.components.contains_key(*c) && !ignored.contains(&c.as_str()))
        .collect();
    if !missing.is_empty() {
        return Err(EsError::illegal_argument(format!(
            "index template [{name}] specifies component templates [{}] that do not exist",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let conflicts: Vec<(&String, Vec<String>)> = cluster
        .index_templates
        .iter()
        .filter(|(n, _)| n.as_str() != name)
        .filter(|(_, t)| t.body.get("priority").and_then(Value::as_i64).unwrap_or(0) == priority)
        .map(|(n, t)| (n, patterns(&t.body)))
        .filter(|(_, theirs)| {
            theirs
                .iter()
                .any(|p| pats.iter().any(|q| globs_intersect(p, q)))
        })
        .collect();
    if !conflicts.is_empty() {
        let names: Vec<&str> = conflicts.iter().map(|(n, _)| n.as_str()).collect();
        let detail: Vec<String> = conflicts
            .iter()
            .map(|(n, p)| format!("{n} => [{}]", p.join(", ")))
            .collect();
        return Err(EsError::illegal_argument(format!(
            "index template [{name}] has index patterns [{}] matching patterns from existing templates [{}] with patterns ({}) that have the same priority [{priority}], multiple index templates may not match during index creation, please use a different priority",
            pats.join(", "),
            names.join(","),
            detail.join(",")
        )));
    }
    // The composed result must be a valid mapping (with a date @timestamp
    // for data streams), as ES checks when the template is stored.
    let composed_check = cluster.compose(&body).and_then(|(mut m, _)| {
        if body.get("data_stream").is_some() {
            m.ensure_timestamp()
        } else {
            Ok(())
        }
    });
    if let Err(e) = composed_check {
        let with = if composed.is_empty() {
            String::new()
        } else {
            format!("with component templates [{}] ", composed.join(", "))
        };
        return Err(EsError::illegal_argument(format!(
            "composable template [{name}] template after composition {with}is invalid"
        ))
        .caused_by(e.item_cause()));
    }
    let now = now_millis();
    let created = cluster.index_templates.get(name).map_or(now, |t| t.created);
    let version = body.get("version").and_then(Value::as_u64).unwrap_or(0);
    cluster.index_templates.insert(
        name.to_string(),
        Stored {
            body,
            version,
            created,
            modified: now,
        },
    );
    Ok(ack())
}

pub(crate) fn index_template(
    cluster: &mut Cluster,
    req: &Req,
    name: Option<&str>,
) -> Result<Value, EsError> {
    match req.method.as_str() {
        "PUT" | "POST" => put_index_template(cluster, req, name.unwrap_or_default()),
        "DELETE" => {
            let name = name.unwrap_or_default();
            if !cluster.index_templates.contains_key(name) {
                return Err(EsError::resource_not_found(format!(
                    "index_template [{name}] missing"
                )));
            }
            let users: Vec<&String> = cluster
                .data_streams
                .values()
                .filter(|d| d.template == name)
                .map(|d| &d.name)
                .collect();
            if !users.is_empty() {
                return Err(EsError::illegal_argument(format!(
                    "unable to remove composable templates [{name}] as they are in use by a data streams [{}]",
                    users
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            cluster.index_templates.remove(name);
            Ok(ack())
        }
        _ => {
            let (found, missing) = select(name, cluster.index_templates.keys());
            if let Some(m) = missing.first() {
                return Err(EsError::resource_not_found(format!(
                    "index template matching [{m}] not found"
                )));
            }
            let list: Vec<Value> = found
                .iter()
                .map(|n| {
                    let body = &cluster.index_templates[n].body;
                    let mut t = normalized(body);
                    t["index_patterns"] = json!(patterns(body));
                    if t.get("composed_of").is_none() {
                        t["composed_of"] = json!([]);
                    }
                    if let Some(ds) = t.get("data_stream").cloned() {
                        let mut full = json!({"hidden": false, "allow_custom_routing": false});
                        for (k, v) in ds.as_object().into_iter().flatten() {
                            full[k] = v.clone();
                        }
                        t["data_stream"] = full;
                    }
                    json!({"name": n, "index_template": t})
                })
                .collect();
            Ok(json!({"index_templates": list}))
        }
    }
}

// ---- data streams -------------------------------------------------------------

pub(crate) fn data_stream(
    cluster: &mut Cluster,
    req: &Req,
    name: Option<&str>,
) -> Result<Value, EsError> {
    match req.method.as_str() {
        "PUT" => {
            cluster.create_data_stream(name.unwrap_or_default())?;
            Ok(ack())
        }
        "DELETE" => {
            let (found, missing) = select(name, cluster.data_streams.keys());
            if let Some(m) = missing.first() {
                return Err(EsError::index_not_found(m));
            }
            for n in found {
                if let Some(ds) = cluster.data_streams.remove(&n) {
                    for i in ds.indices {
                        cluster.indices.remove(&i);
                    }
                }
            }
            Ok(ack())
        }
        _ => {
            let (found, missing) = select(name, cluster.data_streams.keys());
            if let Some(m) = missing.first() {
                return Err(EsError::index_not_found(m));
            }
            let list: Vec<Value> = found
                .iter()
                .map(|n| {
                    let ds = &cluster.data_streams[n];
                    let write = ds.indices.last().and_then(|i| cluster.indices.get(i));
                    let policy = write.and_then(|i| i.settings.get("index.lifecycle.name")).cloned();
                    let managed = if policy.is_some() { "Index Lifecycle Management" } else { "Unmanaged" };
                    let indices: Vec<Value> = ds
                        .indices
                        .iter()
                        .filter_map(|i| cluster.indices.get(i))
                        .map(|i| {
                            let mut e = json!({"index_name": i.name, "index_uuid": i.uuid, "prefer_ilm": true, "managed_by": managed});
                            if let Some(p) = &policy {
                                e["ilm_policy"] = p.clone();
                            }
                            e
                        })
                        .collect();
                    let status = if write.is_some_and(|i| i.replicas() > 0) { "YELLOW" } else { "GREEN" };
                    let mut v = json!({
                        "name": ds.name,
                        "timestamp_field": {"name": "@timestamp"},
                        "indices": indices,
                        "generation": ds.generation,
                        "status": status,
                        "template": ds.template,
                        "next_generation_managed_by": managed,
                        "prefer_ilm": true,
                        "hidden": false,
                        "system": false,
                        "allow_custom_routing": false,
                        "replicated": false,
                        "rollover_on_write": false,
                    });
                    if let Some(p) = policy {
                        v["ilm_policy"] = p;
                    }
                    if let Some(meta) = cluster.index_templates.get(&ds.template).and_then(|t| t.body.pointer("/_meta")) {
                        v["_meta"] = meta.clone();
                    }
                    v
                })
                .collect();
            Ok(json!({"data_streams": list}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::globs_intersect;

    #[test]
    fn pattern_overlap() {
        assert!(globs_intersect("metrics-*", "metrics-smm.measurements-*"));
        assert!(globs_intersect("*-default", "metrics-*"));
        assert!(!globs_intersect("logs-*", "metrics-*"));
        assert!(globs_intersect("a*b", "*c*"));
        assert!(!globs_intersect("abc", "abd"));
    }
}
