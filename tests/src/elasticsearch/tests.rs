//! The stand-in driven over HTTP by a plain client, showing its strictness.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::dates::format_millis;
use super::{EsConfig, EsServer, ItemFault, RequestFault};

const DS: &str = "metrics-smm.measurements-default";
const BASE_MS: i64 = 1_795_773_600_000; // 2026-11-27T10:00:00Z

struct Client {
    http: reqwest::Client,
    base: String,
    auth: Option<String>,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    raw: Vec<u8>,
}

impl Client {
    fn new(es: &EsServer) -> Client {
        Client {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            base: es.url(),
            auth: None,
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, String)>,
    ) -> Result<Reply, reqwest::Error> {
        let mut rb = self.http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", self.base),
        );
        rb = rb.header(
            "x-elastic-client-meta",
            "es=8.19.0p,rs=1.95,t=8.19.0p,hc=1.0",
        );
        if let Some(a) = &self.auth {
            rb = rb.header("authorization", a);
        }
        if let Some((ctype, b)) = body {
            rb = rb.header("content-type", ctype).body(b);
        }
        let resp = rb.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let raw = resp.bytes().await?.to_vec();
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw).expect("JSON response")
        };
        Ok(Reply {
            status,
            headers,
            body,
            raw,
        })
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.send(
            method,
            path,
            body.map(|b| ("application/json", b.to_string())),
        )
        .await
        .expect("request")
    }

    async fn bulk(&self, path: &str, ndjson: String) -> Reply {
        self.send("POST", path, Some(("application/json", ndjson)))
            .await
            .expect("bulk")
    }
}

