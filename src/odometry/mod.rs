//! Odometry back end: keyframe pose graph optimisation.
pub mod pose_graph;
