//! Image pyramids for dense tracking: intensity, intensity gradients,
//! depth, vertex and normal maps per level.
//!
//! # The reference contract (frame-to-frame and frame-to-model)
//!
//! The tracker aligns a *current* [`RgbdPyramid`] to a *reference*
//! [`RgbdPyramid`]. From the reference it reads, per pixel of each level:
//! the vertex `q` (3-D point in the **reference camera frame**, metres), the
//! unit normal `n` (same frame, pointing towards the camera) and the
//! intensity. From the current pyramid it reads intensity, intensity
//! gradients, vertices and normals. Both must be on the same undistorted
//! pinhole camera (same size and intrinsics).
//!
//! * Frame-to-frame: build the reference from the previous frame with
//!   [`RgbdPyramid::from_depth_intensity`] (the current pyramid of the last
//!   call is the next reference — build each frame once).
//! * Frame-to-model: render the TSDF at the predicted pose
//!   `world_from_reference` (raycast: vertex map, normal map and colour in
//!   that camera) and build the reference with
//!   [`RgbdPyramid::from_model_view`]. The tracker then estimates
//!   `reference_from_current`, and `world_from_current = world_from_reference
//!   · reference_from_current`.
//!
//! Invalid pixels have depth `0`, vertex `[NaN; 3]` and/or normal `[NaN; 3]`.
//!
//! Downsampling: intensity averages 2×2 blocks; depth averages the valid
//! depths of a block only when they agree within
//! [`PyramidConfig::depth_edge_ratio`] and otherwise keeps the nearest
//! (minimum) depth — never averaging across an edge. Vertices at each level
//! are back-projected from that level's depth with the level's camera
//! ([`PinholeCamera::scaled_to_level`], pixel centres consistent), and
//! normals are `(V(u+1) − V(u−1)) × (V(v+1) − V(v−1))` (KinectFusion),
//! skipped across depth discontinuities.

use rayon::prelude::*;

use super::buffer_pool::BufferPool;
use super::config::PyramidConfig;
use super::residuals::is_positive;
use crate::error::{Error, Result};
use crate::geometry::PinholeCamera;

/// Invalid vertex or normal.
pub const INVALID_POINT: [f32; 3] = [f32::NAN; 3];

/// One level of an [`RgbdPyramid`]. All images are row-major,
/// `camera.width × camera.height`.
#[derive(Clone, Debug)]
pub struct PyramidLevel {
    /// Pinhole camera (no distortion) of this level.
    pub camera: PinholeCamera,
    /// Intensity in 0..1.
    pub intensity: Vec<f32>,
    /// `(I, ∂I/∂u, ∂I/∂v, 0)` per pixel, interleaved so the tracker's
    /// bilinear lookup touches one array, and padded to four lanes so it
    /// interpolates all three in one vector operation (gradients are central
    /// differences in this level's pixels, 0 on the outermost pixels).
    pub intensity_gradient: Vec<[f32; 4]>,
    /// Depth along the optical axis, metres; 0 = invalid.
    pub depth_m: Vec<f32>,
    /// Vertex in this camera's frame, metres; NaN = invalid.
    pub vertices: Vec<[f32; 3]>,
    /// Unit normal in this camera's frame, facing the camera; NaN = unknown.
    pub normals: Vec<[f32; 3]>,
}

impl PyramidLevel {
    /// Image width in pixels.
    pub fn width(&self) -> usize {
        self.camera.width as usize
    }

    /// Image height in pixels.
    pub fn height(&self) -> usize {
        self.camera.height as usize
    }

    /// Number of pixels with a valid vertex.
    pub fn valid_vertex_count(&self) -> usize {
        self.vertices.iter().filter(|v| v[2] > 0.0).count()
    }
}

/// A coarse-to-fine pyramid of one RGB-D view; level 0 is full resolution.
/// See the [module docs](self) for the reference contract.
#[derive(Clone, Debug)]
pub struct RgbdPyramid {
    /// Levels, finest first.
    pub levels: Vec<PyramidLevel>,
}

