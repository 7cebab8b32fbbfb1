//! DORA delivery metrics shared by the delivery measures (github-deployments,
//! github-lead-time, github-incidents, git-history, devlake-deployments): the
//! GitHub objects they read, DevLake's CSV tables, the rule linking each
//! successful deployment to the previous one of the same environment, what
//! each deployment shipped and the lead time of each change, the incidents
//! each deployment caused, plain statistics and the DORA performance bands.
//!
//! Plain data and algorithms: no I/O, no network, no clock. The measures
//! fetch (under their grants) and hand the objects in; the crate compiles to
//! `wasm32-wasip2` as well as natively.
//!
//! Conventions:
//! - Times are `DateTime<Utc>`; durations are [`chrono::TimeDelta`], and
//!   statistics over them are in hours (`f64`).
//! - A [`Window`] is half-open, `[start, end)`.
//! - Results refer to their inputs by index (into the slices passed in), so
//!   no input is copied or reordered.
//! - The linking follows Apache DevLake's `dora` plugin (see [`linking`]);
//!   where this crate departs from DevLake, the item's documentation says so.

#![warn(missing_docs)]

pub mod bands;
pub mod devlake_csv;
pub mod frequency;
pub mod github;
pub mod incidents;
pub mod lead_time;
pub mod linking;
pub mod project;
pub mod stats;
pub mod testing;
mod window;

pub use bands::{Band, BandError, Metric, Report};
pub use devlake_csv::CsvError;
pub use incidents::{ChangeFailure, Incident};
pub use lead_time::{Change, DeployedRevision, DeploymentChanges, ShippedChange};
pub use linking::DeploymentCommit;
pub use project::ProjectMapping;
pub use window::{Window, hours};
