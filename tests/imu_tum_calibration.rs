//! Real data: online self-calibration of the Kinect accelerometer's mounting
//! rotation on TUM fr1_rpy (issue #5), from OUR OWN frame-to-frame RGB-D
//! odometry orientations (world = first camera) — never from the
//! groundtruth. The groundtruth is used only to score the result, plus one
//! clearly labelled diagnostic (the same estimator fed with groundtruth
//! orientations, to split the convention's error into a camera-frame part,
//! which self-calibration can remove, and a world-frame part, which it
//! cannot).
//!
//! Run in release: `cargo test --release --test imu_tum_calibration -- --nocapture`
//! (≈ 40 s of odometry over 694 frames on the shared VM).

mod common;
mod imu_support;
mod odometry_support;

use imu_support::{slow_window_angles, stats, whole_sequence_angles};
use nalgebra::{Isometry3, Rotation3, Vector3};
use odometry_support::{associate, load_frame};
use scenemap::geometry::pose_at;
use scenemap::imu::kinect::camera_from_kinect_accel;
use scenemap::imu::{calibrate_mount_rotation, so3, MountCalibration, MountCalibrationOptions};
use scenemap::odometry::{OdometryConfig, RgbdOdometry};
use scenemap::sensor::TumSequence;
use scenemap::{PinholeCamera, StampedPose};

fn describe(name: &str, c: &MountCalibration) {
    let correction = so3::log(&(c.camera_from_accel * camera_from_kinect_accel().inverse()));
    println!(
        "{name}: camera_from_accel = Exp({:.2}°·[{:.3}, {:.3}, {:.3}]) · diag(-1,-1,1) (camera-frame axis); \
         {} observations used, {} rejected; residual median {:.2}°, rms {:.2}°, p90 {:.2}°; excitation {:.1}°; {} iterations",
        correction.norm().to_degrees(),
        correction.x / correction.norm(),
        correction.y / correction.norm(),
        correction.z / correction.norm(),
        c.observations_used,
        c.observations_rejected,
        c.residual_median_deg,
        c.residual_rms_deg,
        c.residual_p90_deg,
        c.excitation_deg,
        c.iterations
    );
}

