//! Unit tests of the mount self-calibration on synthetic trajectories with
//! a known mounting rotation and a known (tilted) world up.
use super::*;
use crate::imu::kinect::camera_from_kinect_accel;
use nalgebra::{Isometry3, Translation3, UnitQuaternion};

const G: f64 = 9.80665;

/// Deterministic standard-normal-ish noise (sum of 4 uniforms, scaled).
struct Noise(u64);
impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        ((0..4).map(|_| self.uniform()).sum::<f64>() - 2.0) * 3.0f64.sqrt()
    }
}

/// The mounting rotation to recover: 4° off the Kinect convention.
fn true_camera_from_accel() -> Rotation3<f64> {
    Rotation3::from_axis_angle(
        &Unit::new_normalize(Vector3::new(1.0, 2.0, -1.0)),
        4f64.to_radians(),
    ) * camera_from_kinect_accel()
}

fn true_up_world() -> Unit<Vector3<f64>> {
    Unit::new_normalize(Vector3::new(0.03, -0.02, 1.0))
}

/// Camera looking roughly horizontally; `rotation_vector(t)` (world frame)
/// applied on top.
fn orientation(rotation_vector: Vector3<f64>) -> Rotation3<f64> {
    let level = Rotation3::from_matrix_unchecked(nalgebra::Matrix3::new(
        1.0, 0.0, 0.0, //
        0.0, 0.0, 1.0, //
        0.0, -1.0, 0.0,
    ));
    so3::exp(&rotation_vector) * level
}

/// Poses at 30 Hz and accelerometer samples at 500 Hz over 20 s.
fn simulate(
    rotation_vector: impl Fn(f64) -> Vector3<f64>,
    accel_noise_m_s2: f64,
) -> (Vec<StampedPose>, Vec<ImuSample>) {
    let camera_from_accel = true_camera_from_accel();
    let up = true_up_world().into_inner();
    let poses = (0..600)
        .map(|k| {
            let t = k as f64 / 30.0;
            let rotation = UnitQuaternion::from_rotation_matrix(&orientation(rotation_vector(t)));
            StampedPose::new(
                Timestamp::from_secs_f64(t),
                Isometry3::from_parts(Translation3::identity(), rotation),
            )
        })
        .collect();
    let mut noise = Noise(7);
    let samples = (0..10_000)
        .map(|k| {
            let t = k as f64 / 500.0;
            let world_from_camera = orientation(rotation_vector(t));
            let f = (world_from_camera * camera_from_accel).inverse() * up * G;
            let n = Vector3::from_fn(|_, _| noise.normal() * accel_noise_m_s2);
            ImuSample::accel_only(Timestamp::from_secs_f64(t), f + n)
        })
        .collect();
    (poses, samples)
}

/// Slow roll, pitch and yaw (about ±20°, < 0.5 rad/s).
fn roll_pitch_yaw(t: f64) -> Vector3<f64> {
    Vector3::new(
        0.35 * (1.1 * t).sin(),
        0.3 * (0.7 * t + 1.0).sin(),
        0.5 * (0.5 * t + 2.0).sin(),
    )
}

fn error_deg(estimate: &MountCalibration) -> (f64, f64) {
    let rotation = so3::log(&(estimate.camera_from_accel * true_camera_from_accel().inverse()))
        .norm()
        .to_degrees();
    (
        rotation,
        estimate.up_segments[0]
            .up_world
            .angle(&true_up_world())
            .to_degrees(),
    )
}

#[test]
fn recovers_a_4_degree_mount_error_noise_free() {
    let (poses, samples) = simulate(roll_pitch_yaw, 0.0);
    let options = MountCalibrationOptions::default();
    let estimate =
        calibrate_mount_rotation(&poses, &samples, &camera_from_kinect_accel(), &options).unwrap();
    let (rotation_deg, up_deg) = error_deg(&estimate);
    assert!(rotation_deg < 0.1, "rotation error {rotation_deg}°");
    assert!(up_deg < 0.1, "up error {up_deg}°");
    assert!((estimate.correction_deg - 4.0).abs() < 0.1);
    // Not exactly 0: the 0.1-s accelerometer mean of a turning camera is
    // not the value at the frame time.
    assert!(
        estimate.residual_rms_deg < 0.05,
        "{}",
        estimate.residual_rms_deg
    );
    assert!(
        estimate.observations_used > 500,
        "{}",
        estimate.observations_used
    );
    assert!(estimate.excitation_deg > 3.0);
}

#[test]
fn recovers_a_4_degree_mount_error_with_kinect_like_noise() {
    // 1 m/s² per sample at 500 Hz, i.e. ≈ 0.3 m/s² (≈ 1.8°) per 0.1-s window.
    let (poses, samples) = simulate(roll_pitch_yaw, 1.0);
    let options = MountCalibrationOptions {
        max_accel_std_m_s2: 2.5,
        ..MountCalibrationOptions::default()
    };
    let estimate =
        calibrate_mount_rotation(&poses, &samples, &camera_from_kinect_accel(), &options).unwrap();
    let (rotation_deg, up_deg) = error_deg(&estimate);
    // 1.8° per observation over ~600 observations spread over ±20°: the
    // standard error is a few tenths of a degree at most.
    assert!(rotation_deg < 0.5, "rotation error {rotation_deg}°");
    assert!(up_deg < 0.5, "up error {up_deg}°");
    assert!(estimate.residual_median_deg > 0.5 && estimate.residual_median_deg < 3.0);
}

