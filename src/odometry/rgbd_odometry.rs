//! Dense RGB-D odometry: joint photometric + point-to-plane Gauss–Newton on
//! SE(3), coarse to fine, with robust IRLS weights.
//!
//! Algorithm (one call of [`RgbdOdometry::track`]):
//!
//! ```text
//! T ← initial_guess                       (reference_from_current, e.g. constant velocity)
//! for level = coarsest ..= finest_level:
//!     σ_I, σ_G ← 1.4826 · median |r| at T  (robust scales, fixed for the level)
//!     H, b, E ← Σ_pixels λ w(r_I/σ_I) J_Iᵀ J_I / σ_I² + w(r_G/σ_G) J_Gᵀ J_G / σ_G²   (rayon)
//!               (+ Jᵀ Λ J, Jᵀ Λ r, ½ rᵀ Λ r of an optional PosePrior, e.g. the IMU)
//!     repeat ≤ max_iterations[level]:
//!         δ ← −(H + μ diag H)⁻¹ b          (Cholesky)
//!         if |δ| < ε: T ← T · exp(δ), next level
//!         T' ← T · exp(δ); evaluate H', b', E' at T'
//!         if mean E' > mean E: reject T', next level      (Kerl et al. 2013)
//!         T, H, b, E ← T', H', b', E'
//! quality ← inliers, RMS, eig(H), iterations;  status ← thresholds
//! ```
//!
//! Residuals and Jacobians are derived in [`super::residuals`]
//! (photometric: Kerl, Sturm, Cremers, *Robust Odometry Estimation for
//! RGB-D Cameras*, ICRA 2013; point-to-plane: Newcombe et al.,
//! *KinectFusion*, ISMAR 2011; joint weighting: Whelan et al.,
//! *ElasticFusion*, RSS 2015).

use nalgebra::{Isometry3, Matrix6, Vector6};

use super::buffer_pool::BufferPool;
use super::config::OdometryConfig;
use super::pose_prior::{PosePrior, PriorTerm};
use super::pyramid::RgbdPyramid;
use super::residuals::{NormalEquations, Problem};
use super::undistort::Undistorter;
use crate::error::{Error, Result};
use crate::geometry::{exp_se3, PinholeCamera};
use crate::sensor::RgbdFrame;

/// Why tracking is degraded or lost.
#[derive(Clone, Debug, PartialEq)]
pub enum TrackingIssue {
    /// Too few valid residuals at the finest level used.
    TooFewResiduals {
        /// Residuals found.
        found: usize,
        /// Required ([`super::TrackingThresholds::min_residuals`]).
        required: usize,
    },
    /// Too few residuals are inliers.
    LowInlierRatio {
        /// Measured ratio.
        ratio: f64,
        /// Threshold that was crossed.
        threshold: f64,
    },
    /// The normal matrix is ill-conditioned or singular (a motion direction
    /// is barely observed, e.g. ICP on a single plane); the pose is kept
    /// from the levels that could be solved.
    IllConditioned {
        /// Condition number of the normalised normal matrix.
        condition_number: f64,
    },
    /// The estimate moved implausibly far from the initial guess.
    ExcessiveCorrection {
        /// Translation of `initial_guess⁻¹ · estimate`, metres.
        translation_m: f64,
        /// Rotation of `initial_guess⁻¹ · estimate`, radians.
        rotation_rad: f64,
    },
    /// The estimate is not finite.
    NumericalFailure,
    /// The geometry does not agree at the estimate (a wrong local minimum,
    /// e.g. a teleported camera): too few reference points that project
    /// into the frame find a point-to-plane partner within the association
    /// gates, or the robust scale of the point-to-plane residuals is a
    /// large fraction of the distance gate (residuals spread over the whole
    /// gate). Set by the pipeline's loss detection.
    InconsistentGeometry {
        /// Point-to-plane residuals / photometric residuals (reference
        /// points that project into the frame) at the finest level.
        association_ratio: f64,
        /// Robust point-to-plane scale σ at the finest level, metres.
        point_to_plane_sigma_m: f64,
    },
}

