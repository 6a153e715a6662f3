//! TUM trajectory files: `timestamp tx ty tz qx qy qz qw` per line.
//!
//! The same format holds groundtruth (`groundtruth.txt`) and estimates.

use std::io::Write;
use std::path::Path;

use nalgebra::{Isometry3, Quaternion, Translation3, UnitQuaternion};

use crate::error::{Error, Result};
use crate::geometry::StampedPose;
use crate::io::text::{check_increasing, data_lines, read_to_string};

/// Parses TUM trajectory text. `path` is used in error messages only.
///
/// Quaternions must be finite with a norm within 1 % of 1 (they are then
/// normalised); timestamps must increase strictly.
pub fn parse_tum_trajectory(text: &str, path: &Path) -> Result<Vec<StampedPose>> {
    let mut poses: Vec<StampedPose> = Vec::new();
    for line in data_lines(text) {
        line.expect_fields(path, 8)?;
        let timestamp = line.timestamp(path, 0)?;
        let mut v = [0.0; 7];
        for (k, value) in v.iter_mut().enumerate() {
            *value = line.f64(path, k + 1)?;
        }
        let q = Quaternion::new(v[6], v[3], v[4], v[5]);
        let norm = q.norm();
        if (norm - 1.0).abs() > 0.01 {
            return Err(Error::parse(
                path,
                line.line,
                format!("quaternion norm {norm:.4} is not 1"),
            ));
        }
        check_increasing(
            path,
            line.line,
            poses.last().map(|p| p.timestamp),
            timestamp,
        )?;
        let world_from_camera = Isometry3::from_parts(
            Translation3::new(v[0], v[1], v[2]),
            UnitQuaternion::from_quaternion(q),
        );
        poses.push(StampedPose::new(timestamp, world_from_camera));
    }
    Ok(poses)
}

/// Reads a TUM trajectory file (e.g. `groundtruth.txt`).
pub fn read_tum_trajectory(path: impl AsRef<Path>) -> Result<Vec<StampedPose>> {
    let path = path.as_ref();
    parse_tum_trajectory(&read_to_string(path)?, path)
}

/// Formats poses as TUM trajectory text (with a `#` header line).
pub fn format_tum_trajectory(poses: &[StampedPose]) -> String {
    let mut out = String::from("# timestamp tx ty tz qx qy qz qw\n");
    for p in poses {
        let t = p.world_from_camera.translation.vector;
        let q = p.world_from_camera.rotation.quaternion().coords; // (x, y, z, w)
        out.push_str(&format!(
            "{} {:.9} {:.9} {:.9} {:.9} {:.9} {:.9} {:.9}\n",
            p.timestamp, t.x, t.y, t.z, q.x, q.y, q.z, q.w
        ));
    }
    out
}

/// Writes poses to a TUM trajectory file.
pub fn write_tum_trajectory(path: impl AsRef<Path>, poses: &[StampedPose]) -> Result<()> {
    let path = path.as_ref();
    let mut file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    file.write_all(format_tum_trajectory(poses).as_bytes())
        .map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensor::Timestamp;
    use approx::assert_relative_eq;
    use nalgebra::Vector3;

    #[test]
    fn write_read_round_trip() {
        let poses: Vec<_> = (0..5)
            .map(|i| {
                StampedPose::new(
                    Timestamp(1_305_031_229_528_748_000 + i * 33_000_000),
                    Isometry3::new(
                        Vector3::new(0.1 * i as f64, -0.2, 1.5),
                        Vector3::new(0.01 * i as f64, 0.3, -0.1),
                    ),
                )
            })
            .collect();
        let text = format_tum_trajectory(&poses);
        let back = parse_tum_trajectory(&text, Path::new("mem")).unwrap();
        assert_eq!(back.len(), poses.len());
        for (a, b) in poses.iter().zip(&back) {
            assert_eq!(a.timestamp, b.timestamp);
            assert_relative_eq!(a.world_from_camera, b.world_from_camera, epsilon = 1e-8);
        }
    }

    #[test]
    fn errors_name_the_line() {
        let path = Path::new("groundtruth.txt");
        let text = "# header\n\n1.0 0 0 0 0 0 0 1\n2.0 0 0 0 0 0 1\n";
        let err = parse_tum_trajectory(text, path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "groundtruth.txt:4: expected 8 fields, found 7"
        );
        let err = parse_tum_trajectory("1.0 0 0 0 0 0 0 1\n0.5 0 0 0 0 0 0 1\n", path).unwrap_err();
        assert!(
            matches!(err, Error::NonMonotonicTimestamp { line: 2, .. }),
            "{err}"
        );
        let err = parse_tum_trajectory("1.0 0 0 x 0 0 0 1\n", path).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("groundtruth.txt:1: invalid number"));
        let err = parse_tum_trajectory("1.0 0 0 0 0 0 0 2\n", path).unwrap_err();
        assert!(err.to_string().contains("quaternion norm"));
        let err = parse_tum_trajectory("1.0 0 0 NaN 0 0 0 1\n", path).unwrap_err();
        assert!(matches!(err, Error::Parse { line: 1, .. }));
    }
}
