//! The tracker's view of the map: the TSDF ray-cast at the predicted pose
//! turned into a reference pyramid (KinectFusion §3.5, Newcombe et al.
//! 2011), and the dense tracker run on pyramids that start at the model
//! view's level.
//!
//! Ray-casting costs O(pixels), so the model view is rendered at pyramid
//! level `tracking.model_view_level` (320×240 for 640×480 input) and the
//! frame's finer levels are dropped: both pyramids then have the same
//! cameras at every level and the tracker's finest level shifts down by the
//! same amount.

use nalgebra::Isometry3;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::geometry::PinholeCamera;
use crate::odometry::buffer_pool::BufferPool;
use crate::odometry::{OdometryConfig, PyramidLevel, RgbdOdometry, RgbdPyramid};
use crate::tsdf::{RaycastImage, Raycaster, TsdfVolume};

/// The dense tracker working on pyramids that start at `level`.
#[derive(Clone, Debug)]
pub(crate) struct ModelTracker {
    /// Prepares full pyramids from (distorted) input frames.
    pub(crate) full: RgbdOdometry,
    /// Tracks the reduced pyramids.
    pub(crate) reduced: RgbdOdometry,
    /// Dropped levels.
    level: usize,
    /// Camera of the model view (undistorted pinhole at `level`).
    pub(crate) model_camera: PinholeCamera,
    raycaster: Raycaster,
    /// Reused buffer of the ray-cast depth hint.
    hint_depth_m: Vec<f32>,
    /// Reused ray-cast image.
    image: RaycastImage,
    /// Reused model-view vertices and normals (camera frame).
    view_vertices: Vec<[f32; 3]>,
    view_normals: Vec<[f32; 3]>,
    /// Spare pyramid buffers: pyramids are built from it and given back to
    /// it ([`Self::recycle`]), so frames do not allocate fresh images.
    pool: BufferPool,
}

/// A rendered model view as a reference pyramid.
pub(crate) struct ModelView {
    pub(crate) pyramid: RgbdPyramid,
    pub(crate) hit_ratio: f64,
}

impl ModelTracker {
    /// A tracker for frames from `camera`, rendering at `level`.
    pub(crate) fn new(
        camera: &PinholeCamera,
        config: &OdometryConfig,
        level: usize,
    ) -> Result<Self> {
        let full = RgbdOdometry::new(camera, config.clone())?;
        let model_camera = full.pinhole_camera().scaled_to_level(level as u32);
        let mut reduced_config = config.clone();
        reduced_config.pyramid.levels = config.pyramid.levels.saturating_sub(level);
        reduced_config.finest_level = config.finest_level.saturating_sub(level);
        if reduced_config.max_iterations.len() > level {
            reduced_config.max_iterations.drain(..level);
        }
        let reduced = RgbdOdometry::new(&model_camera, reduced_config)?;
        Ok(Self {
            full,
            reduced,
            level,
            model_camera,
            raycaster: Raycaster::new(),
            hint_depth_m: Vec::new(),
            image: RaycastImage::default(),
            view_vertices: Vec::new(),
            view_normals: Vec::new(),
            pool: BufferPool::new(),
        })
    }

    /// Undistorts `frame` and builds its pyramid from `level` down.
    pub(crate) fn prepare(&mut self, frame: &crate::sensor::RgbdFrame) -> Result<RgbdPyramid> {
        // The dropped levels are only downsampled (no gradients, vertices,
        // normals): same result as building all levels and draining.
        self.full
            .prepare_from_level_pooled(frame, self.level, &mut self.pool)
    }

    /// Gives a pyramid that is no longer needed (a used model view, a
    /// replaced reference frame) back for the next [`Self::prepare`] or
    /// [`Self::render`].
    pub(crate) fn recycle(&mut self, pyramid: RgbdPyramid) {
        self.pool.recycle(pyramid);
    }

