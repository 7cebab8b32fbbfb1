//! The catalogue in SQLite: measure versions, component bytes, instances.

use chrono::Utc;
use rusqlite::{OptionalExtension, Row, params};
use smm_catalogue::{
    CatalogueStore, Implementation, Instance, InstanceRevision, MeasureMetadata, MeasureRecord,
    StoreError,
};

use super::{Sql, SqliteStore, conversion, from_ms, json_col, ms};

fn measure_record(row: &Row<'_>) -> Sql<MeasureRecord> {
    let metadata: MeasureMetadata = json_col(row, 0)?;
    Ok(MeasureRecord {
        metadata,
        implementation: json_col(row, 1)?,
        registered_at: from_ms(row.get(2)?)?,
    })
}

fn json<T: serde::Serialize>(value: &T) -> Sql<String> {
    serde_json::to_string(value).map_err(conversion)
}

impl CatalogueStore for SqliteStore {
    fn measure_versions(&self, id: &str) -> Result<Vec<MeasureRecord>, StoreError> {
        self.write(|conn| {
            conn.prepare_cached(
                "SELECT metadata, implementation, registered_at FROM measures WHERE id = ?1",
            )?
            .query_map([id], measure_record)?
            .collect()
        })
    }

    fn list_measures(&self) -> Result<Vec<MeasureRecord>, StoreError> {
        self.write(|conn| {
            conn.prepare_cached(
                "SELECT metadata, implementation, registered_at FROM measures ORDER BY id, registered_at",
            )?
            .query_map([], measure_record)?
            .collect()
        })
    }

    fn insert_measure(&self, record: &MeasureRecord, wasm: &[u8]) -> Result<bool, StoreError> {
        let sha256 = match &record.implementation {
            Implementation::Wasm { sha256 } => Some(sha256),
            Implementation::Derived { .. } => None,
        };
        self.write(|conn| {
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
                    json(&record.metadata)?,
                    json(&record.implementation)?,
                    sha256,
                    ms(record.registered_at),
                ],
            )?;
            tx.commit()?;
            Ok(inserted == 1)
        })
    }

    fn wasm(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.write(|conn| {
            conn.query_row("SELECT bytes FROM blobs WHERE sha256 = ?1", [sha256], |r| {
                r.get(0)
            })
            .optional()
        })
    }

    fn insert_instance(&self, instance: &Instance) -> Result<bool, StoreError> {
        self.write(|conn| {
            let n = conn.execute(
                "INSERT OR IGNORE INTO instances (name, instance) VALUES (?1, ?2)",
                params![instance.name, json(instance)?],
            )?;
            Ok(n == 1)
        })
    }

    fn instance(&self, name: &str) -> Result<Option<Instance>, StoreError> {
        self.write(|conn| {
            conn.prepare_cached("SELECT instance FROM instances WHERE name = ?1")?
                .query_row([name], |r| json_col(r, 0))
                .optional()
        })
    }

    fn update_instance(&self, instance: &Instance) -> Result<bool, StoreError> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            let old: Option<Instance> = tx
                .query_row(
                    "SELECT instance FROM instances WHERE name = ?1",
                    [&instance.name],
                    |r| json_col(r, 0),
                )
                .optional()?;
            let Some(old) = old else {
                return Ok(false);
            };
            // Pausing and resuming are not revisions of the settings.
            let settings_changed = Instance {
                paused: instance.paused,
                ..old.clone()
            } != *instance;
            if settings_changed {
                tx.execute(
                    "INSERT INTO instance_history (name, replaced_at, instance)
                     VALUES (?1, ?2, ?3)",
                    params![instance.name, Utc::now().timestamp_millis(), json(&old)?],
                )?;
            }
            tx.execute(
                "UPDATE instances SET instance = ?2 WHERE name = ?1",
                params![instance.name, json(instance)?],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn instance_history(&self, name: &str) -> Result<Vec<InstanceRevision>, StoreError> {
        self.write(|conn| {
            conn.prepare_cached(
                "SELECT replaced_at, instance FROM instance_history WHERE name = ?1 ORDER BY seq",
            )?
            .query_map([name], |r| {
                Ok(InstanceRevision {
                    replaced_at: from_ms(r.get(0)?)?,
                    instance: json_col(r, 1)?,
                })
            })?
            .collect()
        })
    }

    fn delete_instance(&self, name: &str) -> Result<bool, StoreError> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            let n = tx.execute("DELETE FROM instances WHERE name = ?1", [name])?;
            tx.execute("DELETE FROM instance_state WHERE instance = ?1", [name])?;
            tx.execute("DELETE FROM instance_history WHERE name = ?1", [name])?;
            tx.execute("DELETE FROM finding_periods WHERE instance = ?1", [name])?;
            tx.execute("DELETE FROM finding_scans WHERE instance = ?1", [name])?;
            tx.commit()?;
            Ok(n == 1)
        })
    }

    fn list_instances(&self) -> Result<Vec<Instance>, StoreError> {
        self.write(|conn| {
            conn.prepare_cached("SELECT instance FROM instances ORDER BY name")?
                .query_map([], |r| json_col(r, 0))?
                .collect()
        })
    }
}