/// Outcome of tracking one frame.
#[derive(Clone, Debug, PartialEq)]
pub enum TrackingStatus {
    /// Tracking is trustworthy.
    Ok,
    /// A pose was estimated but quality is low; use with care (e.g. do not
    /// integrate into the map, do not make a keyframe).
    Degraded(TrackingIssue),
    /// Tracking failed; the returned pose is the initial guess.
    Lost(TrackingIssue),
}

impl TrackingStatus {
    /// Whether the status is [`TrackingStatus::Lost`].
    pub fn is_lost(&self) -> bool {
        matches!(self, Self::Lost(_))
    }
}

/// Per-frame tracking quality, measured at the finest level used.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackingQuality {
    /// Inlier residuals (|r|/σ < threshold) over eligible reference pixels,
    /// both terms pooled.
    pub inlier_ratio: f64,
    /// RMS of the raw photometric residuals (intensity, 0..1 scale).
    pub photometric_rms: f64,
    /// RMS of the raw point-to-plane residuals, metres.
    pub point_to_plane_rms_m: f64,
    /// Number of photometric residuals.
    pub photometric_residuals: usize,
    /// Number of point-to-plane residuals.
    pub point_to_plane_residuals: usize,
    /// Robust photometric scale σ used at the finest level.
    pub photometric_sigma: f64,
    /// Robust point-to-plane scale σ used at the finest level, metres.
    pub point_to_plane_sigma_m: f64,
    /// Smallest eigenvalue of `H / N` (H the 6×6 normal matrix in `(v, ω)`
    /// with v in metres and ω in radians, N the number of residuals).
    pub hessian_min_eigenvalue: f64,
    /// Condition number `λ_max / λ_min` of H.
    pub hessian_condition_number: f64,
    /// Accepted Gauss–Newton steps over all levels.
    pub iterations: u32,
    /// Accepted steps per level, index 0 = finest.
    pub iterations_per_level: Vec<u32>,
    /// Whether the finest level used stopped on the step-size criterion (or
    /// on a cost increase) before reaching its iteration limit.
    pub converged: bool,
}

/// Result of [`RgbdOdometry::track`].
#[derive(Clone, Debug, PartialEq)]
pub struct TrackingResult {
    /// Estimated motion: maps points in the current camera frame into the
    /// reference camera frame (`world_from_current = world_from_reference ·
    /// reference_from_current`). Equals the initial guess when lost.
    pub reference_from_current: Isometry3<f64>,
    /// Ok / Degraded / Lost.
    pub status: TrackingStatus,
    /// Quality measures.
    pub quality: TrackingQuality,
    /// Gauss–Newton normal matrix of the scale-normalised problem at the
    /// finest level: an (over-confident, pixels are not independent)
    /// information matrix for the right perturbation `δ = (v, ω)` of
    /// `reference_from_current`, usable as a pose-graph edge weight after
    /// scaling.
    pub information: Matrix6<f64>,
}

/// Dense RGB-D odometry for one camera.
#[derive(Clone, Debug)]
pub struct RgbdOdometry {
    config: OdometryConfig,
    undistorter: Undistorter,
}