impl RgbdPyramid {
    /// Builds a pyramid from an undistorted intensity image (0..1) and depth
    /// image (metres, 0 = invalid) on the pinhole `camera` (its distortion
    /// must be zero — see [`super::Undistorter`]).
    pub fn from_depth_intensity(
        camera: &PinholeCamera,
        intensity: Vec<f32>,
        depth_m: Vec<f32>,
        config: &PyramidConfig,
    ) -> Result<Self> {
        check_input(camera, intensity.len(), depth_m.len(), config)?;
        let mut pool = BufferPool::new();
        Self::build(camera, *camera, 0, intensity, depth_m, config, &mut pool)
    }

    /// Like [`Self::from_depth_intensity`], but without the finest
    /// `first_level` levels: the returned pyramid's level 0 is level
    /// `first_level` of the full pyramid (bit-identical), and the dropped
    /// levels are only downsampled (no gradients, vertices or normals).
    /// Used by frame-to-model tracking, whose model view starts coarser.
    pub fn from_depth_intensity_from_level(
        camera: &PinholeCamera,
        intensity: Vec<f32>,
        depth_m: Vec<f32>,
        config: &PyramidConfig,
        first_level: usize,
    ) -> Result<Self> {
        let mut pool = BufferPool::new();
        Self::from_depth_intensity_from_level_pooled(
            camera,
            intensity,
            depth_m,
            config,
            first_level,
            &mut pool,
        )
    }

    /// [`Self::from_depth_intensity_from_level`] drawing its buffers from
    /// `pool` and giving the dropped levels' buffers (and the inputs, once
    /// downsampled) back to it. Same result, bit for bit.
    pub(crate) fn from_depth_intensity_from_level_pooled(
        camera: &PinholeCamera,
        intensity: Vec<f32>,
        depth_m: Vec<f32>,
        config: &PyramidConfig,
        first_level: usize,
        pool: &mut BufferPool,
    ) -> Result<Self> {
        check_input(camera, intensity.len(), depth_m.len(), config)?;
        let first_level = first_level.min(config.levels.saturating_sub(1));
        let first_camera = camera.scaled_to_level(first_level as u32);
        Self::build(
            camera,
            first_camera,
            first_level,
            intensity,
            depth_m,
            config,
            pool,
        )
    }

    /// Clamps the depth, downsamples to `first_level` (camera
    /// `first_camera`) and builds the levels from there. Inputs checked.
    fn build(
        camera: &PinholeCamera,
        first_camera: PinholeCamera,
        first_level: usize,
        mut intensity: Vec<f32>,
        mut depth_m: Vec<f32>,
        config: &PyramidConfig,
        pool: &mut BufferPool,
    ) -> Result<Self> {
        depth_m
            .par_iter_mut()
            .with_min_len(4096)
            .for_each(|d| *d = clamp_depth(*d, config));
        let mut width = camera.width as usize;
        for level in 1..=first_level {
            let coarse = level_camera(camera, level)?;
            let (coarse_intensity, coarse_depth_m) =
                downsample(&intensity, &depth_m, width, &coarse, config, pool);
            pool.give_scalars(std::mem::replace(&mut intensity, coarse_intensity));
            pool.give_scalars(std::mem::replace(&mut depth_m, coarse_depth_m));
            width = coarse.width as usize;
        }
        let mut levels = Vec::with_capacity(config.levels - first_level);
        levels.push(make_level(
            first_camera,
            intensity,
            depth_m,
            None,
            config,
            pool,
        ));
        Self::add_coarse_levels(camera, first_level, levels, config, pool)
    }

    /// Builds a reference pyramid from a rendered model view (e.g. a TSDF
    /// raycast at the predicted pose): vertices and normals in the view's
    /// camera frame (NaN or z ≤ 0 = invalid) and the rendered intensity.
    /// Level 0 keeps the given normals; coarser levels derive depth from the
    /// vertex z and recompute normals.
    pub fn from_model_view(
        camera: &PinholeCamera,
        vertices: &[[f32; 3]],
        normals: &[[f32; 3]],
        intensity: Vec<f32>,
        config: &PyramidConfig,
    ) -> Result<Self> {
        let mut pool = BufferPool::new();
        Self::from_model_view_pooled(camera, vertices, normals, intensity, config, &mut pool)
    }

