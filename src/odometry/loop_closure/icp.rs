//! A loop verifier that needs no tracker: coarse-to-fine projective
//! point-to-plane ICP on the keyframes' downsampled depth images.
//!
//! Data association is projective (Blais & Levine 1995; KinectFusion, Newcombe
//! et al., ISMAR 2011, Sec. 3.5): a query point `p`, moved by the current
//! `candidate_from_query = T`, is projected into the candidate image and paired
//! with the candidate's vertex `v` and normal `n` at that pixel. Pairs farther
//! than `max_correspondence_distance_m`, or whose normals differ by more than
//! `max_normal_angle_deg`, are dropped. The point-to-plane error
//! `r = nᵀ(T p − v)` (Chen & Medioni 1992) is minimised by Gauss–Newton with a
//! Huber weight (δ = `huber_delta_m`) and the right update
//! `T ← T · (Exp(φ), ρ)` of the pose graph, whose Jacobian is
//! `∂r/∂[ρ; φ] = [ (Rᵀn)ᵀ , (p × Rᵀn)ᵀ ]` (linearised as in Low, "Linear
//! Least-Squares Optimization for Point-to-Plane ICP", TR04-004, 2004).
//! Normals come from central differences of the vertex map (KinectFusion
//! Eq. 4). The pyramid halves the keyframe image `pyramid_levels − 1` times.
//!
//! **Acceptance** (all on the finest level, at the final pose):
//! * inlier ratio — query points with valid depth whose pair is within
//!   `inlier_distance_m` and the normal gate, over all query points with valid
//!   depth — at least `min_inlier_ratio` (this is also the view overlap, so it
//!   rejects candidates that only look alike),
//! * at least `min_inliers` inliers and RMS point-to-plane residual of the
//!   inliers at most `max_rms_residual_m`,
//! * the 6×6 normal matrix per inlier has smallest eigenvalue at least
//!   `min_hessian_eigenvalue` (no sliding along a plane or a corridor),
//! * the correction from the initial guess is within `max_correction_m` and
//!   `max_correction_deg` (ICP outside its basin of convergence).
//!
//! **Information**: `Ω = JᵀJ / σ² · (n_eff / N)` with `σ` the RMS residual
//! (floored at `min_residual_sigma_m`) and `N` inliers. Neighbouring pixels'
//! errors are strongly correlated (depth-camera calibration and smoothing), so
//! treating the `N` pairs as independent would make loops hundreds of times
//! overconfident; `n_eff = effective_independent_points` is the assumed number
//! of independent measurements (a documented heuristic, cf. Open3D's
//! `get_information_matrix_from_point_clouds`, which uses `JᵀJ` unscaled).

use nalgebra::{Isometry3, Matrix6, Point3, Translation3, UnitQuaternion, Vector3, Vector6};
use serde::{Deserialize, Serialize};

use super::{LoopVerifier, VerifiedLoop};
use crate::error::{Error, Result};
use crate::odometry::keyframe_image::KeyframeImage;
use crate::odometry::keyframes::Keyframe;

/// Settings of [`ProjectiveIcpVerifier`] (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IcpVerifierConfig {
    /// Pyramid levels (1 = the keyframe image only).
    pub pyramid_levels: usize,
    /// Gauss–Newton iterations per level.
    pub iterations_per_level: usize,
    /// Association gate on the point distance during the iterations.
    pub max_correspondence_distance_m: f64,
    /// Association gate on the angle between normals.
    pub max_normal_angle_deg: f64,
    /// Huber threshold on the point-to-plane residual.
    pub huber_delta_m: f64,
    /// Point distance of an inlier in the final check.
    pub inlier_distance_m: f64,
    /// Smallest accepted inlier ratio.
    pub min_inlier_ratio: f64,
    /// Smallest accepted number of inliers.
    pub min_inliers: usize,
    /// Largest accepted RMS point-to-plane residual of the inliers.
    pub max_rms_residual_m: f64,
    /// Smallest accepted eigenvalue of `JᵀJ / N`.
    pub min_hessian_eigenvalue: f64,
    /// Largest accepted translation change from the initial guess.
    pub max_correction_m: f64,
    /// Largest accepted rotation change from the initial guess.
    pub max_correction_deg: f64,
    /// Assumed number of independent measurements for the information.
    pub effective_independent_points: f64,
    /// Floor of the residual σ for the information.
    pub min_residual_sigma_m: f64,
}

impl Default for IcpVerifierConfig {
    /// Tuned for 160×120 keyframe images of a Kinect (see the fr1_rpy test).
    fn default() -> Self {
        Self {
            pyramid_levels: 3,
            iterations_per_level: 12,
            max_correspondence_distance_m: 0.10,
            max_normal_angle_deg: 30.0,
            huber_delta_m: 0.01,
            inlier_distance_m: 0.02,
            min_inlier_ratio: 0.6,
            min_inliers: 500,
            max_rms_residual_m: 0.012,
            min_hessian_eigenvalue: 1e-3,
            max_correction_m: 0.3,
            max_correction_deg: 20.0,
            effective_independent_points: 100.0,
            min_residual_sigma_m: 0.003,
        }
    }
}