impl RgbdOdometry {
    /// Creates a tracker for frames from `camera` (which may be distorted:
    /// frames are undistorted in [`Self::prepare`] and tracked with the
    /// same-size pinhole camera). Validates the configuration.
    pub fn new(camera: &PinholeCamera, config: OdometryConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            undistorter: Undistorter::new(camera)?,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &OdometryConfig {
        &self.config
    }

    /// The undistorted pinhole camera the pyramids live on (use it for
    /// model-view rendering in frame-to-model tracking).
    pub fn pinhole_camera(&self) -> &PinholeCamera {
        self.undistorter.output_camera()
    }

    /// Undistorts a frame and builds its pyramid (once per frame; the
    /// pyramid serves as `current` now and as `reference` for the next
    /// frame in frame-to-frame tracking).
    pub fn prepare(&self, frame: &RgbdFrame) -> Result<RgbdPyramid> {
        let (intensity, depth_m) = self.undistorter.undistort_intensity_depth(frame)?;
        RgbdPyramid::from_depth_intensity(
            self.undistorter.output_camera(),
            intensity,
            depth_m,
            &self.config.pyramid,
        )
    }

    /// [`Self::prepare`] without the finest `first_level` levels (they are
    /// only downsampled, not built): level 0 of the result is level
    /// `first_level` of [`Self::prepare`]'s pyramid, bit for bit.
    pub fn prepare_from_level(&self, frame: &RgbdFrame, first_level: usize) -> Result<RgbdPyramid> {
        self.prepare_from_level_pooled(frame, first_level, &mut BufferPool::new())
    }

    /// [`Self::prepare_from_level`] drawing every image buffer from `pool`
    /// (give the pyramid back with [`BufferPool::recycle`] when done).
    pub(crate) fn prepare_from_level_pooled(
        &self,
        frame: &RgbdFrame,
        first_level: usize,
        pool: &mut BufferPool,
    ) -> Result<RgbdPyramid> {
        let (intensity, depth_m) = self
            .undistorter
            .undistort_intensity_depth_pooled(frame, pool)?;
        RgbdPyramid::from_depth_intensity_from_level_pooled(
            self.undistorter.output_camera(),
            intensity,
            depth_m,
            &self.config.pyramid,
            first_level,
            pool,
        )
    }

    /// Estimates `reference_from_current` starting from `initial_guess`
    /// (same meaning; e.g. the previous frame's motion for a constant
    /// velocity model, or identity when the reference was rendered at the
    /// predicted pose). Fails only on incompatible pyramids; tracking
    /// failure is reported in [`TrackingResult::status`].
    pub fn track(
        &self,
        reference: &RgbdPyramid,
        current: &RgbdPyramid,
        initial_guess: &Isometry3<f64>,
    ) -> Result<TrackingResult> {
        self.track_with_prior(reference, current, initial_guess, None)
    }

    /// [`Self::track`] with an optional Gaussian prior on
    /// `reference_from_current` (e.g. the IMU-predicted motion,
    /// [`PosePrior`]) added to the normal equations at every level and in
    /// the cost the step acceptance compares (see [`super::pose_prior`]).
    /// The visual terms keep their robust weights and scales; the reported
    /// quality, status and information are those of the visual terms alone
    /// (a prior must not hide degenerate vision). With `None` this is
    /// exactly [`Self::track`]. Errors also on a non-finite prior.
    pub fn track_with_prior(
        &self,
        reference: &RgbdPyramid,
        current: &RgbdPyramid,
        initial_guess: &Isometry3<f64>,
        prior: Option<&PosePrior>,
    ) -> Result<TrackingResult> {
        let config = &self.config;
        if prior.is_some_and(|p| !p.is_finite()) {
            return Err(Error::InvalidArgument("pose prior is not finite".into()));
        }
        // Σ robust loss + ½ rᵀΛr per visual residual (the prior's cost is
        // spread over the residuals so the comparison stays per residual).
        let mean_cost = |equations: &NormalEquations, term: Option<&PriorTerm>| match term {
            None => equations.mean_cost(),
            Some(term) => {
                let n = equations.residual_count();
                if n == 0 {
                    f64::INFINITY
                } else {
                    (equations.cost + term.cost) / n as f64
                }
            }
        };
        let prior_at = |pose: &Isometry3<f64>| prior.map(|p| p.term(pose));
        if !reference.is_compatible(current) {
            return Err(Error::InvalidArgument(
                "reference and current pyramids differ in levels or cameras".into(),
            ));
        }
        if config.finest_level >= reference.level_count() {
            return Err(Error::InvalidArgument(format!(
                "finest_level {} but pyramids have {} levels",
                config.finest_level,
                reference.level_count()
            )));
        }
        let coarsest = reference.level_count() - 1;
        let mut reference_from_current = *initial_guess;
        let mut iterations_per_level = vec![0u32; reference.level_count()];
        let mut last: Option<(NormalEquations, super::residuals::Scales)> = None;
        let mut converged = false;
        let mut singular_at_finest = false;

        for level in (config.finest_level..=coarsest).rev() {
            let stride = if level == config.finest_level {
                config.finest_level_stride
            } else {
                1
            };
            let problem_at = |pose: &Isometry3<f64>| {
                make_problem(reference, current, level, pose, stride, config)
            };
            let problem = problem_at(&reference_from_current);
            let scales = problem.estimate_scales(config);
            let mut equations = problem.accumulate(scales, config);
            let mut prior_term = prior_at(&reference_from_current);
            converged = false;
            for _ in 0..config.iterations_at(level) {
                if equations.residual_count() < 6 {
                    break;
                }
                let Some(delta) = solve(&equations, prior_term.as_ref(), config.damping) else {
                    // Rank-deficient H (e.g. ICP on a scene without enough
                    // planes): keep the pose from the coarser levels.
                    singular_at_finest = level == config.finest_level;
                    break;
                };
                let candidate = reference_from_current * exp_se3(&delta);
                let small = delta.fixed_rows::<3>(0).norm() < config.convergence_translation_m
                    && delta.fixed_rows::<3>(3).norm() < config.convergence_rotation_rad;
                if small {
                    // Converged: take the tiny step without re-evaluating
                    // (the statistics of the last evaluation stay valid).
                    reference_from_current = candidate;
                    iterations_per_level[level] += 1;
                    converged = true;
                    break;
                }
                let candidate_equations = problem_at(&candidate).accumulate(scales, config);
                let candidate_prior = prior_at(&candidate);
                let new_cost = mean_cost(&candidate_equations, candidate_prior.as_ref());
                let old_cost = mean_cost(&equations, prior_term.as_ref());
                if new_cost > old_cost {
                    converged = true;
                    break;
                }
                reference_from_current = candidate;
                equations = candidate_equations;
                prior_term = candidate_prior;
                iterations_per_level[level] += 1;
                // Converged on the cost: the next step would gain less.
                if old_cost - new_cost < config.convergence_cost_decrease * old_cost {
                    converged = true;
                    break;
                }
            }
            last = Some((equations, scales));
        }

        let (equations, scales) = match last {
            Some(l) => l,
            None => {
                return Err(Error::InvalidArgument(
                    "no pyramid level was tracked".into(),
                ))
            }
        };
        let quality = quality(&equations, scales, iterations_per_level, converged);
        let correction = initial_guess.inverse() * reference_from_current;
        let finite = reference_from_current
            .to_homogeneous()
            .iter()
            .all(|v| v.is_finite());
        let status = classify(config, &quality, &correction, !finite, singular_at_finest);
        if status.is_lost() {
            reference_from_current = *initial_guess;
        }
        Ok(TrackingResult {
            reference_from_current,
            status,
            quality,
            information: equations.hessian(),
        })
    }
}

/// Sets up the per-pixel problem at `level` and pose `reference_from_current`.
pub(crate) fn make_problem<'a>(
    reference: &'a RgbdPyramid,
    current: &'a RgbdPyramid,
    level: usize,
    reference_from_current: &Isometry3<f64>,
    stride: usize,
    config: &OdometryConfig,
) -> Problem<'a> {
    let to_f32 = |iso: &Isometry3<f64>| {
        let r = iso.rotation.to_rotation_matrix().into_inner();
        let t = iso.translation.vector;
        (
            [
                r[(0, 0)] as f32,
                r[(0, 1)] as f32,
                r[(0, 2)] as f32,
                r[(1, 0)] as f32,
                r[(1, 1)] as f32,
                r[(1, 2)] as f32,
                r[(2, 0)] as f32,
                r[(2, 1)] as f32,
                r[(2, 2)] as f32,
            ],
            [t.x as f32, t.y as f32, t.z as f32],
        )
    };
    Problem {
        reference: &reference.levels[level],
        current: &current.levels[level],
        current_from_reference: to_f32(&reference_from_current.inverse()),
        reference_from_current: to_f32(reference_from_current),
        use_photometric: config.terms.photometric(),
        use_point_to_plane: config.terms.point_to_plane(),
        max_distance_m: config.max_correspondence_distance_m as f32,
        min_normal_cos: config.max_normal_angle_deg.to_radians().cos() as f32,
        stride,
    }
}

