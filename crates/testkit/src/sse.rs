//! A minimal SSE client for tests (text/event-stream framing per the HTML spec) over reqwest.
//! It keeps the `retry:` of a block that dispatches no event too (a stream opens with one).

use std::time::Duration;

use futures_util::StreamExt;

/// One SSE event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The `id:` field, if any.
    pub id: Option<i64>,
    /// The `event:` field (`message` when absent).
    pub event: String,
    /// The `data:` lines joined with newlines.
    pub data: String,
}

impl SseEvent {
    /// The data parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).expect("event data is JSON")
    }
}

/// A stream response being read event by event.
pub struct SseClient {
    /// HTTP status of the response.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The HTTP version the response came in.
    pub version: reqwest::Version,
    /// The last `retry:` value seen.
    pub retry: Option<u64>,
    body: Option<futures_util::stream::BoxStream<'static, Result<bytes::Bytes, String>>>,
    /// Why the body ended, if it failed (a reset stream, an aborted connection).
    pub error: Option<String>,
    /// Bytes read and not yet parsed: kept as bytes, so that a character split across two
    /// chunks is decoded whole.
    buf: Vec<u8>,
    /// The body of a non-200 response.
    pub body_text: String,
}

impl std::fmt::Debug for SseClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseClient")
            .field("status", &self.status)
            .field("version", &self.version)
            .field("retry", &self.retry)
            .field("error", &self.error)
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl SseClient {
    /// Opens a stream (a non-200 answer is kept with its body; connection errors panic).
    pub async fn connect(client: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Self {
        Self::try_connect(client, url, headers)
            .await
            .expect("stream request")
    }

    /// Opens a stream; `Err` when the server cannot be reached.
    pub async fn try_connect(
        client: &reqwest::Client,
        url: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Result<Self> {
        let mut request = client.get(url).timeout(Duration::from_secs(3600));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let version = response.version();
        if status != 200 {
            let body_text = response.text().await.unwrap_or_default();
            return Ok(Self {
                status,
                headers,
                version,
                retry: None,
                body: None,
                error: None,
                buf: Vec::new(),
                body_text,
            });
        }
        Ok(Self {
            status,
            headers,
            version,
            retry: None,
            body: Some(
                response
                    .bytes_stream()
                    .map(|r| r.map_err(|e| e.to_string()))
                    .boxed(),
            ),
            error: None,
            buf: Vec::new(),
            body_text: String::new(),
        })
    }

    /// A stream already answered (`body`: its bytes, or why it failed).
    pub fn from_body(
        status: u16,
        headers: reqwest::header::HeaderMap,
        version: reqwest::Version,
        body: futures_util::stream::BoxStream<'static, Result<bytes::Bytes, String>>,
    ) -> Self {
        Self {
            status,
            headers,
            version,
            retry: None,
            body: Some(body),
            error: None,
            buf: Vec::new(),
            body_text: String::new(),
        }
    }

    /// The next complete event, or `None` on end of stream or after `wait`.
    pub async fn next_event(&mut self, wait: Duration) -> Option<SseEvent> {
        tokio::time::timeout(wait, self.read_event())
            .await
            .ok()
            .flatten()
    }

    /// The next event of the given type, skipping others (heartbeats, ...).
    pub async fn next_of(&mut self, kind: &str, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next_event(left).await?;
            if event.event == kind {
                return Some(event);
            }
        }
    }

    /// Reads `n` observation events (ignoring others); panics if they do not come in time.
    pub async fn observations(&mut self, n: usize, wait: Duration) -> Vec<SseEvent> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match self.next_of("observation", wait).await {
                Some(e) => out.push(e),
                None => panic!(
                    "expected {n} observations, got {} before timeout or end",
                    out.len()
                ),
            }
        }
        out
    }

    /// The next event; `None` at the end of the stream (or on a read error).
    pub async fn read_event(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(event) = self.parse_one() {
                return Some(event);
            }
            let chunk = match self.body.as_mut()?.next().await? {
                Ok(chunk) => chunk,
                Err(e) => {
                    self.error = Some(e);
                    return None;
                }
            };
            self.buf.extend_from_slice(&chunk);
        }
    }

    /// Takes one dispatched event off the buffer (a block ending in a blank line).
    fn parse_one(&mut self) -> Option<SseEvent> {
        loop {
            let end = self.buf.windows(2).position(|w| w == b"\n\n")?;
            let block: Vec<u8> = self.buf.drain(..end + 2).collect();
            let block = String::from_utf8(block).expect("an event is UTF-8");
            let (mut id, mut event, mut data) = (None, String::from("message"), Vec::new());
            for line in block.lines() {
                let (field, value) = line
                    .split_once(':')
                    .map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
                match field {
                    "id" => id = Some(value.parse().expect("numeric id")),
                    "event" => event = value.to_owned(),
                    "data" => data.push(value.to_owned()),
                    "retry" => self.retry = value.parse().ok(),
                    _ => {}
                }
            }
            if !data.is_empty() {
                return Some(SseEvent {
                    id,
                    event,
                    data: data.join("\n"),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_character_split_across_chunks_is_decoded_whole() {
        let text = "id: 7\nevent: note\ndata: {\"name\":\"Île d'Ouessant\"}\n\n";
        let bytes = text.as_bytes();
        let split = text.find('Î').expect("the character") + 1; // inside its two bytes
        let chunks: Vec<Result<bytes::Bytes, String>> = vec![
            Ok(bytes::Bytes::copy_from_slice(&bytes[..split])),
            Ok(bytes::Bytes::copy_from_slice(&bytes[split..])),
        ];
        let mut client = SseClient::from_body(
            200,
            reqwest::header::HeaderMap::new(),
            reqwest::Version::HTTP_11,
            futures_util::stream::iter(chunks).boxed(),
        );
        let event = client.read_event().await.expect("one event");
        assert_eq!(event.id, Some(7));
        assert_eq!(event.json()["name"], "Île d'Ouessant");
        assert!(client.read_event().await.is_none());
    }
}