    /// [`Self::from_model_view`] drawing its buffers from `pool`. Same
    /// result, bit for bit.
    pub(crate) fn from_model_view_pooled(
        camera: &PinholeCamera,
        vertices: &[[f32; 3]],
        normals: &[[f32; 3]],
        intensity: Vec<f32>,
        config: &PyramidConfig,
        pool: &mut BufferPool,
    ) -> Result<Self> {
        check_input(camera, intensity.len(), vertices.len(), config)?;
        if normals.len() != vertices.len() {
            return Err(Error::InvalidArgument(format!(
                "model view has {} vertices but {} normals",
                vertices.len(),
                normals.len()
            )));
        }
        let mut depth_m = pool.scalars(vertices.len());
        depth_m.extend(vertices.iter().map(|v| clamp_depth(v[2], config)));
        let given = (vertices, normals);
        let mut levels = Vec::with_capacity(config.levels);
        levels.push(make_level(
            *camera,
            intensity,
            depth_m,
            Some(given),
            config,
            pool,
        ));
        Self::add_coarse_levels(camera, 0, levels, config, pool)
    }

    /// Appends levels `first_level + levels.len()..config.levels`, each
    /// downsampled from the last one.
    fn add_coarse_levels(
        camera: &PinholeCamera,
        first_level: usize,
        mut levels: Vec<PyramidLevel>,
        config: &PyramidConfig,
        pool: &mut BufferPool,
    ) -> Result<Self> {
        for level in first_level + levels.len()..config.levels {
            let Some(finer) = levels.last() else {
                break;
            };
            let coarse_camera = level_camera(camera, level)?;
            let (intensity, depth_m) = downsample(
                &finer.intensity,
                &finer.depth_m,
                finer.width(),
                &coarse_camera,
                config,
                pool,
            );
            levels.push(make_level(
                coarse_camera,
                intensity,
                depth_m,
                None,
                config,
                pool,
            ));
        }
        Ok(Self { levels })
    }

    /// Number of levels.
    pub fn level_count(&self) -> usize {
        self.levels.len()
    }

    /// Whether `other` has the same levels and cameras (required to track).
    pub fn is_compatible(&self, other: &RgbdPyramid) -> bool {
        self.levels.len() == other.levels.len()
            && self
                .levels
                .iter()
                .zip(&other.levels)
                .all(|(a, b)| a.camera == b.camera)
    }
}

fn check_input(
    camera: &PinholeCamera,
    intensity_len: usize,
    depth_len: usize,
    config: &PyramidConfig,
) -> Result<()> {
    camera.validate()?;
    config.validate()?;
    if !camera.distortion.is_identity() {
        return Err(Error::InvalidArgument(
            "pyramid camera must be undistorted pinhole (undistort the images first)".into(),
        ));
    }
    let n = camera.width as usize * camera.height as usize;
    if intensity_len != n || depth_len != n {
        return Err(Error::InvalidArgument(format!(
            "pyramid input has {intensity_len} intensity and {depth_len} depth pixels, camera {}x{} needs {n}",
            camera.width, camera.height
        )));
    }
    Ok(())
}

#[inline]
fn clamp_depth(d: f32, config: &PyramidConfig) -> f32 {
    if d.is_finite() && d >= config.min_depth_m && d <= config.max_depth_m {
        d
    } else {
        0.0
    }
}

/// The camera of pyramid level `level` (≥ 4×4 pixels, else an error).
fn level_camera(camera: &PinholeCamera, level: usize) -> Result<PinholeCamera> {
    let coarse_camera = camera.scaled_to_level(level as u32);
    if coarse_camera.width < 4 || coarse_camera.height < 4 {
        return Err(Error::Config(format!(
            "pyramid level {level} of a {}x{} image is smaller than 4x4",
            camera.width, camera.height
        )));
    }
    Ok(coarse_camera)
}

