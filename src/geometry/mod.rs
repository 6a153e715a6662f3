//! Geometry: camera models, poses and SE(3) helpers.

mod camera;
mod pose;

pub use camera::{BrownConrady, PinholeCamera};
pub use pose::{interpolate_pose, pose_at, StampedPose};
