//! Axis convention of the Kinect v1 accelerometer (TUM RGB-D `accelerometer.txt`).
//!
//! Sources (no fitting to groundtruth is involved):
//! - The TUM RGB-D bags were recorded with the ROS `kinect_aux` node, which
//!   publishes the raw KXSD9 counts as `count / 819 · 9.80665` m/s² per axis
//!   without re-ordering (github.com/muhrix/kinect_aux, `src/kinect_aux_node.cpp`,
//!   `publishState`). TUM's values are multiples of 9.80665/819 = 0.011974 m/s²,
//!   which confirms the provenance (e.g. 7.818977 = 653 counts).
//! - Microsoft, "Kinect for Windows SDK 1.8: Accelerometer" (msdn jj663790):
//!   the accelerometer coordinate system is right-handed, centred on the
//!   sensor, `+z` in the direction the sensor points, and a level sensor reads
//!   gravity as `(0, -1, 0)` g, i.e. `+y` is up. A level Kinect's raw counts
//!   read `+819` on y (libfreenect `freenect_get_mks_accel`; kinect_aux above),
//!   so the raw values are the *specific force* (pointing up at rest) in those
//!   axes. Right-handedness with `y` up and `z` forward makes `+x` the sensor's
//!   left.
//!
//! The colour camera's optical frame is `x` right, `y` down, `z` forward, so
//! `camera_from_accel = diag(-1, -1, 1)` (a 180° rotation about the optical
//! axis). The sign of `x` rests on the SDK's right-handedness statement, not on
//! an independent raw-count measurement.

use nalgebra::{Matrix3, Rotation3};

/// `camera_from_accel` for the Kinect v1: `diag(-1, -1, 1)` (see module docs).
pub fn camera_from_kinect_accel() -> Rotation3<f64> {
    Rotation3::from_matrix_unchecked(Matrix3::new(
        -1.0, 0.0, 0.0, //
        0.0, -1.0, 0.0, //
        0.0, 0.0, 1.0,
    ))
}
