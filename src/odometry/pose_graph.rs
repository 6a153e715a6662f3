//! SE(3) pose-graph optimisation: sparse Levenberg–Marquardt with robust kernels.
//!
//! Nodes are keyframe poses `world_from_keyframe`; edges are relative-pose
//! measurements `a_from_b` with a 6×6 information matrix Ω (order: translation
//! x, y, z, then rotation x, y, z). For an edge with measurement `Z` the error
//! transform is `E = Z⁻¹ · a_from_world · world_from_b` and the residual is
//!
//! `e = [ t(E) ; Log(R(E)) ] ∈ R⁶`
//!
//! (the SO(3)×R³ form of `log(E)`: zero exactly when `E = I`, equal to the SE(3)
//! log to first order; as in Ceres' pose_graph_3d example). Poses are updated by
//! `R ← R·Exp(φ)`, `t ← t + R·ρ` for a step `δ = [ρ; φ]`. Each edge costs
//! `½ ρ(eᵀ Ω e)` with a robust kernel ρ (Huber or Cauchy), minimised by
//! iteratively reweighted Gauss–Newton inside Levenberg–Marquardt
//! (Triggs et al., "Bundle Adjustment — A Modern Synthesis", 2000, Sec. 3.3).
//!
//! The normal equations are block-sparse (6×6 blocks). Fixed nodes (the gauge)
//! are eliminated; free nodes are ordered by reverse Cuthill–McKee and factorised
//! by a block envelope (skyline) Cholesky, so chains and loops of thousands of
//! nodes solve with little fill.

use nalgebra::{Isometry3, Matrix3, Matrix6, Translation3, UnitQuaternion, Vector3, Vector6};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What produced an edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EdgeKind {
    /// Consecutive keyframes from tracking.
    Odometry,
    /// A loop closure.
    Loop,
}

/// Robust kernel applied to the squared Mahalanobis error `s = eᵀ Ω e`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum RobustKernel {
    /// Plain least squares, `ρ(s) = s`.
    None,
    /// Huber: `ρ(s) = s` for `s ≤ δ²`, else `2δ√s − δ²`.
    Huber {
        /// Threshold δ on the (whitened) error norm.
        delta: f64,
    },
    /// Cauchy: `ρ(s) = c² ln(1 + s / c²)`.
    Cauchy {
        /// Scale c on the (whitened) error norm.
        c: f64,
    },
}

impl RobustKernel {
    /// `(ρ(s), ρ'(s))`; ρ' is the IRLS weight.
    fn evaluate(self, s: f64) -> (f64, f64) {
        match self {
            RobustKernel::None => (s, 1.0),
            RobustKernel::Huber { delta } => {
                if s <= delta * delta {
                    (s, 1.0)
                } else {
                    let r = s.sqrt();
                    (2.0 * delta * r - delta * delta, delta / r)
                }
            }
            RobustKernel::Cauchy { c } => {
                let c2 = c * c;
                (c2 * (s / c2).ln_1p(), 1.0 / (1.0 + s / c2))
            }
        }
    }

    fn is_valid(self) -> bool {
        match self {
            RobustKernel::None => true,
            RobustKernel::Huber { delta: v } | RobustKernel::Cauchy { c: v } => {
                v.is_finite() && v > 0.0
            }
        }
    }
}

/// A relative-pose measurement between nodes `a` and `b`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// First node.
    pub a: usize,
    /// Second node.
    pub b: usize,
    /// Measured pose of `b` in the frame of `a`.
    pub a_from_b: Isometry3<f64>,
    /// Information (inverse covariance), translation first then rotation.
    pub information: Matrix6<f64>,
    /// Odometry or loop closure.
    pub kind: EdgeKind,
    /// Robust kernel for this edge.
    pub kernel: RobustKernel,
}

