//! Logging: JSON lines (`time`, `level`, `event`, `msg`, then the event's fields and the
//! fields of its spans, such as `requestId`) or a human-readable format.
//!
//! A JSON line is built field by field in a buffer each thread reuses ([`json`] appends the
//! pieces), then written with one call: no map is built and nothing is parsed back. Span fields
//! are kept, when the span is created, as ready-made JSON members ([`JsonMembers`]), one per
//! line, so every event in the span copies them as they are.

use std::cell::RefCell;
use std::fmt;
use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, fmt as tfmt};

use crate::config::{LogArgs, LogFormat};

mod buffer;
mod json;

pub use buffer::flush;
use json::Json;

/// The format and colouring logs get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// JSON lines or human-readable lines.
    pub format: LogFormat,
    /// ANSI colours (only on a terminal, and never with `NO_COLOR`).
    pub colour: bool,
}

impl Output {
    /// `--log-format` if given, else `pretty` on a terminal and `json` otherwise; colours only
    /// for pretty logs on a terminal without `NO_COLOR`.
    pub fn choose(format: Option<LogFormat>, terminal: bool, no_color: bool) -> Self {
        let format = format.unwrap_or(if terminal {
            LogFormat::Pretty
        } else {
            LogFormat::Json
        });
        Self {
            format,
            colour: format == LogFormat::Pretty && terminal && !no_color,
        }
    }
}

/// Installs the global subscriber, writing to standard output as [`Output::choose`] decides.
/// `RUST_LOG` overrides the default `info` level.
pub fn init(args: &LogArgs) {
    install(Output::choose(
        args.log_format,
        std::io::stdout().is_terminal(),
        args.no_color(),
    ));
}

/// Installs the global subscriber with this output (does nothing when one is installed).
pub fn install(output: Output) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tfmt()
        .with_env_filter(filter)
        .with_writer(buffer::stdout())
        .with_ansi(output.colour);
    let _ = match output.format {
        LogFormat::Json => builder
            .fmt_fields(JsonMembers)
            .event_format(JsonLines)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// Keys every line carries, which fields of the same name do not replace.
const RESERVED: [&str; 3] = ["time", "level", "target"];

/// One JSON object per line, with the field names of the contract. A field's name appears
/// once: the event's own fields win over its spans' fields, an inner span's over an outer's.
/// `time`, `level` and `target` are always the line's own; `event` defaults to the target.
#[derive(Debug, Clone, Copy)]
pub struct JsonLines;

impl<S> FormatEvent<S, JsonMembers> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonMembers>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        with_scratch(|scratch| {
            write_line(ctx, event, scratch);
            writer.write_str(&scratch.line)
        })
    }
}

/// Builds the line of `event` in `scratch.line`.
fn write_line<S>(ctx: &FmtContext<'_, S, JsonMembers>, event: &Event<'_>, scratch: &mut Scratch)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Scratch { line, names } = scratch;
    let metadata = event.metadata();
    line.push_str("{\"time\":\"");
    // Writing to a `String` does not fail.
    let _ = crate::domain::write_timestamp(line, chrono::Utc::now());
    line.push_str("\",\"level\":\"");
    line.push_str(level_name(metadata.level()));
    line.push('"');
    event.record(&mut Members { line, names });
    // Span fields, innermost span first; within a span, the last recorded value first.
    if let Some(scope) = ctx.event_scope() {
        for span in scope {
            let extensions = span.extensions();
            let Some(fields) = extensions.get::<FormattedFields<JsonMembers>>() else {
                continue;
            };
            for member in MembersBackwards(fields.as_str()) {
                let Some(name) = member_name(member) else {
                    continue;
                };
                if RESERVED.contains(&name) || names.contains(name) {
                    continue;
                }
                line.push(',');
                line.push_str(member);
                names.push(name);
            }
        }
    }
    if !names.contains("event") {
        line.push_str(",\"event\":");
        json::push_str(line, metadata.target());
    }
    line.push_str(",\"target\":");
    json::push_str(line, metadata.target());
    line.push_str("}\n");
}

