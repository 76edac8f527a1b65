//! Black-box tests of the whole server: each test starts it on a random port
//! with a fresh SQLite database and drives it over HTTP.

mod api;
mod auth;
mod bad_input;
mod bad_writes;
mod cache;
mod cli;
mod compat;
mod embed;
mod faults;
mod formats;
mod http;
mod integrations;
#[cfg(feature = "jira")]
mod jira;
mod list_queries;
mod openapi;
mod postmortem;
mod reference;
mod support;
