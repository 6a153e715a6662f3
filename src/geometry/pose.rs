//! Time-stamped poses and trajectories.

use nalgebra::{Isometry3, Translation3, UnitQuaternion};
use serde::{Deserialize, Serialize};

use crate::sensor::Timestamp;

/// A pose at a time: `world_from_camera` maps camera coordinates to world
/// coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StampedPose {
    /// When.
    pub timestamp: Timestamp,
    /// Camera (or body) pose in the world.
    pub world_from_camera: Isometry3<f64>,
}

impl StampedPose {
    /// Builds a stamped pose.
    pub fn new(timestamp: Timestamp, world_from_camera: Isometry3<f64>) -> Self {
        Self {
            timestamp,
            world_from_camera,
        }
    }
}

/// Interpolates between two poses: linear in translation, slerp in rotation.
/// `t = 0` gives `a`, `t = 1` gives `b`.
pub fn interpolate_pose(a: &Isometry3<f64>, b: &Isometry3<f64>, t: f64) -> Isometry3<f64> {
    let translation = a.translation.vector.lerp(&b.translation.vector, t);
    let rotation: UnitQuaternion<f64> = a
        .rotation
        .try_slerp(&b.rotation, t, 1e-12)
        .unwrap_or(a.rotation);
    Isometry3::from_parts(Translation3::from(translation), rotation)
}

/// Pose at `timestamp` by interpolating a time-sorted trajectory. Returns
/// `None` outside the trajectory's time span or where the two neighbouring
/// poses are more than `max_gap_s` apart.
pub fn pose_at(
    trajectory: &[StampedPose],
    timestamp: Timestamp,
    max_gap_s: f64,
) -> Option<Isometry3<f64>> {
    let idx = trajectory.partition_point(|p| p.timestamp < timestamp);
    if let Some(p) = trajectory.get(idx) {
        if p.timestamp == timestamp {
            return Some(p.world_from_camera);
        }
    }
    if idx == 0 || idx >= trajectory.len() {
        return None;
    }
    let (a, b) = (&trajectory[idx - 1], &trajectory[idx]);
    let span_s = b.timestamp.secs_since(a.timestamp);
    if span_s > max_gap_s || span_s <= 0.0 {
        return None;
    }
    let t = timestamp.secs_since(a.timestamp) / span_s;
    Some(interpolate_pose(
        &a.world_from_camera,
        &b.world_from_camera,
        t,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use nalgebra::Vector3;

    #[test]
    fn interpolation_hits_endpoints_and_midpoint() {
        let a = Isometry3::new(Vector3::new(0.0, 0.0, 0.0), Vector3::zeros());
        let b = Isometry3::new(Vector3::new(2.0, 0.0, 0.0), Vector3::new(0.0, 0.0, 1.0));
        let trajectory = [
            StampedPose::new(Timestamp(0), a),
            StampedPose::new(Timestamp(1_000_000_000), b),
        ];
        let mid = pose_at(&trajectory, Timestamp(500_000_000), 1.5).unwrap();
        assert_relative_eq!(mid.translation.vector.x, 1.0, epsilon = 1e-12);
        assert_relative_eq!(mid.rotation.angle(), 0.5, epsilon = 1e-12);
        assert_eq!(pose_at(&trajectory, Timestamp(0), 1.5), Some(a));
        assert!(pose_at(&trajectory, Timestamp(-1), 1.5).is_none());
        assert!(pose_at(&trajectory, Timestamp(500_000_000), 0.5).is_none());
    }
}
