//! Wire types: the only types that mirror Slack's JSON. Web API answers
//! ([`api`], public: the [`crate::SlackApi`] trait speaks it), inbound
//! payloads (`inbound`) and Block Kit builders (`blocks`). They read only the fields firefighter uses and tolerate the rest.

pub mod api;
pub(crate) mod blocks;
pub(crate) mod inbound;
