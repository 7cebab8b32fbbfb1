//! Why a collection produced no measurement, in terms a user can act on.

use std::fmt;
use std::time::Duration;

/// A failed collection. Stored as an error measurement: `kind()` in
/// `error_kind`, the `Display` text in `error`.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The deadline passed before `collect` returned.
    Timeout { deadline: Duration },
    /// The plugin tried to grow its memory past the cap.
    MemoryExceeded { limit: u64 },
    /// The plugin exhausted its call stack.
    StackOverflow,
    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access...).
    Trap { message: String, stderr: String },
    /// The plugin returned more than the output cap.
    OutputTooLarge { size: u64, limit: u64 },
    /// The plugin returned something that breaks the contract.
    InvalidOutput(String),
    /// The plugin reported a configuration problem.
    Config(String),
    /// The plugin reported an input problem (missing or malformed report...).
    Input(String),
    /// The plugin reported another failure.
    Plugin(String),
    /// The engine could not run the plugin (instantiation, missing component...).
    Engine(String),
}

impl Failure {
    /// Short, stable category, for filtering and dashboards.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Timeout { .. } => "timeout",
            Failure::MemoryExceeded { .. } => "memory",
            Failure::StackOverflow => "stack-overflow",
            Failure::Trap { .. } => "trap",
            Failure::OutputTooLarge { .. } => "output-too-large",
            Failure::InvalidOutput(_) => "invalid-output",
            Failure::Config(_) => "config",
            Failure::Input(_) => "input",
            Failure::Plugin(_) => "plugin",
            Failure::Engine(_) => "engine",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout { deadline } => write!(
                f,
                "timeout: the plugin did not finish within its {} deadline",
                humantime::format_duration(*deadline)
            ),
            Failure::MemoryExceeded { limit } => write!(
                f,
                "memory: the plugin tried to use more than its {} memory limit",
                bytes(*limit)
            ),
            Failure::StackOverflow => {
                write!(f, "stack overflow: the plugin exhausted its call stack")
            }
            Failure::Trap { message, stderr } if stderr.is_empty() => {
                write!(f, "trap: the plugin crashed: {message}")
            }
            Failure::Trap { message, stderr } => {
                write!(f, "trap: the plugin crashed: {message}; stderr: {stderr}")
            }
            Failure::OutputTooLarge { size, limit } => write!(
                f,
                "output too large: the plugin returned {size} bytes, the limit is {limit}"
            ),
            Failure::InvalidOutput(m) => write!(f, "invalid output: {m}"),
            Failure::Config(m) => write!(f, "configuration: {m}"),
            Failure::Input(m) => write!(f, "input: {m}"),
            Failure::Plugin(m) => write!(f, "plugin error: {m}"),
            Failure::Engine(m) => write!(f, "engine: {m}"),
        }
    }
}

/// `1536` → `1.5 KiB`, `67108864` → `64 MiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Cut a plugin-provided message to `max` bytes (on a char boundary).
pub(crate) fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("… (truncated)");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(bytes(64 << 20), "64 MiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(100), "100 bytes");
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let t = truncate("é".repeat(10), 5);
        assert!(t.starts_with("éé") && t.ends_with("(truncated)"), "{t}");
        assert_eq!(truncate("short".into(), 10), "short");
    }
}
