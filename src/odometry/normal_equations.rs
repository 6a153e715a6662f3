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
/// f64). f32 halves the arithmetic cost of the rank-1 updates.
#[derive(Clone, Copy, Default)]
pub(crate) struct RowSums {
    h: [f32; 21],
    b: [f32; 6],
}

impl RowSums {
    /// `H += w J Jᵀ`, `b += w J r` for one residual.
    #[inline(always)]
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
