//! Fuzz target: TUM text parsers (image lists, trajectories, accelerometer).
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run tum_text fuzz/corpus/tum_text`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| scenemap_fuzz::tum_text(data));
