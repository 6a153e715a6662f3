//! Pinhole camera with Brown–Conrady lens distortion.
//!
//! Model (OpenCV convention, coefficients `k1 k2 p1 p2 k3`): a point
//! `(X, Y, Z)` in the camera frame (x right, y down, z forward) maps to
//! normalised coordinates `x = X/Z, y = Y/Z`, is distorted
//!
//! ```text
//! r² = x² + y²,  radial = 1 + k1 r² + k2 r⁴ + k3 r⁶
//! x_d = x·radial + 2 p1 x y + p2 (r² + 2x²)
//! y_d = y·radial + p1 (r² + 2y²) + 2 p2 x y
//! ```
//!
//! and lands on pixel `u = fx x_d + cx, v = fy y_d + cy`.

use nalgebra::{Matrix2, Point2, Point3, Vector2};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Brown–Conrady distortion coefficients (OpenCV order `k1 k2 p1 p2 k3`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrownConrady {
    /// Radial r².
    pub k1: f64,
    /// Radial r⁴.
    pub k2: f64,
    /// Tangential 1.
    pub p1: f64,
    /// Tangential 2.
    pub p2: f64,
    /// Radial r⁶.
    pub k3: f64,
}

impl BrownConrady {
    /// No distortion.
    pub const NONE: BrownConrady = BrownConrady {
        k1: 0.0,
        k2: 0.0,
        p1: 0.0,
        p2: 0.0,
        k3: 0.0,
    };

    /// Whether all coefficients are zero.
    pub fn is_identity(&self) -> bool {
        *self == Self::NONE
    }

    /// Distorts normalised image coordinates.
    pub fn distort(&self, xy: Vector2<f64>) -> Vector2<f64> {
        let (x, y) = (xy.x, xy.y);
        let r2 = x * x + y * y;
        let radial = 1.0 + r2 * (self.k1 + r2 * (self.k2 + r2 * self.k3));
        Vector2::new(
            x * radial + 2.0 * self.p1 * x * y + self.p2 * (r2 + 2.0 * x * x),
            y * radial + self.p1 * (r2 + 2.0 * y * y) + 2.0 * self.p2 * x * y,
        )
    }

    /// Jacobian of [`Self::distort`] with respect to `(x, y)`.
    pub fn distort_jacobian(&self, xy: Vector2<f64>) -> Matrix2<f64> {
        let (x, y) = (xy.x, xy.y);
        let r2 = x * x + y * y;
        let radial = 1.0 + r2 * (self.k1 + r2 * (self.k2 + r2 * self.k3));
        // d(radial)/d(r²)
        let d_radial = self.k1 + r2 * (2.0 * self.k2 + 3.0 * r2 * self.k3);
        let dxd_dx = radial + 2.0 * x * x * d_radial + 2.0 * self.p1 * y + 6.0 * self.p2 * x;
        let dxd_dy = 2.0 * x * y * d_radial + 2.0 * self.p1 * x + 2.0 * self.p2 * y;
        let dyd_dx = 2.0 * x * y * d_radial + 2.0 * self.p1 * x + 2.0 * self.p2 * y;
        let dyd_dy = radial + 2.0 * y * y * d_radial + 6.0 * self.p1 * y + 2.0 * self.p2 * x;
        Matrix2::new(dxd_dx, dxd_dy, dyd_dx, dyd_dy)
    }

    /// Inverts [`Self::distort`] by Gauss–Newton iteration (converges to
    /// machine precision within the field of view of real lenses). Returns
    /// `None` if the iteration does not converge (far outside the lens' valid
    /// range).
    pub fn undistort(&self, xy_distorted: Vector2<f64>) -> Option<Vector2<f64>> {
        if self.is_identity() {
            return Some(xy_distorted);
        }
        let mut xy = xy_distorted;
        for _ in 0..50 {
            let residual = self.distort(xy) - xy_distorted;
            if residual.norm_squared() < 1e-26 {
                return Some(xy);
            }
            let step = self.distort_jacobian(xy).try_inverse()? * residual;
            xy -= step;
            if !xy.x.is_finite() || !xy.y.is_finite() {
                return None;
            }
        }
        ((self.distort(xy) - xy_distorted).norm() < 1e-9).then_some(xy)
    }
}

/// A pinhole camera with image size, intrinsics and lens distortion.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinholeCamera {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Focal length x, pixels.
    pub fx: f64,
    /// Focal length y, pixels.
    pub fy: f64,
    /// Principal point x, pixels.
    pub cx: f64,
    /// Principal point y, pixels.
    pub cy: f64,
    /// Lens distortion (none if omitted).
    #[serde(default)]
    pub distortion: BrownConrady,
}

