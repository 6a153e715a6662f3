//! Geometry: camera models, poses and SE(3) helpers.

mod camera;
mod pose;
mod se3;

pub use camera::{BrownConrady, PinholeCamera};
pub use pose::{interpolate_pose, pose_at, StampedPose};
pub use se3::{
    adjoint_se3, exp_se3, exp_so3, hat_se3, hat_so3, left_jacobian_inverse_so3, left_jacobian_so3,
    log_se3, log_so3, right_jacobian_inverse_so3, right_jacobian_so3, vee_se3, vee_so3,
};