#[test]
fn segmented_up_absorbs_a_slow_odometry_tilt_drift() {
    let (poses, samples) = simulate(roll_pitch_yaw, 0.0);
    // Odometry orientations drifting in tilt by up to ±6° (≤ 1.5°/s):
    // world_from_camera_odometry(t) = Exp(drift(t)) · world_from_camera(t).
    let drifted: Vec<StampedPose> = poses
        .iter()
        .map(|p| {
            let t = p.timestamp.as_secs_f64();
            let drift = UnitQuaternion::from_scaled_axis(
                Vector3::new(1.0, 0.5, 0.0).normalize() * (6.0 * (0.25 * t).sin()).to_radians(),
            );
            StampedPose::new(
                p.timestamp,
                Isometry3::from_parts(
                    Translation3::identity(),
                    drift * p.world_from_camera.rotation,
                ),
            )
        })
        .collect();
    let initial = camera_from_kinect_accel();
    let global = calibrate_mount_rotation(
        &drifted,
        &samples,
        &initial,
        &MountCalibrationOptions::default(),
    )
    .unwrap();
    let segmented_options = MountCalibrationOptions {
        up_segment_s: Some(2.0),
        ..MountCalibrationOptions::default()
    };
    let segmented =
        calibrate_mount_rotation(&drifted, &samples, &initial, &segmented_options).unwrap();
    let (global_deg, _) = error_deg(&global);
    let segmented_deg =
        so3::log(&(segmented.camera_from_accel * true_camera_from_accel().inverse()))
            .norm()
            .to_degrees();
    // Within a 2-s segment the drift spans ≤ 3°, so some mount error is
    // left; one global up cannot follow ±6° of drift.
    assert!(
        segmented_deg < 1.5,
        "segmented {segmented_deg}°, global {global_deg}°"
    );
    assert!(
        global_deg > 2.0 * segmented_deg,
        "global {global_deg}° vs segmented {segmented_deg}°"
    );
    assert_eq!(segmented.up_segments.len(), 10);
    // Each segment's up follows the drift: Exp(drift(t_mid)) · u.
    for segment in &segmented.up_segments {
        let t_mid = segment.start.as_secs_f64() + 1.0;
        let expected = Rotation3::from_scaled_axis(
            Vector3::new(1.0, 0.5, 0.0).normalize() * (6.0 * (0.25 * t_mid).sin()).to_radians(),
        ) * true_up_world().into_inner();
        let error_deg = segment.up_world.angle(&expected).to_degrees();
        assert!(
            error_deg < 1.5,
            "segment at {}: {error_deg}°",
            segment.start
        );
    }
}

#[test]
fn rotation_about_one_axis_is_unobservable() {
    let up = true_up_world().into_inner();
    for (name, axis) in [
        ("yaw (about the vertical)", up),
        ("roll only", Vector3::x()),
    ] {
        let (poses, samples) = simulate(|t| axis * 0.5 * (0.5 * t).sin(), 0.0);
        let result = calibrate_mount_rotation(
            &poses,
            &samples,
            &camera_from_kinect_accel(),
            &MountCalibrationOptions::default(),
        );
        match result {
            Err(MountCalibrationError::Unobservable { excitation_deg, .. }) => {
                assert!(excitation_deg < 0.1, "{name}: {excitation_deg}°")
            }
            other => panic!("{name}: expected Unobservable, got {other:?}"),
        }
    }
    // Standing still: unobservable too.
    let (poses, samples) = simulate(|_| Vector3::zeros(), 0.0);
    let result = calibrate_mount_rotation(
        &poses,
        &samples,
        &camera_from_kinect_accel(),
        &MountCalibrationOptions::default(),
    );
    assert!(matches!(
        result,
        Err(MountCalibrationError::Unobservable { .. })
    ));
}

#[test]
fn gates_drop_high_dynamics_windows() {
    let (poses, mut samples) = simulate(roll_pitch_yaw, 0.0);
    // A 2 m/s² shake between 5 s and 8 s: those camera times are rejected.
    for s in samples.iter_mut() {
        let t = s.timestamp.as_secs_f64();
        if (5.0..8.0).contains(&t) {
            if let Some(a) = s.accel_m_s2.as_mut() {
                a.x += 2.0 * (t * 200.0).sin();
            }
        }
    }
    let options = MountCalibrationOptions::default();
    let (observations, rejected) = low_dynamics_observations(&poses, &samples, &options).unwrap();
    assert!(observations
        .iter()
        .all(|o| !(5.05..7.95).contains(&o.timestamp.as_secs_f64())));
    assert!(rejected >= 90, "{rejected}");
    let estimate =
        calibrate_mount_rotation(&poses, &samples, &camera_from_kinect_accel(), &options).unwrap();
    assert!(error_deg(&estimate).0 < 0.1);
    assert_eq!(estimate.observations_rejected, rejected);
}

#[test]
fn rejects_bad_input() {
    let (poses, samples) = simulate(roll_pitch_yaw, 0.0);
    let options = MountCalibrationOptions::default();
    let initial = camera_from_kinect_accel();
    let mut unsorted = samples.clone();
    unsorted.swap(10, 11);
    assert!(matches!(
        calibrate_mount_rotation(&poses, &unsorted, &initial, &options),
        Err(MountCalibrationError::InvalidInput(_))
    ));
    assert!(matches!(
        calibrate_mount_rotation(&poses[..10], &samples, &initial, &options),
        Err(MountCalibrationError::TooFewObservations {
            used: 10,
            required: 20
        })
    ));
    let bad = MountCalibrationOptions {
        accel_window_s: f64::NAN,
        ..options
    };
    let err: crate::Error = calibrate_mount_rotation(&poses, &samples, &initial, &bad)
        .unwrap_err()
        .into();
    assert!(err.to_string().contains("accel_window_s"), "{err}");
}