impl PinholeCamera {
    /// A camera without distortion. Fails on non-positive focal lengths or an
    /// empty image.
    pub fn new(width: u32, height: u32, fx: f64, fy: f64, cx: f64, cy: f64) -> Result<Self> {
        let camera = Self {
            width,
            height,
            fx,
            fy,
            cx,
            cy,
            distortion: BrownConrady::NONE,
        };
        camera.validate()?;
        Ok(camera)
    }

    /// Returns the camera with the given distortion.
    pub fn with_distortion(mut self, distortion: BrownConrady) -> Self {
        self.distortion = distortion;
        self
    }

    /// Checks the parameters are usable.
    pub fn validate(&self) -> Result<()> {
        let finite = [self.fx, self.fy, self.cx, self.cy]
            .iter()
            .all(|v| v.is_finite());
        if self.width == 0 || self.height == 0 || !finite || self.fx <= 0.0 || self.fy <= 0.0 {
            return Err(Error::Config(format!(
                "camera {}x{} fx={} fy={} cx={} cy={} is not a valid pinhole camera",
                self.width, self.height, self.fx, self.fy, self.cx, self.cy
            )));
        }
        // The image decoders refuse larger images; a camera this size would
        // only make the pipeline allocate per-pixel tables it never fills.
        let max = crate::sensor::image_io::MAX_IMAGE_SIDE;
        if self.width > max || self.height > max {
            return Err(Error::Config(format!(
                "camera {}x{} is larger than {max} pixels per side",
                self.width, self.height
            )));
        }
        let d = &self.distortion;
        if ![d.k1, d.k2, d.p1, d.p2, d.k3].iter().all(|v| v.is_finite()) {
            return Err(Error::Config(format!(
                "camera distortion {d:?} is not finite"
            )));
        }
        Ok(())
    }

    /// TUM RGB-D Freiburg 1 Kinect (colour camera, from the dataset docs).
    pub fn tum_freiburg1() -> Self {
        Self {
            width: 640,
            height: 480,
            fx: 517.3,
            fy: 516.5,
            cx: 318.6,
            cy: 255.3,
            distortion: BrownConrady {
                k1: 0.2624,
                k2: -0.9531,
                p1: -0.0054,
                p2: 0.0026,
                k3: 1.1633,
            },
        }
    }

    /// TUM RGB-D Freiburg 2 Kinect (colour camera, from the dataset docs).
    pub fn tum_freiburg2() -> Self {
        Self {
            width: 640,
            height: 480,
            fx: 520.9,
            fy: 521.0,
            cx: 325.1,
            cy: 249.7,
            distortion: BrownConrady {
                k1: 0.2312,
                k2: -0.7849,
                p1: -0.0033,
                p2: -0.0001,
                k3: 0.9172,
            },
        }
    }

    /// TUM RGB-D Freiburg 3 Asus Xtion (factory-undistorted images).
    pub fn tum_freiburg3() -> Self {
        Self {
            width: 640,
            height: 480,
            fx: 535.4,
            fy: 539.2,
            cx: 320.1,
            cy: 247.6,
            distortion: BrownConrady::NONE,
        }
    }

    /// The ROS default Kinect intrinsics TUM recommends for pre-registered
    /// depth (fx = fy = 525, no distortion).
    pub fn tum_ros_default() -> Self {
        Self {
            width: 640,
            height: 480,
            fx: 525.0,
            fy: 525.0,
            cx: 319.5,
            cy: 239.5,
            distortion: BrownConrady::NONE,
        }
    }

    /// The same camera without distortion (for images already undistorted).
    pub fn undistorted(&self) -> Self {
        Self {
            distortion: BrownConrady::NONE,
            ..*self
        }
    }

    /// Returns this camera for an image downscaled by `2^level` (pyramids):
    /// pixel centres stay consistent (`c' = (c + 0.5) / s - 0.5`).
    pub fn scaled_to_level(&self, level: u32) -> Self {
        let s = f64::from(1_u32 << level);
        Self {
            width: (self.width >> level).max(1),
            height: (self.height >> level).max(1),
            fx: self.fx / s,
            fy: self.fy / s,
            cx: (self.cx + 0.5) / s - 0.5,
            cy: (self.cy + 0.5) / s - 0.5,
            distortion: self.distortion,
        }
    }

    /// Normalised coordinates to pixel, applying distortion.
    pub fn normalized_to_pixel(&self, xy: Vector2<f64>) -> Point2<f64> {
        let d = self.distortion.distort(xy);
        Point2::new(self.fx * d.x + self.cx, self.fy * d.y + self.cy)
    }

    /// Pixel to undistorted normalised coordinates. `None` if undistortion
    /// fails to converge.
    pub fn pixel_to_normalized(&self, pixel: Point2<f64>) -> Option<Vector2<f64>> {
        let xy_d = Vector2::new((pixel.x - self.cx) / self.fx, (pixel.y - self.cy) / self.fy);
        self.distortion.undistort(xy_d)
    }

