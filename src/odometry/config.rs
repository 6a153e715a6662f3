//! Configuration of the RGB-D odometry: pyramid, residual terms, robust
//! loss, iteration schedule and tracking-quality thresholds.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How the image pyramid is built (see [`super::RgbdPyramid`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PyramidConfig {
    /// Number of levels (level 0 = full resolution), 1..=8.
    pub levels: usize,
    /// Depths below this are treated as invalid, metres.
    pub min_depth_m: f32,
    /// Depths above this are treated as invalid, metres (Kinect noise grows
    /// with z²; beyond ~4 m it is too noisy for point-to-plane ICP).
    pub max_depth_m: f32,
    /// Depth downsampling averages the valid depths of a 2×2 block only when
    /// `(max − min) ≤ depth_edge_ratio · min`; otherwise it keeps the nearest
    /// (minimum) depth, so depth is never averaged across an edge.
    pub depth_edge_ratio: f32,
    /// Normals are not computed where neighbouring depths differ by more
    /// than this fraction of the depth (a depth discontinuity).
    pub normal_edge_ratio: f32,
}

impl Default for PyramidConfig {
    fn default() -> Self {
        Self {
            levels: 4,
            min_depth_m: 0.2,
            max_depth_m: 5.0,
            depth_edge_ratio: 0.03,
            normal_edge_ratio: 0.05,
        }
    }
}

impl PyramidConfig {
    /// Checks that the values are usable.
    pub fn validate(&self) -> Result<()> {
        if !(1..=8).contains(&self.levels) {
            return Err(Error::Config(format!(
                "pyramid.levels = {} must be in 1..=8",
                self.levels
            )));
        }
        let finite = [
            self.min_depth_m,
            self.max_depth_m,
            self.depth_edge_ratio,
            self.normal_edge_ratio,
        ]
        .iter()
        .all(|v| v.is_finite() && *v >= 0.0);
        if !finite || self.min_depth_m >= self.max_depth_m {
            return Err(Error::Config(format!(
                "pyramid depth range [{}, {}] m / edge ratios {} {} are invalid",
                self.min_depth_m, self.max_depth_m, self.depth_edge_ratio, self.normal_edge_ratio
            )));
        }
        Ok(())
    }
}

/// Which residuals enter the Gauss–Newton problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResidualTerms {
    /// Photometric error only (DVO, Kerl et al. 2013).
    Photometric,
    /// Point-to-plane ICP only (KinectFusion, Newcombe et al. 2011).
    PointToPlane,
    /// Both, weighted (ElasticFusion, Whelan et al. 2015).
    Joint,
}

impl ResidualTerms {
    /// Whether the photometric term is used.
    pub fn photometric(self) -> bool {
        matches!(self, Self::Photometric | Self::Joint)
    }

    /// Whether the point-to-plane term is used.
    pub fn point_to_plane(self) -> bool {
        matches!(self, Self::PointToPlane | Self::Joint)
    }
}

/// Robust loss for iteratively re-weighted least squares. Residuals are
/// first divided by their robust scale σ (1.4826 · median absolute residual,
/// estimated per pyramid level), so the parameters are in units of σ.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RobustLoss {
    /// Plain least squares (weight 1).
    Squared,
    /// Huber: weight `min(1, k/|r|)`; `k = 1.345` gives 95 % efficiency on
    /// Gaussian noise.
    Huber {
        /// Threshold in units of σ.
        k: f64,
    },
    /// Student-t with `nu` degrees of freedom: weight `(ν + 1)/(ν + r²)`
    /// (Kerl et al. 2013 use ν = 5).
    StudentT {
        /// Degrees of freedom.
        nu: f64,
    },
}

impl RobustLoss {
    /// IRLS weight for a residual `r` already divided by its scale.
    #[inline]
    pub fn weight(&self, r: f64) -> f64 {
        match *self {
            Self::Squared => 1.0,
            Self::Huber { k } => {
                let a = r.abs();
                if a <= k {
                    1.0
                } else {
                    k / a
                }
            }
            Self::StudentT { nu } => (nu + 1.0) / (nu + r * r),
        }
    }

    /// Loss `ρ(r)` for a scaled residual, normalised so `ρ(r) ≈ r²/2` near 0.
    #[inline]
    pub fn loss(&self, r: f64) -> f64 {
        match *self {
            Self::Squared => 0.5 * r * r,
            Self::Huber { k } => {
                let a = r.abs();
                if a <= k {
                    0.5 * r * r
                } else {
                    k * (a - 0.5 * k)
                }
            }
            Self::StudentT { nu } => 0.5 * (nu + 1.0) * (r * r / nu).ln_1p(),
        }
    }
}

