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

use crate::error::{Error, Result};
use crate::geometry::PinholeCamera;
use crate::odometry::{OdometryConfig, RgbdOdometry, RgbdPyramid};
use crate::tsdf::{Raycaster, TsdfVolume};

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
        })
    }

    /// Undistorts `frame` and builds its pyramid from `level` down.
    pub(crate) fn prepare(&self, frame: &crate::sensor::RgbdFrame) -> Result<RgbdPyramid> {
        // The dropped levels are only downsampled (no gradients, vertices,
        // normals): same result as building all levels and draining.
        self.full.prepare_from_level(frame, self.level)
    }

    /// Ray-casts `volume` at `world_from_camera` and converts the image into
    /// a reference pyramid: vertices `d · K⁻¹ (u, v, 1)` and normals in the
    /// camera frame, intensity from the fused colour (the same luma weights
    /// as [`crate::RgbdFrame::intensity`]).
    pub(crate) fn render(
        &mut self,
        volume: &TsdfVolume,
        world_from_camera: &Isometry3<f64>,
    ) -> Result<ModelView> {
        let camera = self.model_camera;
        let image = self.raycaster.render(volume, &camera, world_from_camera)?;
        let camera_from_world = world_from_camera.inverse().rotation.to_rotation_matrix();
        let camera_from_world = camera_from_world.matrix().cast::<f32>();
        let width = camera.width as usize;
        let n = image.depth_m.len();
        let mut vertices = vec![[f32::NAN; 3]; n];
        let mut normals = vec![[f32::NAN; 3]; n];
        let mut intensity = vec![0.0_f32; n];
        let (fx, fy, cx, cy) = (
            camera.fx as f32,
            camera.fy as f32,
            camera.cx as f32,
            camera.cy as f32,
        );
        let mut hits = 0_usize;
        for i in 0..n {
            let c = image.colors[i];
            intensity[i] =
                (0.299 * f32::from(c[0]) + 0.587 * f32::from(c[1]) + 0.114 * f32::from(c[2]))
                    / 255.0;
            let d = image.depth_m[i];
            if !(image.hit[i] && d > 0.0) {
                continue;
            }
            hits += 1;
            let (u, v) = ((i % width) as f32, (i / width) as f32);
            vertices[i] = [d * (u - cx) / fx, d * (v - cy) / fy, d];
            let normal = camera_from_world * image.normals_world[i];
            normals[i] = [normal.x, normal.y, normal.z];
        }
        let pyramid = RgbdPyramid::from_model_view(
            &camera,
            &vertices,
            &normals,
            intensity,
            &self.reduced.config().pyramid,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene_graph::map_query::MapQuery;
    use crate::tsdf::{TsdfConfig, TsdfVoxel};
    use nalgebra::Point3;

    #[test]
    fn reduced_pyramids_are_compatible_with_model_views() {
        let camera = PinholeCamera::tum_freiburg1();
        let tracker = ModelTracker::new(&camera, &OdometryConfig::default(), 1).unwrap();
        assert_eq!(tracker.model_camera.width, 320);
        let frame = crate::RgbdFrame::new(
            crate::Timestamp(0),
            640,
            480,
            vec![[128, 128, 128]; 640 * 480],
            vec![1.5; 640 * 480],
        )
        .unwrap();
        let current = tracker.prepare(&frame).unwrap();
        let mut tracker = tracker;
        let volume = TsdfVolume::new(TsdfConfig::default()).unwrap();
        let view = tracker.render(&volume, &Isometry3::identity()).unwrap();
        assert_eq!(view.hit_ratio, 0.0);
        ModelTracker::check_compatible(&view.pyramid, &current).unwrap();
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
