//! The five spectral wave files (`.data_spec`, `.swdir`, `.swdir2`, `.swr1`, `.swr2`): after the
//! time columns, a variable number of `value (frequency)` pairs, and in `.data_spec` first the
//! separation frequency. Each file parses to a [`Spectrum`] holding only its own array.
//!
//! Missing values (NDBC's format page and the files):
//!
//! | file | becomes `None` |
//! |---|---|
//! | `.data_spec` | `Sep_Freq` 9.999; `MM` energy |
//! | `.swdir`, `.swdir2` | 999.0 (`999`, `999.0`) and `MM` |
//! | `.swr1`, `.swr2` | 999.00 and `MM` |
//!
//! A frequency must be a number in parentheses, `(0.033)`, written apart from its value or
//! stuck to it (`0.000(0.033)`); the number of pairs may change from row to row.

use chrono::NaiveDateTime;

use crate::engine::{DateCache, FieldFault, Fields, TimeLayout, field_error, number_or_fill};
use crate::realtime::ParseError;
use crate::spectrum::Spectrum;

/// Which array a spectral file fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Array {
    Energy,
    MeanDir,
    PrincipalDir,
    R1,
    R2,
}

impl Array {
    /// The fill sentinel of the values.
    fn fill(self) -> Option<f64> {
        match self {
            Array::Energy => None,
            Array::MeanDir | Array::PrincipalDir | Array::R1 | Array::R2 => Some(999.0),
        }
    }

    /// Header tokens that identify the file (the first value column's name).
    fn signature(self) -> &'static [&'static str] {
        match self {
            Array::Energy => &["Sep_Freq", "spec_1"],
            Array::MeanDir => &["alpha1_1"],
            Array::PrincipalDir => &["alpha2_1"],
            Array::R1 => &["r1_1"],
            Array::R2 => &["r2_1"],
        }
    }

    fn product(self) -> &'static str {
        match self {
            Array::Energy => "spectral wave density (.data_spec)",
            Array::MeanDir => "spectral mean wave direction (.swdir)",
            Array::PrincipalDir => "spectral principal wave direction (.swdir2)",
            Array::R1 => "spectral r1 (.swr1)",
            Array::R2 => "spectral r2 (.swr2)",
        }
    }
}

/// `Sep_Freq` fill: NDBC writes 9.999 when it is missing.
const SEPARATION_FILL: f64 = 9.999;

/// Header of a spectral file.
#[derive(Debug)]
pub(crate) struct SpectralLayout {
    array: Array,
    time: TimeLayout,
    /// `.data_spec` has a `Sep_Freq` column before the pairs.
    separation: bool,
}

impl SpectralLayout {
    pub(crate) fn new(array: Array, tokens: &[&str], line: usize) -> Result<Self, ParseError> {
        if !tokens.iter().any(|t| array.signature().contains(t)) {
            return Err(ParseError::NoProductColumns {
                line,
                product: array.product(),
            });
        }
        let time = TimeLayout::leading(tokens, line)?;
        let separation = tokens.get(time.cols.len()) == Some(&"Sep_Freq");
        Ok(SpectralLayout {
            array,
            time,
            separation,
        })
    }

    /// Read one row; `size_hint` pre-sizes the arrays (the previous row's bin count).
    pub(crate) fn row(
        &self,
        line: &[u8],
        cache: &mut DateCache,
        size_hint: usize,
    ) -> Result<(NaiveDateTime, Spectrum), String> {
        let mut fields = Fields::new(line);
        let time = self.time.read(&mut fields, cache)?;
        let first = self.time.cols.len();
        let mut separation = None;
        if self.separation {
            let Some(f) = fields.next() else {
                return Err("row ends before Sep_Freq".to_owned());
            };
            separation = number_or_fill(f, Some(SEPARATION_FILL))
                .map_err(|e| field_error(e, first, "Sep_Freq", f))?;
        }
        let fill = self.array.fill();
        let mut freqs = Vec::with_capacity(size_hint);
        let mut values = Vec::with_capacity(size_hint);
        let mut pending: Option<Option<f64>> = None;
        for (at, f) in (first + usize::from(self.separation)..).zip(fields) {
            // A value and its frequency may be written together: `0.000(0.033)`.
            let (value_part, freq_part) = match f.iter().position(|&b| b == b'(') {
                Some(0) => (None, Some(f)),
                Some(i) => (Some(&f[..i]), Some(&f[i..])),
                None => (Some(f), None),
            };
            if let Some(v) = value_part {
                if pending.is_some() {
                    return Err(format!(
                        "field {}: value {:?} follows a value without its (frequency)",
                        at + 1,
                        String::from_utf8_lossy(v)
                    ));
                }
                pending =
                    Some(number_or_fill(v, fill).map_err(|e| field_error(e, at, "value", v))?);
            }
            if let Some(p) = freq_part {
                let Some(value) = pending.take() else {
                    return Err(format!("field {}: frequency without a value", at + 1));
                };
                let inner = p
                    .strip_prefix(b"(")
                    .and_then(|p| p.strip_suffix(b")"))
                    .ok_or_else(|| field_error(FieldFault::NotNumber, at, "(frequency)", p))?;
                let hz = crate::engine::parse_number(inner)
                    .map_err(|e| field_error(e, at, "(frequency)", p))?;
                freqs.push(hz);
                values.push(value);
            }
        }
        if pending.is_some() {
            return Err("row ends with a value without its (frequency)".to_owned());
        }
        let mut s = Spectrum {
            separation_freq_hz: separation,
            frequencies_hz: freqs,
            ..Spectrum::default()
        };
        let slot = match self.array {
            Array::Energy => &mut s.energy_density_m2_per_hz,
            Array::MeanDir => &mut s.mean_dir_deg,
            Array::PrincipalDir => &mut s.principal_dir_deg,
            Array::R1 => &mut s.r1,
            Array::R2 => &mut s.r2,
        };
        *slot = Some(values);
        Ok((time, s))
    }
}
