//! The shared column/row engine every NDBC product parser is built on: line splitting, the
//! whitespace field tokenizer, the number parser, `MM`/fill handling, the date/time columns
//! (`YY MM DD hh mm`, `ss`, `hhmm`) and a table-driven row reader for fixed-column products.
//!
//! A product is described by a [`Table`]: its value columns (header names → slot, and how the
//! text becomes a value: a number with an optional fill sentinel, free text, or an `hhmm` clock
//! time). [`parse_lines`] drives any row function over a file: it finds the header, skips `#`
//! and blank lines, and turns a row's error into a [`RowError`] without stopping.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use crate::realtime::{ParseError, Parsed, RowError};

/// Exact powers of ten representable in an `f64`.
pub(crate) const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Cache of the last date built, since consecutive rows nearly always share a day.
#[derive(Debug, Default)]
pub(crate) struct DateCache {
    key: Option<(i32, u32, u32)>,
    date: Option<NaiveDate>,
}

impl DateCache {
    pub(crate) fn get(&mut self, y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        if self.key != Some((y, m, d)) {
            self.key = Some((y, m, d));
            self.date = NaiveDate::from_ymd_opt(y, m, d);
        }
        self.date
    }
}

/// What went wrong in a field; the message is only built if the row is really reported.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FieldFault {
    NotNumber,
    NotFinite,
    BadYear,
    BadTimeField,
    BadClock,
    NotText,
}

/// Iterator over `(1-based line number, line without its terminator, had a '\n')`.
#[derive(Debug)]
pub(crate) struct Lines<'a> {
    rest: &'a [u8],
    line_no: usize,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Lines {
            rest: input,
            line_no: 0,
        }
    }

    /// Number of lines left (an upper bound on the data rows).
    pub(crate) fn rest_lines(&self) -> usize {
        memchr::memchr_iter(b'\n', self.rest).count() + 1
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8], bool);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        self.line_no += 1;
        let (line, terminated) = match memchr::memchr(b'\n', self.rest) {
            Some(i) => {
                let line = &self.rest[..i];
                self.rest = &self.rest[i + 1..];
                (line, true)
            }
            None => {
                let line = self.rest;
                self.rest = &[];
                (line, false)
            }
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Some((self.line_no, line, terminated))
    }
}

#[inline]
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | 0x0b | 0x0c)
}

/// Split a line into whitespace-separated fields.
pub(crate) fn fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| is_ws(b)).filter(|f| !f.is_empty())
}

/// Year: two digits mean 19yy, otherwise exactly four digits.
pub(crate) fn parse_year(field: &[u8]) -> Result<i32, FieldFault> {
    let century = match field.len() {
        2 => 1900,
        4 => 0,
        _ => return Err(FieldFault::BadYear),
    };
    if !field.iter().all(u8::is_ascii_digit) {
        return Err(FieldFault::BadYear);
    }
    let v = field
        .iter()
        .fold(0i32, |acc, &b| acc * 10 + i32::from(b - b'0'));
    Ok(century + v)
}

/// Month, day, hour or minute: one or two ASCII digits (range checked when the date is built).
#[inline]
pub(crate) fn parse_small(field: &[u8]) -> Result<u32, FieldFault> {
    match *field {
        [a] if a.is_ascii_digit() => Ok(u32::from(a - b'0')),
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            Ok(u32::from(a - b'0') * 10 + u32::from(b - b'0'))
        }
        _ => Err(FieldFault::BadTimeField),
    }
}

