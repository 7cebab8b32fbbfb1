//! The digests of compiled artifacts, recorded for the sandbox's compile
//! cache ([`ArtifactLedger`]): the cache directory does not vouch for
//! itself.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::sandbox::ArtifactLedger;

impl ArtifactLedger for SqliteStore {
    fn recorded(&self, key: &str) -> Option<String> {
        self.write(|conn| {
            conn.prepare_cached("SELECT digest FROM compiled_artifacts WHERE key = ?1")?
                .query_row([key], |r| r.get(0))
                .optional()
        })
        .unwrap_or_else(|e| {
            tracing::warn!("cannot read the compiled artifacts' digests: {e}");
            None
        })
    }

    fn record(&self, key: &str, digest: &str) {
        let recorded = self.write(|conn| {
            conn.prepare_cached(
                "INSERT INTO compiled_artifacts (key, digest) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET digest = excluded.digest",
            )?
            .execute(params![key, digest])
        });
        if let Err(e) = recorded {
            tracing::warn!("cannot record a compiled artifact's digest: {e}");
        }
    }
}
