//! Core's tests, in one binary: the application's commands, outbox, tasks
//! and registrations (`app`), and the store suite (`store`), each on SQLite
//! always and on PostgreSQL with the `postgres-tests` feature.

mod app;
mod store;
