//! Residual, Jacobians and retraction of the SE(3) pose-graph edge error
//! (see the parent module docs for the error definition).

use nalgebra::{Isometry3, Matrix3, Matrix6, Translation3, UnitQuaternion, Vector3, Vector6};

use super::Edge;

/// Skew-symmetric matrix `[v]×`.
pub(super) fn skew(v: &Vector3<f64>) -> Matrix3<f64> {
    Matrix3::new(0.0, -v.z, v.y, v.z, 0.0, -v.x, -v.y, v.x, 0.0)
}

/// Inverse right Jacobian of SO(3) (Barfoot, "State Estimation for Robotics",
/// 2017, Eq. 7.77a with θ → −θ): `Jr⁻¹(θ) = I + ½[θ]× + (1/θ² − (1+cos θ)/(2θ sin θ))[θ]×²`.
pub(super) fn so3_right_jacobian_inverse(theta: &Vector3<f64>) -> Matrix3<f64> {
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
pub(super) fn retract(world_from_node: &Isometry3<f64>, delta: &Vector6<f64>) -> Isometry3<f64> {
    let rho = Vector3::new(delta[0], delta[1], delta[2]);
    let phi = Vector3::new(delta[3], delta[4], delta[5]);
    let translation = world_from_node.translation.vector + world_from_node.rotation * rho;
    let rotation = world_from_node.rotation * UnitQuaternion::from_scaled_axis(phi);
    Isometry3::from_parts(Translation3::from(translation), rotation)
}

/// `e = [t(E); Log(R(E))]` with `E = Z⁻¹ · a_from_world · world_from_b`.
pub(super) fn residual(
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
pub(super) fn residual_and_jacobians(
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

pub(super) fn total_cost(poses: &[Isometry3<f64>], edges: &[Edge]) -> f64 {
    edges
        .iter()
        .map(|e| {
            let r = residual(&poses[e.a], &poses[e.b], &e.a_from_b);
            0.5 * e.kernel.evaluate(r.dot(&(e.information * r))).0
        })
        .sum()
}
