//! Logging: JSON lines (`time`, `level`, `event`, `msg`, then the event's fields and the
//! fields of its spans, such as `requestId`) or a human-readable format.

use std::fmt;
use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, fmt as tfmt};

use crate::config::{LogArgs, LogFormat};

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
        .with_writer(std::io::stdout)
        .with_ansi(output.colour);
    let _ = match output.format {
        LogFormat::Json => builder
            .fmt_fields(tfmt::format::JsonFields::new())
            .event_format(JsonLines)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// One JSON object per line, with the field names of the contract.
#[derive(Debug, Clone, Copy)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut object = Map::new();
        object.insert(
            "time".into(),
            Value::String(crate::domain::format_timestamp(chrono::Utc::now())),
        );
        object.insert(
            "level".into(),
            Value::String(event.metadata().level().as_str().to_ascii_lowercase()),
        );
        // Span fields first (request id, ...), so the event's own fields win on a clash.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                    && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(fields.as_str())
                {
                    object.extend(map);
                }
            }
        }
        let mut visitor = Collect(&mut object);
        event.record(&mut visitor);
        object
            .entry("event")
            .or_insert_with(|| Value::String(event.metadata().target().to_owned()));
        object.insert(
            "target".into(),
            Value::String(event.metadata().target().to_owned()),
        );
        let line = serde_json::to_string(&object).map_err(|_| fmt::Error)?;
        writeln!(writer, "{line}")
    }
}

/// Puts an event's fields into a JSON object; `message` becomes `msg`.
struct Collect<'a>(&'a mut Map<String, Value>);

impl Collect<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = match field.name() {
            "message" => "msg",
            other => other,
        };
        self.0.insert(name.to_owned(), value);
    }
}

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
