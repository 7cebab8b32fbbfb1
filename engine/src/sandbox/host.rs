//! Per-collection host state: the WASI context built from the instance's
//! grants, and the limiter.
//!
//! Invariant: a plugin sees only what this builds: no environment, no
//! arguments, no sockets, no clock beyond WASI's, stdout discarded, stderr
//! kept (bounded) for diagnostics, the granted directories read-only, and
//! HTTP requests to the granted hosts only (through [`Gate`]).

use std::path::PathBuf;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::limits::{Limiter, Limits};
use super::outbound::{Budget, Gate, Network};
use super::stderr::TailPipe;

/// How much of a plugin's stderr is kept (the end of it).
const STDERR_BYTES: usize = 4 << 10;

/// Most random bytes one call may ask the host for (wasmtime's default is
/// 64 MiB, allocated outside the plugin's memory cap).
const MAX_RANDOM_BYTES: u64 = 64 << 10;

/// Resources (open files, streams, pollables) a plugin may hold at once:
/// each open file is a host file descriptor.
const MAX_RESOURCES: usize = 256;

pub(crate) struct Host {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    gate: Gate,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) stderr: TailPipe,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.gate,
        }
    }
}

impl Host {
    /// Each granted directory is visible to the plugin, read-only, at its
    /// own absolute host path, so configured paths mean the same inside
    /// and outside the sandbox.
    pub(crate) fn new(
        grants: &[PathBuf],
        network: Arc<Network>,
        limits: &Limits,
        ends: std::time::Instant,
    ) -> Result<Host, String> {
        let stderr = TailPipe::new(STDERR_BYTES);
        let mut builder = WasiCtxBuilder::new();
        builder
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            // The host allocates random bytes before they reach the
            // plugin's memory (and its cap): keep that allocation small.
            .max_random_size(MAX_RANDOM_BYTES);
        for dir in grants {
            let guest = dir
                .to_str()
                .ok_or_else(|| format!("granted directory {} is not UTF-8", dir.display()))?;
            builder
                .preopened_dir(dir, guest, FsPerms::ReadOnly)
                .map_err(|e| format!("cannot open granted directory {}: {e}", dir.display()))?;
        }
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let budget = Arc::new(Budget::new(limits.http_requests, limits.http_bytes));
        Ok(Host {
            wasi: builder.build(),
            http: WasiHttpCtx::new(),
            gate: Gate::new(network, budget, ends),
            table,
            limiter: Limiter::new(limits.memory_bytes),
            stderr,
        })
    }

    /// The last lines the plugin wrote to stderr, on one line.
    pub(crate) fn stderr_tail(&self) -> String {
        let text = self.stderr.contents();
        let text = text.trim();
        let start = text.len().saturating_sub(512);
        let start = (start..=text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[start..]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}
