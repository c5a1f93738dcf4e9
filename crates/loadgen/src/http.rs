//! Just enough HTTP/1.1 for a load generator: loopback-only URLs, request building, response
//! heads, and an incremental chunked-transfer decoder.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};

/// An `http://` or `https://` URL whose host is a loopback address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Whether the connection is TLS (`https://`).
    pub tls: bool,
    /// Where to connect.
    pub addr: SocketAddr,
    /// The `Host` header value.
    pub host: String,
    /// Path and query.
    pub path: String,
}

impl Url {
    /// Parses `http://HOST[:PORT]/PATH` or `https://…`; refuses anything but a loopback target.
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let (tls, rest) = match (raw.strip_prefix("https://"), raw.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            (None, None) => bail!("{raw}: only http:// and https:// URLs are supported"),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let addr = loopback_addr(authority, if tls { 443 } else { 80 })?;
        Ok(Self {
            tls,
            addr,
            host: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

/// Parses `HOST[:PORT]` (IPv4, `[IPv6]` or `localhost`) and refuses non-loopback addresses:
/// a load generator must never send traffic anywhere but this machine.
pub fn loopback_addr(authority: &str, default_port: u16) -> anyhow::Result<SocketAddr> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, p) = v6.split_once(']').context("unterminated [IPv6] address")?;
        (h, p.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p
            .parse()
            .with_context(|| format!("bad port in {authority}"))?,
        None => default_port,
    };
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse()
            .with_context(|| format!("{host}: give an IP address (loopback only)"))?
    };
    if !ip.is_loopback() {
        bail!("{ip}: refusing a non-loopback target (only 127.0.0.0/8 and ::1 are allowed)");
    }
    Ok(SocketAddr::new(ip, port))
}

/// Builds a request head (and body) into one buffer, ready for a single write.
pub fn request(method: &str, url: &Url, headers: &[String], body: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.map_or(0, <[u8]>::len));
    out.extend_from_slice(
        format!("{method} {} HTTP/1.1\r\nHost: {}\r\n", url.path, url.host).as_bytes(),
    );
    for h in headers {
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(body) = body {
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
    } else {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// `Content-Length: n`.
    Length(usize),
    /// Until the connection closes.
    Close,
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// How the body is delimited.
    pub framing: Framing,
    /// Bytes the head took, including the blank line.
    pub len: usize,
}

/// Parses a response head from the start of `buf`; `None` while it is incomplete.
pub fn parse_head(buf: &[u8]) -> anyhow::Result<Option<Head>> {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > 64 * 1024 {
            bail!("response head longer than 64 KiB");
        }
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end]).context("response head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let mut framing = Framing::Close;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            framing = Framing::Chunked;
        } else if name.eq_ignore_ascii_case("content-length") && framing != Framing::Chunked {
            framing = Framing::Length(value.parse().context("bad Content-Length")?);
        }
    }
    Ok(Some(Head {
        status,
        framing,
        len: end + 4,
    }))
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Incremental decoder of a chunked body.
#[derive(Debug, Default)]
pub struct Chunked {
    state: ChunkState,
    /// Size digits read so far (a size line may be split across reads).
    size: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading the hexadecimal size.
    #[default]
    Size,
    /// Skipping chunk extensions up to the end of the size line.
    SizeLine,
    /// Reading this many data bytes.
    Data(usize),
    /// Skipping the CRLF after the data.
    DataEnd(u8),
    /// The last chunk was read.
    Done,
}

impl Chunked {
    /// Decodes `input`, passing each run of body bytes to `out`; returns false once the body
    /// has ended (the zero-size chunk).
    pub fn feed(&mut self, mut input: &[u8], mut out: impl FnMut(&[u8])) -> anyhow::Result<bool> {
        while !input.is_empty() {
            match self.state {
                ChunkState::Size => {
                    let b = input[0];
                    input = &input[1..];
                    match b {
                        b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                            let digit = (b as char).to_digit(16).unwrap_or(0) as usize;
                            self.size = self
                                .size
                                .checked_mul(16)
                                .and_then(|s| s.checked_add(digit))
                                .context("chunk size overflow")?;
                        }
                        b'\n' => self.end_size_line(),
                        _ => self.state = ChunkState::SizeLine,
                    }
                }
                ChunkState::SizeLine => match input.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        input = &input[i + 1..];
                        self.end_size_line();
                    }
                    None => input = &[],
                },
                ChunkState::Data(left) => {
                    let n = left.min(input.len());
                    out(&input[..n]);
                    input = &input[n..];
                    self.state = if n == left {
                        ChunkState::DataEnd(2)
                    } else {
                        ChunkState::Data(left - n)
                    };
                }
                ChunkState::DataEnd(left) => {
                    input = &input[1..];
                    self.state = if left <= 1 {
                        ChunkState::Size
                    } else {
                        ChunkState::DataEnd(left - 1)
                    };
                }
                ChunkState::Done => return Ok(false),
            }
        }
        Ok(self.state != ChunkState::Done)
    }

    fn end_size_line(&mut self) {
        self.state = if self.size == 0 {
            ChunkState::Done
        } else {
            ChunkState::Data(self.size)
        };
        self.size = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_loopback() {
        let u = Url::parse("http://127.0.0.1:8080/v1/observations/stream?x=1").unwrap();
        assert_eq!(u.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(u.path, "/v1/observations/stream?x=1");
        assert_eq!(Url::parse("http://localhost").unwrap().addr.port(), 80);
        assert!(Url::parse("http://[::1]:9/").is_ok());
        assert!(Url::parse("http://127.9.9.9:1/").is_ok());
        let tls = Url::parse("https://127.0.0.1/").unwrap();
        assert!(tls.tls && !u.tls);
        assert_eq!(tls.addr.port(), 443);
        for bad in [
            "http://10.0.0.1/",
            "http://8.8.8.8:80/",
            "http://example.com/",
            "https://10.0.0.1/",
            "ftp://127.0.0.1/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn heads_and_framing() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nabc")
            .unwrap()
            .unwrap();
        assert_eq!((h.status, h.framing, h.len), (200, Framing::Chunked, 47));
        let h = parse_head(b"HTTP/1.1 201 Created\r\ncontent-length: 12\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Length(12));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap().is_none());
    }

    #[test]
    fn chunked_bodies_split_anywhere() {
        let wire = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
        for split in 0..wire.len() {
            let mut d = Chunked::default();
            let mut got = Vec::new();
            let a = d
                .feed(&wire[..split], |b| got.extend_from_slice(b))
                .unwrap();
            let b = d
                .feed(&wire[split..], |b| got.extend_from_slice(b))
                .unwrap();
            assert_eq!(got, b"hello, world", "split at {split}");
            let _ = a;
            assert!(!b);
        }
    }
}
