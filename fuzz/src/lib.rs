//! Fuzz entry points shared by the cargo-fuzz targets (`fuzz_targets/`) and
//! the stable corpus replay test (`tests/fuzz_corpus.rs` includes this file).
//!
//! Each function feeds arbitrary bytes to the public parsers and decoders of
//! scenemap. Errors are fine; a panic, or an `Ok` that breaks the documented
//! invariants (checked with `assert!` here, in harness code only), is a bug.

use std::path::Path;

use scenemap::io::{format_tum_trajectory, parse_tum_trajectory};
use scenemap::sensor::image_io::{decode_color, decode_depth_png, MAX_IMAGE_SIDE, TUM_DEPTH_SCALE};
use scenemap::sensor::tum::{parse_accelerometer, parse_file_list};

/// Image lists, trajectories and accelerometer text.
pub fn tum_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = Path::new("<fuzz>");
    if let Ok(entries) = parse_file_list(&text, path) {
        assert!(entries
            .windows(2)
            .all(|w| w[0].timestamp < w[1].timestamp && w[0].line < w[1].line));
        let printed: String = entries
            .iter()
            .map(|e| format!("{} {}\n", e.timestamp, e.file))
            .collect();
        let again = parse_file_list(&printed, path).map(|v| v.len());
        assert_eq!(
            again.ok(),
            Some(entries.len()),
            "file list does not round-trip"
        );
    }
    if let Ok(poses) = parse_tum_trajectory(&text, path) {
        assert!(poses.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
        let again = parse_tum_trajectory(&format_tum_trajectory(&poses), path).map(|v| v.len());
        assert_eq!(
            again.ok(),
            Some(poses.len()),
            "trajectory does not round-trip"
        );
    }
    if let Ok(samples) = parse_accelerometer(&text, path) {
        assert!(samples.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
        assert!(samples.iter().all(|s| s
            .accel_m_s2
            .is_some_and(|a| a.iter().all(|v| v.is_finite()))));
    }
}

/// Depth PNG and colour PNG/JPEG decoding.
pub fn depth_png(data: &[u8]) {
    let path = Path::new("<fuzz>");
    if let Ok(depth) = decode_depth_png(data, path, TUM_DEPTH_SCALE) {
        assert!(depth.width <= MAX_IMAGE_SIDE && depth.height <= MAX_IMAGE_SIDE);
        assert_eq!(
            depth.depth_m.len(),
            depth.width as usize * depth.height as usize
        );
        let max_m = f32::from(u16::MAX) / TUM_DEPTH_SCALE;
        assert!(depth.depth_m.iter().all(|&d| (0.0..=max_m).contains(&d)));
    }
    if let Ok(color) = decode_color(data, path) {
        assert!(color.width <= MAX_IMAGE_SIDE && color.height <= MAX_IMAGE_SIDE);
        assert_eq!(
            color.pixels.len(),
            color.width as usize * color.height as usize
        );
    }
}

/// Map file loading (`TsdfVolume::from_map_bytes`): a loaded map re-saves to
/// bytes that load again to the same map.
///
/// Most mutations break the trailing FNV-1a checksum and stop at it, so each
/// input is also loaded with its checksum re-stamped: that copy reaches the
/// header and block validation behind the checksum.
pub fn map_file(data: &[u8]) {
    map_file_as_is(data);
    if data.len() >= 8 {
        let body = data.len() - 8;
        let mut restamped = data.to_vec();
        restamped[body..].copy_from_slice(&fnv1a_64(&data[..body]).to_le_bytes());
        map_file_as_is(&restamped);
    }
}

/// FNV-1a, 64 bit: the map file's checksum (`src/tsdf/map_file.rs`),
/// re-implemented so the harness does not depend on a private function.
fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn map_file_as_is(data: &[u8]) {
    let path = Path::new("<fuzz>");
    if let Ok(volume) = scenemap::tsdf::TsdfVolume::from_map_bytes(data, path) {
        let bytes = volume.to_map_bytes();
        let again =
            scenemap::tsdf::TsdfVolume::from_map_bytes(&bytes, path).map(|v| v.to_map_bytes());
        assert_eq!(again.ok(), Some(bytes), "map file does not round-trip");
    }
}

/// Scene-graph JSON import: an accepted graph re-exports and re-imports.
pub fn scene_graph_json(data: &[u8]) {
    let path = Path::new("<fuzz>");
    let text = String::from_utf8_lossy(data);
    if let Ok(graph) = scenemap::scene_graph::SceneGraph::from_json(&text, path) {
        let json = graph.to_json().ok();
        let again = json
            .as_deref()
            .and_then(|j| scenemap::scene_graph::SceneGraph::from_json(j, path).ok());
        assert_eq!(
            again.map(|g| g.objects().count()),
            Some(graph.objects().count()),
            "scene graph does not round-trip"
        );
    }
}

/// Configuration parsing (`Config::from_toml_str`): an accepted config is
/// valid, re-serialises to TOML that parses back to the same config, and
/// builds a `Pipeline` (no panic for any validated value).
pub fn config_toml(data: &[u8]) {
    use scenemap::config::Config;
    let text = String::from_utf8_lossy(data);
    if let Ok(config) = Config::from_toml_str(&text) {
        assert!(
            config.validate().is_ok(),
            "accepted config does not validate"
        );
        let toml = config.to_toml_string();
        let again = toml.as_deref().ok().map(Config::from_toml_str);
        assert!(
            matches!(&again, Some(Ok(c)) if *c == config),
            "config does not round-trip: {again:?}"
        );
        let camera = scenemap::geometry::PinholeCamera::new(64, 48, 50.0, 50.0, 31.5, 23.5);
        if let Ok(camera) = camera {
            // Errors are fine (e.g. a camera too small for the pyramid).
            let _ = scenemap::pipeline::Pipeline::new(config, camera);
        }
    }
}
