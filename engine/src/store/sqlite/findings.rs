//! The finding lifecycle in SQLite ([`FindingLedger`]): one row per
//! period of a finding (`finding_periods`), and the time of the last scan
//! tracked per instance (`finding_scans`). A scan writes only what changed:
//! new and reopened periods, fixes, and open findings whose severity or
//! flags changed; an open finding's last sighting is the instance's last
//! scan, a fixed one's is stored at its fix.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use smm_catalogue::StoreError;

use super::{Sql, SqliteStore, from_ms};
use crate::lifecycle::{FindingLedger, Observed, Period, Tracked};

fn period(row: &Row<'_>) -> Sql<Period> {
    let fixed: Option<i64> = row.get(8)?;
    Ok(Period {
        instance: row.get(0)?,
        fingerprint: row.get(1)?,
        severity: row.get(2)?,
        fixable: row.get(3)?,
        kev: row.get(4)?,
        epss: row.get(5)?,
        opened_at: from_ms(row.get(6)?)?,
        last_seen: from_ms(row.get(7)?)?,
        fixed_at: fixed.map(from_ms).transpose()?,
        reopened: row.get(9)?,
        first_seen: from_ms(row.get(10)?)?,
    })
}

impl FindingLedger for SqliteStore {
    fn track(
        &self,
        instance: &str,
        at: DateTime<Utc>,
        findings: &[Observed],
    ) -> Result<Tracked, StoreError> {
        let at = at.timestamp_millis();
        self.write(|conn| {
            let tx = conn.transaction()?;
            let last: Option<i64> = tx
                .query_row(
                    "SELECT last_at FROM finding_scans WHERE instance = ?1",
                    [instance],
                    |r| r.get(0),
                )
                .optional()?;
            if last.is_some_and(|last| at <= last) {
                return Ok(Tracked {
                    ignored: true,
                    ..Tracked::default()
                });
            }
            // Open periods with what they last said: a finding seen again
            // unchanged costs no write (its last sighting is the scan's time,
            // `finding_scans.last_at`).
            type Said = (i64, String, bool, bool, Option<f64>);
            let open: HashMap<String, Said> = tx
                .prepare_cached(
                    "SELECT fingerprint, opened_at, severity, fixable, kev, epss
                     FROM finding_periods WHERE instance = ?1 AND fixed_at IS NULL",
                )?
                .query_map([instance], |r| {
                    Ok((
                        r.get(0)?,
                        (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?),
                    ))
                })?
                .collect::<Sql<_>>()?;
            let mut tracked = Tracked::default();
            let mut seen = HashSet::new();
            {
                let mut update = tx.prepare_cached(
                    "UPDATE finding_periods SET severity = ?4, fixable = ?5, kev = ?6, epss = ?7
                     WHERE instance = ?1 AND fingerprint = ?2 AND opened_at = ?3",
                )?;
                let mut known = tx.prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM finding_periods
                     WHERE instance = ?1 AND fingerprint = ?2)",
                )?;
                let mut insert = tx.prepare_cached(
                    "INSERT INTO finding_periods (instance, fingerprint, opened_at, last_seen,
                         severity, fixable, kev, epss, reopened)
                     VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for f in findings {
                    if !seen.insert(f.fingerprint.as_str()) {
                        continue; // listed twice in one scan
                    }
                    match open.get(&f.fingerprint) {
                        Some((opened, severity, fixable, kev, epss)) => {
                            let same = *severity == f.severity
                                && *fixable == f.fixable
                                && *kev == f.kev
                                && *epss == f.epss;
                            if !same {
                                update.execute(params![
                                    instance,
                                    f.fingerprint,
                                    opened,
                                    f.severity,
                                    f.fixable,
                                    f.kev,
                                    f.epss
                                ])?;
                            }
                        }
                        None => {
                            let before: bool =
                                known.query_row(params![instance, f.fingerprint], |r| r.get(0))?;
                            insert.execute(params![
                                instance,
                                f.fingerprint,
                                at,
                                f.severity,
                                f.fixable,
                                f.kev,
                                f.epss,
                                before
                            ])?;
                            if before {
                                tracked.reopened += 1;
                            } else {
                                tracked.new += 1;
                            }
                        }
                    }
                }
                // Fixed now: last seen at the previous scan.
                let mut fix = tx.prepare_cached(
                    "UPDATE finding_periods SET fixed_at = ?4, last_seen = ?5
                     WHERE instance = ?1 AND fingerprint = ?2 AND opened_at = ?3",
                )?;
                for (fingerprint, (opened, ..)) in &open {
                    if !seen.contains(fingerprint.as_str()) {
                        fix.execute(params![instance, fingerprint, opened, at, last])?;
                        tracked.fixed += 1;
                    }
                }
            }
            tx.execute(
                "INSERT INTO finding_scans (instance, last_at) VALUES (?1, ?2)
                 ON CONFLICT (instance) DO UPDATE SET last_at = excluded.last_at",
                params![instance, at],
            )?;
            tx.commit()?;
            tracked.open = seen.len() as u64;
            Ok(tracked)
        })
    }

    fn periods(&self, instance: Option<&str>, open_only: bool) -> Result<Vec<Period>, StoreError> {
        self.write(|conn| {
            conn.prepare_cached(
                "SELECT p.instance, p.fingerprint, p.severity, p.fixable, p.kev, p.epss,
                        p.opened_at,
                        CASE WHEN p.fixed_at IS NULL THEN s.last_at ELSE p.last_seen END,
                        p.fixed_at, p.reopened,
                        (SELECT MIN(q.opened_at) FROM finding_periods q
                          WHERE q.instance = p.instance AND q.fingerprint = p.fingerprint)
                 FROM finding_periods p JOIN finding_scans s ON s.instance = p.instance
                 WHERE (?1 IS NULL OR p.instance = ?1)
                   AND (NOT ?2 OR p.fixed_at IS NULL)
                 ORDER BY p.opened_at, p.instance, p.fingerprint",
            )?
            .query_map(params![instance, open_only], period)?
            .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(ids: &[&str]) -> Vec<Observed> {
        ids.iter()
            .map(|id| Observed {
                fingerprint: id.to_string(),
                severity: "high".into(),
                fixable: false,
                kev: false,
                epss: None,
            })
            .collect()
    }

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    #[test]
    fn first_seen_fixed_and_reopened_across_scans() {
        let s = SqliteStore::in_memory().unwrap();
        let a = s.track("i", t(1_000), &seen(&["A", "B", "C"])).unwrap();
        assert_eq!((a.new, a.fixed, a.reopened, a.open), (3, 0, 0, 3));
        let b = s.track("i", t(2_000), &seen(&["A", "C", "C"])).unwrap();
        assert_eq!((b.new, b.fixed, b.reopened, b.open), (0, 1, 0, 2));
        let c = s.track("i", t(5_000), &seen(&["B", "D"])).unwrap();
        assert_eq!((c.new, c.fixed, c.reopened, c.open), (1, 2, 1, 2));
        // An older scan changes nothing; another instance is apart.
        assert!(s.track("i", t(4_000), &seen(&[])).unwrap().ignored);
        s.track("j", t(1_500), &seen(&["A"])).unwrap();

        let all = s.periods(Some("i"), false).unwrap();
        let b_periods: Vec<_> = all.iter().filter(|p| p.fingerprint == "B").collect();
        assert_eq!(b_periods.len(), 2);
        assert_eq!(b_periods[0].fixed_at, Some(t(2_000)));
        assert!(!b_periods[0].reopened && b_periods[1].reopened);
        assert_eq!(b_periods[1].first_seen, t(1_000));
        assert_eq!(b_periods[1].opened_at, t(5_000));
        let a_period = all.iter().find(|p| p.fingerprint == "A").unwrap();
        assert_eq!(
            (a_period.last_seen, a_period.fixed_at),
            (t(2_000), Some(t(5_000)))
        );
        let open: Vec<_> = s
            .periods(Some("i"), true)
            .unwrap()
            .into_iter()
            .map(|p| p.fingerprint)
            .collect();
        assert_eq!(open, vec!["B", "D"]);
        assert_eq!(s.periods(None, true).unwrap().len(), 3);
    }
}
