//! `parse_product`: one entry point for every NDBC realtime2 product, dispatching to the stdmet
//! parser, the fixed-column tables ([`fixed`]), the spectral files ([`spectral`]) or ADCP
//! ([`adcp`]), all built on the shared engine.

mod adcp;
mod fixed;
mod spectral;

use crate::engine::{DateCache, Row, Table, parse_lines};
use crate::kind::Product;
use crate::payload::{Entry, Payload};
use crate::realtime::{ParseError, Parsed, parse_stdmet};
use spectral::{Array, SpectralLayout};

/// Parse a whole file of one product into entries, in file order (realtime2: newest first).
///
/// Returns `Err` only when the file as a whole is unusable (empty, binary, no header, or a
/// header of another product); each unreadable row is in [`Parsed::skipped`] with its reason.
/// Never panics. Spectral files give [`Payload::Spectrum`] with only that file's array set;
/// join them with [`join_spectra`](crate::join_spectra).
pub fn parse_product(product: Product, bytes: &[u8]) -> Result<Parsed<Entry>, ParseError> {
    match product {
        Product::Stdmet => parse_stdmet(bytes, |r| Entry {
            time: r.time,
            payload: Payload::Observation(r),
        }),
        Product::Spec => table(&fixed::SPEC, fixed::wave_summary, bytes),
        Product::Ocean => table(&fixed::OCEAN, fixed::ocean, bytes),
        Product::Cwind => table(&fixed::CWIND, fixed::continuous_wind, bytes),
        Product::Dart => table(&fixed::DART, fixed::tsunami, bytes),
        Product::Supl => table(&fixed::SUPL, fixed::supplemental, bytes),
        Product::Srad => table(&fixed::SRAD, fixed::solar_radiation, bytes),
        Product::Rain => table(&fixed::RAIN, fixed::rain, bytes),
        Product::Drift => table(&fixed::DRIFT, fixed::drift, bytes),
        Product::Dmv => table(&fixed::DMV, fixed::derived, bytes),
        Product::DataSpec => spectral(Array::Energy, bytes),
        Product::Swdir => spectral(Array::MeanDir, bytes),
        Product::Swdir2 => spectral(Array::PrincipalDir, bytes),
        Product::Swr1 => spectral(Array::R1, bytes),
        Product::Swr2 => spectral(Array::R2, bytes),
        Product::Adcp => {
            let mut cache = DateCache::default();
            let mut hint = 0usize;
            parse_lines(bytes, adcp::AdcpLayout::new, |layout, line, _| {
                let (time, c) = layout.row(line, &mut cache, hint)?;
                hint = c.bins.len();
                Ok(Entry {
                    time,
                    payload: Payload::Currents(c),
                })
            })
        }
    }
}

/// Parse one of the five spectral files.
fn spectral(array: Array, bytes: &[u8]) -> Result<Parsed<Entry>, ParseError> {
    let mut cache = DateCache::default();
    let mut hint = 0usize;
    parse_lines(
        bytes,
        |tokens, line| SpectralLayout::new(array, tokens, line),
        |layout, line, _| {
            let (time, s) = layout.row(line, &mut cache, hint)?;
            hint = s.frequencies_hz.len();
            Ok(Entry {
                time,
                payload: Payload::Spectrum(s),
            })
        },
    )
}

/// Parse a fixed-column product with its table and builder.
fn table(
    table: &'static Table,
    build: impl Fn(&Row<'_>) -> Payload,
    bytes: &[u8],
) -> Result<Parsed<Entry>, ParseError> {
    let mut cache = DateCache::default();
    let mut row = Row::default();
    parse_lines(
        bytes,
        |tokens, line| table.layout(tokens, line),
        |layout, line, _| {
            layout.row(line, &mut cache, &mut row)?;
            Ok(Entry {
                time: row.time,
                payload: build(&row),
            })
        },
    )
}
