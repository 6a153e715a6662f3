//! Preintegration oracles: analytic trajectory, NEES over seeds, bias
//! Jacobians by finite differences, first-order bias correction.

#[path = "imu_support/mod.rs"]
mod imu_support;

use imu_support::{rotation_error, SplitMix64, Trajectory};
use nalgebra::{SVector, Vector3};
use scenemap::imu::{so3, ImuBias, ImuNoise, Preintegrated};
use scenemap::ImuSample;

fn relative_errors(pre: &Preintegrated, traj: &Trajectory, t0: f64, t1: f64) -> [f64; 3] {
    let (r, v, p) = traj.exact_delta(t0, t1);
    [
        rotation_error(&pre.delta_r(), &r) / so3::log(&r).norm(),
        (pre.delta_v() - v).norm() / v.norm(),
        (pre.delta_p() - p).norm() / p.norm(),
    ]
}

fn fmt(e: &[f64; 3]) -> String {
    format!("{:.3e} {:.3e} {:.3e}", e[0], e[1], e[2])
}

#[test]
fn noise_free_matches_analytic_deltas() {
    let traj = Trajectory::default();
    let (t0, t1) = (0.5, 1.5);
    let noise = ImuNoise::default();
    let zero = Vector3::zeros();

    let fine = traj.samples(t0, t1, 20_000.0, zero, zero);
    let pre = Preintegrated::from_samples(&fine, ImuBias::default(), noise).unwrap();
    assert_eq!(pre.steps(), 20_000);
    let e20k = relative_errors(&pre, &traj, t0, t1);
    println!("20 kHz relative errors (R, v, p): {}", fmt(&e20k));
    assert!(e20k.iter().all(|&e| e <= 1e-6), "{e20k:?}");

    let coarse = traj.samples(t0, t1, 200.0, zero, zero);
    let pre200 = Preintegrated::from_samples(&coarse, ImuBias::default(), noise).unwrap();
    let e200 = relative_errors(&pre200, &traj, t0, t1);
    let coarse400 = traj.samples(t0, t1, 400.0, zero, zero);
    let pre400 = Preintegrated::from_samples(&coarse400, ImuBias::default(), noise).unwrap();
    let e400 = relative_errors(&pre400, &traj, t0, t1);
    println!("200 Hz relative errors (R, v, p): {}", fmt(&e200));
    println!("400 Hz relative errors (R, v, p): {}", fmt(&e400));
    // Second-order scheme: halving Δt divides the error by about 4.
    for k in 0..3 {
        let ratio = e200[k] / e400[k];
        println!("order check component {k}: e200/e400 = {ratio:.2}");
        assert!((3.0..5.5).contains(&ratio), "component {k}: ratio {ratio}");
        assert!(e200[k] < 1e-3);
    }
}

/// Wilson-Hilferty approximation of the chi-square quantile with `k` dof.
fn chi2_quantile(k: f64, z: f64) -> f64 {
    let a = 2.0 / (9.0 * k);
    k * (1.0 - a + z * a.sqrt()).powi(3)
}

#[test]
fn nees_is_consistent_with_propagated_covariance() {
    let traj = Trajectory::default();
    let (t0, t1) = (0.2, 1.2);
    let noise = ImuNoise {
        gyro_noise_density: 5e-3,
        accel_noise_density: 5e-2,
        gyro_random_walk: 0.0,
        accel_random_walk: 0.0,
    };
    let rate_hz = 200.0;
    let dt = 1.0 / rate_hz;
    let clean = traj.samples(t0, t1, rate_hz, Vector3::zeros(), Vector3::zeros());
    let (r_true, v_true, p_true) = traj.exact_delta(t0, t1);
    let runs = 300;
    let mut sum = 0.0;
    let mut sum_per_block = [0.0; 3];
    for seed in 0..runs {
        let mut rng = SplitMix64::new(0xC0FFEE + seed as u64);
        let noisy: Vec<ImuSample> = clean
            .iter()
            .map(|s| {
                let mut s = *s;
                s.gyro_rad_s = s
                    .gyro_rad_s
                    .map(|g| g + rng.normal3() * (noise.gyro_noise_density / dt.sqrt()));
                s.accel_m_s2 = s
                    .accel_m_s2
                    .map(|a| a + rng.normal3() * (noise.accel_noise_density / dt.sqrt()));
                s
            })
            .collect();
        let pre = Preintegrated::from_samples(&noisy, ImuBias::default(), noise).unwrap();
        let mut e = SVector::<f64, 9>::zeros();
        e.fixed_rows_mut::<3>(0)
            .copy_from(&so3::log(&(r_true.inverse() * pre.delta_r())));
        e.fixed_rows_mut::<3>(3)
            .copy_from(&(pre.delta_v() - v_true));
        e.fixed_rows_mut::<3>(6)
            .copy_from(&(pre.delta_p() - p_true));
        let cov = pre.covariance();
        let nees = (e.transpose() * cov.try_inverse().unwrap() * e)[(0, 0)];
        sum += nees;
        for (b, acc) in sum_per_block.iter_mut().enumerate() {
            let eb = e.fixed_rows::<3>(3 * b).into_owned();
            let cb = cov.fixed_view::<3, 3>(3 * b, 3 * b).into_owned();
            *acc += (eb.transpose() * cb.try_inverse().unwrap() * eb)[(0, 0)];
        }
    }
    let mean = sum / runs as f64;
    let dof = 9.0 * runs as f64;
    let (lo, hi) = (
        chi2_quantile(dof, -1.96) / runs as f64,
        chi2_quantile(dof, 1.96) / runs as f64,
    );
    let blocks = sum_per_block.map(|s| s / runs as f64);
    println!("mean NEES over {runs} runs: {mean:.3} (95 % interval [{lo:.3}, {hi:.3}]); per block (R, v, p) {blocks:.3?} (expect 3)");
    assert!(mean > lo && mean < hi, "NEES {mean} outside [{lo}, {hi}]");
}

