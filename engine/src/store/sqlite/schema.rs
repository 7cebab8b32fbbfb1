//! The SQLite schema, its version, and migrations from older versions.
//!
//! Version history:
//! - 1: measurements identified by a dense `seq` only.
//! - 2: every measurement has its stable id (unique) and the measure's
//!   name, unit, SMM kind and scale; `seq` stays as the internal insertion
//!   order and never leaves the store.
//! - 3: the digests of compiled artifacts in the compile cache
//!   (`compiled_artifacts`), so that a swapped entry is never run.
//! - 4: what instance updates replaced (`instance_history`).
//! - 5: the finding lifecycle (`finding_periods`, `finding_scans`).

use std::collections::HashSet;

use rusqlite::{Connection, params};
use smm_catalogue::StoreError;

use super::{Sql, from_ms, store_error};
use crate::measurement::Measurement;

pub const VERSION: i64 = 5;

/// Tables shared by every version (created if missing).
const CATALOGUE: &str = r#"
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
CREATE TABLE IF NOT EXISTS instance_history (
    seq         INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    replaced_at INTEGER NOT NULL,
    instance    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instance_history_name ON instance_history (name, seq);
CREATE TABLE IF NOT EXISTS finding_periods (
    instance    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    opened_at   INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    fixed_at    INTEGER,
    severity    TEXT NOT NULL,
    fixable     INTEGER NOT NULL,
    kev         INTEGER NOT NULL,
    epss        REAL,
    reopened    INTEGER NOT NULL,
    PRIMARY KEY (instance, fingerprint, opened_at)
);
CREATE INDEX IF NOT EXISTS finding_periods_open ON finding_periods (instance, fixed_at);
CREATE TABLE IF NOT EXISTS finding_scans (
    instance TEXT PRIMARY KEY,
    last_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS compiled_artifacts (
    key    TEXT PRIMARY KEY,
    digest TEXT NOT NULL
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
"#;

/// The measurements table as version 2 creates it.
const MEASUREMENTS: &str = r#"
CREATE TABLE IF NOT EXISTS measurements (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL,
    instance        TEXT NOT NULL,
    measure_id      TEXT NOT NULL,
    measure_version TEXT NOT NULL,
    measure_name    TEXT NOT NULL DEFAULT '',
    unit            TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL DEFAULT '',
    scale           TEXT NOT NULL DEFAULT '',
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
"#;

const INDEXES: &str = r#"
CREATE UNIQUE INDEX IF NOT EXISTS measurements_by_id ON measurements (id);
CREATE INDEX IF NOT EXISTS measurements_by_instance_time ON measurements (instance, ts);
CREATE INDEX IF NOT EXISTS measurements_by_time ON measurements (ts);
CREATE INDEX IF NOT EXISTS measurements_by_measure_time ON measurements (measure_id, ts);
"#;

/// Pragmas every connection needs.
pub fn configure(conn: &Connection, file: bool) -> Result<(), StoreError> {
    let sql = |e| store_error(e);
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(sql)?;
    if file {
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(sql)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::permanent(format!(
                "cannot switch the database to WAL mode (it is in {mode} mode)"
            )));
        }
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sql)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(sql)?;
    Ok(())
}

/// Configure `conn`, then create the schema or migrate it to [`VERSION`].
pub fn init(conn: &Connection, file: bool) -> Result<(), StoreError> {
    configure(conn, file)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(store_error)?;
    if version > VERSION {
        return Err(StoreError::permanent(format!(
            "the database has schema version {version}, newer than this smm understands ({VERSION}); upgrade smm"
        )));
    }
    if version == VERSION {
        return Ok(()); // current: no write on open, so opening never waits for a writer
    }
    // One process migrates; another opening at the same moment waits for
    // the write lock, then finds the schema current.
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)
        .map_err(store_error)?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(store_error)?;
    if version == VERSION {
        return tx.commit().map_err(store_error);
    }
    let has_measurements: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'measurements')",
            [],
            |r| r.get(0),
        )
        .map_err(store_error)?;
    tx.execute_batch(CATALOGUE).map_err(store_error)?;
    if has_measurements && version < 2 {
        migrate_to_2(&tx).map_err(|e| {
            store_error(e).context("migrating the measurements to schema version 2")
        })?;
    } else {
        tx.execute_batch(MEASUREMENTS).map_err(store_error)?;
    }
    tx.execute_batch(INDEXES).map_err(store_error)?;
    tx.pragma_update(None, "user_version", VERSION)
        .map_err(store_error)?;
    tx.commit().map_err(store_error)
}

