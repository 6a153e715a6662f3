//! Shared setup of the synthetic visual-inertial tests (`vio_synthetic`,
//! `vio_aggressive`): the furnished room of seed 7 seen by a 320 × 240
//! camera (half the TUM resolution, to keep the tests fast) with Kinect
//! depth noise, a MEMS IMU with injected biases and a 0.5 s vision outage
//! (black image, no depth).

#![allow(dead_code)]

use nalgebra::Vector3;
use scenemap::eval::{ate, AteOptions};
use scenemap::geometry::PinholeCamera;
use scenemap::pipeline::{FrameResult, Pipeline, TrackingSource};
use scenemap::sensor::synthetic::{
    DepthNoise, ImuNoise, ImuSimulator, SequenceConfig, SyntheticScene, SyntheticSequence,
    Trajectory,
};
use scenemap::{ImuSample, StampedPose, Timestamp};

pub const FRAMES: usize = 90;
pub const OUTAGE_S: (f64, f64) = (1.8, 2.3);
/// Bias errors are checked from this time on (window converged).
pub const CONVERGED_S: f64 = 1.2;
pub const INJECTED_GYRO_BIAS_RAD_S: Vector3<f64> = Vector3::new(0.02, -0.03, 0.015);
pub const INJECTED_ACCEL_BIAS_M_S2: Vector3<f64> = Vector3::new(0.08, -0.05, 0.1);

/// The room of seed 7.
pub fn scene() -> SyntheticScene {
    SyntheticScene::furnished_room(7)
}

/// `frames` frames at 30 fps of `scene` along `trajectory` with the outage,
/// noise and IMU described in the module docs.
pub fn outage_sequence(
    scene: SyntheticScene,
    trajectory: Trajectory,
    frames: usize,
) -> SyntheticSequence {
    let noise = ImuNoise {
        initial_gyro_bias_rad_s: INJECTED_GYRO_BIAS_RAD_S,
        initial_accel_bias_m_s2: INJECTED_ACCEL_BIAS_M_S2,
        ..ImuNoise::mems()
    };
    let config = SequenceConfig {
        duration_s: (frames as f64 - 0.5) / 30.0,
        noise: DepthNoise::kinect(11),
        blackouts_s: vec![OUTAGE_S],
        imu: ImuSimulator::new(200.0).with_noise(noise, 5),
        ..SequenceConfig::default()
    };
    let camera = PinholeCamera::new(320, 240, 262.5, 262.5, 159.75, 119.75).unwrap();
    SyntheticSequence::new(scene, camera, trajectory, config).unwrap()
}

/// Feeds the pipeline every IMU sample up to one sample period after `t`
/// (an IMU is read slightly ahead of the camera).
pub fn feed_imu(pipeline: &mut Pipeline, samples: &[ImuSample], next: &mut usize, t: Timestamp) {
    while *next < samples.len() && samples[*next].timestamp.0 <= t.0 + 5_000_000 {
        pipeline.process_imu(samples[*next]).unwrap();
        *next += 1;
    }
}

/// ATE RMSE (SE(3)-aligned), metres.
pub fn ate_rmse_m(trajectory: &[StampedPose], groundtruth: &[StampedPose]) -> f64 {
    ate(trajectory, groundtruth, &AteOptions::default())
        .unwrap()
        .translation_m
        .rmse
}

/// Outage frames are flagged (lost, carried by the IMU) and never fused;
/// every other frame is tracked.
pub fn assert_outage_flagged(sequence: &SyntheticSequence, results: &[FrameResult]) {
    for (i, result) in results.iter().enumerate() {
        let t_s = sequence.frame_time_s(i);
        if sequence.is_blackout(t_s) {
            assert!(result.status.is_lost(), "frame {i}: {:?}", result.status);
            assert_eq!(result.source, TrackingSource::Imu, "frame {i}");
            assert!(!result.integrated && !result.is_keyframe, "frame {i}");
        } else {
            assert!(!result.status.is_lost(), "VIO lost frame {i} at {t_s:.2} s");
        }
    }
}