/// Everything that controls [`super::RgbdOdometry`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OdometryConfig {
    /// Image pyramid.
    pub pyramid: PyramidConfig,
    /// Residual terms.
    pub terms: ResidualTerms,
    /// Relative weight λ of the photometric term in
    /// `E = Σ ρ(r_icp/σ_icp) + λ Σ ρ(r_photo/σ_photo)`. Both terms are
    /// normalised by their robust scale first, so λ = 1 is the maximum
    /// likelihood weighting of independent residuals; ElasticFusion uses 0.1
    /// on raw residuals (intensity vs metres) instead.
    pub photometric_weight: f64,
    /// Robust loss applied to both terms.
    pub robust_loss: RobustLoss,
    /// Lower bound of the photometric scale σ_photo (intensity in 0..1),
    /// so that noise-free synthetic data does not collapse the scale.
    pub min_photometric_sigma: f64,
    /// Lower bound of the point-to-plane scale σ_icp, metres.
    pub min_point_to_plane_sigma_m: f64,
    /// Projective associations farther apart than this are rejected
    /// (KinectFusion's ε_d), metres.
    pub max_correspondence_distance_m: f64,
    /// Associations whose normals differ by more than this are rejected
    /// (KinectFusion's ε_θ), degrees.
    pub max_normal_angle_deg: f64,
    /// Finest pyramid level used (0 = full resolution). Default 1: on TUM
    /// fr1_rpy (frame-to-frame, 694 frames) stopping at level 1 gave the same
    /// median RPE as going to level 0 with every other pixel (2.9 mm /
    /// 0.40° vs 3.3 mm / 0.36°) for about half the CPU time (19.8 vs
    /// 38.5 ms per frame, both cores summed); on fr1 data the colour/depth
    /// time offset, not resolution, limits accuracy. Use 0 for synthetic or
    /// factory-synchronised sensors.
    pub finest_level: usize,
    /// Pixel stride at the finest level used (1 = every pixel, 2 = every
    /// other pixel in both directions).
    pub finest_level_stride: usize,
    /// Maximum Gauss–Newton iterations per level, index 0 = finest level.
    /// Levels beyond the list reuse its last entry.
    pub max_iterations: Vec<u32>,
    /// Convergence: stop a level when the update's translation is below this,
    /// metres, and its rotation below `convergence_rotation_rad`.
    pub convergence_translation_m: f64,
    /// Convergence threshold on the update's rotation, radians.
    pub convergence_rotation_rad: f64,
    /// Convergence on the cost: a level also stops after an accepted step
    /// that lowered the mean robust cost by less than this fraction (the
    /// next step would gain even less, and evaluating it costs a full pass
    /// over the level). 0 = off. Default 3e-3: on TUM fr1_rpy (pipeline,
    /// 694 frames, no loop closure) track median 10.4–11.2 ms (off) → 9.1–9.3
    /// (1e-3) → 7.6–7.9 (3e-3; 9.4 in a run with host noise) → 6.5 ms (1e-2);
    /// ATE 2.804 → 2.814 → 2.838 → 2.937 cm (with loop closure 2.75 → 2.67
    /// → 2.69 cm). 3e-3 keeps the median under 10 ms on this noisy 2-core
    /// VM for 0.3 mm of ATE.
    pub convergence_cost_decrease: f64,
    /// Levenberg–Marquardt damping added as `μ · diag(H)`.
    pub damping: f64,
    /// A residual is an inlier when `|r|/σ` is below this.
    pub inlier_threshold_sigma: f64,
    /// Tracking quality thresholds.
    pub thresholds: TrackingThresholds,
}

impl Default for OdometryConfig {
    fn default() -> Self {
        Self {
            pyramid: PyramidConfig::default(),
            terms: ResidualTerms::Joint,
            photometric_weight: 0.1,
            robust_loss: RobustLoss::Huber { k: 1.345 },
            min_photometric_sigma: 2.0 / 255.0,
            min_point_to_plane_sigma_m: 0.001,
            max_correspondence_distance_m: 0.1,
            max_normal_angle_deg: 45.0,
            finest_level: 1,
            finest_level_stride: 1,
            max_iterations: vec![6, 8, 10, 10],
            convergence_translation_m: 1e-4,
            convergence_rotation_rad: 1e-4,
            convergence_cost_decrease: 3e-3,
            damping: 1e-6,
            inlier_threshold_sigma: 3.0,
            thresholds: TrackingThresholds::default(),
        }
    }
}

