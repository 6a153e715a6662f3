//! Odometry: dense RGB-D tracking (photometric + point-to-plane ICP on
//! SE(3), coarse to fine) and its inputs (undistortion, image pyramids),
//! and the keyframe pose graph of the back end.
//!
//! Frame-to-frame quick start:
//!
//! ```no_run
//! # fn frames() -> Vec<scenemap::RgbdFrame> { Vec::new() }
//! use nalgebra::Isometry3;
//! use scenemap::odometry::{OdometryConfig, RgbdOdometry};
//! use scenemap::PinholeCamera;
//!
//! let odometry = RgbdOdometry::new(&PinholeCamera::tum_freiburg1(), OdometryConfig::default())?;
//! let mut world_from_camera = Isometry3::identity();
//! let mut velocity = Isometry3::identity(); // constant-velocity prediction
//! let mut reference = None;
//! for frame in frames() {
//!     let current = odometry.prepare(&frame)?;
//!     if let Some(reference) = &reference {
//!         let result = odometry.track(reference, &current, &velocity)?;
//!         if !result.status.is_lost() {
//!             velocity = result.reference_from_current;
//!         }
//!         world_from_camera *= result.reference_from_current;
//!     }
//!     reference = Some(current);
//! }
//! # Ok::<(), scenemap::Error>(())
//! ```

pub(crate) mod buffer_pool;
mod config;
pub mod keyframe_image;
pub mod keyframes;
pub mod loop_closure;
mod normal_equations;
pub mod pose_graph;
pub mod pose_prior;
pub mod pyramid;
mod residuals;
pub mod rgbd_odometry;
pub mod undistort;

pub use config::{OdometryConfig, PyramidConfig, ResidualTerms, RobustLoss, TrackingThresholds};
pub use pose_prior::PosePrior;
pub use pyramid::{PyramidLevel, RgbdPyramid};
pub use rgbd_odometry::{
    RgbdOdometry, TrackingIssue, TrackingQuality, TrackingResult, TrackingStatus,
};
pub use undistort::Undistorter;
