//! The cluster state: indices with their documents (live and searchable),
//! data streams, templates and policies, points in time.
//!
//! Near real-time search is modelled as ES does it: a write lands in the
//! live document set (`slots`, used for `_id` conflicts); search sees the
//! `searchable` snapshot taken at the last refresh; a PIT keeps the
//! snapshots it was opened on.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::dates;
use super::error::EsError;
use super::mapping::{Mapping, Values, glob, merge_mappings};

/// One stored document version.
#[derive(Debug)]
pub(crate) struct Doc {
    pub id: String,
    pub source: Value,
    pub values: Values,
    pub seq_no: u64,
    pub version: u64,
    /// Lucene-like doc id: its slot in the index (never reused).
    pub docid: u32,
}

#[derive(Debug)]
pub(crate) struct Index {
    pub name: String,
    pub uuid: String,
    pub data_stream: Option<String>,
    pub mapping: Arc<Mapping>,
    /// Flat `index.*` settings with string values, as ES stores them.
    pub settings: Map<String, Value>,
    pub slots: Vec<Option<Arc<Doc>>>,
    pub by_id: HashMap<String, u32>,
    pub searchable: Arc<Vec<Arc<Doc>>>,
    pub dirty: bool,
    pub next_seq_no: u64,
}

impl Index {
    /// Replicas on this single-node cluster (`auto_expand_replicas` honoured).
    pub fn replicas(&self) -> u64 {
        let setting = |k: &str| self.settings.get(k).and_then(Value::as_str);
        if let Some(range) = setting("index.auto_expand_replicas").filter(|r| *r != "false")
            && let Some((lo, _)) = range.split_once('-')
        {
            return lo.parse().unwrap_or(0);
        }
        setting("index.number_of_replicas")
            .and_then(|r| r.parse().ok())
            .unwrap_or(1)
    }

    pub fn shards_json(&self) -> Value {
        json!({"total": 1 + self.replicas(), "successful": 1, "failed": 0})
    }

    pub fn refresh(&mut self) {
        if self.dirty {
            self.searchable = Arc::new(self.slots.iter().flatten().cloned().collect());
            self.dirty = false;
        }
    }

    pub fn live(&self) -> impl Iterator<Item = &Arc<Doc>> {
        self.slots.iter().flatten()
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Doc>> {
        self.by_id
            .get(id)
            .and_then(|&slot| self.slots[slot as usize].as_ref())
    }

    /// Store a new version of a document (replacing any live one).
    pub fn put(&mut self, id: &str, source: Value, values: Values) -> Arc<Doc> {
        let version = match self.by_id.get(id) {
            Some(&slot) => {
                let old = self.slots[slot as usize].take();
                old.map_or(1, |d| d.version + 1)
            }
            None => 1,
        };
        let docid = self.slots.len() as u32;
        let doc = Arc::new(Doc {
            id: id.to_string(),
            source,
            values,
            seq_no: self.next_seq_no,
            version,
            docid,
        });
        self.next_seq_no += 1;
        self.slots.push(Some(doc.clone()));
        self.by_id.insert(id.to_string(), docid);
        self.dirty = true;
        doc
    }

    /// Delete a live document: its version and seq_no, or `None`.
    pub fn delete(&mut self, id: &str) -> (Option<u64>, u64) {
        let seq_no = self.next_seq_no;
        self.next_seq_no += 1;
        let version = self
            .by_id
            .remove(id)
            .and_then(|slot| self.slots[slot as usize].take())
            .map(|d| d.version + 1);
        if version.is_some() {
            self.dirty = true;
        }
        (version, seq_no)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct DataStream {
    pub name: String,
    pub template: String,
    pub indices: Vec<String>,
    pub generation: u64,
}

/// A stored template or policy body with its bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub body: Value,
    pub version: u64,
    pub created: i64,
    pub modified: i64,
}

/// What one shard of a search sees.
#[derive(Clone)]
pub(crate) struct ShardView {
    pub index: String,
    pub uuid: String,
    pub data_stream: Option<String>,
    pub mapping: Arc<Mapping>,
    pub docs: Arc<Vec<Arc<Doc>>>,
    pub max_result_window: u64,
}

pub(crate) struct Pit {
    pub shards: Vec<ShardView>,
    pub expires: Instant,
}

#[derive(Default)]
pub(crate) struct Cluster {
    pub indices: BTreeMap<String, Index>,
    pub data_streams: BTreeMap<String, DataStream>,
    pub ilm: BTreeMap<String, Stored>,
    pub components: BTreeMap<String, Stored>,
    pub index_templates: BTreeMap<String, Stored>,
    pub pits: HashMap<String, Pit>,
    counter: u64,
}

/// ES's rules for index and data stream names.
pub(crate) fn validate_index_name(name: &str) -> Result<(), EsError> {
    let invalid = |why: String| {
        EsError::new(
            400,
            "invalid_index_name_exception",
            format!("Invalid index name [{name}], {why}"),
        )
        .with("index_uuid", "_na_")
        .with("index", name)
    };
    const FORBIDDEN: &[char] = &['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'];
    if name.chars().any(|c| FORBIDDEN.contains(&c)) {
        return Err(invalid("must not contain the following characters [' ','\"','*',',','/','<','>','?','\\\\','|']".into()));
    }
    if name.starts_with(['_', '-', '+']) {
        return Err(invalid("must not start with '_', '-', or '+'".into()));
    }
    if name != name.to_lowercase() {
        return Err(invalid("must be lowercase".into()));
    }
    if name == "." || name == ".." {
        return Err(invalid("must not be '.' or '..'".into()));
    }
    if name.len() > 255 {
        return Err(invalid(format!(
            "index name is too long, ({} > 255)",
            name.len()
        )));
    }
    Ok(())
}

/// Settings in any form (`{"index":{"number_of_shards":1}}`,
/// `"number_of_shards"`, `"index.codec"`) as flat `index.*` strings.
pub(crate) fn flatten_settings(v: &Value) -> Map<String, Value> {
    fn walk(v: &Value, prefix: &str, out: &mut Map<String, Value>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    walk(
                        v,
                        &if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        },
                        out,
                    );
                }
            }
            other => {
                let key = if prefix.starts_with("index.") {
                    prefix.to_string()
                } else {
                    format!("index.{prefix}")
                };
                let value = match other {
                    Value::String(s) => json!(s),
                    Value::Array(a) => Value::Array(
                        a.iter()
                            .map(|x| {
                                json!(x.as_str().map_or_else(|| x.to_string(), str::to_string))
                            })
                            .collect(),
                    ),
                    Value::Null => Value::Null,
                    x => json!(x.to_string()),
                };
                out.insert(key, value);
            }
        }
    }
    let mut out = Map::new();
    walk(v, "", &mut out);
    out
}

