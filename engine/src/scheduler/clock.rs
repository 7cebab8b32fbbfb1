//! Wall-clock time for the scheduler, and sleeping until a fire time.
//!
//! Fire times are wall-clock (cron), sleeps are tokio timers. The system
//! clock reads `Utc::now()`; the virtual clock reads tokio's clock from a
//! fixed origin, so tests that pause tokio's time control the scheduler's
//! time entirely.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    /// `origin` at tokio instant `at`, advancing with tokio's clock.
    Virtual {
        origin: DateTime<Utc>,
        at: Instant,
    },
}

impl Clock {
    /// A clock that reads `origin` now and advances with tokio's clock.
    pub fn starting_at(origin: DateTime<Utc>) -> Clock {
        Clock::Virtual {
            origin,
            at: Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Virtual { origin, at } => {
                *origin + chrono::Duration::from_std(at.elapsed()).unwrap_or_default()
            }
        }
    }

    /// Sleep until `t` (forever when `None`).
    pub async fn sleep_until(&self, t: Option<DateTime<Utc>>) {
        match t {
            None => std::future::pending().await,
            Some(t) => {
                let wait = (t - self.now()).to_std().unwrap_or(Duration::ZERO);
                tokio::time::sleep(wait).await
            }
        }
    }
}
