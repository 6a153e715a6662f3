//! Stages other modules plug into the pipeline: keyframe selection, loop
//! closure / relocalisation and an IMU motion prior. Each is a trait object
//! owned by the [`Pipeline`](super::Pipeline); the defaults are a motion
//! threshold policy, no loop closure and the constant-velocity model.

use nalgebra::{Isometry3, Matrix6, Vector3};

use super::results::Keyframe;
use crate::config::KeyframeConfig;
use crate::error::Result;
use crate::imu::ImuBias;
use crate::odometry::{RgbdPyramid, TrackingQuality, TrackingStatus};
use crate::sensor::{ImuSample, RgbdFrame, Timestamp};

/// What a [`KeyframePolicy`] sees of a tracked frame.
#[derive(Clone, Copy, Debug)]
pub struct KeyframeCandidate<'a> {
    /// The frame's timestamp.
    pub timestamp: Timestamp,
    /// Its tracked pose.
    pub world_from_camera: &'a Isometry3<f64>,
    /// Tracking status (policies should only accept `Ok`).
    pub status: &'a TrackingStatus,
    /// Tracking quality, if tracked.
    pub quality: Option<&'a TrackingQuality>,
    /// The last keyframe, if any.
    pub last_keyframe: Option<&'a Keyframe>,
}

/// Decides whether a tracked frame becomes a keyframe.
pub trait KeyframePolicy: Send {
    /// `true` to make `candidate` a keyframe.
    fn is_keyframe(&mut self, candidate: &KeyframeCandidate<'_>) -> bool;
}

/// The default policy: a keyframe when tracking is `Ok` and the camera moved
/// or turned more than the thresholds since the last keyframe, or too much
/// time passed (the first tracked frame is always one).
#[derive(Clone, Debug, PartialEq)]
pub struct MotionKeyframePolicy {
    config: KeyframeConfig,
}

impl MotionKeyframePolicy {
    /// A policy with the given thresholds.
    pub fn new(config: KeyframeConfig) -> Self {
        Self { config }
    }
}

impl KeyframePolicy for MotionKeyframePolicy {
    fn is_keyframe(&mut self, candidate: &KeyframeCandidate<'_>) -> bool {
        if *candidate.status != TrackingStatus::Ok {
            return false;
        }
        let Some(last) = candidate.last_keyframe else {
            return true;
        };
        let keyframe_from_camera = last.world_from_camera.inverse() * candidate.world_from_camera;
        let translation_m = keyframe_from_camera.translation.vector.norm();
        let rotation_deg = keyframe_from_camera.rotation.angle().to_degrees();
        let elapsed_s = candidate.timestamp.secs_since(last.timestamp);
        translation_m >= self.config.min_translation_m
            || rotation_deg >= self.config.min_rotation_deg
            || elapsed_s >= self.config.max_interval_s
    }
}

/// A loop closure found by a [`LoopClosureStage`]: a relative pose between
/// two keyframes, as a pose-graph edge.
#[derive(Clone, Debug, PartialEq)]
pub struct LoopClosure {
    /// The earlier keyframe.
    pub from_keyframe: usize,
    /// The new keyframe.
    pub to_keyframe: usize,
    /// Measured `from_camera_from_to_camera`.
    pub from_from_to: Isometry3<f64>,
    /// Information matrix of the measurement (right perturbation of
    /// `from_from_to`, `(v, ω)` order).
    pub information: Matrix6<f64>,
}

/// Loop-closure detection and relocalisation (implemented in
/// `odometry::loop_closure`; plug in with
/// [`Pipeline::with_loop_closure`](super::Pipeline::with_loop_closure)).
pub trait LoopClosureStage: Send {
    /// Called for every new keyframe with its frame and its tracking
    /// pyramid (starting at `tracking.model_view_level`); returns the loop
    /// closures it found. The pipeline stores them and, when
    /// `loop_correction.enabled`, optimises the keyframe pose graph and
    /// rebuilds the map at the corrected poses (`pipeline::correction`).
    fn add_keyframe(
        &mut self,
        keyframe: &Keyframe,
        frame: &RgbdFrame,
        pyramid: &RgbdPyramid,
    ) -> Result<Vec<LoopClosure>>;

    /// Called when tracking is lost after the retries: a pose for the frame
    /// from matching against the keyframes, or `None`. The pipeline then
    /// re-tracks the frame against the model from that pose.
    fn relocalise(
        &mut self,
        frame: &RgbdFrame,
        pyramid: &RgbdPyramid,
    ) -> Result<Option<Isometry3<f64>>>;

