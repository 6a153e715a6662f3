//! The predict and track stages of [`Pipeline::process`]: constant-velocity
//! (or IMU) prediction and frame-to-model tracking with its fallbacks.

use nalgebra::{Isometry3, UnitQuaternion, Vector6};

use super::model_view::ModelTracker;
use super::{elapsed_ms, Pipeline, StageTimings, Tracked, TrackingSource};
use crate::error::Result;
use crate::geometry::exp_se3;
use crate::odometry::{RgbdPyramid, TrackingIssue, TrackingStatus};
use crate::sensor::{RgbdFrame, Timestamp};
use std::time::Instant;

impl Pipeline {
    /// Constant velocity on SE(3): `T_last · exp(ξ Δt)`, or the IMU prior.
    pub(super) fn predict(&mut self, timestamp: Timestamp) -> Isometry3<f64> {
        let Some(last) = self.motion.last else {
            return self.initial_world_from_camera;
        };
        let dt_s = timestamp.secs_since(last.timestamp);
        if let Some(prior) = self.motion_prior.as_mut() {
            let from = Timestamp::from_secs_f64(last.timestamp.as_secs_f64() - 0.05);
            let start = self.imu.partition_point(|s| s.timestamp <= from);
            let end = self.imu.partition_point(|s| s.timestamp <= timestamp);
            let samples = &self.imu[start..end.max(start)];
            if let Some(predicted) =
                prior.predict(samples, last.timestamp, timestamp, &last.world_from_camera)
            {
                return renormalized(predicted);
            }
        }
        let xi = Vector6::from(self.motion.velocity_per_s) * dt_s;
        renormalized(last.world_from_camera * exp_se3(&xi))
    }

    pub(super) fn track(
        &mut self,
        frame: &RgbdFrame,
        current: &RgbdPyramid,
        world_from_predicted: &Isometry3<f64>,
        timing: &mut StageTimings,
    ) -> Result<Tracked> {
        let Some(last_good) = self.motion.last_good else {
            return Ok(Tracked {
                world_from_camera: *world_from_predicted,
                status: TrackingStatus::Ok,
                source: TrackingSource::Initial,
                quality: None,
            });
        };
        let valid_depth = frame.valid_depth_count();
        let required =
            (self.config.tracking.min_valid_depth_ratio * frame.pixel_count() as f64).ceil();
        if (valid_depth as f64) < required {
            return Ok(Tracked {
                world_from_camera: *world_from_predicted,
                status: TrackingStatus::Lost(TrackingIssue::TooFewResiduals {
                    found: valid_depth,
                    required: required as usize,
                }),
                source: TrackingSource::Prediction,
                quality: None,
            });
        }
        let mut attempt = self.track_from(current, world_from_predicted, timing)?;
        if attempt.status.is_lost() && last_good.world_from_camera != *world_from_predicted {
            let retry = self.track_from(current, &last_good.world_from_camera, timing)?;
            if !retry.status.is_lost() {
                attempt = retry;
            }
        }
        if attempt.status.is_lost() {
            if let Some(stage) = self.loop_closure.as_mut() {
                if let Some(world_from_guess) = stage.relocalise(frame, current)? {
                    let retry = self.track_from(current, &world_from_guess, timing)?;
                    if !retry.status.is_lost() {
                        attempt = Tracked {
                            source: TrackingSource::Relocalised,
                            ..retry
                        };
                    }
                }
            }
        }
        Ok(attempt)
    }

    /// One attempt from `world_from_guess`: against the model view when the
    /// model is dense enough there, else against the last tracked frame.
    fn track_from(
        &mut self,
        current: &RgbdPyramid,
        world_from_guess: &Isometry3<f64>,
        timing: &mut StageTimings,
    ) -> Result<Tracked> {
        if self.counters.integrated >= self.config.tracking.min_model_frames {
            let clock = Instant::now();
            let view = self.tracker.render(&self.volume, world_from_guess)?;
            timing.model_view_ms += elapsed_ms(clock);
            if view.hit_ratio >= self.config.tracking.min_model_hit_ratio {
                ModelTracker::check_compatible(&view.pyramid, current)?;
                let clock = Instant::now();
                // The reference is rendered at the guess: start at identity.
                let result =
                    self.tracker
                        .reduced
                        .track(&view.pyramid, current, &Isometry3::identity())?;
                timing.track_ms += elapsed_ms(clock);
                return Ok(Tracked {
                    world_from_camera: renormalized(
                        world_from_guess * result.reference_from_current,
                    ),
                    status: result.status,
                    source: TrackingSource::Model,
                    quality: Some(result.quality),
                });
            }
        }
        let Some(reference) = &self.reference else {
            let required = self.config.odometry.thresholds.min_residuals;
            return Ok(Tracked {
                world_from_camera: *world_from_guess,
                status: TrackingStatus::Lost(TrackingIssue::TooFewResiduals { found: 0, required }),
                source: TrackingSource::Prediction,
                quality: None,
            });
        };
        let clock = Instant::now();
        let guess = reference.world_from_camera.inverse() * world_from_guess;
        let result = self
            .tracker
            .reduced
            .track(&reference.pyramid, current, &guess)?;
        timing.track_ms += elapsed_ms(clock);
        Ok(Tracked {
            world_from_camera: renormalized(
                reference.world_from_camera * result.reference_from_current,
            ),
            status: result.status,
            source: TrackingSource::FrameToFrame,
            quality: Some(result.quality),
        })
    }
}

/// Re-normalises the rotation: products of poses accumulate rounding in the
/// quaternion's norm, and `UnitQuaternion::inverse` (a conjugate) turns a
/// norm of `1 + ε` into a growth of `1 + 2ε` per frame.
pub(super) fn renormalized(a_from_b: Isometry3<f64>) -> Isometry3<f64> {
    let rotation = UnitQuaternion::new_normalize(*a_from_b.rotation.quaternion());
    Isometry3::from_parts(a_from_b.translation, rotation)
}
