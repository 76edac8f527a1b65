//! Integration tests of firefighter-slack against a stateful fake Slack.

mod admin;
mod bad_input;
mod client;
mod contract;
mod events;
mod fake_slack;
mod flow;
mod links;
mod modals;
mod notify;
mod oncall;
mod privacy;
mod store;
mod submissions;
mod support;
