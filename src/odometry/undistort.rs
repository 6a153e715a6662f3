//! Undistortion of registered RGB-D images to an ideal pinhole camera.
//!
//! Freiburg 1 images carry Brown–Conrady distortion. Rather than undistorting
//! per pixel inside the tracker, each frame is remapped once to the
//! same-size pinhole camera *without* distortion (same `fx fy cx cy`): for
//! every output pixel `(u, v)` the table holds the source position
//! `π_d(((u − cx)/fx, (v − cy)/fy))`, computed once from
//! [`crate::geometry::BrownConrady::distort`]. Colour/intensity is sampled
//! bilinearly; depth is sampled with **nearest neighbour** so that it is
//! never interpolated across a depth edge (an interpolated depth between a
//! foreground and a background surface would be a point on neither). Depth
//! values are unchanged by the remap (z of a 3-D point does not depend on
//! the image model). Output pixels whose source falls outside the image are
//! invalid (intensity NaN, colour 0, depth 0).

use rayon::prelude::*;

use super::buffer_pool::BufferPool;
use crate::error::{Error, Result};
use crate::geometry::PinholeCamera;
use crate::sensor::RgbdFrame;

/// Marks an output pixel whose source lies outside the input image.
const OUTSIDE: u32 = u32::MAX;

/// A precomputed remap from a distorted camera to its undistorted pinhole
/// twin. Build once per camera, apply to every frame.
#[derive(Clone, Debug)]
pub struct Undistorter {
    input_camera: PinholeCamera,
    output_camera: PinholeCamera,
    /// Per output pixel: index of the top-left source pixel of the bilinear
    /// footprint ([`OUTSIDE`] if none) and its fractional offsets.
    bilinear: Vec<(u32, [f32; 2])>,
    /// Per output pixel: nearest source pixel ([`OUTSIDE`] if none).
    nearest: Vec<u32>,
}

impl Undistorter {
    /// Precomputes the remap for `camera` (which may have no distortion, in
    /// which case the remap is the identity).
    pub fn new(camera: &PinholeCamera) -> Result<Self> {
        camera.validate()?;
        let output_camera = camera.undistorted();
        let (w, h) = (camera.width as usize, camera.height as usize);
        let mut bilinear = Vec::with_capacity(w * h);
        let mut nearest = Vec::with_capacity(w * h);
        for v in 0..h {
            for u in 0..w {
                let xy = nalgebra::Vector2::new(
                    (u as f64 - output_camera.cx) / output_camera.fx,
                    (v as f64 - output_camera.cy) / output_camera.fy,
                );
                let source = camera.normalized_to_pixel(xy);
                let (su, sv) = (source.x, source.y);
                let inside = su.is_finite()
                    && sv.is_finite()
                    && su >= 0.0
                    && sv >= 0.0
                    && su <= (w - 1) as f64
                    && sv <= (h - 1) as f64;
                if !inside {
                    bilinear.push((OUTSIDE, [0.0; 2]));
                    nearest.push(OUTSIDE);
                    continue;
                }
                // Top-left corner, clamped so the 2×2 footprint stays inside.
                let u0 = (su.floor() as usize).min(w.saturating_sub(2));
                let v0 = (sv.floor() as usize).min(h.saturating_sub(2));
                bilinear.push((
                    (v0 * w + u0) as u32,
                    [(su - u0 as f64) as f32, (sv - v0 as f64) as f32],
                ));
                let un = (su.round() as usize).min(w - 1);
                let vn = (sv.round() as usize).min(h - 1);
                nearest.push((vn * w + un) as u32);
            }
        }
        Ok(Self {
            input_camera: *camera,
            output_camera,
            bilinear,
            nearest,
        })
    }

    /// The distorted input camera.
    pub fn input_camera(&self) -> &PinholeCamera {
        &self.input_camera
    }

    /// The undistorted pinhole camera of the output images.
    pub fn output_camera(&self) -> &PinholeCamera {
        &self.output_camera
    }

    fn check_len(&self, len: usize, what: &str) -> Result<()> {
        if len != self.nearest.len() {
            return Err(Error::InvalidArgument(format!(
                "undistort {what}: image has {len} pixels, camera {}x{} needs {}",
                self.input_camera.width,
                self.input_camera.height,
                self.nearest.len()
            )));
        }
        Ok(())
    }

