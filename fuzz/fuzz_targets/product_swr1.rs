//! Fuzz target: `ndbc::parse_product(Product::Swr1, ..)` (`.swr1` files) must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ndbc_fuzz::check_product(ndbc::Product::Swr1, data));
