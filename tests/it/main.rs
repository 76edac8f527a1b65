//! Black-box tests of the facade, in one binary: each test starts the whole
//! server on a random port with a fresh SQLite database (`support`) and
//! drives it over HTTP — as an API client and from the command line
//! (`server`), or as a browser (`web`).

mod server;
mod support;
mod web;
