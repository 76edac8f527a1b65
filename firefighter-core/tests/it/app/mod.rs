//! Black-box tests of the application: commands, the outbox, tasks and
//! invitations, on SQLite always and on PostgreSQL with `postgres-tests`.

mod support;

mod commands;
mod custom_fields;
mod liveness;
mod oncall;
mod outbox;
mod postmortems;
mod registry;
mod requests;
mod tasks;

#[cfg(feature = "postgres-tests")]
mod postgres;
