//! Absolute trajectory error (Sturm et al., IROS 2012, Sec. VI-B, Eq. 2–3).

use nalgebra::Point3;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::eval::alignment::{align_umeyama, Alignment, AlignmentKind};
use crate::eval::association::{associate, DEFAULT_MAX_DIFF_S};
use crate::eval::stats::ErrorStats;
use crate::geometry::StampedPose;

/// Options of [`ate`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct AteOptions {
    /// Maximum timestamp difference for association, seconds (default 0.02).
    pub max_diff_s: f64,
    /// Alignment before measuring (default SE(3)).
    pub alignment: AlignmentKind,
}

impl Default for AteOptions {
    fn default() -> Self {
        Self {
            max_diff_s: DEFAULT_MAX_DIFF_S,
            alignment: AlignmentKind::Se3,
        }
    }
}

impl AteOptions {
    /// Sets the association threshold in seconds.
    pub fn with_max_diff_s(mut self, max_diff_s: f64) -> Self {
        self.max_diff_s = max_diff_s;
        self
    }

    /// Sets the alignment kind.
    pub fn with_alignment(mut self, alignment: AlignmentKind) -> Self {
        self.alignment = alignment;
        self
    }
}

/// Result of [`ate`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AteResult {
    /// The alignment applied to the estimate (identity for
    /// [`AlignmentKind::None`]).
    pub alignment: Alignment,
    /// Statistics of the per-pose translation errors, metres.
    pub translation_m: ErrorStats,
    /// Associated `(estimate_index, groundtruth_index)` pairs, by time.
    #[serde(skip)]
    pub matches: Vec<(usize, usize)>,
    /// Translation error of each associated pose, metres (same order as
    /// `matches`).
    #[serde(skip)]
    pub errors_m: Vec<f64>,
}

/// Absolute trajectory error: associates `estimate` with `groundtruth` by
/// timestamp, aligns the associated positions (Umeyama, see
/// [`align_umeyama`]) and measures `||p_gt - (s R p_est + t)||` per pose.
///
/// Same definition as `evo_ape tum gt est -a|-as --t_max_diff 0.02` (APE,
/// translation part) and TUM's `evaluate_ate.py` (SE(3)).
///
/// Errors ([`Error::InvalidArgument`]): an empty trajectory, a bad
/// `max_diff_s`, or fewer associated poses than needed (3 with alignment,
/// 1 without).
pub fn ate(
    estimate: &[StampedPose],
    groundtruth: &[StampedPose],
    options: &AteOptions,
) -> Result<AteResult> {
    check_inputs(estimate, groundtruth, options.max_diff_s)?;
    let matches = associate(estimate, groundtruth, options.max_diff_s);
    let needed = match options.alignment {
        AlignmentKind::None => 1,
        AlignmentKind::Se3 | AlignmentKind::Sim3 => 3,
    };
    if matches.len() < needed {
        return Err(Error::InvalidArgument(format!(
            "ATE: only {} of {} estimated poses have groundtruth within {} s (need {needed})",
            matches.len(),
            estimate.len(),
            options.max_diff_s
        )));
    }
    let est_points: Vec<Point3<f64>> = matches
        .iter()
        .map(|&(i, _)| Point3::from(estimate[i].world_from_camera.translation.vector))
        .collect();
    let gt_points: Vec<Point3<f64>> = matches
        .iter()
        .map(|&(_, j)| Point3::from(groundtruth[j].world_from_camera.translation.vector))
        .collect();
    let alignment = match options.alignment {
        AlignmentKind::None => Alignment::identity(),
        AlignmentKind::Se3 => align_umeyama(&est_points, &gt_points, false)?,
        AlignmentKind::Sim3 => align_umeyama(&est_points, &gt_points, true)?,
    };
    let errors_m: Vec<f64> = est_points
        .iter()
        .zip(&gt_points)
        .map(|(e, g)| (alignment.apply(e) - g).norm())
        .collect();
    Ok(AteResult {
        alignment,
        translation_m: ErrorStats::from_errors(&errors_m)?,
        matches,
        errors_m,
    })
}

