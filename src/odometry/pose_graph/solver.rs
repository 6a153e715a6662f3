//! Sparse linear algebra of the LM step: block envelope of the reduced normal
//! matrix in reverse Cuthill–McKee order and its block Cholesky factorisation.

use nalgebra::{Isometry3, Matrix6, Vector6};

use super::residual::residual_and_jacobians;
use super::Edge;

/// Sparsity of the reduced normal matrix in reverse Cuthill–McKee order,
/// stored as a block envelope (row `i` holds blocks `first[i]..=i`).
pub(super) struct BlockStructure {
    /// Position of each variable in the elimination order.
    position: Vec<usize>,
    /// First stored block column of each row (in positions).
    first: Vec<usize>,
}

/// Lower-triangular block rows of the envelope.
type Envelope = Vec<Vec<Matrix6<f64>>>;

impl BlockStructure {
    pub(super) fn new(n_vars: usize, edges: &[Edge], var_of: &[Option<usize>]) -> Self {
        let mut adjacency: Vec<Vec<usize>> = vec![Vec::new(); n_vars];
        for e in edges {
            if let (Some(a), Some(b)) = (var_of[e.a], var_of[e.b]) {
                adjacency[a].push(b);
                adjacency[b].push(a);
            }
        }
        for list in &mut adjacency {
            list.sort_unstable();
            list.dedup();
        }
        // Reverse Cuthill–McKee (1969): BFS from a minimum-degree node,
        // neighbours by increasing degree, then reversed.
        let mut order = Vec::with_capacity(n_vars);
        let mut visited = vec![false; n_vars];
        let mut by_degree: Vec<usize> = (0..n_vars).collect();
        by_degree.sort_by_key(|&v| (adjacency[v].len(), v));
        for &start in &by_degree {
            if visited[start] {
                continue;
            }
            visited[start] = true;
            let mut head = order.len();
            order.push(start);
            while head < order.len() {
                let v = order[head];
                head += 1;
                let mut next: Vec<usize> = adjacency[v]
                    .iter()
                    .copied()
                    .filter(|&w| !visited[w])
                    .collect();
                next.sort_by_key(|&w| (adjacency[w].len(), w));
                for w in next {
                    visited[w] = true;
                    order.push(w);
                }
            }
        }
        order.reverse();
        let mut position = vec![0; n_vars];
        for (p, &v) in order.iter().enumerate() {
            position[v] = p;
        }
        let mut first: Vec<usize> = (0..n_vars).collect();
        for (v, list) in adjacency.iter().enumerate() {
            for &w in list {
                let (pi, pj) = (position[v], position[w]);
                if pj < pi {
                    first[pi] = first[pi].min(pj);
                }
            }
        }
        Self { position, first }
    }

    pub(super) fn empty_envelope(&self) -> Envelope {
        self.first
            .iter()
            .enumerate()
            .map(|(i, &f)| vec![Matrix6::zeros(); i - f + 1])
            .collect()
    }

    /// Builds `H = Σ w JᵀΩJ` (envelope, in positions) and `g = Σ w JᵀΩe`
    /// (by variable) at `poses`, with IRLS weights `w = ρ'(eᵀΩe)`.
    pub(super) fn linearize(
        &self,
        poses: &[Isometry3<f64>],
        edges: &[Edge],
        var_of: &[Option<usize>],
    ) -> (Envelope, Vec<f64>) {
        let mut hessian = self.empty_envelope();
        let mut gradient = vec![0.0; 6 * self.position.len()];
        for e in edges {
            let (r, j_a, j_b) = residual_and_jacobians(&poses[e.a], &poses[e.b], &e.a_from_b);
            let weight = e.kernel.evaluate(r.dot(&(e.information * r))).1;
            let weighted_info = e.information * weight;
            let blocks = [(var_of[e.a], j_a), (var_of[e.b], j_b)];
            for (var, jac) in &blocks {
                if let Some(v) = var {
                    let g = jac.transpose() * weighted_info * r;
                    for k in 0..6 {
                        gradient[6 * v + k] += g[k];
                    }
                }
            }
            for (var_i, jac_i) in &blocks {
                for (var_j, jac_j) in &blocks {
                    if let (Some(vi), Some(vj)) = (var_i, var_j) {
                        let (pi, pj) = (self.position[*vi], self.position[*vj]);
                        if pj <= pi {
                            hessian[pi][pj - self.first[pi]] +=
                                jac_i.transpose() * weighted_info * jac_j;
                        }
                    }
                }
            }
        }
        (hessian, gradient)
    }

    /// Solves `(H + λ·diag(H)) δ = −g` by block envelope Cholesky. `None`
    /// when the damped matrix is not positive definite.
    pub(super) fn solve_damped(
        &self,
        hessian: &Envelope,
        gradient: &[f64],
        lambda: f64,
    ) -> Option<Vec<f64>> {
        let n = self.first.len();
        let mut l = hessian.clone();
        for (i, row) in l.iter_mut().enumerate() {
            let diagonal = &mut row[i - self.first[i]];
            for k in 0..6 {
                diagonal[(k, k)] += lambda * diagonal[(k, k)].max(1e-9);
            }
        }
        // Row-oriented block Cholesky within the envelope.
        for i in 0..n {
            let (done, rest) = l.split_at_mut(i);
            let row_i = &mut rest[0];
            let fi = self.first[i];
            for j in fi..=i {
                let k0 = if j < i { fi.max(self.first[j]) } else { fi };
                let mut sum = row_i[j - fi];
                for k in k0..j {
                    let l_jk = if j < i {
                        done[j][k - self.first[j]]
                    } else {
                        row_i[k - fi]
                    };
                    sum -= row_i[k - fi] * l_jk.transpose();
                }
                if j < i {
                    let l_jj = done[j][j - self.first[j]];
                    // L_ij = sum · L_jj⁻ᵀ  ⇔  L_jj · L_ijᵀ = sumᵀ.
                    row_i[j - fi] = l_jj.solve_lower_triangular(&sum.transpose())?.transpose();
                } else {
                    row_i[i - fi] = nalgebra::Cholesky::new(sum)?.l();
                }
            }
        }
        // Right-hand side in elimination order.
        let mut x = vec![Vector6::zeros(); n];
        for (v, &p) in self.position.iter().enumerate() {
            x[p] = -Vector6::from_iterator(gradient[6 * v..6 * v + 6].iter().copied());
        }
        // Forward: L y = b.
        for i in 0..n {
            let fi = self.first[i];
            let mut r = x[i];
            for k in fi..i {
                r -= l[i][k - fi] * x[k];
            }
            x[i] = l[i][i - fi].solve_lower_triangular(&r)?;
        }
        // Backward: Lᵀ x = y (column sweep over the rows).
        for i in (0..n).rev() {
            let fi = self.first[i];
            x[i] = l[i][i - fi].tr_solve_lower_triangular(&x[i])?;
            let xi = x[i];
            for k in fi..i {
                x[k] -= l[i][k - fi].transpose() * xi;
            }
        }
        let mut step = vec![0.0; 6 * n];
        for (v, &p) in self.position.iter().enumerate() {
            step[6 * v..6 * v + 6].copy_from_slice(x[p].as_slice());
        }
        if step.iter().all(|s| s.is_finite()) {
            Some(step)
        } else {
            None
        }
    }
}
