//! Timestamp association of an estimated trajectory with groundtruth.

use crate::geometry::StampedPose;

/// Default maximum timestamp difference for association, in seconds (TUM
/// `associate.py` and `evaluate_ate.py` use 0.02 s).
pub const DEFAULT_MAX_DIFF_S: f64 = 0.02;

/// Pairs estimated poses with groundtruth poses by timestamp, returning
/// `(estimate_index, groundtruth_index)` sorted by estimate time.
///
/// The rule is TUM's `associate.py`: every pair with `|t_est - t_gt| <=
/// max_diff_s` is a candidate; candidates are taken greedily by increasing
/// `|Δt|` (ties by estimate index, then groundtruth index), each pose used at
/// most once. When the estimate is sparser than groundtruth (30 Hz vs 100 Hz)
/// this equals evo's nearest-neighbour `associate_trajectories`.
///
/// Inputs need not be sorted. A negative or NaN `max_diff_s` gives no pairs.
pub fn associate(
    estimate: &[StampedPose],
    groundtruth: &[StampedPose],
    max_diff_s: f64,
) -> Vec<(usize, usize)> {
    if max_diff_s.is_nan() || max_diff_s < 0.0 || estimate.is_empty() || groundtruth.is_empty() {
        return Vec::new();
    }
    // Work in integer nanoseconds; clamp so a huge `max_diff_s` cannot overflow.
    let max_diff_ns = (max_diff_s * 1e9).min(i64::MAX as f64 / 4.0).floor() as i64;
    let mut gt_order: Vec<usize> = (0..groundtruth.len()).collect();
    gt_order.sort_by_key(|&j| groundtruth[j].timestamp);
    let gt_ns: Vec<i64> = gt_order
        .iter()
        .map(|&j| groundtruth[j].timestamp.0)
        .collect();

    // Candidates (|Δt| in ns, estimate index, groundtruth index).
    let mut candidates: Vec<(u64, usize, usize)> = Vec::new();
    for (i, est) in estimate.iter().enumerate() {
        let t = est.timestamp.0;
        let lo = gt_ns.partition_point(|&g| g < t.saturating_sub(max_diff_ns));
        for (k, &g) in gt_ns.iter().enumerate().skip(lo) {
            if g > t.saturating_add(max_diff_ns) {
                break;
            }
            candidates.push((t.abs_diff(g), i, gt_order[k]));
        }
    }
    candidates.sort_unstable();

    let mut est_used = vec![false; estimate.len()];
    let mut gt_used = vec![false; groundtruth.len()];
    let mut matches = Vec::new();
    for (_, i, j) in candidates {
        if !est_used[i] && !gt_used[j] {
            est_used[i] = true;
            gt_used[j] = true;
            matches.push((i, j));
        }
    }
    matches.sort_by_key(|&(i, j)| (estimate[i].timestamp, i, j));
    matches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensor::Timestamp;
    use nalgebra::Isometry3;

    fn traj(stamps_ms: &[i64]) -> Vec<StampedPose> {
        stamps_ms
            .iter()
            .map(|&ms| StampedPose::new(Timestamp(ms * 1_000_000), Isometry3::identity()))
            .collect()
    }

    /// Brute force: the TUM rule written literally, compared on random stamps.
    fn brute_force(est: &[StampedPose], gt: &[StampedPose], max_s: f64) -> Vec<(usize, usize)> {
        let mut cand = Vec::new();
        for (i, e) in est.iter().enumerate() {
            for (j, g) in gt.iter().enumerate() {
                let d = (e.timestamp.0 - g.timestamp.0).abs();
                if d as f64 <= max_s * 1e9 {
                    cand.push((d, i, j));
                }
            }
        }
        cand.sort();
        let (mut ue, mut ug, mut out) = (vec![false; est.len()], vec![false; gt.len()], vec![]);
        for (_, i, j) in cand {
            if !ue[i] && !ug[j] {
                ue[i] = true;
                ug[j] = true;
                out.push((i, j));
            }
        }
        out.sort_by_key(|&(i, j)| (est[i].timestamp, i, j));
        out
    }

    #[test]
    fn greedy_one_to_one_by_smallest_difference() {
        // gt 100 is nearest to both 95 and 104; 104 is closer, so 95 takes 90.
        let est = traj(&[95, 104, 200]);
        let gt = traj(&[90, 100, 130]);
        assert_eq!(associate(&est, &gt, 0.02), vec![(0, 0), (1, 1)]);
        assert!(associate(&est, &gt, f64::NAN).is_empty());
        assert!(associate(&est, &[], 0.02).is_empty());
    }

    #[test]
    fn matches_brute_force_on_random_stamps() {
        let mut rng = crate::eval::test_util::SplitMix64(7);
        for _ in 0..20 {
            let mut est: Vec<i64> = (0..60).map(|_| (rng.uniform() * 2000.0) as i64).collect();
            let mut gt: Vec<i64> = (0..150).map(|_| (rng.uniform() * 2000.0) as i64).collect();
            est.sort();
            gt.sort();
            est.dedup();
            gt.dedup();
            let (est, gt) = (traj(&est), traj(&gt));
            assert_eq!(associate(&est, &gt, 0.01), brute_force(&est, &gt, 0.01));
        }
    }
}
