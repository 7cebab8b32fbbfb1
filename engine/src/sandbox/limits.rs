//! Resource limits of one sandboxed collection.
//!
//! Invariant: every collection runs under a deadline, a memory cap and an
//! output cap; per-instance overrides can lower or raise them but never
//! above the engine's ceilings ([`Limits::MAX`]).

use std::time::Duration;

use smm_catalogue::LimitOverrides;

/// Limits applied to one collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time for instantiation plus `collect`.
    pub deadline: Duration,
    /// Linear memory of the whole component instance (all its memories
    /// together), in bytes.
    pub memory_bytes: u64,
    /// Text value plus details JSON returned by the plugin, in bytes.
    pub output_bytes: u64,
    /// HTTP requests one collection may send (to granted hosts).
    pub http_requests: u64,
    /// Response bytes (headers and bodies) one collection may receive.
    pub http_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_secs(10),
            memory_bytes: 64 << 20,
            output_bytes: 1 << 20,
            http_requests: 200,
            http_bytes: 64 << 20,
        }
    }
}

impl Limits {
    /// Floors no instance can lower a limit below (a Rust component needs
    /// about 1 MiB to start).
    pub const MIN: Limits = Limits {
        deadline: Duration::from_millis(10),
        memory_bytes: 2 << 20,
        output_bytes: 1 << 10,
        http_requests: 1,
        http_bytes: 1 << 10,
    };

    /// Ceilings no instance can raise a limit above.
    pub const MAX: Limits = Limits {
        deadline: Duration::from_secs(600),
        memory_bytes: 1 << 30,
        output_bytes: 16 << 20,
        http_requests: 10_000,
        http_bytes: 1 << 30,
    };

    /// Check overrides against [`Limits::MIN`] and [`Limits::MAX`]; the error
    /// names the offending limit and the allowed range.
    pub fn check_overrides(o: &LimitOverrides) -> Result<(), String> {
        let (min, max) = (Self::MIN, Self::MAX);
        let checks = [
            (
                "deadline",
                o.deadline_ms,
                min.deadline.as_millis() as u64,
                max.deadline.as_millis() as u64,
                "ms",
            ),
            (
                "memory",
                o.memory_bytes,
                min.memory_bytes,
                max.memory_bytes,
                "bytes",
            ),
            (
                "output",
                o.output_bytes,
                min.output_bytes,
                max.output_bytes,
                "bytes",
            ),
            (
                "HTTP requests",
                o.http_requests,
                min.http_requests,
                max.http_requests,
                "requests",
            ),
            (
                "HTTP response",
                o.http_bytes,
                min.http_bytes,
                max.http_bytes,
                "bytes",
            ),
        ];
        for (what, value, lo, hi, unit) in checks {
            if let Some(v) = value
                && !(lo..=hi).contains(&v)
            {
                return Err(format!(
                    "{what} limit {v} {unit} is outside the allowed range {lo}..={hi} {unit}"
                ));
            }
        }
        Ok(())
    }

    /// Apply an instance's overrides to these limits, capped at [`Limits::MAX`].
    pub fn with_overrides(self, o: &LimitOverrides) -> Limits {
        Limits {
            deadline: o
                .deadline_ms
                .map_or(self.deadline, Duration::from_millis)
                .min(Self::MAX.deadline),
            memory_bytes: o
                .memory_bytes
                .unwrap_or(self.memory_bytes)
                .min(Self::MAX.memory_bytes),
            output_bytes: o
                .output_bytes
                .unwrap_or(self.output_bytes)
                .min(Self::MAX.output_bytes),
            http_requests: o
                .http_requests
                .unwrap_or(self.http_requests)
                .min(Self::MAX.http_requests),
            http_bytes: o
                .http_bytes
                .unwrap_or(self.http_bytes)
                .min(Self::MAX.http_bytes),
        }
    }
}

/// Enforces the memory cap (over all linear memories of the store together)
/// and the instance/table/memory counts of one store, and remembers whether
/// the cap was hit (a refused growth traps, but the trap alone does not say
/// why).
pub(crate) struct Limiter {
    memory_bytes: usize,
    memory_in_use: usize,
    pub(crate) memory_exceeded: bool,
}

impl Limiter {
    pub(crate) fn new(memory_bytes: u64) -> Self {
        Limiter {
            memory_bytes: usize::try_from(memory_bytes).unwrap_or(usize::MAX),
            memory_in_use: 0,
            memory_exceeded: false,
        }
    }
}

/// A Rust wasip2 component uses 3 core instances, 1 memory and 2 tables;
/// these leave room for other toolchains without allowing fan-out.
pub(crate) const MAX_CORE_INSTANCES: usize = 16;
pub(crate) const MAX_MEMORIES: usize = 2;
pub(crate) const MAX_TABLES: usize = 8;
/// Elements of one table (a Rust component's tables hold a few hundred).
pub(crate) const MAX_TABLE_ELEMENTS: usize = 100_000;

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self
            .memory_in_use
            .saturating_add(desired.saturating_sub(current));
        if total > self.memory_bytes {
            self.memory_exceeded = true;
            return Err(wasmtime::Error::msg(format!(
                "memory limit of {} bytes exceeded",
                self.memory_bytes
            )));
        }
        self.memory_in_use = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_CORE_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_counts_all_memories_together() {
        use wasmtime::ResourceLimiter;
        let mut l = Limiter::new(10 << 20);
        assert!(l.memory_growing(0, 6 << 20, None).unwrap());
        // A second memory of the same store: 6 + 6 MiB exceeds 10 MiB.
        assert!(l.memory_growing(0, 6 << 20, None).is_err());
        assert!(l.memory_exceeded);
    }

    #[test]
    fn overrides_outside_the_range_are_refused() {
        let too_long = LimitOverrides {
            deadline_ms: Some(3_600_000),
            ..Default::default()
        };
        let err = Limits::check_overrides(&too_long).unwrap_err();
        assert!(err.contains("deadline limit 3600000 ms"), "{err}");
        let tiny = LimitOverrides {
            memory_bytes: Some(1024),
            ..Default::default()
        };
        assert!(
            Limits::check_overrides(&tiny)
                .unwrap_err()
                .contains("memory")
        );
        assert!(Limits::check_overrides(&LimitOverrides::default()).is_ok());
    }

    #[test]
    fn overrides_apply_and_are_capped() {
        let l = Limits::default().with_overrides(&LimitOverrides {
            deadline_ms: Some(250),
            memory_bytes: Some(u64::MAX),
            output_bytes: None,
            http_requests: Some(7),
            http_bytes: Some(u64::MAX),
        });
        assert_eq!(l.deadline, Duration::from_millis(250));
        assert_eq!(l.memory_bytes, Limits::MAX.memory_bytes);
        assert_eq!(l.output_bytes, Limits::default().output_bytes);
        assert_eq!(l.http_requests, 7);
        assert_eq!(l.http_bytes, Limits::MAX.http_bytes);
    }
}
