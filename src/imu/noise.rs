//! IMU noise parameters (continuous-time densities, Kalibr / Forster convention).

use nalgebra::Matrix3;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Continuous-time IMU noise densities.
///
/// White measurement noise `η` has power spectral density `σ²`; over a sample
/// interval `Δt` its discrete-time covariance is `σ² / Δt · I` (Forster et al.
/// 2017, Eq. 62-63 and the footnote on `Cov(η_d) = Cov(η) / Δt`). Bias random
/// walks `ḃ = η_b` give `σ_b² Δt · I` over `Δt`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImuNoise {
    /// Gyroscope white-noise density σ_g, rad/s/√Hz.
    pub gyro_noise_density: f64,
    /// Accelerometer white-noise density σ_a, m/s²/√Hz.
    pub accel_noise_density: f64,
    /// Gyroscope bias random walk σ_bg, rad/s²/√Hz.
    pub gyro_random_walk: f64,
    /// Accelerometer bias random walk σ_ba, m/s³/√Hz.
    pub accel_random_walk: f64,
}

impl Default for ImuNoise {
    /// A consumer MEMS IMU (BMI055 class, EuRoC-like values inflated ×1.5).
    fn default() -> Self {
        Self {
            gyro_noise_density: 2.5e-4,
            accel_noise_density: 3.0e-3,
            gyro_random_walk: 3.0e-5,
            accel_random_walk: 4.5e-4,
        }
    }
}

impl ImuNoise {
    /// Checks that every density is finite and non-negative.
    pub fn validate(&self) -> Result<()> {
        for (name, value) in [
            ("gyro_noise_density", self.gyro_noise_density),
            ("accel_noise_density", self.accel_noise_density),
            ("gyro_random_walk", self.gyro_random_walk),
            ("accel_random_walk", self.accel_random_walk),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(Error::Config(format!(
                    "imu noise {name} = {value} must be finite and >= 0"
                )));
            }
        }
        Ok(())
    }

    /// Discrete gyro noise covariance `σ_g² / Δt · I` for one step of `dt_s`
    /// (Forster Eq. 62-63).
    pub fn gyro_covariance(&self, dt_s: f64) -> Matrix3<f64> {
        Matrix3::identity() * (self.gyro_noise_density.powi(2) / dt_s)
    }

    /// Discrete accelerometer noise covariance `σ_a² / Δt · I` for one step.
    pub fn accel_covariance(&self, dt_s: f64) -> Matrix3<f64> {
        Matrix3::identity() * (self.accel_noise_density.powi(2) / dt_s)
    }

    /// Covariance `σ_bg² Δt · I` of the gyro bias change over `dt_s`
    /// (the bias random-walk factor).
    pub fn gyro_bias_walk_covariance(&self, dt_s: f64) -> Matrix3<f64> {
        Matrix3::identity() * (self.gyro_random_walk.powi(2) * dt_s)
    }

    /// Covariance `σ_ba² Δt · I` of the accelerometer bias change over `dt_s`.
    pub fn accel_bias_walk_covariance(&self, dt_s: f64) -> Matrix3<f64> {
        Matrix3::identity() * (self.accel_random_walk.powi(2) * dt_s)
    }
}