    /// Remaps a single-channel image bilinearly (intensity, colour channel).
    /// Output pixels whose source is outside the input are `NaN`, so that
    /// everything derived from them (gradients, coarser levels, residuals)
    /// is recognisably invalid.
    pub fn undistort_bilinear(&self, image: &[f32]) -> Result<Vec<f32>> {
        self.check_len(image.len(), "image")?;
        let mut out = Vec::new();
        self.bilinear_into(image, &mut out);
        Ok(out)
    }

    /// [`Self::undistort_bilinear`] into `out` (length checked by the caller).
    fn bilinear_into(&self, image: &[f32], out: &mut Vec<f32>) {
        let w = self.input_camera.width as usize;
        self.bilinear
            .par_iter()
            .with_min_len(4096)
            .map(|&(i, [a, b])| {
                if i == OUTSIDE {
                    return f32::NAN;
                }
                let i = i as usize;
                let top = image[i] + a * (image[i + 1] - image[i]);
                let bottom = image[i + w] + a * (image[i + w + 1] - image[i + w]);
                top + b * (bottom - top)
            })
            .collect_into_vec(out);
    }

    /// Remaps a depth image with nearest-neighbour sampling (never blends
    /// depths). Invalid depths stay invalid (`0`).
    pub fn undistort_depth(&self, depth_m: &[f32]) -> Result<Vec<f32>> {
        self.check_len(depth_m.len(), "depth")?;
        let mut out = Vec::new();
        self.depth_into(depth_m, &mut out);
        Ok(out)
    }

    /// [`Self::undistort_depth`] into `out` (length checked by the caller).
    fn depth_into(&self, depth_m: &[f32], out: &mut Vec<f32>) {
        self.nearest
            .par_iter()
            .with_min_len(4096)
            .map(|&i| {
                if i == OUTSIDE {
                    return 0.0;
                }
                let d = depth_m[i as usize];
                if RgbdFrame::is_valid_depth(d) {
                    d
                } else {
                    0.0
                }
            })
            .collect_into_vec(out);
    }

    /// Undistorts a whole frame: colour bilinear per channel, depth nearest.
    /// The result is pixel-aligned with [`Self::output_camera`].
    pub fn undistort_frame(&self, frame: &RgbdFrame) -> Result<RgbdFrame> {
        if frame.width != self.input_camera.width || frame.height != self.input_camera.height {
            return Err(Error::InvalidFrame {
                frame: frame.timestamp,
                message: format!(
                    "frame is {}x{}, undistorter camera is {}x{}",
                    frame.width, frame.height, self.input_camera.width, self.input_camera.height
                ),
            });
        }
        let w = self.input_camera.width as usize;
        let color = self
            .bilinear
            .iter()
            .map(|&(i, [a, b])| {
                if i == OUTSIDE {
                    return [0; 3];
                }
                let i = i as usize;
                let mut out = [0u8; 3];
                for (c, o) in out.iter_mut().enumerate() {
                    let p = |k: usize| f32::from(frame.color[k][c]);
                    let top = p(i) + a * (p(i + 1) - p(i));
                    let bottom = p(i + w) + a * (p(i + w + 1) - p(i + w));
                    *o = (top + b * (bottom - top)).round().clamp(0.0, 255.0) as u8;
                }
                out
            })
            .collect();
        let depth_m = self.undistort_depth(&frame.depth_m)?;
        RgbdFrame::new(frame.timestamp, frame.width, frame.height, color, depth_m)
    }

    /// Undistorted intensity (BT.601 luma in 0..1, bilinear) and depth
    /// (nearest) of a frame — what the tracker consumes. Luma is linear in
    /// RGB, so undistorting luma equals the luma of the undistorted colour.
    pub fn undistort_intensity_depth(&self, frame: &RgbdFrame) -> Result<(Vec<f32>, Vec<f32>)> {
        self.undistort_intensity_depth_pooled(frame, &mut BufferPool::new())
    }

