//! The predict and track stages of [`Pipeline::process`]: constant-velocity
//! (or IMU) prediction and frame-to-model tracking with its fallbacks.

use nalgebra::{Isometry3, Matrix6, UnitQuaternion, Vector6};

use super::model_view::ModelTracker;
use super::{elapsed_ms, CachedView, Pipeline, StageTimings, Tracked, TrackingSource};
use crate::error::Result;
use crate::geometry::exp_se3;
use crate::odometry::{
    PosePrior, ResidualTerms, RgbdPyramid, TrackingIssue, TrackingQuality, TrackingStatus,
};
use crate::sensor::{RgbdFrame, Timestamp};
use std::time::Instant;

impl Pipeline {
    /// Constant velocity on SE(3): `T_last · exp(ξ Δt)`, or the IMU prior
    /// (then the flag is `true`).
    pub(super) fn predict(&mut self, timestamp: Timestamp) -> (Isometry3<f64>, bool) {
        let Some(last) = self.motion.last else {
            return (self.initial_world_from_camera, false);
        };
        let dt_s = timestamp.secs_since(last.timestamp);
        if let Some(prior) = self.motion_prior.as_mut() {
            let from = Timestamp::from_secs_f64(last.timestamp.as_secs_f64() - 0.05);
            let start = self.imu.partition_point(|s| s.timestamp <= from);
            // One sample past the frame (if buffered) for interpolation.
            let end = self.imu.partition_point(|s| s.timestamp <= timestamp) + 1;
            let samples = &self.imu[start..end.min(self.imu.len()).max(start)];
            if let Some(predicted) =
                prior.predict(samples, last.timestamp, timestamp, &last.world_from_camera)
            {
                return (renormalized(predicted), true);
            }
        }
        let xi = Vector6::from(self.motion.velocity_per_s) * dt_s;
        (renormalized(last.world_from_camera * exp_se3(&xi)), false)
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
        // The motion prior's prediction as a Gaussian prior in the visual
        // solve, when it gives its information (an IMU with a gyro).
        let prior = self.motion_prior.as_ref().and_then(|p| {
            let information = p.prediction_information(frame.timestamp)?;
            Some(WorldPrior {
                world_from_camera: *world_from_predicted,
                information,
            })
        });
        let prior = prior.as_ref();
        let mut attempt = self.track_from(current, world_from_predicted, prior, timing)?;
        if attempt.status.is_lost() && last_good.world_from_camera != *world_from_predicted {
            let retry = self.track_from(current, &last_good.world_from_camera, prior, timing)?;
            if !retry.status.is_lost() {
                attempt = retry;
            }
        }
        if attempt.status.is_lost() {
            if let Some(stage) = self.loop_closure.as_mut() {
                if let Some(world_from_guess) = stage.relocalise(frame, current)? {
                    // Not pulled back to the prediction that was lost.
                    let retry = self.track_from(current, &world_from_guess, None, timing)?;
                    if !retry.status.is_lost() {
                        attempt = Tracked {
                            source: TrackingSource::Relocalised,
                            ..retry
                        };
                        // The relocalised pose is not reached by motion from
                        // the last good pose: restart the velocity model.
                        self.motion.last_good = None;
                    }
                }
            }
        }
        Ok(attempt)
    }