impl OdometryConfig {
    /// Checks that the values are usable.
    pub fn validate(&self) -> Result<()> {
        self.pyramid.validate()?;
        self.thresholds.validate()?;
        let positive = [
            ("photometric_weight", self.photometric_weight),
            ("min_photometric_sigma", self.min_photometric_sigma),
            (
                "min_point_to_plane_sigma_m",
                self.min_point_to_plane_sigma_m,
            ),
            (
                "max_correspondence_distance_m",
                self.max_correspondence_distance_m,
            ),
            ("max_normal_angle_deg", self.max_normal_angle_deg),
            ("convergence_translation_m", self.convergence_translation_m),
            ("convergence_rotation_rad", self.convergence_rotation_rad),
            ("inlier_threshold_sigma", self.inlier_threshold_sigma),
        ];
        for (name, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(Error::Config(format!(
                    "odometry.{name} = {value} must be finite and > 0"
                )));
            }
        }
        if !(0.0..1.0).contains(&self.convergence_cost_decrease) {
            return Err(Error::Config(format!(
                "odometry.convergence_cost_decrease = {} must be in [0, 1)",
                self.convergence_cost_decrease
            )));
        }
        if !(self.damping.is_finite() && self.damping >= 0.0) {
            return Err(Error::Config(format!(
                "odometry.damping = {} must be finite and ≥ 0",
                self.damping
            )));
        }
        match self.robust_loss {
            RobustLoss::Huber { k } if !(k.is_finite() && k > 0.0) => {
                return Err(Error::Config(format!(
                    "odometry.robust_loss Huber k = {k} must be > 0"
                )));
            }
            RobustLoss::StudentT { nu } if !(nu.is_finite() && nu > 0.0) => {
                return Err(Error::Config(format!(
                    "odometry.robust_loss Student-t nu = {nu} must be > 0"
                )));
            }
            _ => {}
        }
        if self.finest_level >= self.pyramid.levels {
            return Err(Error::Config(format!(
                "odometry.finest_level = {} but the pyramid has {} levels",
                self.finest_level, self.pyramid.levels
            )));
        }
        if self.finest_level_stride == 0 || self.finest_level_stride > 8 {
            return Err(Error::Config(format!(
                "odometry.finest_level_stride = {} must be in 1..=8",
                self.finest_level_stride
            )));
        }
        if self.max_iterations.is_empty() {
            return Err(Error::Config(
                "odometry.max_iterations must list at least one level".into(),
            ));
        }
        Ok(())
    }

    /// Maximum iterations at pyramid `level`.
    pub fn iterations_at(&self, level: usize) -> u32 {
        self.max_iterations
            .get(level)
            .or(self.max_iterations.last())
            .copied()
            .unwrap_or(0)
    }
}

/// Thresholds that turn tracking quality into a [`super::TrackingStatus`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackingThresholds {
    /// Fewer residuals than this at the finest level used → lost.
    pub min_residuals: usize,
    /// Inlier ratio below this → lost.
    pub lost_inlier_ratio: f64,
    /// Inlier ratio below this → degraded.
    pub degraded_inlier_ratio: f64,
    /// Condition number of the normalised 6×6 normal matrix above this →
    /// degraded (a direction of motion is barely observed).
    pub max_condition_number: f64,
    /// A correction `initial_guess⁻¹ · estimate` with a larger translation
    /// → lost, metres.
    pub max_translation_m: f64,
    /// A correction with a larger rotation → lost, radians.
    pub max_rotation_rad: f64,
}

impl Default for TrackingThresholds {
    fn default() -> Self {
        Self {
            min_residuals: 500,
            lost_inlier_ratio: 0.2,
            degraded_inlier_ratio: 0.5,
            max_condition_number: 1e6,
            max_translation_m: 0.3,
            max_rotation_rad: 0.5,
        }
    }
}

impl TrackingThresholds {
    /// Checks that the values are usable.
    pub fn validate(&self) -> Result<()> {
        let ok = (0.0..=1.0).contains(&self.lost_inlier_ratio)
            && (0.0..=1.0).contains(&self.degraded_inlier_ratio)
            && self.lost_inlier_ratio <= self.degraded_inlier_ratio
            && self.max_condition_number > 1.0
            && self.max_translation_m > 0.0
            && self.max_rotation_rad > 0.0;
        if !ok {
            return Err(Error::Config(format!(
                "odometry.thresholds are inconsistent: {self:?}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_validates_and_round_trips_through_toml() {
        let config = OdometryConfig::default();
        config.validate().unwrap();
        let text = toml::to_string(&config).unwrap();
        let back: OdometryConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, config);
        let partial: OdometryConfig = toml::from_str("photometric_weight = 0.5").unwrap();
        assert_eq!(partial.photometric_weight, 0.5);
    }

    #[test]
    fn rejects_bad_values() {
        let mut c = OdometryConfig {
            finest_level: 4,
            ..OdometryConfig::default()
        };
        assert!(c.validate().is_err());
        c.finest_level = 0;
        c.photometric_weight = f64::NAN;
        assert!(c.validate().is_err());
        c.photometric_weight = 1.0;
        c.thresholds.lost_inlier_ratio = 0.9;
        assert!(c.validate().is_err());
        c.thresholds = TrackingThresholds::default();
        c.validate().unwrap();
        for bad in [-1e-3, 1.0, f64::NAN] {
            c.convergence_cost_decrease = bad;
            assert!(c.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn robust_weights_are_derivative_of_loss_over_r() {
        for loss in [
            RobustLoss::Squared,
            RobustLoss::Huber { k: 1.345 },
            RobustLoss::StudentT { nu: 5.0 },
        ] {
            for r in [-4.0, -0.5, 0.1, 1.0, 2.0, 7.0] {
                let h = 1e-6;
                let d = (loss.loss(r + h) - loss.loss(r - h)) / (2.0 * h);
                assert!((d / r - loss.weight(r)).abs() < 1e-6, "{loss:?} at {r}");
            }
        }
    }
}
