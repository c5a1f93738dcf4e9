//! `RawChunks`: a stream response's chunks, reachable past the body wrappers of the layers, so
//! that the front door's lean stream writer takes them directly while hyper reads the same
//! chunks through the response body.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;

use axum::body::Body;
use bytes::Bytes;
use futures_util::Stream;

/// The chunks of an event stream.
pub type Chunks = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// A response extension holding a stream's chunks, so that the lean path can take them without
/// the body wrappers of the layers; hyper reads the same chunks through the response body.
#[derive(Clone)]
pub struct RawChunks(Arc<Mutex<Option<Chunks>>>);

impl std::fmt::Debug for RawChunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawChunks")
    }
}

impl RawChunks {
    /// The extension and a body reading the same chunks (until the lean path takes them).
    pub fn new(chunks: impl Stream<Item = io::Result<Bytes>> + Send + 'static) -> (Self, Body) {
        let slot: Arc<Mutex<Option<Chunks>>> = Arc::new(Mutex::new(Some(Box::pin(chunks))));
        let reader = slot.clone();
        let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| {
            let mut chunks = reader.lock().unwrap_or_else(PoisonError::into_inner);
            match chunks.as_mut() {
                Some(chunks) => chunks.as_mut().poll_next(cx),
                None => Poll::Ready(None),
            }
        }));
        (Self(slot), body)
    }

    /// Takes the chunks (once).
    pub fn take(&self) -> Option<Chunks> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}