/// Solves `(H + μ diag H) δ = −b` by Cholesky, with the prior's
/// `Jᵀ Λ J` and `Jᵀ Λ r` added to H and b when given.
fn solve(
    equations: &NormalEquations,
    prior: Option<&PriorTerm>,
    damping: f64,
) -> Option<Vector6<f64>> {
    let mut h = equations.hessian();
    let mut b = Vector6::from_column_slice(&equations.b);
    if let Some(prior) = prior {
        h += prior.hessian;
        b += prior.gradient;
    }
    for k in 0..6 {
        h[(k, k)] *= 1.0 + damping;
    }
    let delta = h.cholesky()?.solve(&(-b));
    delta.iter().all(|v| v.is_finite()).then_some(delta)
}

fn quality(
    equations: &NormalEquations,
    scales: super::residuals::Scales,
    iterations_per_level: Vec<u32>,
    converged: bool,
) -> TrackingQuality {
    let photo = &equations.photometric;
    let icp = &equations.point_to_plane;
    let candidates = photo.candidates + icp.candidates;
    let inlier_ratio = if candidates == 0 {
        0.0
    } else {
        (photo.inliers + icp.inliers) as f64 / candidates as f64
    };
    let n = equations.residual_count().max(1) as f64;
    let eigenvalues = (equations.hessian() / n).symmetric_eigenvalues();
    let min = eigenvalues.min();
    let max = eigenvalues.max();
    let condition = if min > 0.0 { max / min } else { f64::INFINITY };
    TrackingQuality {
        inlier_ratio,
        photometric_rms: photo.rms(),
        point_to_plane_rms_m: icp.rms(),
        photometric_residuals: photo.count,
        point_to_plane_residuals: icp.count,
        photometric_sigma: scales.photometric,
        point_to_plane_sigma_m: scales.point_to_plane_m,
        hessian_min_eigenvalue: min,
        hessian_condition_number: condition,
        iterations: iterations_per_level.iter().sum(),
        iterations_per_level,
        converged,
    }
}

