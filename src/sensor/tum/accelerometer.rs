//! TUM accelerometer files (`accelerometer.txt`): `timestamp ax ay az` (m/s²).

use std::path::Path;

use nalgebra::Vector3;

use crate::error::Result;
use crate::io::text::{check_increasing, data_lines, read_to_string};
use crate::sensor::ImuSample;

/// Parses TUM accelerometer text into accelerometer-only [`ImuSample`]s.
/// `path` is used in error messages only.
///
/// Errors: [`crate::Error::Parse`] for a line without exactly four fields, an
/// invalid timestamp or a non-finite number;
/// [`crate::Error::NonMonotonicTimestamp`] for a timestamp not strictly after
/// the previous one. An empty file gives no samples.
pub fn parse_accelerometer(text: &str, path: &Path) -> Result<Vec<ImuSample>> {
    let mut samples: Vec<ImuSample> = Vec::new();
    for line in data_lines(text) {
        line.expect_fields(path, 4)?;
        let timestamp = line.timestamp(path, 0)?;
        let accel_m_s2 = Vector3::new(line.f64(path, 1)?, line.f64(path, 2)?, line.f64(path, 3)?);
        check_increasing(
            path,
            line.line,
            samples.last().map(|s| s.timestamp),
            timestamp,
        )?;
        samples.push(ImuSample::accel_only(timestamp, accel_m_s2));
    }
    Ok(samples)
}

/// Reads a TUM `accelerometer.txt` file (see [`parse_accelerometer`]).
pub fn read_tum_accelerometer(path: impl AsRef<Path>) -> Result<Vec<ImuSample>> {
    let path = path.as_ref();
    parse_accelerometer(&read_to_string(path)?, path)
}

/// Parses scenemap's `imu.txt` (`timestamp gx gy gz ax ay az`: rad/s and
/// m/s² in the IMU frame), the file the synthetic writer produces next to a
/// TUM layout. Same rules as [`parse_accelerometer`].
pub fn parse_imu_text(text: &str, path: &Path) -> Result<Vec<ImuSample>> {
    let mut samples: Vec<ImuSample> = Vec::new();
    for line in data_lines(text) {
        line.expect_fields(path, 7)?;
        let timestamp = line.timestamp(path, 0)?;
        let mut v = [0.0; 6];
        for (k, value) in v.iter_mut().enumerate() {
            *value = line.f64(path, k + 1)?;
        }
        check_increasing(
            path,
            line.line,
            samples.last().map(|s| s.timestamp),
            timestamp,
        )?;
        samples.push(ImuSample::new(
            timestamp,
            Vector3::new(v[0], v[1], v[2]),
            Vector3::new(v[3], v[4], v[5]),
        ));
    }
    Ok(samples)
}

/// Reads scenemap's `imu.txt` (see [`parse_imu_text`]).
pub fn read_imu_file(path: impl AsRef<Path>) -> Result<Vec<ImuSample>> {
    let path = path.as_ref();
    parse_imu_text(&read_to_string(path)?, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::sensor::Timestamp;

    #[test]
    fn parses_samples() {
        let text = "# accelerometer data\n1305031225.727159 0.682514 7.818977 -5.603800\n\n1305031225.730643 0.778306 7.818977 -5.6038\n";
        let samples = parse_accelerometer(text, Path::new("accelerometer.txt")).unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].timestamp, Timestamp(1_305_031_225_727_159_000));
        assert_eq!(samples[0].gyro_rad_s, None);
        assert_eq!(
            samples[1].accel_m_s2,
            Some(Vector3::new(0.778306, 7.818977, -5.6038))
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let path = Path::new("accelerometer.txt");
        let err = parse_accelerometer("1.0 1 2\n", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "accelerometer.txt:1: expected 4 fields, found 3"
        );
        let err = parse_accelerometer("1.0 1 2 3\n1.5 1 inf 3\n", path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "accelerometer.txt:2: invalid number \"inf\""
        );
        let err = parse_accelerometer("1.0 1 2 3\n1.0 1 2 3\n", path).unwrap_err();
        assert!(matches!(err, Error::NonMonotonicTimestamp { line: 2, .. }));
    }
}
