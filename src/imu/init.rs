//! Visual-inertial initialisation: gyro bias, then gravity, velocities and
//! accelerometer bias, from keyframe poses given by vision (metric, e.g.
//! RGB-D) and the IMU preintegrated between consecutive keyframes.
//!
//! 1. Gyro bias (Qin et al., VINS-Mono, T-RO 2018, Eq. 15; Campos et al.,
//!    ORB-SLAM3, T-RO 2021, Sec. V-B), Gauss-Newton on
//!    `min_bg Σ_k ‖Log((ΔR_k Exp(∂ΔR_k/∂b_g (b_g - b̂)))ᵀ R_iᵀ R_j)‖²`
//!    with the Jacobian of [`crate::imu::factor`]'s rotation residual.
//! 2. Gravity and velocities, linear least squares with `b_a = b̂_a`, from the
//!    velocity and position rows of the IMU factor (Forster Eq. 45) with the
//!    poses fixed:
//!    ```text
//!    v_j - v_i - g Δt           = R_i Δv_k
//!    -v_i Δt - ½ g Δt²          = R_i Δp_k - (p_j - p_i)
//!    ```
//! 3. Refinement with `|g| = 9.81` (VINS-Mono Sec. V-B.3, "gravity
//!    refinement"): `g = G ĝ + B w`, `B` a 3×2 basis of the tangent plane of
//!    the sphere at `ĝ`; solve jointly for the velocities, `w` and `b_a` (the
//!    `∂Δv/∂b_a`, `∂Δp/∂b_a` columns), renormalise `ĝ ← (G ĝ + B w)/|·|`,
//!    repeat. Rows are unweighted.

use nalgebra::{DMatrix, DVector, Isometry3, Matrix3, Rotation3, Vector3};

use crate::error::{Error, Result};
use crate::imu::preintegration::{ImuBias, Preintegrated};
use crate::imu::so3;
use crate::sensor::Timestamp;

/// A keyframe pose from vision, of the IMU body (`world_from_camera *
/// camera_from_imu`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VisualKeyframe {
    /// Keyframe time (IMU clock).
    pub timestamp: Timestamp,
    /// IMU pose in the visual world frame.
    pub world_from_imu: Isometry3<f64>,
}

/// Options of [`initialize_inertial`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InertialInitOptions {
    /// Gravity magnitude fixed in the refinement, m/s².
    pub gravity_m_s2: f64,
    /// Gauss-Newton iterations for the gyro bias.
    pub gyro_iterations: usize,
    /// Tangent-space refinement iterations for gravity.
    pub refinement_iterations: usize,
    /// Estimate the accelerometer bias in the refinement (else keep b̂_a).
    pub estimate_accel_bias: bool,
}

impl Default for InertialInitOptions {
    fn default() -> Self {
        Self {
            gravity_m_s2: crate::imu::config::STANDARD_GRAVITY_M_S2,
            gyro_iterations: 10,
            refinement_iterations: 4,
            estimate_accel_bias: true,
        }
    }
}

/// Result of [`initialize_inertial`].
#[derive(Clone, Debug, PartialEq)]
pub struct InertialInit {
    /// Estimated biases.
    pub bias: ImuBias,
    /// Gravity in the visual world frame, |g| = 9.81, m/s².
    pub gravity_world_m_s2: Vector3<f64>,
    /// Unconstrained gravity of step 2 (its norm is a sanity check), m/s².
    pub gravity_unconstrained_m_s2: Vector3<f64>,
    /// IMU velocity at each keyframe, world frame, m/s.
    pub velocities_world_m_s: Vec<Vector3<f64>>,
    /// Rotation taking the visual world to a gravity-aligned frame
    /// (`gravity_aligned_from_world * g = (0, 0, -|g|)`, minimal rotation).
    pub gravity_aligned_from_world: Rotation3<f64>,
    /// RMS of the rotation residuals after the gyro-bias solve, rad.
    pub rotation_rms_rad: f64,
    /// RMS of the refinement's linear residuals (m/s and m mixed).
    pub translation_rms: f64,
}

fn check_inputs(keyframes: &[VisualKeyframe], preintegrated: &[Preintegrated]) -> Result<()> {
    if keyframes.len() < 3 || preintegrated.len() + 1 != keyframes.len() {
        return Err(Error::InvalidArgument(format!(
            "inertial init needs >= 3 keyframes and one preintegration per consecutive pair, got {} keyframes and {} preintegrations",
            keyframes.len(),
            preintegrated.len()
        )));
    }
    Ok(())
}

