//! Embedded store: one SQLite database (WAL mode) under `$SMM_HOME`, keeping
//! the catalogue (`catalogue.rs`), the scheduler's state (`state.rs`) and
//! measurements (`measurements.rs`). `schema.rs` creates and migrates it.
//!
//! Invariants:
//! - The schema version is recorded in `PRAGMA user_version`; an older
//!   database is migrated in one transaction on open, a newer one refused.
//! - Every write is a single transaction; appends of measurements that
//!   arrive together share one (`group_commit.rs`), each acknowledged only
//!   once it is committed.
//! - Asynchronous calls (measurements, scheduler state) run on tokio's
//!   blocking pool, never on a worker. A file database has two connections:
//!   one for writes and catalogue reads, one for measurement reads, so a
//!   long window read never holds up appends (WAL lets them overlap). The
//!   second is opened by the first measurement read: a one-shot command
//!   that reads none does not pay for it.
//! - Closing depends on the [`Usage`]: a serving process checkpoints the
//!   log when it closes; a one-shot command leaves it (what is committed is
//!   in it, as after a crash) for the next process to read, and keeps it
//!   under [`ONE_SHOT_LOG_PAGES`] by checkpointing as it commits.

mod artifacts;
mod catalogue;
mod findings;
mod group_commit;
mod measurements;
mod schema;
mod state;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, Row};
use smm_catalogue::StoreError;

/// What the process opening the database does with it, which decides what
/// closing it costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Usage {
    /// Open for long (`smm serve`, tests, benchmarks): SQLite checkpoints
    /// the write-ahead log as it grows and when the store closes.
    #[default]
    Serving,
    /// Open for one command (`smm run`, `smm query`): closing leaves a
    /// short log as it is, for the next process to read back, and
    /// checkpoints (and empties) one longer than [`ONE_SHOT_LOG_BYTES`].
    /// A checkpoint costs two or three fsyncs and recreating the log:
    /// measured here, ~2 ms of a 7 ms `smm run`. Nothing committed depends
    /// on it: commits are in the log (a crash loses none; a power loss may
    /// lose the last ones either way, see `synchronous=NORMAL`).
    OneShot,
}

/// How long a write-ahead log a one-shot command leaves behind (see
/// [`Usage::OneShot`]): the next process to open the database reads it
/// back, about 1.3 µs per 4 KiB page here: 0.1 ms at most; a `smm run`
/// adds two pages or so.
pub const ONE_SHOT_LOG_BYTES: u64 = 256 << 10;

/// The embedded SQLite store. Cloning it is cheap: clones share connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// `path` for messages (`:memory:` for a private in-memory database).
    path: String,
    write: Mutex<Connection>,
    /// A second connection for measurement reads, opened on the first one
    /// (`None` in memory, where a second connection would open another
    /// database).
    read: Option<Mutex<Option<Connection>>>,
    /// The database file (`None` in memory).
    file: Option<std::path::PathBuf>,
    usage: Usage,
    /// Measurement appends waiting for a transaction.
    appends: group_commit::GroupCommit,
}

type Sql<T> = rusqlite::Result<T>;

/// A rusqlite error as a [`StoreError`] of the right kind.
fn store_error(e: rusqlite::Error) -> StoreError {
    let kind = match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => StoreError::retryable,
            ErrorCode::ConstraintViolation => StoreError::conflict,
            _ => StoreError::permanent,
        },
        _ => StoreError::permanent,
    };
    kind("sqlite").with_source(e)
}

/// A value that cannot be converted to or from its column.
fn conversion(e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> Sql<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v).ok_or(rusqlite::Error::IntegralValueOutOfRange(0, v))
}

fn json_col<T: serde::de::DeserializeOwned>(row: &Row<'_>, idx: usize) -> Sql<T> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave SQLite inconsistent
    // (transactions roll back), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SqliteStore {
    /// Open (creating or migrating if needed) the database at `path`, for
    /// a long-running process ([`Usage::Serving`]).
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_for(path, Usage::Serving)
    }

    /// Open (creating or migrating if needed) the database at `path`.
    pub fn open_for(path: &Path, usage: Usage) -> Result<SqliteStore, StoreError> {
        let at = |e: StoreError| e.context(path.display());
        let write = Connection::open(path).map_err(store_error).map_err(at)?;
        schema::init(&write, true).map_err(at)?;
        closing(&write, usage).map_err(at)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.display().to_string(),
                write: Mutex::new(write),
                read: Some(Mutex::new(None)),
                file: Some(path.to_path_buf()),
                usage,
                appends: Default::default(),
            }),
        })
    }

    /// A private in-memory database (tests, benchmarks).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_in_memory().map_err(store_error)?;
        schema::init(&conn, false)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: ":memory:".into(),
                write: Mutex::new(conn),
                read: None,
                file: None,
                usage: Usage::Serving,
                appends: Default::default(),
            }),
        })
    }

    /// Run `f` on the write connection, here (catalogue calls are
    /// synchronous: the catalogue is a plain library).
    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Sql<T>) -> Result<T, StoreError> {
        self.inner.write(f)
    }

    /// Run `f` on the write connection on the blocking pool.
    async fn write_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Sql<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        blocking(move || inner.write(f)).await
    }

    /// Run `f` on the read connection on the blocking pool.
    async fn read_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Sql<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        blocking(move || {
            let context = |e| store_error(e).context(&inner.path);
            let (Some(read), Some(file)) = (&inner.read, &inner.file) else {
                return f(&lock(&inner.write)).map_err(context);
            };
            let mut read = lock(read);
            let conn = match &mut *read {
                Some(conn) => conn,
                empty => {
                    let conn = Connection::open(file).map_err(context)?;
                    schema::configure(&conn, true)
                        .and_then(|()| closing(&conn, inner.usage))
                        .map_err(|e| e.context(&inner.path))?;
                    empty.insert(conn)
                }
            };
            f(conn).map_err(context)
        })
        .await
    }
}

