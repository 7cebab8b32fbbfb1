//! deploy/ checked offline (no Docker engine on these machines): the
//! compose file validates against the Compose Specification and resolves
//! with docker-compose, its shell snippets and scripts parse
//! (`deploy/check.sh`, whose tools CI installs; skipped, saying so, where
//! they are absent). The saved objects of deploy/kibana/ are checked line
//! by line in `smm_tests::kibana`.

use std::process::Command;

use smm_tests::workspace;

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_compose_stack_validates_offline() {
    let missing: Vec<&str> = ["check-jsonschema", "docker-compose", "python3"]
        .into_iter()
        .filter(|t| !have(t))
        .collect();
    if !missing.is_empty() {
        eprintln!("skipped: deploy/check.sh needs {missing:?} (see deploy/README.md)");
        return;
    }
    let out = Command::new("bash")
        .arg(workspace().join("deploy/check.sh"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "deploy/check.sh failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
}
