//! Visual-inertial tracking on a synthetic sequence with exact groundtruth:
//! the IMU motion prior seeds and regularises the visual solve (default
//! `imu.visual_prior`) and carries the pose through a vision outage, and the
//! sliding window recovers the injected IMU biases. Also: accelerometer-only
//! TUM input leaves tracking unchanged. Run in release:
//! `cargo test --release --test vio_synthetic -- --nocapture`

mod common;
mod vio_support;

use vio_support::*;

use scenemap::config::Config;
use scenemap::imu::{ImuConfig, ImuMotionPrior};
use scenemap::pipeline::{FrameResult, Pipeline, TrackingSource};
use scenemap::sensor::synthetic::{SyntheticSequence, Trajectory, TrajectoryPreset};
use scenemap::sensor::TumSequence;
use scenemap::StampedPose;

/// The shared outage sequence along the gentle preset plus a shake
/// (vision-only tracks it outside outages).
fn gentle_outage_sequence(frames: usize) -> SyntheticSequence {
    let scene = vio_support::scene();
    // The gentle orbit is nearly a constant twist (constant velocity
    // predicts it well even blind): add a hand-held shake of 1.1-1.9 Hz,
    // up to ≈ 1.5 m/s² and ≈ 45°/s, that vision still tracks.
    let mut trajectory = Trajectory::preset(TrajectoryPreset::Gentle, &scene, 7);
    let tau = std::f64::consts::TAU;
    trajectory.x = trajectory.x.with(0.025, tau * 1.3, 0.4);
    trajectory.y = trajectory.y.with(0.025, tau * 1.1, 2.0);
    trajectory.z = trajectory.z.with(0.015, tau * 1.7, 1.0);
    trajectory.yaw = trajectory.yaw.with(0.08, tau * 1.2, 0.3);
    trajectory.pitch = trajectory.pitch.with(0.05, tau * 1.5, 1.7);
    trajectory.roll = trajectory.roll.with(0.04, tau * 1.9, 2.6);
    vio_support::outage_sequence(scene, trajectory, frames)
}

