//! Compiling a component to native code, bounded in time and memory.
//!
//! Cranelift's memory grows with the size of a component's functions, and
//! a compilation cannot be interrupted: a hostile component could make the
//! engine allocate gigabytes, or keep a thread busy long after its caller
//! gave up. So the `smm` command compiles in a child process of its own
//! (`smm __compile-component <bytes> <seconds>`): the child caps its data
//! segment (`RLIMIT_DATA`) and CPU time (`RLIMIT_CPU`) and dies with its
//! parent before reading the component, and the parent kills it at the
//! deadline.
//!
//! Invariants:
//! - With [`Isolation`], no compilation runs in the engine's process: an
//!   out-of-memory or a deadline ends the child, never the engine, and the
//!   component is refused with an error that says which bound it crossed.
//! - The child gets the component on stdin and nothing else: no
//!   environment, no arguments but its memory bound. It writes the
//!   artifact on stdout; the parent deserializes it with an engine whose
//!   compilation settings are the same ([`super::engine_config`]), and
//!   wasmtime refuses an artifact compiled with other settings.
//! - Without isolation (library users, unit tests, benchmarks), the
//!   compilation runs on tokio's blocking pool under the same deadline.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use wasmtime::Engine;

use super::InspectError;

/// The hidden subcommand of `smm` that runs the child's side.
pub const CHILD_COMMAND: &str = "__compile-component";

/// Exit code of the child when wasmtime refused the component.
const INVALID: u8 = 2;

/// Where compilations run: in a child process (the `smm` executable,
/// whose `main` hands [`CHILD_COMMAND`] to [`child_main`]).
#[derive(Debug, Clone)]
pub struct Isolation {
    pub exe: PathBuf,
    /// Most bytes of data the child may allocate.
    pub memory_bytes: u64,
}

/// Compile `wasm` in a child process within `deadline`.
pub(crate) async fn in_child(
    isolation: &Isolation,
    wasm: &[u8],
    deadline: Duration,
) -> Result<Vec<u8>, InspectError> {
    let mib = isolation.memory_bytes >> 20;
    let mut child = tokio::process::Command::new(&isolation.exe)
        .arg(CHILD_COMMAND)
        .arg(isolation.memory_bytes.to_string())
        .arg(deadline.as_secs().max(1).to_string())
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            InspectError::Compiler(format!(
                "cannot start the compiler process {}: {e}",
                isolation.exe.display()
            ))
        })?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let run = async {
        // A child that died early closes its stdin: its status says why.
        let _ = stdin.write_all(wasm).await;
        drop(stdin);
        child.wait_with_output().await
    };
    let output = match tokio::time::timeout(deadline, run).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => {
            return Err(InspectError::Compiler(format!(
                "the compiler process failed: {e}"
            )));
        }
        // Dropping `run` drops the child, which kills it.
        Err(_) => {
            return Err(InspectError::Invalid(format!(
                "compiling the component took longer than {deadline:?}"
            )));
        }
    };
    if output.status.success() {
        return Ok(output.stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let message = smm_catalogue::text::shorten(stderr.trim(), 2048);
    // wasmtime refused the component: its words may quote the component,
    // so they are looked at for nothing else.
    if output.status.code() == Some(INVALID.into()) {
        return Err(InspectError::Invalid(message));
    }
    if out_of_memory(&stderr) {
        return Err(InspectError::Invalid(format!(
            "compiling the component needed more than {mib} MiB of memory (the compile memory bound, SMM_COMPILE_MEMORY_MIB)"
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        // Its CPU limit (the deadline) ran out.
        if output.status.signal() == Some(rustix::process::Signal::XCPU.as_raw()) {
            return Err(InspectError::Invalid(format!(
                "compiling the component took longer than {deadline:?} of CPU"
            )));
        }
    }
    Err(InspectError::Compiler(format!(
        "the compiler process ended with {}: {message}",
        output.status
    )))
}

/// Whether the child's last words say an allocation failed: Rust's
/// allocation-failure abort, or an `ENOMEM` from a mapping.
fn out_of_memory(stderr: &str) -> bool {
    stderr.contains("memory allocation of")
        || stderr.contains("os error 12")
        || stderr.contains("Cannot allocate memory")
}

/// The child's side: cap memory and CPU time, die with the parent, read a
/// component on stdin, write its compiled artifact on stdout. Exit 2 when
/// wasmtime refuses it.
pub fn child_main(memory_bytes: &str, cpu_seconds: &str) -> ExitCode {
    let fail = |message: String| {
        eprintln!("{message}");
        ExitCode::FAILURE
    };
    let (Ok(memory_bytes), Ok(cpu_seconds)) =
        (memory_bytes.parse::<u64>(), cpu_seconds.parse::<u64>())
    else {
        return fail(format!(
            "bounds {memory_bytes:?} bytes and {cpu_seconds:?} s are not numbers"
        ));
    };
    if let Err(e) = limit(memory_bytes, cpu_seconds) {
        return fail(format!("cannot bound the compiler: {e}"));
    }
    let mut wasm = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut wasm) {
        return fail(format!("reading the component: {e}"));
    }
    let engine = match Engine::new(&super::engine_config(None)) {
        Ok(engine) => engine,
        Err(e) => return fail(format!("wasmtime engine: {e:#}")),
    };
    match engine.precompile_component(&wasm) {
        Ok(artifact) => match std::io::stdout().lock().write_all(&artifact) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(format!("writing the artifact: {e}")),
        },
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::from(INVALID)
        }
    }
}

/// RLIMIT_DATA (memory), RLIMIT_CPU (the deadline, should the parent be
/// gone), and death with the parent.
#[cfg(target_os = "linux")]
fn limit(bytes: u64, cpu_seconds: u64) -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, Signal, set_parent_process_death_signal, setrlimit};
    let bound = |n: u64, hard: u64| Rlimit {
        current: Some(n),
        maximum: Some(hard),
    };
    setrlimit(Resource::Data, bound(bytes, bytes)).map_err(std::io::Error::from)?;
    setrlimit(Resource::Cpu, bound(cpu_seconds, cpu_seconds + 1)).map_err(std::io::Error::from)?;
    set_parent_process_death_signal(Some(Signal::KILL)).map_err(std::io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn limit(_bytes: u64, _cpu_seconds: u64) -> std::io::Result<()> {
    // Elsewhere the child still bounds the time (the parent kills it) and
    // keeps a failure out of the engine's process; the memory bound is
    // Linux's RLIMIT_DATA.
    Ok(())
}
