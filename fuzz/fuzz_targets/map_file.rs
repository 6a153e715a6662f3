//! Fuzz target: map_file.
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run map_file fuzz/corpus/map_file`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| scenemap_fuzz::map_file(data));
