//! Visual-inertial initialisation on a synthetic trajectory with injected
//! gyro and accelerometer biases.

#[path = "imu_support/mod.rs"]
mod imu_support;

use imu_support::{angle_deg, gravity, SplitMix64, Trajectory};
use nalgebra::{Isometry3, Rotation3, Translation3, UnitQuaternion, Vector3};
use scenemap::imu::{
    estimate_gyro_bias, initialize_inertial, ImuBias, ImuBuffer, ImuConfig, InertialInitOptions,
    Preintegrated, VisualKeyframe,
};
use scenemap::Timestamp;

struct Scenario {
    keyframes: Vec<VisualKeyframe>,
    preintegrated: Vec<Preintegrated>,
    /// visual world from the simulation's gravity-aligned world.
    vis_from_sim: Rotation3<f64>,
    velocities: Vec<Vector3<f64>>,
}

fn scenario(
    gyro_bias: Vector3<f64>,
    accel_bias: Vector3<f64>,
    noise_seed: Option<u64>,
) -> Scenario {
    scenario_on(Trajectory::default(), gyro_bias, accel_bias, noise_seed)
}

fn scenario_on(
    traj: Trajectory,
    gyro_bias: Vector3<f64>,
    accel_bias: Vector3<f64>,
    noise_seed: Option<u64>,
) -> Scenario {
    let config = ImuConfig::default();
    let mut samples = traj.samples(0.0, 3.1, 200.0, gyro_bias, accel_bias);
    if let Some(seed) = noise_seed {
        let mut rng = SplitMix64::new(seed);
        let dt_sqrt = (1.0f64 / 200.0).sqrt();
        for s in &mut samples {
            s.gyro_rad_s = s
                .gyro_rad_s
                .map(|g| g + rng.normal3() * (config.noise.gyro_noise_density / dt_sqrt));
            s.accel_m_s2 = s
                .accel_m_s2
                .map(|a| a + rng.normal3() * (config.noise.accel_noise_density / dt_sqrt));
        }
    }
    let mut buffer = ImuBuffer::new(&config);
    for s in samples {
        buffer.push(s).unwrap();
    }
    // The visual world is tilted and yawed w.r.t. gravity (vision does not know "up").
    let vis_from_sim = Rotation3::from_euler_angles(0.3, -0.2, 1.0);
    // Keyframes at 10 Hz, at times that are not on the IMU grid.
    let times: Vec<f64> = (0..30).map(|k| 0.0137 + 0.1 * k as f64).collect();
    let keyframes: Vec<VisualKeyframe> = times
        .iter()
        .map(|&t| VisualKeyframe {
            timestamp: Timestamp::from_secs_f64(t),
            world_from_imu: Isometry3::from_parts(
                Translation3::from(vis_from_sim * traj.position(t)),
                UnitQuaternion::from_rotation_matrix(&(vis_from_sim * traj.rotation(t))),
            ),
        })
        .collect();
    let preintegrated = keyframes
        .windows(2)
        .map(|w| {
            let interval = buffer.interval(w[0].timestamp, w[1].timestamp).unwrap();
            Preintegrated::from_interval(&interval, ImuBias::default(), config.noise).unwrap()
        })
        .collect();
    let velocities = keyframes
        .iter()
        .map(|k| vis_from_sim * traj.velocity(k.timestamp.as_secs_f64()))
        .collect();
    Scenario {
        keyframes,
        preintegrated,
        vis_from_sim,
        velocities,
    }
}

