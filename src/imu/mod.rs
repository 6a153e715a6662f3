//! The IMU side of visual-inertial odometry.
//!
//! - [`stream`]: time-ordered, validated sample buffer with interpolation to
//!   exact frame times and gap detection.
//! - [`preintegration`]: on-manifold preintegration with covariance and bias
//!   Jacobians (Forster et al., T-RO 2017).
//! - [`factor`]: the IMU factor residual between two navigation states and
//!   its analytic Jacobians.
//! - [`gravity`]: gravity direction from a static start; roll/pitch tracker.
//! - [`init`]: gyro bias, gravity, velocities and accelerometer bias from
//!   vision keyframes (VINS-Mono / ORB-SLAM3 style initialisation).
//! - [`window`]: sliding-window estimation of biases, gravity and
//!   velocities from tracked frames with IMU factors.
//! - [`motion_prior`]: [`ImuMotionPrior`], the pipeline's IMU motion prior
//!   (gyro-aided tracking, IMU-carried poses through vision outages).
//! - [`mount_calibration`]: online self-calibration of the accelerometer's
//!   mounting rotation `camera_from_accel` and the world's vertical from
//!   visual orientations (hand–eye on gravity).
//! - [`config`], [`noise`], [`kinect`]: configuration, noise densities, and
//!   the Kinect v1 accelerometer axis convention.
//! - [`so3`]: the SO(3) helpers used here (to be merged with `geometry::se3`).
//!
//! ```
//! use nalgebra::Vector3;
//! use scenemap::imu::{ImuBias, ImuBuffer, ImuConfig, Preintegrated};
//! use scenemap::{ImuSample, Timestamp};
//!
//! let config = ImuConfig::default();
//! config.validate()?;
//! let mut buffer = ImuBuffer::new(&config);
//! for k in 0..=40 {
//!     let t = Timestamp::from_nanos(k * 5_000_000); // 200 Hz
//!     buffer.push(ImuSample::new(t, Vector3::new(0.0, 0.0, 0.1), Vector3::new(0.0, 0.0, 9.81)))?;
//! }
//! // Camera frames at 0.010 s and 0.043 s: preintegrate exactly between them.
//! let interval = buffer.interval(Timestamp::from_nanos(10_000_000), Timestamp::from_nanos(43_000_000))?;
//! let pre = Preintegrated::from_interval(&interval, ImuBias::default(), config.noise)?;
//! assert!((pre.delta_t_s() - 0.033).abs() < 1e-12);
//! assert!(!pre.is_unreliable());
//! # Ok::<(), scenemap::Error>(())
//! ```

pub mod config;
pub mod factor;
pub mod gravity;
pub mod init;
pub mod kinect;
pub mod motion_prior;
pub mod mount_calibration;
pub mod noise;
pub mod preintegration;
pub mod so3;
pub mod stream;
pub mod window;

pub use config::{ImuConfig, VisualPriorConfig, STANDARD_GRAVITY_M_S2};
pub use factor::{imu_residual, linearize_imu_factor, predict, ImuFactorLinearization, NavState};
pub use gravity::{
    initial_gravity, world_from_imu_from_gravity, AttitudeFilter, StaticDetector, StaticWindow,
};
pub use init::{
    estimate_gyro_bias, initialize_inertial, InertialInit, InertialInitOptions, VisualKeyframe,
};
pub use motion_prior::{ImuMotionPrior, MotionPriorStats};
pub use mount_calibration::{
    calibrate_mount_rotation, GravityObservation, MountCalibration, MountCalibrationError,
    MountCalibrationOptions,
};
pub use noise::ImuNoise;
pub use preintegration::{BiasJacobians, ImuBias, Preintegrated, PreintegratedDelta};
pub use stream::{ImuBuffer, ImuInterval, RejectionCounts};
pub use window::{SlidingWindow, WindowEstimate, WindowOptions};
