//! Embedded store: one SQLite database (WAL mode) under `$SMM_HOME`.
//!
//! Invariants: the schema version is recorded in `PRAGMA user_version` and
//! checked on open; component bytes are stored once per sha256; every write
//! is a single transaction.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use smm_catalogue::{
    CatalogueStore, Implementation, Instance, MeasureMetadata, MeasureRecord, StoreError,
};

use smm_catalogue::derived::Accumulator;

use super::{Aggregate, MeasurementStore, Selector, StateStore, WindowRow};
use crate::measurement::{Measurement, Query};
use crate::scheduler::InstanceState;

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    bytes  BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS measures (
    id             TEXT NOT NULL,
    version        TEXT NOT NULL,
    metadata       TEXT NOT NULL,
    implementation TEXT NOT NULL,
    sha256         TEXT REFERENCES blobs(sha256),
    registered_at INTEGER NOT NULL,
    PRIMARY KEY (id, version)
);
CREATE TABLE IF NOT EXISTS instances (
    name     TEXT PRIMARY KEY,
    instance TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS measurements (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    instance        TEXT NOT NULL,
    measure_id      TEXT NOT NULL,
    measure_version TEXT NOT NULL,
    ts              INTEGER NOT NULL,
    observed_at     INTEGER,
    value           REAL,
    text            TEXT,
    details         TEXT,
    labels          TEXT NOT NULL,
    error           TEXT,
    error_kind      TEXT,
    duration_ms     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS instance_state (
    instance TEXT PRIMARY KEY,
    state    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS catalogue_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    v  INTEGER NOT NULL
);
INSERT OR IGNORE INTO catalogue_version (id, v) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS instances_inserted AFTER INSERT ON instances
    BEGIN UPDATE catalogue_version SET v = v + 1; END;
CREATE TRIGGER IF NOT EXISTS instances_updated AFTER UPDATE ON instances
    BEGIN UPDATE catalogue_version SET v = v + 1; END;
CREATE TRIGGER IF NOT EXISTS instances_deleted AFTER DELETE ON instances
    BEGIN UPDATE catalogue_version SET v = v + 1; END;
CREATE TRIGGER IF NOT EXISTS measures_inserted AFTER INSERT ON measures
    BEGIN UPDATE catalogue_version SET v = v + 1; END;
CREATE INDEX IF NOT EXISTS measurements_by_instance_time ON measurements (instance, ts);
CREATE INDEX IF NOT EXISTS measurements_by_time ON measurements (ts);
CREATE INDEX IF NOT EXISTS measurements_by_measure_time ON measurements (measure_id, ts);
"#;

/// The embedded SQLite store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn err(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    Box::new(e)
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v).ok_or(rusqlite::Error::IntegralValueOutOfRange(0, v))
}

fn json_col<T: serde::de::DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn).map_err(|e| format!("{}: {e}", path.display()).into())
    }

    /// A private in-memory database (tests, benchmarks).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
            return Err(
                format!("cannot switch the database to WAL mode (it is in {mode} mode)").into(),
            );
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(format!(
                "the database has schema version {version}, newer than this smm understands ({SCHEMA_VERSION}); upgrade smm"
            )
            .into());
        }
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent
        // (transactions roll back), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn measure_record(row: &Row<'_>) -> rusqlite::Result<MeasureRecord> {
    let metadata: MeasureMetadata = json_col(row, 0)?;
    Ok(MeasureRecord {
        metadata,
        implementation: json_col(row, 1)?,
        registered_at: from_ms(row.get(2)?)?,
    })
}

