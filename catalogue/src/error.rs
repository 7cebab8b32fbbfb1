use std::fmt;

use crate::store_error::StoreError;

/// One configuration value that does not fit a schema, located by JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer into the configuration (`""` is the whole document).
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "at {at}: {}", self.message)
    }
}

fn list(items: &[impl fmt::Display]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("invalid measure metadata: {}", list(.0))]
    InvalidMetadata(Vec<String>),
    #[error("invalid configuration schema of measure {measure}: {reason}")]
    InvalidSchema { measure: String, reason: String },
    #[error(
        "measure {id}@{version} is already registered with different content ({existing}); bump the version to register new behaviour"
    )]
    VersionConflict {
        id: String,
        version: String,
        existing: String,
    },
    #[error("invalid derived measure {0}")]
    InvalidDerived(String),
    #[error("derived measure {measure} would create a dependency cycle: {cycle}")]
    Cycle { measure: String, cycle: String },
    #[error("measure {0} is a derived measure: it has no component to run in the sandbox")]
    NotAComponent(String),
    #[error("no measure {0} in the catalogue")]
    UnknownMeasure(String),
    #[error("invalid measure reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("configuration of instance {instance} does not fit measure {measure}: {}", list(.violations))]
    InvalidConfig {
        instance: String,
        measure: String,
        violations: Vec<Violation>,
    },
    #[error("invalid instance {instance}: {reason}")]
    InvalidInstance { instance: String, reason: String },
    #[error("instance {0} already exists")]
    InstanceExists(String),
    #[error("no instance {0}")]
    UnknownInstance(String),
    #[error("catalogue storage: {0}")]
    Store(#[source] StoreError),
}

impl From<StoreError> for CatalogueError {
    fn from(e: StoreError) -> Self {
        CatalogueError::Store(e)
    }
}