/// 2×2 downsampling of intensity (mean) and depth (edge-aware, see module
/// docs) of a `fw` pixels wide level. Odd trailing rows/columns are dropped.
fn downsample(
    finer_intensity: &[f32],
    finer_depth_m: &[f32],
    fw: usize,
    coarse: &PinholeCamera,
    config: &PyramidConfig,
    pool: &mut BufferPool,
) -> (Vec<f32>, Vec<f32>) {
    let (cw, ch) = (coarse.width as usize, coarse.height as usize);
    let mut intensity = pool.scalars(cw * ch);
    intensity.resize(cw * ch, 0.0);
    let mut depth = pool.scalars(cw * ch);
    depth.resize(cw * ch, 0.0);
    intensity
        .par_chunks_mut(cw)
        .zip(depth.par_chunks_mut(cw))
        .enumerate()
        .for_each(|(v, (irow, drow))| {
            for u in 0..cw {
                let i00 = 2 * v * fw + 2 * u;
                let idx = [i00, i00 + 1, i00 + fw, i00 + fw + 1];
                irow[u] = 0.25 * idx.iter().map(|&i| finer_intensity[i]).sum::<f32>();
                let (mut lo, mut hi, mut sum, mut n) = (f32::INFINITY, 0.0f32, 0.0f32, 0u32);
                for &i in &idx {
                    let d = finer_depth_m[i];
                    if d > 0.0 {
                        lo = lo.min(d);
                        hi = hi.max(d);
                        sum += d;
                        n += 1;
                    }
                }
                drow[u] = if n == 0 {
                    0.0
                } else if hi - lo <= config.depth_edge_ratio * lo {
                    sum / n as f32
                } else {
                    lo
                };
            }
        });
    (intensity, depth)
}

/// Vertices and normals supplied by a model view (level 0 only).
type GivenSurface<'a> = (&'a [[f32; 3]], &'a [[f32; 3]]);

/// Builds one level: gradients, vertices (or the given ones), normals.
fn make_level(
    camera: PinholeCamera,
    intensity: Vec<f32>,
    depth_m: Vec<f32>,
    given: Option<GivenSurface<'_>>,
    config: &PyramidConfig,
    pool: &mut BufferPool,
) -> PyramidLevel {
    let (w, h) = (camera.width as usize, camera.height as usize);
    let (fx, fy) = (camera.fx as f32, camera.fy as f32);
    let (cx, cy) = (camera.cx as f32, camera.cy as f32);

    let mut intensity_gradient = pool.quads(w * h);
    intensity
        .par_iter()
        .with_min_len(4096)
        .map(|&i| [i, 0.0, 0.0, 0.0])
        .collect_into_vec(&mut intensity_gradient);
    intensity_gradient
        .par_chunks_mut(w)
        .enumerate()
        .for_each(|(v, out)| {
            if v == 0 || v + 1 >= h {
                return;
            }
            let row = v * w;
            let last = w.saturating_sub(1);
            for (u, o) in out.iter_mut().enumerate().take(last).skip(1) {
                let i = row + u;
                o[1] = 0.5 * (intensity[i + 1] - intensity[i - 1]);
                o[2] = 0.5 * (intensity[i + w] - intensity[i - w]);
            }
        });

    let mut vertices = pool.points(w * h);
    match given {
        Some((given_vertices, _)) => {
            vertices.extend(given_vertices.iter().zip(&depth_m).map(|(p, &d)| {
                if d > 0.0 {
                    *p
                } else {
                    INVALID_POINT
                }
            }))
        }
        None => depth_m
            .par_iter()
            .enumerate()
            .map(|(i, &d)| {
                if d > 0.0 {
                    let (u, v) = ((i % w) as f32, (i / w) as f32);
                    [(u - cx) / fx * d, (v - cy) / fy * d, d]
                } else {
                    INVALID_POINT
                }
            })
            .collect_into_vec(&mut vertices),
    }

    let mut normals = pool.points(w * h);
    match given {
        Some((_, given_normals)) => {
            normals.extend(given_normals.iter().zip(&vertices).map(|(n, p)| {
                let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
                if p[2] > 0.0 && len.is_finite() && len > 1e-6 {
                    // Orient towards the camera: n · p < 0.
                    let s = if n[0] * p[0] + n[1] * p[1] + n[2] * p[2] > 0.0 {
                        -1.0 / len
                    } else {
                        1.0 / len
                    };
                    [n[0] * s, n[1] * s, n[2] * s]
                } else {
                    INVALID_POINT
                }
            }))
        }
        None => compute_normals(&vertices, w, h, config.normal_edge_ratio, &mut normals),
    }

    PyramidLevel {
        camera,
        intensity,
        intensity_gradient,
        depth_m,
        vertices,
        normals,
    }
}

