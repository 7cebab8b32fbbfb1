//! The scheduler's persisted state in SQLite, and the catalogue change
//! marker (bumped by triggers on instances and measures).

use async_trait::async_trait;
use rusqlite::{Connection, params};
use smm_catalogue::{CatalogueStore, Instance, StoreError};

use super::{Sql, SqliteStore, conversion, json_col};
use crate::scheduler::{InstanceState, SchedulerStore};

fn change_marker(conn: &Connection) -> Sql<i64> {
    // Bumped by triggers on instances and measures only: measurements
    // appended by other processes do not make the scheduler reload.
    conn.prepare_cached("SELECT v FROM catalogue_version WHERE id = 1")?
        .query_row([], |r| r.get(0))
}

fn states(conn: &Connection) -> Sql<Vec<InstanceState>> {
    conn.prepare_cached("SELECT state FROM instance_state ORDER BY instance")?
        .query_map([], |r| json_col(r, 0))?
        .collect()
}

impl SqliteStore {
    /// The catalogue change marker, read here (see [`SchedulerStore::change_marker`]).
    pub fn change_marker_now(&self) -> Result<i64, StoreError> {
        self.write(|conn| change_marker(conn))
    }

    /// Every persisted scheduling state, read here.
    pub fn states_now(&self) -> Result<Vec<InstanceState>, StoreError> {
        self.write(|conn| states(conn))
    }

    /// An instance and the change marker in one blocking call, for the run
    /// path: one trip to the blocking pool instead of two.
    pub(crate) async fn instance_and_marker(
        &self,
        name: &str,
    ) -> Result<(Option<Instance>, i64), StoreError> {
        let store = self.clone();
        let name = name.to_string();
        super::blocking(move || {
            let instance = store.instance(&name)?;
            Ok((instance, store.change_marker_now()?))
        })
        .await
    }
}

#[async_trait]
impl SchedulerStore for SqliteStore {
    async fn instances(&self) -> Result<Vec<Instance>, StoreError> {
        let store = self.clone();
        super::blocking(move || store.list_instances()).await
    }

    async fn states(&self) -> Result<Vec<InstanceState>, StoreError> {
        self.write_blocking(|conn| states(conn)).await
    }

    async fn save_states(&self, list: Vec<InstanceState>) -> Result<(), StoreError> {
        if list.is_empty() {
            return Ok(());
        }
        self.write_blocking(move |conn| {
            let tx = conn.transaction()?;
            {
                // Only for instances that still exist: a deleted instance's
                // last run must not resurrect its state.
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO instance_state (instance, state)
                     SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM instances WHERE name = ?1)
                     ON CONFLICT (instance) DO UPDATE SET state = excluded.state",
                )?;
                for state in &list {
                    let json = serde_json::to_string(state).map_err(conversion)?;
                    stmt.execute(params![state.instance, json])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn change_marker(&self) -> Result<i64, StoreError> {
        self.write_blocking(|conn| change_marker(conn)).await
    }
}
