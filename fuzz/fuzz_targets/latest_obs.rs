//! Fuzz target: `ndbc::parse_latest_obs` must never panic, and its output must be self-consistent.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = ndbc::parse_latest_obs(data) {
        ndbc_fuzz::check_lines(data, &parsed);
        for o in &parsed.records {
            assert!(o.latitude.is_finite() && o.longitude.is_finite());
            assert!(!o.station.is_empty());
        }
    }
});
