//! IMU benches: preintegrating one camera-frame interval, the
//! visual-inertial initialisation solve, and the sliding-window solve the
//! IMU motion prior runs once per tracked frame.

#[path = "../tests/imu_support/mod.rs"]
mod imu_support;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use imu_support::Trajectory;
use nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector3};
use scenemap::imu::{
    initialize_inertial, ImuBias, ImuBuffer, ImuConfig, InertialInitOptions, Preintegrated,
    SlidingWindow, VisualKeyframe, WindowOptions,
};
use scenemap::Timestamp;

fn bench_preintegration(c: &mut Criterion) {
    let traj = Trajectory::default();
    let config = ImuConfig::default();
    let mut buffer = ImuBuffer::new(&config);
    for s in traj.samples(0.0, 1.0, 200.0, Vector3::zeros(), Vector3::zeros()) {
        let _ = buffer.push(s);
    }
    // One 30 Hz frame interval: 6-7 raw samples plus two interpolated ends.
    let (t0, t1) = (
        Timestamp::from_secs_f64(0.5012),
        Timestamp::from_secs_f64(0.5345),
    );
    let interval = match buffer.interval(t0, t1) {
        Ok(i) => i,
        Err(e) => panic!("{e}"),
    };
    println!("frame interval: {} samples", interval.samples.len());
    c.bench_function("imu/interval_cut_30hz_frame", |b| {
        b.iter(|| buffer.interval(black_box(t0), black_box(t1)))
    });
    c.bench_function("imu/preintegrate_30hz_frame", |b| {
        b.iter(|| {
            Preintegrated::from_interval(black_box(&interval), ImuBias::default(), config.noise)
        })
    });
}

fn bench_initialisation(c: &mut Criterion) {
    let traj = Trajectory::default();
    let config = ImuConfig::default();
    let mut buffer = ImuBuffer::new(&config);
    let bg = Vector3::new(0.01, 0.01, 0.01);
    for s in traj.samples(0.0, 3.1, 200.0, bg, Vector3::new(0.05, -0.05, 0.1)) {
        let _ = buffer.push(s);
    }
    let keyframes: Vec<VisualKeyframe> = (0..30)
        .map(|k| {
            let t = 0.0137 + 0.1 * k as f64;
            VisualKeyframe {
                timestamp: Timestamp::from_secs_f64(t),
                world_from_imu: Isometry3::from_parts(
                    Translation3::from(traj.position(t)),
                    UnitQuaternion::from_rotation_matrix(&traj.rotation(t)),
                ),
            }
        })
        .collect();
    let preintegrated: Vec<Preintegrated> = keyframes
        .windows(2)
        .filter_map(|w| buffer.interval(w[0].timestamp, w[1].timestamp).ok())
        .filter_map(|i| Preintegrated::from_interval(&i, ImuBias::default(), config.noise).ok())
        .collect();
    let options = InertialInitOptions::default();
    c.bench_function("imu/inertial_init_30_keyframes", |b| {
        b.iter(|| initialize_inertial(black_box(&keyframes), black_box(&preintegrated), &options))
    });
}

/// One solve of a full window (30 frames at 30 Hz, 98 unknowns, 3
/// Gauss–Newton iterations): the per-frame cost of the window in the
/// pipeline's `imu_ms`.
fn bench_window(c: &mut Criterion) {
    let traj = Trajectory::default();
    let config = ImuConfig::default();
    let mut buffer = ImuBuffer::new(&config);
    let bg = Vector3::new(0.01, -0.02, 0.01);
    for s in traj.samples(0.0, 1.5, 200.0, bg, Vector3::new(0.05, -0.05, 0.1)) {
        let _ = buffer.push(s);
    }
    let options = WindowOptions::default();
    let mut window = SlidingWindow::new(options, ImuBias::default());
    let time = |k: usize| Timestamp::from_secs_f64(0.0137 + k as f64 / 30.0);
    for k in 0..options.max_frames {
        let t = time(k).as_secs_f64();
        let world_from_imu = Isometry3::from_parts(
            Translation3::from(traj.position(t)),
            UnitQuaternion::from_rotation_matrix(&traj.rotation(t)),
        );
        let pre = (k > 0)
            .then(|| buffer.interval(time(k - 1), time(k)).ok())
            .flatten()
            .and_then(|i| Preintegrated::from_interval(&i, ImuBias::default(), config.noise).ok());
        if let Err(e) = window.push(time(k), world_from_imu, pre) {
            panic!("{e}");
        }
    }
    if let Err(e) = window.solve() {
        panic!("{e}");
    }
    c.bench_function("imu/window_solve_30_frames", |b| {
        b.iter(|| black_box(&mut window.clone()).solve())
    });
}

criterion_group!(
    benches,
    bench_preintegration,
    bench_initialisation,
    bench_window
);
criterion_main!(benches);
