//! A Gaussian prior on the tracked motion (e.g. the IMU-predicted pose),
//! added to the dense tracker's normal equations.
//!
//! The tightly-coupled formulation (Forster et al., *On-Manifold
//! Preintegration for Real-Time Visual-Inertial Odometry*, T-RO 2017,
//! Eq. 45 with a fixed previous state; Leutenegger et al., *OKVIS*, IJRR
//! 2015): the tracker minimises
//!
//! ```text
//! E(T) = Σ_pixels ρ(r_vis / σ)  +  ½ r_p(T)ᵀ Λ r_p(T)
//! ```
//!
//! with `T = reference_from_current`, the visual terms with their robust
//! IRLS weights unchanged, and the prior residual against the predicted
//! `P = reference_from_prior` (rotation `R_P`, translation `t_P`):
//!
//! ```text
//! r_p = (r_v, r_ω),   r_v = R_Tᵀ (t_T − t_P),   r_ω = Log(R_Pᵀ R_T)
//! ```
//!
//! i.e. the translation error in the current camera frame and the rotation
//! error. For `T = P · exp(ξ)` with small `ξ`, `r_p ≈ ξ`, so `Λ` is the
//! information of the prediction for the right perturbation `(v, ω)` of the
//! predicted pose — the tracker's own parameterisation. Each Gauss–Newton
//! step adds `H += Jᵀ Λ J`, `b += Jᵀ Λ r_p` with the Jacobian for
//! `T ← T · exp(δ)`, `exp(δ) = (Exp(ω), J_l(ω) v)`:
//!
//! ```text
//! ∂r_v/∂v = I,   ∂r_v/∂ω = [r_v]_×,   ∂r_ω/∂v = 0,   ∂r_ω/∂ω = J_r⁻¹(r_ω)
//! ```

use nalgebra::{Isometry3, Matrix3, Matrix6, Vector3, Vector6};

use crate::geometry::{hat_so3, log_so3, right_jacobian_inverse_so3};

/// A Gaussian prior on `reference_from_current` for
/// [`RgbdOdometry::track_with_prior`](super::RgbdOdometry::track_with_prior)
/// (see the module docs for the residual).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PosePrior {
    /// The predicted `reference_from_current`.
    pub reference_from_current: Isometry3<f64>,
    /// Information (inverse covariance) of the prediction for its right
    /// perturbation `(v, ω)`, v in metres and ω in radians (the unit of the
    /// tracker's scale-normalised normal matrix). Must be symmetric
    /// positive semi-definite; zero rows switch directions off.
    pub information: Matrix6<f64>,
}

/// The prior's contribution to the normal equations at one pose.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PriorTerm {
    /// `Jᵀ Λ J`.
    pub hessian: Matrix6<f64>,
    /// `Jᵀ Λ r`.
    pub gradient: Vector6<f64>,
    /// `½ rᵀ Λ r`.
    pub cost: f64,
}

impl PosePrior {
    /// The residual `(r_v, r_ω)` at `reference_from_current`.
    pub fn residual(&self, reference_from_current: &Isometry3<f64>) -> Vector6<f64> {
        let prior = &self.reference_from_current;
        let r_v = reference_from_current.rotation.inverse()
            * (reference_from_current.translation.vector - prior.translation.vector);
        let r_omega = log_so3(&(prior.rotation.inverse() * reference_from_current.rotation));
        Vector6::new(r_v.x, r_v.y, r_v.z, r_omega.x, r_omega.y, r_omega.z)
    }

    /// Jacobian of [`Self::residual`] for the update `T ← T · exp(δ)`, given
    /// the residual at `T`.
    pub fn jacobian(residual: &Vector6<f64>) -> Matrix6<f64> {
        let r_v = Vector3::new(residual[0], residual[1], residual[2]);
        let r_omega = Vector3::new(residual[3], residual[4], residual[5]);
        let mut j = Matrix6::zeros();
        j.fixed_view_mut::<3, 3>(0, 0)
            .copy_from(&Matrix3::identity());
        j.fixed_view_mut::<3, 3>(0, 3).copy_from(&hat_so3(&r_v));
        j.fixed_view_mut::<3, 3>(3, 3)
            .copy_from(&right_jacobian_inverse_so3(&r_omega));
        j
    }

