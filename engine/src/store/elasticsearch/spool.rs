//! The durable local spool and dead-letter table of the Elasticsearch
//! backend: one SQLite file (`$SMM_HOME/es-spool.db`, `synchronous=FULL`:
//! a spooled measurement survives a power loss).
//!
//! Invariants:
//! - A measurement the backend acknowledged as spooled is in `spool` until
//!   Elasticsearch has it (created, or found already there by id); it is
//!   removed only after that, so a crash between the two re-sends it, and
//!   the deterministic id makes the re-send harmless.
//! - The spool is delivered in the order it was written (`seq`).
//! - A document Elasticsearch refuses for good (a mapping error) goes to
//!   `dead_letters` with the status and reason, never silently dropped;
//!   re-driving puts it back at the end of the spool.
//! - Delivery statistics (`stats`) are persisted, so `smm es status` in
//!   another process sees what `smm serve` did.

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use smm_catalogue::StoreError;

/// A document waiting in the spool.
#[derive(Debug, Clone, PartialEq)]
pub struct Spooled {
    pub seq: i64,
    pub id: String,
    pub doc: Vec<u8>,
}

/// A document Elasticsearch refused for good.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeadLetter {
    pub seq: i64,
    pub id: String,
    pub status: u16,
    pub reason: String,
    pub at: DateTime<Utc>,
    #[serde(skip)]
    pub doc: Vec<u8>,
}

/// What `smm es status` shows.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DeliveryStatus {
    pub backlog: u64,
    pub dead_letters: u64,
    pub delivered_total: u64,
    /// Measurements delivered in the last five minutes, per second.
    pub delivery_rate: f64,
    pub last_delivery: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

#[derive(Clone)]
pub struct Spool {
    /// Spool and dead letters: every commit synced (`synchronous=FULL`).
    conn: Arc<Mutex<Connection>>,
    /// Statistics only, on their own connection without a sync per commit:
    /// recording a delivery must not cost an fsync on the write path.
    stats: Arc<Mutex<Connection>>,
    path: String,
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id  TEXT NOT NULL,
    doc BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    id     TEXT NOT NULL,
    doc    BLOB NOT NULL,
    status INTEGER NOT NULL,
    reason TEXT NOT NULL,
    at     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS stats (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    minute INTEGER PRIMARY KEY,
    count  INTEGER NOT NULL
);
"#;

fn sql(path: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| {
        let busy = matches!(&e, rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked));
        let kind = if busy {
            StoreError::retryable
        } else {
            StoreError::permanent
        };
        kind(format!("spool {path}")).with_source(e)
    }
}

