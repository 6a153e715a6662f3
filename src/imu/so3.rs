//! SO(3) helpers in the form the IMU maths uses (`Rotation3`): hat, Exp,
//! Log and the right Jacobian with its inverse, delegating to
//! [`crate::geometry`]'s Lie-group functions so the crate has one
//! implementation of each formula.
//!
//! Conventions (Forster et al., "On-Manifold Preintegration for Real-Time
//! Visual-Inertial Odometry", IEEE T-RO 2017, SO(3) preliminaries):
//! `Exp(φ + δφ) ≈ Exp(φ) Exp(J_r(φ) δφ)` and
//! `Log(Exp(φ) Exp(δφ)) ≈ φ + J_r⁻¹(φ) δφ`.

use nalgebra::{Matrix3, Rotation3, UnitQuaternion, Vector3};

use crate::geometry::{exp_so3, hat_so3, log_so3, right_jacobian_inverse_so3, right_jacobian_so3};

/// Skew-symmetric matrix `φ^` with `φ^ v = φ × v`.
pub fn hat(phi: &Vector3<f64>) -> Matrix3<f64> {
    hat_so3(phi)
}

/// Exponential map `Exp(φ)` (Rodrigues' formula) as a rotation matrix.
pub fn exp(phi: &Vector3<f64>) -> Rotation3<f64> {
    exp_so3(phi).to_rotation_matrix()
}

/// Logarithm map `Log(R)`, angle in [0, π], accurate near 0 and π.
pub fn log(rotation: &Rotation3<f64>) -> Vector3<f64> {
    log_so3(&UnitQuaternion::from_rotation_matrix(rotation))
}

/// Right Jacobian `J_r(φ)` (Chirikjian 2011, p. 40).
pub fn right_jacobian(phi: &Vector3<f64>) -> Matrix3<f64> {
    right_jacobian_so3(phi)
}

/// Inverse right Jacobian `J_r⁻¹(φ)`.
pub fn right_jacobian_inverse(phi: &Vector3<f64>) -> Matrix3<f64> {
    right_jacobian_inverse_so3(phi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> Vec<Vector3<f64>> {
        vec![
            Vector3::new(0.3, -0.2, 0.5),
            Vector3::new(1e-7, 2e-7, -1e-7),
            Vector3::new(2.0, 1.0, -0.5),
            Vector3::new(0.0, 0.0, 3.1),
            Vector3::new(-1.2, 0.4, 0.9),
        ]
    }

    #[test]
    fn exp_log_round_trip_and_match_nalgebra() {
        for phi in vectors() {
            let r = exp(&phi);
            assert!((log(&r) - phi).norm() < 1e-12, "{phi:?}");
            let reference = Rotation3::new(phi);
            assert!((r.matrix() - reference.matrix()).norm() < 1e-12);
            assert!((r.matrix().determinant() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn right_jacobian_matches_finite_differences() {
        let eps = 1e-6;
        for phi in vectors() {
            let jr = right_jacobian(&phi);
            let jr_inv = right_jacobian_inverse(&phi);
            assert!((jr * jr_inv - Matrix3::identity()).norm() < 1e-9);
            for k in 0..3 {
                let mut d = Vector3::zeros();
                d[k] = eps;
                // Exp(φ)ᵀ Exp(φ + δ) = Exp(J_r δ)
                let lhs = log(&(exp(&phi).inverse() * exp(&(phi + d)))) / eps;
                assert!((lhs - jr.column(k)).norm() < 1e-6, "J_r {phi:?} col {k}");
                // Log(Exp(φ) Exp(δ)) = φ + J_r⁻¹ δ
                let lhs = (log(&(exp(&phi) * exp(&d))) - phi) / eps;
                assert!(
                    (lhs - jr_inv.column(k)).norm() < 1e-5,
                    "J_r⁻¹ {phi:?} col {k}"
                );
            }
        }
    }
}
