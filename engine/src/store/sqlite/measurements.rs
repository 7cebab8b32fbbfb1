//! Measurements in SQLite.
//!
//! Reads order by `ts` then the internal `seq` (both served by the
//! indexes, no sort), then sort ties of `ts` by id in Rust where ids are
//! read: the order every backend promises, without an index on `(ts, id)`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Row, params};
use smm_catalogue::StoreError;
use smm_catalogue::derived::Accumulator;

use super::{Sql, SqliteStore, conversion, from_ms, json_col, ms};
use crate::measurement::{Measurement, Query};
use crate::store::{
    Aggregate, Appended, MeasurementStore, Selector, WindowColumns, WindowRow, order_ties_by_id,
};

const COLUMNS: &str = "id, instance, measure_id, measure_version, measure_name, unit, kind, scale, ts, observed_at, value, text, details, labels, error, error_kind, duration_ms";

fn measurement_row(row: &Row<'_>) -> Sql<Measurement> {
    let measure_id: String = row.get(2)?;
    let measure_version: String = row.get(3)?;
    let details: Option<String> = row.get(12)?;
    Ok(Measurement {
        id: row.get(0)?,
        instance: row.get(1)?,
        measure: format!("{measure_id}@{measure_version}"),
        measure_id,
        measure_version,
        measure_name: row.get(4)?,
        unit: row.get(5)?,
        kind: row.get(6)?,
        scale: row.get(7)?,
        timestamp: from_ms(row.get(8)?)?,
        observed_at: row.get::<_, Option<i64>>(9)?.map(from_ms).transpose()?,
        value: row.get(10)?,
        text: row.get(11)?,
        details: details
            .map(|d| serde_json::from_str(&d))
            .transpose()
            .map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    12,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?,
        labels: json_col(row, 13)?,
        error: row.get(14)?,
        error_kind: row.get(15)?,
        duration_ms: row.get(16)?,
    })
}

/// ` AND json_extract(labels, ?n) = ?n+1 ...` for each label, numbered from
/// `first`; the JSON path is a bound parameter, never spliced into the SQL.
fn label_filter(
    labels: &std::collections::BTreeMap<String, String>,
    first: usize,
    args: &mut Vec<SqlValue>,
) -> String {
    let mut sql = String::new();
    for (i, (k, v)) in labels.iter().enumerate() {
        let key = k.replace('\\', "\\\\").replace('"', "\\\"");
        sql.push_str(&format!(
            " AND json_extract(labels, ?{}) = ?{}",
            first + 2 * i,
            first + 2 * i + 1
        ));
        args.push(format!("$.\"{key}\"").into());
        args.push(v.clone().into());
    }
    sql
}

