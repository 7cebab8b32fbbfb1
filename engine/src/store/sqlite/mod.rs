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
//!   long window read never holds up appends (WAL lets them overlap).

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
use rusqlite::{Connection, ErrorCode, Row};
use smm_catalogue::StoreError;

/// The embedded SQLite store. Cloning it is cheap: clones share connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// `path` for messages (`:memory:` for a private in-memory database).
    path: String,
    write: Mutex<Connection>,
    /// A second connection for measurement reads (`None` in memory, where
    /// a second connection would open another database).
    read: Option<Mutex<Connection>>,
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

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock cannot leave SQLite inconsistent
    // (transactions roll back), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SqliteStore {
    /// Open (creating or migrating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let at = |e: StoreError| e.context(path.display());
        let write = Connection::open(path).map_err(store_error).map_err(at)?;
        schema::init(&write, true).map_err(at)?;
        let read = Connection::open(path).map_err(store_error).map_err(at)?;
        schema::configure(&read, true).map_err(at)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.display().to_string(),
                write: Mutex::new(write),
                read: Some(Mutex::new(read)),
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
            let conn = lock(inner.read.as_ref().unwrap_or(&inner.write));
            f(&conn)
                .map_err(store_error)
                .map_err(|e| e.context(&inner.path))
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

/// Run blocking store work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::permanent(format!("a store task did not finish: {e}")))?
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
