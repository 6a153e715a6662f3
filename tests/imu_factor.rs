//! IMU factor: residual zero at the truth, analytic Jacobians vs central
//! finite differences on the manifold.

#[path = "imu_support/mod.rs"]
mod imu_support;

use imu_support::{gravity, Trajectory};
use nalgebra::{SVector, Vector3};
use scenemap::imu::factor::NavTangent;
use scenemap::imu::{
    imu_residual, linearize_imu_factor, predict, ImuBias, ImuNoise, NavState, Preintegrated,
};

fn true_state(traj: &Trajectory, t: f64, bias: ImuBias) -> NavState {
    NavState {
        world_from_imu: traj.rotation(t),
        position_m: traj.position(t),
        velocity_m_s: traj.velocity(t),
        bias,
    }
}

#[test]
fn residual_vanishes_at_truth_and_predict_agrees() {
    let traj = Trajectory::default();
    let bias = ImuBias::new(
        Vector3::new(0.01, -0.02, 0.01),
        Vector3::new(0.1, 0.05, -0.1),
    );
    let samples = traj.samples(0.3, 0.6, 2000.0, bias.gyro_rad_s, bias.accel_m_s2);
    let pre = Preintegrated::from_samples(&samples, bias, ImuNoise::default()).unwrap();
    let (si, sj) = (true_state(&traj, 0.3, bias), true_state(&traj, 0.6, bias));
    let r = imu_residual(&pre, &si, &sj, &gravity());
    println!("residual at truth (2 kHz): {:.2e}", r.norm());
    assert!(r.norm() < 1e-6, "{r:?}");
    let pred = predict(&pre, &si, &gravity());
    assert!((pred.position_m - sj.position_m).norm() < 1e-6);
    assert!((pred.velocity_m_s - sj.velocity_m_s).norm() < 1e-6);
}

#[test]
fn jacobians_match_finite_differences() {
    let traj = Trajectory::default();
    let b_hat = ImuBias::new(
        Vector3::new(0.01, -0.02, 0.01),
        Vector3::new(0.1, 0.05, -0.1),
    );
    let samples = traj.samples(0.3, 0.8, 200.0, Vector3::zeros(), Vector3::zeros());
    let pre = Preintegrated::from_samples(&samples, b_hat, ImuNoise::default()).unwrap();
    // States away from the truth so that every term is exercised, and a bias
    // away from the linearisation point.
    let mut si = true_state(&traj, 0.3, b_hat);
    let mut sj = true_state(&traj, 0.8, b_hat);
    si.bias = b_hat
        + ImuBias::new(
            Vector3::new(0.02, 0.01, -0.03),
            Vector3::new(-0.2, 0.1, 0.3),
        );
    si = si.retract(&NavTangent::from_fn(|k, _| 0.05 * ((k as f64) * 0.7).sin()));
    sj = sj.retract(&NavTangent::from_fn(|k, _| 0.04 * ((k as f64) * 1.3).cos()));
    let g = gravity();
    let lin = linearize_imu_factor(&pre, &si, &sj, &g);
    let eps = 1e-6;
    let mut worst: f64 = 0.0;
    for (which, analytic) in [(0, lin.d_state_i), (1, lin.d_state_j)] {
        for k in 0..15 {
            let mut d = SVector::<f64, 15>::zeros();
            d[k] = eps;
            let r = |delta: &NavTangent| {
                if which == 0 {
                    imu_residual(&pre, &si.retract(delta), &sj, &g)
                } else {
                    imu_residual(&pre, &si, &sj.retract(delta), &g)
                }
            };
            let fd = (r(&d) - r(&-d)) / (2.0 * eps);
            let err = (fd - analytic.column(k)).norm();
            worst = worst.max(err);
            assert!(
                err < 1e-6 * (1.0 + fd.norm()),
                "state {} column {k}: fd {fd:?} analytic {:?}",
                if which == 0 { "i" } else { "j" },
                analytic.column(k)
            );
        }
    }
    println!("IMU factor Jacobians: worst |FD - analytic| column error {worst:.2e}");
}
