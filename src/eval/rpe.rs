//! Relative pose error (Sturm et al., IROS 2012, Sec. VI-A, Eq. 1).

use nalgebra::Isometry3;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::eval::association::{associate, DEFAULT_MAX_DIFF_S};
use crate::eval::ate::check_inputs;
use crate::eval::stats::ErrorStats;
use crate::geometry::StampedPose;

/// The distance between the two poses of an RPE pair.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum RpeDelta {
    /// `n` poses apart in the *associated* sequence, consecutive
    /// non-overlapping pairs `(0, n), (n, 2n), …` — exactly
    /// `evo_rpe --delta n --delta_unit f` (without `--all_pairs`).
    Frames(usize),
    /// About `Δ` seconds apart — exactly TUM `evaluate_rpe.py --fixed_delta
    /// --delta Δ --delta_unit s`: for every estimated pose `i` (all of them,
    /// associated or not) `j` is the estimated pose whose timestamp is
    /// closest to `t_i + Δ`; pairs with `j` = the last estimated pose are
    /// dropped (TUM's way of dropping pairs that run past the end), and pairs
    /// where `i` or `j` has no associated groundtruth are skipped.
    Seconds(f64),
}

/// How the error transform of a pair is formed, with `P` the estimate, `Q`
/// groundtruth and `ΔX = X_i⁻¹ X_j`. The rotation angle is the same for both;
/// the translation differs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RpeErrorDefinition {
    /// `E = ΔQ⁻¹ ΔP` — Eq. (1) of Sturm et al. 2012 and `evo_rpe`.
    /// Translation error = `||t(ΔP) - t(ΔQ)||`.
    #[default]
    Sturm2012,
    /// `E = ΔP ΔQ⁻¹` — what TUM's `evaluate_rpe.py` computes
    /// (`ominus(ominus(P_j, P_i), ominus(Q_j, Q_i))`).
    TumScript,
}

/// Options of [`rpe`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RpeOptions {
    /// Maximum timestamp difference for association, seconds (default 0.02).
    pub max_diff_s: f64,
    /// Pair distance (default one frame).
    pub delta: RpeDelta,
    /// Error transform (default Eq. 1 of the paper, as evo).
    pub definition: RpeErrorDefinition,
}

impl Default for RpeOptions {
    fn default() -> Self {
        Self {
            max_diff_s: DEFAULT_MAX_DIFF_S,
            delta: RpeDelta::Frames(1),
            definition: RpeErrorDefinition::Sturm2012,
        }
    }
}

impl RpeOptions {
    /// Sets the association threshold in seconds.
    pub fn with_max_diff_s(mut self, max_diff_s: f64) -> Self {
        self.max_diff_s = max_diff_s;
        self
    }

    /// Sets the pair distance.
    pub fn with_delta(mut self, delta: RpeDelta) -> Self {
        self.delta = delta;
        self
    }

    /// Sets the error definition.
    pub fn with_definition(mut self, definition: RpeErrorDefinition) -> Self {
        self.definition = definition;
        self
    }
}

/// Result of [`rpe`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RpeResult {
    /// Translation error statistics, metres.
    pub translation_m: ErrorStats,
    /// Rotation error statistics (angle of the error rotation), degrees.
    pub rotation_deg: ErrorStats,
    /// Estimate index pairs `(i, j)` that were compared, in order.
    #[serde(skip)]
    pub pairs: Vec<(usize, usize)>,
    /// Translation error per pair, metres.
    #[serde(skip)]
    pub translation_errors_m: Vec<f64>,
    /// Rotation error per pair, degrees.
    #[serde(skip)]
    pub rotation_errors_deg: Vec<f64>,
}