impl CatalogueStore for SqliteStore {
    fn measure_versions(&self, id: &str) -> Result<Vec<MeasureRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT metadata, implementation, registered_at FROM measures WHERE id = ?1",
        )?;
        let rows = stmt.query_map([id], measure_record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn list_measures(&self) -> Result<Vec<MeasureRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT metadata, implementation, registered_at FROM measures ORDER BY id, registered_at",
        )?;
        let rows = stmt.query_map([], measure_record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn insert_measure(&self, record: &MeasureRecord, wasm: &[u8]) -> Result<bool, StoreError> {
        let sha256 = match &record.implementation {
            Implementation::Wasm { sha256 } => Some(sha256),
            Implementation::Derived { .. } => None,
        };
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if let Some(sha256) = sha256 {
            tx.execute(
                "INSERT OR IGNORE INTO blobs (sha256, bytes) VALUES (?1, ?2)",
                params![sha256, wasm],
            )?;
        }
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO measures (id, version, metadata, implementation, sha256, registered_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                record.metadata.id,
                record.metadata.version.to_string(),
                serde_json::to_string(&record.metadata).map_err(err)?,
                serde_json::to_string(&record.implementation).map_err(err)?,
                sha256,
                ms(record.registered_at),
            ],
        )?;
        tx.commit()?;
        Ok(inserted == 1)
    }

    fn wasm(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.conn();
        Ok(conn
            .query_row("SELECT bytes FROM blobs WHERE sha256 = ?1", [sha256], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn insert_instance(&self, instance: &Instance) -> Result<bool, StoreError> {
        let conn = self.conn();
        let n = conn.execute(
            "INSERT OR IGNORE INTO instances (name, instance) VALUES (?1, ?2)",
            params![instance.name, serde_json::to_string(instance).map_err(err)?],
        )?;
        Ok(n == 1)
    }

    fn instance(&self, name: &str) -> Result<Option<Instance>, StoreError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT instance FROM instances WHERE name = ?1",
                [name],
                |r| json_col(r, 0),
            )
            .optional()?)
    }

    fn update_instance(&self, instance: &Instance) -> Result<bool, StoreError> {
        let conn = self.conn();
        let n = conn.execute(
            "UPDATE instances SET instance = ?2 WHERE name = ?1",
            params![instance.name, serde_json::to_string(instance).map_err(err)?],
        )?;
        Ok(n == 1)
    }

    fn delete_instance(&self, name: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM instances WHERE name = ?1", [name])?;
        tx.execute("DELETE FROM instance_state WHERE instance = ?1", [name])?;
        tx.commit()?;
        Ok(n == 1)
    }

    fn list_instances(&self) -> Result<Vec<Instance>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT instance FROM instances ORDER BY name")?;
        let rows = stmt.query_map([], |r| json_col(r, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn measurement_row(row: &Row<'_>) -> rusqlite::Result<Measurement> {
    let measure_id: String = row.get(2)?;
    let measure_version: String = row.get(3)?;
    let details: Option<String> = row.get(8)?;
    Ok(Measurement {
        seq: Some(row.get(0)?),
        instance: row.get(1)?,
        measure: format!("{measure_id}@{measure_version}"),
        measure_id,
        measure_version,
        timestamp: from_ms(row.get(4)?)?,
        observed_at: row.get::<_, Option<i64>>(5)?.map(from_ms).transpose()?,
        value: row.get(6)?,
        text: row.get(7)?,
        details: details
            .map(|d| serde_json::from_str(&d))
            .transpose()
            .map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    8,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?,
        labels: json_col(row, 9)?,
        error: row.get(10)?,
        error_kind: row.get(11)?,
        duration_ms: row.get(12)?,
    })
}

impl MeasurementStore for SqliteStore {
    fn append(&self, m: &Measurement) -> Result<i64, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "INSERT INTO measurements (instance, measure_id, measure_version, ts, observed_at, value, text, details, labels, error, error_kind, duration_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        stmt.execute(params![
            m.instance,
            m.measure_id,
            m.measure_version,
            ms(m.timestamp),
            m.observed_at.map(ms),
            m.value,
            m.text,
            m.details.as_ref().map(ToString::to_string),
            serde_json::to_string(&m.labels).map_err(err)?,
            m.error,
            m.error_kind,
            m.duration_ms,
        ])?;
        Ok(conn.last_insert_rowid())
    }

    fn query(&self, q: &Query) -> Result<Vec<Measurement>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT * FROM (
                SELECT seq, instance, measure_id, measure_version, ts, observed_at, value, text, details, labels, error, error_kind, duration_ms
                FROM measurements
                WHERE (?1 IS NULL OR instance = ?1) AND (?2 IS NULL OR ts >= ?2)
                ORDER BY ts DESC, seq DESC
                LIMIT ?3
             ) ORDER BY ts, seq",
        )?;
        let limit = q.limit.map_or(-1, |l| l.min(i64::MAX as usize) as i64);
        let rows = stmt.query_map(params![q.instance, q.since.map(ms), limit], measurement_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn latest(&self, sel: &Selector, at: DateTime<Utc>) -> Result<Option<Measurement>, StoreError> {
        let (filter, mut args) = label_filter(sel, 3);
        let sql = format!(
            "SELECT {COLUMNS} FROM measurements
             WHERE measure_id = ?1 AND ts <= ?2 AND error IS NULL{filter}
             ORDER BY ts DESC, seq DESC LIMIT 1"
        );
        args.insert(0, sel.measure_id.clone().into());
        args.insert(1, ms(at).into());
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql)?;
        Ok(stmt
            .query_row(rusqlite::params_from_iter(args), measurement_row)
            .optional()?)
    }

    fn window(
        &self,
        sel: &Selector,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        with_labels: bool,
    ) -> Result<Vec<WindowRow>, StoreError> {
        let (filter, mut args) = label_filter(sel, 4);
        let labels = if with_labels { "labels" } else { "'{}'" };
        let sql = format!(
            "SELECT seq, ts, {labels}, value FROM measurements
             WHERE measure_id = ?1 AND ts > ?2 AND ts <= ?3 AND error IS NULL AND value IS NOT NULL{filter}
             ORDER BY ts, seq"
        );
        args.insert(0, sel.measure_id.clone().into());
        args.insert(1, ms(after).into());
        args.insert(2, ms(until).into());
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
            Ok(WindowRow {
                seq: r.get(0)?,
                timestamp: from_ms(r.get(1)?)?,
                labels: json_col(r, 2)?,
                value: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn aggregate(
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
        let (filter, mut args) = label_filter(sel, 4);
        let sql = format!(
            "SELECT {function}, COUNT(*), MIN(seq), MAX(seq) FROM measurements
             WHERE measure_id = ?1 AND ts > ?2 AND ts <= ?3 AND error IS NULL AND value IS NOT NULL{filter}"
        );
        args.insert(0, sel.measure_id.clone().into());
        args.insert(1, ms(after).into());
        args.insert(2, ms(until).into());
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql)?;
        let aggregate = stmt.query_row(rusqlite::params_from_iter(args), |r| {
            Ok(Aggregate {
                value: r.get::<_, Option<f64>>(0)?,
                count: r.get::<_, i64>(1)? as u64,
                first_seq: r.get(2)?,
                last_seq: r.get(3)?,
            })
        })?;
        Ok(Some(aggregate))
    }

    fn exists_at(
        &self,
        instance: &str,
        at: DateTime<Utc>,
        successful: bool,
    ) -> Result<bool, StoreError> {
        let conn = self.conn();
        Ok(conn
            .prepare_cached(
                "SELECT 1 FROM measurements WHERE instance = ?1 AND ts = ?2 AND (?3 = 0 OR error IS NULL) LIMIT 1",
            )?
            .exists(params![instance, ms(at), successful])?)
    }
}

const COLUMNS: &str = "seq, instance, measure_id, measure_version, ts, observed_at, value, text, details, labels, error, error_kind, duration_ms";

/// ` AND json_extract(labels, '$."k"') = ?n ...` for each selector label,
/// numbered from `first`.
fn label_filter(sel: &Selector, first: usize) -> (String, Vec<rusqlite::types::Value>) {
    let mut sql = String::new();
    let mut args = Vec::new();
    for (i, (k, v)) in sel.labels.iter().enumerate() {
        // The JSON path is a bound parameter, never spliced into the SQL.
        let key = k.replace('\\', "\\\\").replace('"', "\\\"");
        sql.push_str(&format!(
            " AND json_extract(labels, ?{}) = ?{}",
            first + 2 * i,
            first + 2 * i + 1
        ));
        args.push(format!("$.\"{key}\"").into());
        args.push(v.clone().into());
    }
    (sql, args)
}

impl StateStore for SqliteStore {
    fn state(&self, instance: &str) -> Result<Option<InstanceState>, StoreError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT state FROM instance_state WHERE instance = ?1",
                [instance],
                |r| json_col(r, 0),
            )
            .optional()?)
    }

    fn states(&self) -> Result<Vec<InstanceState>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT state FROM instance_state")?;
        let rows = stmt.query_map([], |r| json_col(r, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn save_state(&self, state: &InstanceState) -> Result<(), StoreError> {
        self.save_states(&[state])
    }

    fn save_states(&self, states: &[&InstanceState]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            // Only for instances that still exist: a deleted instance's last
            // run must not resurrect its state.
            let mut stmt = tx.prepare_cached(
                "INSERT INTO instance_state (instance, state)
                 SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM instances WHERE name = ?1)
                 ON CONFLICT (instance) DO UPDATE SET state = excluded.state",
            )?;
            for state in states {
                stmt.execute(params![
                    state.instance,
                    serde_json::to_string(state).map_err(err)?
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn change_marker(&self) -> Result<i64, StoreError> {
        // Bumped by triggers on instances and measures only: measurements
        // appended by other processes do not make the scheduler reload.
        let conn = self.conn();
        Ok(
            conn.query_row("SELECT v FROM catalogue_version WHERE id = 1", [], |r| {
                r.get(0)
            })?,
        )
    }
}
