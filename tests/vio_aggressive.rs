//! Visual-inertial tracking on the synthetic Aggressive trajectory preset
//! (fast rotations and a 3-4 Hz shake) with a 0.5 s vision outage: the IMU
//! prediction seeds and, as a Gaussian prior, regularises the visual solve
//! (`imu.visual_prior`). Compares vision-only tracking, VIO with the
//! prediction as a seed only (prior weight 0) and VIO with the prior. Run in
//! release: `cargo test --release --test vio_aggressive -- --nocapture`

mod vio_support;

use vio_support::*;

use scenemap::config::Config;
use scenemap::geometry::PinholeCamera;
use scenemap::imu::{ImuConfig, ImuMotionPrior, VisualPriorConfig};
use scenemap::pipeline::{FrameResult, Pipeline};
use scenemap::sensor::synthetic::{SyntheticSequence, Trajectory, TrajectoryPreset};
use scenemap::StampedPose;

/// The furnished room of seed 7 along the Aggressive preset (yaw up to
/// ≈ 150°/s, a 3-4 Hz shake), a 320 × 240 camera, Kinect depth noise, a MEMS
/// IMU with injected biases and a 0.5 s vision outage (black image, no
/// depth).
fn sequence(frames: usize) -> SyntheticSequence {
    let scene = vio_support::scene();
    let trajectory = Trajectory::preset(TrajectoryPreset::Aggressive, &scene, 7);
    vio_support::outage_sequence(scene, trajectory, frames)
}

struct Run {
    name: &'static str,
    pipeline: Pipeline,
    results: Vec<FrameResult>,
    gyro_errors: Vec<f64>,
}

impl Run {
    fn new(
        name: &'static str,
        camera: PinholeCamera,
        start: &StampedPose,
        prior: Option<f64>,
    ) -> Self {
        let config = Config::default().with_background_scene_graph(false);
        let mut pipeline = Pipeline::new(config, camera)
            .unwrap()
            .with_initial_pose(start.world_from_camera);
        if let Some(weight) = prior {
            let imu = ImuConfig {
                visual_prior: VisualPriorConfig {
                    weight,
                    ..VisualPriorConfig::default()
                },
                ..ImuConfig::default()
            };
            pipeline = pipeline.with_motion_prior(Box::new(ImuMotionPrior::new(imu).unwrap()));
        }
        Self {
            name,
            pipeline,
            results: Vec::new(),
            gyro_errors: Vec::new(),
        }
    }

    /// Translation error per frame, m.
    fn errors_m(&self, groundtruth: &[StampedPose]) -> Vec<f64> {
        self.pipeline
            .trajectory()
            .iter()
            .zip(groundtruth)
            .map(|(e, g)| {
                (e.world_from_camera.translation.vector - g.world_from_camera.translation.vector)
                    .norm()
            })
            .collect()
    }

    fn report(&self, sequence: &SyntheticSequence, groundtruth: &[StampedPose]) -> f64 {
        let ate_m = ate_rmse_m(self.pipeline.trajectory(), groundtruth);
        let errors = self.errors_m(groundtruth);
        let first_over = errors.iter().position(|e| *e > 0.05);
        let lost: Vec<usize> = (0..self.results.len())
            .filter(|&i| self.results[i].status.is_lost())
            .collect();
        let summary = self.pipeline.summary();
        println!(
            "{:>14}: ATE rmse {:.1} mm, max error {:.1} mm, first error > 5 cm at {}, lost {} frames {:?}; imu_ms median {:.3} p95 {:.3}, total median {:.1} ms",
            self.name,
            ate_m * 1e3,
            errors.iter().copied().fold(0.0, f64::max) * 1e3,
            first_over.map_or("never".to_string(), |i| format!(
                "frame {i} ({:.2} s)",
                sequence.frame_time_s(i)
            )),
            lost.len(),
            lost,
            summary.stages.imu.median_ms,
            summary.stages.imu.p95_ms,
            summary.stages.total.median_ms,
        );
        if let Some(state) = self
            .pipeline
            .motion_prior()
            .and_then(|p| p.inertial_state())
        {
            println!(
                "{:>14}  gyro bias {:.4?} (worst error after {CONVERGED_S} s {:.1} %), accel bias {:.3?}",
                "",
                state.bias.gyro_rad_s.as_slice(),
                100.0 * self.gyro_errors.iter().copied().fold(0.0, f64::max),
                state.bias.accel_m_s2.as_slice(),
            );
        }
        ate_m
    }
}

#[test]
fn aggressive_sequence_with_outage_vio_prior_vs_vision_only() {
    let frames = FRAMES;
    let sequence = sequence(frames);
    let groundtruth = sequence.groundtruth();
    let imu = sequence.imu();
    let camera = *sequence.camera();
    let mut runs = [
        Run::new("vision-only", camera, &groundtruth[0], None),
        Run::new("VIO seed only", camera, &groundtruth[0], Some(0.0)),
        Run::new("VIO + prior", camera, &groundtruth[0], Some(1.0)),
    ];
    let mut next = [0usize; 3];
    for i in 0..sequence.frame_count() {
        let frame = sequence.render_frame(i).unwrap().frame;
        for (run, next) in runs.iter_mut().zip(next.iter_mut()) {
            if run.pipeline.motion_prior().is_some() {
                feed_imu(&mut run.pipeline, &imu.samples, next, frame.timestamp);
            }
            let result = run.pipeline.process(&frame).unwrap();
            run.results.push(result);
            if sequence.frame_time_s(i) >= CONVERGED_S {
                if let Some(state) = run.pipeline.motion_prior().and_then(|p| p.inertial_state()) {
                    let error = (state.bias.gyro_rad_s - INJECTED_GYRO_BIAS_RAD_S).norm();
                    run.gyro_errors
                        .push(error / INJECTED_GYRO_BIAS_RAD_S.norm());
                }
            }
        }
    }
    println!("Aggressive 320x240, {frames} frames, outage {OUTAGE_S:?} s");
    let ates: Vec<f64> = runs
        .iter()
        .map(|r| r.report(&sequence, &groundtruth))
        .collect();
    let (vision_ate, seed_ate, prior_ate) = (ates[0], ates[1], ates[2]);

    // Outage frames: flagged (lost, IMU-carried), never fused; the others
    // tracked.
    let vio = &runs[2];
    assert_outage_flagged(&sequence, &vio.results);
    assert!(prior_ate <= 0.05, "VIO ATE rmse {prior_ate} m");
    assert!(
        prior_ate * 2.0 <= vision_ate,
        "VIO {prior_ate} m not 2x better than vision-only {vision_ate} m"
    );
    // The prior does not hurt relative to the prediction as a seed only.
    assert!(
        prior_ate <= 1.25 * seed_ate + 0.001,
        "prior {prior_ate} m vs seed only {seed_ate} m"
    );
    // Gyro bias within 10 % once the window has converged.
    let worst = vio.gyro_errors.iter().copied().fold(0.0, f64::max);
    assert!(
        !vio.gyro_errors.is_empty() && worst <= 0.10,
        "gyro bias error up to {:.1} %",
        100.0 * worst
    );
}