/// Step 1: gyro bias by Gauss-Newton (module docs). Returns the absolute gyro
/// bias and the final rotation-residual RMS (rad). Errors when the rotations
/// do not constrain the bias (singular normal equations).
pub fn estimate_gyro_bias(
    keyframes: &[VisualKeyframe],
    preintegrated: &[Preintegrated],
    iterations: usize,
) -> Result<(Vector3<f64>, f64)> {
    check_inputs(keyframes, preintegrated)?;
    let mut bg = preintegrated[0].bias().gyro_rad_s;
    let mut rms = 0.0;
    for iteration in 0..=iterations {
        let mut h = Matrix3::zeros();
        let mut g = Vector3::zeros();
        let mut sq = 0.0;
        for (pair, pre) in keyframes.windows(2).zip(preintegrated) {
            let rel = pair[0]
                .world_from_imu
                .rotation
                .to_rotation_matrix()
                .inverse()
                * pair[1].world_from_imu.rotation.to_rotation_matrix();
            let d_r_d_bg = pre.bias_jacobians().d_r_d_bg;
            let delta = d_r_d_bg * (bg - pre.bias().gyro_rad_s);
            let corrected = pre.delta_r() * so3::exp(&delta);
            let r = so3::log(&(corrected.inverse() * rel));
            let j = -so3::right_jacobian_inverse(&r)
                * so3::exp(&r).matrix().transpose()
                * so3::right_jacobian(&delta)
                * d_r_d_bg;
            h += j.transpose() * j;
            g += j.transpose() * r;
            sq += r.norm_squared();
        }
        rms = (sq / preintegrated.len() as f64).sqrt();
        if iteration == iterations {
            break;
        }
        let step = h.try_inverse().ok_or_else(|| {
            Error::InvalidArgument(
                "gyro bias unobservable: rotation normal equations are singular".into(),
            )
        })? * -g;
        bg += step;
        if step.norm() < 1e-12 {
            break;
        }
    }
    Ok((bg, rms))
}

/// Orthonormal basis (3×2) of the plane orthogonal to the unit vector `n`.
pub(crate) fn tangent_basis(n: &Vector3<f64>) -> (Vector3<f64>, Vector3<f64>) {
    let helper = if n.x.abs() < 0.9 {
        Vector3::x()
    } else {
        Vector3::y()
    };
    let b1 = n.cross(&helper).normalize();
    let b2 = n.cross(&b1);
    (b1, b2)
}

struct Rows {
    a: DMatrix<f64>,
    b: DVector<f64>,
}

/// Builds the stacked velocity/position rows. Unknown layout:
/// `[v_0 .. v_n (3 each), gravity part (gravity_cols), b_a (3 if estimated)]`.
/// `gravity_cols(dt)` returns the 3×k matrix multiplying the gravity unknown
/// and the known gravity vector `g0` (moved to the right-hand side).
fn build_rows(
    keyframes: &[VisualKeyframe],
    preintegrated: &[Preintegrated],
    bias: &ImuBias,
    gravity_basis: &DMatrix<f64>,
    g0: &Vector3<f64>,
    estimate_accel_bias: bool,
) -> Rows {
    let n = keyframes.len();
    let kg = gravity_basis.ncols();
    let cols = 3 * n + kg + if estimate_accel_bias { 3 } else { 0 };
    let rows = 6 * preintegrated.len();
    let mut a = DMatrix::zeros(rows, cols);
    let mut b = DVector::zeros(rows);
    for (k, (pair, pre)) in keyframes.windows(2).zip(preintegrated).enumerate() {
        let dt = pre.delta_t_s();
        let r_i = pair[0].world_from_imu.rotation.to_rotation_matrix();
        let p_i = pair[0].world_from_imu.translation.vector;
        let p_j = pair[1].world_from_imu.translation.vector;
        let jac = pre.bias_jacobians();
        // Values at (b_g, b̂_a); the b_a change is an unknown when estimated.
        let delta = pre.corrected(&ImuBias::new(
            bias.gyro_rad_s - pre.bias().gyro_rad_s,
            if estimate_accel_bias {
                -pre.bias().accel_m_s2
            } else {
                bias.accel_m_s2 - pre.bias().accel_m_s2
            },
        ));
        let rv = 6 * k;
        let rp = 6 * k + 3;
        let (ci, cj, cg) = (3 * k, 3 * k + 3, 3 * n);
        for d in 0..3 {
            a[(rv + d, cj + d)] = 1.0;
            a[(rv + d, ci + d)] = -1.0;
            a[(rp + d, ci + d)] = -dt;
        }
        let gv = gravity_basis * (-dt);
        let gp = gravity_basis * (-0.5 * dt * dt);
        a.view_mut((rv, cg), (3, kg)).copy_from(&gv);
        a.view_mut((rp, cg), (3, kg)).copy_from(&gp);
        if estimate_accel_bias {
            let ca = cg + kg;
            let ja_v = -(r_i.matrix() * jac.d_v_d_ba);
            let ja_p = -(r_i.matrix() * jac.d_p_d_ba);
            a.fixed_view_mut::<3, 3>(rv, ca).copy_from(&ja_v);
            a.fixed_view_mut::<3, 3>(rp, ca).copy_from(&ja_p);
        }
        let bv = r_i * delta.delta_v + g0 * dt;
        let bp = r_i * delta.delta_p - (p_j - p_i) + g0 * (0.5 * dt * dt);
        b.fixed_rows_mut::<3>(rv).copy_from(&bv);
        b.fixed_rows_mut::<3>(rp).copy_from(&bp);
    }
    Rows { a, b }
}

