//! ADCP currents (`.adcp`): after the time columns, `DEPnn DIRnn SPDnn` triples, as many as the
//! row has (rows list only the bins with data, so the count varies from row to row and may be
//! below the header's). `MM` is `None`; a last, incomplete triple keeps what it has and the rest
//! is `None`. No other fill values are used by NDBC for this product.

use chrono::NaiveDateTime;

use crate::engine::{DateCache, Fields, TimeLayout, field_error, number_or_fill};
use crate::payload::{CurrentBin, Currents};
use crate::realtime::ParseError;

/// Header of an `.adcp` file.
#[derive(Debug)]
pub(crate) struct AdcpLayout {
    time: TimeLayout,
}

impl AdcpLayout {
    pub(crate) fn new(tokens: &[&str], line: usize) -> Result<Self, ParseError> {
        if !tokens.contains(&"DEP01") {
            return Err(ParseError::NoProductColumns {
                line,
                product: "ADCP currents (.adcp)",
            });
        }
        Ok(AdcpLayout {
            time: TimeLayout::leading(tokens, line)?,
        })
    }

    /// Read one row; `size_hint` pre-sizes the bins (the previous row's count).
    pub(crate) fn row(
        &self,
        line: &[u8],
        cache: &mut DateCache,
        size_hint: usize,
    ) -> Result<(NaiveDateTime, Currents), String> {
        const NAMES: [&str; 3] = ["DEP", "DIR", "SPD"];
        let mut fields = Fields::new(line);
        let time = self.time.read(&mut fields, cache)?;
        let mut bins = Vec::with_capacity(size_hint);
        let mut triple = [None; 3];
        let mut k = 0usize;
        for (index, f) in (self.time.cols.len()..).zip(fields) {
            triple[k] = number_or_fill(f, None).map_err(|e| field_error(e, index, NAMES[k], f))?;
            k += 1;
            if k == 3 {
                bins.push(bin(triple));
                triple = [None; 3];
                k = 0;
            }
        }
        if k > 0 {
            bins.push(bin(triple));
        }
        Ok((time, Currents { bins }))
    }
}

fn bin([depth_m, dir_deg, speed_cm_per_s]: [Option<f64>; 3]) -> CurrentBin {
    CurrentBin {
        depth_m,
        dir_deg,
        speed_cm_per_s,
    }
}
