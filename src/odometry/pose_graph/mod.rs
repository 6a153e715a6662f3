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

mod residual;
mod solver;
#[cfg(test)]
mod tests;

use nalgebra::{Isometry3, Matrix6, Vector6};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use residual::{residual, retract, total_cost};
use solver::BlockStructure;

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
