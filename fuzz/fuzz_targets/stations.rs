//! Fuzz target: `ndbc::parse_active_stations` must never panic, and returned stations must be valid.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(stations) = ndbc::parse_active_stations(data) {
        for s in &stations {
            assert!(!s.id.is_empty(), "empty station id");
            assert!(
                s.id.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
                "id not upper-case alphanumeric"
            );
            assert!(s.latitude.is_finite() && s.latitude.abs() <= 90.0);
            assert!(s.longitude.is_finite() && s.longitude.abs() <= 180.0);
        }
    }
});
