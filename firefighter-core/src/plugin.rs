//! What integrations get when they build their handlers, providers and tasks.

use std::sync::Arc;

use crate::{Settings, Store};

/// The `build` function of a static registration: builds the plugin, or
/// answers `Ok(None)` when its integration is switched off.
pub type PluginBuilder<T> = fn(&PluginContext) -> crate::Result<Option<Arc<T>>>;

/// Handed to the `build` functions of static registrations.
#[derive(Debug, Clone)]
pub struct PluginContext {
    /// Core settings (integrations read their own section from the environment).
    pub settings: Arc<Settings>,
    /// The store.
    pub store: Arc<dyn Store>,
}
