//! What the scheduler needs from storage: its port, owned here and
//! implemented by the embedded store (so the store depends on the
//! scheduler's types, never the other way round).

use async_trait::async_trait;
use smm_catalogue::{Instance, StoreError};

use super::InstanceState;

#[async_trait]
pub trait SchedulerStore: Send + Sync + 'static {
    /// Every instance, scheduled or not.
    async fn instances(&self) -> Result<Vec<Instance>, StoreError>;
    /// The persisted state of every instance that has one.
    async fn states(&self) -> Result<Vec<InstanceState>, StoreError>;
    /// Save many states at once (one transaction where the backend can);
    /// states of instances deleted meanwhile are dropped.
    async fn save_states(&self, states: Vec<InstanceState>) -> Result<(), StoreError>;
    /// A number that changes whenever instances or measures change (in any
    /// process); measurements do not change it.
    async fn change_marker(&self) -> Result<i64, StoreError>;
}
