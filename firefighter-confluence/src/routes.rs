//! Web page and API of the runbooks.