impl Inner {
    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Sql<T>) -> Result<T, StoreError> {
        let mut conn = lock(&self.write);
        f(&mut conn)
            .map_err(store_error)
            .map_err(|e| e.context(&self.path))
    }
}

/// What committing on and closing `conn` do, for `usage` (see [`Usage`]).
/// A one-shot connection does not checkpoint as it commits either: with
/// no later transaction of its own to restart the log from its start, and
/// the next process not knowing what was copied, the log would only grow
/// while every process copied it again.
fn closing(conn: &Connection, usage: Usage) -> Result<(), StoreError> {
    if usage == Usage::OneShot {
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(store_error)?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(store_error)?;
    }
    Ok(())
}

impl Drop for Inner {
    /// A one-shot store leaves the log to the next process, unless it grew
    /// past [`ONE_SHOT_LOG_BYTES`]: then it is copied into the database
    /// and emptied, now.
    fn drop(&mut self) {
        let (Usage::OneShot, Some(file)) = (self.usage, &self.file) else {
            return;
        };
        let mut log = file.clone().into_os_string();
        log.push("-wal");
        let long = std::fs::metadata(&log).is_ok_and(|m| m.len() > ONE_SHOT_LOG_BYTES);
        if long {
            let done =
                lock(&self.write).query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            if let Err(e) = done {
                // Not lost: the log stays, and the next process reads it.
                tracing::debug!(error = %e, "checkpointing the store's log on close");
            }
        }
    }
}

/// Run blocking store work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    crate::blocking::run(f)
        .await
        .map_err(|e| StoreError::permanent(format!("a store task did not finish: {e}")))?
}

#[cfg(test)]
mod one_shot {
    use crate::conformance::{measurement, t};
    use crate::measurement::Query;
    use crate::store::MeasurementStore;

    use super::{ONE_SHOT_LOG_BYTES, SqliteStore, Usage};

    fn log_bytes(db: &std::path::Path) -> u64 {
        std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len())
    }

    async fn stored(db: &std::path::Path) -> usize {
        let store = SqliteStore::open(db).unwrap();
        let all = store
            .query(&Query {
                limit: Some(100_000),
                ..Query::default()
            })
            .await
            .unwrap();
        all.len()
    }

    /// A one-shot command leaves what it committed in the log for the next
    /// process (no checkpoint on close), and nothing is lost; a log that
    /// grew past the bound is copied into the database and emptied.
    #[tokio::test]
    async fn a_one_shot_store_leaves_a_short_log_and_empties_a_long_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("smm.db");
        let store = SqliteStore::open_for(&db, Usage::OneShot).unwrap();
        let one = [measurement("a", "m", t(0), 1.0, &[])];
        store.append(&one).await.unwrap();
        drop(store);
        assert!(log_bytes(&db) > 0, "the short log stays");
        assert_eq!(stored(&db).await, 1);

        let store = SqliteStore::open_for(&db, Usage::OneShot).unwrap();
        let details = serde_json::json!({ "padding": "x".repeat(4000) });
        let many: Vec<_> = (0..200)
            .map(|i| {
                let mut m = measurement("b", "m", t(i), 1.0, &[]);
                m.details = Some(details.clone());
                m
            })
            .collect();
        store.append(&many).await.unwrap();
        assert!(log_bytes(&db) > ONE_SHOT_LOG_BYTES);
        drop(store);
        assert_eq!(log_bytes(&db), 0, "the long log is emptied on close");
        assert_eq!(stored(&db).await, 201);
    }
}

#[cfg(test)]
mod conformance {
    use std::sync::Arc;

    use crate::store::MeasurementStore;

    /// A file database (two connections, WAL), as `smm` opens it.
    async fn file_store() -> Option<Arc<dyn MeasurementStore>> {
        let dir = tempfile::tempdir().unwrap().keep();
        Some(Arc::new(
            super::SqliteStore::open(&dir.join("smm.db")).unwrap(),
        ))
    }

    crate::store_conformance!(file_store());
}
