//! `junit-tests`: pass rate of a JUnit XML test report.
//!
//! Counted from the `<testcase>` elements (not from the suites' summary
//! attributes, which tools fill in inconsistently). A test case is *skipped*
//! when it has a `<skipped>` child, else *errored* with an `<error>` child,
//! else *failed* with a `<failure>` child, else passed.
//! `executed = cases − skipped`, `passed = executed − failed − errored`,
//! value = `100 × passed / executed`. A report with no executed test case is
//! an error: neither 0 % nor 100 % would be true.

use quick_xml::Reader;
use quick_xml::events::Event;
use serde::Deserialize;
use serde_json::json;
use smm_sdk::{Error, Kind, Measure, Measurement, Metadata, Scale, schemars::JsonSchema};

/// Configuration of `junit-tests`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Path of the JUnit XML report, inside a directory granted to the instance.
    /// Relative paths are taken from the first granted directory.
    #[schemars(length(min = 1), extend("format" = "path"))]
    pub path: String,
}

#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
pub struct Counts {
    pub total: u64,
    pub skipped: u64,
    pub failed: u64,
    pub errored: u64,
}

impl Counts {
    pub fn executed(&self) -> u64 {
        self.total - self.skipped
    }
    pub fn passed(&self) -> u64 {
        self.executed() - self.failed - self.errored
    }
}

#[derive(Default)]
struct Case {
    skipped: bool,
    failed: bool,
    errored: bool,
}

/// Count the test cases of a JUnit XML report.
pub fn count(xml: &[u8]) -> Result<Counts, String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut counts = Counts::default();
    let mut depth = 0usize;
    let mut root_seen = false;
    // Depth of the open <testcase>, and what it holds so far.
    let mut case: Option<(usize, Case)> = None;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("malformed XML at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                let name = e.local_name();
                let name = name.as_ref();
                if !root_seen {
                    root_seen = true;
                    if name != "testsuites" && name != "testsuite" {
                        return Err(format!(
                            "not a JUnit report: the root element is <{name}>, expected <testsuites> or <testsuite>"
                        ));
                    }
                }
                match (&mut case, name) {
                    (None, "testcase") => {
                        if is_empty {
                            counts.total += 1;
                        } else {
                            case = Some((depth, Case::default()));
                        }
                    }
                    (Some((d, c)), child) if *d + 1 == depth => match child {
                        "skipped" => c.skipped = true,
                        "failure" => c.failed = true,
                        "error" => c.errored = true,
                        _ => {}
                    },
                    _ => {}
                }
                if !is_empty {
                    depth += 1;
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if let Some((d, _)) = &case
                    && *d == depth
                {
                    let (_, c) = case.take().expect("checked above");
                    counts.total += 1;
                    if c.skipped {
                        counts.skipped += 1;
                    } else if c.errored {
                        counts.errored += 1;
                    } else if c.failed {
                        counts.failed += 1;
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !root_seen {
        return Err("not a JUnit report: no XML element".into());
    }
    Ok(counts)
}

pub struct JunitTests;

impl Measure for JunitTests {
    type Config = Config;

    fn metadata() -> Metadata {
        Metadata {
            id: "junit-tests",
            version: "1.1.0",
            name: "JUnit test pass rate",
            description: "Pass rate of the executed test cases of a JUnit XML report (surefire, pytest, jest-junit, cargo-nextest...).",
            kind: Kind::Direct,
            unit: "%",
            scale: Scale::Ratio,
            output: "value: 100 * passed / executed; details: {total, executed, passed, failed, errored, skipped}",
        }
    }

    fn collect(config: Config) -> Result<Measurement, Error> {
        let bytes = smm_sdk::read_input(&config.path)?;
        let c = count(&bytes).map_err(|e| Error::input(format!("{}: {e}", config.path)))?;
        if c.executed() == 0 {
            return Err(Error::input(format!(
                "{}: no executed test case ({} in total, {} skipped): a pass rate is undefined",
                config.path, c.total, c.skipped
            )));
        }
        let rate = 100.0 * c.passed() as f64 / c.executed() as f64;
        Ok(Measurement::value(rate).with_details(json!({
            "total": c.total,
            "executed": c.executed(),
            "passed": c.passed(),
            "failed": c.failed,
            "errored": c.errored,
            "skipped": c.skipped,
        })))
    }
}

smm_sdk::export_measure!(JunitTests);

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Option<Vec<u8>> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/fixtures/junit/"
        );
        let read = std::fs::read(format!("{path}{name}"));
        if read.is_err() {
            eprintln!("skipped: ../shared/fixtures/junit/{name} is absent");
        }
        read.ok()
    }

    #[test]
    fn nested_suites_and_each_outcome_are_counted() {
        let xml = br#"<?xml version="1.0"?>
<testsuites tests="99">
  <testsuite name="a">
    <testcase name="ok"/>
    <testcase name="ok2"><system-out>hello <failure/> in text</system-out></testcase>
    <testcase name="f"><failure message="x">trace</failure></testcase>
    <testsuite name="nested">
      <testcase name="e"><error type="E"/></testcase>
      <testcase name="s"><skipped/></testcase>
    </testsuite>
  </testsuite>
</testsuites>"#;
        let c = count(xml).unwrap();
        assert_eq!(
            c,
            Counts {
                total: 5,
                skipped: 1,
                failed: 1,
                errored: 1
            }
        );
        assert_eq!(c.passed(), 2);
    }

    #[test]
    fn surefire_report_counts_match_its_cases() {
        let Some(xml) = fixture("surefire_TEST-StringUtilsTest.xml") else {
            return;
        };
        let c = count(&xml).unwrap();
        // The suite header says tests="5" skipped="1" failures="2" errors="0".
        assert_eq!((c.total, c.skipped, c.failed, c.errored), (5, 1, 2, 0));
    }

    #[test]
    fn wrong_root_and_broken_xml_are_refused() {
        assert!(
            count(b"<html><body/></html>")
                .unwrap_err()
                .contains("<html>")
        );
        assert!(count(b"<testsuite><testcase></testsuite>").is_err());
        assert!(count(b"").unwrap_err().contains("no XML element"));
    }

    #[test]
    fn an_empty_suite_has_no_executed_case() {
        let Some(xml) = fixture("empty_java-junit.xml") else {
            return;
        };
        let c = count(&xml).unwrap();
        assert_eq!(c.executed(), 0);
    }
}