/// Levenberg–Marquardt settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmOptions {
    /// Maximum number of accepted or rejected steps.
    pub max_iterations: usize,
    /// Initial damping λ (relative to the diagonal of the normal matrix).
    pub initial_lambda: f64,
    /// Stop when the relative cost decrease falls below this.
    pub relative_cost_tolerance: f64,
    /// Stop when the largest step component falls below this.
    pub step_tolerance: f64,
}

impl Default for LmOptions {
    fn default() -> Self {
        Self {
            max_iterations: 100,
            initial_lambda: 1e-4,
            relative_cost_tolerance: 1e-10,
            step_tolerance: 1e-10,
        }
    }
}

/// What [`PoseGraph::optimize`] did.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct OptimizationReport {
    /// LM iterations (linear solves).
    pub iterations: usize,
    /// Accepted steps.
    pub accepted_steps: usize,
    /// Robust cost `½ Σ ρ(eᵀΩe)` before.
    pub initial_cost: f64,
    /// Robust cost after.
    pub final_cost: f64,
    /// Whether a tolerance was met (else the iteration limit or the damping
    /// limit stopped it).
    pub converged: bool,
}

/// A pose graph of keyframes.
#[derive(Clone, Debug, Default)]
pub struct PoseGraph {
    poses: Vec<Isometry3<f64>>,
    fixed: Vec<bool>,
    edges: Vec<Edge>,
}

