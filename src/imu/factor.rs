//! The IMU factor between two navigation states (Forster et al. 2017).
//!
//! Residual (Eq. 45), with `δb = b_i - b̂` the bias change since
//! preintegration and `g` the world gravity vector:
//!
//! ```text
//! r_ΔR = Log( (ΔR_ij Exp(∂ΔR/∂b_g δb_g))ᵀ R_iᵀ R_j )
//! r_Δv = R_iᵀ (v_j - v_i - g Δt) - (Δv_ij + ∂Δv/∂b_g δb_g + ∂Δv/∂b_a δb_a)
//! r_Δp = R_iᵀ (p_j - p_i - v_i Δt - ½ g Δt²) - (Δp_ij + ∂Δp/∂b_g δb_g + ∂Δp/∂b_a δb_a)
//! ```
//!
//! Perturbations (Forster's retraction for the navigation state):
//! `R ← R Exp(δφ)`, `p ← p + R δp`, `v ← v + δv`, `b ← b + δb`; the tangent
//! vector of a [`NavState`] is ordered `[δφ, δp, δv, δb_g, δb_a]` (15). The
//! residual is ordered `[r_ΔR, r_Δv, r_Δp]` like the covariance.

use nalgebra::{Matrix3, Rotation3, SMatrix, SVector, Vector3};

use crate::imu::preintegration::{ImuBias, Preintegrated};
use crate::imu::so3;

/// Tangent vector of a [`NavState`]: `[δφ, δp, δv, δb_g, δb_a]`.
pub type NavTangent = SVector<f64, 15>;
/// IMU factor residual `[r_ΔR, r_Δv, r_Δp]`.
pub type ImuResidual = SVector<f64, 9>;
/// Jacobian of the residual w.r.t. one state's tangent (9×15).
pub type ImuStateJacobian = SMatrix<f64, 9, 15>;

/// Navigation state of the IMU (Forster et al. 2017): attitude, position and
/// velocity in the world frame, plus the IMU biases.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NavState {
    /// Attitude R = world_from_imu rotation.
    pub world_from_imu: Rotation3<f64>,
    /// IMU origin in the world frame, m.
    pub position_m: Vector3<f64>,
    /// IMU velocity in the world frame, m/s.
    pub velocity_m_s: Vector3<f64>,
    /// Biases.
    pub bias: ImuBias,
}

impl NavState {
    /// Applies a tangent perturbation: `R Exp(δφ)`, `p + R δp`, `v + δv`, `b + δb`.
    pub fn retract(&self, delta: &NavTangent) -> NavState {
        let d = |k: usize| Vector3::new(delta[k], delta[k + 1], delta[k + 2]);
        NavState {
            world_from_imu: self.world_from_imu * so3::exp(&d(0)),
            position_m: self.position_m + self.world_from_imu * d(3),
            velocity_m_s: self.velocity_m_s + d(6),
            bias: ImuBias::new(self.bias.gyro_rad_s + d(9), self.bias.accel_m_s2 + d(12)),
        }
    }
}

/// Residual of the IMU factor and its Jacobians w.r.t. both states.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImuFactorLinearization {
    /// `[r_ΔR, r_Δv, r_Δp]`.
    pub residual: ImuResidual,
    /// ∂r/∂(tangent of state i).
    pub d_state_i: ImuStateJacobian,
    /// ∂r/∂(tangent of state j) (bias columns are zero: the bias random walk
    /// is a separate factor, see [`crate::imu::ImuNoise::gyro_bias_walk_covariance`]).
    pub d_state_j: ImuStateJacobian,
}

/// Predicts state j from state i (Forster's relative motion model with the bias-corrected
/// preintegrated values): `R_j = R_i ΔR`, `v_j = v_i + g Δt + R_i Δv`,
/// `p_j = p_i + v_i Δt + ½ g Δt² + R_i Δp`; the bias is carried over.
pub fn predict(pre: &Preintegrated, state_i: &NavState, gravity_world: &Vector3<f64>) -> NavState {
    let d = pre.corrected(&(state_i.bias - pre.bias()));
    let dt = pre.delta_t_s();
    let r_i = state_i.world_from_imu;
    NavState {
        world_from_imu: r_i * d.delta_r,
        position_m: state_i.position_m
            + state_i.velocity_m_s * dt
            + gravity_world * (0.5 * dt * dt)
            + r_i * d.delta_p,
        velocity_m_s: state_i.velocity_m_s + gravity_world * dt + r_i * d.delta_v,
        bias: state_i.bias,
    }
}

/// The IMU factor residual (Eq. 45; see module docs).
pub fn imu_residual(
    pre: &Preintegrated,
    state_i: &NavState,
    state_j: &NavState,
    gravity_world: &Vector3<f64>,
) -> ImuResidual {
    linearize_imu_factor(pre, state_i, state_j, gravity_world).residual
}