    /// Ray-casts `volume` at `world_from_camera` and converts the image into
    /// a reference pyramid: vertices `d · K⁻¹ (u, v, 1)` and normals in the
    /// camera frame, intensity from the fused colour (the same luma weights
    /// as [`crate::RgbdFrame::intensity`]).
    ///
    /// With `hint` (a tracked frame's finest level and its pose), rays start
    /// near that frame's depth warped to `world_from_camera`
    /// ([`Raycaster::render_with_hint`]).
    pub(crate) fn render(
        &mut self,
        volume: &TsdfVolume,
        world_from_camera: &Isometry3<f64>,
        hint: Option<(&PyramidLevel, &Isometry3<f64>)>,
    ) -> Result<ModelView> {
        let camera = self.model_camera;
        let hint = match hint {
            Some((level, world_from_source)) if level.camera == camera => {
                let camera_from_source = world_from_camera.inverse() * world_from_source;
                warp_depth(level, &camera_from_source, &mut self.hint_depth_m);
                Some(self.hint_depth_m.as_slice())
            }
            _ => None,
        };
        let image = &mut self.image;
        self.raycaster
            .render_into(volume, &camera, world_from_camera, hint, image)?;
        let camera_from_world = world_from_camera.inverse().rotation.to_rotation_matrix();
        let camera_from_world = camera_from_world.matrix().cast::<f32>();
        let width = camera.width as usize;
        let n = image.depth_m.len();
        let (vertices, normals) = (&mut self.view_vertices, &mut self.view_normals);
        vertices.clear();
        vertices.resize(n, [f32::NAN; 3]);
        normals.clear();
        normals.resize(n, [f32::NAN; 3]);
        let mut intensity = self.pool.scalars(n);
        intensity.resize(n, 0.0);
        let (fx, fy, cx, cy) = (
            camera.fx as f32,
            camera.fy as f32,
            camera.cx as f32,
            camera.cy as f32,
        );
        let image = &*image;
        let hits: usize = vertices
            .par_chunks_mut(width)
            .zip(normals.par_chunks_mut(width))
            .zip(intensity.par_chunks_mut(width))
            .enumerate()
            .map(|(v, ((vertex_row, normal_row), intensity_row))| {
                let mut hits = 0_usize;
                for u in 0..width {
                    let i = v * width + u;
                    let c = image.colors[i];
                    intensity_row[u] = (0.299 * f32::from(c[0])
                        + 0.587 * f32::from(c[1])
                        + 0.114 * f32::from(c[2]))
                        / 255.0;
                    let d = image.depth_m[i];
                    if !(image.hit[i] && d > 0.0) {
                        continue;
                    }
                    hits += 1;
                    let (uf, vf) = (u as f32, v as f32);
                    vertex_row[u] = [d * (uf - cx) / fx, d * (vf - cy) / fy, d];
                    let normal = camera_from_world * image.normals_world[i];
                    normal_row[u] = [normal.x, normal.y, normal.z];
                }
                hits
            })
            .sum();
        let pyramid = RgbdPyramid::from_model_view_pooled(
            &camera,
            vertices,
            normals,
            intensity,
            &self.reduced.config().pyramid,
            &mut self.pool,
        )?;
        Ok(ModelView {
            pyramid,
            hit_ratio: hits as f64 / n.max(1) as f64,
        })
    }

    /// Checks that a model view and a frame pyramid can be tracked together.
    pub(crate) fn check_compatible(reference: &RgbdPyramid, current: &RgbdPyramid) -> Result<()> {
        if reference.is_compatible(current) {
            Ok(())
        } else {
            Err(Error::InvalidArgument(
                "model view and frame pyramids have different cameras".into(),
            ))
        }
    }
}

