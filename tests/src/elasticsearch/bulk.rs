//! `POST|PUT /_bulk` and `/{target}/_bulk`.
//!
//! Request and response shapes follow `specification/_global/bulk/`
//! (`BulkRequest.ts`, `BulkResponse.ts`, `types.ts` `ResponseItem`, and the
//! response examples with per-item `error` objects). Parsing follows ES's
//! `BulkRequestParser`: line-by-line, each newline possibly preceded by
//! `\r`, the body must end with a newline, blank action lines are skipped,
//! an action whose source line is missing at the very end is dropped.

use std::time::Instant;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value, json};

use super::cluster::{Cluster, validate_index_name};
use super::error::{EsError, cause};
use super::faults::{Faults, item_error};
use super::mapping::parse_document;
use super::server::Req;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Op {
    Create,
    Index,
    Update,
    Delete,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Index => "index",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

struct Item<'a> {
    op: Op,
    index: Option<String>,
    id: Option<String>,
    source: Option<&'a [u8]>,
    if_seq_no: Option<i64>,
    if_primary_term: Option<i64>,
    require_alias: bool,
}

/// The first key of an action line, read in document order.
struct ActionLine {
    token: &'static str,
    first: Option<(String, Value)>,
}

impl<'de> serde::Deserialize<'de> for ActionLine {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ActionLine;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an action line")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<ActionLine, A::Error> {
                let first = m.next_entry::<String, Value>()?;
                // Further keys are ignored by ES 8 (with a deprecation warning).
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ActionLine {
                    token: "START_OBJECT",
                    first,
                })
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<ActionLine, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ActionLine {
                    token: "START_ARRAY",
                    first: None,
                })
            }
            fn visit_str<E>(self, _: &str) -> Result<ActionLine, E> {
                Ok(ActionLine {
                    token: "VALUE_STRING",
                    first: None,
                })
            }
            fn visit_bool<E>(self, b: bool) -> Result<ActionLine, E> {
                Ok(ActionLine {
                    token: if b { "VALUE_TRUE" } else { "VALUE_FALSE" },
                    first: None,
                })
            }
            fn visit_i64<E>(self, _: i64) -> Result<ActionLine, E> {
                Ok(ActionLine {
                    token: "VALUE_NUMBER",
                    first: None,
                })
            }
            fn visit_u64<E>(self, _: u64) -> Result<ActionLine, E> {
                Ok(ActionLine {
                    token: "VALUE_NUMBER",
                    first: None,
                })
            }
            fn visit_f64<E>(self, _: f64) -> Result<ActionLine, E> {
                Ok(ActionLine {
                    token: "VALUE_NUMBER",
                    first: None,
                })
            }
            fn visit_unit<E>(self) -> Result<ActionLine, E> {
                Ok(ActionLine {
                    token: "VALUE_NULL",
                    first: None,
                })
            }
        }
        d.deserialize_any(V)
    }
}

