//! The error every storage backend returns, typed by what the caller can do
//! about it.
//!
//! Invariant: this module depends on nothing else in the crate, so the
//! catalogue's errors and every port (catalogue, measurements, scheduler
//! state) can use it without import cycles.

use std::fmt;

/// What a caller can do about a [`StoreError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// Transient (busy database, unreachable or overloaded server): the same
    /// call may succeed later.
    Retryable,
    /// The write conflicts with what is stored (a concurrent writer).
    Conflict,
    /// Retrying the same call cannot help (corrupt data, refused document,
    /// misconfiguration).
    Permanent,
}

/// An error of a storage backend: a message naming what failed and where,
/// its kind, and the underlying cause when there is one.
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl StoreError {
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        StoreError {
            kind,
            message: message.into(),
            source: None,
        }
    }
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Retryable, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Conflict, message)
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Permanent, message)
    }
    /// Attach the underlying cause (shown after the message).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }
    /// Prefix the message with where the error happened.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
    pub fn is_retryable(&self) -> bool {
        self.kind == StoreErrorKind::Retryable
    }
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            let cause = source.to_string();
            if !self.message.contains(&cause) {
                write!(f, ": {cause}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_context_and_cause_read_as_one_line() {
        let io = std::io::Error::other("disk full");
        let e = StoreError::retryable("appending 3 measurements")
            .with_source(io)
            .context("sqlite /tmp/smm.db");
        assert_eq!(
            e.to_string(),
            "sqlite /tmp/smm.db: appending 3 measurements: disk full"
        );
        assert!(e.is_retryable());
        assert_eq!(StoreError::conflict("x").kind(), StoreErrorKind::Conflict);
        assert!(!StoreError::permanent("x").is_retryable());
    }
}
