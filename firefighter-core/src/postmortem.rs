//! Post-mortem backends (Confluence, Jira) tell the lifecycle whether an
//! incident's post-mortem document exists and is ready.

use async_trait::async_trait;

use crate::{Incident, lifecycle::PostMortemState};

/// A post-mortem backend.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait PostMortemProvider: Send + Sync + 'static {
    /// The backend's name (`confluence`, `jira`).
    fn name(&self) -> &str;
    /// The state of the incident's post-mortem document. Errors are reported
    /// as [`PostMortemState::Unknown`], never hidden.
    async fn state(&self, incident: &Incident) -> PostMortemState;
}

/// Combines the states of several backends: every enabled backend must be ready.
pub fn combine(states: Vec<PostMortemState>) -> PostMortemState {
    if states.is_empty() {
        return PostMortemState::NoBackend;
    }
    let mut result = PostMortemState::Ready;
    for state in states {
        let rank = |s: &PostMortemState| match s {
            PostMortemState::Unknown(_) => 4,
            PostMortemState::Missing => 3,
            PostMortemState::NotReady(_) => 2,
            PostMortemState::Ready => 1,
            PostMortemState::NoBackend => 0,
        };
        if rank(&state) > rank(&result) {
            result = state;
        }
    }
    result
}