impl PoseGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a node with its initial `world_from_keyframe`; returns its id.
    /// Fixed nodes are not moved (at least one is needed: the gauge).
    pub fn add_node(&mut self, world_from_keyframe: Isometry3<f64>, fixed: bool) -> usize {
        self.poses.push(world_from_keyframe);
        self.fixed.push(fixed);
        self.poses.len() - 1
    }

    /// Fixes or frees a node.
    pub fn set_fixed(&mut self, node: usize, fixed: bool) -> Result<()> {
        let slot = self
            .fixed
            .get_mut(node)
            .ok_or_else(|| Error::InvalidArgument(format!("pose graph: no node {node}")))?;
        *slot = fixed;
        Ok(())
    }

    /// Adds an edge. Fails on unknown or equal node ids, a non-finite or
    /// non-symmetric information matrix, or a bad kernel parameter.
    pub fn add_edge(&mut self, edge: Edge) -> Result<()> {
        let n = self.poses.len();
        if edge.a >= n || edge.b >= n || edge.a == edge.b {
            return Err(Error::InvalidArgument(format!(
                "pose graph edge {}–{}: nodes must be distinct and < {n}",
                edge.a, edge.b
            )));
        }
        let info = &edge.information;
        if !info.iter().all(|v| v.is_finite())
            || (info - info.transpose()).amax() > 1e-9 * info.amax().max(1.0)
        {
            return Err(Error::InvalidArgument(format!(
                "pose graph edge {}–{}: information matrix must be finite and symmetric",
                edge.a, edge.b
            )));
        }
        if !edge.kernel.is_valid() {
            return Err(Error::InvalidArgument(format!(
                "pose graph edge {}–{}: kernel parameter must be finite and > 0",
                edge.a, edge.b
            )));
        }
        self.edges.push(edge);
        Ok(())
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.poses.len()
    }

    /// True when there is no node.
    pub fn is_empty(&self) -> bool {
        self.poses.is_empty()
    }

    /// The edges.
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// Current `world_from_keyframe` of a node.
    pub fn pose(&self, node: usize) -> Option<&Isometry3<f64>> {
        self.poses.get(node)
    }

    /// All current poses, by node id.
    pub fn poses(&self) -> &[Isometry3<f64>] {
        &self.poses
    }

    /// Robust cost `½ Σ ρ(eᵀΩe)` at the current poses.
    pub fn cost(&self) -> f64 {
        total_cost(&self.poses, &self.edges)
    }

    /// IRLS weight ρ'(eᵀΩe) of each edge at the current poses (1 = inlier
    /// under plain least squares; small = down-weighted outlier).
    pub fn edge_weights(&self) -> Vec<f64> {
        self.edges
            .iter()
            .map(|e| {
                let r = residual(&self.poses[e.a], &self.poses[e.b], &e.a_from_b);
                e.kernel.evaluate(r.dot(&(e.information * r))).1
            })
            .collect()
    }

    /// Optimises the free poses by Levenberg–Marquardt (see the module docs).
    ///
    /// Errors ([`Error::InvalidArgument`]): no fixed node, or non-finite
    /// initial poses. A graph without edges or free nodes returns at once.
    pub fn optimize(&mut self, options: &LmOptions) -> Result<OptimizationReport> {
        if !self.fixed.iter().any(|&f| f) {
            return Err(Error::InvalidArgument(
                "pose graph: fix at least one node (gauge)".into(),
            ));
        }
        if let Some(i) = self.poses.iter().position(|p| {
            !(p.translation.vector.iter().all(|v| v.is_finite())
                && p.rotation.coords.iter().all(|v| v.is_finite()))
        }) {
            return Err(Error::InvalidArgument(format!(
                "pose graph: node {i} is not finite"
            )));
        }
        // Free nodes → variable index.
        let mut var_of = vec![None; self.poses.len()];
        let mut free = Vec::new();
        for (node, &fixed) in self.fixed.iter().enumerate() {
            if !fixed {
                var_of[node] = Some(free.len());
                free.push(node);
            }
        }
        let initial_cost = self.cost();
        let mut report = OptimizationReport {
            iterations: 0,
            accepted_steps: 0,
            initial_cost,
            final_cost: initial_cost,
            converged: true,
        };
        if free.is_empty() || self.edges.is_empty() {
            return Ok(report);
        }
        let structure = BlockStructure::new(free.len(), &self.edges, &var_of);
        let mut cost = initial_cost;
        let mut lambda = options.initial_lambda;
        report.converged = false;
        let (mut hessian, mut gradient) = structure.linearize(&self.poses, &self.edges, &var_of);
        while report.iterations < options.max_iterations {
            report.iterations += 1;
            let step = match structure.solve_damped(&hessian, &gradient, lambda) {
                Some(step) => step,
                None => {
                    lambda *= 10.0;
                    if lambda > 1e16 {
                        break;
                    }
                    continue;
                }
            };
            let mut candidate = self.poses.clone();
            for (v, &node) in free.iter().enumerate() {
                let d = Vector6::from_iterator(step[6 * v..6 * v + 6].iter().copied());
                candidate[node] = retract(&candidate[node], &d);
            }
            let new_cost = total_cost(&candidate, &self.edges);
            let max_step = step.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            if new_cost.is_finite() && new_cost < cost {
                let decrease = (cost - new_cost) / cost.max(f64::MIN_POSITIVE);
                self.poses = candidate;
                cost = new_cost;
                report.accepted_steps += 1;
                lambda = (lambda / 3.0).max(1e-12);
                if decrease < options.relative_cost_tolerance || max_step < options.step_tolerance {
                    report.converged = true;
                    break;
                }
                (hessian, gradient) = structure.linearize(&self.poses, &self.edges, &var_of);
            } else {
                if max_step < options.step_tolerance || cost == 0.0 {
                    report.converged = true;
                    break;
                }
                lambda *= 4.0;
                if lambda > 1e16 {
                    break;
                }
            }
        }
        report.final_cost = cost;
        Ok(report)
    }
}

/// Skew-symmetric matrix `[v]×`.
fn skew(v: &Vector3<f64>) -> Matrix3<f64> {
    Matrix3::new(0.0, -v.z, v.y, v.z, 0.0, -v.x, -v.y, v.x, 0.0)
}