/// Version 1 → 2: add the id and measure description columns and fill them
/// in. Ids are computed exactly as for new measurements; two old rows that
/// would share one (the same instance, millisecond, labels and outcome:
/// only possible with concurrent manual runs) keep both, the later with an
/// id derived from its sequence number, so nothing stored is lost.
fn migrate_to_2(conn: &Connection) -> Sql<()> {
    conn.execute_batch(
        "ALTER TABLE measurements ADD COLUMN id TEXT;
         ALTER TABLE measurements ADD COLUMN measure_name TEXT NOT NULL DEFAULT '';
         ALTER TABLE measurements ADD COLUMN unit TEXT NOT NULL DEFAULT '';
         ALTER TABLE measurements ADD COLUMN kind TEXT NOT NULL DEFAULT '';
         ALTER TABLE measurements ADD COLUMN scale TEXT NOT NULL DEFAULT '';
         UPDATE measurements SET
            measure_name = COALESCE((SELECT json_extract(m.metadata, '$.name') FROM measures m
                WHERE m.id = measurements.measure_id AND m.version = measurements.measure_version), ''),
            unit = COALESCE((SELECT json_extract(m.metadata, '$.unit') FROM measures m
                WHERE m.id = measurements.measure_id AND m.version = measurements.measure_version), ''),
            kind = COALESCE((SELECT COALESCE(json_extract(m.implementation, '$.definition.kind'),
                                             json_extract(m.metadata, '$.kind')) FROM measures m
                WHERE m.id = measurements.measure_id AND m.version = measurements.measure_version), ''),
            scale = COALESCE((SELECT json_extract(m.metadata, '$.scale') FROM measures m
                WHERE m.id = measurements.measure_id AND m.version = measurements.measure_version), '');",
    )?;
    let rows: Vec<(i64, String, i64, String, bool)> = conn
        .prepare(
            "SELECT seq, instance, ts, labels, error IS NOT NULL FROM measurements ORDER BY seq",
        )?
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Sql<_>>()?;
    let mut seen = HashSet::with_capacity(rows.len());
    let mut update = conn.prepare("UPDATE measurements SET id = ?2 WHERE seq = ?1")?;
    for (seq, instance, ts, labels, is_error) in rows {
        let labels = serde_json::from_str(&labels).map_err(super::conversion)?;
        let mut id = Measurement::compute_id(&instance, from_ms(ts)?, &labels, is_error);
        if !seen.insert(id.clone()) {
            id = Measurement::compute_id(
                &format!("{instance}#{seq}"),
                from_ms(ts)?,
                &labels,
                is_error,
            );
            seen.insert(id.clone());
        }
        update.execute(params![seq, id])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The version 1 schema of the measurements table, as smm 0.1 created it.
    const V1: &str = r#"
CREATE TABLE measurements (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, instance TEXT NOT NULL, measure_id TEXT NOT NULL,
    measure_version TEXT NOT NULL, ts INTEGER NOT NULL, observed_at INTEGER, value REAL,
    text TEXT, details TEXT, labels TEXT NOT NULL, error TEXT, error_kind TEXT,
    duration_ms REAL NOT NULL
);
PRAGMA user_version = 1;
"#;

    #[test]
    fn a_version_1_database_is_migrated_without_losing_a_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("smm.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(CATALOGUE).unwrap();
            conn.execute_batch(V1).unwrap();
            conn.execute(
                "INSERT INTO measures VALUES ('m', '1.0.0', ?1, ?2, NULL, 0)",
                params![
                    r#"{"name":"Findings","unit":"findings","kind":"direct","scale":"ratio"}"#,
                    r#"{"type":"derived","definition":{"kind":"ratio"}}"#
                ],
            )
            .unwrap();
            // Two rows that would share an id, and one error.
            for (ts, error) in [(1000, None), (1000, None), (2000, Some("boom"))] {
                conn.execute(
                    "INSERT INTO measurements (instance, measure_id, measure_version, ts, value, labels, error, duration_ms)
                     VALUES ('i', 'm', '1.0.0', ?1, 1.0, '{\"team\":\"a\"}', ?2, 0)",
                    params![ts, error],
                )
                .unwrap();
            }
        }
        let conn = Connection::open(&path).unwrap();
        init(&conn, true).unwrap();
        let rows: Vec<(String, String, String)> = conn
            .prepare("SELECT id, measure_name, kind FROM measurements ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Sql<_>>()
            .unwrap();
        assert_eq!(rows.len(), 3);
        let labels = [("team".to_string(), "a".to_string())].into();
        assert_eq!(
            rows[0].0,
            Measurement::compute_id("i", from_ms(1000).unwrap(), &labels, false)
        );
        assert_ne!(rows[0].0, rows[1].0, "the duplicate kept a distinct id");
        assert_eq!(
            rows[2].0,
            Measurement::compute_id("i", from_ms(2000).unwrap(), &labels, true)
        );
        assert_eq!(
            (rows[0].1.as_str(), rows[0].2.as_str()),
            ("Findings", "ratio")
        );
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, VERSION);
        // Opening again is a no-op.
        init(&conn, true).unwrap();
    }

    #[test]
    fn a_newer_database_is_refused_with_the_reason() {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        let e = init(&conn, false).unwrap_err().to_string();
        assert!(e.contains("newer than this smm understands"), "{e}");
    }
}
