//! Fuzz target: `ndbc::parse_realtime` must never panic, and its output must be self-consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = ndbc::parse_realtime(data) {
        let lines = data.split(|&b| b == b'\n').count();
        for err in &parsed.skipped {
            assert!(
                err.line >= 1 && err.line <= lines,
                "row error line out of range"
            );
        }
        for rec in &parsed.records {
            for v in [
                rec.wind_dir_deg,
                rec.wind_speed_mps,
                rec.gust_mps,
                rec.wave_height_m,
                rec.dominant_wave_period_s,
                rec.average_wave_period_s,
                rec.mean_wave_dir_deg,
                rec.pressure_hpa,
                rec.air_temp_c,
                rec.water_temp_c,
                rec.dew_point_c,
                rec.visibility_nmi,
                rec.pressure_tendency_hpa,
                rec.tide_ft,
            ]
            .into_iter()
            .flatten()
            {
                assert!(v.is_finite(), "non-finite value in a record");
            }
        }
    }
});