/// Forward-warps `source`'s vertices by `camera_from_source` into the same
/// (pinhole) camera: per pixel the nearest warped depth, `0` where none
/// lands. Each point is splatted onto the 2×2 pixels around its projection
/// so that a slightly expanding view leaves no cracks.
fn warp_depth(source: &PyramidLevel, camera_from_source: &Isometry3<f64>, out: &mut Vec<f32>) {
    let camera = source.camera;
    let (w, h) = (source.width(), source.height());
    out.clear();
    out.resize(w * h, f32::INFINITY);
    let rotation = camera_from_source.rotation.to_rotation_matrix();
    let r = rotation.matrix().cast::<f32>();
    let t = camera_from_source.translation.vector.cast::<f32>();
    let (fx, fy, cx, cy) = (
        camera.fx as f32,
        camera.fy as f32,
        camera.cx as f32,
        camera.cy as f32,
    );
    // `x > 0`, false for NaN.
    let positive = |x: f32| x > 0.0;
    for q in &source.vertices {
        // Also skips NaN (invalid) vertices.
        if !positive(q[2]) {
            continue;
        }
        let p = r * nalgebra::Vector3::new(q[0], q[1], q[2]) + t;
        if !positive(p.z) {
            continue;
        }
        let u = fx * p.x / p.z + cx;
        let v = fy * p.y / p.z + cy;
        let inside = u >= 0.0 && v >= 0.0 && u < (w - 1) as f32 && v < (h - 1) as f32;
        if !inside {
            continue;
        }
        let (u0, v0) = (u as usize, v as usize);
        for k in [
            v0 * w + u0,
            v0 * w + u0 + 1,
            (v0 + 1) * w + u0,
            (v0 + 1) * w + u0 + 1,
        ] {
            out[k] = out[k].min(p.z);
        }
    }
    for z in out.iter_mut() {
        if !z.is_finite() {
            *z = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene_graph::map_query::MapQuery;
    use crate::tsdf::{TsdfConfig, TsdfVoxel};
    use nalgebra::Point3;

    /// A grey 640×480 frame of a fronto-parallel plane at 1.5 m.
    fn plane_frame() -> crate::RgbdFrame {
        crate::RgbdFrame::new(
            crate::Timestamp(0),
            640,
            480,
            vec![[128, 128, 128]; 640 * 480],
            vec![1.5; 640 * 480],
        )
        .unwrap()
    }

    #[test]
    fn reduced_pyramids_are_compatible_with_model_views() {
        let camera = PinholeCamera::tum_freiburg1();
        let mut tracker = ModelTracker::new(&camera, &OdometryConfig::default(), 1).unwrap();
        assert_eq!(tracker.model_camera.width, 320);
        let frame = plane_frame();
        let current = tracker.prepare(&frame).unwrap();
        let volume = TsdfVolume::new(TsdfConfig::default()).unwrap();
        let view = tracker
            .render(&volume, &Isometry3::identity(), None)
            .unwrap();
        assert_eq!(view.hit_ratio, 0.0);
        ModelTracker::check_compatible(&view.pyramid, &current).unwrap();
    }

    /// Oracle: a fronto-parallel plane at 1.5 m warped by identity keeps
    /// its depth at every pixel it covers, and moved 0.1 m back reads 1.6 m;
    /// a 90° turn sees none of it.
    #[test]
    fn warp_depth_moves_a_plane() {
        let camera = PinholeCamera::tum_freiburg1();
        let mut tracker = ModelTracker::new(&camera, &OdometryConfig::default(), 1).unwrap();
        let frame = plane_frame();
        let pyramid = tracker.prepare(&frame).unwrap();
        let level = &pyramid.levels[0];
        let mut out = Vec::new();
        warp_depth(level, &Isometry3::identity(), &mut out);
        let covered: Vec<f32> = out.iter().copied().filter(|&z| z > 0.0).collect();
        assert!(covered.len() > out.len() * 9 / 10, "{}", covered.len());
        // The plane's undistorted depth is z = 1.5 everywhere (f32 round-off).
        assert!(covered.iter().all(|&z| (z - 1.5).abs() < 1e-4));
        let back = Isometry3::translation(0.0, 0.0, 0.1);
        warp_depth(level, &back, &mut out);
        let covered: Vec<f32> = out.iter().copied().filter(|&z| z > 0.0).collect();
        assert!(covered.len() > out.len() * 8 / 10, "{}", covered.len());
        assert!(covered.iter().all(|&z| (z - 1.6).abs() < 1e-4));
        let turned = Isometry3::rotation(nalgebra::Vector3::y() * std::f64::consts::FRAC_PI_2);
        warp_depth(level, &turned, &mut out);
        assert!(out.iter().all(|&z| z == 0.0));
    }

    #[test]
    fn map_query_reads_observed_voxels_only() {
        let mut volume = TsdfVolume::new(TsdfConfig::default()).unwrap();
        volume.set_voxel(
            [3, 4, 5],
            TsdfVoxel {
                sdf_m: -0.01,
                weight: 7,
                color: [0; 3],
            },
        );
        let p = volume.voxel_center_m([3, 4, 5]).cast::<f64>();
        let (sdf, weight) = MapQuery::sdf_at(&volume, &p).unwrap();
        assert!((sdf + 0.01).abs() < 1e-3 && weight == 7.0);
        let unobserved = volume.voxel_center_m([4, 4, 5]).cast::<f64>();
        assert!(MapQuery::sdf_at(&volume, &unobserved).is_none());
        assert!(MapQuery::sdf_at(&volume, &Point3::new(5.0, 5.0, 5.0)).is_none());
        assert_eq!(MapQuery::voxel_size_m(&volume), f64::from(0.02_f32));
    }
}
