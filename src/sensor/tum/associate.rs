//! Colour/depth association by nearest timestamp, exactly as TUM's
//! `associate.py` (Sturm et al., IROS 2012, benchmark tools).

use crate::sensor::Timestamp;

/// Default maximum timestamp difference of TUM's `associate.py`, seconds.
pub const DEFAULT_MAX_DIFFERENCE_S: f64 = 0.02;

/// Pairs `first[i]` with `second[j]` by nearest timestamp, one-to-one.
///
/// The rule of TUM's `associate.py`: every candidate pair with
/// `|first[i] - second[j]| < max_difference_s` (strict) is sorted by that
/// difference (ties by first, then second timestamp), then accepted greedily
/// if neither side is taken yet. Returns index pairs `(i, j)` sorted by the
/// first timestamp. Differences are compared in integer nanoseconds, so the
/// result does not depend on floating-point rounding. Inputs need not be
/// sorted; a non-finite or non-positive `max_difference_s` gives no pairs.
pub fn associate(
    first: &[Timestamp],
    second: &[Timestamp],
    max_difference_s: f64,
) -> Vec<(usize, usize)> {
    let max_ns = max_difference_ns(max_difference_s);
    if max_ns <= 0 {
        return Vec::new();
    }
    let mut candidates = candidate_pairs(first, second, max_ns);
    candidates.sort_unstable_by_key(|&(diff, i, j)| (diff, first[i], second[j], i, j));
    let mut first_taken = vec![false; first.len()];
    let mut second_taken = vec![false; second.len()];
    let mut pairs = Vec::new();
    for (_, i, j) in candidates {
        if !first_taken[i] && !second_taken[j] {
            first_taken[i] = true;
            second_taken[j] = true;
            pairs.push((i, j));
        }
    }
    pairs.sort_unstable_by_key(|&(i, j)| (first[i], second[j], i, j));
    pairs
}

/// `max_difference_s` in nanoseconds, saturated; 0 for NaN or negative.
fn max_difference_ns(max_difference_s: f64) -> i64 {
    let ns = (max_difference_s * 1e9).round();
    if ns.is_nan() || ns <= 0.0 {
        0
    } else if ns >= i64::MAX as f64 {
        i64::MAX
    } else {
        ns as i64
    }
}

/// All `(|Δt| in ns, i, j)` with `|Δt| < max_ns`, found by a binary search
/// in the sorted second list (O((n + k) log m) for k candidates).
fn candidate_pairs(
    first: &[Timestamp],
    second: &[Timestamp],
    max_ns: i64,
) -> Vec<(u64, usize, usize)> {
    let mut order: Vec<usize> = (0..second.len()).collect();
    order.sort_unstable_by_key(|&j| second[j]);
    let mut candidates = Vec::new();
    for (i, &a) in first.iter().enumerate() {
        let lower = a.0.saturating_sub(max_ns);
        let start = order.partition_point(|&j| second[j].0 <= lower);
        for &j in &order[start..] {
            let diff = second[j].0.abs_diff(a.0);
            if second[j].0 > a.0 && diff >= max_ns as u64 {
                break;
            }
            if diff < max_ns as u64 {
                candidates.push((diff, i, j));
            }
        }
    }
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Literal transcription of `associate.py` (all pairs, sort, greedy).
    fn brute_force(first: &[Timestamp], second: &[Timestamp], max_ns: i64) -> Vec<(usize, usize)> {
        let mut all = Vec::new();
        for (i, a) in first.iter().enumerate() {
            for (j, b) in second.iter().enumerate() {
                let diff = (a.0 - b.0).unsigned_abs();
                if diff < max_ns as u64 {
                    all.push((diff, *a, *b, i, j));
                }
            }
        }
        all.sort();
        let (mut used_a, mut used_b) = (Vec::new(), Vec::new());
        let mut out = Vec::new();
        for (_, _, _, i, j) in all {
            if !used_a.contains(&i) && !used_b.contains(&j) {
                used_a.push(i);
                used_b.push(j);
                out.push((i, j));
            }
        }
        out.sort_by_key(|&(i, j)| (first[i], second[j]));
        out
    }

    #[test]
    fn greedy_takes_the_closest_pair_first() {
        let ms = |v: i64| Timestamp(v * 1_000_000);
        // 10 is 4 ms from 14 and 6 ms from 4; 16 is 2 ms from 14: (16,14) wins,
        // then 10 takes 4; 40 has nothing within 20 ms.
        let first = [ms(10), ms(16), ms(40)];
        let second = [ms(4), ms(14), ms(70)];
        assert_eq!(associate(&first, &second, 0.02), vec![(0, 0), (1, 1)]);
        // Strictly less than the maximum difference.
        assert_eq!(associate(&[ms(0)], &[ms(20)], 0.02), vec![]);
        assert_eq!(associate(&[ms(0)], &[ms(19)], 0.02), vec![(0, 0)]);
        assert!(associate(&first, &second, f64::NAN).is_empty());
        assert!(associate(&first, &second, -1.0).is_empty());
    }

    proptest! {
        #[test]
        fn matches_brute_force(
            first in proptest::collection::vec(0_i64..400, 0..40),
            second in proptest::collection::vec(0_i64..400, 0..40),
            max_ms in 0_i64..60,
        ) {
            // Millisecond grid: many ties, as in the worst case of associate.py.
            let first: Vec<_> = first.into_iter().map(|v| Timestamp(v * 1_000_000)).collect();
            let second: Vec<_> = second.into_iter().map(|v| Timestamp(v * 1_000_000)).collect();
            let max_s = max_ms as f64 * 1e-3;
            let fast = associate(&first, &second, max_s);
            let slow = brute_force(&first, &second, max_difference_ns(max_s));
            // Same timestamps may appear at several indices; compare by value.
            let values = |p: &[(usize, usize)]| -> Vec<_> { p.iter().map(|&(i, j)| (first[i], second[j])).collect() };
            prop_assert_eq!(values(&fast), values(&slow));
        }
    }
}
