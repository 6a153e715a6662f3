//! Real data: the Kinect accelerometer of TUM fr1_rpy against the
//! motion-capture groundtruth's vertical.
//!
//! Conventions (documented, not fitted):
//! - accelerometer → colour camera: `camera_from_accel = diag(-1, -1, 1)`
//!   (`scenemap::imu::kinect`, from the Kinect SDK accelerometer axes and the
//!   `kinect_aux` driver that recorded TUM's bags);
//! - groundtruth world: `+z` is up. TUM's file-format page only says the
//!   frame is "defined by the motion capture system"; the z-up choice is the
//!   MoCap convention. As a transparency check the test prints the static-start
//!   angle for all six candidate world axes: only `+z` is consistent.

mod common;
mod imu_support;

use imu_support::{angle_deg, slow_window_angles, stats, up_in_camera, whole_sequence_angles};

use nalgebra::{Rotation3, Vector3};
use scenemap::imu::kinect::camera_from_kinect_accel;
use scenemap::imu::{AttitudeFilter, ImuBuffer, ImuConfig, StaticDetector};
use scenemap::sensor::TumSequence;
use scenemap::{StampedPose, Timestamp};

#[test]
fn fr1_rpy_accelerometer_gravity_matches_groundtruth_vertical() {
    let Some(dir) = common::tum_sequence("fr1_rpy") else {
        return;
    };
    let seq = TumSequence::open(&dir).unwrap();
    let gt = seq.groundtruth().unwrap();
    let config = ImuConfig::kinect_v1();
    config.validate().unwrap();
    let mut buffer = ImuBuffer::new(&config);
    let accepted = buffer.extend_lenient(seq.accelerometer().unwrap().iter().copied());
    println!(
        "fr1_rpy: {accepted} accelerometer samples accepted, {} rejected, {} gaps > {} s",
        buffer.rejected().total(),
        buffer.gaps().len(),
        config.max_gap_s
    );
    assert_eq!(accepted, 14070);
    let camera_from_accel: Rotation3<f64> = config.imu_from_camera_rotation().inverse();
    assert_eq!(camera_from_accel, camera_from_kinect_accel());
    let up_world = Vector3::z();

    // 1. Static start.
    // fr1_rpy has no static start: the camera rotates from the first sample
    // (1-s windows have accelerometer std 2-3.6 m/s²). A 1-s static detector
    // finds nothing; we use the first *slow* 0.25-s window inside the
    // groundtruth's time span and compare against the groundtruth vertical
    // averaged over the same window.
    assert!(StaticDetector::default()
        .find_first(buffer.samples())
        .is_none());
    let detector = StaticDetector {
        window_s: 0.25,
        max_accel_std_m_s2: 0.6,
        ..StaticDetector::default()
    };
    let gt_start = gt[0].timestamp;
    let from = buffer.samples().partition_point(|s| s.timestamp < gt_start);
    let window = detector
        .find_first(&buffer.samples()[from..])
        .expect("slow start");
    // Specific force points up: map it into the camera frame.
    let up_cam_accel = camera_from_accel * window.mean_accel_m_s2;
    let gt_in_window: Vec<&StampedPose> = gt
        .iter()
        .filter(|p| p.timestamp >= window.start && p.timestamp <= window.end)
        .collect();
    assert!(
        gt_in_window.len() > 10,
        "groundtruth covers the static window"
    );
    let mean_up = |axis: Vector3<f64>| -> Vector3<f64> {
        gt_in_window
            .iter()
            .map(|p| p.world_from_camera.rotation.inverse() * axis)
            .sum::<Vector3<f64>>()
            .normalize()
    };
    let static_deg = angle_deg(&up_cam_accel, &mean_up(up_world));
    println!(
        "slow start window {} .. {} ({} samples, accel std {:.3} m/s², |f| = {:.3} m/s²): angle to groundtruth vertical {static_deg:.2}°",
        window.start,
        window.end,
        window.sample_count,
        window.accel_std_m_s2,
        window.mean_accel_m_s2.norm()
    );
    for (name, axis) in [
        ("+x", Vector3::x()),
        ("-x", -Vector3::x()),
        ("+y", Vector3::y()),
        ("-y", -Vector3::y()),
        ("+z", Vector3::z()),
        ("-z", -Vector3::z()),
    ] {
        println!(
            "  (diagnostic) if world up were {name}: {:.1}°",
            angle_deg(&up_cam_accel, &mean_up(axis))
        );
    }
    println!(
        "  (diagnostic) with camera_from_accel = I instead: {:.1}°",
        angle_deg(&window.mean_accel_m_s2, &mean_up(up_world))
    );

    // Every later slow window (non-overlapping), same comparison.
    let slow_angles = slow_window_angles(buffer.samples(), gt, &camera_from_accel, &up_world);
    let n_slow = slow_angles.len();
    let (w_mean, w_median, w_p90, w_max) = stats(slow_angles);
    println!(
        "all {n_slow} slow 0.25-s windows: mean {w_mean:.2}°, median {w_median:.2}°, p90 {w_p90:.2}°, max {w_max:.2}°"
    );

    // 2. Whole sequence, time-matched, both sides smoothed identically.
    let (raw, smoothed) =
        whole_sequence_angles(buffer.samples(), gt, &camera_from_accel, &up_world);
    let matched = raw.len();
    let (mean, median, p90, max) = stats(raw);
    println!(
        "whole sequence, {matched} time-matched samples, raw: mean {mean:.2}°, median {median:.2}°, p90 {p90:.2}°, max {max:.2}°"
    );
    let (s_mean, s_median, s_p90, s_max) = stats(smoothed);
    println!(
        "whole sequence, centred 0.2 s moving average on both: mean {s_mean:.2}°, median {s_median:.2}°, p90 {s_p90:.2}°, max {s_max:.2}°"
    );
    // Diagnostic only (not used above): median angle vs a clock shift.
    let mut shifts = Vec::new();
    for shift_ms in (-60..=60).step_by(20) {
        let angles: Vec<f64> = buffer
            .samples()
            .iter()
            .filter_map(|s| {
                let f = s.accel_m_s2?;
                let t = Timestamp(s.timestamp.0 + shift_ms * 1_000_000);
                let up = up_in_camera(gt, t, &up_world)?;
                Some(angle_deg(&(camera_from_accel * f), &up))
            })
            .collect();
        shifts.push(format!("{shift_ms:+} ms: {:.2}°", stats(angles).1));
    }
    println!(
        "  (diagnostic) raw median angle vs groundtruth time shift: {}",
        shifts.join(", ")
    );

    // 3. The accelerometer-only attitude filter (τ = 0.1 s) against groundtruth roll/pitch.
    let mut filter = AttitudeFilter::new(0.1).unwrap();
    let mut filter_angles = Vec::new();
    for s in buffer.samples() {
        filter.update(s).unwrap();
        if let Some(up_gt) = up_in_camera(gt, s.timestamp, &up_world) {
            let up_imu = -filter.gravity_direction_imu().into_inner();
            filter_angles.push(angle_deg(&(camera_from_accel * up_imu), &up_gt));
        }
    }
    let (f_mean, f_median, f_p90, f_max) = stats(filter_angles);
    println!(
        "attitude filter (accel only, τ = 0.1 s): mean {f_mean:.2}°, median {f_median:.2}°, p90 {f_p90:.2}°, max {f_max:.2}°"
    );
    // The documented convention leaves a systematic ≈4° disagreement (all slow
    // windows agree on it); Microsoft states 1° accuracy and up to 3° of
    // temperature drift for this accelerometer, and the accelerometer chip's
    // mounting relative to the colour camera is not calibrated. The 2° goal is
    // therefore NOT asserted; these are regression bounds set from the
    // measured values with margin (not from a paper).
    assert!(static_deg < 4.0, "slow start: {static_deg}°");
    assert!(w_median < 5.0, "slow windows median {w_median}°");
    assert!(s_median < 5.0, "smoothed median {s_median}°");
    assert!(f_median < 8.0, "filter median {f_median}°");
}