impl Spool {
    pub fn open(path: &Path) -> Result<Spool, StoreError> {
        let name = path.display().to_string();
        let conn = Connection::open(path).map_err(sql(&name))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql(&name))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql(&name))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql(&name))?;
        conn.execute_batch(SCHEMA).map_err(sql(&name))?;
        let stats = Connection::open(path).map_err(sql(&name))?;
        stats
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql(&name))?;
        stats
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql(&name))?;
        Ok(Spool {
            conn: Arc::new(Mutex::new(conn)),
            stats: Arc::new(Mutex::new(stats)),
            path: name,
        })
    }

    fn with_stats<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(sql(&self.path))
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(sql(&self.path))
    }

    /// Run `f` on the blocking pool (the spool is used from async code).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Spool) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let spool = self.clone();
        tokio::task::spawn_blocking(move || f(&spool))
            .await
            .map_err(|e| StoreError::permanent(format!("a spool task did not finish: {e}")))?
    }

    /// Append documents at the end of the spool, durably, in one transaction.
    pub fn push(&self, docs: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached("INSERT INTO spool (id, doc) VALUES (?1, ?2)")?;
                for (id, doc) in docs {
                    stmt.execute(params![id, doc])?;
                }
            }
            tx.commit()
        })
    }

    /// The oldest `n` spooled documents.
    pub fn oldest(&self, n: usize) -> Result<Vec<Spooled>, StoreError> {
        self.with(|conn| {
            conn.prepare_cached("SELECT seq, id, doc FROM spool ORDER BY seq LIMIT ?1")?
                .query_map([n as i64], |r| {
                    Ok(Spooled {
                        seq: r.get(0)?,
                        id: r.get(1)?,
                        doc: r.get(2)?,
                    })
                })?
                .collect()
        })
    }

    /// Remove delivered documents.
    pub fn remove(&self, seqs: &[i64]) -> Result<(), StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached("DELETE FROM spool WHERE seq = ?1")?;
                for seq in seqs {
                    stmt.execute([seq])?;
                }
            }
            tx.commit()
        })
    }

    /// Whether anything waits in the spool (whichever process put it there).
    pub fn any(&self) -> Result<bool, StoreError> {
        self.with(|conn| conn.query_row("SELECT EXISTS (SELECT 1 FROM spool)", [], |r| r.get(0)))
    }

    /// Keep a refused document with the reason (removing it from the spool
    /// when it came from there).
    pub fn dead_letter(
        &self,
        id: &str,
        doc: &[u8],
        status: u16,
        reason: &str,
        from_spool: Option<i64>,
    ) -> Result<(), StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO dead_letters (id, doc, status, reason, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, doc, status, reason, Utc::now().timestamp_millis()],
            )?;
            if let Some(seq) = from_spool {
                tx.execute("DELETE FROM spool WHERE seq = ?1", [seq])?;
            }
            tx.commit()
        })
    }

    pub fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        self.with(|conn| {
            conn.prepare_cached(
                "SELECT seq, id, doc, status, reason, at FROM dead_letters ORDER BY seq LIMIT ?1",
            )?
            .query_map([limit as i64], |r| {
                Ok(DeadLetter {
                    seq: r.get(0)?,
                    id: r.get(1)?,
                    doc: r.get(2)?,
                    status: r.get(3)?,
                    reason: r.get(4)?,
                    at: DateTime::from_timestamp_millis(r.get(5)?).unwrap_or_default(),
                })
            })?
            .collect()
        })
    }

    /// Move dead letters (all, or those with the given ids) back to the end
    /// of the spool; returns how many.
    pub fn redrive(&self, ids: &[String]) -> Result<usize, StoreError> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let moved = if ids.is_empty() {
                let n = tx.execute(
                    "INSERT INTO spool (id, doc) SELECT id, doc FROM dead_letters ORDER BY seq",
                    [],
                )?;
                tx.execute("DELETE FROM dead_letters", [])?;
                n
            } else {
                let mut n = 0;
                for id in ids {
                    n += tx.execute(
                        "INSERT INTO spool (id, doc) SELECT id, doc FROM dead_letters WHERE id = ?1 ORDER BY seq",
                        [id],
                    )?;
                    tx.execute("DELETE FROM dead_letters WHERE id = ?1", [id])?;
                }
                n
            };
            tx.commit()?;
            Ok(moved)
        })
    }

    /// Record `count` delivered measurements now.
    pub fn delivered(&self, count: usize) -> Result<(), StoreError> {
        let now = Utc::now();
        let minute = now.timestamp() / 60;
        self.with_stats(|conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO deliveries (minute, count) VALUES (?1, ?2)
                 ON CONFLICT (minute) DO UPDATE SET count = count + excluded.count",
                params![minute, count as i64],
            )?;
            tx.execute("DELETE FROM deliveries WHERE minute < ?1", [minute - 60])?;
            tx.execute(
                "INSERT INTO stats (key, value) VALUES ('delivered_total', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + CAST(excluded.value AS INTEGER)",
                [count as i64],
            )?;
            tx.execute(
                "INSERT INTO stats (key, value) VALUES ('last_delivery', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [now.timestamp_millis().to_string()],
            )?;
            tx.commit()
        })
    }

    /// Record the last delivery error (its message must hold no secret).
    pub fn failed(&self, message: &str) -> Result<(), StoreError> {
        let now = Utc::now().timestamp_millis().to_string();
        self.with_stats(|conn| {
            let tx = conn.transaction()?;
            for (k, v) in [("last_error", message), ("last_error_at", now.as_str())] {
                tx.execute(
                    "INSERT INTO stats (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [k, v],
                )?;
            }
            tx.commit()
        })
    }

    pub fn status(&self) -> Result<DeliveryStatus, StoreError> {
        self.with(|conn| {
            let stat = |key: &str| -> rusqlite::Result<Option<String>> {
                conn.query_row("SELECT value FROM stats WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()
            };
            let time = |v: Option<String>| {
                v.and_then(|v| v.parse::<i64>().ok())
                    .and_then(DateTime::from_timestamp_millis)
            };
            let minute = Utc::now().timestamp() / 60;
            let recent: i64 = conn.query_row(
                "SELECT COALESCE(SUM(count), 0) FROM deliveries WHERE minute > ?1",
                [minute - 5],
                |r| r.get(0),
            )?;
            Ok(DeliveryStatus {
                backlog: conn.query_row("SELECT COUNT(*) FROM spool", [], |r| r.get::<_, i64>(0))?
                    as u64,
                dead_letters: conn.query_row("SELECT COUNT(*) FROM dead_letters", [], |r| {
                    r.get::<_, i64>(0)
                })? as u64,
                delivered_total: stat("delivered_total")?
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                delivery_rate: recent as f64 / 300.0,
                last_delivery: time(stat("last_delivery")?),
                last_error: stat("last_error")?,
                last_error_at: time(stat("last_error_at")?),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spooled_documents_survive_a_reopen_in_order_and_dead_letters_redrive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("es-spool.db");
        let docs: Vec<(String, Vec<u8>)> = (0..5)
            .map(|i| (format!("id{i}"), format!("{{\"n\":{i}}}").into_bytes()))
            .collect();
        Spool::open(&path).unwrap().push(&docs).unwrap();
        let spool = Spool::open(&path).unwrap(); // as after a crash
        let oldest = spool.oldest(3).unwrap();
        assert_eq!(
            oldest.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["id0", "id1", "id2"]
        );
        spool.remove(&[oldest[0].seq, oldest[1].seq]).unwrap();
        spool
            .dead_letter(
                "id2",
                &oldest[2].doc,
                400,
                "mapper_parsing_exception: bad",
                Some(oldest[2].seq),
            )
            .unwrap();
        let status = spool.status().unwrap();
        assert_eq!((status.backlog, status.dead_letters), (2, 1));
        let dead = spool.dead_letters(10).unwrap();
        assert_eq!((dead[0].id.as_str(), dead[0].status), ("id2", 400));
        assert_eq!(spool.redrive(&[]).unwrap(), 1);
        let ids: Vec<String> = spool
            .oldest(10)
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(
            ids,
            ["id3", "id4", "id2"],
            "re-driven to the end of the spool"
        );
        spool.delivered(7).unwrap();
        spool.failed("connection refused").unwrap();
        let status = spool.status().unwrap();
        assert_eq!(status.delivered_total, 7);
        assert_eq!(status.last_error.as_deref(), Some("connection refused"));
        assert!(status.delivery_rate > 0.0);
    }
}
