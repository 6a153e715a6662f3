//! Gravity initialisation and the roll/pitch tracker on synthetic data.

#[path = "imu_support/mod.rs"]
mod imu_support;

use imu_support::{angle_deg, gravity, SplitMix64, Trajectory};
use nalgebra::{Rotation3, Unit, Vector3};
use scenemap::imu::{initial_gravity, world_from_imu_from_gravity, AttitudeFilter, StaticDetector};
use scenemap::{ImuSample, Timestamp};

#[test]
fn gravity_alignment_maps_gravity_down_with_zero_yaw() {
    for g in [
        Vector3::new(0.1, -0.3, -0.9),
        Vector3::new(0.0, 0.0, 1.0),
        Vector3::new(0.7, 0.7, 0.1),
        Vector3::new(0.0, 0.0, -1.0),
    ] {
        let r = world_from_imu_from_gravity(&Unit::new_normalize(g));
        assert!(
            (r * g.normalize() - Vector3::new(0.0, 0.0, -1.0)).norm() < 1e-12,
            "{g:?}"
        );
        let (_, pitch, yaw) = r.euler_angles();
        if pitch.abs() < 1.5 {
            assert!(yaw.abs() < 1e-12, "{g:?}: yaw {yaw}");
        }
    }
}

/// A still IMU for 2 s (tilted, noisy, with a gyro), then rotating.
fn still_then_moving(rng: &mut SplitMix64, with_gyro: bool) -> (Vec<ImuSample>, Rotation3<f64>) {
    let world_from_imu = Rotation3::from_euler_angles(0.4, -0.3, 2.0);
    let f_still = world_from_imu.inverse() * -gravity();
    let mut samples = Vec::new();
    for k in 0..800 {
        let t = Timestamp::from_nanos(k * 5_000_000);
        let moving = k >= 400;
        let f = if moving {
            f_still + Vector3::new((k as f64 * 0.1).sin() * 3.0, 0.0, 1.0)
        } else {
            f_still
        } + rng.normal3() * 0.05;
        let w = if moving {
            Vector3::new(0.5, 0.2, 0.0)
        } else {
            Vector3::zeros()
        } + rng.normal3() * 0.003;
        samples.push(if with_gyro {
            ImuSample::new(t, w, f)
        } else {
            ImuSample::accel_only(t, f)
        });
    }
    (samples, world_from_imu)
}

#[test]
fn static_start_gives_gravity_direction() {
    let mut rng = SplitMix64::new(7);
    for with_gyro in [true, false] {
        let (samples, world_from_imu) = still_then_moving(&mut rng, with_gyro);
        let (window, r) = initial_gravity(&samples, &StaticDetector::default()).unwrap();
        assert_eq!(window.start, samples[0].timestamp);
        let g_imu_true = world_from_imu.inverse() * gravity();
        let err = angle_deg(&window.gravity_direction_imu(), &g_imu_true);
        println!("static start (gyro: {with_gyro}): gravity direction error {err:.4}°");
        assert!(err < 0.1);
        // Estimated attitude agrees with the truth up to yaw: same roll/pitch.
        let up_true = world_from_imu.inverse() * Vector3::z();
        let up_est = r.inverse() * Vector3::z();
        assert!(angle_deg(&up_true, &up_est) < 0.1);
    }
    // Moving-only data has no static window: a typed error.
    let (samples, _) = still_then_moving(&mut rng, true);
    assert!(initial_gravity(&samples[400..], &StaticDetector::default()).is_err());
}

#[test]
fn attitude_filter_tracks_roll_and_pitch() {
    // Nearly pure rotation (accelerations ≤ 0.12 m/s²), with a gyro bias the
    // filter does not know: the accelerometer correction must bound the drift
    // (steady-state tilt error ≈ |b_g| τ = 0.01 rad · 1 s ≈ 0.6°).
    let traj = Trajectory {
        rotation_scale: 1.0,
        position_scale: 0.05,
    };
    let bias = Vector3::new(0.01, -0.01, 0.005);
    let samples = traj.samples(0.0, 20.0, 200.0, bias, Vector3::zeros());
    let mut with_gyro = AttitudeFilter::new(1.0).unwrap();
    let mut gyro_only = AttitudeFilter::new(1e9).unwrap();
    let mut accel_only = AttitudeFilter::new(0.05).unwrap();
    let (mut worst_gyro, mut worst_acc, mut worst_dead) = (0.0f64, 0.0f64, 0.0f64);
    let tilt = |f: &AttitudeFilter, t: f64| {
        let up_true = traj.rotation(t).inverse() * Vector3::z();
        angle_deg(&-f.gravity_direction_imu().into_inner(), &up_true)
    };
    for s in &samples {
        with_gyro.update(s).unwrap();
        gyro_only.update(s).unwrap();
        accel_only
            .update(&ImuSample::accel_only(s.timestamp, s.accel_m_s2.unwrap()))
            .unwrap();
        let t = s.timestamp.as_secs_f64();
        if t > 5.0 {
            worst_gyro = worst_gyro.max(tilt(&with_gyro, t));
            worst_acc = worst_acc.max(tilt(&accel_only, t));
            worst_dead = worst_dead.max(tilt(&gyro_only, t));
        }
    }
    println!(
        "attitude filter worst tilt error (5-20 s, gyro bias 0.015 rad/s): complementary {worst_gyro:.2}°, accel-only (τ = 0.05 s, lag) {worst_acc:.2}°, gyro-only dead reckoning {worst_dead:.2}°"
    );
    assert!(worst_gyro < 1.5);
    assert!(worst_acc < 6.0);
    assert!(worst_dead > 3.0 * worst_gyro);
    assert!(with_gyro.update(&samples[0]).is_err());
}
