//! Fuzz target: depth (16-bit PNG) and colour (PNG/JPEG) decoding.
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run depth_png fuzz/corpus/depth_png`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| scenemap_fuzz::depth_png(data));