    /// [`Self::undistort_intensity_depth`] drawing the images (and the
    /// distorted luma, given back) from `pool`.
    pub(crate) fn undistort_intensity_depth_pooled(
        &self,
        frame: &RgbdFrame,
        pool: &mut BufferPool,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        if frame.width != self.input_camera.width || frame.height != self.input_camera.height {
            return Err(Error::InvalidFrame {
                frame: frame.timestamp,
                message: format!(
                    "frame is {}x{}, undistorter camera is {}x{}",
                    frame.width, frame.height, self.input_camera.width, self.input_camera.height
                ),
            });
        }
        let n = frame.color.len();
        // Same BT.601 luma as `RgbdFrame::intensity`, in parallel.
        let mut intensity = pool.scalars(n);
        frame
            .color
            .par_iter()
            .with_min_len(4096)
            .map(|c| {
                (0.299 * f32::from(c[0]) + 0.587 * f32::from(c[1]) + 0.114 * f32::from(c[2]))
                    / 255.0
            })
            .collect_into_vec(&mut intensity);
        let mut depth = pool.scalars(frame.depth_m.len());
        if self.input_camera.distortion.is_identity() {
            depth.extend(frame.depth_m.iter().map(|&d| {
                if RgbdFrame::is_valid_depth(d) {
                    d
                } else {
                    0.0
                }
            }));
            return Ok((intensity, depth));
        }
        self.check_len(intensity.len(), "image")?;
        self.check_len(frame.depth_m.len(), "depth")?;
        let mut undistorted = pool.scalars(n);
        self.bilinear_into(&intensity, &mut undistorted);
        pool.give_scalars(intensity);
        self.depth_into(&frame.depth_m, &mut depth);
        Ok((undistorted, depth))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Point3;

    #[test]
    fn undistorted_image_of_a_point_lands_at_the_pinhole_projection() {
        // Render a smooth function of the *ray* into the distorted image; after
        // undistortion each pixel must hold the function of its pinhole ray.
        let camera = PinholeCamera::tum_freiburg1();
        let f = |x: f64, y: f64| (0.5 + 0.25 * (3.0 * x).sin() + 0.25 * (2.0 * y).cos()) as f32;
        let (w, h) = (camera.width as usize, camera.height as usize);
        let mut distorted = vec![0.0f32; w * h];
        for v in 0..h {
            for u in 0..w {
                let xy = camera
                    .pixel_to_normalized(nalgebra::Point2::new(u as f64, v as f64))
                    .unwrap();
                distorted[v * w + u] = f(xy.x, xy.y);
            }
        }
        let undistorter = Undistorter::new(&camera).unwrap();
        let out = undistorter.undistort_bilinear(&distorted).unwrap();
        let pinhole = undistorter.output_camera();
        let mut worst = 0.0f32;
        for v in (20..h - 20).step_by(7) {
            for u in (20..w - 20).step_by(7) {
                let x = (u as f64 - pinhole.cx) / pinhole.fx;
                let y = (v as f64 - pinhole.cy) / pinhole.fy;
                worst = worst.max((out[v * w + u] - f(x, y)).abs());
            }
        }
        assert!(worst < 2e-4, "bilinear remap error {worst}");
    }

    #[test]
    fn depth_is_never_blended_across_an_edge() {
        let camera = PinholeCamera::tum_freiburg1();
        let (w, h) = (camera.width as usize, camera.height as usize);
        // Left half at 1 m, right half at 3 m, a hole in the middle.
        let mut depth = vec![0.0f32; w * h];
        for v in 0..h {
            for u in 0..w {
                depth[v * w + u] = if u < w / 2 { 1.0 } else { 3.0 };
            }
        }
        depth[240 * w + 100] = 0.0;
        // A point at 2.5 m: its depth sits at its distorted pixel and must
        // reappear at its pinhole pixel.
        let p = Point3::new(0.2, -0.1, 2.5);
        let distorted = camera.project(&p).unwrap();
        depth[distorted.y.round() as usize * w + distorted.x.round() as usize] = 2.5;
        let out = Undistorter::new(&camera)
            .unwrap()
            .undistort_depth(&depth)
            .unwrap();
        assert!(out
            .iter()
            .all(|&d| d == 0.0 || d == 1.0 || d == 3.0 || d == 2.5));
        let px = camera.undistorted().project(&p).unwrap();
        assert_eq!(out[px.y.round() as usize * w + px.x.round() as usize], 2.5);
    }

    #[test]
    fn rejects_wrong_sizes() {
        let undistorter = Undistorter::new(&PinholeCamera::tum_freiburg1()).unwrap();
        assert!(undistorter.undistort_depth(&[0.0; 10]).is_err());
    }
}