    /// `Jᵀ Λ J`, `Jᵀ Λ r` and `½ rᵀ Λ r` at `reference_from_current`.
    pub(crate) fn term(&self, reference_from_current: &Isometry3<f64>) -> PriorTerm {
        let r = self.residual(reference_from_current);
        let j = Self::jacobian(&r);
        let jt_info = j.transpose() * self.information;
        PriorTerm {
            hessian: jt_info * j,
            gradient: jt_info * r,
            cost: 0.5 * r.dot(&(self.information * r)),
        }
    }

    /// Whether every entry is finite.
    pub fn is_finite(&self) -> bool {
        let pose = &self.reference_from_current;
        pose.translation
            .vector
            .iter()
            .chain(pose.rotation.coords.iter())
            .chain(self.information.iter())
            .all(|v| v.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::exp_se3;

    fn prior() -> PosePrior {
        let reference_from_prior = exp_se3(&Vector6::new(0.1, -0.05, 0.2, 0.3, -0.2, 0.4));
        PosePrior {
            reference_from_current: reference_from_prior,
            information: Matrix6::identity(),
        }
    }

    #[test]
    fn residual_vanishes_at_the_prior_and_equals_the_perturbation_nearby() {
        let prior = prior();
        assert!(prior.residual(&prior.reference_from_current).norm() < 1e-12);
        let xi = Vector6::new(1e-4, -2e-4, 3e-4, -1e-4, 2e-4, 1e-4);
        let r = prior.residual(&(prior.reference_from_current * exp_se3(&xi)));
        assert!((r - xi).norm() < 1e-7, "{r} vs {xi}");
    }

    #[test]
    fn jacobian_matches_finite_differences() {
        let prior = prior();
        for xi in [
            Vector6::new(0.05, 0.02, -0.03, 0.1, -0.2, 0.05),
            Vector6::new(-0.2, 0.1, 0.3, -0.6, 0.4, 0.8),
        ] {
            let estimate = prior.reference_from_current * exp_se3(&xi);
            let r0 = prior.residual(&estimate);
            let analytic = PosePrior::jacobian(&r0);
            let h = 1e-6;
            for k in 0..6 {
                let mut delta = Vector6::zeros();
                delta[k] = h;
                let plus = prior.residual(&(estimate * exp_se3(&delta)));
                let minus = prior.residual(&(estimate * exp_se3(&(-delta))));
                let numeric = (plus - minus) / (2.0 * h);
                let column = analytic.column(k);
                assert!(
                    (numeric - column).norm() < 1e-7,
                    "column {k}: numeric {numeric} analytic {column}"
                );
            }
        }
    }

    #[test]
    fn term_is_the_gauss_newton_quadratic() {
        let mut prior = prior();
        prior.information = Matrix6::from_diagonal(&Vector6::new(4.0, 4.0, 4.0, 9.0, 9.0, 9.0));
        let xi = Vector6::new(0.01, 0.0, -0.02, 0.0, 0.03, 0.0);
        let estimate = prior.reference_from_current * exp_se3(&xi);
        let term = prior.term(&estimate);
        // Gauss–Newton from the estimate converges to the prior,
        // quadratically.
        let mut stepped = estimate;
        let mut errors = vec![prior.residual(&stepped).norm()];
        for _ in 0..3 {
            let term = prior.term(&stepped);
            let delta = -term.hessian.cholesky().unwrap().solve(&term.gradient);
            stepped *= exp_se3(&delta);
            errors.push(prior.residual(&stepped).norm());
        }
        assert!(errors[1] < 0.05 * errors[0], "{errors:?}");
        assert!(errors[3] < 1e-12, "{errors:?}");
        let r = prior.residual(&estimate);
        assert!((term.cost - 0.5 * r.dot(&(prior.information * r))).abs() < 1e-15);
    }
}