fn reintegrate(samples: &[ImuSample], bias: ImuBias) -> Preintegrated {
    Preintegrated::from_samples(samples, bias, ImuNoise::default()).unwrap()
}

#[test]
fn bias_jacobians_match_finite_differences() {
    let traj = Trajectory::default();
    let samples = traj.samples(0.0, 1.0, 200.0, Vector3::zeros(), Vector3::zeros());
    let bias = ImuBias::new(
        Vector3::new(0.02, -0.01, 0.03),
        Vector3::new(0.1, -0.2, 0.05),
    );
    let pre = reintegrate(&samples, bias);
    let j = pre.bias_jacobians();
    let eps = 1e-6;
    let mut worst: f64 = 0.0;
    for k in 0..3 {
        for gyro in [true, false] {
            let mut d = ImuBias::default();
            if gyro {
                d.gyro_rad_s[k] = eps;
            } else {
                d.accel_m_s2[k] = eps;
            }
            let plus = reintegrate(&samples, bias + d);
            let minus = reintegrate(&samples, bias - d);
            let fd_r = so3::log(&(minus.delta_r().inverse() * plus.delta_r())) / (2.0 * eps);
            let fd_v = (plus.delta_v() - minus.delta_v()) / (2.0 * eps);
            let fd_p = (plus.delta_p() - minus.delta_p()) / (2.0 * eps);
            let (an_r, an_v, an_p) = if gyro {
                (
                    j.d_r_d_bg.column(k).into_owned(),
                    j.d_v_d_bg.column(k).into_owned(),
                    j.d_p_d_bg.column(k).into_owned(),
                )
            } else {
                (
                    Vector3::zeros(),
                    j.d_v_d_ba.column(k).into_owned(),
                    j.d_p_d_ba.column(k).into_owned(),
                )
            };
            for (name, fd, an) in [("R", fd_r, an_r), ("v", fd_v, an_v), ("p", fd_p, an_p)] {
                let err = (fd - an).norm() / an.norm().max(1e-3);
                worst = worst.max(err);
                assert!(
                    err < 1e-5,
                    "d{name}/db{} col {k}: fd {fd:?} analytic {an:?}",
                    if gyro { "g" } else { "a" }
                );
            }
        }
    }
    println!("bias Jacobians: worst relative FD mismatch {worst:.2e}");
}

#[test]
fn corrected_matches_reintegration_for_small_bias_change() {
    let traj = Trajectory::default();
    let samples = traj.samples(0.0, 1.0, 200.0, Vector3::zeros(), Vector3::zeros());
    let pre = reintegrate(&samples, ImuBias::default());
    let errors = |scale: f64| {
        let delta = ImuBias::new(
            Vector3::new(0.005, -0.004, 0.003) * scale,
            Vector3::new(0.05, 0.03, -0.04) * scale,
        );
        let exact = reintegrate(&samples, delta);
        let corrected = pre.corrected(&delta);
        let err = [
            rotation_error(&corrected.delta_r, &exact.delta_r()),
            (corrected.delta_v - exact.delta_v()).norm(),
            (corrected.delta_p - exact.delta_p()).norm(),
        ];
        let change = [
            rotation_error(&pre.delta_r(), &exact.delta_r()),
            (pre.delta_v() - exact.delta_v()).norm(),
            (pre.delta_p() - exact.delta_p()).norm(),
        ];
        (err, change)
    };
    let (err, change) = errors(1.0);
    let (err_half, _) = errors(0.5);
    println!(
        "corrected vs re-integrated (|δb_g| = 7.1e-3 rad/s, |δb_a| = 7.1e-2 m/s²): error R {:.2e} rad, v {:.2e} m/s, p {:.2e} m; change without correction {:.2e}, {:.2e}, {:.2e}",
        err[0], err[1], err[2], change[0], change[1], change[2]
    );
    for k in 0..3 {
        // First order: the remaining error is small against the change...
        assert!(err[k] < 1e-2 * change[k], "component {k}");
        // ... and second order in δb: halving δb quarters it.
        let ratio = err[k] / err_half[k];
        println!("component {k}: error(δb) / error(δb/2) = {ratio:.2}");
        assert!((3.0..5.0).contains(&ratio), "component {k}: {ratio}");
    }
}

#[test]
fn covariance_is_symmetric_positive_definite_and_grows() {
    let traj = Trajectory::default();
    let samples = traj.samples(0.0, 1.0, 200.0, Vector3::zeros(), Vector3::zeros());
    let half = reintegrate(&samples[..101], ImuBias::default());
    let full = reintegrate(&samples, ImuBias::default());
    let c = full.covariance();
    assert!((c - c.transpose()).norm() < 1e-15 * c.norm().max(1.0));
    assert!(c.cholesky().is_some());
    for k in 0..9 {
        assert!(full.covariance()[(k, k)] > half.covariance()[(k, k)]);
    }
}

#[test]
fn rejects_bad_sample_sequences() {
    let traj = Trajectory::default();
    let mut samples = traj.samples(0.0, 0.1, 200.0, Vector3::zeros(), Vector3::zeros());
    assert!(
        Preintegrated::from_samples(&samples[..1], ImuBias::default(), ImuNoise::default())
            .is_err()
    );
    samples[3].gyro_rad_s = None;
    let err =
        Preintegrated::from_samples(&samples, ImuBias::default(), ImuNoise::default()).unwrap_err();
    assert!(
        err.to_string().contains(&samples[3].timestamp.to_string()),
        "{err}"
    );
}