/// Normals from central differences of the vertex map (KinectFusion eq. 2
/// uses forward differences; central ones are unbiased at the pixel),
/// oriented towards the camera.
/// Writes them into `normals` (resized to `w × h`).
fn compute_normals(
    vertices: &[[f32; 3]],
    w: usize,
    h: usize,
    edge_ratio: f32,
    normals: &mut Vec<[f32; 3]>,
) {
    normals.clear();
    normals.resize(w * h, INVALID_POINT);
    normals.par_chunks_mut(w).enumerate().for_each(|(v, row)| {
        if v == 0 || v + 1 >= h {
            return;
        }
        let last = w.saturating_sub(1);
        for (u, out) in row.iter_mut().enumerate().take(last).skip(1) {
            let i = v * w + u;
            let p = vertices[i];
            if !is_positive(p[2]) {
                continue;
            }
            let (l, r, t, b) = (
                vertices[i - 1],
                vertices[i + 1],
                vertices[i - w],
                vertices[i + w],
            );
            let max_gap = edge_ratio * p[2];
            let ok = [l, r, t, b]
                .iter()
                .all(|q| q[2] > 0.0 && (q[2] - p[2]).abs() <= max_gap);
            if !ok {
                continue;
            }
            let du = [r[0] - l[0], r[1] - l[1], r[2] - l[2]];
            let dv = [b[0] - t[0], b[1] - t[1], b[2] - t[2]];
            let n = [
                du[1] * dv[2] - du[2] * dv[1],
                du[2] * dv[0] - du[0] * dv[2],
                du[0] * dv[1] - du[1] * dv[0],
            ];
            let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            if !is_positive(len) {
                continue;
            }
            let s = if n[0] * p[0] + n[1] * p[1] + n[2] * p[2] > 0.0 {
                -1.0 / len
            } else {
                1.0 / len
            };
            *out = [n[0] * s, n[1] * s, n[2] * s];
        }
    });
}

