//! An incremental Server-Sent Events decoder and the extraction of an event's sequence number
//! and send time from its `data` (or its `id`).

/// One dispatched event, borrowed from the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The last event id seen on the stream (SSE semantics: it persists across events).
    pub id: &'a [u8],
    /// The event type (`message` when the frame names none).
    pub kind: &'a [u8],
    /// The data lines joined by `\n`.
    pub data: &'a [u8],
}

/// Decodes a byte stream into events (lines may be split anywhere across reads).
#[derive(Debug, Default)]
pub struct Decoder {
    /// A line not yet terminated.
    partial: Vec<u8>,
    id: Vec<u8>,
    /// The id as of the last dispatch (a blank line): what a reconnection sends as
    /// `Last-Event-ID`, so that a stream cut between an `id:` line and its blank line resumes
    /// before that event, not after it.
    dispatched_id: Vec<u8>,
    kind: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
}

impl Decoder {
    /// The last event id as of the last complete event (empty when none was seen).
    pub fn last_id(&self) -> &[u8] {
        &self.dispatched_id
    }

    /// Feeds bytes; calls `on_event` for every complete event.
    pub fn feed(&mut self, mut input: &[u8], on_event: &mut impl FnMut(Event<'_>)) {
        while let Some(nl) = input.iter().position(|&b| b == b'\n') {
            if self.partial.is_empty() {
                self.line(&input[..nl], on_event);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&input[..nl]);
                self.line(&line, on_event);
                line.clear();
                self.partial = line;
            }
            input = &input[nl + 1..];
        }
        self.partial.extend_from_slice(input);
    }

    fn line(&mut self, line: &[u8], on_event: &mut impl FnMut(Event<'_>)) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            self.dispatched_id.clone_from(&self.id);
            if self.has_data || !self.kind.is_empty() {
                on_event(Event {
                    id: &self.id,
                    kind: if self.kind.is_empty() {
                        b"message"
                    } else {
                        &self.kind
                    },
                    data: &self.data,
                });
            }
            self.kind.clear();
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            return; // comment
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => {
                self.kind.clear();
                self.kind.extend_from_slice(value);
            }
            b"id" => {
                self.id.clear();
                self.id.extend_from_slice(value);
            }
            _ => {}
        }
    }
}

/// Where an event's sequence number or send time is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// The SSE `id` (its first run of digits).
    Id,
    /// A top-level JSON field of the data: the value's first run of digits is the sequence
    /// number, its last run the send time (so `"S12T1763200000000000"` carries both).
    Field(Vec<u8>),
}

impl Key {
    /// `@id` for the SSE id, else a JSON field name.
    pub fn parse(raw: &str) -> Self {
        if raw == "@id" {
            Self::Id
        } else {
            Self::Field(format!("\"{raw}\":").into_bytes())
        }
    }

    /// The raw value this key points at in `event`.
    fn value<'a>(&self, event: &Event<'a>) -> Option<&'a [u8]> {
        match self {
            Self::Id => Some(event.id),
            Self::Field(pattern) => {
                let at = find(event.data, pattern)? + pattern.len();
                let rest = &event.data[at..];
                let rest = rest.strip_prefix(b" ").unwrap_or(rest);
                let (rest, end) = match rest.strip_prefix(b"\"") {
                    Some(r) => (r, r.iter().position(|&b| b == b'"')),
                    None => (
                        rest,
                        rest.iter().position(|&b| matches!(b, b',' | b'}' | b' ')),
                    ),
                };
                Some(&rest[..end.unwrap_or(rest.len())])
            }
        }
    }

    /// The first run of digits of the value.
    pub fn first_number(&self, event: &Event<'_>) -> Option<u64> {
        let v = self.value(event)?;
        let start = v.iter().position(u8::is_ascii_digit)?;
        digits(&v[start..])
    }

    /// The last run of digits of the value.
    pub fn last_number(&self, event: &Event<'_>) -> Option<u64> {
        let v = self.value(event)?;
        let end = v.iter().rposition(u8::is_ascii_digit)? + 1;
        let start = v[..end]
            .iter()
            .rposition(|b| !b.is_ascii_digit())
            .map_or(0, |i| i + 1);
        digits(&v[start..end])
    }
}

fn digits(v: &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    let mut any = false;
    for &b in v {
        if !b.is_ascii_digit() {
            break;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        any = true;
    }
    any.then_some(n)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    crate::http::find(hay, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(chunks: &[&[u8]]) -> Vec<(String, String, String)> {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c, &mut |e: Event<'_>| {
                out.push((
                    String::from_utf8_lossy(e.id).into_owned(),
                    String::from_utf8_lossy(e.kind).into_owned(),
                    String::from_utf8_lossy(e.data).into_owned(),
                ));
            });
        }
        out
    }

    #[test]
    fn decodes_events_split_anywhere() {
        let wire: &[u8] = b"retry: 2000\n\nevent: connection\ndata: {}\n\n: hi\nid: 7\nevent: observation\ndata: {\"a\":1}\r\n\r\ndata: x\ndata: y\n\n";
        let whole = collect(&[wire]);
        assert_eq!(
            whole,
            vec![
                ("".into(), "connection".into(), "{}".into()),
                ("7".into(), "observation".into(), "{\"a\":1}".into()),
                ("7".into(), "message".into(), "x\ny".into()),
            ]
        );
        for split in 0..wire.len() {
            assert_eq!(
                collect(&[&wire[..split], &wire[split..]]),
                whole,
                "split at {split}"
            );
        }
    }

    #[test]
    fn the_id_to_resume_from_is_that_of_the_last_complete_event() {
        let mut d = Decoder::default();
        d.feed(b"id: 7\ndata: a\n\nid: 8\ndata: b\n", &mut |_| {});
        // Cut here, event 8 is not complete: a reconnection must ask for what follows 7.
        assert_eq!(d.last_id(), b"7");
        d.feed(b"\n", &mut |_| {});
        assert_eq!(d.last_id(), b"8");
    }

    #[test]
    fn keys_read_sequence_and_time() {
        let data = br#"{"stationId":"S42T1763200000123456","timestamp":"x","seq": 9,"ts":17}"#;
        let e = Event {
            id: b"1763:5",
            kind: b"message",
            data,
        };
        let station = Key::parse("stationId");
        assert_eq!(station.first_number(&e), Some(42));
        assert_eq!(station.last_number(&e), Some(1_763_200_000_123_456));
        assert_eq!(Key::parse("seq").first_number(&e), Some(9));
        assert_eq!(Key::parse("ts").last_number(&e), Some(17));
        assert_eq!(Key::parse("@id").first_number(&e), Some(1763));
        assert_eq!(Key::parse("nope").first_number(&e), None);
    }
}
