//! Lie groups SO(3) and SE(3): exponential and logarithm maps, hat/vee,
//! adjoint and the SO(3) Jacobians.
//!
//! Conventions (Sophus, and Barfoot, *State Estimation for Robotics*, §7):
//!
//! * A twist is `ξ = (v, ω)` — **translation first, rotation second** — as a
//!   [`Vector6`] `[v_x, v_y, v_z, ω_x, ω_y, ω_z]` (Sophus' `(υ, ω)`,
//!   Barfoot's `(ρ, φ)`).
//! * `hat(ξ) = [[ω^, v], [0, 0]]` (4×4) with `ω^` the skew-symmetric matrix,
//!   `ω^ a = ω × a`.
//! * `exp(ξ) = (R, t)` with `R = exp_SO3(ω)` and `t = J_l(ω) v`.
//! * The left Jacobian of SO(3) (Barfoot eq. 7.77):
//!   `J_l(ω) = I + (1 − cos θ)/θ² ω^ + (θ − sin θ)/θ³ (ω^)²`, `θ = |ω|`,
//!   so that `exp(ω + δ) ≈ exp(J_l(ω) δ) exp(ω)`; the right Jacobian is
//!   `J_r(ω) = J_l(−ω)` with `exp(ω + δ) ≈ exp(ω) exp(J_r(ω) δ)`.
//! * Adjoint: `T exp(ξ) T⁻¹ = exp(Ad_T ξ)` with
//!   `Ad_T = [[R, t^ R], [0, R]]` for the `(v, ω)` order.
//!
//! Small angles use Taylor series (θ < 1e-4 rad, where the closed forms lose
//! digits to cancellation); near θ = π the logarithm works on the quaternion
//! with `atan2`, which stays accurate, and `J_l⁻¹` uses the `cot(θ/2)` form
//! that is finite at π.

use nalgebra::{
    Isometry3, Matrix3, Matrix4, Matrix6, Quaternion, Translation3, UnitQuaternion, Vector3,
    Vector6,
};

/// Below this angle (rad) closed forms are replaced by Taylor series.
const SMALL_ANGLE_RAD: f64 = 1e-4;

/// Skew-symmetric matrix `ω^` with `ω^ a = ω × a`.
pub fn hat_so3(omega: &Vector3<f64>) -> Matrix3<f64> {
    Matrix3::new(
        0.0, -omega.z, omega.y, //
        omega.z, 0.0, -omega.x, //
        -omega.y, omega.x, 0.0,
    )
}

/// Inverse of [`hat_so3`]: reads `ω` from the skew-symmetric part of `m`
/// (`vee((m − mᵀ)/2)`, so slightly non-skew input is projected).
pub fn vee_so3(m: &Matrix3<f64>) -> Vector3<f64> {
    Vector3::new(
        0.5 * (m[(2, 1)] - m[(1, 2)]),
        0.5 * (m[(0, 2)] - m[(2, 0)]),
        0.5 * (m[(1, 0)] - m[(0, 1)]),
    )
}

/// `hat(ξ)` for a twist `ξ = (v, ω)`: the 4×4 matrix `[[ω^, v], [0, 0]]`.
pub fn hat_se3(xi: &Vector6<f64>) -> Matrix4<f64> {
    let mut m = Matrix4::zeros();
    let omega = Vector3::new(xi[3], xi[4], xi[5]);
    m.fixed_view_mut::<3, 3>(0, 0).copy_from(&hat_so3(&omega));
    m[(0, 3)] = xi[0];
    m[(1, 3)] = xi[1];
    m[(2, 3)] = xi[2];
    m
}

/// Inverse of [`hat_se3`]: `(v, ω)` from `[[ω^, v], [0, 0]]`.
pub fn vee_se3(m: &Matrix4<f64>) -> Vector6<f64> {
    let omega = vee_so3(&m.fixed_view::<3, 3>(0, 0).into_owned());
    Vector6::new(m[(0, 3)], m[(1, 3)], m[(2, 3)], omega.x, omega.y, omega.z)
}

/// Exponential map of SO(3): the rotation by angle `|ω|` about `ω/|ω|`
/// (Rodrigues), built as the unit quaternion
/// `(cos(θ/2), sin(θ/2)/θ · ω)` with a series for small θ.
pub fn exp_so3(omega: &Vector3<f64>) -> UnitQuaternion<f64> {
    let theta_sq = omega.norm_squared();
    let theta = theta_sq.sqrt();
    let (real, imag_factor) = if theta < SMALL_ANGLE_RAD {
        // cos(θ/2) ≈ 1 − θ²/8 + θ⁴/384, sin(θ/2)/θ ≈ 1/2 − θ²/48 + θ⁴/3840.
        (
            1.0 - theta_sq / 8.0 + theta_sq * theta_sq / 384.0,
            0.5 - theta_sq / 48.0 + theta_sq * theta_sq / 3840.0,
        )
    } else {
        let half = 0.5 * theta;
        (half.cos(), half.sin() / theta)
    };
    let imag = omega * imag_factor;
    UnitQuaternion::new_normalize(Quaternion::new(real, imag.x, imag.y, imag.z))
}

