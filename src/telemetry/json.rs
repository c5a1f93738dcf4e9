//! JSON text appended straight to a `String`: strings escaped as serde_json escapes them,
//! integers written digit by digit. No `fmt::Write` object sits between the pieces of a line
//! and its buffer (through one, each quote, name and value was a dynamic call of its own).

use std::fmt::{self, Write as _};

/// A field's value as JSON: numbers and booleans as they are (a non-finite float as `null`),
/// everything else as a string of its `Debug` form (its `Display` form for `%` fields).
pub(super) enum Json<'a> {
    Str(&'a str),
    Debug(&'a dyn fmt::Debug),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

/// Appends `"name":value`.
pub(super) fn push_member(out: &mut String, name: &str, value: Json<'_>) {
    push_str(out, name);
    out.push(':');
    match value {
        Json::Str(s) => push_str(out, s),
        Json::Debug(d) => {
            out.push('"');
            // A `Debug` implementation that fails leaves what it wrote: the line stays JSON.
            let _ = write!(Escaping(out), "{d:?}");
            out.push('"');
        }
        Json::I64(v) => {
            if v < 0 {
                out.push('-');
            }
            push_u64(out, v.unsigned_abs());
        }
        Json::U64(v) => push_u64(out, v),
        // The shortest form that reads back as the same number (serde_json's); NaN and the
        // infinities, which JSON cannot write, as `null`.
        Json::F64(v) => match serde_json::Number::from_f64(v) {
            Some(number) => {
                let _ = write!(out, "{number}");
            }
            None => out.push_str("null"),
        },
        Json::Bool(v) => out.push_str(if v { "true" } else { "false" }),
    }
}

/// Appends `s` as a JSON string.
pub(super) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    push_escaped(out, s);
    out.push('"');
}

fn push_u64(out: &mut String, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // Digits are ASCII.
    out.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
}

fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Whether any byte of `s` needs an escape: eight bytes at a time (every byte of a word tested
/// at once with the usual bit tricks), the rest one by one.
fn any_needs_escape(s: &str) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Some byte of `x` is zero (exact: no false positive when tested as a whole).
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    let mut words = s.as_bytes().chunks_exact(8);
    for word in words.by_ref() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_ne_bytes(bytes);
        // A byte below 0x20 (a high bit set only by bytes that were below it, or by bytes of
        // 0x80 and up, which `!x` masks out), a quote, or a backslash.
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGHS != 0;
        if control
            || has_zero(x ^ (ONES * u64::from(b'"')))
            || has_zero(x ^ (ONES * u64::from(b'\\')))
        {
            return true;
        }
    }
    words.remainder().iter().any(|&b| needs_escape(b))
}

/// Appends `s` escaped for the inside of a JSON string (as serde_json does: quote, backslash
/// and control characters).
fn push_escaped(out: &mut String, s: &str) {
    // Most text needs no escape: one pass over its words, then one copy.
    if !any_needs_escape(s) {
        out.push_str(s);
        return;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escape: &str = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "\\u00",
            _ => continue,
        };
        // `i` is at an ASCII byte: a character boundary.
        out.push_str(s.get(start..i).unwrap_or_default());
        out.push_str(escape);
        if escape == "\\u00" {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xF)]));
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
}

/// Escapes what is formatted through it into the string (for `Debug` and `Display` values).
struct Escaping<'a>(&'a mut String);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        push_escaped(self.0, s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(value: Json<'_>) -> serde_json::Value {
        let mut out = String::from("{");
        push_member(&mut out, "k", value);
        out.push('}');
        let object: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        object["k"].clone()
    }

    #[test]
    fn values_read_back_as_serde_json_reads_them() {
        for v in [0, 7, 10, 99, 1234567890, u64::MAX] {
            assert_eq!(member(Json::U64(v)), serde_json::json!(v));
        }
        for v in [0, -1, -10, 42, i64::MIN, i64::MAX] {
            assert_eq!(member(Json::I64(v)), serde_json::json!(v));
        }
        assert_eq!(member(Json::F64(0.25)), serde_json::json!(0.25));
        assert_eq!(member(Json::F64(f64::INFINITY)), serde_json::Value::Null);
        assert_eq!(member(Json::Bool(false)), serde_json::json!(false));
        assert_eq!(member(Json::Debug(&Some("a\"b"))), "Some(\"a\\\"b\")");
    }

    #[test]
    fn the_word_test_finds_every_byte_that_needs_an_escape_at_every_position() {
        for byte in 0u8..=0x7f {
            for len in 1..20 {
                for at in 0..len {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = byte;
                    let s = std::str::from_utf8(&bytes).expect("ASCII");
                    assert_eq!(
                        any_needs_escape(s),
                        needs_escape(byte),
                        "{byte:#x} at {at} of {len}"
                    );
                }
            }
        }
        // Bytes of multi-byte characters (0x80 and up) never need one.
        assert!(!any_needs_escape("é☃ü€ÿ\u{10ffff}"));
        assert!(any_needs_escape("é☃ü€ÿ\u{1f}"));
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_escapes_them() {
        let every_control: String = (0u8..0x20).map(char::from).collect();
        for s in [
            "plain",
            "",
            "quote \" backslash \\ é ☃",
            &every_control,
            "\u{7f} stays",
        ] {
            let mut out = String::new();
            push_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).expect("a string"), "{s:?}");
        }
    }
}
