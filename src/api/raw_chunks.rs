//! `RawChunks`: a stream response's [`LiveStream`], reachable past the body wrappers of the
//! layers, so that the front door's lean stream writer (and its HTTP/2 writer) take the stream
//! itself while hyper reads the same chunks through the response body.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use bytes::Bytes;
use futures_util::Stream;

use crate::hub::stream::LiveStream;

/// The chunks of an event stream.
pub type Chunks = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// A response extension holding a stream, so that the front door can take it without the body
/// wrappers of the layers; hyper reads the same chunks through the response body.
#[derive(Clone)]
pub struct RawChunks(Arc<Mutex<Option<LiveStream>>>);

impl std::fmt::Debug for RawChunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawChunks")
    }
}

/// Where the body's chunks come from: the shared slot until the first poll, then the stream.
enum Source {
    Slot(Arc<Mutex<Option<LiveStream>>>),
    Taken(LiveStream),
}

impl RawChunks {
    /// The extension and a body reading the same stream (unless the front door took it first).
    pub fn new(stream: LiveStream) -> (Self, Body) {
        let slot = Arc::new(Mutex::new(Some(stream)));
        let body = Body::from_stream(futures_util::stream::unfold(
            Source::Slot(slot.clone()),
            |source| async move {
                let mut stream = match source {
                    Source::Taken(stream) => stream,
                    Source::Slot(slot) => {
                        slot.lock().unwrap_or_else(PoisonError::into_inner).take()?
                    }
                };
                let item = stream.next().await?;
                Some((item, Source::Taken(stream)))
            },
        ));
        (Self(slot), body)
    }

    /// Takes the stream (once).
    pub fn take(&self) -> Option<LiveStream> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// A stream as its chunks, for writers that take any stream of bytes.
pub fn chunks(stream: LiveStream) -> Chunks {
    Box::pin(futures_util::stream::unfold(
        stream,
        |mut stream| async move {
            let item = stream.next().await?;
            Some((item, stream))
        },
    ))
}
