//! Black-box tests of the web UI and the back-office: each test starts the
//! whole server on a random port with a fresh SQLite database and drives it
//! over HTTP like a browser (cookies, CSRF tokens, form posts).

mod backoffice;
mod browser;
mod forms;
mod pages;
mod privacy;
mod support;
