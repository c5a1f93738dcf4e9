//! Fuzz target: `ndbc::parse_product(Product::Swdir2, ..)` (`.swdir2` files) must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ndbc_fuzz::check_product(ndbc::Product::Swdir2, data));
