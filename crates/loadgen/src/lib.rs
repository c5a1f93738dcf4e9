//! `buoycast-loadgen`: opens many SSE connections on loopback, publishes at a fixed rate, and
//! measures delivery latency, connect time, losses and the server's memory and CPU.
//!
//! Built for thin clients (a bare TCP socket, a hand-written HTTP/1.1 + chunked + SSE reader)
//! so that the generator's own cost per delivery stays small next to the server's, and generic
//! enough to drive buoycast, nginx + nchan and Pushpin with the same events.

pub mod args;
pub mod client;
pub mod http;
pub mod publish;
pub mod report;
pub mod run;
pub mod sse;
pub mod stats;
pub mod tls;
