//! Message kinds (stored with each message and sent as Slack metadata).

/// The pinned announcement in the incident channel (updated in place).
pub(crate) const DECLARED: &str = "ff_incident_declared";
/// The announcement in `tech_incidents`.
pub(crate) const GENERAL_DECLARED: &str = "ff_general_incident_declared";
/// A status update in the incident channel.
pub(crate) const STATUS_UPDATED: &str = "ff_incident_status_updated";
/// Mitigated / escalated announcements in `tech_incidents`.
pub(crate) const GENERAL_STATUS: &str = "ff_general_incident_status_updated";
/// Who holds which role.
pub(crate) const ROLES: &str = "ff_incident_roles_updated";
/// A DM telling someone they hold a role.
pub(crate) const ROLE_DM: &str = "ff_role_assigned_to_you";
/// The key events form (updated in place).
pub(crate) const KEY_EVENTS: &str = "ff_incident_key_events_form";
/// A post-mortem was created (incident channel).
pub(crate) const PM_CREATED: &str = "ff_incident_postmortem_created";
/// A post-mortem was created (`tech_incidents`).
pub(crate) const PM_ANNOUNCEMENT: &str = "ff_incident_postmortem_created_announcement";
/// What to do for the post-mortem (replaces itself and the next actions).
pub(crate) const PM_REMINDER: &str = "ff_incident_postmortem_reminder";
/// What to do after mitigation when no post-mortem is needed.
pub(crate) const NEXT_ACTIONS: &str = "ff_incident_fixed_next_actions";
/// The post-mortem is due (incident channel).
pub(crate) const PM_REMINDER_5D: &str = "ff_incident_postmortem_reminder_5days";
/// The post-mortem is due (`tech_incidents`).
pub(crate) const PM_REMINDER_5D_ANNOUNCEMENT: &str =
    "ff_incident_postmortem_reminder_5days_announcement";
/// Nobody posted an update for a while.
pub(crate) const UPDATE_REMINDER: &str = "ff_incident_update_reminder";
/// The emergency communication process (P1 in production).
pub(crate) const COM_PROCESS: &str = "ff_incident_com_process";
/// Deployment freeze in `it_deploy` (replaced as the incident moves).
pub(crate) const DEPLOY_WARNING: &str = "ff_deploy_warning";
/// A call for help.
pub(crate) const SOS: &str = "ff_sos";
/// An on-call was paged (timeline entry `trigger_oncall`).
pub(crate) const ONCALL_PAGED: &str = "ff_oncall_paged";
/// The incident started outside office hours: page the on-call? (event `OffHoursHint`).
pub(crate) const ONCALL_HINT: &str = "ff_oncall_hint";
/// A notice an integration asked to post (`IncidentEvent::Notice`).
pub(crate) const INTEGRATION_NOTICE: &str = "ff_integration_notice";
/// A notification sent to a person privately (core's `Notifier`).
pub(crate) const NOTIFICATION_DM: &str = "ff_notification";
/// A notification posted in a tagged conversation (core's `Notifier`).
pub(crate) const NOTIFICATION_TAGGED: &str = "ff_notification_tagged";
