//! One HTTP request written byte for byte on a fresh connection, and its response as read.

use std::net::SocketAddr;
use std::time::Duration;

/// A response read off a raw connection: the status, the header lines as (lower-case name,
/// raw value bytes), and whatever body arrived.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The values of a header.
    pub fn header(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .collect()
    }
}

/// Sends `request` as written (any method, any header bytes) on a new connection and reads the
/// response head; the body is read to the end unless the response is an event stream, whose
/// connection stays open (then only what came with the head).
pub async fn raw_request(addr: SocketAddr, request: &[u8]) -> RawResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    conn.write_all(request).await.expect("send request");
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout_at(deadline, conn.read(&mut chunk))
            .await
            .expect("response head in time")
            .expect("read");
        assert!(
            n > 0,
            "connection closed before a response head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = &buf[..head_end - 4];
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = String::from_utf8_lossy(lines.next().expect("status line")).into_owned();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    let headers: Vec<(String, Vec<u8>)> = lines
        .filter_map(|l| {
            let colon = l.iter().position(|&b| b == b':')?;
            let name = String::from_utf8_lossy(&l[..colon]).to_ascii_lowercase();
            let value = l[colon + 1..].trim_ascii().to_vec();
            Some((name, value))
        })
        .collect();
    let mut body = buf[head_end..].to_vec();
    let streaming = headers
        .iter()
        .any(|(n, v)| n == "content-type" && v.starts_with(b"text/event-stream"));
    if !streaming {
        let _ = tokio::time::timeout_at(deadline, conn.read_to_end(&mut body)).await;
    }
    RawResponse {
        status,
        headers,
        body,
    }
}
