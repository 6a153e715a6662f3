//! Fuzz target: config_toml.
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run config_toml fuzz/corpus/config_toml`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| scenemap_fuzz::config_toml(data));