impl IcpVerifierConfig {
    /// Checks the settings ([`Error::Config`] naming the bad field).
    pub fn validate(&self) -> Result<()> {
        let positive = [
            (
                "max_correspondence_distance_m",
                self.max_correspondence_distance_m,
            ),
            ("max_normal_angle_deg", self.max_normal_angle_deg),
            ("huber_delta_m", self.huber_delta_m),
            ("inlier_distance_m", self.inlier_distance_m),
            ("max_rms_residual_m", self.max_rms_residual_m),
            ("max_correction_m", self.max_correction_m),
            ("max_correction_deg", self.max_correction_deg),
            (
                "effective_independent_points",
                self.effective_independent_points,
            ),
            ("min_residual_sigma_m", self.min_residual_sigma_m),
        ];
        for (name, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(Error::Config(format!(
                    "icp_verifier.{name} must be finite and > 0, got {value}"
                )));
            }
        }
        let ratio_ok = (0.0..=1.0).contains(&self.min_inlier_ratio);
        let eigen_ok =
            self.min_hessian_eigenvalue.is_finite() && self.min_hessian_eigenvalue >= 0.0;
        if !(ratio_ok && eigen_ok) {
            return Err(Error::Config(
                "icp_verifier.min_inlier_ratio must be in [0, 1] and min_hessian_eigenvalue ≥ 0"
                    .into(),
            ));
        }
        if self.pyramid_levels == 0 || self.iterations_per_level == 0 {
            return Err(Error::Config(
                "icp_verifier.pyramid_levels and iterations_per_level must be ≥ 1".into(),
            ));
        }
        Ok(())
    }
}

/// Projective point-to-plane ICP loop verifier (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProjectiveIcpVerifier {
    config: IcpVerifierConfig,
}

/// Vertex and normal maps of one pyramid level.
struct Level {
    image: KeyframeImage,
    points: Vec<Option<Point3<f64>>>,
    normals: Vec<Option<Vector3<f64>>>,
}

impl Level {
    fn new(image: KeyframeImage) -> Self {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let points: Vec<Option<Point3<f64>>> = (0..w * h).map(|i| image.point(i)).collect();
        let mut normals = vec![None; w * h];
        for v in 1..h.saturating_sub(1) {
            for u in 1..w.saturating_sub(1) {
                let i = v * w + u;
                let neighbours = (
                    points[i],
                    points[i - 1],
                    points[i + 1],
                    points[i - w],
                    points[i + w],
                );
                let (Some(p), Some(l), Some(r), Some(t), Some(b)) = neighbours else {
                    continue;
                };
                // Skip depth discontinuities (> 5 % between neighbours).
                if [l, r, t, b].iter().any(|q| (q.z - p.z).abs() > 0.05 * p.z) {
                    continue;
                }
                // KinectFusion Eq. 4; oriented towards the camera.
                let n = (r - l).cross(&(b - t));
                let norm = n.norm();
                if norm > 1e-12 {
                    let n = n / norm;
                    normals[i] = Some(if n.dot(&p.coords) > 0.0 { -n } else { n });
                }
            }
        }
        Self {
            image,
            points,
            normals,
        }
    }
}

/// Accumulated normal equations of one association pass.
struct Normal {
    hessian: Matrix6<f64>,
    gradient: Vector6<f64>,
    pairs: usize,
    inliers: usize,
    inlier_sq_sum: f64,
    valid_query: usize,
}