/// Relative pose error between `estimate` and `groundtruth` (no alignment:
/// RPE is invariant to a rigid change of the world frame, not to scale).
///
/// Pairs are chosen by [`RpeDelta`]; each pair's error transform by
/// [`RpeErrorDefinition`]. Errors ([`Error::InvalidArgument`]): empty input,
/// a zero/negative/NaN delta, a bad `max_diff_s`, or no pair to compare.
pub fn rpe(
    estimate: &[StampedPose],
    groundtruth: &[StampedPose],
    options: &RpeOptions,
) -> Result<RpeResult> {
    check_inputs(estimate, groundtruth, options.max_diff_s)?;
    let matches = associate(estimate, groundtruth, options.max_diff_s);
    // (estimate index, groundtruth index) pairs of pairs.
    let mut pose_pairs: Vec<((usize, usize), (usize, usize))> = Vec::new();
    match options.delta {
        RpeDelta::Frames(0) => {
            return Err(Error::InvalidArgument(
                "RPE frame delta must be >= 1".into(),
            ))
        }
        RpeDelta::Frames(n) => {
            // evo filter_pairs_by_index(all_pairs=False): ids 0, n, 2n, …
            let ids: Vec<usize> = (0..matches.len()).step_by(n).collect();
            for w in ids.windows(2) {
                pose_pairs.push((matches[w[0]], matches[w[1]]));
            }
        }
        RpeDelta::Seconds(delta_s) => {
            if !(delta_s.is_finite() && delta_s > 0.0) {
                return Err(Error::InvalidArgument(format!(
                    "RPE time delta {delta_s} s must be finite and > 0"
                )));
            }
            let mut order: Vec<usize> = (0..estimate.len()).collect();
            order.sort_by_key(|&i| (estimate[i].timestamp, i));
            let mut gt_of = vec![None; estimate.len()];
            for &(i, j) in &matches {
                gt_of[i] = Some(j);
            }
            let stamps_s: Vec<f64> = order
                .iter()
                .map(|&i| {
                    estimate[i]
                        .timestamp
                        .secs_since(estimate[order[0]].timestamp)
                })
                .collect();
            let last = order.len() - 1;
            for (a, &t_s) in stamps_s.iter().enumerate() {
                let b = closest_index(&stamps_s, t_s + delta_s);
                if b == last {
                    continue;
                }
                let (i, j) = (order[a], order[b]);
                if let (Some(gi), Some(gj)) = (gt_of[i], gt_of[j]) {
                    pose_pairs.push(((i, gi), (j, gj)));
                }
            }
        }
    }
    if pose_pairs.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "RPE: no pose pair to compare ({} of {} estimated poses associated, delta {:?})",
            matches.len(),
            estimate.len(),
            options.delta
        )));
    }

    let mut pairs = Vec::with_capacity(pose_pairs.len());
    let mut translation_errors_m = Vec::with_capacity(pose_pairs.len());
    let mut rotation_errors_deg = Vec::with_capacity(pose_pairs.len());
    for ((i, gi), (j, gj)) in pose_pairs {
        let est_i_from_j: Isometry3<f64> =
            estimate[i].world_from_camera.inverse() * estimate[j].world_from_camera;
        let gt_i_from_j: Isometry3<f64> =
            groundtruth[gi].world_from_camera.inverse() * groundtruth[gj].world_from_camera;
        let error = match options.definition {
            RpeErrorDefinition::Sturm2012 => gt_i_from_j.inverse() * est_i_from_j,
            RpeErrorDefinition::TumScript => est_i_from_j * gt_i_from_j.inverse(),
        };
        pairs.push((i, j));
        translation_errors_m.push(error.translation.vector.norm());
        rotation_errors_deg.push(error.rotation.angle().to_degrees());
    }
    Ok(RpeResult {
        translation_m: ErrorStats::from_errors(&translation_errors_m)?,
        rotation_deg: ErrorStats::from_errors(&rotation_errors_deg)?,
        pairs,
        translation_errors_m,
        rotation_errors_deg,
    })
}

