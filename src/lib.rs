//! buoycast: streams live ocean-buoy observations over Server-Sent Events.
//!
//! See `ARCHITECTURE.md` for the map of the modules.

pub mod api;
pub mod app;
pub mod bridge;
pub mod build_info;
pub mod bus;
pub mod cli;
pub mod config;
pub mod domain;
pub mod hub;
pub mod ingest;
pub mod metrics;
pub mod retry;
pub mod server;
pub mod store;
pub mod telemetry;
