//! The ids Slack sends back to us: action ids of buttons and pickers,
//! callback ids of modals, block ids of the on-call form. A leaf: it
//! imports nothing of the crate, so views, messages and the flows that
//! read them depend on it, not on each other.

/// Action ids of our buttons and pickers.
pub(crate) mod action {
    /// Opens the creation wizard.
    pub(crate) const OPEN: &str = "open_incident";
    /// Opens the update menu of an incident (value: incident number).
    pub(crate) const UPDATE: &str = "update_incident";
    /// Opens the status modal (value: incident number).
    pub(crate) const UPDATE_STATUS: &str = "update_status";
    /// Opens the roles modal (value: incident number).
    pub(crate) const UPDATE_ROLES: &str = "update_roles";
    /// Opens the downgrade modal (value: incident number).
    pub(crate) const DOWNGRADE: &str = "downgrade_incident";
    /// Pushes the status modal on the current one.
    pub(crate) const PUSH_UPDATE_STATUS: &str = "push_update_status";
    /// Pushes the roles modal.
    pub(crate) const PUSH_UPDATE_ROLES: &str = "push_update_roles";
    /// Pushes the edit modal.
    pub(crate) const PUSH_EDIT: &str = "push_edit";
    /// Key event pickers: `key_event_<event type>`.
    pub(crate) const KEY_EVENT_PREFIX: &str = "key_event_";
    /// URL buttons (acknowledged only).
    pub(crate) const OPEN_LINK: &str = "open_link";
    /// Opens the on-call modal (value: incident number), as `/incident oncall` does.
    pub(crate) const ONCALL: &str = "open_oncall";
    /// Creates the incident's post-mortem now (value: incident number).
    pub(crate) const CREATE_POSTMORTEM: &str = "create_postmortem";
}

/// Callback ids of our modals.
pub(crate) mod callback {
    /// The creation wizard.
    pub(crate) const OPEN: &str = "incident_open";
    /// The update menu.
    pub(crate) const UPDATE: &str = "incident_update";
    /// Update status, priority, category.
    pub(crate) const UPDATE_STATUS: &str = "incident_update_status";
    /// Update roles.
    pub(crate) const UPDATE_ROLES: &str = "incident_update_roles";
    /// Edit title, description, environments.
    pub(crate) const EDIT: &str = "incident_edit";
    /// Close.
    pub(crate) const CLOSE: &str = "incident_close";
    /// Close early with a reason.
    pub(crate) const CLOSURE_REASON: &str = "incident_closure_reason";
    /// Read-only recap.
    pub(crate) const STATUS: &str = "incident_status";
    /// Ask for help.
    pub(crate) const SOS: &str = "incident_send_sos";
    /// Turn into a regular incident.
    pub(crate) const DOWNGRADE: &str = "incident_downgrade";
    /// Post-mortem recap.
    pub(crate) const POSTMORTEM: &str = "incident_postmortem";
    /// Choose the incident first.
    pub(crate) const SELECT: &str = "incident_select";
    /// Page the on-call (also `/incident oncall`).
    pub const ONCALL: &str = "incident_oncall_trigger";
    /// A message (errors, confirmations).
    pub(crate) const NOTICE: &str = "incident_notice";
}

/// Block (and action) ids of the on-call modal.
pub(crate) mod oncall_block {
    /// The service to page (static select; value: the vendor's service id).
    pub(crate) const SERVICE: &str = "service";
    /// What is going on (the title the on-call receives).
    pub(crate) const SUMMARY: &str = "summary";
    /// Details (optional).
    pub(crate) const DETAILS: &str = "details";
}
