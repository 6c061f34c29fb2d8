//! One deadline shared by every wait of an operation: keyring calls and the vault lock.

use std::time::{Duration, Instant};

/// The moment an operation gives up waiting, and the budget it started with (for messages).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Instant,
    budget: Duration,
}

impl Deadline {
    pub(crate) fn after(budget: Duration) -> Self {
        Self {
            at: Instant::now() + budget,
            budget,
        }
    }

    /// Time left, zero once expired.
    pub(crate) fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub(crate) fn budget(&self) -> Duration {
        self.budget
    }
}