/// Test oracle: the levels are equal field by field, floats bit for bit.
#[cfg(test)]
pub(crate) fn assert_same_levels(a: &[PyramidLevel], b: &[PyramidLevel]) {
    fn bits<const N: usize>(v: &[[f32; N]]) -> Vec<[u32; N]> {
        v.iter().map(|p| p.map(f32::to_bits)).collect()
    }
    let scalar_bits = |v: &[f32]| -> Vec<u32> { v.iter().map(|x| x.to_bits()).collect() };
    assert_eq!(a.len(), b.len());
    for (a, b) in a.iter().zip(b) {
        assert_eq!(a.camera, b.camera);
        assert_eq!(scalar_bits(&a.intensity), scalar_bits(&b.intensity));
        assert_eq!(scalar_bits(&a.depth_m), scalar_bits(&b.depth_m));
        assert_eq!(bits(&a.intensity_gradient), bits(&b.intensity_gradient));
        assert_eq!(bits(&a.vertices), bits(&b.vertices));
        assert_eq!(bits(&a.normals), bits(&b.normals));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane_pyramid() -> RgbdPyramid {
        // Fronto-parallel plane tilted about y: z = 2 + 0.5 x.
        let camera = PinholeCamera::new(64, 48, 60.0, 60.0, 31.5, 23.5).unwrap();
        let mut depth = vec![0.0f32; 64 * 48];
        let mut intensity = vec![0.0f32; 64 * 48];
        for v in 0..48 {
            for u in 0..64 {
                let x = (u as f64 - camera.cx) / camera.fx;
                // z = 2 + 0.5 X with X = x z → z = 2 / (1 − 0.5 x).
                depth[v * 64 + u] = (2.0 / (1.0 - 0.5 * x)) as f32;
                intensity[v * 64 + u] = u as f32 / 64.0;
            }
        }
        let config = PyramidConfig {
            levels: 3,
            ..PyramidConfig::default()
        };
        RgbdPyramid::from_depth_intensity(&camera, intensity, depth, &config).unwrap()
    }

    #[test]
    fn plane_normals_and_vertices_are_exact_at_every_level() {
        let pyramid = plane_pyramid();
        let expected = nalgebra::Vector3::new(0.5f32, 0.0, -1.0).normalize();
        for level in &pyramid.levels {
            let mut checked = 0;
            for (p, n) in level.vertices.iter().zip(&level.normals) {
                if n[0].is_nan() {
                    continue;
                }
                assert!((p[2] - (2.0 + 0.5 * p[0])).abs() < 0.02 * p[2], "{p:?}");
                let dot = n[0] * expected.x + n[1] * expected.y + n[2] * expected.z;
                assert!(dot > 0.999, "normal {n:?}");
                checked += 1;
            }
            assert!(checked > 0);
        }
        // Intensity gradient of u/64 is 1/64 per pixel at level 0, 2/64 at 1.
        let l1 = &pyramid.levels[1];
        assert!((l1.intensity_gradient[10 * l1.width() + 10][1] - 2.0 / 64.0).abs() < 1e-6);
    }

    /// Oracle: skipping the finest levels equals dropping them afterwards.
    #[test]
    fn pyramid_from_level_equals_the_full_pyramid_without_its_finest_levels() {
        let full = plane_pyramid();
        let camera = full.levels[0].camera;
        let n = camera.width as usize * camera.height as usize;
        let (mut depth, mut intensity) = (vec![0.0f32; n], vec![0.0f32; n]);
        for i in 0..n {
            let (u, v) = ((i % 64) as f32, (i / 64) as f32);
            let x = (f64::from(u) - camera.cx) / camera.fx;
            depth[i] = (2.0 / (1.0 - 0.5 * x)) as f32;
            intensity[i] = u / 64.0 + 0.01 * (v * 0.7).sin();
        }
        depth[5 * 64 + 7] = 0.0;
        let config = PyramidConfig {
            levels: 3,
            ..PyramidConfig::default()
        };
        let full =
            RgbdPyramid::from_depth_intensity(&camera, intensity.clone(), depth.clone(), &config)
                .unwrap();
        for first in 0..3 {
            let reduced = RgbdPyramid::from_depth_intensity_from_level(
                &camera,
                intensity.clone(),
                depth.clone(),
                &config,
                first,
            )
            .unwrap();
            assert_eq!(reduced.level_count(), 3 - first);
            assert_same_levels(&reduced.levels, &full.levels[first..]);
        }
    }

    #[test]
    fn depth_downsampling_keeps_edges() {
        let camera = PinholeCamera::new(8, 8, 10.0, 10.0, 3.5, 3.5).unwrap();
        let mut depth = vec![1.0f32; 64];
        // Column 1 far away: the 2×2 blocks straddling it keep the near depth.
        for v in 0..8 {
            depth[v * 8 + 1] = 3.0;
        }
        depth[0] = 0.0;
        let config = PyramidConfig {
            levels: 2,
            ..PyramidConfig::default()
        };
        let p = RgbdPyramid::from_depth_intensity(&camera, vec![0.5; 64], depth, &config).unwrap();
        assert!(p.levels[1].depth_m.iter().all(|&d| d == 1.0));
    }

    #[test]
    fn rejects_distorted_camera_and_wrong_sizes() {
        let camera = PinholeCamera::tum_freiburg1();
        let n = 640 * 480;
        let config = PyramidConfig::default();
        assert!(
            RgbdPyramid::from_depth_intensity(&camera, vec![0.0; n], vec![0.0; n], &config)
                .is_err()
        );
        assert!(RgbdPyramid::from_depth_intensity(
            &camera.undistorted(),
            vec![0.0; n],
            vec![0.0; 5],
            &config
        )
        .is_err());
    }
}
