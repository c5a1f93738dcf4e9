//! Checks shared by the fuzz targets: what must hold for any output of the NDBC parsers.

use ndbc::{Entry, Parsed, Payload, Product};

/// Every skipped row's line number lies within the input.
pub fn check_lines<T>(data: &[u8], parsed: &Parsed<T>) {
    let lines = data.split(|&b| b == b'\n').count();
    for err in &parsed.skipped {
        assert!(
            err.line >= 1 && err.line <= lines,
            "row error line out of range"
        );
    }
}

/// Every number of a payload is finite, and arrays of a spectrum match its frequencies.
pub fn check_entry(e: &Entry) {
    fn finite(v: impl IntoIterator<Item = Option<f64>>) {
        for x in v.into_iter().flatten() {
            assert!(x.is_finite(), "non-finite value");
        }
    }
    match &e.payload {
        Payload::Spectrum(s) => {
            finite(s.frequencies_hz.iter().copied().map(Some));
            finite([s.separation_freq_hz]);
            for a in [
                &s.energy_density_m2_per_hz,
                &s.mean_dir_deg,
                &s.principal_dir_deg,
                &s.r1,
                &s.r2,
            ]
            .into_iter()
            .flatten()
            {
                assert_eq!(
                    a.len(),
                    s.frequencies_hz.len(),
                    "array not aligned on frequencies"
                );
                finite(a.iter().copied());
            }
        }
        Payload::Currents(c) => {
            for b in &c.bins {
                finite([b.depth_m, b.dir_deg, b.speed_cm_per_s]);
            }
        }
        _ => {}
    }
}

/// Parse `data` as `product`: never panics, and the output is self-consistent.
pub fn check_product(product: Product, data: &[u8]) {
    if let Ok(parsed) = ndbc::parse_product(product, data) {
        check_lines(data, &parsed);
        for e in &parsed.records {
            assert_eq!(e.payload.kind(), product.kind(), "payload of another kind");
            check_entry(e);
        }
        let n = parsed.records.len();
        let joined = ndbc::join_spectra(parsed.records);
        assert!(joined.len() <= n, "joining made entries");
        for w in joined.windows(2) {
            assert!(w[0].time <= w[1].time, "joined entries not sorted");
        }
        for e in &joined {
            check_entry(e);
        }
    }
}