#[test]
fn fr1_rpy_self_calibrated_mount_rotation_from_own_odometry() {
    let Some(dir) = common::tum_sequence("fr1_rpy") else {
        return;
    };
    let seq = TumSequence::open(&dir).unwrap();
    let gt = seq.groundtruth().unwrap();
    let accel = seq.accelerometer().unwrap();
    let convention = camera_from_kinect_accel();

    // 1. Our own orientations: frame-to-frame dense RGB-D odometry
    //    (constant-velocity prediction), world = first camera.
    let pairs = associate(&dir, false, 0.02);
    let odometry =
        RgbdOdometry::new(&PinholeCamera::tum_freiburg1(), OdometryConfig::default()).unwrap();
    let mut world_from_camera = Isometry3::identity();
    let mut velocity = Isometry3::identity();
    let mut reference = None;
    let mut trajectory = Vec::with_capacity(pairs.len());
    let mut lost = 0;
    for (t, c, d) in &pairs {
        let current = odometry.prepare(&load_frame(&dir, *t, c, d)).unwrap();
        if let Some(reference) = &reference {
            let result = odometry.track(reference, &current, &velocity).unwrap();
            if result.status.is_lost() {
                lost += 1;
            } else {
                velocity = result.reference_from_current;
            }
            world_from_camera *= result.reference_from_current;
        }
        trajectory.push(StampedPose::new(*t, world_from_camera));
        reference = Some(current);
    }
    // Orientation drift of the odometry (diagnostic): groundtruth-anchored
    // at the first frame.
    let gt_first = pose_at(gt, trajectory[0].timestamp, 0.2).unwrap();
    let drift_deg: Vec<f64> = trajectory
        .iter()
        .filter_map(|p| {
            let g = pose_at(gt, p.timestamp, 0.2)?;
            Some(
                (gt_first.rotation * p.world_from_camera.rotation)
                    .angle_to(&g.rotation)
                    .to_degrees(),
            )
        })
        .collect();
    let (d_mean, d_median, d_p90, d_max) = stats(drift_deg);
    println!(
        "odometry: {} frames, {lost} lost; orientation drift vs groundtruth: mean {d_mean:.2}°, median {d_median:.2}°, p90 {d_p90:.2}°, max {d_max:.2}°",
        trajectory.len()
    );

    // 2. Self-calibration from our own orientations. Frame-to-frame
    //    odometry drifts in tilt (printed above), so the world up is
    //    re-estimated per 2-s segment; the mount rotation stays one constant.
    let options = MountCalibrationOptions::default();
    let global = calibrate_mount_rotation(&trajectory, accel, &convention, &options).unwrap();
    describe(
        "  (one world up for the whole run, drift not absorbed)",
        &global,
    );
    let segmented = MountCalibrationOptions {
        up_segment_s: Some(2.0),
        ..options
    };
    let calibration =
        calibrate_mount_rotation(&trajectory, accel, &convention, &segmented).unwrap();
    // Diagnostic: sensitivity to the segment length (2 s is chosen a priori:
    // the odometry's tilt drift is ≈0.5°/s).
    for segment_s in [1.0, 4.0, 8.0] {
        let other = MountCalibrationOptions {
            up_segment_s: Some(segment_s),
            ..options
        };
        if let Ok(c) = calibrate_mount_rotation(&trajectory, accel, &convention, &other) {
            let vs = (c.camera_from_accel * calibration.camera_from_accel.inverse()).angle();
            let (_, windows_median, _, _) = stats(slow_window_angles(
                accel,
                gt,
                &c.camera_from_accel,
                &Vector3::z(),
            ));
            println!(
                "  (diagnostic) {segment_s}-s segments: correction {:.2}°, {:.2}° from the 2-s estimate, residual median {:.2}°, slow-window median vs groundtruth {windows_median:.2}°",
                c.correction_deg,
                vs.to_degrees(),
                c.residual_median_deg
            );
        }
    }
    describe(
        "self-calibrated (own odometry, world up per 2-s segment)",
        &calibration,
    );

    // 3. Diagnostic only: the same estimator with groundtruth orientations.
    //    `up_world` is then expressed in the MoCap world; its tilt from +z is
    //    the part of the error that is constant in the WORLD frame.
    let with_gt = calibrate_mount_rotation(gt, accel, &convention, &options).unwrap();
    describe("  (diagnostic) with groundtruth orientations", &with_gt);
    let world_tilt_deg = with_gt.up_segments[0]
        .up_world
        .angle(&Vector3::z())
        .to_degrees();
    let own_vs_gt_deg = (calibration.camera_from_accel * with_gt.camera_from_accel.inverse())
        .angle()
        .to_degrees();
    println!(
        "  (diagnostic) estimated MoCap-world tilt (world-frame part, not removable): {world_tilt_deg:.2}°; \
         camera-frame part {:.2}°; own-odometry vs groundtruth-orientation mount estimates differ by {own_vs_gt_deg:.2}°",
        with_gt.correction_deg
    );

    // 4. Score against the groundtruth vertical: convention vs calibrated.
    let up = Vector3::z();
    let report = |name: &str, camera_from_accel: &Rotation3<f64>| {
        let windows = slow_window_angles(accel, gt, camera_from_accel, &up);
        let n = windows.len();
        let (w_mean, w_median, w_p90, w_max) = stats(windows);
        let (raw, smoothed) = whole_sequence_angles(accel, gt, camera_from_accel, &up);
        let (_, r_median, _, _) = stats(raw);
        let (s_mean, s_median, s_p90, s_max) = stats(smoothed);
        println!(
            "{name}: {n} slow 0.25-s windows mean {w_mean:.2}°, median {w_median:.2}°, p90 {w_p90:.2}°, max {w_max:.2}°; \
             whole sequence raw median {r_median:.2}°, smoothed mean {s_mean:.2}°, median {s_median:.2}°, p90 {s_p90:.2}°, max {s_max:.2}°"
        );
        (w_median, s_median)
    };
    let (conv_windows, conv_smoothed) = report("convention diag(-1,-1,1)", &convention);
    let (cal_windows, cal_smoothed) = report("self-calibrated", &calibration.camera_from_accel);
    report(
        "  (diagnostic) mount estimated with groundtruth orientations",
        &with_gt.camera_from_accel,
    );

    // 5. The pipeline-style estimate: up from our odometry orientation and
    //    the calibrated world up, at frame times.
    let frame_angles: Vec<f64> = trajectory
        .iter()
        .filter_map(|p| {
            let g = pose_at(gt, p.timestamp, 0.05)?;
            let up_gt = g.rotation.inverse() * up;
            let up_own = calibration.up_in_camera(
                p.timestamp,
                &p.world_from_camera.rotation.to_rotation_matrix(),
            );
            Some(up_own.angle(&up_gt).to_degrees())
        })
        .collect();
    let (v_mean, v_median, v_p90, v_max) = stats(frame_angles);
    println!(
        "odometry orientation + calibrated world up, per frame: mean {v_mean:.2}°, median {v_median:.2}°, p90 {v_p90:.2}°, max {v_max:.2}°"
    );

    assert!(lost * 20 < trajectory.len(), "{lost} lost frames");
    assert!(calibration.excitation_deg > options.min_excitation_deg);
    // Self-calibration must beat the documented convention on both scores.
    assert!(
        cal_windows < conv_windows,
        "{cal_windows}° vs {conv_windows}°"
    );
    assert!(
        cal_smoothed < conv_smoothed,
        "{cal_smoothed}° vs {conv_smoothed}°"
    );
    // Issue #5's 2° goal is NOT asserted: the diagnostic above attributes
    // ≈1.9° of the convention's error to the WORLD frame (a tilt of the MoCap
    // "z up" against the accelerometer's vertical), which no camera-side
    // calibration can remove; even the mount estimated from groundtruth
    // orientations scores ≈2.1° on the slow windows.
    // Known weakness, printed above: the estimate from frame-to-frame
    // odometry (≈13° tilt drift) depends on the segment length; 2 s was
    // chosen a priori, but 1/4/8-s segments score 3.8/4.2/4.8° on the slow
    // windows, i.e. no better than the convention. These are regression
    // bounds on the 2-s setting (measured 2.11° and 2.90°) with margin.
    assert!(cal_windows < 2.6, "slow windows median {cal_windows}°");
    assert!(cal_smoothed < 3.4, "smoothed median {cal_smoothed}°");
}
