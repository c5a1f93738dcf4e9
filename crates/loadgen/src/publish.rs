//! Publishing: one keep-alive HTTP/1.1 connection (POST, one request in flight; TLS for
//! `https://`) or Redis
//! `PUBLISH`, with the body template filled in per event.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http::{self, Chunked, Framing, Url};
use crate::tls::{self, Conn, Tls};

/// Longest wait for one publish (request and response).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Fills `{seq}`, `{ts}` (µs since the epoch) and `{iso}` into a template.
pub fn fill(template: &str, seq: u64, ts_us: u64) -> String {
    let mut out = template.replace("{seq}", &seq.to_string());
    out = out.replace("{ts}", &ts_us.to_string());
    if out.contains("{iso}") {
        out = out.replace("{iso}", &iso(ts_us));
    }
    out
}

/// ISO 8601 UTC with milliseconds, from µs since the epoch.
pub fn iso(ts_us: u64) -> String {
    let secs = ts_us / 1_000_000;
    let ms = (ts_us / 1000) % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Where events are published.
#[derive(Debug)]
pub enum Publisher {
    /// HTTP POST on a kept-alive connection.
    Http {
        /// The publish URL.
        url: Url,
        /// Extra headers (authorization, content type).
        headers: Vec<String>,
        /// TLS for an `https://` URL.
        tls: Option<Tls>,
        /// The open connection, if any.
        conn: Option<Conn>,
        /// Read buffer.
        buf: Vec<u8>,
    },
    /// Redis `PUBLISH`.
    Redis {
        /// Redis address.
        addr: SocketAddr,
        /// Channel.
        channel: String,
        /// The open connection, if any.
        conn: Option<TcpStream>,
        /// Read buffer.
        buf: Vec<u8>,
    },
}

impl Publisher {
    /// An HTTP publisher.
    pub fn http(url: Url, headers: Vec<String>, tls: Option<Tls>) -> Self {
        let mut headers = headers;
        if !headers
            .iter()
            .any(|h| h.to_ascii_lowercase().starts_with("content-type:"))
        {
            headers.push("Content-Type: application/json".into());
        }
        Self::Http {
            url,
            headers,
            tls,
            conn: None,
            buf: Vec::with_capacity(8192),
        }
    }

    /// A Redis publisher.
    pub fn redis(addr: SocketAddr, channel: String) -> Self {
        Self::Redis {
            addr,
            channel,
            conn: None,
            buf: Vec::with_capacity(256),
        }
    }

    /// Publishes one body; returns the HTTP status (or 200 for Redis). A broken connection is
    /// reopened once; each attempt is bounded by [`SEND_TIMEOUT`].
    pub async fn send(&mut self, body: &[u8]) -> anyhow::Result<u16> {
        match tokio::time::timeout(SEND_TIMEOUT, self.send_once(body)).await {
            Ok(Ok(status)) => Ok(status),
            _ => {
                self.drop_conn();
                tokio::time::timeout(SEND_TIMEOUT, self.send_once(body))
                    .await
                    .context("publish timed out")?
            }
        }
    }

    fn drop_conn(&mut self) {
        match self {
            Self::Http { conn, .. } => *conn = None,
            Self::Redis { conn, .. } => *conn = None,
        }
    }

    async fn send_once(&mut self, body: &[u8]) -> anyhow::Result<u16> {
        match self {
            Self::Http {
                url,
                headers,
                tls,
                conn,
                buf,
            } => {
                let tcp = match conn {
                    Some(c) => c,
                    None => {
                        let c = TcpStream::connect(url.addr)
                            .await
                            .context("connect to publish URL")?;
                        let _ = c.set_nodelay(true);
                        conn.insert(tls::open(c, url, tls.as_ref()).await?)
                    }
                };
                let request = http::request("POST", url, headers, Some(body));
                tcp.write_all(&request).await.context("send publish")?;
                let status = read_response(tcp, buf).await;
                if status.is_err() {
                    *conn = None;
                }
                status
            }
            Self::Redis {
                addr,
                channel,
                conn,
                buf,
            } => {
                let tcp = match conn {
                    Some(c) => c,
                    None => {
                        let c = TcpStream::connect(*addr)
                            .await
                            .context("connect to Redis")?;
                        let _ = c.set_nodelay(true);
                        conn.insert(c)
                    }
                };
                let mut cmd = format!(
                    "*3\r\n$7\r\nPUBLISH\r\n${}\r\n{channel}\r\n${}\r\n",
                    channel.len(),
                    body.len()
                )
                .into_bytes();
                cmd.extend_from_slice(body);
                cmd.extend_from_slice(b"\r\n");
                tcp.write_all(&cmd).await.context("send PUBLISH")?;
                buf.clear();
                loop {
                    if let Some(end) = http::find(buf, b"\r\n") {
                        if buf.first() == Some(&b'-') {
                            bail!("Redis: {}", String::from_utf8_lossy(&buf[..end]));
                        }
                        return Ok(200);
                    }
                    let mut chunk = [0u8; 256];
                    let n = tcp.read(&mut chunk).await.context("read Redis reply")?;
                    if n == 0 {
                        *conn = None;
                        bail!("Redis closed the connection");
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
            }
        }
    }
}

/// Reads one whole response; returns its status.
async fn read_response(tcp: &mut Conn, buf: &mut Vec<u8>) -> anyhow::Result<u16> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    let head = loop {
        if let Some(head) = http::parse_head(buf)? {
            break head;
        }
        let n = tcp
            .read(&mut chunk)
            .await
            .context("read publish response")?;
        if n == 0 {
            bail!("publish connection closed");
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let mut body = buf.split_off(head.len);
    match head.framing {
        Framing::Length(len) => {
            while body.len() < len {
                let n = tcp.read(&mut chunk).await.context("read publish body")?;
                if n == 0 {
                    bail!("publish connection closed in the body");
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        Framing::Chunked => {
            let mut decoder = Chunked::default();
            let mut open = decoder.feed(&body, |_| {})?;
            while open {
                let n = tcp.read(&mut chunk).await.context("read publish body")?;
                if n == 0 {
                    bail!("publish connection closed in the body");
                }
                open = decoder.feed(&chunk[..n], |_| {})?;
            }
        }
        Framing::Close => bail!("publish response without a length (needs keep-alive)"),
    }
    Ok(head.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_and_times() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_763_208_000_123_456), "2025-11-15T12:00:00.123Z");
        assert_eq!(iso(951_782_400_000_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            fill(
                r#"{"s":"S{seq}T{ts}","t":"{iso}"}"#,
                7,
                1_763_208_000_123_456
            ),
            r#"{"s":"S7T1763208000123456","t":"2025-11-15T12:00:00.123Z"}"#
        );
    }
}
