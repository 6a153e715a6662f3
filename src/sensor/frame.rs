//! RGB-D frames and IMU samples: the measurements every stage consumes.

use nalgebra::Vector3;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sensor::Timestamp;

/// One registered colour + depth image pair.
///
/// Pixels are row-major; `depth_m[v * width + u]` is the depth in metres of
/// pixel `(u, v)` along the optical axis (z), with `0.0` meaning "no
/// measurement". Colour and depth are pixel-aligned (registered).
#[derive(Clone, Debug, PartialEq)]
pub struct RgbdFrame {
    /// Acquisition time (of the colour image for TUM data).
    pub timestamp: Timestamp,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// RGB8 colour, `width * height` entries.
    pub color: Vec<[u8; 3]>,
    /// Depth in metres, `width * height` entries, `0.0` = invalid.
    pub depth_m: Vec<f32>,
}

impl RgbdFrame {
    /// Builds a frame, checking that both images have `width * height` pixels.
    pub fn new(
        timestamp: Timestamp,
        width: u32,
        height: u32,
        color: Vec<[u8; 3]>,
        depth_m: Vec<f32>,
    ) -> Result<Self> {
        let n = width as usize * height as usize;
        if width == 0 || height == 0 {
            return Err(Error::InvalidFrame {
                frame: timestamp,
                message: format!("empty image ({width}x{height})"),
            });
        }
        if color.len() != n || depth_m.len() != n {
            return Err(Error::InvalidFrame {
                frame: timestamp,
                message: format!(
                    "colour has {} pixels and depth {} pixels, expected {n} ({width}x{height})",
                    color.len(),
                    depth_m.len()
                ),
            });
        }
        Ok(Self {
            timestamp,
            width,
            height,
            color,
            depth_m,
        })
    }

    /// Number of pixels.
    pub fn pixel_count(&self) -> usize {
        self.depth_m.len()
    }

    /// Depth at `(u, v)` in metres (`0.0` = invalid). `None` outside the image.
    pub fn depth_at(&self, u: u32, v: u32) -> Option<f32> {
        // `get`: the fields are public, so the buffer may be shorter than
        // `width * height`; such a pixel reads as absent, never a panic.
        (u < self.width && v < self.height)
            .then(|| self.depth_m.get(pixel_index(u, v, self.width)).copied())
            .flatten()
    }

    /// Colour at `(u, v)`. `None` outside the image.
    pub fn color_at(&self, u: u32, v: u32) -> Option<[u8; 3]> {
        (u < self.width && v < self.height)
            .then(|| self.color.get(pixel_index(u, v, self.width)).copied())
            .flatten()
    }

    /// Whether a depth value is a usable measurement (finite, positive).
    #[inline]
    pub fn is_valid_depth(depth_m: f32) -> bool {
        depth_m.is_finite() && depth_m > 0.0
    }

    /// Number of pixels with a usable depth measurement.
    pub fn valid_depth_count(&self) -> usize {
        self.depth_m
            .iter()
            .filter(|&&d| Self::is_valid_depth(d))
            .count()
    }

    /// Intensity image (ITU-R BT.601 luma, 0..1) as `f32`, row-major.
    pub fn intensity(&self) -> Vec<f32> {
        self.color
            .iter()
            .map(|c| {
                (0.299 * f32::from(c[0]) + 0.587 * f32::from(c[1]) + 0.114 * f32::from(c[2]))
                    / 255.0
            })
            .collect()
    }
}

/// Row-major index of pixel `(u, v)`, in `usize` (no `u32` overflow).
#[inline]
fn pixel_index(u: u32, v: u32, width: u32) -> usize {
    v as usize * width as usize + u as usize
}

/// One IMU measurement. Either part may be absent (TUM fr1 ships only an
/// accelerometer).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImuSample {
    /// Measurement time.
    pub timestamp: Timestamp,
    /// Angular velocity in the IMU frame, rad/s.
    pub gyro_rad_s: Option<Vector3<f64>>,
    /// Specific force (acceleration minus gravity) in the IMU frame, m/s².
    pub accel_m_s2: Option<Vector3<f64>>,
}

impl ImuSample {
    /// A sample with both gyroscope and accelerometer.
    pub fn new(timestamp: Timestamp, gyro_rad_s: Vector3<f64>, accel_m_s2: Vector3<f64>) -> Self {
        Self {
            timestamp,
            gyro_rad_s: Some(gyro_rad_s),
            accel_m_s2: Some(accel_m_s2),
        }
    }

    /// An accelerometer-only sample.
    pub fn accel_only(timestamp: Timestamp, accel_m_s2: Vector3<f64>) -> Self {
        Self {
            timestamp,
            gyro_rad_s: None,
            accel_m_s2: Some(accel_m_s2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_size_mismatch() {
        let err = RgbdFrame::new(Timestamp(7), 4, 2, vec![[0; 3]; 8], vec![0.0; 7]).unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidFrame {
                frame: Timestamp(7),
                ..
            }
        ));
        assert!(RgbdFrame::new(Timestamp(0), 0, 2, vec![], vec![]).is_err());
    }

    #[test]
    fn accessors_and_validity() {
        let mut depth = vec![0.0_f32; 6];
        depth[4] = 1.5;
        depth[5] = f32::NAN;
        let frame = RgbdFrame::new(Timestamp(0), 3, 2, vec![[255, 255, 255]; 6], depth).unwrap();
        assert_eq!(frame.depth_at(1, 1), Some(1.5));
        assert_eq!(frame.depth_at(3, 0), None);
        assert_eq!(frame.valid_depth_count(), 1);
        assert!((frame.intensity()[0] - 1.0).abs() < 1e-6);
    }
}