/// Parse `[+-]digits[.digits]` to the same `f64` as `str::parse`, rejecting non-finite results.
#[inline]
pub(crate) fn parse_number(field: &[u8]) -> Result<f64, FieldFault> {
    let (neg, body) = match field.first() {
        Some(b'-') => (true, &field[1..]),
        Some(b'+') => (false, &field[1..]),
        _ => (false, field),
    };
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    let mut frac_digits = 0usize;
    let mut seen_dot = false;
    for &b in body {
        if b.is_ascii_digit() {
            if digits < 19 {
                mantissa = mantissa * 10 + u64::from(b - b'0');
            }
            digits += 1;
            frac_digits += usize::from(seen_dot);
        } else if b == b'.' && !seen_dot {
            seen_dot = true;
        } else {
            return Err(FieldFault::NotNumber);
        }
    }
    if digits == 0 {
        return Err(FieldFault::NotNumber);
    }
    // Clinger's fast path: an integer below 2^53 divided by an exact power of
    // ten is a single correctly rounded operation, i.e. the exact answer.
    let v = if digits <= 15 && frac_digits < POW10.len() {
        #[allow(clippy::cast_precision_loss)] // mantissa < 10^15 < 2^53: exact
        let m = mantissa as f64;
        let v = m / POW10[frac_digits];
        if neg { -v } else { v }
    } else {
        let text = std::str::from_utf8(field).map_err(|_| FieldFault::NotNumber)?;
        text.parse::<f64>().map_err(|_| FieldFault::NotNumber)?
    };
    if v.is_finite() {
        Ok(v)
    } else {
        Err(FieldFault::NotFinite)
    }
}

impl FieldFault {
    /// Human-readable description, for row errors.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            FieldFault::NotNumber => "not a number",
            FieldFault::NotFinite => "number out of range",
            FieldFault::BadYear => "year must be 2 or 4 digits",
            FieldFault::BadTimeField => "not a 1- or 2-digit number",
            FieldFault::BadClock => "not an hhmm time",
            FieldFault::NotText => "not ASCII text",
        }
    }
}

/// A row error message naming the field (1-based) and its text.
pub(crate) fn field_error(fault: FieldFault, index: usize, name: &str, field: &[u8]) -> String {
    let shown: String = String::from_utf8_lossy(field).chars().take(40).collect();
    format!(
        "field {} ({name}): {}: {shown:?}",
        index + 1,
        fault.describe()
    )
}

/// Whitespace-separated fields of a line, without allocating.
#[derive(Debug, Clone)]
pub(crate) struct Fields<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(line: &'a [u8]) -> Self {
        Fields { line, pos: 0 }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let line = self.line;
        let len = line.len();
        let mut pos = self.pos;
        while pos < len && is_ws(line[pos]) {
            pos += 1;
        }
        if pos >= len {
            self.pos = pos;
            return None;
        }
        let start = pos;
        while pos < len && !is_ws(line[pos]) {
            pos += 1;
        }
        self.pos = pos;
        Some(&line[start..pos])
    }
}

/// Tokens that mean "no value" in every product other than stdmet: `MM` (NDBC's realtime
/// missing marker), `N/A` (`.spec` steepness) and `//` (`.supl` direction of a calm wind).
#[inline]
pub(crate) fn is_missing_token(field: &[u8]) -> bool {
    matches!(field, b"MM" | b"N/A" | b"//")
}

/// A date/time column of a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeCol {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    /// `hhmm` in one field (`.drift`).
    HourMinute,
}

impl TimeCol {
    /// The time column a header name stands for.
    pub(crate) fn from_name(name: &str) -> Option<TimeCol> {
        Some(match name {
            "YY" | "YYYY" => TimeCol::Year,
            "MM" => TimeCol::Month,
            "DD" => TimeCol::Day,
            "hh" => TimeCol::Hour,
            "mm" => TimeCol::Minute,
            "ss" => TimeCol::Second,
            "hhmm" => TimeCol::HourMinute,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            TimeCol::Year => "YY",
            TimeCol::Month => "MM",
            TimeCol::Day => "DD",
            TimeCol::Hour => "hh",
            TimeCol::Minute => "mm",
            TimeCol::Second => "ss",
            TimeCol::HourMinute => "hhmm",
        }
    }
}

/// The date and time fields of one row, gathered column by column.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TimeParts {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl TimeParts {
    /// Read one time field.
    #[inline]
    pub(crate) fn set(&mut self, col: TimeCol, field: &[u8]) -> Result<(), FieldFault> {
        match col {
            TimeCol::Year => self.year = parse_year(field)?,
            TimeCol::Month => self.month = parse_small(field)?,
            TimeCol::Day => self.day = parse_small(field)?,
            TimeCol::Hour => self.hour = parse_small(field)?,
            TimeCol::Minute => self.minute = parse_small(field)?,
            TimeCol::Second => self.second = parse_small(field)?,
            TimeCol::HourMinute => {
                let (h, m) = parse_clock(field)?;
                self.hour = h;
                self.minute = m;
            }
        }
        Ok(())
    }