/// Inverse right Jacobian of SO(3) (Barfoot, "State Estimation for Robotics",
/// 2017, Eq. 7.77a with θ → −θ): `Jr⁻¹(θ) = I + ½[θ]× + (1/θ² − (1+cos θ)/(2θ sin θ))[θ]×²`.
fn so3_right_jacobian_inverse(theta: &Vector3<f64>) -> Matrix3<f64> {
    let angle = theta.norm();
    let k = skew(theta);
    let coefficient = if angle < 1e-6 {
        1.0 / 12.0 + angle * angle / 720.0
    } else {
        let sin = angle.sin().max(1e-12);
        1.0 / (angle * angle) - (1.0 + angle.cos()) / (2.0 * angle * sin)
    };
    Matrix3::identity() + 0.5 * k + coefficient * k * k
}

/// Pose update `R ← R·Exp(φ)`, `t ← t + R·ρ` for `δ = [ρ; φ]`.
fn retract(world_from_node: &Isometry3<f64>, delta: &Vector6<f64>) -> Isometry3<f64> {
    let rho = Vector3::new(delta[0], delta[1], delta[2]);
    let phi = Vector3::new(delta[3], delta[4], delta[5]);
    let translation = world_from_node.translation.vector + world_from_node.rotation * rho;
    let rotation = world_from_node.rotation * UnitQuaternion::from_scaled_axis(phi);
    Isometry3::from_parts(Translation3::from(translation), rotation)
}

/// `e = [t(E); Log(R(E))]` with `E = Z⁻¹ · a_from_world · world_from_b`.
fn residual(
    world_from_a: &Isometry3<f64>,
    world_from_b: &Isometry3<f64>,
    a_from_b: &Isometry3<f64>,
) -> Vector6<f64> {
    let error = a_from_b.inverse() * world_from_a.inverse() * world_from_b;
    let t = error.translation.vector;
    let r = error.rotation.scaled_axis();
    Vector6::new(t.x, t.y, t.z, r.x, r.y, r.z)
}

/// Residual and its Jacobians w.r.t. the steps of `a` and `b` (see [`retract`]).
///
/// With `d = t_b − t_a`, `R_e = R_zᵀ R_aᵀ R_b`:
/// `∂e_t/∂ρ_a = −R_zᵀ`, `∂e_t/∂φ_a = R_zᵀ[R_aᵀ d]×`, `∂e_t/∂ρ_b = R_zᵀ R_aᵀ R_b`,
/// `∂e_r/∂φ_a = −Jr⁻¹(e_r) R_bᵀ R_a`, `∂e_r/∂φ_b = Jr⁻¹(e_r)`, others zero.
fn residual_and_jacobians(
    world_from_a: &Isometry3<f64>,
    world_from_b: &Isometry3<f64>,
    a_from_b: &Isometry3<f64>,
) -> (Vector6<f64>, Matrix6<f64>, Matrix6<f64>) {
    let e = residual(world_from_a, world_from_b, a_from_b);
    let r_a = world_from_a.rotation.to_rotation_matrix().into_inner();
    let r_b = world_from_b.rotation.to_rotation_matrix().into_inner();
    let r_z_t = a_from_b
        .rotation
        .to_rotation_matrix()
        .into_inner()
        .transpose();
    let d = world_from_b.translation.vector - world_from_a.translation.vector;
    let jr_inv = so3_right_jacobian_inverse(&Vector3::new(e[3], e[4], e[5]));
    let mut j_a = Matrix6::zeros();
    let mut j_b = Matrix6::zeros();
    j_a.fixed_view_mut::<3, 3>(0, 0).copy_from(&(-r_z_t));
    j_a.fixed_view_mut::<3, 3>(0, 3)
        .copy_from(&(r_z_t * skew(&(r_a.transpose() * d))));
    j_a.fixed_view_mut::<3, 3>(3, 3)
        .copy_from(&(-jr_inv * r_b.transpose() * r_a));
    j_b.fixed_view_mut::<3, 3>(0, 0)
        .copy_from(&(r_z_t * r_a.transpose() * r_b));
    j_b.fixed_view_mut::<3, 3>(3, 3).copy_from(&jr_inv);
    (e, j_a, j_b)
}