    /// Called after a loop correction moved the keyframes: their corrected
    /// poses (same ids as given to [`Self::add_keyframe`]), so that
    /// relocalisation answers in the corrected frame. Default: ignored.
    fn keyframes_corrected(&mut self, keyframes: &[Keyframe]) {
        let _ = keyframes;
    }
}

/// A motion prior from inertial data (implemented by
/// [`crate::imu::ImuMotionPrior`]; plug in with
/// [`Pipeline::with_motion_prior`](super::Pipeline::with_motion_prior)).
///
/// Per frame the pipeline calls [`Self::predict`] before tracking and
/// [`Self::observe`] with the outcome. When tracking is lost and the
/// prediction came from the prior, the frame keeps the predicted pose and is
/// reported with [`TrackingSource::Imu`](super::TrackingSource::Imu) (lost,
/// not fused).
pub trait MotionPrior: Send {
    /// Predicts `world_from_camera` at `to` from the pose at `from` and the
    /// IMU samples buffered since (timestamps in `(from − margin, to]`, plus
    /// the first sample after `to` when it is already buffered, for
    /// interpolation). `None` falls back to the constant-velocity model.
    fn predict(
        &mut self,
        samples: &[ImuSample],
        from: Timestamp,
        to: Timestamp,
        world_from_previous: &Isometry3<f64>,
    ) -> Option<Isometry3<f64>>;

    /// The information matrix of the prediction [`Self::predict`] last
    /// returned for `timestamp`, for the right perturbation `(v, ω)` of the
    /// predicted `world_from_camera` (v in metres in the camera frame, ω in
    /// radians). The pipeline adds the prediction to the visual solve as a
    /// Gaussian prior with this information
    /// ([`crate::odometry::PosePrior`]). Default: `None` (the prediction
    /// only seeds the solve).
    fn prediction_information(&self, timestamp: Timestamp) -> Option<Matrix6<f64>> {
        let _ = timestamp;
        None
    }

    /// The pose the pipeline reports for the frame at `timestamp` (tracked,
    /// given, or — when lost — the prediction) and its status; lets the
    /// prior update its state (velocity, biases, gravity). Default: ignored.
    fn observe(
        &mut self,
        timestamp: Timestamp,
        world_from_camera: &Isometry3<f64>,
        status: &TrackingStatus,
    ) {
        let _ = (timestamp, world_from_camera, status);
    }

    /// The prior's current inertial estimate, for reports. Default: `None`.
    fn inertial_state(&self) -> Option<InertialState> {
        None
    }
}

/// What an IMU [`MotionPrior`] currently estimates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InertialState {
    /// Time of the last observed frame (camera clock).
    pub timestamp: Timestamp,
    /// Gyro and accelerometer biases.
    pub bias: ImuBias,
    /// Gravity in the world frame, once estimated, m/s².
    pub gravity_world_m_s2: Option<Vector3<f64>>,
    /// IMU velocity in the world frame at `timestamp`, once estimated, m/s.
    pub velocity_world_m_s: Option<Vector3<f64>>,
    /// Frames in the estimation window.
    pub window_frames: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn motion_policy_thresholds() {
        let mut policy = MotionKeyframePolicy::new(KeyframeConfig::default());
        let identity = Isometry3::identity();
        let candidate = |pose: &'static Isometry3<f64>, last: Option<&'static Keyframe>, t: i64| {
            KeyframeCandidate {
                timestamp: Timestamp(t),
                world_from_camera: pose,
                status: &TrackingStatus::Ok,
                quality: None,
                last_keyframe: last,
            }
        };
        let first = Box::leak(Box::new(identity));
        assert!(policy.is_keyframe(&candidate(first, None, 0)));
        let last: &'static Keyframe = Box::leak(Box::new(Keyframe {
            id: 0,
            frame_index: 0,
            timestamp: Timestamp(0),
            world_from_camera: identity,
        }));
        let near = Box::leak(Box::new(Isometry3::translation(0.05, 0.0, 0.0)));
        assert!(!policy.is_keyframe(&candidate(near, Some(last), 100_000_000)));
        assert!(policy.is_keyframe(&candidate(near, Some(last), 3_000_000_000)));
        let far = Box::leak(Box::new(Isometry3::translation(0.2, 0.0, 0.0)));
        assert!(policy.is_keyframe(&candidate(far, Some(last), 100_000_000)));
        let turned = Box::leak(Box::new(Isometry3::new(
            Vector3::zeros(),
            Vector3::new(0.0, 0.3, 0.0),
        )));
        assert!(policy.is_keyframe(&candidate(turned, Some(last), 100_000_000)));
    }
}
