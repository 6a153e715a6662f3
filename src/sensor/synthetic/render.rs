//! Exact ray-casting renderer: colour, depth and instance mask per pixel.
//!
//! Each pixel's ray comes from the camera's (distortion-aware) ray table,
//! `d = (x, y, 1)` in the camera frame, so a distorted camera renders a
//! distorted image and the first hit parameter `t` *is* the depth along the
//! optical axis. Primitives are culled per 16 × 16 tile: the tile's rays lie
//! in a cone (axis = mean direction, half-angle = widest ray), and a part is a
//! candidate only if its bounding sphere meets that cone. Rows of tiles run in
//! parallel with rayon.

use nalgebra::{Isometry3, Matrix3, Point3, Vector3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::geometry::PinholeCamera;
use crate::sensor::synthetic::noise::DepthNoise;
use crate::sensor::synthetic::scene::{SyntheticScene, NO_INSTANCE};
use crate::sensor::{RgbdFrame, Timestamp};

const TILE: usize = 16;

/// Per-frame rendering options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RenderOptions {
    /// Timestamp written into the frame.
    pub timestamp: Timestamp,
    /// Depth noise (off by default).
    pub noise: DepthNoise,
    /// Frame number, keys the noise draws.
    pub frame_index: u64,
    /// Vision outage: black image, all-zero depth and mask.
    pub blackout: bool,
}

/// A rendered frame with its groundtruth instance mask.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedFrame {
    /// Colour + depth (depth possibly with noise).
    pub frame: RgbdFrame,
    /// Instance id per pixel, row-major ([`NO_INSTANCE`] = nothing hit).
    /// Groundtruth: not affected by depth dropouts.
    pub instance_mask: Vec<u32>,
}

/// A renderer bound to a camera (caches the per-pixel ray table).
#[derive(Clone, Debug)]
pub struct Renderer {
    camera: PinholeCamera,
    rays: Vec<[f32; 2]>,
}

/// Per-frame, per-part data in the camera frame.
struct FramePart {
    /// Rotation camera → part.
    part_r_camera: Matrix3<f64>,
    /// Camera centre in the part frame.
    origin_in_part: Vector3<f64>,
    object_from_part: Isometry3<f64>,
    shape: crate::sensor::synthetic::primitives::Shape,
    object_index: usize,
    center_in_camera: Vector3<f64>,
    radius_m: f64,
    /// Distance from the camera centre to the part's bounding box.
    box_distance_m: f64,
}

impl Renderer {
    /// Precomputes the rays of `camera` (undistortion per pixel, once).
    pub fn new(camera: PinholeCamera) -> Self {
        Self {
            rays: camera.ray_table(),
            camera,
        }
    }

    /// The camera.
    pub fn camera(&self) -> &PinholeCamera {
        &self.camera
    }

    /// Renders `scene` seen from `world_from_camera`.
    pub fn render(
        &self,
        scene: &SyntheticScene,
        world_from_camera: &Isometry3<f64>,
        options: &RenderOptions,
    ) -> RenderedFrame {
        let width = self.camera.width as usize;
        let height = self.camera.height as usize;
        let n = width * height;
        let mut color = vec![[0_u8; 3]; n];
        let mut depth = vec![0.0_f32; n];
        let mut mask = vec![NO_INSTANCE; n];
        if !options.blackout && n > 0 {
            let camera_from_world = world_from_camera.inverse();
            let parts: Vec<FramePart> = scene
                .world_parts()
                .iter()
                .map(|wp| {
                    let part_from_camera = wp.world_from_part.inverse() * world_from_camera;
                    let o = part_from_camera.translation.vector;
                    let outside = (o.abs() - wp.shape.half_extents_m()).map(|e| e.max(0.0));
                    FramePart {
                        box_distance_m: outside.norm(),
                        part_r_camera: *part_from_camera.rotation.to_rotation_matrix().matrix(),
                        origin_in_part: part_from_camera.translation.vector,
                        object_from_part: wp.object_from_part,
                        shape: wp.shape,
                        object_index: wp.object_index,
                        center_in_camera: (camera_from_world * wp.center_m).coords,
                        radius_m: wp.radius_m,
                    }
                })
                .collect();
            let chunk = TILE * width;
            color
                .par_chunks_mut(chunk)
                .zip(depth.par_chunks_mut(chunk))
                .zip(mask.par_chunks_mut(chunk))
                .enumerate()
                .for_each(|(tile_row, ((color, depth), mask))| {
                    self.render_tile_row(scene, &parts, tile_row * TILE, color, depth, mask);
                });
        }
        if !options.blackout {
            options.noise.apply(&mut depth, width, options.frame_index);
        }
        RenderedFrame {
            frame: RgbdFrame {
                timestamp: options.timestamp,
                width: self.camera.width,
                height: self.camera.height,
                color,
                depth_m: depth,
            },
            instance_mask: mask,
        }
    }