    /// Projects a point in the camera frame to a pixel (with distortion).
    /// `None` for points at or behind the camera (z ≤ 0).
    pub fn project(&self, camera_from_point: &Point3<f64>) -> Option<Point2<f64>> {
        if camera_from_point.z <= 0.0 || !camera_from_point.z.is_finite() {
            return None;
        }
        let xy = Vector2::new(
            camera_from_point.x / camera_from_point.z,
            camera_from_point.y / camera_from_point.z,
        );
        Some(self.normalized_to_pixel(xy))
    }

    /// Back-projects a pixel with depth `z` (metres along the optical axis)
    /// into the camera frame.
    pub fn unproject(&self, pixel: Point2<f64>, depth_m: f64) -> Option<Point3<f64>> {
        let xy = self.pixel_to_normalized(pixel)?;
        Some(Point3::new(xy.x * depth_m, xy.y * depth_m, depth_m))
    }

    /// Whether a pixel position lies inside the image (pixel centres at
    /// integer coordinates, valid range `[-0.5, w - 0.5)`).
    pub fn contains(&self, pixel: &Point2<f64>) -> bool {
        pixel.x >= -0.5
            && pixel.y >= -0.5
            && pixel.x < f64::from(self.width) - 0.5
            && pixel.y < f64::from(self.height) - 0.5
    }

    /// Precomputes undistorted normalised rays `(x, y)` for every pixel
    /// centre, row-major. Used to back-project whole depth images without
    /// iterating undistortion per pixel per frame. Pixels whose undistortion
    /// does not converge get `NaN`.
    pub fn ray_table(&self) -> Vec<[f32; 2]> {
        let mut table = Vec::with_capacity(self.width as usize * self.height as usize);
        for v in 0..self.height {
            for u in 0..self.width {
                let xy = self
                    .pixel_to_normalized(Point2::new(f64::from(u), f64::from(v)))
                    .map_or([f32::NAN; 2], |xy| [xy.x as f32, xy.y as f32]);
                table.push(xy);
            }
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn distortion_round_trip_freiburg_presets() {
        for camera in [
            PinholeCamera::tum_freiburg1(),
            PinholeCamera::tum_freiburg2(),
        ] {
            let mut worst: f64 = 0.0;
            for v in (0..camera.height).step_by(8) {
                for u in (0..camera.width).step_by(8) {
                    let pixel = Point2::new(f64::from(u), f64::from(v));
                    let xy = camera
                        .pixel_to_normalized(pixel)
                        .expect("undistort converges");
                    let back = camera.normalized_to_pixel(xy);
                    worst = worst.max((back - pixel).norm());
                }
            }
            assert!(worst < 1e-6, "distort∘undistort error {worst} px");
        }
    }

    #[test]
    fn distortion_jacobian_matches_finite_differences() {
        let d = PinholeCamera::tum_freiburg1().distortion;
        let h = 1e-7;
        for xy in [
            Vector2::new(0.1, -0.2),
            Vector2::new(-0.5, 0.4),
            Vector2::new(0.0, 0.0),
        ] {
            let j = d.distort_jacobian(xy);
            for k in 0..2 {
                let mut e = Vector2::zeros();
                e[k] = h;
                let fd = (d.distort(xy + e) - d.distort(xy - e)) / (2.0 * h);
                assert_relative_eq!(j.column(k).into_owned(), fd, epsilon = 1e-6);
            }
        }
    }

    #[test]
    fn project_unproject_round_trip() {
        let camera = PinholeCamera::tum_freiburg1();
        let p = Point3::new(0.3, -0.2, 1.7);
        let pixel = camera.project(&p).unwrap();
        let back = camera.unproject(pixel, p.z).unwrap();
        assert_relative_eq!(back, p, epsilon = 1e-9);
        assert!(camera.project(&Point3::new(0.0, 0.0, -1.0)).is_none());
    }

    #[test]
    fn rejects_bad_intrinsics() {
        assert!(PinholeCamera::new(640, 480, 0.0, 500.0, 320.0, 240.0).is_err());
        assert!(PinholeCamera::new(0, 480, 500.0, 500.0, 320.0, 240.0).is_err());
        assert!(PinholeCamera::new(640, 480, f64::NAN, 500.0, 320.0, 240.0).is_err());
    }

    #[test]
    fn pyramid_scaling_keeps_pixel_centres() {
        let camera = PinholeCamera::tum_ros_default();
        let half = camera.scaled_to_level(1);
        assert_eq!((half.width, half.height), (320, 240));
        // Pixel (1,1) at level 0 and (0.25, 0.25) at level 1 see the same ray.
        let p = Point3::new(0.1, 0.2, 1.0);
        let a = camera.project(&p).unwrap();
        let b = half.project(&p).unwrap();
        assert_relative_eq!((a.x + 0.5) / 2.0 - 0.5, b.x, epsilon = 1e-12);
    }
}
