//! # scenemap
//!
//! Real-time 3D spatial mapping for robots with an RGB-D camera and an IMU:
//! tracking, dense TSDF mapping and a semantic scene graph with physics.
//!
//! Poses are [`nalgebra::Isometry3<f64>`] named `a_from_b` (Sophus
//! convention): `world_from_camera * camera_from_point` gives the point in
//! world coordinates. Units are suffixed to names (`_m`, `_s`, `_kg`, `_n`).

#![warn(missing_docs)]

pub mod error;
pub mod eval;
pub mod geometry;
pub mod io;
pub mod mesh;
pub mod odometry;
pub mod scene_graph;
pub mod sensor;
pub mod tsdf;

pub use error::{Error, Result};
pub use geometry::{BrownConrady, PinholeCamera, StampedPose};
pub use sensor::{ImuSample, RgbdFrame, Timestamp};