/// Where a line (or a span's members) is built before it is written with one call: one per
/// thread, reused, so building a line allocates nothing once its buffers have grown.
#[derive(Debug, Default)]
struct Scratch {
    line: String,
    names: Names,
}

/// Runs `build` with this thread's [`Scratch`], emptied (or a new one, when a value's `Debug`
/// logs while a line is being built).
fn with_scratch<R>(build: impl FnOnce(&mut Scratch) -> R) -> R {
    thread_local! {
        static SCRATCH: RefCell<Scratch> = RefCell::default();
    }
    /// A buffer grown past this by one long line is not kept.
    const KEEP: usize = 16 * 1024;
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => {
            scratch.line.clear();
            scratch.names.clear();
            let result = build(&mut scratch);
            if scratch.line.capacity() > KEEP {
                *scratch = Scratch::default();
            }
            result
        }
        Err(_) => build(&mut Scratch::default()),
    })
}

fn level_name(level: &tracing::Level) -> &'static str {
    match *level {
        tracing::Level::TRACE => "trace",
        tracing::Level::DEBUG => "debug",
        tracing::Level::INFO => "info",
        tracing::Level::WARN => "warn",
        tracing::Level::ERROR => "error",
    }
}

/// The name of a JSON member `"name":value` as written by [`Members`].
fn member_name(member: &str) -> Option<&str> {
    let rest = member.strip_prefix('"')?;
    // A byte search: `split_once("\":")` set up a substring searcher for every member.
    let end = rest.as_bytes().windows(2).position(|w| w == b"\":")?;
    rest.get(..end)
}

/// The members of a span's text (one per line), last first, found by a plain byte search
/// (`str::lines` set up a character searcher for every line).
struct MembersBackwards<'a>(&'a str);

impl<'a> Iterator for MembersBackwards<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let text = self.0.strip_suffix('\n').unwrap_or(self.0);
        if text.is_empty() {
            return None;
        }
        // Split after a newline (ASCII): both sides are on character boundaries.
        let split = text.bytes().rposition(|b| b == b'\n').map_or(0, |i| i + 1);
        let (rest, member) = text.split_at(split);
        self.0 = rest;
        Some(member)
    }
}

/// Span fields as JSON members (`"name":value`), one per line: JSON text never holds a raw
/// newline, so the lines split back into members without parsing.
#[derive(Debug, Clone, Copy)]
pub struct JsonMembers;

impl<'writer> FormatFields<'writer> for JsonMembers {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        with_scratch(|scratch| {
            fields.record(&mut MemberLines(&mut scratch.line));
            writer.write_str(&scratch.line)
        })
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        self.format_fields(current.as_writer(), fields)
    }
}

/// The field whose value is written under the key `message`: tracing keeps the name `message`
/// for an event's format string (written as `msg`), so a failure's text that the log contract
/// calls `message` (`redis_subscriber_error`) is recorded as `text = …`.
pub const MESSAGE_FIELD: &str = "text";

/// The JSON key of a field: `message` (the format string) is written as `msg`, and
/// [`MESSAGE_FIELD`] as `message`.
fn key(field: &Field) -> &'static str {
    match field.name() {
        "message" => "msg",
        MESSAGE_FIELD => "message",
        other => other,
    }
}

/// Appends an event's fields as `,"name":value` members, each name once (the first wins: only
/// `message` and a field named `msg`, or `text` and a field named `message`, can meet).
struct Members<'a> {
    line: &'a mut String,
    names: &'a mut Names,
}

impl Members<'_> {
    fn put(&mut self, field: &Field, value: Json<'_>) {
        let name = key(field);
        if RESERVED.contains(&name) || self.names.contains(name) {
            return;
        }
        self.line.push(',');
        json::push_member(self.line, name, value);
        self.names.push(name);
    }
}

/// The member names a line has so far: their text in one buffer, and where each ends (a line
/// has about ten; a `String` each was ten allocations per line).
#[derive(Debug, Default)]
struct Names {
    text: String,
    ends: Vec<usize>,
}