/// Flat settings back to ES's nested output form.
pub(crate) fn nest_settings(flat: &Map<String, Value>) -> Value {
    let mut root = Map::new();
    for (k, v) in flat {
        let parts: Vec<&str> = k.split('.').collect();
        let mut node = &mut root;
        for p in &parts[..parts.len() - 1] {
            node = node
                .entry(p.to_string())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("settings nest");
        }
        node.insert(parts[parts.len() - 1].to_string(), v.clone());
    }
    Value::Object(root)
}

impl Cluster {
    pub fn next_id(&mut self, bytes: usize) -> String {
        self.counter += 1;
        let mut raw = Vec::with_capacity(bytes);
        let nanos = dates::now_millis() as u64;
        let mut x = self.counter ^ nanos.rotate_left(17);
        while raw.len() < bytes {
            // splitmix64: distinct, random-looking ids from a counter
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            raw.extend_from_slice(&z.to_le_bytes());
        }
        raw.truncate(bytes);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The index template with the highest priority matching `name`.
    pub fn matching_template(&self, name: &str) -> Option<(&String, &Stored)> {
        self.index_templates
            .iter()
            .filter(|(_, t)| patterns(&t.body).iter().any(|p| glob(p, name)))
            .max_by_key(|(_, t)| t.body.get("priority").and_then(Value::as_i64).unwrap_or(0))
    }

    /// Mappings and flat settings an index created from `template` gets.
    pub fn compose(&self, template: &Value) -> Result<(Mapping, Map<String, Value>), EsError> {
        let mut mappings = json!({});
        let mut settings = Map::new();
        let composed = template
            .get("composed_of")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for name in composed.iter().filter_map(Value::as_str) {
            if let Some(c) = self.components.get(name) {
                if let Some(m) = c.body.pointer("/template/mappings") {
                    merge_mappings(&mut mappings, m);
                }
                if let Some(s) = c.body.pointer("/template/settings") {
                    settings.extend(flatten_settings(s));
                }
            }
        }
        if let Some(m) = template.pointer("/template/mappings") {
            merge_mappings(&mut mappings, m);
        }
        if let Some(s) = template.pointer("/template/settings") {
            settings.extend(flatten_settings(s));
        }
        let mapping = Mapping::from_json(&mappings).map_err(|e| {
            let inner = e.item_cause();
            let reason = format!(
                "Failed to parse mapping: {}",
                inner["reason"].as_str().unwrap_or_default()
            );
            EsError::new(e.status, "mapper_parsing_exception", reason).caused_by(inner)
        })?;
        Ok((mapping, settings))
    }

    pub fn create_index(
        &mut self,
        name: &str,
        mapping: Mapping,
        mut settings: Map<String, Value>,
        data_stream: Option<String>,
    ) {
        settings
            .entry("index.number_of_shards")
            .or_insert(json!("1"));
        settings
            .entry("index.number_of_replicas")
            .or_insert(json!("1"));
        if data_stream.is_some() {
            settings.insert("index.hidden".into(), json!("true"));
        }
        let uuid = self.next_id(16);
        settings.insert("index.uuid".into(), json!(uuid));
        settings.insert("index.provided_name".into(), json!(name));
        let created = dates::now_millis();
        settings.insert("index.creation_date".into(), json!(created.to_string()));
        let index = Index {
            name: name.to_string(),
            uuid,
            data_stream,
            mapping: Arc::new(mapping),
            settings,
            slots: Vec::new(),
            by_id: HashMap::new(),
            searchable: Arc::new(Vec::new()),
            dirty: false,
            next_seq_no: 0,
        };
        self.indices.insert(name.to_string(), index);
    }

    /// Create a data stream and its first backing index.
    pub fn create_data_stream(&mut self, name: &str) -> Result<(), EsError> {
        validate_index_name(name)?;
        if self.data_streams.contains_key(name) {
            return Err(EsError::new(
                400,
                "resource_already_exists_exception",
                format!("data_stream [{name}] already exists"),
            ));
        }
        if self.indices.contains_key(name) {
            return Err(EsError::illegal_argument(format!(
                "data stream [{name}] conflicts with index"
            )));
        }
        let Some((tname, t)) = self.matching_template(name) else {
            return Err(EsError::illegal_argument(format!(
                "no matching index template found for data stream [{name}]"
            )));
        };
        if t.body.get("data_stream").is_none() {
            return Err(EsError::illegal_argument(format!(
                "matching index template [{tname}] for data stream [{name}] has no data stream template"
            )));
        }
        let tname = tname.clone();
        let (mut mapping, settings) = self.compose(&t.body)?;
        mapping.ensure_timestamp()?;
        let backing = format!(".ds-{name}-{}-000001", dates::today_dotted());
        self.create_index(&backing, mapping, settings, Some(name.to_string()));
        self.data_streams.insert(
            name.to_string(),
            DataStream {
                name: name.to_string(),
                template: tname,
                indices: vec![backing],
                generation: 1,
            },
        );
        Ok(())
    }

    /// Indices a read (search, count, refresh, PIT) targets: comma lists,
    /// wildcards, data streams (their backing indices), `_all`.
    pub fn resolve(&self, expr: &str, ignore_unavailable: bool) -> Result<Vec<String>, EsError> {
        let mut out = BTreeSet::new();
        for part in expr.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "_all" || part.contains('*') {
                let pat = if part == "_all" { "*" } else { part };
                for (name, ds) in &self.data_streams {
                    if glob(pat, name) {
                        out.extend(ds.indices.iter().cloned());
                    }
                }
                for (name, idx) in &self.indices {
                    let hidden = name.starts_with('.') || idx.data_stream.is_some();
                    if glob(pat, name) && (!hidden || pat.starts_with('.')) {
                        out.insert(name.clone());
                    }
                }
            } else if let Some(ds) = self.data_streams.get(part) {
                out.extend(ds.indices.iter().cloned());
            } else if self.indices.contains_key(part) {
                out.insert(part.to_string());
            } else if !ignore_unavailable {
                return Err(EsError::index_not_found(part));
            }
        }
        Ok(out.into_iter().collect())
    }

