//! Measure metadata as declared by a plugin, and its validation.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::CatalogueError;
use crate::schema::ConfigSchema;
use crate::text;

/// Measurement scale (OMG SMM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    Nominal,
    Ordinal,
    Interval,
    Ratio,
}

/// SMM kind of a measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MeasureKind {
    Direct,
    Counting,
    Grade,
    Ranking,
}

impl Scale {
    pub fn as_str(self) -> &'static str {
        match self {
            Scale::Nominal => "nominal",
            Scale::Ordinal => "ordinal",
            Scale::Interval => "interval",
            Scale::Ratio => "ratio",
        }
    }
}

impl MeasureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MeasureKind::Direct => "direct",
            MeasureKind::Counting => "counting",
            MeasureKind::Grade => "grade",
            MeasureKind::Ranking => "ranking",
        }
    }
}

/// Metadata exactly as a plugin returned it, before validation.
#[derive(Debug, Clone)]
pub struct RawMetadata {
    pub id: String,
    pub version: String,
    pub name: String,
    pub description: String,
    pub kind: MeasureKind,
    pub unit: String,
    pub scale: Scale,
    pub config_schema: String,
    pub output: String,
}

/// Validated metadata of one measure version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasureMetadata {
    pub id: String,
    pub version: semver::Version,
    pub name: String,
    pub description: String,
    pub kind: MeasureKind,
    pub unit: String,
    pub scale: Scale,
    pub config_schema: Value,
    pub output: String,
}

const MAX_TEXT: usize = 4096;
const MAX_SCHEMA: usize = 64 << 10;

/// `true` for a kebab-case identifier: lowercase ASCII words of letters and
/// digits joined by single hyphens, starting with a letter.
pub fn is_kebab_case(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.split('-').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

impl RawMetadata {
    /// Check every field; all problems are reported at once.
    pub fn validate(self) -> Result<MeasureMetadata, CatalogueError> {
        let mut problems = Vec::new();
        // Echoes of what the plugin sent are bounded and escaped: an id of
        // 40 MiB or with terminal escapes must not reach the user as is.
        let echo = |s: &str| format!("\"{}\"", text::shorten(s, 80));
        if !is_kebab_case(&self.id) {
            problems.push(format!(
                "id {} is not kebab-case (lowercase letters and digits joined by '-', starting with a letter, at most 64 characters)",
                echo(&self.id)
            ));
        }
        let version = if self.version.len() > 256 {
            problems.push(format!("version {} is not semver", echo(&self.version)));
            None
        } else {
            semver::Version::parse(&self.version)
                .map_err(|e| {
                    problems.push(format!(
                        "version {} is not semver: {e}",
                        echo(&self.version)
                    ))
                })
                .ok()
        };
        if version.as_ref().is_some_and(|v| !v.build.is_empty()) {
            problems.push(format!(
                "version {} has build metadata (+...), which semver ignores for ordering; use a plain or pre-release version",
                echo(&self.version)
            ));
        }
        if self.config_schema.len() > MAX_SCHEMA {
            problems.push(format!("config-schema is longer than {MAX_SCHEMA} bytes"));
        }
        for (field, text) in [
            ("name", &self.name),
            ("unit", &self.unit),
            ("description", &self.description),
            ("output", &self.output),
        ] {
            if text.len() > MAX_TEXT {
                problems.push(format!("{field} is longer than {MAX_TEXT} bytes"));
            } else if let Some(c) = text::first_forbidden(text, field == "description") {
                problems.push(format!(
                    "{field} holds the control or bidirectional formatting character U+{:04X}, which could change what a terminal shows",
                    c as u32
                ));
            }
        }
        if self.name.trim().is_empty() {
            problems.push("name is empty".into());
        }
        let schema = match serde_json::from_str::<Value>(&self.config_schema) {
            Ok(v) => Some(v),
            Err(e) => {
                problems.push(format!("config-schema is not JSON: {e}"));
                None
            }
        };
        let (Some(version), Some(schema), true) = (version, schema, problems.is_empty()) else {
            return Err(CatalogueError::InvalidMetadata(problems));
        };
        ConfigSchema::compile(&schema).map_err(|reason| CatalogueError::InvalidSchema {
            measure: format!("{}@{}", self.id, version),
            reason,
        })?;
        Ok(MeasureMetadata {
            id: self.id,
            version,
            name: self.name,
            description: self.description,
            kind: self.kind,
            unit: self.unit,
            scale: self.scale,
            config_schema: schema,
            output: self.output,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawMetadata {
        RawMetadata {
            id: "sarif-findings".into(),
            version: "1.2.0".into(),
            name: "SARIF findings".into(),
            description: "d".into(),
            kind: MeasureKind::Counting,
            unit: "findings".into(),
            scale: Scale::Ratio,
            config_schema: r#"{"type":"object","properties":{"path":{"type":"string"}}}"#.into(),
            output: "o".into(),
        }
    }

    #[test]
    fn valid_metadata_passes() {
        let m = raw().validate().unwrap();
        assert_eq!(m.version, semver::Version::new(1, 2, 0));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut r = raw();
        r.id = "Sarif_Findings".into();
        r.version = "one".into();
        r.name = " ".into();
        r.config_schema = format!("{{\"description\": \"{}\"}}", "x".repeat(70_000));
        let err = r.validate().unwrap_err().to_string();
        assert!(err.contains("config-schema is longer"), "{err}");
        assert!(err.contains("kebab-case"), "{err}");
        assert!(err.contains("semver"), "{err}");
        assert!(err.contains("name is empty"), "{err}");
    }

    #[test]
    fn a_schema_that_is_not_a_json_schema_is_refused() {
        let mut r = raw();
        r.config_schema = r#"{"type":"nonsense"}"#.into();
        let err = r.validate().unwrap_err().to_string();
        assert!(err.contains("invalid configuration schema"), "{err}");
        let mut r = raw();
        r.config_schema = "{not json".into();
        assert!(r.validate().unwrap_err().to_string().contains("not JSON"));
    }

    #[test]
    fn terminal_escapes_are_refused_and_huge_fields_are_not_echoed() {
        let mut r = raw();
        r.name = "Findings\u{1b}[2J".into();
        r.unit = "\u{202e}sgnidnif".into();
        r.description = "two lines\nare fine\there".into();
        let err = r.validate().unwrap_err().to_string();
        assert!(
            err.contains("name holds the control") && err.contains("U+001B"),
            "{err}"
        );
        assert!(
            err.contains("unit holds") && err.contains("U+202E"),
            "{err}"
        );
        assert!(!err.contains("description"), "{err}");
        assert!(!err.chars().any(crate::text::is_forbidden), "{err}");
        let mut r = raw();
        r.id = "X".repeat(40 << 20);
        r.version = "v".repeat(1 << 20);
        let err = r.validate().unwrap_err().to_string();
        assert!(
            err.len() < 1000,
            "a bounded message, not {} bytes",
            err.len()
        );
        assert!(err.contains(&format!("({} bytes)", 40 << 20)), "{err}");
    }

    #[test]
    fn build_metadata_is_refused() {
        let mut r = raw();
        r.version = "1.0.0+build.5".into();
        assert!(
            r.validate()
                .unwrap_err()
                .to_string()
                .contains("build metadata")
        );
    }

    #[test]
    fn kebab_case_rules() {
        assert!(is_kebab_case("dora-lead-time2"));
        for bad in ["", "-a", "a-", "a--b", "A", "1a", "a_b", "a b"] {
            assert!(!is_kebab_case(bad), "{bad:?}");
        }
    }
}
