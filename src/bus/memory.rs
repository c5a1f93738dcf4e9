//! The in-process bus of embedded mode: a tokio broadcast channel.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{Bus, BusError, BusEvent, BusMessage, Subscription};

/// Messages a subscriber may fall behind by before it is told of a gap.
const CAPACITY: usize = 4096;

/// In-process implementation of [`Bus`]; lossless unless a subscriber lags by [`CAPACITY`].
#[derive(Debug, Clone)]
pub struct MemoryBus {
    sender: broadcast::Sender<Arc<BusMessage>>,
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

impl MemoryBus {
    /// A bus with no subscriber yet.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, message: &BusMessage) -> Result<(), BusError> {
        // No subscriber is not an error: nobody is listening, the store has the data.
        let _ = self.sender.send(Arc::new(message.clone()));
        Ok(())
    }

    async fn subscribe(&self) -> Result<Subscription, BusError> {
        let receiver = self.sender.subscribe();
        Ok(Box::pin(futures_util::stream::unfold(
            receiver,
            |mut rx| async move {
                let event = match rx.recv().await {
                    Ok(message) => BusEvent::Message(Box::new(Arc::unwrap_or_clone(message))),
                    Err(broadcast::error::RecvError::Lagged(_)) => BusEvent::Gap,
                    Err(broadcast::error::RecvError::Closed) => return None,
                };
                Some((event, rx))
            },
        )))
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}
