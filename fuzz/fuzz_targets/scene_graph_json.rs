//! Fuzz target: scene_graph_json.
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run scene_graph_json fuzz/corpus/scene_graph_json`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| scenemap_fuzz::scene_graph_json(data));
