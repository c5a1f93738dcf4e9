//! The requests of one hyper-served connection: how many have started, and how many are in
//! flight (from the head to the end, or drop, of the response body). Between requests a
//! keep-alive connection is idle: it waits for a place again ([`super::admission`]) and is
//! closed after the idle timeout.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http_body::Body as HttpBody;
use tokio::sync::watch;

/// Requests of one connection: started so far, and in flight (their responses not yet done).
#[derive(Debug, Default, Clone, Copy)]
pub struct Requests {
    pub started: u64,
    pub in_flight: usize,
}

/// Where a connection's service reports its requests; the connection's task watches the other
/// end.
pub fn channel() -> (Arc<watch::Sender<Requests>>, watch::Receiver<Requests>) {
    let (tx, rx) = watch::channel(Requests::default());
    (Arc::new(tx), rx)
}

/// A request in flight, from its head to the end (or drop) of its response body.
pub struct InFlight(Arc<watch::Sender<Requests>>);

impl InFlight {
    pub fn start(activity: Arc<watch::Sender<Requests>>) -> Self {
        activity.send_modify(|r| {
            r.started += 1;
            r.in_flight += 1;
        });
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .send_modify(|r| r.in_flight = r.in_flight.saturating_sub(1));
    }
}

/// A response body that keeps its request counted as in flight until it is done or dropped.
pub struct Tracked {
    inner: Body,
    _in_flight: InFlight,
}

impl Tracked {
    /// `body`, counted in flight by `guard` until it is done.
    pub fn body(inner: Body, guard: InFlight) -> Body {
        Body::new(Self {
            inner,
            _in_flight: guard,
        })
    }
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        HttpBody::poll_frame(Pin::new(&mut self.get_mut().inner), cx)
    }

    fn is_end_stream(&self) -> bool {
        HttpBody::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        HttpBody::size_hint(&self.inner)
    }
}