fn classify(
    config: &OdometryConfig,
    quality: &TrackingQuality,
    correction: &Isometry3<f64>,
    numerical_failure: bool,
    singular: bool,
) -> TrackingStatus {
    let t = &config.thresholds;
    if numerical_failure {
        return TrackingStatus::Lost(TrackingIssue::NumericalFailure);
    }
    let found = quality.photometric_residuals + quality.point_to_plane_residuals;
    if found < t.min_residuals {
        return TrackingStatus::Lost(TrackingIssue::TooFewResiduals {
            found,
            required: t.min_residuals,
        });
    }
    let translation_m = correction.translation.vector.norm();
    let rotation_rad = correction.rotation.angle();
    if translation_m > t.max_translation_m || rotation_rad > t.max_rotation_rad {
        return TrackingStatus::Lost(TrackingIssue::ExcessiveCorrection {
            translation_m,
            rotation_rad,
        });
    }
    if quality.inlier_ratio < t.lost_inlier_ratio {
        return TrackingStatus::Lost(TrackingIssue::LowInlierRatio {
            ratio: quality.inlier_ratio,
            threshold: t.lost_inlier_ratio,
        });
    }
    if quality.inlier_ratio < t.degraded_inlier_ratio {
        return TrackingStatus::Degraded(TrackingIssue::LowInlierRatio {
            ratio: quality.inlier_ratio,
            threshold: t.degraded_inlier_ratio,
        });
    }
    if singular || quality.hessian_condition_number > t.max_condition_number {
        return TrackingStatus::Degraded(TrackingIssue::IllConditioned {
            condition_number: quality.hessian_condition_number,
        });
    }
    TrackingStatus::Ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::log_se3;

    /// A textureless wall 2 m in front of the camera: point-to-plane sees
    /// only `t_z`, `ω_x`, `ω_y`; `t_x`, `t_y` and `ω_z` are unobservable.
    fn wall() -> (RgbdOdometry, RgbdPyramid) {
        let camera = PinholeCamera::new(128, 96, 100.0, 100.0, 63.5, 47.5).unwrap();
        let odometry = RgbdOdometry::new(&camera, OdometryConfig::default()).unwrap();
        let pixels = 128 * 96;
        let pyramid = RgbdPyramid::from_depth_intensity(
            &camera,
            vec![0.5; pixels],
            vec![2.0; pixels],
            &odometry.config().pyramid,
        )
        .unwrap();
        (odometry, pyramid)
    }

    #[test]
    fn prior_fills_the_directions_vision_cannot_see() {
        let (odometry, wall) = wall();
        let guess = Isometry3::identity();
        let alone = odometry.track(&wall, &wall, &guess).unwrap();
        // The prior's motion lies in the unobservable directions only.
        let reference_from_prior = exp_se3(&Vector6::new(0.02, -0.01, 0.0, 0.0, 0.0, 0.01));
        let prior = PosePrior {
            reference_from_current: reference_from_prior,
            information: Matrix6::identity() * 1e4,
        };
        let with = odometry
            .track_with_prior(&wall, &wall, &guess, Some(&prior))
            .unwrap();
        assert_eq!(alone.reference_from_current, guess);
        let error = log_se3(&(reference_from_prior.inverse() * with.reference_from_current));
        assert!(error.norm() < 1e-4, "off the prior by {error}");
        // Quality, status and information stay those of vision alone: the
        // frame is still flagged ill-conditioned.
        assert!(matches!(
            with.status,
            TrackingStatus::Degraded(TrackingIssue::IllConditioned { .. })
        ));
        assert_eq!(with.status, alone.status);
        for k in [0, 1, 5] {
            assert_eq!(with.information[(k, k)], 0.0, "prior leaked into H");
        }
    }

    #[test]
    fn zero_information_prior_is_bit_identical_to_no_prior() {
        let (odometry, wall) = wall();
        // Observable motion (towards the wall, tilted) from a wrong guess.
        let camera = *odometry.pinhole_camera();
        let depth: Vec<f32> = (0..96)
            .flat_map(|v| (0..128).map(move |u| 2.0 + 0.002 * u as f32 - 0.001 * v as f32))
            .collect();
        let tilted = RgbdPyramid::from_depth_intensity(
            &camera,
            vec![0.5; depth.len()],
            depth,
            &odometry.config().pyramid,
        )
        .unwrap();
        let guess = exp_se3(&Vector6::new(0.01, 0.0, 0.03, 0.0, 0.01, 0.0));
        let prior = PosePrior {
            reference_from_current: Isometry3::identity(),
            information: Matrix6::zeros(),
        };
        let alone = odometry.track(&wall, &tilted, &guess).unwrap();
        let with = odometry
            .track_with_prior(&wall, &tilted, &guess, Some(&prior))
            .unwrap();
        assert_eq!(alone, with);
    }
}