fn template(name: &str) -> Value {
    let path = crate::workspace()
        .join("engine/src/store/elasticsearch/templates")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("smm's template {} is needed: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

async fn install_smm_templates(c: &Client) {
    for (path, file) in [
        ("/_ilm/policy/smm-measurements", "ilm-policy.json"),
        (
            "/_component_template/smm-measurements@settings",
            "settings.json",
        ),
        (
            "/_component_template/smm-measurements@mappings",
            "mappings.json",
        ),
        ("/_index_template/smm-measurements", "index-template.json"),
    ] {
        let r = c.call("PUT", path, Some(template(file))).await;
        assert_eq!(
            (r.status, &r.body),
            (200, &json!({"acknowledged": true})),
            "PUT {path}"
        );
    }
}

fn id(i: usize) -> String {
    format!("{i:032x}")
}

/// A document as smm writes it (see the ES contract).
fn measurement(i: usize, ts_ms: i64, value: Option<f64>) -> Value {
    let mut d = json!({
        "@timestamp": format_millis(ts_ms),
        "data_stream": {"type": "metrics", "dataset": "smm.measurements", "namespace": "default"},
        "event": {"kind": "metric", "module": "smm", "dataset": "smm.measurements", "outcome": "success", "duration": 2_150_000},
        "measurement": {"id": id(i), "instance": "legacy-c-sast", "details": {"by_level": {"error": 3}}},
        "measure": {"id": "sarif-findings", "version": "1.0.0", "reference": "sarif-findings@1.0.0", "name": "SARIF findings",
                    "unit": "findings", "kind": "direct", "scale": "ratio"},
        "labels": {"team": "payments", "service": "legacy-billing", "tier": "1"},
        "service": {"name": "legacy-billing"}
    });
    match value {
        Some(v) => d["measurement"]["value"] = json!(v),
        None => {
            d["event"]["outcome"] = json!("failure");
            d["error"] = json!({"message": "deadline exceeded", "type": "timeout"});
        }
    }
    d
}

fn creates(docs: &[Value]) -> String {
    let mut out = String::new();
    for d in docs {
        out.push_str(&json!({"create": {"_index": DS, "_id": d["measurement"]["id"]}}).to_string());
        out.push('\n');
        out.push_str(&d.to_string());
        out.push('\n');
    }
    out
}

fn statuses(r: &Reply) -> Vec<u64> {
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i.as_object().unwrap().values().next().unwrap()["status"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

fn item(r: &Reply, n: usize) -> &Value {
    r.body["items"][n]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
}

async fn setup() -> (EsServer, Client) {
    let es = EsServer::start_default().await;
    let c = Client::new(&es);
    install_smm_templates(&c).await;
    (es, c)
}

async fn total(c: &Client, path: &str) -> u64 {
    let r = c
        .call(
            "POST",
            path,
            Some(json!({"size": 0, "track_total_hits": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["hits"]["total"]["value"].as_u64().unwrap()
}

#[tokio::test]
async fn cluster_info_and_product_header() {
    let es = EsServer::start(EsConfig::default().version("8.19.3"))
        .await
        .unwrap();
    let r = Client::new(&es).call("GET", "/", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["version"]["number"], "8.19.3");
    assert_eq!(r.body["tagline"], "You Know, for Search");
    assert_eq!(r.headers["x-elastic-product"], "Elasticsearch");
}

#[tokio::test]
async fn smm_templates_install_and_the_first_create_makes_the_data_stream() {
    let (es, c) = setup().await;
    let r = c
        .call("GET", "/_index_template/smm-measurements", None)
        .await;
    let t = &r.body["index_templates"][0];
    assert_eq!(t["name"], "smm-measurements");
    assert_eq!(t["index_template"]["priority"], 200);
    assert_eq!(
        t["index_template"]["data_stream"],
        json!({"hidden": false, "allow_custom_routing": false})
    );
    let r = c
        .call(
            "GET",
            "/_component_template/smm-measurements@settings",
            None,
        )
        .await;
    assert_eq!(
        r.body["component_templates"][0]["component_template"]["template"]["settings"]["index"]["lifecycle"]
            ["name"],
        "smm-measurements"
    );
    let r = c.call("GET", "/_ilm/policy/smm-measurements", None).await;
    assert_eq!(r.body["smm-measurements"]["version"], 1);
    assert_eq!(
        r.body["smm-measurements"]["policy"]["phases"]["hot"]["actions"]["rollover"]["max_age"],
        "30d"
    );

    // GETs of missing things: ES's 404 bodies
    let r = c.call("GET", "/_index_template/nope", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body["error"]["root_cause"][0]["type"],
        "resource_not_found_exception"
    );
    assert_eq!(
        r.body["error"]["reason"],
        "index template matching [nope] not found"
    );
    let r = c
        .call("GET", "/_component_template/smm-measurements@custom", None)
        .await;
    assert_eq!(
        (r.status, r.body["error"]["reason"].as_str().unwrap()),
        (
            404,
            "component template matching [smm-measurements@custom] not found"
        )
    );
    let r = c.call("GET", "/_ilm/policy/nope", None).await;
    assert_eq!((r.status, r.body["status"].as_u64()), (404, Some(404)));
    let r = c.call("GET", &format!("/_data_stream/{DS}"), None).await;
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str().unwrap()),
        (404, "index_not_found_exception")
    );

    let r = c
        .bulk(
            "/_bulk",
            creates(&[
                measurement(1, BASE_MS, Some(12.0)),
                measurement(2, BASE_MS + 1, None),
            ]),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["errors"], false);
    let first = item(&r, 0);
    let backing = first["_index"].as_str().unwrap();
    assert!(
        backing.starts_with(".ds-metrics-smm.measurements-default-")
            && backing.ends_with("-000001"),
        "{backing}"
    );
    assert_eq!(
        (
            first["result"].as_str(),
            first["status"].as_u64(),
            first["_version"].as_u64()
        ),
        (Some("created"), Some(201), Some(1))
    );
    assert_eq!(
        (first["_seq_no"].as_u64(), first["_primary_term"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(
        first["_shards"],
        json!({"total": 1, "successful": 1, "failed": 0}),
        "auto_expand_replicas 0-1 on one node"
    );
    assert_eq!(item(&r, 1)["_seq_no"], 1);

    let r = c.call("GET", &format!("/_data_stream/{DS}"), None).await;
    let ds = &r.body["data_streams"][0];
    assert_eq!(
        (
            ds["name"].as_str(),
            ds["template"].as_str(),
            ds["ilm_policy"].as_str()
        ),
        (Some(DS), Some("smm-measurements"), Some("smm-measurements"))
    );
    assert_eq!(ds["indices"][0]["index_name"], backing);
    assert_eq!(es.backing_indices(DS), vec![backing.to_string()]);
    // labels.* became keywords through the dynamic template, flat (subobjects: false)
    let mapping = es.mapping(DS).unwrap();
    assert_eq!(
        mapping["properties"]["labels"]["properties"]["team"],
        json!({"type": "keyword", "ignore_above": 1024})
    );
    let r = c.call("GET", "/_ilm/policy/smm-measurements", None).await;
    assert_eq!(
        r.body["smm-measurements"]["in_use_by"]["data_streams"],
        json!([DS])
    );
}

#[tokio::test]
async fn template_refusals() {
    let (_es, c) = setup().await;
    let r = c
        .call(
            "PUT",
            "/_index_template/no-patterns",
            Some(json!({"priority": 5})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["reason"].as_str().unwrap()),
        (400, "Validation Failed: 1: index patterns are missing;")
    );
    let r = c
        .call(
            "PUT",
            "/_index_template/overlap",
            Some(json!({"index_patterns": ["metrics-smm.*"], "priority": 200})),
        )
        .await;
    assert_eq!(r.status, 400);
    let reason = r.body["error"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("index template [overlap] has index patterns [metrics-smm.*] matching patterns from existing templates [smm-measurements]"), "{reason}");
    assert!(reason.contains("that have the same priority [200], multiple index templates may not match during index creation"), "{reason}");
    let r = c
        .call(
            "PUT",
            "/_index_template/other-priority",
            Some(json!({"index_patterns": ["metrics-smm.*"], "priority": 201})),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = c
        .call(
            "PUT",
            "/_index_template/missing-parts",
            Some(json!({"index_patterns": ["x-*"], "composed_of": ["nope"]})),
        )
        .await;
    assert_eq!(
        r.body["error"]["reason"],
        "index template [missing-parts] specifies component templates [nope] that do not exist"
    );
    let r = c
        .call(
            "PUT",
            "/_component_template/bad-type",
            Some(json!({"template": {"mappings": {"properties": {"v": {"type": "strnig"}}}}})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str().unwrap()),
        (400, "mapper_parsing_exception")
    );
    assert_eq!(
        r.body["error"]["caused_by"]["reason"],
        "No handler for type [strnig] declared on field [v]"
    );
    let r = c
        .call(
            "PUT",
            "/_component_template/bad-setting",
            Some(json!({"template": {"settings": {"index.lifecycle.nmae": "x", "foo": 1}}})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .call(
            "PUT",
            "/_component_template/no-template",
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str().unwrap()),
        (400, "x_content_parse_exception")
    );
    let r = c.call("PUT", "/_ilm/policy/bad", Some(json!({"policy": {"phases": {"delete": {"actions": {"rollover": {"max_age": "1d"}}}}}}))).await;
    assert_eq!(
        r.body["error"]["reason"],
        "invalid action [rollover] defined in phase [delete]"
    );
    let r = c
        .call("PUT", "/_data_stream/logs-nothing-default", None)
        .await;
    assert_eq!(
        r.body["error"]["reason"],
        "no matching index template found for data stream [logs-nothing-default]"
    );
    let r = c
        .call(
            "PUT",
            "/_index_template/plain",
            Some(json!({"index_patterns": ["plain-*"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = c.call("PUT", "/_data_stream/plain-x", None).await;
    assert_eq!(
        r.body["error"]["reason"],
        "matching index template [plain] for data stream [plain-x] has no data stream template"
    );
    // other-priority (201, no data_stream) now wins for DS names, as in ES
    let r = c.call("PUT", &format!("/_data_stream/{DS}"), None).await;
    assert_eq!(
        r.body["error"]["reason"],
        format!(
            "matching index template [other-priority] for data stream [{DS}] has no data stream template"
        )
    );
    assert_eq!(
        c.call("DELETE", "/_index_template/other-priority", None)
            .await
            .status,
        200
    );
    let r = c.call("PUT", &format!("/_data_stream/{DS}"), None).await;
    assert_eq!(r.status, 200);
    let r = c.call("PUT", &format!("/_data_stream/{DS}"), None).await;
    assert_eq!(r.body["error"]["type"], "resource_already_exists_exception");
    let r = c
        .call(
            "DELETE",
            "/_component_template/smm-measurements@mappings",
            None,
        )
        .await;
    assert_eq!(r.status, 400, "still used by an index template");
}

#[tokio::test]
async fn bulk_request_level_refusals() {
    let (_es, c) = setup().await;
    let doc = measurement(1, BASE_MS, Some(1.0)).to_string();
    let r = c
        .bulk(
            "/_bulk",
            format!("{{\"upsert\":{{\"_index\":\"{DS}\"}}}}\n{doc}\n"),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["type"], "illegal_argument_exception");
    assert_eq!(
        r.body["error"]["reason"],
        "Malformed action/metadata line [1], expected one of [create, delete, index, update] but found [upsert]"
    );
    let r = c
        .bulk(
            "/_bulk",
            format!("{{\"create\":{{\"_index\":\"{DS}\"}}}}\n{doc}"),
        )
        .await;
    assert_eq!(
        r.body["error"]["reason"],
        "The bulk request must be terminated by a newline [\\n]"
    );
    let r = c
        .bulk(
            "/_bulk",
            format!("{{\"create\":{{\"_index\":\"{DS}\",\"_type\":\"_doc\"}}}}\n{doc}\n"),
        )
        .await;
    assert_eq!(
        r.body["error"]["reason"],
        "Action/metadata line [1] contains an unknown parameter [_type]"
    );
    let r = c.bulk("/_bulk", format!("[1]\n{doc}\n")).await;
    assert_eq!(
        r.body["error"]["reason"],
        "Malformed action/metadata line [1], expected START_OBJECT but found [START_ARRAY]"
    );
    let r = c
        .bulk("/_bulk", format!("{{\"create\":{{}}}}\n{doc}\n"))
        .await;
    assert_eq!(
        r.body["error"]["reason"],
        "Validation Failed: 1: index is missing;"
    );
    let r = c.bulk("/_bulk", String::new()).await;
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str().unwrap()),
        (400, "parse_exception")
    );
    let r = c
        .bulk(
            "/_bulk?refresh=sometimes",
            format!("{{\"create\":{{}}}}\n{doc}\n"),
        )
        .await;
    assert_eq!(
        r.body["error"]["reason"],
        "Unknown value for refresh: [sometimes]."
    );
    let r = c
        .bulk(
            "/_bulk?refersh=true",
            format!("{{\"create\":{{}}}}\n{doc}\n"),
        )
        .await;
    assert_eq!(
        r.body["error"]["reason"],
        "request [/_bulk] contains unrecognized parameter: [refersh]"
    );

    let body = format!("{{\"create\":{{\"_index\":\"{DS}\"}}}}\n{doc}\n");
    let r = c
        .send("POST", "/_bulk", Some(("text/plain", body.clone())))
        .await
        .unwrap();
    assert_eq!(
        (r.status, &r.body),
        (
            406,
            &json!({"error": "Content-Type header [text/plain] is not supported", "status": 406})
        )
    );
    let r = c
        .send(
            "POST",
            "/_bulk",
            Some(("application/json; foo=bar", body.clone())),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 406);
    for ok in [
        "application/x-ndjson",
        "application/json; charset=UTF-8",
        "application/vnd.elasticsearch+x-ndjson; compatible-with=8",
        "application/vnd.elasticsearch+json;compatible-with=7",
    ] {
        let r = c
            .send(
                "POST",
                &format!("/{DS}/_bulk"),
                Some((ok, format!("{{\"create\":{{}}}}\n{doc}\n"))),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{ok}: {}", r.body);
    }
    let r = c
        .send(
            "POST",
            "/_bulk",
            Some((
                "application/vnd.elasticsearch+x-ndjson; compatible-with=9",
                body,
            )),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str().unwrap()),
        (400, "media_type_header_exception")
    );
    let r = c.call("GET", "/_bulk", None).await;
    assert_eq!(
        (r.status, &r.body),
        (
            405,
            &json!({"error": "Incorrect HTTP method for uri [/_bulk] and method [GET], allowed: [POST, PUT]", "status": 405})
        )
    );
    assert_eq!(r.headers["allow"], "POST,PUT");
}

#[tokio::test]
async fn bulk_items_are_checked_like_es_and_the_response_is_per_item() {
    let (es, c) = setup().await;
    let good = measurement(1, BASE_MS, Some(3.0));
    let mut no_ts = measurement(2, BASE_MS, Some(1.0));
    no_ts.as_object_mut().unwrap().remove("@timestamp");
    let mut unknown_field = measurement(3, BASE_MS, Some(1.0));
    unknown_field["measurement"]["unit"] = json!("findings");
    let mut wrong_type = measurement(4, BASE_MS, Some(1.0));
    wrong_type["measurement"]["value"] = json!("twelve");
    let mut bad_constant = measurement(5, BASE_MS, Some(1.0));
    bad_constant["data_stream"]["type"] = json!("logs");
    let mut body = creates(std::slice::from_ref(&good));
    body.push_str(&format!(
        "{{\"index\":{{\"_index\":\"{DS}\",\"_id\":\"{}\"}}}}\n{good}\n",
        id(9)
    ));
    body.push_str(&creates(&[
        no_ts,
        unknown_field,
        wrong_type,
        bad_constant,
        good.clone(),
    ]));
    body.push_str(&format!(
        "{{\"delete\":{{\"_index\":\"{DS}\",\"_id\":\"{}\"}}}}\n",
        id(1)
    ));
    let r = c.bulk("/_bulk", body).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["errors"], true);
    assert_eq!(statuses(&r), vec![201, 400, 400, 400, 400, 400, 409, 400]);
    assert!(r.body["took"].is_u64());
    let keys: Vec<&String> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_object().unwrap().keys().next().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "create", "index", "create", "create", "create", "create", "create", "delete"
        ]
    );

    let e = |n: usize| item(&r, n)["error"].clone();
    assert_eq!(
        e(1),
        json!({"type": "illegal_argument_exception", "reason": "only write ops with an op_type of create are allowed in data streams"})
    );
    assert_eq!(item(&r, 1)["_index"], DS);
    assert_eq!(e(2)["type"], "document_parsing_exception");
    assert!(
        e(2)["reason"]
            .as_str()
            .unwrap()
            .ends_with("failed to parse: data stream timestamp field [@timestamp] is missing")
    );
    assert_eq!(
        e(2)["caused_by"],
        json!({"type": "illegal_argument_exception", "reason": "data stream timestamp field [@timestamp] is missing"})
    );
    assert_eq!(e(3)["type"], "strict_dynamic_mapping_exception");
    assert!(e(3)["reason"].as_str().unwrap().ends_with(
        "mapping set to strict, dynamic introduction of [unit] within [measurement] is not allowed"
    ));
    assert_eq!(e(4)["type"], "document_parsing_exception");
    assert!(e(4)["reason"].as_str().unwrap().contains(&format!("failed to parse field [measurement.value] of type [double] in document with id '{}'. Preview of field's value: 'twelve'", id(4))));
    assert_eq!(
        e(4)["caused_by"],
        json!({"type": "number_format_exception", "reason": "For input string: \"twelve\""})
    );
    assert_eq!(
        e(5)["caused_by"]["reason"],
        "[constant_keyword] field [data_stream.type] only accepts values that are equal to the value defined in the mappings [metrics], but got [logs]"
    );
    let conflict = item(&r, 6);
    let backing = item(&r, 0)["_index"].as_str().unwrap();
    assert_eq!(conflict["_index"], backing);
    assert_eq!(
        conflict["error"]["type"],
        "version_conflict_engine_exception"
    );
    assert_eq!(
        conflict["error"]["reason"],
        format!(
            "[{}]: version conflict, document already exists (current version [1])",
            id(1)
        )
    );
    assert_eq!(
        (
            conflict["error"]["shard"].as_str(),
            conflict["error"]["index"].as_str()
        ),
        (Some("0"), Some(backing))
    );
    assert!(conflict["error"]["index_uuid"].is_string());
    assert_eq!(
        e(7)["reason"],
        "only write ops with an op_type of create are allowed in data streams"
    );
    let docs = es.documents(DS);
    assert_eq!(docs.len(), 1);
    assert_eq!(
        (docs[0].id.as_str(), &docs[0].source),
        (id(1).as_str(), &good)
    );

    // re-creating what exists: 409 for every item, nothing changes
    let r = c.bulk("/_bulk", creates(&[good.clone(), good])).await;
    assert_eq!(
        (r.body["errors"].as_bool(), statuses(&r)),
        (Some(true), vec![409, 409])
    );
    assert_eq!(es.count(DS), 1);
}

#[tokio::test]
async fn plain_indices_take_index_and_delete() {
    let (es, c) = setup().await;
    let r = c.bulk("/plain-idx/_bulk", "{\"index\":{\"_id\":\"a\"}}\n{\"x\":1,\"s\":\"Hello World\"}\n{\"index\":{\"_id\":\"a\"}}\n{\"x\":2}\n{\"delete\":{\"_id\":\"a\"}}\n{\"delete\":{\"_id\":\"a\"}}\n{\"index\":{}}\n{\"x\":3}\n".into()).await;
    assert_eq!(statuses(&r), vec![201, 200, 200, 404, 201]);
    assert_eq!(
        (
            item(&r, 1)["result"].as_str(),
            item(&r, 1)["_version"].as_u64()
        ),
        (Some("updated"), Some(2))
    );
    assert_eq!(
        (
            item(&r, 2)["result"].as_str(),
            item(&r, 3)["result"].as_str()
        ),
        (Some("deleted"), Some("not_found"))
    );
    assert_eq!(
        item(&r, 0)["_shards"]["total"],
        2,
        "one replica by default, unassigned"
    );
    assert_eq!(item(&r, 4)["_id"].as_str().unwrap().len(), 20);
    assert_eq!(es.count("plain-idx"), 1);
    assert_eq!(
        es.mapping("plain-idx").unwrap()["properties"]["s"]["fields"]["keyword"]["type"],
        "keyword"
    );
    let r = c
        .bulk("/_bulk", "{\"index\":{\"_index\":\"Upper\"}}\n{}\n".into())
        .await;
    assert_eq!(item(&r, 0)["error"]["type"], "invalid_index_name_exception");
}

#[tokio::test]
async fn documents_are_searchable_only_after_a_refresh() {
    let (es, c) = setup().await;
    let search = format!("/{DS}/_search");
    c.bulk(
        "/_bulk",
        creates(&[
            measurement(1, BASE_MS, Some(1.0)),
            measurement(2, BASE_MS, Some(2.0)),
        ]),
    )
    .await;
    assert_eq!(total(&c, &search).await, 0);
    let r = c.call("POST", &format!("/{DS}/_count"), None).await;
    assert_eq!(r.body["count"], 0);
    assert_eq!((es.count(DS), es.searchable_count(DS)), (2, 0));
    let r = c.call("POST", &format!("/{DS}/_refresh"), None).await;
    assert_eq!(
        r.body,
        json!({"_shards": {"total": 1, "successful": 1, "failed": 0}})
    );
    assert_eq!(total(&c, &search).await, 2);

    let r = c
        .bulk(
            "/_bulk?refresh=true",
            creates(&[measurement(3, BASE_MS, Some(3.0))]),
        )
        .await;
    assert_eq!(item(&r, 0)["forced_refresh"], true);
    assert_eq!(total(&c, &search).await, 3);
    let r = c
        .bulk(
            "/_bulk?refresh=wait_for",
            creates(&[measurement(4, BASE_MS, Some(3.0))]),
        )
        .await;
    assert!(item(&r, 0).get("forced_refresh").is_none());
    assert_eq!(total(&c, &search).await, 4);
    let r = c
        .call(
            "POST",
            "/metrics-smm.measurements-*/_count",
            Some(json!({"query": {"term": {"measurement.value": 3}}})),
        )
        .await;
    assert_eq!(r.body["count"], 2);
}

#[tokio::test]
async fn pit_and_search_after_return_2500_documents_once_in_order() {
    let (_es, c) = setup().await;
    // three documents per timestamp: the measurement.id sort breaks the ties
    let docs: Vec<Value> = (0..2500)
        .map(|i| measurement(2500 - i, BASE_MS + (i as i64 / 3) * 1000, Some(i as f64)))
        .collect();
    for chunk in docs.chunks(500) {
        let r = c.bulk("/_bulk", creates(chunk)).await;
        assert_eq!(r.body["errors"], false);
    }
    c.call("POST", &format!("/{DS}/_refresh"), None).await;
    let r = c
        .call("POST", &format!("/{DS}/_pit?keep_alive=1m"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let pit = r.body["id"].as_str().unwrap().to_string();
    // written after the PIT: invisible to it
    c.bulk(
        "/_bulk?refresh=true",
        creates(&[measurement(9000, BASE_MS + 5000, Some(1.0))]),
    )
    .await;

    let mut expected: Vec<(i64, String)> = docs
        .iter()
        .map(|d| {
            (
                super::dates::parse_date(
                    d["@timestamp"].as_str().unwrap(),
                    super::dates::DEFAULT_FORMAT,
                )
                .unwrap(),
                d["measurement"]["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    expected.sort();
    let mut seen = Vec::new();
    let mut after: Option<Value> = None;
    loop {
        let mut body = json!({
            "size": 300,
            "query": {"bool": {"filter": [
                {"term": {"measure.id": "sarif-findings"}},
                {"term": {"labels.team": "payments"}},
                {"range": {"@timestamp": {"gt": format_millis(BASE_MS - 1), "lte": format_millis(BASE_MS + 10_000_000), "format": "strict_date_optional_time"}}},
                {"term": {"event.outcome": "success"}},
                {"exists": {"field": "measurement.value"}}
            ]}},
            "sort": [{"@timestamp": "asc"}, {"measurement.id": "asc"}],
            "_source": ["@timestamp", "measurement.id", "measurement.value", "labels"],
            "pit": {"id": pit, "keep_alive": "1m"}
        });
        if let Some(a) = &after {
            body["search_after"] = a.clone();
        }
        let r = c.call("POST", "/_search", Some(body)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["pit_id"], pit.as_str());
        assert_eq!(
            r.body["hits"]["total"],
            json!({"value": 2500, "relation": "eq"})
        );
        let hits = r.body["hits"]["hits"].as_array().unwrap();
        if hits.is_empty() {
            break;
        }
        for h in hits {
            assert_eq!(
                h["sort"].as_array().unwrap().len(),
                3,
                "the implicit _shard_doc tiebreaker"
            );
            assert!(h["_score"].is_null());
            assert_eq!(h["_source"]["labels"]["team"], "payments");
            assert!(h["_source"].get("measure").is_none());
            seen.push((
                h["sort"][0].as_i64().unwrap(),
                h["_id"].as_str().unwrap().to_string(),
            ));
        }
        after = Some(hits.last().unwrap()["sort"].clone());
    }
    assert_eq!(seen.len(), 2500);
    assert_eq!(
        seen.iter().map(|(_, id)| id).collect::<HashSet<_>>().len(),
        2500
    );
    assert_eq!(seen, expected);

    // pit forbids an index in the path; search_after needs the full sort
    let r = c
        .call(
            "POST",
            &format!("/{DS}/_search"),
            Some(json!({"pit": {"id": pit}})),
        )
        .await;
    assert_eq!(
        r.body["error"]["reason"],
        "Validation Failed: 1: [indices] cannot be used with point in time. Do not specify any index with point in time.;"
    );
    let r = c
        .call(
            "POST",
            "/_search",
            Some(json!({"pit": {"id": pit}, "sort": [{"@timestamp": "asc"}], "search_after": [1]})),
        )
        .await;
    assert_eq!(
        (
            r.status,
            r.body["error"]["root_cause"][0]["reason"].as_str().unwrap()
        ),
        (400, "search_after has 1 value(s) but sort has 2.")
    );
    let r = c.call("DELETE", "/_pit", Some(json!({"id": pit}))).await;
    assert_eq!(r.body, json!({"succeeded": true, "num_freed": 1}));
    let r = c
        .call("POST", "/_search", Some(json!({"pit": {"id": pit}})))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body["error"]["root_cause"][0]["type"],
        "search_context_missing_exception"
    );
    let r = c.call("DELETE", "/_pit", Some(json!({"id": pit}))).await;
    assert_eq!(
        (r.status, &r.body),
        (404, &json!({"succeeded": true, "num_freed": 0}))
    );
    assert_eq!(total(&c, &format!("/{DS}/_search")).await, 2501);
}

#[tokio::test]
async fn metric_aggregations() {
    let (_es, c) = setup().await;
    let mut docs: Vec<Value> = (0..10)
        .map(|i| measurement(i, BASE_MS + i as i64, Some(0.1)))
        .collect();
    docs.extend((10..13).map(|i| measurement(i, BASE_MS, None)));
    c.bulk("/_bulk?refresh=true", creates(&docs)).await;
    let aggs = |q: Value| {
        json!({"size": 0, "track_total_hits": true, "query": q, "aggs": {
            "sum": {"sum": {"field": "measurement.value"}}, "avg": {"avg": {"field": "measurement.value"}},
            "min": {"min": {"field": "measurement.value"}}, "max": {"max": {"field": "measurement.value"}},
            "n": {"value_count": {"field": "measurement.value"}}, "last": {"max": {"field": "@timestamp"}}}})
    };
    let r = c
        .call(
            "POST",
            &format!("/{DS}/_search"),
            Some(aggs(
                json!({"bool": {"filter": [{"term": {"event.outcome": "success"}}]}}),
            )),
        )
        .await;
    let a = &r.body["aggregations"];
    assert_eq!(
        a["sum"],
        json!({"value": 1.0}),
        "compensated summation: ten times 0.1 is 1.0"
    );
    assert_eq!(a["avg"]["value"], 0.1);
    assert_eq!(
        (
            a["min"]["value"].as_f64(),
            a["max"]["value"].as_f64(),
            a["n"]["value"].as_u64()
        ),
        (Some(0.1), Some(0.1), Some(10))
    );
    assert_eq!(a["last"]["value_as_string"], format_millis(BASE_MS + 9));
    assert_eq!(
        r.body["hits"]["total"],
        json!({"value": 10, "relation": "eq"})
    );
    assert_eq!(r.body["hits"]["hits"], json!([]));
    assert!(r.body["hits"]["max_score"].is_null() || r.body["hits"]["max_score"].is_number());

    let r = c
        .call(
            "POST",
            &format!("/{DS}/_search?typed_keys"),
            Some(aggs(json!({"term": {"measure.id": "other"}}))),
        )
        .await;
    let a = &r.body["aggregations"];
    assert_eq!(
        (&a["sum#sum"], &a["value_count#n"]),
        (&json!({"value": 0.0}), &json!({"value": 0}))
    );
    assert_eq!(
        (&a["avg#avg"], &a["min#min"], &a["max#max"]),
        (
            &json!({"value": null}),
            &json!({"value": null}),
            &json!({"value": null})
        )
    );

    let r = c
        .call(
            "POST",
            &format!("/{DS}/_search"),
            Some(json!({"aggs": {"s": {"sum": {"field": "measure.id"}}}})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str().unwrap()),
        (400, "search_phase_execution_exception")
    );
    assert_eq!(
        r.body["error"]["root_cause"][0]["reason"],
        "Field [measure.id] of type [keyword] is not supported for aggregation [sum]"
    );
}

#[tokio::test]
async fn search_refusals_and_source_filtering() {
    let (_es, c) = setup().await;
    c.bulk(
        "/_bulk?refresh=true",
        creates(&[measurement(1, BASE_MS, Some(1.0))]),
    )
    .await;
    let path = format!("/{DS}/_search");
    let r = c.call("POST", &path, Some(json!({"size": 10001}))).await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"]["root_cause"][0]["reason"].as_str().unwrap().starts_with("Result window is too large, from + size must be less than or equal to: [10000] but was [10001]."));
    let r = c
        .call("POST", &path, Some(json!({"from": 9995, "size": 10})))
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .call("POST", &path, Some(json!({"search_after": [1]})))
        .await;
    assert_eq!(
        r.body["error"]["root_cause"][0]["reason"],
        "Sort must contain at least one field."
    );
    let r = c.call("POST", "/missing-index/_search", None).await;
    assert_eq!(
        (r.status, r.body["error"]["type"].as_str().unwrap()),
        (404, "index_not_found_exception")
    );
    assert_eq!(r.body["error"]["reason"], "no such index [missing-index]");
    let r = c
        .call(
            "POST",
            "/missing-index/_search?ignore_unavailable=true",
            None,
        )
        .await;
    assert_eq!(
        (r.status, &r.body["hits"]["total"]),
        (200, &json!({"value": 0, "relation": "eq"}))
    );
    let r = c
        .call("POST", &path, Some(json!({"query": {"trem": {"a": "b"}}})))
        .await;
    assert_eq!(
        (
            r.body["error"]["type"].as_str(),
            r.body["error"]["reason"].as_str()
        ),
        (Some("parsing_exception"), Some("unknown query [trem]"))
    );
    let r = c.call("POST", &path, Some(json!({"szie": 1}))).await;
    assert_eq!(
        r.body["error"]["reason"],
        "Unknown key for a VALUE_NUMBER in [szie]."
    );
    let r = c
        .call(
            "POST",
            &path,
            Some(json!({"query": {"match": {"error.message": "deadline"}}})),
        )
        .await;
    assert!(
        r.body["error"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("not supported by the Elasticsearch stand-in")
    );
    let r = c
        .call("POST", &path, Some(json!({"sort": ["error.message"]})))
        .await;
    assert!(
        r.body["error"]["root_cause"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("Fielddata is disabled on [error.message]")
    );
    let r = c
        .call("POST", &path, Some(json!({"sort": ["_shard_doc"]})))
        .await;
    assert_eq!(
        r.body["error"]["reason"],
        "Validation Failed: 1: [_shard_doc] sort field cannot be used without [point in time];"
    );
    let r = c
        .call("HEAD", "/_index_template/smm-measurements", None)
        .await;
    assert_eq!((r.status, r.raw.len()), (200, 0));
    let r = c.call("HEAD", "/_index_template/nope", None).await;
    assert_eq!(r.status, 404);
    let r = c.call("POST", &path, Some(json!({"sort": ["nope"]}))).await;
    assert_eq!(
        r.body["error"]["root_cause"][0]["reason"],
        "No mapping found for [nope] in order to sort on"
    );

    let r = c
        .call("POST", &path, Some(json!({"_source": ["labels.*"]})))
        .await;
    assert_eq!(
        r.body["hits"]["hits"][0]["_source"],
        json!({"labels": {"team": "payments", "service": "legacy-billing", "tier": "1"}})
    );
    assert_eq!(r.body["hits"]["hits"][0]["_score"], 1.0);
    let r = c
        .call(
            "POST",
            &path,
            Some(
                json!({"_source": false, "query": {"bool": {"filter": {"term": {"_id": id(1)}}}}}),
            ),
        )
        .await;
    let hit = &r.body["hits"]["hits"][0];
    assert_eq!(
        (
            hit["_id"].as_str(),
            hit.get("_source"),
            hit["_score"].as_f64()
        ),
        (Some(id(1).as_str()), None, Some(0.0))
    );
    let r = c.call("GET", "/_foo/bar", None).await;
    assert_eq!(
        (r.status, &r.body),
        (
            400,
            &json!({"error": "no handler found for uri [/_foo/bar] and method [GET]", "status": 400})
        )
    );
}

#[tokio::test]
async fn authentication_is_required_when_configured_and_requests_are_recorded() {
    let es = EsServer::start(
        EsConfig::default()
            .basic_auth("elastic", "changeme")
            .api_key("smm", "s3cret"),
    )
    .await
    .unwrap();
    let mut c = Client::new(&es);
    let r = c.call("GET", "/", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"]["type"], "security_exception");
    assert_eq!(
        r.body["error"]["reason"],
        "missing authentication credentials for REST request [/]"
    );
    assert!(
        r.headers
            .get_all("www-authenticate")
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("Basic realm=\"security\""))
    );
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    c.auth = Some(format!("Basic {}", b64("elastic:wrong")));
    let r = c.call("GET", "/?pretty", None).await;
    assert_eq!(
        (r.status, r.body["error"]["reason"].as_str().unwrap()),
        (
            401,
            "unable to authenticate user [elastic] for REST request [/?pretty]"
        )
    );
    c.auth = Some(format!("Basic {}", b64("elastic:changeme")));
    assert_eq!(c.call("GET", "/", None).await.status, 200);
    c.auth = Some(format!("ApiKey {}", b64("smm:s3cret")));
    assert_eq!(c.call("GET", "/", None).await.status, 200);
    c.auth = Some(format!("ApiKey {}", b64("smm:nope")));
    assert_eq!(c.call("GET", "/", None).await.status, 401);

    let recorded = es.requests();
    assert_eq!(recorded.len(), 5);
    assert_eq!(
        recorded.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![401, 401, 200, 200, 401]
    );
    assert!(recorded[0].header("authorization").is_none());
    assert_eq!(
        recorded[3].header("Authorization"),
        Some(format!("ApiKey {}", b64("smm:s3cret")).as_str())
    );
    assert!(recorded[2].header("x-elastic-client-meta").is_some());
    assert_eq!(
        (
            recorded[1].method.as_str(),
            recorded[1].path.as_str(),
            recorded[1].query.as_deref()
        ),
        ("GET", "/", Some("pretty"))
    );
}

#[tokio::test]
async fn injected_request_and_item_faults() {
    let (es, c) = setup().await;
    es.fail_next_requests(2, 429);
    for _ in 0..2 {
        let r = c.call("GET", "/", None).await;
        assert_eq!(
            (r.status, r.body["error"]["type"].as_str().unwrap()),
            (429, "es_rejected_execution_exception")
        );
    }
    assert_eq!(c.call("GET", "/", None).await.status, 200);
    es.inject(RequestFault::new(503).on_path("/_bulk"));
    assert_eq!(c.call("GET", "/", None).await.status, 200);
    let r = c
        .bulk("/_bulk", creates(&[measurement(1, BASE_MS, Some(1.0))]))
        .await;
    assert_eq!(r.status, 503);
    assert_eq!(es.count(DS), 0, "a failed request has no effect");
    es.inject(RequestFault::new(500).on_method("GET"));
    assert_eq!(c.call("GET", "/", None).await.status, 500);
    es.inject(RequestFault::new(502).with_body(json!({"message": "bad gateway"})));
    let r = c.call("GET", "/", None).await;
    assert_eq!(
        (r.status, &r.body),
        (502, &json!({"message": "bad gateway"}))
    );

    // one _id fails twice, then goes through
    es.inject_items(ItemFault::ids([id(2)], 429).attempts(2));
    let batch: Vec<Value> = (1..=3)
        .map(|i| measurement(i, BASE_MS, Some(1.0)))
        .collect();
    let r = c.bulk("/_bulk", creates(&batch)).await;
    assert_eq!(statuses(&r), vec![201, 429, 201]);
    assert_eq!(
        item(&r, 1)["error"]["type"],
        "es_rejected_execution_exception"
    );
    let r = c.bulk("/_bulk", creates(&batch[1..2])).await;
    assert_eq!(statuses(&r), vec![429]);
    let r = c.bulk("/_bulk", creates(&batch[1..2])).await;
    assert_eq!(statuses(&r), vec![201]);

    // every second item of the next bulk request: 503
    es.inject_items(ItemFault::every_nth(2, 503));
    let batch: Vec<Value> = (10..14)
        .map(|i| measurement(i, BASE_MS, Some(1.0)))
        .collect();
    let r = c.bulk("/_bulk", creates(&batch)).await;
    assert_eq!(statuses(&r), vec![201, 503, 201, 503]);
    assert_eq!(item(&r, 1)["error"]["type"], "unavailable_shards_exception");
    let r = c
        .bulk("/_bulk", creates(&[batch[1].clone(), batch[3].clone()]))
        .await;
    assert_eq!(statuses(&r), vec![201, 201]);
    assert_eq!(es.count(DS), 7);
}

#[tokio::test]
async fn body_limit_and_latency() {
    let (es, c) = setup().await;
    es.set_max_content_length(1000);
    let big = creates(
        &(0..5)
            .map(|i| measurement(i, BASE_MS, Some(1.0)))
            .collect::<Vec<_>>(),
    );
    assert!(big.len() > 1000);
    let r = c.bulk("/_bulk", big).await;
    assert_eq!((r.status, r.raw.len()), (413, 0));
    assert_eq!(
        c.bulk("/_bulk", creates(&[measurement(1, BASE_MS, Some(1.0))]))
            .await
            .status,
        200
    );
    es.set_latency(Duration::from_millis(150));
    let t = Instant::now();
    assert_eq!(c.call("GET", "/", None).await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    es.clear_faults();
    assert!(
        es.requests()
            .iter()
            .any(|r| r.status == 413 && r.body_len > 1000)
    );
}

#[tokio::test]
async fn stop_refuses_connections_and_restart_keeps_the_data() {
    let (es, c) = setup().await;
    c.bulk(
        "/_bulk",
        creates(&[
            measurement(1, BASE_MS, Some(1.0)),
            measurement(2, BASE_MS, Some(2.0)),
        ]),
    )
    .await;
    let pit = c
        .call("POST", &format!("/{DS}/_pit?keep_alive=5m"), None)
        .await
        .body["id"]
        .clone();
    let url = es.url();
    es.stop().await;
    assert!(!es.is_running());
    let err = c
        .send("GET", "/", None)
        .await
        .err()
        .expect("server is down");
    assert!(err.is_connect(), "{err}");
    es.restart().await.unwrap();
    assert_eq!(es.url(), url);
    assert_eq!(c.call("GET", "/", None).await.status, 200);
    assert_eq!(es.count(DS), 2);
    assert_eq!(
        total(&c, &format!("/{DS}/_search")).await,
        2,
        "recovered documents are searchable"
    );
    let r = c
        .call("POST", "/_search", Some(json!({"pit": {"id": pit}})))
        .await;
    assert_eq!(r.status, 404, "PITs do not survive a restart");
    let r = c
        .bulk("/_bulk", creates(&[measurement(1, BASE_MS, Some(1.0))]))
        .await;
    assert_eq!(statuses(&r), vec![409]);
}

#[tokio::test]
async fn a_configured_refresh_interval_makes_writes_searchable_by_itself() {
    let es = EsServer::start(EsConfig::default().refresh_interval(Duration::from_millis(50)))
        .await
        .unwrap();
    let c = Client::new(&es);
    install_smm_templates(&c).await;
    c.bulk("/_bulk", creates(&[measurement(1, BASE_MS, Some(1.0))]))
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while total(&c, &format!("/{DS}/_search")).await == 0 {
        assert!(Instant::now() < deadline, "never refreshed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