/// The `WHERE` clause of a window: successful numeric measurements of the
/// selector in `(after, until]`.
fn window_filter(
    sel: &Selector,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> (String, Vec<SqlValue>) {
    let mut args: Vec<SqlValue> = vec![
        sel.measure_id.clone().into(),
        ms(after).into(),
        ms(until).into(),
    ];
    let labels = label_filter(&sel.labels, 4, &mut args);
    (
        format!(
            "measure_id = ?1 AND ts > ?2 AND ts <= ?3 AND error IS NULL AND value IS NOT NULL{labels}"
        ),
        args,
    )
}

fn require_ids(batch: &[Measurement]) -> Result<(), StoreError> {
    match batch.iter().find(|m| m.id.is_empty()) {
        Some(m) => Err(StoreError::permanent(format!(
            "a measurement of instance {} at {} has no id (not sealed)",
            m.instance, m.timestamp
        ))),
        None => Ok(()),
    }
}

/// Insert `batches` in one transaction (an id already stored is left as it
/// is); the outcomes of each batch.
fn insert(conn: &mut Connection, batches: &[&[Measurement]]) -> Sql<Vec<Vec<Appended>>> {
    let tx = conn.transaction()?;
    let mut all = Vec::with_capacity(batches.len());
    {
        let mut stmt = tx.prepare_cached(&format!(
            "INSERT INTO measurements ({COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
             ON CONFLICT (id) DO NOTHING"
        ))?;
        for batch in batches {
            let mut outcomes = Vec::with_capacity(batch.len());
            for m in *batch {
                let n = stmt.execute(params![
                    m.id,
                    m.instance,
                    m.measure_id,
                    m.measure_version,
                    m.measure_name,
                    m.unit,
                    m.kind,
                    m.scale,
                    ms(m.timestamp),
                    m.observed_at.map(ms),
                    m.value,
                    m.text,
                    m.details.as_ref().map(ToString::to_string),
                    serde_json::to_string(&m.labels).map_err(conversion)?,
                    m.error,
                    m.error_kind,
                    m.duration_ms,
                ])?;
                outcomes.push(if n == 1 {
                    Appended::Stored
                } else {
                    Appended::AlreadyStored
                });
            }
            all.push(outcomes);
        }
    }
    tx.commit()?;
    Ok(all)
}

#[async_trait]
impl MeasurementStore for SqliteStore {
    async fn append(&self, batch: &[Measurement]) -> Result<Vec<Appended>, StoreError> {
        require_ids(batch)?;
        let (reply, lead) = self.inner.appends.enqueue(batch.to_vec());
        if lead {
            // Commit this batch and whatever queues meanwhile.
            let inner = self.inner.clone();
            super::blocking(move || {
                inner
                    .appends
                    .commit_all(|batches| inner.write(|conn| insert(conn, batches)));
                Ok(())
            })
            .await?;
        }
        reply
            .await
            .map_err(|_| StoreError::permanent("the append's transaction was abandoned"))?
    }

    async fn query(&self, q: &Query) -> Result<Vec<Measurement>, StoreError> {
        let q = q.clone();
        self.read_blocking(move |conn| {
            let mut args: Vec<SqlValue> = vec![
                q.instance.clone().into(),
                q.measure_id.clone().into(),
                q.since.map(ms).into(),
                q.until.map(ms).into(),
                q.limit
                    .map_or(-1, |l| l.min(i64::MAX as usize) as i64)
                    .into(),
            ];
            let labels = label_filter(&q.labels, 6, &mut args);
            let sql = format!(
                "SELECT * FROM (
                    SELECT {COLUMNS} FROM measurements
                    WHERE (?1 IS NULL OR instance = ?1) AND (?2 IS NULL OR measure_id = ?2)
                      AND (?3 IS NULL OR ts >= ?3) AND (?4 IS NULL OR ts <= ?4){labels}
                    ORDER BY ts DESC, id DESC
                    LIMIT ?5
                 ) ORDER BY ts, id"
            );
            conn.prepare_cached(&sql)?
                .query_map(rusqlite::params_from_iter(args), measurement_row)?
                .collect()
        })
        .await
    }

    async fn latest(
        &self,
        sel: &Selector,
        at: DateTime<Utc>,
    ) -> Result<Option<Measurement>, StoreError> {
        let sel = sel.clone();
        self.read_blocking(move |conn| {
            let mut args: Vec<SqlValue> = vec![sel.measure_id.clone().into(), ms(at).into()];
            let labels = label_filter(&sel.labels, 3, &mut args);
            let sql = format!(
                "SELECT {COLUMNS} FROM measurements
                 WHERE measure_id = ?1 AND ts <= ?2 AND error IS NULL{labels}
                 ORDER BY ts DESC, id DESC LIMIT 1"
            );
            conn.prepare_cached(&sql)?
                .query_row(rusqlite::params_from_iter(args), measurement_row)
                .optional()
        })
        .await
    }

    async fn window(
        &self,
        sel: &Selector,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        columns: WindowColumns,
    ) -> Result<Vec<WindowRow>, StoreError> {
        let sel = sel.clone();
        self.read_blocking(move |conn| {
            let (filter, args) = window_filter(&sel, after, until);
            let id = if columns.ids { "id" } else { "''" };
            let labels = if columns.labels { "labels" } else { "'{}'" };
            let sql = format!(
                "SELECT {id}, ts, {labels}, value FROM measurements WHERE {filter} ORDER BY ts, seq"
            );
            let mut rows: Vec<WindowRow> = conn
                .prepare_cached(&sql)?
                .query_map(rusqlite::params_from_iter(args), |r| {
                    Ok(WindowRow {
                        id: r.get(0)?,
                        timestamp: from_ms(r.get(1)?)?,
                        labels: json_col(r, 2)?,
                        value: r.get(3)?,
                    })
                })?
                .collect::<Sql<_>>()?;
            if columns.ids {
                order_ties_by_id(&mut rows);
            }
            Ok(rows)
        })
        .await
    }

    async fn aggregate(
        &self,
        sel: &Selector,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        accumulator: Accumulator,
    ) -> Result<Option<Aggregate>, StoreError> {
        let function = match accumulator {
            Accumulator::Sum => "TOTAL(value)",
            Accumulator::Average => "AVG(value)",
            Accumulator::Maximum => "MAX(value)",
            Accumulator::Minimum => "MIN(value)",
            Accumulator::Count => "COUNT(*)",
            _ => return Ok(None),
        };
        let sel = sel.clone();
        self.read_blocking(move |conn| {
            let (filter, args) = window_filter(&sel, after, until);
            let sql = format!("SELECT {function}, COUNT(*) FROM measurements WHERE {filter}");
            conn.prepare_cached(&sql)?
                .query_row(rusqlite::params_from_iter(args), |r| {
                    Ok(Some(Aggregate {
                        value: r.get::<_, Option<f64>>(0)?,
                        count: r.get::<_, i64>(1)? as u64,
                    }))
                })
        })
        .await
    }

    async fn health(&self) -> Result<String, StoreError> {
        let version: String = self
            .read_blocking(|conn| conn.query_row("SELECT sqlite_version()", [], |r| r.get(0)))
            .await?;
        Ok(format!("SQLite {version} ({})", self.inner.path))
    }

    async fn exists_at(
        &self,
        instance: &str,
        at: DateTime<Utc>,
        successful: bool,
    ) -> Result<bool, StoreError> {
        let instance = instance.to_string();
        self.read_blocking(move |conn| {
            conn.prepare_cached(
                "SELECT 1 FROM measurements WHERE instance = ?1 AND ts = ?2 AND (?3 = 0 OR error IS NULL) LIMIT 1",
            )?
            .exists(params![instance, ms(at), successful])
        })
        .await
    }
}
