//! Fuzz target: `ndbc::parse_product(Product::Dmv, ..)` (`.dmv` files) must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ndbc_fuzz::check_product(ndbc::Product::Dmv, data));
