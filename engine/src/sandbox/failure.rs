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
                "memory: the plugin tried to use more than its {} MiB memory limit",
                limit / (1 << 20)
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
