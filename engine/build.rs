//! Links the `smm` binary at a fixed address (not position-independent)
//! on Linux.
//!
//! A position-independent `smm` spends about 2 ms of every start applying
//! ~93 000 relocations, one write fault on each of the ~480 pages of
//! `.data.rel.ro` (wasmtime, cranelift and TLS tables): as much as the rest
//! of a one-shot `smm run`. Linked at a fixed address those pages are
//! final in the file and mapped on demand. What is given up is the
//! randomised address of the executable's own code; shared libraries, the
//! heap, stacks, compiled measures and their linear memories stay
//! randomised (see ARCHITECTURE.md, "Process start"). `SMM_PIE=1` at build
//! time keeps the position-independent link.
fn main() {
    println!("cargo:rerun-if-env-changed=SMM_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let pie = std::env::var("SMM_PIE").is_ok_and(|v| v == "1");
    if linux && !pie {
        println!("cargo:rustc-link-arg-bin=smm=-no-pie");
    }
}