/// Shared argument checks of [`ate`] and [`crate::eval::rpe`].
pub(crate) fn check_inputs(
    estimate: &[StampedPose],
    groundtruth: &[StampedPose],
    max_diff_s: f64,
) -> Result<()> {
    if estimate.is_empty() {
        return Err(Error::InvalidArgument(
            "estimated trajectory is empty".into(),
        ));
    }
    if groundtruth.is_empty() {
        return Err(Error::InvalidArgument(
            "groundtruth trajectory is empty".into(),
        ));
    }
    if !(max_diff_s.is_finite() && max_diff_s >= 0.0) {
        return Err(Error::InvalidArgument(format!(
            "association max difference {max_diff_s} s must be finite and >= 0"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::test_util::SplitMix64;
    use crate::sensor::Timestamp;
    use nalgebra::{Isometry3, Translation3, Vector3};

    /// A wavy 3-D path with varying orientation, at 30 Hz.
    pub(crate) fn wavy_groundtruth(n: usize) -> Vec<StampedPose> {
        (0..n)
            .map(|k| {
                let s = k as f64 * 0.01;
                let position = Vector3::new(s.cos() * 2.0, (2.0 * s).sin(), 0.3 * s);
                let rotation = Vector3::new(0.3 * s.sin(), s, 0.2 * (3.0 * s).cos());
                StampedPose::new(
                    Timestamp(k as i64 * 33_333_333),
                    Isometry3::new(position, rotation),
                )
            })
            .collect()
    }

    #[test]
    fn transformed_copy_has_zero_error() {
        let gt = wavy_groundtruth(500);
        let mut rng = SplitMix64(3);
        let other_from_world = rng.isometry(10.0);
        let scale = 2.5;
        let rigid: Vec<StampedPose> = gt
            .iter()
            .map(|p| StampedPose::new(p.timestamp, other_from_world * p.world_from_camera))
            .collect();
        let r = ate(&rigid, &gt, &AteOptions::default()).unwrap();
        assert!(r.translation_m.max < 1e-9, "{:?}", r.translation_m);
        assert_eq!(r.translation_m.count, 500);
        let scaled: Vec<StampedPose> = rigid
            .iter()
            .map(|p| {
                let mut world_from_camera = p.world_from_camera;
                world_from_camera.translation =
                    Translation3::from(world_from_camera.translation.vector * scale);
                StampedPose::new(p.timestamp, world_from_camera)
            })
            .collect();
        let options = AteOptions::default().with_alignment(AlignmentKind::Sim3);
        let r = ate(&scaled, &gt, &options).unwrap();
        assert!(r.translation_m.max < 1e-9, "{:?}", r.translation_m);
        assert!((r.alignment.scale - 1.0 / scale).abs() < 1e-12);
        // Without alignment the transformed copy is far off.
        let none = AteOptions::default().with_alignment(AlignmentKind::None);
        assert!(ate(&rigid, &gt, &none).unwrap().translation_m.rmse > 0.1);
        assert!(ate(&gt, &gt, &none).unwrap().translation_m.max == 0.0);
    }

    #[test]
    fn isotropic_noise_gives_sigma_sqrt3() {
        // E[||n||²] = 3σ² for n ~ N(0, σ² I₃); with 20 000 samples the RMSE's
        // relative standard error is about 1/sqrt(2·3·20000) ≈ 0.3 %.
        let n = 20_000;
        let sigma_m = 0.01;
        let gt = wavy_groundtruth(n);
        let mut rng = SplitMix64(11);
        let noisy: Vec<StampedPose> = gt
            .iter()
            .map(|p| {
                let mut world_from_camera = p.world_from_camera;
                world_from_camera.translation.vector += rng.gauss3(sigma_m);
                StampedPose::new(p.timestamp, world_from_camera)
            })
            .collect();
        let r = ate(&noisy, &gt, &AteOptions::default()).unwrap();
        let expected = sigma_m * 3f64.sqrt();
        assert!(
            (r.translation_m.rmse / expected - 1.0).abs() < 0.015,
            "rmse {} vs {expected}",
            r.translation_m.rmse
        );
    }

    #[test]
    fn errors_instead_of_panics() {
        let gt = wavy_groundtruth(10);
        let o = AteOptions::default();
        assert!(matches!(ate(&[], &gt, &o), Err(Error::InvalidArgument(_))));
        assert!(matches!(ate(&gt, &[], &o), Err(Error::InvalidArgument(_))));
        assert!(ate(&gt[..2], &gt, &o).is_err());
        assert!(ate(&gt, &gt, &o.with_max_diff_s(f64::NAN)).is_err());
        // No overlap in time.
        let late: Vec<StampedPose> = gt
            .iter()
            .map(|p| {
                StampedPose::new(
                    Timestamp(p.timestamp.0 + 10_000_000_000),
                    p.world_from_camera,
                )
            })
            .collect();
        assert!(ate(&late, &gt, &o).is_err());
        let none = o.with_alignment(AlignmentKind::None);
        assert!(ate(&gt[..1], &gt, &none).is_ok());
    }
}