fn token_of(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "START_OBJECT",
        Value::Array(_) => "START_ARRAY",
        Value::String(_) => "VALUE_STRING",
        Value::Number(_) => "VALUE_NUMBER",
        Value::Bool(true) => "VALUE_TRUE",
        Value::Bool(false) => "VALUE_FALSE",
        Value::Null => "VALUE_NULL",
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn parse_items<'a>(body: &'a [u8], default_index: Option<&str>) -> Result<Vec<Item<'a>>, EsError> {
    let malformed = |line: usize, what: String| {
        EsError::illegal_argument(format!("Malformed action/metadata line [{line}], {what}"))
    };
    let mut items = Vec::new();
    let mut from = 0usize;
    let mut line = 0usize;
    let next_marker = |from: usize| -> Result<Option<usize>, EsError> {
        match body[from..].iter().position(|&b| b == b'\n') {
            Some(i) => Ok(Some(from + i)),
            None if from != body.len() => Err(EsError::illegal_argument(
                "The bulk request must be terminated by a newline [\\n]",
            )),
            None => Ok(None),
        }
    };
    while let Some(marker) = next_marker(from)? {
        line += 1;
        let raw = &body[from..marker];
        from = marker + 1;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let action: ActionLine =
            serde_json::from_slice(raw).map_err(|e| EsError::json_syntax(&e))?;
        if action.token != "START_OBJECT" {
            return Err(malformed(
                line,
                format!("expected START_OBJECT but found [{}]", action.token),
            ));
        }
        let Some((name, meta)) = action.first else {
            return Err(malformed(
                line,
                "expected FIELD_NAME but found [END_OBJECT]".into(),
            ));
        };
        let op = match name.as_str() {
            "create" => Op::Create,
            "index" => Op::Index,
            "update" => Op::Update,
            "delete" => Op::Delete,
            other => {
                return Err(malformed(
                    line,
                    format!("expected one of [create, delete, index, update] but found [{other}]"),
                ));
            }
        };
        let meta = match meta {
            Value::Object(m) => m,
            other => {
                return Err(malformed(
                    line,
                    format!(
                        "expected START_OBJECT or END_OBJECT but found [{}]",
                        token_of(&other)
                    ),
                ));
            }
        };
        let mut item = Item {
            op,
            index: default_index.map(str::to_string),
            id: None,
            source: None,
            if_seq_no: None,
            if_primary_term: None,
            require_alias: false,
        };
        let mut op_type = None;
        for (k, v) in &meta {
            match v {
                Value::Null => continue,
                Value::Array(_) => {
                    return Err(malformed(
                        line,
                        format!("expected a simple value for field [{k}] but found [START_ARRAY]"),
                    ));
                }
                Value::Object(_) if k != "dynamic_templates" && k != "_source" => {
                    return Err(malformed(
                        line,
                        format!("expected a simple value for field [{k}] but found [START_OBJECT]"),
                    ));
                }
                _ => {}
            }
            match k.as_str() {
                "_index" => item.index = Some(text(v)),
                "_id" => item.id = Some(text(v)),
                "op_type" => op_type = Some(text(v)),
                "if_seq_no" => item.if_seq_no = v.as_i64().or_else(|| text(v).parse().ok()),
                "if_primary_term" => {
                    item.if_primary_term = v.as_i64().or_else(|| text(v).parse().ok())
                }
                "require_alias" => item.require_alias = v.as_bool().unwrap_or(text(v) == "true"),
                "routing" | "retry_on_conflict" | "_source" | "dynamic_templates" => {}
                "version" | "version_type" => {
                    return Err(EsError::unsupported("external versioning in bulk actions"));
                }
                "pipeline" => return Err(EsError::unsupported("ingest pipelines")),
                _ => {
                    return Err(EsError::illegal_argument(format!(
                        "Action/metadata line [{line}] contains an unknown parameter [{k}]"
                    )));
                }
            }
        }
        if op == Op::Index && op_type.as_deref() == Some("create") {
            item.op = Op::Create;
        }
        if op != Op::Delete {
            let Some(marker) = next_marker(from)? else {
                break;
            };
            line += 1;
            item.source = Some(trim_cr(&body[from..marker]));
            from = marker + 1;
        }
        items.push(item);
    }
    Ok(items)
}

