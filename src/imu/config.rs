//! IMU configuration: extrinsics, time offset, sample limits and noise.

use nalgebra::{Isometry3, Rotation3, Translation3, UnitQuaternion};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::imu::noise::ImuNoise;
use crate::sensor::Timestamp;

/// Standard gravity, m/s² (the magnitude the initialisation fixes).
pub const STANDARD_GRAVITY_M_S2: f64 = 9.81;

/// Configuration of one IMU rigidly attached to the camera.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImuConfig {
    /// Camera pose in the IMU frame: `imu_from_camera * camera_from_point`
    /// gives the point in IMU coordinates.
    pub imu_from_camera: Isometry3<f64>,
    /// Clock offset: `t_imu = t_camera + time_offset_s`.
    pub time_offset_s: f64,
    /// A spacing between consecutive samples above this flags the
    /// preintegration over it as unreliable, s.
    pub max_gap_s: f64,
    /// Samples with |gyro| above this are rejected as absurd, rad/s.
    pub max_gyro_rad_s: f64,
    /// Samples with |accel| above this are rejected as absurd, m/s².
    pub max_accel_m_s2: f64,
    /// Gravity magnitude, m/s².
    pub gravity_m_s2: f64,
    /// Noise densities.
    pub noise: ImuNoise,
    /// The IMU prediction as a Gaussian prior in the visual solve.
    pub visual_prior: VisualPriorConfig,
}

/// How the IMU-predicted pose regularises the dense visual solve
/// ([`crate::odometry::PosePrior`], built by
/// [`crate::imu::ImuMotionPrior`]): the information of the prediction is the
/// inverse of the preintegrated rotation covariance (Forster et al. 2017,
/// Eq. 63) plus the rotation error of a residual gyro bias, and — once
/// velocity and gravity are estimated — of a translation covariance from
/// the velocity uncertainty, scaled by `weight`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VisualPriorConfig {
    /// Multiplies the prior's information; 0 switches the prior off (the
    /// prediction then only seeds the solve).
    pub weight: f64,
    /// Standard deviation of the residual gyro bias error after the
    /// window's estimate, rad/s (rotation σ grows by this × Δt).
    pub gyro_bias_sigma_rad_s: f64,
    /// Standard deviation of the velocity estimate, m/s (translation σ =
    /// this × Δt); 0 leaves translation to vision alone.
    pub velocity_sigma_m_s: f64,
}

impl Default for VisualPriorConfig {
    fn default() -> Self {
        Self {
            weight: 1.0,
            gyro_bias_sigma_rad_s: 0.005,
            velocity_sigma_m_s: 0.1,
        }
    }
}

impl VisualPriorConfig {
    /// Checks that every value is finite and non-negative and that the
    /// rotation σ can be positive.
    pub fn validate(&self) -> Result<()> {
        for (name, value) in [
            ("weight", self.weight),
            ("gyro_bias_sigma_rad_s", self.gyro_bias_sigma_rad_s),
            ("velocity_sigma_m_s", self.velocity_sigma_m_s),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(Error::Config(format!(
                    "imu visual_prior.{name} = {value} must be finite and >= 0"
                )));
            }
        }
        Ok(())
    }
}

impl Default for ImuConfig {
    fn default() -> Self {
        Self {
            imu_from_camera: Isometry3::identity(),
            time_offset_s: 0.0,
            max_gap_s: 0.1,
            max_gyro_rad_s: 50.0,
            max_accel_m_s2: 200.0,
            gravity_m_s2: STANDARD_GRAVITY_M_S2,
            noise: ImuNoise::default(),
            visual_prior: VisualPriorConfig::default(),
        }
    }
}

impl ImuConfig {
    /// The Kinect v1 accelerometer as recorded in the TUM RGB-D benchmark
    /// (see [`crate::imu::kinect`]): zero lever arm (unknown, a few cm), the
    /// documented axis convention `camera_from_accel = diag(-1, -1, 1)`, no time
    /// offset.
    pub fn kinect_v1() -> Self {
        let camera_from_accel = crate::imu::kinect::camera_from_kinect_accel();
        Self {
            imu_from_camera: Isometry3::from_parts(
                Translation3::identity(),
                UnitQuaternion::from_rotation_matrix(&camera_from_accel.inverse()),
            ),
            ..Self::default()
        }
    }

    /// Rotation part of [`Self::imu_from_camera`].
    pub fn imu_from_camera_rotation(&self) -> Rotation3<f64> {
        self.imu_from_camera.rotation.to_rotation_matrix()
    }

    /// IMU-clock time of a camera timestamp: `t_imu = t_camera + offset`.
    pub fn imu_time(&self, camera_time: Timestamp) -> Timestamp {
        Timestamp(camera_time.0 + (self.time_offset_s * 1e9).round() as i64)
    }

    /// Checks ranges: finite extrinsic with a unit quaternion, |offset| ≤ 1 s,
    /// positive gap and limits, gravity within 9.7..9.9 m/s², valid noise.
    pub fn validate(&self) -> Result<()> {
        let q = self.imu_from_camera.rotation.quaternion();
        let t = self.imu_from_camera.translation.vector;
        if !q.coords.iter().chain(t.iter()).all(|v| v.is_finite()) {
            return Err(Error::Config("imu_from_camera is not finite".into()));
        }
        if (q.norm() - 1.0).abs() > 1e-6 {
            return Err(Error::Config(format!(
                "imu_from_camera quaternion has norm {} (expected 1)",
                q.norm()
            )));
        }
        if t.norm() > 1.0 {
            return Err(Error::Config(format!(
                "imu_from_camera lever arm {} m is implausible (> 1 m)",
                t.norm()
            )));
        }
        if !self.time_offset_s.is_finite() || self.time_offset_s.abs() > 1.0 {
            return Err(Error::Config(format!(
                "imu time_offset_s = {} must be finite and within ±1 s",
                self.time_offset_s
            )));
        }
        for (name, value) in [
            ("max_gap_s", self.max_gap_s),
            ("max_gyro_rad_s", self.max_gyro_rad_s),
            ("max_accel_m_s2", self.max_accel_m_s2),
        ] {
            if !value.is_finite() || value <= 0.0 {
                return Err(Error::Config(format!(
                    "imu {name} = {value} must be finite and > 0"
                )));
            }
        }
        if !(9.7..=9.9).contains(&self.gravity_m_s2) {
            return Err(Error::Config(format!(
                "imu gravity_m_s2 = {} outside 9.7..9.9",
                self.gravity_m_s2
            )));
        }
        self.noise.validate()?;
        self.visual_prior.validate()
    }
}
