//! Index-level endpoints: `_refresh`, `GET|HEAD|DELETE /{index}`.
//!
//! Refresh follows `specification/indices/refresh/` (a
//! `ShardsOperationResponseBase`: `{"_shards": {total, successful, failed}}`).

use serde_json::{Map, Value, json};

use super::cluster::{Cluster, nest_settings};
use super::error::EsError;
use super::server::Req;

pub(crate) fn refresh(
    cluster: &mut Cluster,
    req: &Req,
    target: Option<&str>,
) -> Result<Value, EsError> {
    let names = cluster.resolve(
        target.unwrap_or("_all"),
        req.flag("ignore_unavailable")?.unwrap_or(false),
    )?;
    let (mut total, mut ok) = (0, 0);
    for n in &names {
        if let Some(idx) = cluster.indices.get_mut(n) {
            idx.refresh();
            total += 1 + idx.replicas();
            ok += 1;
        }
    }
    Ok(json!({"_shards": {"total": total, "successful": ok, "failed": 0}}))
}

/// `GET /{index}`: aliases, mappings and settings of each resolved index.
pub(crate) fn get(cluster: &Cluster, req: &Req, target: &str) -> Result<Value, EsError> {
    let names = cluster.resolve(target, req.flag("ignore_unavailable")?.unwrap_or(false))?;
    let mut out = Map::new();
    for n in names {
        let idx = &cluster.indices[&n];
        let mut v = json!({"aliases": {}, "mappings": idx.mapping.to_json(), "settings": nest_settings(&idx.settings)});
        if let Some(ds) = &idx.data_stream {
            v["data_stream"] = json!(ds);
        }
        out.insert(n, v);
    }
    Ok(Value::Object(out))
}

pub(crate) fn delete(cluster: &mut Cluster, target: &str) -> Result<Value, EsError> {
    for name in target.split(',') {
        if cluster.data_streams.contains_key(name) {
            return Err(EsError::illegal_argument(format!(
                "The provided expression [{name}] matches a data stream, specify the corresponding concrete indices instead."
            )));
        }
        let Some(idx) = cluster.indices.get(name) else {
            return Err(EsError::index_not_found(name));
        };
        if let Some(ds) = &idx.data_stream
            && cluster
                .data_streams
                .get(ds)
                .and_then(|d| d.indices.last())
                .is_some_and(|w| w == name)
        {
            return Err(EsError::illegal_argument(format!(
                "index [{name}] is the write index for data stream [{ds}] and cannot be deleted"
            )));
        }
    }
    for name in target.split(',') {
        cluster.indices.remove(name);
        for ds in cluster.data_streams.values_mut() {
            ds.indices.retain(|i| i != name);
        }
    }
    Ok(json!({"acknowledged": true}))
}