    /// The row's time, or the reason it is impossible.
    pub(crate) fn build(&self, cache: &mut DateCache) -> Result<NaiveDateTime, String> {
        let (y, mo, d) = (self.year, self.month, self.day);
        let Some(date) = cache.get(y, mo, d) else {
            return Err(format!("impossible date {y:04}-{mo:02}-{d:02}"));
        };
        let Some(time) = NaiveTime::from_hms_opt(self.hour, self.minute, self.second) else {
            return Err(format!(
                "impossible time {:02}:{:02}:{:02}",
                self.hour, self.minute, self.second
            ));
        };
        Ok(NaiveDateTime::new(date, time))
    }
}

/// `hhmm` as four ASCII digits, hour < 24 and minute < 60.
#[inline]
pub(crate) fn parse_clock(field: &[u8]) -> Result<(u32, u32), FieldFault> {
    match *field {
        [a, b, c, d] if field.iter().all(u8::is_ascii_digit) => {
            let h = u32::from(a - b'0') * 10 + u32::from(b - b'0');
            let m = u32::from(c - b'0') * 10 + u32::from(d - b'0');
            if h < 24 && m < 60 {
                Ok((h, m))
            } else {
                Err(FieldFault::BadClock)
            }
        }
        _ => Err(FieldFault::BadClock),
    }
}

/// The leading date/time columns of a header (`YY MM DD hh mm`, `... ss`, `YY MM DD hhmm`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimeLayout {
    pub(crate) cols: Vec<TimeCol>,
}

impl TimeLayout {
    /// The time columns at the start of `tokens`; year, month, day and an hour are required.
    pub(crate) fn leading(tokens: &[&str], line: usize) -> Result<TimeLayout, ParseError> {
        let cols: Vec<TimeCol> = tokens.iter().map_while(|t| TimeCol::from_name(t)).collect();
        check_time_columns(&cols, line)?;
        Ok(TimeLayout { cols })
    }

    /// Read the time from the row's leading fields, leaving `fields` after them.
    #[inline]
    pub(crate) fn read(
        &self,
        fields: &mut Fields<'_>,
        cache: &mut DateCache,
    ) -> Result<NaiveDateTime, String> {
        let mut parts = TimeParts::default();
        for (i, &col) in self.cols.iter().enumerate() {
            let Some(field) = fields.next() else {
                return Err(format!(
                    "row ends after {i} fields, before the {} time column",
                    col.name()
                ));
            };
            parts
                .set(col, field)
                .map_err(|f| field_error(f, i, col.name(), field))?;
        }
        parts.build(cache)
    }
}

/// The header must name year, month, day and an hour column (`hh` or `hhmm`), each once.
fn check_time_columns(cols: &[TimeCol], line: usize) -> Result<(), ParseError> {
    for (i, c) in cols.iter().enumerate() {
        if cols[..i].contains(c) {
            return Err(ParseError::DuplicateColumn {
                line,
                column: c.name().to_owned(),
            });
        }
    }
    for (col, name) in [
        (TimeCol::Year, "YY"),
        (TimeCol::Month, "MM"),
        (TimeCol::Day, "DD"),
    ] {
        if !cols.contains(&col) {
            return Err(ParseError::MissingTimeColumn { line, column: name });
        }
    }
    if !cols.contains(&TimeCol::Hour) && !cols.contains(&TimeCol::HourMinute) {
        return Err(ParseError::MissingTimeColumn { line, column: "hh" });
    }
    Ok(())
}

