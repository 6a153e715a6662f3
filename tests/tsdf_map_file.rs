//! Map files: bit-identical round trip and typed errors on bad input.

mod tsdf_common;

use nalgebra::Point3;
use scenemap::tsdf::{TsdfConfig, TsdfIntegrator, TsdfVolume, MAP_FORMAT_VERSION};
use scenemap::Error;
use tsdf_common::{render, small_camera, views_around, Shape};

fn small_map() -> TsdfVolume {
    let camera = small_camera(48, 36);
    let config = TsdfConfig::for_voxel_size_m(0.04).with_max_weight(20);
    let mut volume = TsdfVolume::new(config).unwrap();
    let mut integrator = TsdfIntegrator::new();
    let shape = Shape::Sphere(Point3::new(0.0, 0.0, 0.0), 0.25);
    for pose in views_around(Point3::origin(), 1.0, 4) {
        let frame = render(&[shape], &camera, &pose);
        integrator
            .integrate(&mut volume, &frame, &camera, &pose)
            .unwrap();
    }
    volume
}

fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("scenemap-tsdf-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn save_load_is_bit_identical() {
    let volume = small_map();
    assert!(volume.block_count() > 10);
    let path = temp_path("round_trip.tsdf");
    volume.save(&path).unwrap();
    let loaded = TsdfVolume::load(&path).unwrap();
    assert_eq!(loaded.config(), volume.config());
    assert_eq!(loaded.block_indices(), volume.block_indices());
    for index in volume.block_indices() {
        assert_eq!(
            loaded.block(&index),
            volume.block(&index),
            "block {index:?}"
        );
    }
    // Every loaded block is dirty (the mesher must see them).
    assert_eq!(loaded.dirty_block_count(), loaded.block_count());
    let path2 = temp_path("round_trip_2.tsdf");
    loaded.save(&path2).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&path2).unwrap()
    );
}

fn expect_format_error(bytes: &[u8], what: &str) -> String {
    let path = std::path::Path::new("maps/broken.tsdf");
    match TsdfVolume::from_map_bytes(bytes, path) {
        Err(e @ Error::Format { .. }) => {
            let message = e.to_string();
            assert!(message.starts_with("maps/broken.tsdf: "), "{message}");
            message
        }
        Err(other) => panic!("{what}: expected Error::Format, got {other:?}"),
        Ok(_) => panic!("{what}: corrupt map was accepted"),
    }
}

#[test]
fn truncated_files_are_format_errors() {
    let bytes = small_map().to_map_bytes();
    let n = bytes.len();
    // Every length through the header and first two blocks, and the tail.
    for len in (0..(48 + 2 * 3596).min(n)).chain(n.saturating_sub(600)..n) {
        expect_format_error(&bytes[..len], &format!("truncated to {len}"));
    }
    let mut longer = bytes.clone();
    longer.push(0);
    expect_format_error(&longer, "trailing byte");
}

#[test]
fn flipped_bytes_are_format_errors() {
    let bytes = small_map().to_map_bytes();
    let mut seed = 7_u64;
    for k in 0..400 {
        let pos = if k < 48 {
            k
        } else {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            (seed >> 20) as usize % bytes.len()
        };
        for bit in [0x01_u8, 0x80] {
            let mut bad = bytes.clone();
            bad[pos] ^= bit;
            expect_format_error(&bad, &format!("byte {pos} ^ {bit:#x}"));
        }
    }
}

#[test]
fn wrong_magic_and_version_are_named() {
    let bytes = small_map().to_map_bytes();
    let mut bad = bytes.clone();
    bad[..8].copy_from_slice(b"PLYPLY\0\0");
    assert!(expect_format_error(&bad, "magic").contains("not a scenemap TSDF map"));
    let mut bad = bytes.clone();
    bad[8..12].copy_from_slice(&(MAP_FORMAT_VERSION + 1).to_le_bytes());
    let message = expect_format_error(&bad, "version");
    assert!(message.contains("version 2"), "{message}");
    // Missing file: an I/O error naming the file.
    let err = TsdfVolume::load("/nonexistent/map.tsdf").unwrap_err();
    assert!(matches!(err, Error::Io { .. }) && err.to_string().contains("/nonexistent/map.tsdf"));
}

#[test]
fn empty_map_round_trips() {
    let volume = TsdfVolume::new(TsdfConfig::for_voxel_size_m(0.05)).unwrap();
    let bytes = volume.to_map_bytes();
    let loaded = TsdfVolume::from_map_bytes(&bytes, std::path::Path::new("<memory>")).unwrap();
    assert_eq!(loaded.block_count(), 0);
    assert_eq!(loaded.to_map_bytes(), bytes);
}