/// Logarithm map of SO(3): the rotation vector `ω` (|ω| ∈ [0, π]) with
/// `exp_so3(ω) = rotation`. Computed from the quaternion as
/// `ω = 2 atan2(|q_v|, |w|) / |q_v| · sign(w) q_v` (Sophus), which is accurate
/// near 0 (series) and near π (where the matrix formula `acos((tr R − 1)/2)`
/// loses half the digits).
pub fn log_so3(rotation: &UnitQuaternion<f64>) -> Vector3<f64> {
    let q = rotation.quaternion();
    // q and −q are the same rotation: pick w ≥ 0 so that θ ≤ π.
    let (w, imag) = if q.w < 0.0 {
        (-q.w, -q.imag())
    } else {
        (q.w, q.imag())
    };
    let imag_norm_sq = imag.norm_squared();
    let imag_norm = imag_norm_sq.sqrt();
    let factor = if imag_norm < 1e-8 {
        // 2 atan(n/w)/n ≈ 2/w − 2n²/(3w³); w ≈ 1 here.
        2.0 / w - 2.0 * imag_norm_sq / (3.0 * w * w * w)
    } else {
        2.0 * imag_norm.atan2(w) / imag_norm
    };
    imag * factor
}

/// Left Jacobian of SO(3) (Barfoot eq. 7.77):
/// `J_l(ω) = I + (1 − cos θ)/θ² ω^ + (θ − sin θ)/θ³ (ω^)²`.
pub fn left_jacobian_so3(omega: &Vector3<f64>) -> Matrix3<f64> {
    let theta_sq = omega.norm_squared();
    let theta = theta_sq.sqrt();
    let w = hat_so3(omega);
    let (a, b) = if theta < SMALL_ANGLE_RAD {
        (0.5 - theta_sq / 24.0, 1.0 / 6.0 - theta_sq / 120.0)
    } else {
        (
            (1.0 - theta.cos()) / theta_sq,
            (theta - theta.sin()) / (theta_sq * theta),
        )
    };
    Matrix3::identity() + w * a + w * w * b
}

/// Inverse of the left Jacobian of SO(3) (Barfoot eq. 7.78):
/// `J_l⁻¹(ω) = I − ½ ω^ + (1/θ² − cot(θ/2)/(2θ)) (ω^)²`, finite for θ ≤ π
/// (singular only at θ = 2π, outside the range of [`log_so3`]).
pub fn left_jacobian_inverse_so3(omega: &Vector3<f64>) -> Matrix3<f64> {
    let theta_sq = omega.norm_squared();
    let theta = theta_sq.sqrt();
    let w = hat_so3(omega);
    let c = if theta < SMALL_ANGLE_RAD {
        1.0 / 12.0 + theta_sq / 720.0
    } else {
        let half = 0.5 * theta;
        1.0 / theta_sq - half.cos() / (half.sin() * 2.0 * theta)
    };
    Matrix3::identity() - w * 0.5 + w * w * c
}

/// Right Jacobian of SO(3): `J_r(ω) = J_l(−ω) = J_l(ω)ᵀ`, so that
/// `exp(ω + δ) ≈ exp(ω) exp(J_r(ω) δ)`.
pub fn right_jacobian_so3(omega: &Vector3<f64>) -> Matrix3<f64> {
    left_jacobian_so3(&(-omega))
}

/// Inverse of the right Jacobian of SO(3): `J_r⁻¹(ω) = J_l⁻¹(−ω)`.
pub fn right_jacobian_inverse_so3(omega: &Vector3<f64>) -> Matrix3<f64> {
    left_jacobian_inverse_so3(&(-omega))
}

/// Exponential map of SE(3) for a twist `ξ = (v, ω)`:
/// `exp(ξ) = (exp_SO3(ω), J_l(ω) v)` (Barfoot eq. 7.83).
pub fn exp_se3(xi: &Vector6<f64>) -> Isometry3<f64> {
    let v = Vector3::new(xi[0], xi[1], xi[2]);
    let omega = Vector3::new(xi[3], xi[4], xi[5]);
    let rotation = exp_so3(&omega);
    let translation = left_jacobian_so3(&omega) * v;
    Isometry3::from_parts(Translation3::from(translation), rotation)
}