/// Drive `row` over every data line of a file after its header.
///
/// Strips a UTF-8 BOM, finds the first non-blank line and hands its tokens (the leading `#`
/// removed) to `header`; then every non-blank line not starting with `#` goes to `row`, and a
/// row's `Err(reason)` becomes a [`RowError`] with its line number. The output is pre-sized
/// to the number of lines left.
pub(crate) fn parse_lines<'a, H, T>(
    input: &'a [u8],
    header: impl FnOnce(&[&str], usize) -> Result<H, ParseError>,
    mut row: impl FnMut(&H, &'a [u8], bool) -> Result<T, String>,
) -> Result<Parsed<T>, ParseError> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut lines = Lines::new(input);
    let layout = loop {
        let Some((line_no, line, _)) = lines.next() else {
            return Err(ParseError::Empty);
        };
        if line.iter().all(|&b| is_ws(b)) {
            continue;
        }
        let tokens = header_tokens(line, line_no)?;
        break header(&tokens, line_no)?;
    };
    let mut parsed = Parsed {
        records: Vec::with_capacity(lines.rest_lines()),
        skipped: Vec::new(),
    };
    for (line_no, line, terminated) in lines {
        let Some(first) = line.iter().position(|&b| !is_ws(b)) else {
            continue;
        };
        if line[first] == b'#' {
            continue;
        }
        match row(&layout, &line[first..], terminated) {
            Ok(rec) => parsed.records.push(rec),
            Err(reason) => parsed.skipped.push(RowError {
                line: line_no,
                reason,
            }),
        }
    }
    Ok(parsed)
}

/// The tokens of a header line (printable ASCII, starting with `#` or a year column), `#` removed.
pub(crate) fn header_tokens(line: &[u8], line_no: usize) -> Result<Vec<&str>, ParseError> {
    if line.iter().any(|&b| !(b.is_ascii_graphic() || is_ws(b))) {
        return Err(ParseError::NotText { line: line_no });
    }
    let mut tokens: Vec<&str> = Vec::new();
    for (i, tok) in fields(line).enumerate() {
        // The line is checked ASCII above, so this never fails.
        let tok = std::str::from_utf8(tok).unwrap_or_default();
        let tok = if i == 0 {
            tok.strip_prefix('#').unwrap_or(tok)
        } else {
            tok
        };
        if !tok.is_empty() {
            tokens.push(tok);
        }
    }
    let starts_with_hash = line.iter().find(|&&b| !is_ws(b)) == Some(&b'#');
    let first_is_year = matches!(tokens.first(), Some(&("YY" | "YYYY")));
    if !starts_with_hash && !first_is_year {
        let text = String::from_utf8_lossy(line);
        return Err(ParseError::NoHeader {
            line: line_no,
            found: text.trim().chars().take(60).collect(),
        });
    }
    Ok(tokens)
}

/// How one value column's text becomes a [`Value`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell {
    /// A number; a missing token, or a value equal to the fill sentinel, is missing.
    Number(Option<f64>),
    /// Free text (compass points, steepness); a missing token is missing.
    Text,
    /// An `hhmm` clock time; a missing token or `9999` is missing.
    Clock,
}

/// One value column of a [`Table`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    /// Header names this column goes by (the first is the canonical one).
    pub(crate) names: &'static [&'static str],
    /// How its text is read.
    pub(crate) cell: Cell,
}

impl Column {
    /// A number column without a fill sentinel.
    pub(crate) const fn number(names: &'static [&'static str]) -> Column {
        Column {
            names,
            cell: Cell::Number(None),
        }
    }

    /// A number column whose fill sentinel `fill` means missing.
    pub(crate) const fn filled(names: &'static [&'static str], fill: f64) -> Column {
        Column {
            names,
            cell: Cell::Number(Some(fill)),
        }
    }

    /// A free-text column.
    pub(crate) const fn text(names: &'static [&'static str]) -> Column {
        Column {
            names,
            cell: Cell::Text,
        }
    }

    /// An `hhmm` column.
    pub(crate) const fn clock(names: &'static [&'static str]) -> Column {
        Column {
            names,
            cell: Cell::Clock,
        }
    }
}

/// Most value columns a [`Table`] may have.
pub(crate) const MAX_COLUMNS: usize = 20;

/// A fixed-column product: its value columns, found in the header by name.
#[derive(Debug)]
pub(crate) struct Table {
    /// Product name for errors, e.g. `"continuous winds (.cwind)"`.
    pub(crate) product: &'static str,
    /// Value columns, in the order the product's builder reads them ([`Row::values`] index).
    pub(crate) columns: &'static [Column],
    /// The header must name at least one of these (tells the product apart from others).
    pub(crate) signature: &'static [&'static str],
}