impl Names {
    fn contains(&self, name: &str) -> bool {
        let mut start = 0;
        self.ends.iter().any(|&end| {
            let found = self.text.get(start..end) == Some(name);
            start = end;
            found
        })
    }

    fn push(&mut self, name: &str) {
        self.text.push_str(name);
        self.ends.push(self.text.len());
    }

    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }
}

/// Appends span fields as `"name":value` lines.
struct MemberLines<'a>(&'a mut String);

impl MemberLines<'_> {
    fn put(&mut self, field: &Field, value: Json<'_>) {
        json::push_member(self.0, key(field), value);
        self.0.push('\n');
    }
}

macro_rules! visit_as_json {
    ($visitor:ty) => {
        impl Visit for $visitor {
            fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
                self.put(field, Json::Debug(value));
            }
            fn record_str(&mut self, field: &Field, value: &str) {
                self.put(field, Json::Str(value));
            }
            fn record_i64(&mut self, field: &Field, value: i64) {
                self.put(field, Json::I64(value));
            }
            fn record_u64(&mut self, field: &Field, value: u64) {
                self.put(field, Json::U64(value));
            }
            fn record_f64(&mut self, field: &Field, value: f64) {
                self.put(field, Json::F64(value));
            }
            fn record_bool(&mut self, field: &Field, value: bool) {
                self.put(field, Json::Bool(value));
            }
        }
    };
}
visit_as_json!(Members<'_>);
visit_as_json!(MemberLines<'_>);

#[cfg(test)]
pub(crate) mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use serde_json::Value;

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buf {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::ErrorKind::Other)?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The lines `emit` logs, as written (every level; other modules' tests read their own
    /// events with it).
    pub(crate) fn lines(emit: impl FnOnce()) -> Vec<String> {
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tfmt()
            .with_max_level(tracing::Level::TRACE)
            .fmt_fields(JsonMembers)
            .event_format(JsonLines)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = buf.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8(bytes)
            .expect("log output is UTF-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn object(line: &str) -> serde_json::Map<String, Value> {
        match serde_json::from_str(line) {
            Ok(Value::Object(map)) => map,
            other => panic!("not a JSON object: {line}: {other:?}"),
        }
    }

    /// The keys of a line in order, as written (duplicates included).
    fn keys(line: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut de = serde_json::Deserializer::from_str(line);
        struct Keys<'a>(&'a mut Vec<String>);
        impl<'de> serde::de::Visitor<'de> for Keys<'_> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
                while let Some((k, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                    self.0.push(k);
                }
                Ok(())
            }
        }
        serde::Deserializer::deserialize_map(&mut de, Keys(&mut keys)).expect("an object");
        keys
    }

    #[test]
    fn a_line_has_the_contract_keys_and_the_event_fields() {
        let lines = lines(|| {
            tracing::info!(
                event = "stream_opened",
                count = 3_u64,
                delta = -2_i64,
                ratio = 0.5,
                ok = true,
                who = %"a b",
                what = ?Some(1),
                "opened"
            );
            tracing::warn!(nan = f64::NAN, "no event field");
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        let first = object(&lines[0]);
        assert_eq!(first["level"], "info");
        assert_eq!(first["event"], "stream_opened");
        assert_eq!(first["msg"], "opened");
        assert_eq!(first["count"], 3);
        assert_eq!(first["delta"], -2);
        assert_eq!(first["ratio"], 0.5);
        assert_eq!(first["ok"], true);
        assert_eq!(first["who"], "a b");
        assert_eq!(first["what"], "Some(1)");
        assert_eq!(first["target"], module_path!());
        let time = first["time"].as_str().expect("time is a string");
        assert!(crate::domain::parse_timestamp(time).is_some(), "{time}");
        assert_eq!(&keys(&lines[0])[..2], ["time", "level"]);

        let second = object(&lines[1]);
        assert_eq!(second["level"], "warn");
        assert_eq!(second["event"], module_path!(), "the target stands in");
        assert_eq!(second["nan"], Value::Null);
    }

    #[test]
    fn span_fields_are_added_and_each_name_appears_once() {
        let lines = lines(|| {
            let outer =
                tracing::info_span!("outer", requestId = "r-1", shared = "outer", level = "x");
            let _outer = outer.enter();
            let inner =
                tracing::info_span!("inner", shared = "inner", late = tracing::field::Empty);
            inner.record("late", 7_u64);
            let _inner = inner.enter();
            tracing::info!(event = "e", "in spans");
            tracing::info!(
                event = "e",
                shared = "event",
                requestId = "mine",
                "the event wins"
            );
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        for line in &lines {
            let keys = keys(line);
            let mut unique = keys.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), keys.len(), "a key twice in {line}");
        }
        let first = object(&lines[0]);
        assert_eq!(first["requestId"], "r-1");
        assert_eq!(first["shared"], "inner", "the inner span wins");
        assert_eq!(first["late"], 7, "fields recorded after creation are kept");
        assert_eq!(
            first["level"], "info",
            "a span field does not replace the level"
        );
        let second = object(&lines[1]);
        assert_eq!(second["shared"], "event");
        assert_eq!(second["requestId"], "mine");
    }

    #[test]
    fn a_span_text_splits_into_its_members_last_first() {
        let members: Vec<&str> = MembersBackwards("\"a\":1\n\n\"b\":\"x\"\n").collect();
        assert_eq!(members, ["\"b\":\"x\"", "", "\"a\":1"]);
        assert_eq!(MembersBackwards("").count(), 0);
        assert_eq!(MembersBackwards("\"c\":2").collect::<Vec<_>>(), ["\"c\":2"]);
    }

    #[test]
    fn a_value_whose_debug_logs_leaves_the_line_whole() {
        struct Loud;
        impl fmt::Debug for Loud {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                tracing::info!(event = "inner", "from Debug");
                f.write_str("loud")
            }
        }
        let lines = lines(|| {
            let span = tracing::info_span!("s", inSpan = ?Loud);
            let _span = span.enter();
            tracing::info!(event = "outer", value = ?Loud, "outer");
        });
        let outer = lines
            .iter()
            .map(|line| object(line))
            .find(|line| line["event"] == "outer")
            .expect("the outer line");
        assert_eq!(outer["value"], "loud");
        assert_eq!(outer["inSpan"], "loud");
    }

    #[test]
    fn a_failure_text_is_written_as_message_beside_msg() {
        let lines = lines(|| {
            tracing::error!(
                event = "redis_subscriber_error",
                text = "connection refused",
                "Redis subscriber disconnected"
            );
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = object(&lines[0]);
        assert_eq!(line["message"], "connection refused");
        assert_eq!(line["msg"], "Redis subscriber disconnected");
        assert!(!line.contains_key("text"), "{line:?}");
    }

    #[test]
    fn strings_are_escaped_as_json() {
        let nasty = "quote \" backslash \\ newline \n tab \t bell \u{7} nul \0 é ☃";
        let lines = lines(|| {
            let span = tracing::info_span!("s", path = nasty);
            let _span = span.enter();
            tracing::info!(event = "e", value = nasty, shown = %nasty, "{nasty}");
        });
        assert_eq!(
            lines.len(),
            1,
            "one line, whatever the value holds: {lines:?}"
        );
        let line = object(&lines[0]);
        for key in ["value", "shown", "msg", "path"] {
            assert_eq!(line[key], nasty, "{key}");
        }
    }

    #[test]
    fn pretty_on_a_terminal_json_elsewhere_colours_only_on_a_terminal() {
        let choose = Output::choose;
        let pretty = |colour| Output {
            format: LogFormat::Pretty,
            colour,
        };
        let json = Output {
            format: LogFormat::Json,
            colour: false,
        };
        assert_eq!(choose(None, true, false), pretty(true));
        assert_eq!(choose(None, true, true), pretty(false));
        assert_eq!(choose(None, false, false), json);
        assert_eq!(choose(Some(LogFormat::Pretty), false, false), pretty(false));
        assert_eq!(choose(Some(LogFormat::Json), true, false), json);
    }
}