/// Logarithm map of SE(3): the twist `ξ = (v, ω)` with `exp_se3(ξ) = a_from_b`,
/// `ω = log_SO3(R)`, `v = J_l⁻¹(ω) t`. The rotation part has |ω| ≤ π.
pub fn log_se3(a_from_b: &Isometry3<f64>) -> Vector6<f64> {
    let omega = log_so3(&a_from_b.rotation);
    let v = left_jacobian_inverse_so3(&omega) * a_from_b.translation.vector;
    Vector6::new(v.x, v.y, v.z, omega.x, omega.y, omega.z)
}

/// Adjoint of SE(3) in the `(v, ω)` order: `Ad_T = [[R, t^ R], [0, R]]`, so
/// that `T exp(ξ) T⁻¹ = exp(Ad_T ξ)`. Maps a twist (or a right-perturbation
/// covariance `Ad Σ Adᵀ`) expressed in frame `b` to frame `a` for
/// `T = a_from_b`.
pub fn adjoint_se3(a_from_b: &Isometry3<f64>) -> Matrix6<f64> {
    let r = a_from_b.rotation.to_rotation_matrix().into_inner();
    let t_hat = hat_so3(&a_from_b.translation.vector);
    let mut ad = Matrix6::zeros();
    ad.fixed_view_mut::<3, 3>(0, 0).copy_from(&r);
    ad.fixed_view_mut::<3, 3>(0, 3).copy_from(&(t_hat * r));
    ad.fixed_view_mut::<3, 3>(3, 3).copy_from(&r);
    ad
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use std::f64::consts::PI;

    struct Rng(crate::eval::test_util::SplitMix64);
    impl Rng {
        fn new(seed: u64) -> Self {
            Self(crate::eval::test_util::SplitMix64(seed))
        }
        /// Uniform in (−1, 1).
        fn next(&mut self) -> f64 {
            2.0 * self.0.uniform() - 1.0
        }
        fn vec3(&mut self) -> Vector3<f64> {
            Vector3::new(self.next(), self.next(), self.next())
        }
    }

    /// Rotation vectors covering tiny angles, ordinary ones and angles near π.
    fn test_rotation_vectors() -> Vec<Vector3<f64>> {
        let mut rng = Rng::new(7);
        let mut out = vec![Vector3::zeros(), Vector3::new(1e-12, -2e-12, 0.0)];
        for scale in [1e-9, 1e-6, 1e-4, 1e-3, 0.3, 1.0, 2.5, PI - 1e-3, PI - 1e-7] {
            for _ in 0..4 {
                let axis = rng.vec3().normalize();
                out.push(axis * scale);
            }
        }
        out
    }

    #[test]
    fn hat_vee_round_trip() {
        let xi = Vector6::new(0.1, -0.2, 0.3, -0.4, 0.5, 0.6);
        assert_eq!(vee_se3(&hat_se3(&xi)), xi);
        let a = Vector3::new(0.3, -1.0, 2.0);
        let b = Vector3::new(-0.7, 0.2, 0.5);
        assert_relative_eq!(hat_so3(&a) * b, a.cross(&b), epsilon = 1e-15);
    }

    #[test]
    fn exp_so3_matches_nalgebra_and_log_inverts_it() {
        for omega in test_rotation_vectors() {
            let q = exp_so3(&omega);
            let reference = UnitQuaternion::from_scaled_axis(omega);
            assert!(q.angle_to(&reference) < 1e-12, "exp({omega:?})");
            let back = log_so3(&q);
            // Near π, ω and −ω·(2π−θ)/θ are the same rotation; compare rotations
            // and the vector itself when θ is not within 1e-6 of π.
            assert!(exp_so3(&back).angle_to(&q) < 1e-12);
            if omega.norm() < PI - 1e-6 {
                assert_relative_eq!(back, omega, epsilon = 1e-12, max_relative = 1e-9);
            }
            assert!(back.norm() <= PI + 1e-12);
        }
    }

    #[test]
    fn log_so3_is_accurate_at_and_near_pi() {
        for axis in [Vector3::x(), Vector3::new(1.0, 2.0, -3.0).normalize()] {
            for theta in [PI, PI - 1e-10, PI - 1e-5] {
                let q =
                    UnitQuaternion::from_axis_angle(&nalgebra::Unit::new_normalize(axis), theta);
                let omega = log_so3(&q);
                assert_relative_eq!(omega.norm(), theta, epsilon = 1e-12);
                assert!(omega.normalize().dot(&axis).abs() > 1.0 - 1e-12);
            }
        }
    }

    #[test]
    fn se3_exp_log_round_trips() {
        let mut rng = Rng::new(11);
        for omega in test_rotation_vectors() {
            let v = rng.vec3() * 2.0;
            let xi = Vector6::new(v.x, v.y, v.z, omega.x, omega.y, omega.z);
            let a_from_b = exp_se3(&xi);
            let back = log_se3(&a_from_b);
            // exp∘log = id on the group, everywhere (including θ ≈ π).
            let again = exp_se3(&back);
            assert_relative_eq!(
                again.translation.vector,
                a_from_b.translation.vector,
                epsilon = 1e-9
            );
            assert!(again.rotation.angle_to(&a_from_b.rotation) < 1e-12);
            // log∘exp = id on the algebra for |ω| < π.
            if omega.norm() < PI - 1e-6 {
                assert_relative_eq!(back, xi, epsilon = 1e-9, max_relative = 1e-9);
            }
        }
    }

    #[test]
    fn exp_se3_translation_matches_matrix_exponential_series() {
        // exp(hat ξ) = Σ hat(ξ)^k / k!, summed to convergence.
        let xi = Vector6::new(0.4, -0.3, 0.8, 0.9, -0.5, 0.7);
        let h = hat_se3(&xi);
        let mut sum = Matrix4::identity();
        let mut term = Matrix4::identity();
        for k in 1..40 {
            term = term * h / f64::from(k);
            sum += term;
        }
        let m = exp_se3(&xi).to_homogeneous();
        assert_relative_eq!(m, sum, epsilon = 1e-12);
    }

    #[test]
    fn so3_jacobians_match_finite_differences() {
        let h = 1e-6;
        for omega in test_rotation_vectors() {
            if omega.norm() > PI - 1e-2 {
                continue; // FD across the π wrap is meaningless.
            }
            let jl = left_jacobian_so3(&omega);
            let jr = right_jacobian_so3(&omega);
            for k in 0..3 {
                let mut d = Vector3::zeros();
                d[k] = h;
                let plus = exp_so3(&(omega + d));
                let minus = exp_so3(&(omega - d));
                // Left: exp(ω+δ) exp(ω)⁻¹ ≈ exp(J_l δ).
                let base = exp_so3(&omega);
                let fd_l = (log_so3(&(plus * base.inverse())) - log_so3(&(minus * base.inverse())))
                    / (2.0 * h);
                let fd_r = (log_so3(&(base.inverse() * plus)) - log_so3(&(base.inverse() * minus)))
                    / (2.0 * h);
                assert_relative_eq!(jl.column(k).into_owned(), fd_l, epsilon = 1e-7);
                assert_relative_eq!(jr.column(k).into_owned(), fd_r, epsilon = 1e-7);
            }
            assert_relative_eq!(
                left_jacobian_inverse_so3(&omega) * jl,
                Matrix3::identity(),
                epsilon = 1e-9
            );
            assert_relative_eq!(
                right_jacobian_inverse_so3(&omega) * jr,
                Matrix3::identity(),
                epsilon = 1e-9
            );
        }
    }

    #[test]
    fn left_jacobian_inverse_is_finite_at_pi() {
        let omega = Vector3::new(0.0, 0.0, PI);
        let inv = left_jacobian_inverse_so3(&omega);
        assert!(inv.iter().all(|v| v.is_finite()));
        assert_relative_eq!(
            inv * left_jacobian_so3(&omega),
            Matrix3::identity(),
            epsilon = 1e-12
        );
    }

    #[test]
    fn adjoint_conjugates_twists_and_matches_finite_differences() {
        let mut rng = Rng::new(3);
        for _ in 0..10 {
            let a_from_b = exp_se3(&Vector6::from_iterator((0..6).map(|_| rng.next())));
            let xi = Vector6::from_iterator((0..6).map(|_| 0.5 * rng.next()));
            let lhs = a_from_b * exp_se3(&xi) * a_from_b.inverse();
            let rhs = exp_se3(&(adjoint_se3(&a_from_b) * xi));
            assert_relative_eq!(
                lhs.translation.vector,
                rhs.translation.vector,
                epsilon = 1e-12
            );
            assert!(lhs.rotation.angle_to(&rhs.rotation) < 1e-12);
            // d/dξ log(T exp(ξ) T⁻¹) at ξ = 0 equals Ad_T (finite differences).
            let ad = adjoint_se3(&a_from_b);
            let h = 1e-6;
            for k in 0..6 {
                let mut d = Vector6::zeros();
                d[k] = h;
                let fd = (log_se3(&(a_from_b * exp_se3(&d) * a_from_b.inverse()))
                    - log_se3(&(a_from_b * exp_se3(&(-d)) * a_from_b.inverse())))
                    / (2.0 * h);
                assert_relative_eq!(ad.column(k).into_owned(), fd, epsilon = 1e-7);
            }
        }
    }
}