#[test]
fn recovers_biases_gravity_and_velocities_noise_free() {
    let bg = Vector3::new(0.01, 0.01, 0.01);
    let ba = Vector3::new(0.08, -0.05, 0.12);
    let s = scenario(bg, ba, None);
    let (bg_only, rms) = estimate_gyro_bias(&s.keyframes, &s.preintegrated, 10).unwrap();
    println!("gyro bias only: {bg_only:?}, rotation rms {rms:.2e} rad");
    let init = initialize_inertial(
        &s.keyframes,
        &s.preintegrated,
        &InertialInitOptions::default(),
    )
    .unwrap();
    let g_true = s.vis_from_sim * gravity();
    let gyro_rel = (init.bias.gyro_rad_s - bg).norm() / bg.norm();
    let grav_deg = angle_deg(&init.gravity_world_m_s2, &g_true);
    let accel_err = (init.bias.accel_m_s2 - ba).norm();
    let vel_err = init
        .velocities_world_m_s
        .iter()
        .zip(&s.velocities)
        .map(|(a, b)| (a - b).norm())
        .fold(0.0, f64::max);
    println!(
        "noise-free: gyro bias rel. error {gyro_rel:.2e}, gravity {grav_deg:.4}° (|g| free {:.4}), accel bias error {accel_err:.2e} m/s² (true |b_a| {:.3}), max velocity error {vel_err:.2e} m/s",
        init.gravity_unconstrained_m_s2.norm(),
        ba.norm()
    );
    assert!(gyro_rel < 0.1);
    assert!(grav_deg < 0.5);
    assert!(accel_err < 0.2 * ba.norm());
    assert!(vel_err < 0.01);
    // The gravity-aligned frame maps gravity to -z.
    let aligned = init.gravity_aligned_from_world * init.gravity_world_m_s2;
    assert!((aligned - Vector3::new(0.0, 0.0, -9.81)).norm() < 1e-9);
}

#[test]
fn recovers_biases_and_gravity_with_imu_noise() {
    let bg = Vector3::new(0.01, -0.01, 0.01);
    let ba = Vector3::new(0.08, -0.05, 0.12);
    let mut worst = (0.0f64, 0.0f64);
    for seed in 1..=5 {
        let s = scenario(bg, ba, Some(seed));
        let init = initialize_inertial(
            &s.keyframes,
            &s.preintegrated,
            &InertialInitOptions::default(),
        )
        .unwrap();
        let gyro_rel = (init.bias.gyro_rad_s - bg).norm() / bg.norm();
        let grav_deg = angle_deg(&init.gravity_world_m_s2, &(s.vis_from_sim * gravity()));
        worst = (worst.0.max(gyro_rel), worst.1.max(grav_deg));
        assert!(gyro_rel < 0.1, "seed {seed}: {gyro_rel}");
        assert!(grav_deg < 0.5, "seed {seed}: {grav_deg}");
    }
    println!(
        "default IMU noise, 5 seeds: worst gyro bias rel. error {:.3}, worst gravity error {:.4}°",
        worst.0, worst.1
    );
}

#[test]
fn too_few_keyframes_is_an_error() {
    let s = scenario(Vector3::zeros(), Vector3::zeros(), None);
    assert!(initialize_inertial(
        &s.keyframes[..2],
        &s.preintegrated[..1],
        &InertialInitOptions::default()
    )
    .is_err());
    assert!(initialize_inertial(
        &s.keyframes[..5],
        &s.preintegrated[..3],
        &InertialInitOptions::default()
    )
    .is_err());
}

#[test]
fn accel_bias_without_rotation_is_reported_unobservable() {
    // Constant attitude: b_a and the gravity tilt are indistinguishable.
    let traj = Trajectory {
        rotation_scale: 0.0,
        position_scale: 1.0,
    };
    let s = scenario_on(traj, Vector3::new(0.01, 0.0, 0.0), Vector3::zeros(), None);
    let err = initialize_inertial(
        &s.keyframes,
        &s.preintegrated,
        &InertialInitOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("gravity refinement: unobservable"),
        "{err}"
    );
    // Without estimating b_a the same data initialises fine.
    let options = InertialInitOptions {
        estimate_accel_bias: false,
        ..InertialInitOptions::default()
    };
    let init = initialize_inertial(&s.keyframes, &s.preintegrated, &options).unwrap();
    assert!(angle_deg(&init.gravity_world_m_s2, &(s.vis_from_sim * gravity())) < 0.01);
}
