//! Bridges from the event stream to other software: `buoycast bridge osc` follows a server's
//! stream (resuming by `Last-Event-ID` across reconnections) and sends each observation as OSC.
//!
//! `sse` is the protocol-independent part (a resuming SSE subscription); `osc` the encoding and
//! the UDP side. The schema and examples for audio software are in `docs/AUDIO_CLIENTS.md`.

pub mod osc;
pub mod sse;

pub use osc::{OscBridgeConfig, OscPrefix};
pub use sse::{Delivery, Subscription, SubscriptionConfig};
