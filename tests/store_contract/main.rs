//! The store contract: every check of `checks.rs` runs against each backend through the public
//! `Store` trait — SQLite in a temporary directory (`sqlite.rs`) and a real PostgreSQL server,
//! a fresh database per test (`postgres.rs`).

mod checks;
mod kinds;
mod postgres;
mod sqlite;
