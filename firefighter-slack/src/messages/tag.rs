//! Conversation tags with a meaning.

/// Announcements of incidents.
pub(crate) const TECH_INCIDENTS: &str = "tech_incidents";
/// Deployment freezes.
pub(crate) const IT_DEPLOY: &str = "it_deploy";
/// Where people get help with the bot.
pub(crate) const DEV_FIREFIGHTER: &str = "dev_firefighter";
/// User groups invited to every public P1.
pub(crate) const INVITED_FOR_ALL_PUBLIC_P1: &str = "invited_for_all_public_p1";