    pub fn shard_views(&self, indices: &[String]) -> Vec<ShardView> {
        indices
            .iter()
            .filter_map(|n| self.indices.get(n))
            .map(|i| ShardView {
                index: i.name.clone(),
                uuid: i.uuid.clone(),
                data_stream: i.data_stream.clone(),
                mapping: i.mapping.clone(),
                docs: i.searchable.clone(),
                max_result_window: i
                    .settings
                    .get("index.max_result_window")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(10_000),
            })
            .collect()
    }

    pub fn refresh_all(&mut self) {
        for idx in self.indices.values_mut() {
            idx.refresh();
        }
    }

    pub fn new_pit(&mut self, shards: Vec<ShardView>, keep_alive: Duration) -> String {
        let salt = self.next_id(9);
        let raw = format!("smm-es-stand-in:pit:{}:{salt}", self.counter);
        let id = base64::engine::general_purpose::STANDARD.encode(raw);
        self.pits.insert(
            id.clone(),
            Pit {
                shards,
                expires: Instant::now() + keep_alive,
            },
        );
        id
    }

    /// A live PIT (expired ones are freed here, as their keep-alive lapses).
    pub fn pit(&mut self, id: &str) -> Option<&mut Pit> {
        let now = Instant::now();
        self.pits.retain(|_, p| p.expires > now);
        self.pits.get_mut(id)
    }
}

/// An index template's `index_patterns` (a string or a list).
pub(crate) fn patterns(template: &Value) -> Vec<String> {
    match template.get("index_patterns") {
        Some(Value::String(s)) => s.split(',').map(|p| p.trim().to_string()).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}