/// What a header column of a [`Table`] product holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Time(TimeCol),
    Value(u8),
    Ignored,
}

/// The columns of a header, mapped onto a [`Table`].
#[derive(Debug)]
pub(crate) struct TableLayout {
    table: &'static Table,
    slots: Vec<Slot>,
    /// Fields a row needs at least: up to and including the last time column.
    min_fields: usize,
}

impl Table {
    /// Map a header's tokens onto this table's columns (unknown columns are ignored).
    pub(crate) fn layout(
        &'static self,
        tokens: &[&str],
        line: usize,
    ) -> Result<TableLayout, ParseError> {
        if !tokens.iter().any(|t| self.signature.contains(t)) {
            return Err(ParseError::NoProductColumns {
                line,
                product: self.product,
            });
        }
        let mut slots = Vec::with_capacity(tokens.len());
        let mut times = Vec::new();
        let mut seen = [false; MAX_COLUMNS];
        for &tok in tokens {
            let slot = if let Some(t) = TimeCol::from_name(tok).filter(|t| !times.contains(t)) {
                times.push(t);
                Slot::Time(t)
            } else if let Some(k) = self.columns.iter().position(|c| c.names.contains(&tok)) {
                if std::mem::replace(&mut seen[k], true) {
                    return Err(ParseError::DuplicateColumn {
                        line,
                        column: tok.to_owned(),
                    });
                }
                Slot::Value(u8::try_from(k).unwrap_or(u8::MAX))
            } else {
                Slot::Ignored
            };
            slots.push(slot);
        }
        check_time_columns(&times, line)?;
        let min_fields = slots
            .iter()
            .rposition(|s| matches!(s, Slot::Time(_)))
            .map_or(0, |i| i + 1);
        Ok(TableLayout {
            table: self,
            slots,
            min_fields,
        })
    }
}

/// One value of a row.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) enum Value<'a> {
    /// Missing token, fill sentinel, absent column or a row that ended early.
    #[default]
    Missing,
    Number(f64),
    Text(&'a str),
    /// `hhmm`.
    Clock(u32, u32),
}

/// One row of a [`Table`] product: its time and its values in table order.
#[derive(Debug)]
pub(crate) struct Row<'a> {
    pub(crate) time: NaiveDateTime,
    pub(crate) values: [Value<'a>; MAX_COLUMNS],
}

impl Default for Row<'_> {
    fn default() -> Self {
        Row {
            time: NaiveDateTime::default(),
            values: [Value::Missing; MAX_COLUMNS],
        }
    }
}

impl Row<'_> {
    /// Column `k` as a number.
    #[inline]
    pub(crate) fn num(&self, k: usize) -> Option<f64> {
        match self.values.get(k) {
            Some(Value::Number(v)) => Some(*v),
            _ => None,
        }
    }

    /// Column `k` as text.
    pub(crate) fn text(&self, k: usize) -> Option<String> {
        match self.values.get(k) {
            Some(Value::Text(t)) => Some((*t).to_owned()),
            _ => None,
        }
    }

    /// Column `k` (`hhmm`) as an ISO 8601 UTC time on the day nearest the row's time.
    pub(crate) fn clock_iso(&self, k: usize) -> Option<String> {
        match self.values.get(k) {
            Some(&Value::Clock(h, m)) => Some(iso_minute(nearest_clock(self.time, h, m))),
            _ => None,
        }
    }
}

/// The time of day `h:m` on the row's date, the day before or the day after, whichever is
/// nearest the row's time (a 23:58 gust reported in the 00:00 row was yesterday).
pub(crate) fn nearest_clock(row: NaiveDateTime, h: u32, m: u32) -> NaiveDateTime {
    use chrono::Timelike;
    let Some(t) = NaiveTime::from_hms_opt(h, m, 0) else {
        return row;
    };
    // Minutes from the row's time of day to `h:m` on the same date.
    let diff = i64::from(h * 60 + m) - i64::from(row.hour() * 60 + row.minute());
    let date = row.date();
    let date = if diff > 12 * 60 {
        date.pred_opt().unwrap_or(date)
    } else if diff < -12 * 60 {
        date.succ_opt().unwrap_or(date)
    } else {
        date
    };
    NaiveDateTime::new(date, t)
}

