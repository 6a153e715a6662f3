//! Gauss–Newton normal equations `H δ = −b` of the tracking problem: f32
//! per-row partial sums, f64 totals, robust cost and per-term statistics.

/// Statistics of one residual term.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TermStats {
    /// Reference pixels eligible for the term.
    pub candidates: usize,
    /// Residuals evaluated (valid association).
    pub count: usize,
    /// Residuals with `|r|/σ` below the inlier threshold.
    pub inliers: usize,
    /// Σ r² in the term's units (unweighted).
    pub sum_sq: f64,
}

impl TermStats {
    fn merge(&mut self, o: &TermStats) {
        self.candidates += o.candidates;
        self.count += o.count;
        self.inliers += o.inliers;
        self.sum_sq += o.sum_sq;
    }

    /// Root mean square of the raw residuals (0 if none).
    pub fn rms(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            (self.sum_sq / self.count as f64).sqrt()
        }
    }
}

/// Normal equations `H δ = −b` of the weighted, scale-normalised problem,
/// plus the robust cost and per-term statistics.
#[derive(Clone, Debug)]
pub(crate) struct NormalEquations {
    /// Upper triangle of H, row-major (21 entries).
    pub h: [f64; 21],
    /// Gradient `b = Σ w J̃ᵀ r̃`.
    pub b: [f64; 6],
    /// Σ robust loss.
    pub cost: f64,
    /// Photometric statistics.
    pub photometric: TermStats,
    /// Point-to-plane statistics.
    pub point_to_plane: TermStats,
}

impl Default for NormalEquations {
    fn default() -> Self {
        Self {
            h: [0.0; 21],
            b: [0.0; 6],
            cost: 0.0,
            photometric: TermStats::default(),
            point_to_plane: TermStats::default(),
        }
    }
}

/// Per-row partial sums of H and b in f32 (a row holds at most a few
/// hundred residuals, so f32 loses nothing that matters; sums over rows are
/// f64). f32 halves the arithmetic cost of the rank-1 updates. Accumulated
/// as [`RowSums4`].
#[derive(Clone, Copy, Default)]
pub(crate) struct RowSums {
    h: [f32; 21],
    b: [f32; 6],
}

impl RowSums {
    /// `H += w J Jᵀ`, `b += w J r` for one residual (the plain loop,
    /// oracle of [`RowSums4::add`]).
    #[cfg(test)]
    pub(crate) fn add(&mut self, j: &[f32; 6], r: f32, w: f32) {
        let wj = j.map(|x| x * w);
        let mut k = 0;
        for (a, &wja) in wj.iter().enumerate() {
            for &jb in &j[a..] {
                self.h[k] += wja * jb;
                k += 1;
            }
            self.b[a] += wja * r;
        }
    }
}

/// Slots of [`RowSums4`]: `(a, s)` holds `w j_a · x[s..s + 4]` with
/// `x = (j₀ … j₅, r, 0, 0, 0, 0, 0)`, i.e. row `a` of the upper triangle of
/// `[H | b]` in 4-lane pieces (9 vectors instead of 27 scalars).
const SLOTS: [(usize, usize); 9] = [
    (0, 0),
    (0, 4),
    (1, 1),
    (1, 5),
    (2, 2),
    (2, 6),
    (3, 3),
    (4, 4),
    (5, 5),
];

/// [`RowSums`] laid out as nine 4-lane vectors so the rank-1 update
/// vectorises on baseline SSE2 (same products, same order per entry: the
/// same sums bit for bit).
#[derive(Clone, Copy, Default)]
pub(crate) struct RowSums4 {
    s: [[f32; 4]; 9],
}

impl RowSums4 {
    /// `H += w J Jᵀ`, `b += w J r` for one residual.
    #[inline(always)]
    pub(crate) fn add(&mut self, j: &[f32; 6], r: f32, w: f32) {
        let x = [
            j[0], j[1], j[2], j[3], j[4], j[5], r, 0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        let wj = j.map(|v| v * w);
        for (slot, &(a, s)) in self.s.iter_mut().zip(SLOTS.iter()) {
            for (l, acc) in slot.iter_mut().enumerate() {
                *acc += wj[a] * x[s + l];
            }
        }
    }

    /// The sums as [`RowSums`].
    #[inline(always)]
    pub(crate) fn unpack(&self) -> RowSums {
        let mut out = RowSums::default();
        for (slot, &(a, s)) in self.s.iter().zip(SLOTS.iter()) {
            for (l, &value) in slot.iter().enumerate() {
                let b = s + l;
                if b < 6 {
                    out.h[upper_index(a, b)] = value;
                } else if b == 6 {
                    out.b[a] = value;
                }
            }
        }
        out
    }
}

/// Index of `(a, b)`, `a ≤ b`, in the row-major upper triangle of a 6×6.
#[inline(always)]
const fn upper_index(a: usize, b: usize) -> usize {
    a * 6 - a * a.saturating_sub(1) / 2 + b - a
}

impl NormalEquations {
    /// Adds a row's partial sums.
    pub(crate) fn add_row(&mut self, row: &RowSums) {
        for (a, b) in self.h.iter_mut().zip(row.h.iter()) {
            *a += f64::from(*b);
        }
        for (a, b) in self.b.iter_mut().zip(row.b.iter()) {
            *a += f64::from(*b);
        }
    }

    /// Sum of two partial results (rayon reduce).
    pub(crate) fn merge(mut self, o: Self) -> Self {
        for (a, b) in self.h.iter_mut().zip(o.h.iter()) {
            *a += b;
        }
        for (a, b) in self.b.iter_mut().zip(o.b.iter()) {
            *a += b;
        }
        self.cost += o.cost;
        self.photometric.merge(&o.photometric);
        self.point_to_plane.merge(&o.point_to_plane);
        self
    }

    /// Number of residuals of both terms.
    pub fn residual_count(&self) -> usize {
        self.photometric.count + self.point_to_plane.count
    }

    /// Mean robust cost per residual (comparable between poses at a fixed scale).
    pub fn mean_cost(&self) -> f64 {
        let n = self.residual_count();
        if n == 0 {
            f64::INFINITY
        } else {
            self.cost / n as f64
        }
    }

    /// The full symmetric 6×6 H.
    pub fn hessian(&self) -> nalgebra::Matrix6<f64> {
        let mut m = nalgebra::Matrix6::zeros();
        let mut k = 0;
        for a in 0..6 {
            for b in a..6 {
                m[(a, b)] = self.h[k];
                m[(b, a)] = self.h[k];
                k += 1;
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_row_sums_equal_scalar_row_sums_bit_for_bit() {
        let mut rng = crate::eval::test_util::SplitMix64(7);
        let mut scalar = RowSums::default();
        let mut vector = RowSums4::default();
        for _ in 0..300 {
            let mut next = || (2.0 * rng.uniform() - 1.0) as f32;
            let j = [next(), next(), next(), next(), next(), next()];
            let (r, w) = (next(), next().abs());
            scalar.add(&j, r, w);
            vector.add(&j, r, w);
        }
        let unpacked = vector.unpack();
        for k in 0..21 {
            assert_eq!(unpacked.h[k].to_bits(), scalar.h[k].to_bits(), "h[{k}]");
            assert_ne!(scalar.h[k], 0.0);
        }
        for k in 0..6 {
            assert_eq!(unpacked.b[k].to_bits(), scalar.b[k].to_bits(), "b[{k}]");
        }
    }
}
