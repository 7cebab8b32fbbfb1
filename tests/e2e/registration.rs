//! Registration through the `smm` binary: anything that is not a measure
//! component is refused with a clear error, and the catalogue is unchanged.

use smm_tests::{Smm, component};

fn smm() -> Smm {
    Smm::new(env!("CARGO_BIN_EXE_smm"))
}

fn write(smm: &Smm, name: &str, bytes: &[u8]) -> String {
    let path = smm.home.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

/// `wasm` with a custom section appended: a valid component, other bytes.
fn with_custom_section(wasm: &[u8]) -> Vec<u8> {
    let name = b"smm-test";
    let data = b"different bytes, same metadata";
    let mut out = wasm.to_vec();
    out.push(0); // custom section id
    out.push((1 + name.len() + data.len()) as u8); // size (LEB128, < 128)
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(data);
    out
}

fn assert_catalogue_empty(smm: &Smm) {
    let list = smm.ok(&["measure", "list"]);
    assert!(list.contains("no measure registered"), "{list}");
}

#[test]
fn random_bytes_are_not_webassembly() {
    let smm = smm();
    let file = write(
        &smm,
        "random.wasm",
        &[0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3],
    );
    let err = smm.fails(&["measure", "register", &file]);
    assert!(
        err.contains("random.wasm") && err.contains("not a WebAssembly binary"),
        "{err}"
    );
    assert_catalogue_empty(&smm);
}

#[test]
fn a_core_module_is_not_a_component() {
    let smm = smm();
    let module =
        wat::parse_str(r#"(module (func (export "collect") (result i32) i32.const 1))"#).unwrap();
    let file = write(&smm, "core.wasm", &module);
    let err = smm.fails(&["measure", "register", &file]);
    assert!(
        err.contains("core WebAssembly module, not a component"),
        "{err}"
    );
    assert!(err.contains("wasm32-wasip2"), "says how to fix it: {err}");
    assert_catalogue_empty(&smm);
}

#[test]
fn a_component_of_another_world_is_refused() {
    let smm = smm();
    let other = component("other-world-plugin");
    let err = smm.fails(&["measure", "register", other.to_str().unwrap()]);
    assert!(
        err.contains("does not implement the smm:measure/measure world"),
        "{err}"
    );
    assert_catalogue_empty(&smm);
}

#[test]
fn a_truncated_component_is_invalid() {
    let smm = smm();
    let wasm = std::fs::read(component("sarif-findings")).unwrap();
    let file = write(&smm, "truncated.wasm", &wasm[..wasm.len() / 2]);
    let err = smm.fails(&["measure", "register", &file]);
    assert!(err.contains("not a valid WebAssembly component"), "{err}");
    assert_catalogue_empty(&smm);
}

#[test]
fn versions_are_immutable_and_re_registration_is_idempotent() {
    let smm = smm();
    let path = component("sarif-findings");
    let path = path.to_str().unwrap();
    assert!(
        smm.ok(&["measure", "register", path])
            .contains("registered sarif-findings@1.3.0")
    );
    assert!(
        smm.ok(&["measure", "register", path])
            .contains("already registered sarif-findings@1.3.0")
    );
    let changed = write(
        &smm,
        "changed.wasm",
        &with_custom_section(&std::fs::read(path).unwrap()),
    );
    let err = smm.fails(&["measure", "register", &changed]);
    assert!(
        err.contains("sarif-findings@1.3.0 is already registered with different content"),
        "{err}"
    );
    let list = smm.ok(&["measure", "list"]);
    assert_eq!(list.matches("sarif-findings@").count(), 1, "{list}");
}

/// A refused registration left nothing: no measure, no cache entry.
fn assert_nothing_left(smm: &Smm) {
    assert_catalogue_empty(smm);
    let cached = cached(smm);
    assert!(cached.is_empty(), "nothing cached: {cached:?}");
}

/// The compile cache's entries (what registration left on disk).
fn cached(smm: &Smm) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&smm.home.path().join("cache"), &mut out);
    out
}

#[test]
fn an_import_smm_does_not_provide_is_named() {
    let smm = smm();
    // A component importing an interface no host of smm provides.
    let wasm = wat::parse_str(
        r#"(component
            (import "acme:vault/secrets" (instance
                (export "get" (func (param "name" string) (result string))))))"#,
    )
    .unwrap();
    let path = smm.home.path().join("vault.wasm");
    std::fs::write(&path, wasm).unwrap();
    let err = smm.fails(&["measure", "register", path.to_str().unwrap()]);
    assert!(
        err.contains("imports instance `acme:vault/secrets`"),
        "{err}"
    );
    assert!(
        !err.contains("does not implement"),
        "not 'wrong world': {err}"
    );
    assert_nothing_left(&smm);
}

#[test]
fn metadata_that_never_returns_is_refused_promptly() {
    let smm = smm();
    let started = std::time::Instant::now();
    let err = smm.fails(&[
        "measure",
        "register",
        component("metadata-loop-plugin").to_str().unwrap(),
    ]);
    assert!(
        err.contains("metadata()") && err.contains("deadline"),
        "{err}"
    );
    // 2 s deadline; a generous margin for a shared machine.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_nothing_left(&smm);
}

#[test]
fn huge_metadata_is_refused_with_a_short_message() {
    let smm = smm();
    let err = smm.fails(&[
        "measure",
        "register",
        component("metadata-huge-plugin").to_str().unwrap(),
    ]);
    assert!(
        err.len() < 2000,
        "a bounded message, not {} bytes",
        err.len()
    );
    assert!(err.contains("metadata()"), "{err}");
    assert_catalogue_empty(&smm);
}

/// A component whose one function is so large that Cranelift needs
/// hundreds of MiB to compile it (a few MiB of WebAssembly).
fn hungry_to_compile(operations: usize) -> Vec<u8> {
    use std::fmt::Write;
    let locals = 400;
    let mut body = String::with_capacity(operations * 60);
    // Locals start from the parameter (local 0), so nothing folds to a
    // constant either.
    for l in 1..locals {
        let _ = write!(
            body,
            "(local.set {l} (i32.add (local.get 0) (i32.const {l})))"
        );
    }
    for i in 0..operations {
        let _ = write!(
            body,
            "(local.set {} (i32.add (local.get {}) (local.get {})))",
            i % locals,
            (i * 7) % locals,
            (i * 13) % locals
        );
    }
    // Every value feeds the result: nothing is dead code.
    body.push_str("(local.get 0)");
    for l in 1..locals {
        let _ = write!(body, "(local.get {l}) (i32.add)");
    }
    let types = vec!["i32"; locals - 1].join(" ");
    wat::parse_str(format!(
        "(component (core module $m (func (export \"f\") (param i32) (result i32) (local {types}) {body})) (core instance (instantiate $m)))"
    ))
    .expect("valid text format")
}

#[test]
fn a_component_hungry_to_compile_is_refused_and_smm_carries_on() {
    let smm = smm();
    std::fs::write(
        smm.home.path().join("smm.toml"),
        "[sandbox]\ncompile_memory_mib = 96\n",
    )
    .unwrap();
    let path = write(&smm, "hungry.wasm", &hungry_to_compile(300_000));
    let err = smm.fails(&["measure", "register", &path]);
    assert!(
        err.contains("needed more than 96 MiB of memory"),
        "refused for its memory, not for its world: {err}"
    );
    assert_nothing_left(&smm);
    // An ordinary measure compiles within the same bound.
    let out = smm.register("probe-plugin");
    assert!(out.contains("registered"), "{out}");
}