fn validate(items: &[Item]) -> Result<(), EsError> {
    let mut errors = Vec::new();
    if items.is_empty() {
        errors.push("no requests added".to_string());
    }
    for it in items {
        if it.index.is_none() {
            errors.push("index is missing".into());
        }
        match &it.id {
            Some(id) if id.is_empty() => {
                errors.push("if _id is specified it must not be empty".into())
            }
            Some(id) if id.len() > 512 => {
                errors.push(format!(
                    "id [{id}] is too long, must be no longer than 512 bytes but was: {}",
                    id.len()
                ));
            }
            None if matches!(it.op, Op::Delete | Op::Update) => errors.push("id is missing".into()),
            _ => {}
        }
        if matches!(it.op, Op::Create | Op::Index) && it.source.is_some_and(<[u8]>::is_empty) {
            errors.push("source is missing".into());
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(EsError::validation(&errors))
    }
}

/// Where a write goes: the backing/write index, auto-creating data
/// streams (from a template with `data_stream`) and plain indices.
fn write_index(
    cluster: &mut Cluster,
    name: &str,
    op: Op,
    if_seq_no: Option<i64>,
) -> Result<String, EsError> {
    validate_index_name(name)?;
    if let Some(ds) = cluster.data_streams.get(name) {
        if op != Op::Create {
            return Err(EsError::illegal_argument(
                "only write ops with an op_type of create are allowed in data streams",
            ));
        }
        return Ok(ds.indices.last().cloned().unwrap_or_default());
    }
    if let Some(idx) = cluster.indices.get(name) {
        if let Some(ds) = &idx.data_stream {
            match op {
                Op::Create => {
                    return Err(EsError::illegal_argument(format!(
                        "index request with op_type=create targeting backing indices is disallowed, target corresponding data stream [{ds}] instead"
                    )));
                }
                Op::Index if if_seq_no.is_none() => {
                    return Err(EsError::illegal_argument(format!(
                        "index request with op_type=index and no if_primary_term and if_seq_no set targeting backing indices is disallowed, target corresponding data stream [{ds}] instead"
                    )));
                }
                _ => {}
            }
        }
        return Ok(name.to_string());
    }
    if matches!(op, Op::Delete | Op::Update) {
        return Err(EsError::index_not_found(name));
    }
    let template = cluster.matching_template(name).map(|(_, t)| t.body.clone());
    match template {
        Some(t) if t.get("data_stream").is_some() => {
            if op != Op::Create {
                return Err(EsError::illegal_argument(
                    "only write ops with an op_type of create are allowed in data streams",
                ));
            }
            cluster.create_data_stream(name)?;
            Ok(cluster.data_streams[name]
                .indices
                .last()
                .cloned()
                .unwrap_or_default())
        }
        Some(t) => {
            let (mapping, settings) = cluster.compose(&t)?;
            cluster.create_index(name, mapping, settings, None);
            Ok(name.to_string())
        }
        None => {
            cluster.create_index(name, super::mapping::Mapping::empty(), Map::new(), None);
            Ok(name.to_string())
        }
    }
}

fn version_conflict(id: &str, reason: String, index: &str, uuid: &str) -> EsError {
    EsError::new(
        409,
        "version_conflict_engine_exception",
        format!("[{id}]: {reason}"),
    )
    .with("index_uuid", uuid)
    .with("shard", "0")
    .with("index", index)
}

/// A failed item: the index it names and its error.
type ItemError = Box<(String, EsError)>;

/// Run one item against the cluster: the response item's fields.
fn execute(
    cluster: &mut Cluster,
    faults: &mut Faults,
    bulk_faults: &super::faults::BulkFaults,
    position: usize,
    item: &Item,
    id: &str,
) -> Result<(String, Map<String, Value>), ItemError> {
    let target = item.index.clone().unwrap_or_default();
    if item.require_alias {
        return Err(Box::new((
            target.clone(),
            EsError::index_not_found(&target).with(
                "reason",
                format!("[require_alias] request flag is [true] and [{target}] is not an alias"),
            ),
        )));
    }
    let index_name = write_index(cluster, &target, item.op, item.if_seq_no)
        .map_err(|e| Box::new((target.clone(), e)))?;
    let uuid = cluster.indices[&index_name].uuid.clone();
    if let Some(status) = faults.item(bulk_faults, position, id) {
        let bytes = item.source.map_or(0, <[u8]>::len);
        let c = item_error(status, &index_name, &uuid, bytes);
        return Err(Box::new((index_name, EsError::from_cause(status, c))));
    }
    let fail = |e: EsError| Box::new((index_name.clone(), e));
    let index = cluster
        .indices
        .get_mut(&index_name)
        .expect("resolved index");
    let mut out = Map::new();
    match item.op {
        Op::Update => {
            return Err(fail(EsError::unsupported(
                "bulk update actions (use index or create)",
            )));
        }
        Op::Delete => {
            if let Some(seq) = item.if_seq_no {
                let current = index.get(id).map(|d| d.seq_no as i64);
                if current != Some(seq) || item.if_primary_term.unwrap_or(1) != 1 {
                    let why = match current {
                        Some(c) => format!(
                            "version conflict, required seqNo [{seq}], primary term [{}]. current document has seqNo [{c}] and primary term [1]",
                            item.if_primary_term.unwrap_or(1)
                        ),
                        None => format!(
                            "version conflict, required seqNo [{seq}], primary term [{}] but no document was found",
                            item.if_primary_term.unwrap_or(1)
                        ),
                    };
                    return Err(fail(version_conflict(id, why, &index_name, &uuid)));
                }
            }
            let (version, seq_no) = index.delete(id);
            out.insert("_version".into(), json!(version.unwrap_or(1)));
            out.insert(
                "result".into(),
                json!(if version.is_some() {
                    "deleted"
                } else {
                    "not_found"
                }),
            );
            out.insert("_shards".into(), index.shards_json());
            out.insert("_seq_no".into(), json!(seq_no));
            out.insert("_primary_term".into(), json!(1));
            out.insert(
                "status".into(),
                json!(if version.is_some() { 200 } else { 404 }),
            );
            return Ok((index_name, out));
        }
        Op::Create | Op::Index => {}
    }
    let raw = item.source.unwrap_or_default();
    let line = String::from_utf8_lossy(raw);
    let source: Value = serde_json::from_slice(raw).map_err(|e| {
        let inner = cause(
            "x_content_parse_exception",
            format!(
                "[{}:{}] {}",
                e.line(),
                e.column(),
                e.to_string().split(" at line ").next().unwrap_or_default()
            ),
        );
        fail(
            EsError::new(
                400,
                "document_parsing_exception",
                format!(
                    "[{}:{}] failed to parse: {}",
                    e.line(),
                    e.column(),
                    inner["reason"].as_str().unwrap_or_default()
                ),
            )
            .caused_by(inner),
        )
    })?;
    // Dynamic mapping updates are published before the engine write, as in
    // ES (copy-on-write: searches and PITs keep the mapping they started with).
    let data_stream = index.data_stream.is_some();
    let mapping = std::sync::Arc::make_mut(&mut index.mapping);
    let values = parse_document(mapping, id, &line, &source, data_stream).map_err(fail)?;
    let existing = index.get(id).cloned();
    if item.op == Op::Create
        && let Some(d) = &existing
    {
        return Err(fail(version_conflict(
            id,
            format!(
                "version conflict, document already exists (current version [{}])",
                d.version
            ),
            &index_name,
            &uuid,
        )));
    }
    if let Some(seq) = item.if_seq_no {
        let term = item.if_primary_term.unwrap_or(0);
        let ok = existing.as_ref().is_some_and(|d| d.seq_no as i64 == seq) && term == 1;
        if !ok {
            let why = match &existing {
                Some(d) => format!(
                    "version conflict, required seqNo [{seq}], primary term [{term}]. current document has seqNo [{}] and primary term [1]",
                    d.seq_no
                ),
                None => format!(
                    "version conflict, required seqNo [{seq}], primary term [{term}] but no document was found"
                ),
            };
            return Err(fail(version_conflict(id, why, &index_name, &uuid)));
        }
    }
    let doc = index.put(id, source, values);
    let created = existing.is_none();
    out.insert("_version".into(), json!(doc.version));
    out.insert(
        "result".into(),
        json!(if created { "created" } else { "updated" }),
    );
    out.insert("_shards".into(), index.shards_json());
    out.insert("_seq_no".into(), json!(doc.seq_no));
    out.insert("_primary_term".into(), json!(1));
    out.insert("status".into(), json!(if created { 201 } else { 200 }));
    Ok((index_name, out))
}

pub(crate) fn bulk(
    cluster: &mut Cluster,
    faults: &mut Faults,
    req: &Req,
    target: Option<&str>,
) -> Result<Value, EsError> {
    let started = Instant::now();
    let refresh = req.refresh_param()?;
    if req.param("pipeline").is_some() {
        return Err(EsError::unsupported("ingest pipelines"));
    }
    if req.body.is_empty() {
        return Err(EsError::parse("request body is required"));
    }
    let mut items = parse_items(&req.body, target)?;
    validate(&items)?;
    let default_require_alias = req.flag("require_alias")?.unwrap_or(false);
    let bulk_faults = faults.begin_bulk();
    let mut out = Vec::with_capacity(items.len());
    let mut errors = false;
    let mut touched = Vec::new();
    for (i, item) in items.iter_mut().enumerate() {
        item.require_alias |= default_require_alias;
        let id = match &item.id {
            Some(id) => id.clone(),
            None => cluster.next_id(15),
        };
        let mut entry = Map::new();
        match execute(cluster, faults, &bulk_faults, i + 1, item, &id) {
            Ok((index, fields)) => {
                if !touched.contains(&index) {
                    touched.push(index.clone());
                }
                entry.insert("_index".into(), json!(index));
                entry.insert("_id".into(), json!(id));
                entry.extend(fields);
            }
            Err(failed) => {
                let (index, e) = *failed;
                errors = true;
                entry.insert("_index".into(), json!(index));
                entry.insert("_id".into(), json!(id));
                entry.insert("status".into(), json!(e.status));
                entry.insert("error".into(), e.item_cause());
            }
        }
        out.push(json!({ item.op.name(): Value::Object(entry) }));
    }
    if refresh != Refresh::False {
        for name in &touched {
            if let Some(ix) = cluster.indices.get_mut(name) {
                ix.refresh();
            }
        }
        if refresh == Refresh::True {
            for o in &mut out {
                let entry = o
                    .as_object_mut()
                    .and_then(|m| m.values_mut().next())
                    .and_then(Value::as_object_mut);
                if let Some(entry) = entry
                    && entry.get("error").is_none()
                {
                    entry.insert("forced_refresh".into(), json!(true));
                }
            }
        }
    }
    Ok(json!({"errors": errors, "took": started.elapsed().as_millis() as u64, "items": out}))
}

#[derive(PartialEq, Clone, Copy)]
pub(crate) enum Refresh {
    True,
    WaitFor,
    False,
}

impl Req {
    pub(crate) fn refresh_param(&self) -> Result<Refresh, EsError> {
        match self.param("refresh") {
            None | Some("false") => Ok(Refresh::False),
            Some("" | "true") => Ok(Refresh::True),
            Some("wait_for") => Ok(Refresh::WaitFor),
            Some(other) => Err(EsError::illegal_argument(format!(
                "Unknown value for refresh: [{other}]."
            ))),
        }
    }
}
