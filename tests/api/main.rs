//! Integration tests: the whole service, started in-process on port 0, driven over real sockets.

mod adversarial;
mod assets;
mod auth;
mod ingest;
mod kinds;
mod ndbc_kinds;
mod publish;
mod replay_kinds;
mod request_id;
mod rest;
mod stream;
mod tls;
