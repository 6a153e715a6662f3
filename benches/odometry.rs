//! Benchmarks of the RGB-D odometry on a real 640×480 TUM fr1_desk pair:
//! `cargo bench --bench odometry`.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use nalgebra::Isometry3;
use scenemap::odometry::{OdometryConfig, RgbdOdometry};
use scenemap::{PinholeCamera, RgbdFrame, Timestamp};

fn data_dir() -> PathBuf {
    match std::env::var_os("SCENEMAP_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
    }
    .join("tum/fr1_desk_9f")
}

/// Loads colour/depth pair `index` of fr1_desk_9f (paired by index).
fn load(index: usize) -> Option<RgbdFrame> {
    let dir = data_dir();
    let list = |name: &str| -> Option<String> {
        let text = std::fs::read_to_string(dir.join(name)).ok()?;
        let line = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .nth(index)?;
        Some(line.split_whitespace().nth(1)?.to_string())
    };
    let rgb = image::open(dir.join(list("rgb.txt")?)).ok()?.into_rgb8();
    let depth = image::open(dir.join(list("depth.txt")?)).ok()?;
    let depth = depth.as_luma16()?;
    let (w, h) = rgb.dimensions();
    RgbdFrame::new(
        Timestamp(index as i64),
        w,
        h,
        rgb.pixels().map(|p| p.0).collect(),
        depth.pixels().map(|p| f32::from(p.0[0]) / 5000.0).collect(),
    )
    .ok()
}

fn bench_odometry(c: &mut Criterion) {
    let (Some(a), Some(b)) = (load(0), load(1)) else {
        eprintln!(
            "fr1_desk_9f not found under {}: skipping",
            data_dir().display()
        );
        return;
    };
    let camera = PinholeCamera::tum_freiburg1();
    let variants = [
        (
            "default (levels 3..1, level 1 dense)",
            OdometryConfig::default(),
        ),
        (
            "levels 3..0, every other pixel at level 0",
            OdometryConfig {
                finest_level: 0,
                finest_level_stride: 2,
                ..OdometryConfig::default()
            },
        ),
        (
            "levels 3..0, level 0 dense",
            OdometryConfig {
                finest_level: 0,
                finest_level_stride: 1,
                ..OdometryConfig::default()
            },
        ),
    ];
    let odometry = RgbdOdometry::new(&camera, OdometryConfig::default()).unwrap();
    c.bench_function("odometry/prepare (undistort + pyramid) 640x480", |bench| {
        bench.iter(|| odometry.prepare(&b).unwrap())
    });
    for (name, config) in variants {
        let odometry = RgbdOdometry::new(&camera, config).unwrap();
        let reference = odometry.prepare(&a).unwrap();
        let current = odometry.prepare(&b).unwrap();
        c.bench_function(&format!("odometry/track {name}"), |bench| {
            bench.iter(|| {
                odometry
                    .track(&reference, &current, &Isometry3::identity())
                    .unwrap()
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench_odometry
}
criterion_main!(benches);