    fn render_tile_row(
        &self,
        scene: &SyntheticScene,
        parts: &[FramePart],
        v0: usize,
        color: &mut [[u8; 3]],
        depth: &mut [f32],
        mask: &mut [u32],
    ) {
        let width = self.camera.width as usize;
        let rows = depth.len() / width;
        let objects = scene.objects();
        // (lower bound of the depth of any hit, part index)
        let mut candidates: Vec<(f64, usize)> = Vec::with_capacity(parts.len());
        for u0 in (0..width).step_by(TILE) {
            let u1 = (u0 + TILE).min(width);
            // Bounding cone of the tile's rays.
            let mut axis = Vector3::zeros();
            for dv in 0..rows {
                for u in u0..u1 {
                    let [x, y] = self.rays[(v0 + dv) * width + u];
                    if x.is_finite() && y.is_finite() {
                        axis += Vector3::new(f64::from(x), f64::from(y), 1.0).normalize();
                    }
                }
            }
            if axis.norm_squared() == 0.0 {
                continue;
            }
            let axis = axis.normalize();
            let mut cos_half: f64 = 1.0;
            let mut max_ray_norm: f64 = 1.0;
            for dv in 0..rows {
                for u in u0..u1 {
                    let [x, y] = self.rays[(v0 + dv) * width + u];
                    if x.is_finite() && y.is_finite() {
                        let d = Vector3::new(f64::from(x), f64::from(y), 1.0);
                        let norm = d.norm();
                        max_ray_norm = max_ray_norm.max(norm);
                        cos_half = cos_half.min(axis.dot(&d) / norm);
                    }
                }
            }
            let half_angle = cos_half.clamp(-1.0, 1.0).acos() + 1e-6;
            candidates.clear();
            for (i, p) in parts.iter().enumerate() {
                let dist = p.center_in_camera.norm();
                // Any hit is at least the distance to the part's bounding box
                // away, and depth = distance / |d| for rays d = (x, y, 1).
                let bound = p.box_distance_m / max_ray_norm;
                if dist <= p.radius_m {
                    candidates.push((bound, i));
                    continue;
                }
                let angle = (axis.dot(&p.center_in_camera) / dist)
                    .clamp(-1.0, 1.0)
                    .acos();
                if angle - (p.radius_m / dist).asin() <= half_angle {
                    candidates.push((bound, i));
                }
            }
            // Nearest first, so pixels can stop once a hit is closer than
            // every remaining part's bound.
            candidates.sort_by(|a, b| a.0.total_cmp(&b.0));
            for dv in 0..rows {
                for u in u0..u1 {
                    let [x, y] = self.rays[(v0 + dv) * width + u];
                    if !(x.is_finite() && y.is_finite()) {
                        continue;
                    }
                    let d_cam = Vector3::new(f64::from(x), f64::from(y), 1.0);
                    let mut best: Option<(f64, usize, Vector3<f64>)> = None;
                    for &(bound, i) in &candidates {
                        if best.is_some_and(|(bt, _, _)| bt <= bound) {
                            break;
                        }
                        let p = &parts[i];
                        let d = p.part_r_camera * d_cam;
                        if let Some(t) = p.shape.intersect(&p.origin_in_part, &d) {
                            if best.is_none_or(|(bt, _, _)| t < bt) {
                                best = Some((t, i, p.origin_in_part + d * t));
                            }
                        }
                    }
                    if let Some((t, i, hit_in_part)) = best {
                        let p = &parts[i];
                        let object = &objects[p.object_index];
                        let hit_in_object = p.object_from_part * Point3::from(hit_in_part);
                        let idx = dv * width + u;
                        depth[idx] = t as f32;
                        mask[idx] = object.groundtruth.instance_id;
                        color[idx] = object.texture.shade(&hit_in_object.coords);
                    }
                }
            }
        }
    }
}

/// Renders `scene` from `world_from_camera` with `camera`. Builds the ray
/// table on every call; use a [`Renderer`] to render many frames.
pub fn render(
    scene: &SyntheticScene,
    camera: &PinholeCamera,
    world_from_camera: &Isometry3<f64>,
    options: &RenderOptions,
) -> RenderedFrame {
    Renderer::new(*camera).render(scene, world_from_camera, options)
}