    /// One attempt from `world_from_guess`: against the model view when the
    /// model is dense enough there, else against the last tracked frame;
    /// with the motion prior's Gaussian prior on the pose, if any.
    fn track_from(
        &mut self,
        current: &RgbdPyramid,
        world_from_guess: &Isometry3<f64>,
        prior: Option<&WorldPrior>,
        timing: &mut StageTimings,
    ) -> Result<Tracked> {
        // The prior in the tracker's parameterisation: `reference_from_current`.
        let relative_prior = |world_from_reference: &Isometry3<f64>| {
            prior.map(|p| PosePrior {
                reference_from_current: world_from_reference.inverse() * p.world_from_camera,
                information: p.information,
            })
        };
        if self.counters.integrated >= self.config.tracking.min_model_frames {
            let reuse = self
                .cached_view
                .as_mut()
                .filter(|c| c.reuses < self.config.tracking.model_view_reuse);
            match reuse {
                Some(cached) => cached.reuses += 1,
                None => {
                    let clock = Instant::now();
                    let hint = self
                        .reference
                        .as_ref()
                        .filter(|_| self.config.tracking.raycast_hint)
                        .and_then(|r| Some((r.pyramid.levels.first()?, &r.world_from_camera)));
                    let view = self.tracker.render(&self.volume, world_from_guess, hint)?;
                    timing.model_view_ms += elapsed_ms(clock);
                    self.counters.model_views += 1;
                    let fresh = CachedView {
                        view,
                        world_from_view: *world_from_guess,
                        reuses: 0,
                    };
                    // The old view's buffers serve the next frame.
                    if let Some(old) = self.cached_view.replace(fresh) {
                        self.tracker.recycle(old.view.pyramid);
                    }
                }
            }
            let usable = self
                .cached_view
                .as_ref()
                .filter(|c| c.view.hit_ratio >= self.config.tracking.min_model_hit_ratio);
            if let Some(CachedView {
                view,
                world_from_view,
                ..
            }) = usable
            {
                ModelTracker::check_compatible(&view.pyramid, current)?;
                let clock = Instant::now();
                // A fresh view is rendered at the guess (start at identity).
                let guess = world_from_view.inverse() * world_from_guess;
                let prior = relative_prior(world_from_view);
                let result = self.tracker.reduced.track_with_prior(
                    &view.pyramid,
                    current,
                    &guess,
                    prior.as_ref(),
                )?;
                timing.track_ms += elapsed_ms(clock);
                let status = self.check_geometry(result.status, &result.quality);
                let world_from_camera = if status.is_lost() {
                    // Retries and relocalisation render afresh.
                    self.drop_cached_view();
                    *world_from_guess
                } else {
                    renormalized(world_from_view * result.reference_from_current)
                };
                return Ok(Tracked {
                    world_from_camera,
                    status,
                    source: TrackingSource::Model,
                    quality: Some(result.quality),
                });
            }
            // Too sparse to track against: not worth keeping either.
            self.drop_cached_view();
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
        let prior = relative_prior(&reference.world_from_camera);
        let result = self.tracker.reduced.track_with_prior(
            &reference.pyramid,
            current,
            &guess,
            prior.as_ref(),
        )?;
        timing.track_ms += elapsed_ms(clock);
        let status = self.check_geometry(result.status, &result.quality);
        Ok(Tracked {
            world_from_camera: if status.is_lost() {
                *world_from_guess
            } else {
                renormalized(reference.world_from_camera * result.reference_from_current)
            },
            status,
            source: TrackingSource::FrameToFrame,
            quality: Some(result.quality),
        })
    }

    /// Forgets the cached model view (the next model-tracked frame renders
    /// afresh) and recycles its buffers.
    pub(super) fn drop_cached_view(&mut self) {
        if let Some(old) = self.cached_view.take() {
            self.tracker.recycle(old.view.pyramid);
        }
    }

    /// Loss detection that the tracker's own inlier ratio cannot provide:
    /// that ratio counts residuals within 3σ of the *robust scale of the
    /// same residuals*, so a wrong local minimum (e.g. a teleported camera)
    /// still scores about 0.5. Two absolute checks on the finest level:
    ///
    /// * association ratio — point-to-plane residuals (pairs within the
    ///   gates ε_d, ε_θ) over photometric residuals (reference points that
    ///   project into the frame): 0.91 on the synthetic room, ≥ 0.54 on TUM
    ///   fr1_rpy (240 frames), 0.02–0.29 for a kidnapped camera; below
    ///   `tracking.min_association_ratio` is lost;
    /// * robust point-to-plane scale σ_icp (1.4826 · median |r|): the depth
    ///   noise at a correct pose (synthetic ≈ 3 mm; fr1_rpy p99 13 mm, max
    ///   16 mm), ≈ 0.74 ε_d for residuals spread over the gate (74 mm
    ///   measured when kidnapped); above `tracking.max_sigma_gate_fraction` · ε_d is
    ///   lost.
    ///
    /// Only with both residual terms in use (the ratio needs both).
    fn check_geometry(&self, status: TrackingStatus, quality: &TrackingQuality) -> TrackingStatus {
        if status.is_lost() || self.config.odometry.terms != ResidualTerms::Joint {
            return status;
        }
        let tracking = &self.config.tracking;
        let max_sigma_m =
            tracking.max_sigma_gate_fraction * self.config.odometry.max_correspondence_distance_m;
        let association_ratio =
            quality.point_to_plane_residuals as f64 / quality.photometric_residuals.max(1) as f64;
        let point_to_plane_sigma_m = quality.point_to_plane_sigma_m;
        if association_ratio >= tracking.min_association_ratio
            && point_to_plane_sigma_m <= max_sigma_m
        {
            return status;
        }
        TrackingStatus::Lost(TrackingIssue::InconsistentGeometry {
            association_ratio,
            point_to_plane_sigma_m,
        })
    }
}

/// A Gaussian prior on the frame's `world_from_camera` (information for its
/// right perturbation `(v, ω)`).
struct WorldPrior {
    world_from_camera: Isometry3<f64>,
    information: Matrix6<f64>,
}

/// Re-normalises the rotation: products of poses accumulate rounding in the
/// quaternion's norm, and `UnitQuaternion::inverse` (a conjugate) turns a
/// norm of `1 + ε` into a growth of `1 + 2ε` per frame.
pub(super) fn renormalized(a_from_b: Isometry3<f64>) -> Isometry3<f64> {
    let rotation = UnitQuaternion::new_normalize(*a_from_b.rotation.quaternion());
    Isometry3::from_parts(a_from_b.translation, rotation)
}