#[test]
fn imu_carries_the_pose_through_a_vision_outage_and_recovers_the_biases() {
    let frames = FRAMES;
    let sequence = gentle_outage_sequence(frames);
    let groundtruth = sequence.groundtruth();
    let imu = sequence.imu();
    let pipeline_config = Config::default().with_background_scene_graph(false);
    let start = groundtruth[0].world_from_camera;
    let mut vision_only = Pipeline::new(pipeline_config.clone(), *sequence.camera())
        .unwrap()
        .with_initial_pose(start);
    let prior = ImuMotionPrior::new(ImuConfig::default()).unwrap();
    let mut vio = Pipeline::new(pipeline_config, *sequence.camera())
        .unwrap()
        .with_initial_pose(start)
        .with_motion_prior(Box::new(prior));

    // Both pipelines see the same rendered frames (rendered once).
    let mut next_sample = 0;
    let mut vio_results: Vec<FrameResult> = Vec::new();
    let mut vision_lost = 0;
    let mut gyro_error_converged = Vec::new();
    for i in 0..sequence.frame_count() {
        let frame = sequence.render_frame(i).unwrap().frame;
        feed_imu(&mut vio, &imu.samples, &mut next_sample, frame.timestamp);
        let result = vio.process(&frame).unwrap();
        let baseline = vision_only.process(&frame).unwrap();
        vision_lost += usize::from(baseline.status.is_lost());
        if sequence.frame_time_s(i) >= CONVERGED_S {
            let state = vio.motion_prior().unwrap().inertial_state().unwrap();
            let error = (state.bias.gyro_rad_s - INJECTED_GYRO_BIAS_RAD_S).norm();
            gyro_error_converged.push(error / INJECTED_GYRO_BIAS_RAD_S.norm());
        }
        vio_results.push(result);
    }

    let vio_ate = ate_rmse_m(vio.trajectory(), &groundtruth);
    let vision_ate = ate_rmse_m(vision_only.trajectory(), &groundtruth);
    let outage_error_m = |trajectory: &[StampedPose]| {
        trajectory
            .iter()
            .zip(&groundtruth)
            .map(|(e, g)| {
                (e.world_from_camera.translation.vector - g.world_from_camera.translation.vector)
                    .norm()
            })
            .fold(0.0, f64::max)
    };
    let state = vio.motion_prior().unwrap().inertial_state().unwrap();
    let summary = vio.summary();
    println!(
        "gentle + shake 320x240, {frames} frames, outage {OUTAGE_S:?} s: ATE rmse VIO {:.1} mm, vision-only {:.1} mm \
         (max error {:.1} / {:.1} mm; vision-only lost {vision_lost} frames)",
        vio_ate * 1e3,
        vision_ate * 1e3,
        outage_error_m(vio.trajectory()) * 1e3,
        outage_error_m(vision_only.trajectory()) * 1e3,
    );
    println!(
        "biases: gyro {:.4?} rad/s (injected {:.4?}, error {:.1} %), accel {:.3?} m/s² (injected {:.3?}); gravity {:.3?}",
        state.bias.gyro_rad_s.as_slice(),
        INJECTED_GYRO_BIAS_RAD_S.as_slice(),
        100.0 * (state.bias.gyro_rad_s - INJECTED_GYRO_BIAS_RAD_S).norm()
            / INJECTED_GYRO_BIAS_RAD_S.norm(),
        state.bias.accel_m_s2.as_slice(),
        INJECTED_ACCEL_BIAS_M_S2.as_slice(),
        state.gravity_world_m_s2.map(|g| g.as_slice().to_vec()),
    );
    println!(
        "imu stage per frame: median {:.3} ms, p95 {:.3} ms; total median {:.1} ms",
        summary.stages.imu.median_ms, summary.stages.imu.p95_ms, summary.stages.total.median_ms
    );

    // Outage frames: flagged (lost, IMU-carried), never fused.
    assert_outage_flagged(&sequence, &vio_results);
    assert!(vio_ate <= 0.05, "VIO ATE rmse {vio_ate} m");
    assert!(
        vio_ate * 2.0 <= vision_ate,
        "VIO {vio_ate} m not 2x better than vision-only {vision_ate} m"
    );
    // Gyro bias within 10 % once the window has converged.
    let worst = gyro_error_converged.iter().copied().fold(0.0, f64::max);
    assert!(
        worst <= 0.10,
        "gyro bias error up to {:.1} %",
        100.0 * worst
    );
    assert!(state.gravity_world_m_s2.is_some());
}

#[test]
fn accelerometer_only_tum_input_leaves_tracking_unchanged() {
    let Some(dir) = common::tum_sequence("fr1_rpy") else {
        return;
    };
    let sequence = TumSequence::open(&dir).unwrap();
    let accel = sequence.accelerometer().unwrap();
    let frames: Vec<_> = (&sequence)
        .into_iter()
        .take(30)
        .map(|f| f.unwrap())
        .collect();
    let config = Config::default().with_background_scene_graph(false);
    let mut plain = Pipeline::new(config.clone(), *sequence.camera()).unwrap();
    let prior = ImuMotionPrior::new(ImuConfig::kinect_v1()).unwrap();
    let mut with_accel = Pipeline::new(config, *sequence.camera())
        .unwrap()
        .with_motion_prior(Box::new(prior));
    let mut next = 0;
    for frame in &frames {
        while next < accel.len() && accel[next].timestamp <= frame.timestamp {
            with_accel.process_imu(accel[next]).unwrap();
            next += 1;
        }
        let a = plain.process(frame).unwrap();
        let b = with_accel.process(frame).unwrap();
        assert_eq!(a.status, b.status, "{}", frame.timestamp);
        assert_eq!(
            a.world_from_camera, b.world_from_camera,
            "{}",
            frame.timestamp
        );
        assert_ne!(b.source, TrackingSource::Imu);
    }
    assert!(next > 100, "only {next} accelerometer samples fed");
    assert_eq!(plain.summary().lost_frames, 0);
}