/// Least squares by normal equations with Jacobi column scaling and a
/// Cholesky factorisation (as VINS-Mono does); the problem is small and well
/// conditioned once scaled. Unobservable when the factorisation fails or the
/// Cholesky diagonal spans more than 1e6 (condition estimate > 1e12).
fn solve(rows: &Rows, what: &str) -> Result<(DVector<f64>, f64)> {
    let scale = DVector::from_iterator(
        rows.a.ncols(),
        rows.a
            .column_iter()
            .map(|c| 1.0 / c.norm().max(f64::MIN_POSITIVE)),
    );
    let mut a = rows.a.clone();
    for (mut column, s) in a.column_iter_mut().zip(scale.iter()) {
        column *= *s;
    }
    let unobservable = || {
        Error::InvalidArgument(format!(
            "{what}: unobservable (normal equations singular); more motion needed"
        ))
    };
    let chol = a.tr_mul(&a).cholesky().ok_or_else(unobservable)?;
    let diag = chol.l_dirty().diagonal();
    if diag.min().is_nan() || diag.min() <= 1e-6 * diag.max() {
        return Err(unobservable());
    }
    let x = chol.solve(&a.tr_mul(&rows.b)).component_mul(&scale);
    let rms = ((&rows.a * &x - &rows.b).norm_squared() / rows.b.len() as f64).sqrt();
    Ok((x, rms))
}

/// Steps 1-3 of the module docs. `preintegrated[k]` spans keyframes `k` and
/// `k+1`; all may use different bias estimates b̂ (each is corrected with its
/// own Jacobians).
pub fn initialize_inertial(
    keyframes: &[VisualKeyframe],
    preintegrated: &[Preintegrated],
    options: &InertialInitOptions,
) -> Result<InertialInit> {
    check_inputs(keyframes, preintegrated)?;
    let (gyro_bias, rotation_rms_rad) =
        estimate_gyro_bias(keyframes, preintegrated, options.gyro_iterations)?;
    let n = keyframes.len();

    // Step 2: free gravity, b_a = b̂_a (of the first preintegration).
    let mut bias = ImuBias::new(gyro_bias, preintegrated[0].bias().accel_m_s2);
    let identity = DMatrix::<f64>::identity(3, 3);
    let rows = build_rows(
        keyframes,
        preintegrated,
        &bias,
        &identity,
        &Vector3::zeros(),
        false,
    );
    let (x, _) = solve(&rows, "gravity/velocity")?;
    let g_free = Vector3::new(x[3 * n], x[3 * n + 1], x[3 * n + 2]);
    if g_free.norm() < 1e-6 {
        return Err(Error::InvalidArgument(
            "inertial init: gravity estimate is zero".into(),
        ));
    }

    // Step 3: refinement on the sphere |g| = G, optionally with b_a.
    let mut g_dir = g_free.normalize();
    let mut velocities = vec![Vector3::zeros(); n];
    let mut translation_rms = 0.0;
    for _ in 0..options.refinement_iterations.max(1) {
        let (b1, b2) = tangent_basis(&g_dir);
        let basis = DMatrix::from_columns(&[
            nalgebra::DVector::from_column_slice(b1.as_slice()),
            nalgebra::DVector::from_column_slice(b2.as_slice()),
        ]);
        let g0 = g_dir * options.gravity_m_s2;
        let rows = build_rows(
            keyframes,
            preintegrated,
            &bias,
            &basis,
            &g0,
            options.estimate_accel_bias,
        );
        let (x, rms) = solve(&rows, "gravity refinement")?;
        translation_rms = rms;
        let w = (x[3 * n], x[3 * n + 1]);
        g_dir = (g0 + b1 * w.0 + b2 * w.1).normalize();
        for (k, v) in velocities.iter_mut().enumerate() {
            *v = Vector3::new(x[3 * k], x[3 * k + 1], x[3 * k + 2]);
        }
        if options.estimate_accel_bias {
            bias.accel_m_s2 = Vector3::new(x[3 * n + 2], x[3 * n + 3], x[3 * n + 4]);
        }
    }
    let gravity_world_m_s2 = g_dir * options.gravity_m_s2;
    let gravity_aligned_from_world = Rotation3::rotation_between(&g_dir, &-Vector3::z())
        .unwrap_or_else(|| Rotation3::from_axis_angle(&Vector3::x_axis(), std::f64::consts::PI));
    Ok(InertialInit {
        bias,
        gravity_world_m_s2,
        gravity_unconstrained_m_s2: g_free,
        velocities_world_m_s: velocities,
        gravity_aligned_from_world,
        rotation_rms_rad,
        translation_rms,
    })
}