/// `YYYY-MM-DDTHH:MM:00.000Z` (years outside 0..=9999 are clamped; NDBC's are four digits).
pub(crate) fn iso_minute(t: NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    fn two(out: &mut [u8], v: u32) {
        out[0] = b'0' + (v / 10 % 10) as u8;
        out[1] = b'0' + (v % 10) as u8;
    }
    let mut buf = *b"0000-00-00T00:00:00.000Z";
    let year = t.year().clamp(0, 9999).unsigned_abs();
    two(&mut buf[0..2], year / 100);
    two(&mut buf[2..4], year);
    two(&mut buf[5..7], t.month());
    two(&mut buf[8..10], t.day());
    two(&mut buf[11..13], t.hour());
    two(&mut buf[14..16], t.minute());
    // Only ASCII digits were written.
    String::from_utf8(buf.to_vec()).unwrap_or_default()
}

/// Read one value of a table column.
#[inline]
pub(crate) fn cell_value(cell: Cell, field: &[u8]) -> Result<Value<'_>, FieldFault> {
    if is_missing_token(field) {
        return Ok(Value::Missing);
    }
    match cell {
        Cell::Number(fill) => {
            let v = parse_number(field)?;
            Ok(if fill == Some(v) {
                Value::Missing
            } else {
                Value::Number(v)
            })
        }
        Cell::Text => {
            if field.iter().all(u8::is_ascii_graphic) {
                Ok(std::str::from_utf8(field).map_or(Value::Missing, Value::Text))
            } else {
                Err(FieldFault::NotText)
            }
        }
        Cell::Clock => {
            if field == b"9999" {
                return Ok(Value::Missing);
            }
            parse_clock(field).map(|(h, m)| Value::Clock(h, m))
        }
    }
}

/// Number of a spectral/ADCP value: a missing token, or equal to `fill`, is `None`.
#[inline]
pub(crate) fn number_or_fill(field: &[u8], fill: Option<f64>) -> Result<Option<f64>, FieldFault> {
    if is_missing_token(field) {
        return Ok(None);
    }
    let v = parse_number(field)?;
    Ok(if fill == Some(v) { None } else { Some(v) })
}

impl TableLayout {
    /// Read one data row (leading whitespace removed). Rows may stop early after the time
    /// columns (the values not written are missing); more fields than the header is an error.
    /// The row is written into `out`, a buffer reused from row to row.
    #[inline]
    pub(crate) fn row<'a>(
        &self,
        line: &'a [u8],
        cache: &mut DateCache,
        out: &mut Row<'a>,
    ) -> Result<(), String> {
        let mut time = TimeParts::default();
        let values = &mut out.values;
        for v in values.iter_mut().take(self.table.columns.len()) {
            *v = Value::Missing;
        }
        let mut n = 0usize;
        for field in Fields::new(line) {
            let Some(&slot) = self.slots.get(n) else {
                return Err(format!(
                    "expected at most {} fields, found more",
                    self.slots.len()
                ));
            };
            match slot {
                Slot::Time(col) => time
                    .set(col, field)
                    .map_err(|f| field_error(f, n, col.name(), field))?,
                Slot::Value(k) => {
                    let k = usize::from(k);
                    let column = self.table.columns.get(k).copied();
                    let cell = column.map_or(Cell::Text, |c| c.cell);
                    let v = cell_value(cell, field).map_err(|f| {
                        let name = column.and_then(|c| c.names.first()).copied();
                        field_error(f, n, name.unwrap_or("?"), field)
                    })?;
                    if let Some(slot) = values.get_mut(k) {
                        *slot = v;
                    }
                }
                Slot::Ignored => {}
            }
            n += 1;
        }
        if n < self.min_fields {
            return Err(format!(
                "expected at least {} fields (the date and time), found {n}",
                self.min_fields
            ));
        }
        out.time = time.build(cache)?;
        Ok(())
    }
}