/// The IMU factor residual with its analytic Jacobians (Forster's
/// Appendix, adapted to the tangent order `[δφ, δp, δv, δb_g, δb_a]`):
///
/// ```text
/// ∂r_ΔR/∂φ_i = -J_r⁻¹(r_ΔR) R_jᵀ R_i      ∂r_ΔR/∂φ_j = J_r⁻¹(r_ΔR)
/// ∂r_ΔR/∂b_g = -J_r⁻¹(r_ΔR) Exp(r_ΔR)ᵀ J_r(∂ΔR/∂b_g δb_g) ∂ΔR/∂b_g
/// ∂r_Δv/∂φ_i = (R_iᵀ (v_j - v_i - g Δt))^  ∂r_Δv/∂v_i = -R_iᵀ  ∂r_Δv/∂v_j = R_iᵀ
/// ∂r_Δp/∂φ_i = (R_iᵀ (p_j - p_i - v_i Δt - ½ g Δt²))^
/// ∂r_Δp/∂p_i = -I   ∂r_Δp/∂p_j = R_iᵀ R_j   ∂r_Δp/∂v_i = -R_iᵀ Δt
/// ∂r_Δv/∂b = -∂Δv/∂b,  ∂r_Δp/∂b = -∂Δp/∂b
/// ```
pub fn linearize_imu_factor(
    pre: &Preintegrated,
    state_i: &NavState,
    state_j: &NavState,
    gravity_world: &Vector3<f64>,
) -> ImuFactorLinearization {
    let delta_bias = state_i.bias - pre.bias();
    let corrected = pre.corrected(&delta_bias);
    let j = pre.bias_jacobians();
    let dt = pre.delta_t_s();
    let r_i = state_i.world_from_imu;
    let r_j = state_j.world_from_imu;
    let r_i_t = r_i.inverse();

    let rel = r_i_t * r_j;
    let r_rot = so3::log(&(corrected.delta_r.inverse() * rel));
    let v_term = r_i_t * (state_j.velocity_m_s - state_i.velocity_m_s - gravity_world * dt);
    let p_term = r_i_t
        * (state_j.position_m
            - state_i.position_m
            - state_i.velocity_m_s * dt
            - gravity_world * (0.5 * dt * dt));
    let r_vel = v_term - corrected.delta_v;
    let r_pos = p_term - corrected.delta_p;

    let mut residual = ImuResidual::zeros();
    residual.fixed_rows_mut::<3>(0).copy_from(&r_rot);
    residual.fixed_rows_mut::<3>(3).copy_from(&r_vel);
    residual.fixed_rows_mut::<3>(6).copy_from(&r_pos);

    let jr_inv = so3::right_jacobian_inverse(&r_rot);
    let r_i_t_m: Matrix3<f64> = *r_i_t.matrix();
    let mut d_i = ImuStateJacobian::zeros();
    let mut d_j = ImuStateJacobian::zeros();
    // Rows 0..3: rotation residual.
    d_i.fixed_view_mut::<3, 3>(0, 0)
        .copy_from(&(-jr_inv * rel.inverse().matrix()));
    let d_rot_d_bg = -jr_inv
        * so3::exp(&r_rot).matrix().transpose()
        * so3::right_jacobian(&(j.d_r_d_bg * delta_bias.gyro_rad_s))
        * j.d_r_d_bg;
    d_i.fixed_view_mut::<3, 3>(0, 9).copy_from(&d_rot_d_bg);
    d_j.fixed_view_mut::<3, 3>(0, 0).copy_from(&jr_inv);
    // Rows 3..6: velocity residual.
    d_i.fixed_view_mut::<3, 3>(3, 0)
        .copy_from(&so3::hat(&v_term));
    d_i.fixed_view_mut::<3, 3>(3, 6).copy_from(&(-r_i_t_m));
    d_i.fixed_view_mut::<3, 3>(3, 9).copy_from(&(-j.d_v_d_bg));
    d_i.fixed_view_mut::<3, 3>(3, 12).copy_from(&(-j.d_v_d_ba));
    d_j.fixed_view_mut::<3, 3>(3, 6).copy_from(&r_i_t_m);
    // Rows 6..9: position residual.
    d_i.fixed_view_mut::<3, 3>(6, 0)
        .copy_from(&so3::hat(&p_term));
    d_i.fixed_view_mut::<3, 3>(6, 3)
        .copy_from(&(-Matrix3::identity()));
    d_i.fixed_view_mut::<3, 3>(6, 6).copy_from(&(-r_i_t_m * dt));
    d_i.fixed_view_mut::<3, 3>(6, 9).copy_from(&(-j.d_p_d_bg));
    d_i.fixed_view_mut::<3, 3>(6, 12).copy_from(&(-j.d_p_d_ba));
    d_j.fixed_view_mut::<3, 3>(6, 3).copy_from(rel.matrix());

    ImuFactorLinearization {
        residual,
        d_state_i: d_i,
        d_state_j: d_j,
    }
}
