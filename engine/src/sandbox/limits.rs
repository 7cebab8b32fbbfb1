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
    /// Linear memory of the whole component instance, in bytes.
    pub memory_bytes: u64,
    /// Text value plus details JSON returned by the plugin, in bytes.
    pub output_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_secs(10),
            memory_bytes: 64 << 20,
            output_bytes: 1 << 20,
        }
    }
}

impl Limits {
    /// Ceilings no instance can raise a limit above.
    pub const MAX: Limits = Limits {
        deadline: Duration::from_secs(600),
        memory_bytes: 1 << 30,
        output_bytes: 16 << 20,
    };

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
        }
    }
}

/// Enforces the memory cap and the instance/table/memory counts of one
/// store, and remembers whether the cap was hit (a refused growth traps, but
/// the trap alone does not say why).
pub(crate) struct Limiter {
    memory_bytes: usize,
    pub(crate) memory_exceeded: bool,
}

impl Limiter {
    pub(crate) fn new(memory_bytes: u64) -> Self {
        Limiter {
            memory_bytes: usize::try_from(memory_bytes).unwrap_or(usize::MAX),
            memory_exceeded: false,
        }
    }
}

/// A Rust wasip2 component uses 3 core instances, 1 memory and 2 tables;
/// these leave room for other toolchains without allowing fan-out.
pub(crate) const MAX_CORE_INSTANCES: usize = 16;
pub(crate) const MAX_MEMORIES: usize = 2;
pub(crate) const MAX_TABLES: usize = 8;
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_exceeded = true;
            return Err(wasmtime::Error::msg(format!(
                "memory limit of {} bytes exceeded",
                self.memory_bytes
            )));
        }
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
    fn overrides_apply_and_are_capped() {
        let l = Limits::default().with_overrides(&LimitOverrides {
            deadline_ms: Some(250),
            memory_bytes: Some(u64::MAX),
            output_bytes: None,
        });
        assert_eq!(l.deadline, Duration::from_millis(250));
        assert_eq!(l.memory_bytes, Limits::MAX.memory_bytes);
        assert_eq!(l.output_bytes, Limits::default().output_bytes);
    }
}