fn total_cost(poses: &[Isometry3<f64>], edges: &[Edge]) -> f64 {
    edges
        .iter()
        .map(|e| {
            let r = residual(&poses[e.a], &poses[e.b], &e.a_from_b);
            0.5 * e.kernel.evaluate(r.dot(&(e.information * r))).0
        })
        .sum()
}

/// Sparsity of the reduced normal matrix in reverse Cuthill–McKee order,
/// stored as a block envelope (row `i` holds blocks `first[i]..=i`).
struct BlockStructure {
    /// Position of each variable in the elimination order.
    position: Vec<usize>,
    /// First stored block column of each row (in positions).
    first: Vec<usize>,
}

/// Lower-triangular block rows of the envelope.
type Envelope = Vec<Vec<Matrix6<f64>>>;

impl BlockStructure {
    fn new(n_vars: usize, edges: &[Edge], var_of: &[Option<usize>]) -> Self {
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

    fn empty_envelope(&self) -> Envelope {
        self.first
            .iter()
            .enumerate()
            .map(|(i, &f)| vec![Matrix6::zeros(); i - f + 1])
            .collect()
    }

    /// Builds `H = Σ w JᵀΩJ` (envelope, in positions) and `g = Σ w JᵀΩe`
    /// (by variable) at `poses`, with IRLS weights `w = ρ'(eᵀΩe)`.
    fn linearize(
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
    fn solve_damped(&self, hessian: &Envelope, gradient: &[f64], lambda: f64) -> Option<Vec<f64>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::test_util::SplitMix64;

    fn noisy(rng: &mut SplitMix64, sigma_t_m: f64, sigma_r_rad: f64) -> Isometry3<f64> {
        Isometry3::new(rng.gauss3(sigma_t_m), rng.gauss3(sigma_r_rad))
    }

    fn information(sigma_t_m: f64, sigma_r_rad: f64) -> Matrix6<f64> {
        let (it, ir) = (
            1.0 / (sigma_t_m * sigma_t_m),
            1.0 / (sigma_r_rad * sigma_r_rad),
        );
        Matrix6::from_diagonal(&Vector6::new(it, it, it, ir, ir, ir))
    }

    fn rmse_m(a: &[Isometry3<f64>], b: &[Isometry3<f64>]) -> f64 {
        let sse: f64 = a
            .iter()
            .zip(b)
            .map(|(p, q)| (p.translation.vector - q.translation.vector).norm_squared())
            .sum();
        (sse / a.len() as f64).sqrt()
    }

    #[test]
    fn jacobians_match_finite_differences() {
        let mut rng = SplitMix64(1);
        for _ in 0..20 {
            let world_from_a = rng.isometry(3.0);
            let world_from_b = rng.isometry(3.0);
            // Measurements near and far from the current relative pose.
            let a_from_b = (world_from_a.inverse() * world_from_b) * noisy(&mut rng, 0.3, 0.8);
            let (_, j_a, j_b) = residual_and_jacobians(&world_from_a, &world_from_b, &a_from_b);
            let h = 1e-6;
            for k in 0..6 {
                let mut d = Vector6::zeros();
                d[k] = h;
                let fd_a = (residual(&retract(&world_from_a, &d), &world_from_b, &a_from_b)
                    - residual(&retract(&world_from_a, &(-d)), &world_from_b, &a_from_b))
                    / (2.0 * h);
                let fd_b = (residual(&world_from_a, &retract(&world_from_b, &d), &a_from_b)
                    - residual(&world_from_a, &retract(&world_from_b, &(-d)), &a_from_b))
                    / (2.0 * h);
                assert!(
                    (fd_a - j_a.column(k)).amax() < 1e-6,
                    "J_a col {k}: {fd_a} vs {}",
                    j_a.column(k)
                );
                assert!(
                    (fd_b - j_b.column(k)).amax() < 1e-6,
                    "J_b col {k}: {fd_b} vs {}",
                    j_b.column(k)
                );
            }
        }
    }

    /// Poses on a circle of radius 10 m (tangent heading, gentle pitch wobble),
    /// odometry with noise and a yaw bias, loop closures to the start.
    struct Scenario {
        truth: Vec<Isometry3<f64>>,
        graph: PoseGraph,
    }

    fn circle(n: usize, loops: &[(usize, usize)], seed: u64, kernel: RobustKernel) -> Scenario {
        let (sigma_t_m, sigma_r_rad) = (0.01, 0.2f64.to_radians());
        let truth: Vec<Isometry3<f64>> = (0..n)
            .map(|k| {
                let angle = std::f64::consts::TAU * k as f64 / n as f64;
                let position = Vector3::new(
                    10.0 * angle.cos(),
                    10.0 * angle.sin(),
                    0.5 * (3.0 * angle).sin(),
                );
                Isometry3::new(
                    position,
                    Vector3::new(0.0, 0.05 * (5.0 * angle).sin(), angle),
                )
            })
            .collect();
        let mut rng = SplitMix64(seed);
        let bias = Isometry3::new(
            Vector3::new(0.0005, 0.0, 0.0),
            Vector3::new(0.0, 0.0, 0.01f64.to_radians()),
        );
        let mut graph = PoseGraph::new();
        graph.add_node(truth[0], true);
        for k in 1..n {
            let a_from_b =
                truth[k - 1].inverse() * truth[k] * bias * noisy(&mut rng, sigma_t_m, sigma_r_rad);
            let world_from_b = graph.poses()[k - 1] * a_from_b;
            graph.add_node(world_from_b, false);
            graph
                .add_edge(Edge {
                    a: k - 1,
                    b: k,
                    a_from_b,
                    information: information(sigma_t_m, sigma_r_rad),
                    kind: EdgeKind::Odometry,
                    kernel,
                })
                .unwrap();
        }
        for &(a, b) in loops {
            let a_from_b = truth[a].inverse() * truth[b] * noisy(&mut rng, sigma_t_m, sigma_r_rad);
            graph
                .add_edge(Edge {
                    a,
                    b,
                    a_from_b,
                    information: information(sigma_t_m, sigma_r_rad),
                    kind: EdgeKind::Loop,
                    kernel,
                })
                .unwrap();
        }
        Scenario { truth, graph }
    }

    #[test]
    fn loop_closure_removes_drift() {
        let loops = [(0, 199), (0, 198), (1, 199), (50, 150)];
        let Scenario { truth, mut graph } = circle(200, &loops, 2, RobustKernel::None);
        let odometry_rmse = rmse_m(graph.poses(), &truth);
        let initial = graph.poses()[0];
        let report = graph.optimize(&LmOptions::default()).unwrap();
        let optimised_rmse = rmse_m(graph.poses(), &truth);
        assert!(
            report.converged && report.final_cost < report.initial_cost,
            "{report:?}"
        );
        assert!(
            optimised_rmse < 0.5 * odometry_rmse,
            "{optimised_rmse} vs {odometry_rmse}"
        );
        // Noise floor: at the optimum 2·cost ≈ χ² with (6·edges − 6·free) dof.
        let dof = 6.0 * (graph.edges().len() as f64 - 199.0);
        let chi2 = 2.0 * report.final_cost;
        assert!(
            chi2 > 0.3 * dof && chi2 < 3.0 * dof,
            "chi2 {chi2} dof {dof}"
        );
        // Gauge: the fixed node did not move.
        assert_eq!(graph.poses()[0], initial);
    }

    #[test]
    fn robust_kernel_down_weights_an_outlier_loop() {
        let loops = [(0, 199), (0, 198), (1, 199), (50, 150)];
        let kernel = RobustKernel::Cauchy { c: 3.0 };
        let Scenario { truth, mut graph } = circle(200, &loops, 3, kernel);
        let mut clean = graph.clone();
        clean.optimize(&LmOptions::default()).unwrap();
        let clean_rmse = rmse_m(clean.poses(), &truth);
        // A wrong loop closure: 3 m and 40° off.
        let wrong = truth[40].inverse()
            * truth[120]
            * Isometry3::new(Vector3::new(3.0, 0.0, 0.0), Vector3::new(0.0, 0.0, 0.7));
        let outlier = Edge {
            a: 40,
            b: 120,
            a_from_b: wrong,
            information: information(0.01, 0.2f64.to_radians()),
            kind: EdgeKind::Loop,
            kernel,
        };
        let mut plain = graph.clone();
        plain
            .add_edge(Edge {
                kernel: RobustKernel::None,
                ..outlier.clone()
            })
            .unwrap();
        graph.add_edge(outlier).unwrap();
        // The robust solve needs a reasonable start: odometry.
        graph.optimize(&LmOptions::default()).unwrap();
        plain.optimize(&LmOptions::default()).unwrap();
        let robust_rmse = rmse_m(graph.poses(), &truth);
        let plain_rmse = rmse_m(plain.poses(), &truth);
        let weights = graph.edge_weights();
        assert!(
            weights[weights.len() - 1] < 1e-3,
            "outlier weight {}",
            weights[weights.len() - 1]
        );
        assert!(
            robust_rmse < 1.5 * clean_rmse + 0.01,
            "robust {robust_rmse} clean {clean_rmse}"
        );
        assert!(
            plain_rmse > 1.5 * robust_rmse,
            "plain {plain_rmse} robust {robust_rmse}"
        );
    }

    #[test]
    fn huber_kernel_values_and_errors() {
        let k = RobustKernel::Huber { delta: 2.0 };
        assert_eq!(k.evaluate(1.0), (1.0, 1.0));
        let (rho, w) = k.evaluate(16.0);
        assert!((rho - 12.0).abs() < 1e-12 && (w - 0.5).abs() < 1e-12);
        let mut graph = PoseGraph::new();
        let a = graph.add_node(Isometry3::identity(), false);
        let b = graph.add_node(Isometry3::identity(), false);
        let edge = Edge {
            a,
            b,
            a_from_b: Isometry3::identity(),
            information: Matrix6::identity(),
            kind: EdgeKind::Odometry,
            kernel: k,
        };
        assert!(graph
            .add_edge(Edge {
                b: 7,
                ..edge.clone()
            })
            .is_err());
        assert!(graph
            .add_edge(Edge {
                b: a,
                ..edge.clone()
            })
            .is_err());
        assert!(graph
            .add_edge(Edge {
                kernel: RobustKernel::Cauchy { c: -1.0 },
                ..edge.clone()
            })
            .is_err());
        graph.add_edge(edge).unwrap();
        assert!(graph.optimize(&LmOptions::default()).is_err(), "no gauge");
        graph.set_fixed(a, true).unwrap();
        assert!(graph.set_fixed(9, true).is_err());
        let report = graph.optimize(&LmOptions::default()).unwrap();
        assert_eq!(report.final_cost, 0.0);
    }

    #[test]
    fn two_thousand_nodes_solve() {
        let n = 2000;
        let loops: Vec<(usize, usize)> =
            vec![(0, n - 1), (0, n - 2), (1, n - 1), (500, 1500), (250, 1750)];
        let Scenario { truth, mut graph } =
            circle(n, &loops, 4, RobustKernel::Huber { delta: 3.0 });
        let odometry_rmse = rmse_m(graph.poses(), &truth);
        let report = graph.optimize(&LmOptions::default()).unwrap();
        let optimised_rmse = rmse_m(graph.poses(), &truth);
        assert!(report.converged, "{report:?}");
        assert!(
            optimised_rmse < 0.5 * odometry_rmse,
            "{optimised_rmse} vs {odometry_rmse}"
        );
    }
}
