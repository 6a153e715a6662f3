//! IMU simulation from a trajectory's analytic derivatives.
//!
//! Ideal measurements of an IMU rigidly mounted on the camera
//! (`imu_from_camera`): gyro `ω_I = R_IC ω_C`, accelerometer specific force
//! `f_I = R_WIᵀ (a_I − g)` with `a_I = a_C + R_WC (ω̇ × r + ω × (ω × r))`,
//! `r` the IMU origin in the camera frame. Noise follows the continuous-time
//! Kalibr/Allan model: white noise density `σ_c` becomes `σ_c/√Δt` per
//! sample, a bias random walk `σ_b` adds `σ_b·√Δt·N(0, 1)` per step.
//! Measured = true + bias + white noise.

use nalgebra::{Isometry3, Vector3};
use serde::{Deserialize, Serialize};

use crate::sensor::synthetic::rng::Rng;
use crate::sensor::synthetic::trajectory::Trajectory;
use crate::sensor::{ImuSample, Timestamp};

/// Gravity in the world frame (z up), m/s².
pub const GRAVITY_M_S2: Vector3<f64> = Vector3::new(0.0, 0.0, -9.81);

/// Continuous-time IMU noise parameters (all zero = ideal IMU).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImuNoise {
    /// Gyro white noise density, rad/s/√Hz.
    pub gyro_noise_density: f64,
    /// Accelerometer white noise density, m/s²/√Hz.
    pub accel_noise_density: f64,
    /// Gyro bias random walk, rad/s²/√Hz.
    pub gyro_bias_random_walk: f64,
    /// Accelerometer bias random walk, m/s³/√Hz.
    pub accel_bias_random_walk: f64,
    /// Gyro bias at the first sample, rad/s.
    pub initial_gyro_bias_rad_s: Vector3<f64>,
    /// Accelerometer bias at the first sample, m/s².
    pub initial_accel_bias_m_s2: Vector3<f64>,
}

impl ImuNoise {
    /// Typical MEMS values (similar to the EuRoC ADIS16448 datasheet).
    pub fn mems() -> Self {
        Self {
            gyro_noise_density: 1.7e-4,
            accel_noise_density: 2.0e-3,
            gyro_bias_random_walk: 1.9e-5,
            accel_bias_random_walk: 3.0e-3,
            initial_gyro_bias_rad_s: Vector3::zeros(),
            initial_accel_bias_m_s2: Vector3::zeros(),
        }
    }
}

/// Groundtruth IMU biases at one sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImuBias {
    /// Sample time.
    pub timestamp: Timestamp,
    /// Gyro bias, rad/s.
    pub gyro_rad_s: Vector3<f64>,
    /// Accelerometer bias, m/s².
    pub accel_m_s2: Vector3<f64>,
}

/// Simulated IMU stream with its groundtruth biases (same length).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImuData {
    /// Measurements.
    pub samples: Vec<ImuSample>,
    /// Bias of each measurement.
    pub biases: Vec<ImuBias>,
}

/// IMU simulator configuration.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImuSimulator {
    /// Sample rate, Hz (200 default).
    pub rate_hz: f64,
    /// Extrinsic: maps camera coordinates to IMU coordinates.
    pub imu_from_camera: Isometry3<f64>,
    /// Noise model.
    pub noise: ImuNoise,
    /// Seed of the noise draws.
    pub seed: u64,
}

impl Default for ImuSimulator {
    fn default() -> Self {
        Self {
            rate_hz: 200.0,
            imu_from_camera: Isometry3::identity(),
            noise: ImuNoise::default(),
            seed: 0,
        }
    }
}

impl ImuSimulator {
    /// An ideal IMU at `rate_hz` coinciding with the camera.
    pub fn new(rate_hz: f64) -> Self {
        Self {
            rate_hz,
            ..Self::default()
        }
    }

    /// Returns the simulator with a noise model.
    pub fn with_noise(mut self, noise: ImuNoise, seed: u64) -> Self {
        self.noise = noise;
        self.seed = seed;
        self
    }

    /// Returns the simulator with an extrinsic.
    pub fn with_imu_from_camera(mut self, imu_from_camera: Isometry3<f64>) -> Self {
        self.imu_from_camera = imu_from_camera;
        self
    }

    /// `world_from_imu` at trajectory time `t`.
    pub fn world_from_imu(&self, trajectory: &Trajectory, t: f64) -> Isometry3<f64> {
        trajectory.pose(t) * self.imu_from_camera.inverse()
    }

    /// Noise-free `(gyro rad/s, specific force m/s²)` in the IMU frame at `t`.
    pub fn ideal(&self, trajectory: &Trajectory, t: f64) -> (Vector3<f64>, Vector3<f64>) {
        let world_from_camera = trajectory.pose(t);
        let camera_from_imu = self.imu_from_camera.inverse();
        let r = camera_from_imu.translation.vector; // IMU origin in the camera frame
        let w = trajectory.angular_velocity_body(t);
        let dw = trajectory.angular_acceleration_body(t);
        // Rigid-body acceleration of a point at lever arm r.
        let a_imu = trajectory.linear_acceleration(t)
            + world_from_camera.rotation * (dw.cross(&r) + w.cross(&w.cross(&r)));
        let world_from_imu = world_from_camera * camera_from_imu;
        let gyro = self.imu_from_camera.rotation * w;
        let accel = world_from_imu.rotation.inverse() * (a_imu - GRAVITY_M_S2);
        (gyro, accel)
    }

    /// Samples at `start + k/rate` for every `k` with time `< duration_s`.
    /// Trajectory time is seconds since `start`; sample times are rounded to
    /// the microsecond and the trajectory is evaluated at the rounded time.
    pub fn simulate(&self, trajectory: &Trajectory, start: Timestamp, duration_s: f64) -> ImuData {
        let mut data = ImuData::default();
        if self.rate_hz <= 0.0 || !self.rate_hz.is_finite() || duration_s <= 0.0 {
            return data;
        }
        let period_us = 1e6 / self.rate_hz;
        let dt = 1.0 / self.rate_hz;
        let n = (duration_s * self.rate_hz).ceil() as u64;
        let mut rng = Rng::for_stream(self.seed, &[0x696D75]);
        let nz = &self.noise;
        let mut bg = nz.initial_gyro_bias_rad_s;
        let mut ba = nz.initial_accel_bias_m_s2;
        let gauss3 = |rng: &mut Rng| Vector3::new(rng.gaussian(), rng.gaussian(), rng.gaussian());
        for k in 0..n {
            // Microsecond-rounded times print exactly as TUM's six decimals.
            let offset_ns = (k as f64 * period_us).round() as i64 * 1000;
            let t = offset_ns as f64 * 1e-9;
            if t >= duration_s {
                break;
            }
            let timestamp = Timestamp(start.0 + offset_ns);
            if k > 0 {
                bg += gauss3(&mut rng) * (nz.gyro_bias_random_walk * dt.sqrt());
                ba += gauss3(&mut rng) * (nz.accel_bias_random_walk * dt.sqrt());
            }
            let (gyro, accel) = self.ideal(trajectory, t);
            let gyro = gyro + bg + gauss3(&mut rng) * (nz.gyro_noise_density / dt.sqrt());
            let accel = accel + ba + gauss3(&mut rng) * (nz.accel_noise_density / dt.sqrt());
            data.samples.push(ImuSample::new(timestamp, gyro, accel));
            data.biases.push(ImuBias {
                timestamp,
                gyro_rad_s: bg,
                accel_m_s2: ba,
            });
        }
        data
    }
}