/// Index of the value closest to `target` in the sorted, non-empty `sorted`
/// (the earlier one on a tie).
fn closest_index(sorted: &[f64], target: f64) -> usize {
    let k = sorted.partition_point(|&v| v < target);
    if k == 0 {
        return 0;
    }
    if k == sorted.len() {
        return sorted.len() - 1;
    }
    if (sorted[k] - target).abs() < (target - sorted[k - 1]).abs() {
        k
    } else {
        k - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::test_util::SplitMix64;
    use crate::sensor::Timestamp;
    use nalgebra::Vector3;

    fn groundtruth(n: usize) -> Vec<StampedPose> {
        (0..n)
            .map(|k| {
                let s = k as f64 * 0.02;
                StampedPose::new(
                    Timestamp(k as i64 * 100_000_000),
                    Isometry3::new(
                        Vector3::new(s.cos(), s.sin(), 0.1 * s),
                        Vector3::new(0.1, s, 0.2 * s.sin()),
                    ),
                )
            })
            .collect()
    }

    #[test]
    fn rigidly_moved_copy_has_zero_rpe_and_pairs_follow_delta() {
        let gt = groundtruth(50);
        let other_from_world = SplitMix64(5).isometry(3.0);
        let moved: Vec<StampedPose> = gt
            .iter()
            .map(|p| StampedPose::new(p.timestamp, other_from_world * p.world_from_camera))
            .collect();
        for definition in [RpeErrorDefinition::Sturm2012, RpeErrorDefinition::TumScript] {
            let o = RpeOptions::default().with_definition(definition);
            let r = rpe(&moved, &gt, &o).unwrap();
            assert_eq!(r.pairs.len(), 49);
            assert!(r.translation_m.max < 1e-12 && r.rotation_deg.max < 1e-9);
            let r = rpe(&moved, &gt, &o.with_delta(RpeDelta::Frames(5))).unwrap();
            assert_eq!(r.pairs[..2], [(0, 5), (5, 10)]);
            assert_eq!(r.pairs.len(), 9);
            // 1 s at 10 Hz: j = i + 10; the pair ending on the last pose (index 49) is dropped.
            let r = rpe(&moved, &gt, &o.with_delta(RpeDelta::Seconds(1.0))).unwrap();
            assert_eq!(r.pairs.first(), Some(&(0, 10)));
            assert_eq!(r.pairs.last(), Some(&(38, 48)));
        }
    }

    #[test]
    fn known_relative_error() {
        // The estimate's step 3→4 is 5 cm too long along x, rotated by 2°.
        let gt = groundtruth(8);
        let mut est = gt.clone();
        let bump = Isometry3::new(
            Vector3::new(0.05, 0.0, 0.0),
            Vector3::new(0.0, 0.0, 2f64.to_radians()),
        );
        for p in est.iter_mut().skip(4) {
            p.world_from_camera = gt[3].world_from_camera
                * bump
                * gt[3].world_from_camera.inverse()
                * p.world_from_camera;
        }
        let r = rpe(&est, &gt, &RpeOptions::default()).unwrap();
        for (k, (e_m, e_deg)) in r
            .translation_errors_m
            .iter()
            .zip(&r.rotation_errors_deg)
            .enumerate()
        {
            if k == 3 {
                approx::assert_relative_eq!(*e_deg, 2.0, epsilon = 1e-9);
                assert!(*e_m > 0.049, "{e_m}");
            } else {
                assert!(*e_m < 1e-12 && *e_deg < 1e-9, "pair {k}: {e_m} {e_deg}");
            }
        }
    }

    #[test]
    fn errors_instead_of_panics() {
        let gt = groundtruth(10);
        let o = RpeOptions::default();
        assert!(rpe(&[], &gt, &o).is_err());
        assert!(rpe(&gt, &[], &o).is_err());
        assert!(rpe(&gt[..1], &gt, &o).is_err());
        assert!(rpe(&gt, &gt, &o.with_delta(RpeDelta::Frames(0))).is_err());
        assert!(rpe(&gt, &gt, &o.with_delta(RpeDelta::Seconds(f64::NAN))).is_err());
        assert!(rpe(&gt, &gt, &o.with_delta(RpeDelta::Seconds(100.0))).is_err());
        assert!(rpe(&gt, &gt, &o.with_max_diff_s(-1.0)).is_err());
    }
}