impl ProjectiveIcpVerifier {
    /// A verifier; fails when the config does not validate.
    pub fn new(config: IcpVerifierConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config })
    }

    /// The settings.
    pub fn config(&self) -> &IcpVerifierConfig {
        &self.config
    }

    /// Aligns `query` to `candidate` from `candidate_from_query_guess` and
    /// applies the acceptance tests; `None` when rejected.
    pub fn align(
        &self,
        query: &KeyframeImage,
        candidate: &KeyframeImage,
        candidate_from_query_guess: &Isometry3<f64>,
    ) -> Option<VerifiedLoop> {
        let c = &self.config;
        let pyramid = |image: &KeyframeImage| -> Vec<Level> {
            let mut levels = vec![Level::new(image.clone())];
            for _ in 1..c.pyramid_levels {
                let Some(last) = levels.last() else { break };
                match last.image.downsampled(2) {
                    Ok(smaller) => levels.push(Level::new(smaller)),
                    Err(_) => break, // too small to halve again
                }
            }
            levels
        };
        let (query_levels, candidate_levels) = (pyramid(query), pyramid(candidate));
        let mut candidate_from_query = *candidate_from_query_guess;
        let cos_normal = c.max_normal_angle_deg.to_radians().cos();
        for (q, t) in query_levels.iter().zip(&candidate_levels).rev() {
            for _ in 0..c.iterations_per_level {
                let normal = self.accumulate(q, t, &candidate_from_query, cos_normal, true);
                if normal.pairs < 6 {
                    return None;
                }
                let step = normal.hessian.cholesky()?.solve(&(-normal.gradient));
                if !step.iter().all(|v| v.is_finite()) {
                    return None;
                }
                candidate_from_query = retract(&candidate_from_query, &step);
                if step.amax() < 1e-7 {
                    break;
                }
            }
        }
        // Final check on the finest level with unit weights.
        let finest = (query_levels.first()?, candidate_levels.first()?);
        let normal = self.accumulate(finest.0, finest.1, &candidate_from_query, cos_normal, false);
        if normal.valid_query == 0 || normal.inliers < c.min_inliers.max(6) {
            return None;
        }
        let n = normal.inliers as f64;
        let inlier_ratio = n / normal.valid_query as f64;
        let rms_m = (normal.inlier_sq_sum / n).sqrt();
        let min_eigenvalue = (normal.hessian / n).symmetric_eigenvalues().min();
        let correction = candidate_from_query_guess.inverse() * candidate_from_query;
        let accepted = inlier_ratio >= c.min_inlier_ratio
            && rms_m <= c.max_rms_residual_m
            && min_eigenvalue >= c.min_hessian_eigenvalue
            && correction.translation.vector.norm() <= c.max_correction_m
            && correction.rotation.angle().to_degrees() <= c.max_correction_deg;
        if !accepted {
            return None;
        }
        let sigma_m = rms_m.max(c.min_residual_sigma_m);
        let information =
            normal.hessian * (c.effective_independent_points / n / (sigma_m * sigma_m));
        Some(VerifiedLoop {
            candidate_from_query,
            information: 0.5 * (information + information.transpose()),
            inlier_ratio,
        })
    }

    /// One projective association pass: Huber-weighted normal equations
    /// (`iterate`) or unit-weight inlier statistics (final check).
    fn accumulate(
        &self,
        query: &Level,
        candidate: &Level,
        candidate_from_query: &Isometry3<f64>,
        cos_normal: f64,
        iterate: bool,
    ) -> Normal {
        let c = &self.config;
        let gate_m = if iterate {
            c.max_correspondence_distance_m
        } else {
            c.inlier_distance_m
        };
        let rotation = candidate_from_query.rotation;
        let mut out = Normal {
            hessian: Matrix6::zeros(),
            gradient: Vector6::zeros(),
            pairs: 0,
            inliers: 0,
            inlier_sq_sum: 0.0,
            valid_query: 0,
        };
        for (i, point) in query.points.iter().enumerate() {
            let Some(query_from_point) = point else {
                continue;
            };
            out.valid_query += 1;
            let candidate_from_point = candidate_from_query * query_from_point;
            let Some(pixel) = candidate.image.camera.project(&candidate_from_point) else {
                continue;
            };
            let Some(j) = candidate.image.pixel_index(&pixel) else {
                continue;
            };
            let (Some(v), Some(n)) = (candidate.points[j], candidate.normals[j]) else {
                continue;
            };
            let difference = candidate_from_point - v;
            if difference.norm() > gate_m {
                continue;
            }
            if let Some(n_query) = query.normals[i] {
                if (rotation * n_query).dot(&n) < cos_normal {
                    continue;
                }
            } else if !iterate {
                continue;
            }
            let r = n.dot(&difference);
            // Jacobian w.r.t. the right update [ρ; φ] (module docs).
            let n_local = rotation.inverse() * n;
            let jacobian = Vector6::new(n_local.x, n_local.y, n_local.z, 0.0, 0.0, 0.0) + {
                let m = query_from_point.coords.cross(&n_local);
                Vector6::new(0.0, 0.0, 0.0, m.x, m.y, m.z)
            };
            let weight = if iterate && r.abs() > c.huber_delta_m {
                c.huber_delta_m / r.abs()
            } else {
                1.0
            };
            out.hessian += weight * jacobian * jacobian.transpose();
            out.gradient += weight * r * jacobian;
            out.pairs += 1;
            out.inliers += 1;
            out.inlier_sq_sum += r * r;
        }
        out
    }
}

impl LoopVerifier for ProjectiveIcpVerifier {
    /// Aligns from the current estimates
    /// `candidate.world_from_keyframe⁻¹ · query.world_from_keyframe`.
    fn verify(&self, query: &Keyframe, candidate: &Keyframe) -> Option<VerifiedLoop> {
        let guess = candidate.world_from_keyframe.inverse() * query.world_from_keyframe;
        self.align(&query.image, &candidate.image, &guess)
    }
}

/// `R ← R·Exp(φ)`, `t ← t + R·ρ` (the pose graph's retraction).
fn retract(a_from_b: &Isometry3<f64>, delta: &Vector6<f64>) -> Isometry3<f64> {
    let rho = Vector3::new(delta[0], delta[1], delta[2]);
    let phi = Vector3::new(delta[3], delta[4], delta[5]);
    Isometry3::from_parts(
        Translation3::from(a_from_b.translation.vector + a_from_b.rotation * rho),
        a_from_b.rotation * UnitQuaternion::from_scaled_axis(phi),
    )
}
