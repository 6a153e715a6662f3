//! Rendering the TSDF from a camera: ray marching to the first +→− zero
//! crossing, refined on the trilinear SDF (KinectFusion §3.5, Newcombe et
//! al. 2011). The tracker uses this as its model view.

use nalgebra::{Isometry3, Matrix3, Point3, Vector3};
use rayon::prelude::*;

use super::block::{floor_i32, BlockIndex};
use super::integrator::RayCache;
use super::volume::{TsdfVolume, VoxelCache};
use crate::error::Result;
use crate::geometry::PinholeCamera;

/// A rendered view of the map: per pixel (row-major, the camera's size) the
/// depth along the optical axis, the surface normal **in the world frame**
/// (unit length, pointing towards free space), the fused colour and whether
/// the ray hit a surface. Misses have depth `0.0`, a zero normal and black.
#[derive(Clone, Debug, PartialEq)]
pub struct RaycastImage {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Depth along the camera's optical axis (z), metres; `0.0` = no hit.
    pub depth_m: Vec<f32>,
    /// Unit surface normals in the world frame (SDF gradient); zero = no hit.
    pub normals_world: Vec<Vector3<f32>>,
    /// Fused colour of the nearest voxel; black = no hit.
    pub colors: Vec<[u8; 3]>,
    /// Whether the pixel's ray hit the surface.
    pub hit: Vec<bool>,
}

impl RaycastImage {
    /// Number of pixels whose ray hit the surface.
    pub fn hit_count(&self) -> usize {
        self.hit.iter().filter(|&&h| h).count()
    }
}

/// Renders a [`TsdfVolume`]; caches the per-pixel rays of the last camera
/// (undistorting 300 k pixels costs ~10 ms, so reuse one raycaster).
#[derive(Clone, Debug, Default)]
pub struct Raycaster {
    rays: RayCache,
    depth_range_m: Option<(f32, f32)>,
}

impl Raycaster {
    /// A raycaster marching over the volume's integration depth range.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marches over `[min_m, max_m]` of depth instead of the volume's
    /// integration range.
    pub fn with_depth_range_m(mut self, min_m: f32, max_m: f32) -> Self {
        self.depth_range_m = Some((min_m, max_m));
        self
    }

    /// Renders `volume` seen by `camera` at `world_from_camera`. Parallel
    /// over rows.
    ///
    /// Along each pixel's ray the nearest-voxel SDF is sampled with steps of
    /// `max(0.8 · sdf, voxel)` (≤ 0.8 μ), unallocated blocks are skipped to
    /// their exit; at the first sign change from + to − the crossing is
    /// refined by regula falsi on the trilinear SDF, and the normal is the
    /// normalised analytic gradient of the trilinear SDF there.
    pub fn render(
        &mut self,
        volume: &TsdfVolume,
        camera: &PinholeCamera,
        world_from_camera: &Isometry3<f64>,
    ) -> Result<RaycastImage> {
        camera.validate()?;
        let rays = self.rays.rays(camera);
        let config = volume.config();
        let (min_m, max_m) = self.depth_range_m.unwrap_or((
            config.min_integration_depth_m,
            config.max_integration_depth_m,
        ));
        let (width, height) = (camera.width as usize, camera.height as usize);
        let n = width * height;
        let mut depth_m = vec![0.0_f32; n];
        let mut normals_world = vec![Vector3::zeros(); n];
        let mut colors = vec![[0_u8; 3]; n];
        let marcher = Marcher {
            volume,
            rotation: world_from_camera
                .rotation
                .to_rotation_matrix()
                .matrix()
                .cast(),
            origin: world_from_camera.translation.vector.cast(),
            min_m: min_m.max(1e-3),
            max_m,
        };
        depth_m
            .par_chunks_mut(width)
            .zip(normals_world.par_chunks_mut(width))
            .zip(colors.par_chunks_mut(width))
            .enumerate()
            .for_each(|(v, ((depth_row, normal_row), color_row))| {
                let mut cache = VoxelCache::new(volume);
                for u in 0..width {
                    let ray = rays[v * width + u];
                    if ray[0].is_nan() {
                        continue;
                    }
                    if let Some((z, normal, color)) = marcher.march(&mut cache, ray) {
                        depth_row[u] = z;
                        normal_row[u] = normal;
                        color_row[u] = color;
                    }
                }
            });
        let hit = depth_m.iter().map(|&d| d > 0.0).collect();
        Ok(RaycastImage {
            width: camera.width,
            height: camera.height,
            depth_m,
            normals_world,
            colors,
            hit,
        })
    }
}

/// Renders `volume` from `camera` at `world_from_camera` with a fresh
/// [`Raycaster`] (recomputes the ray table; use a `Raycaster` per stream in
/// loops).
pub fn raycast(
    volume: &TsdfVolume,
    camera: &PinholeCamera,
    world_from_camera: &Isometry3<f64>,
) -> Result<RaycastImage> {
    Raycaster::new().render(volume, camera, world_from_camera)
}

struct Marcher<'a> {
    volume: &'a TsdfVolume,
    rotation: Matrix3<f32>,
    origin: Vector3<f32>,
    min_m: f32,
    max_m: f32,
}

impl Marcher<'_> {
    /// Returns (depth z, world normal, colour) of the first +→− crossing.
    fn march(
        &self,
        cache: &mut VoxelCache<'_>,
        ray: [f32; 2],
    ) -> Option<(f32, Vector3<f32>, [u8; 3])> {
        // World direction per unit of depth z; `norm` converts z to metres.
        let dir = self.rotation * Vector3::new(ray[0], ray[1], 1.0);
        let inv_norm = 1.0 / dir.norm();
        let voxel_m = self.volume.voxel_size_m();
        let block_m = self.volume.block_size_m();
        let inv_block = 1.0 / block_m;
        let at = |z: f32| Point3::from(self.origin + dir * z);
        let mut z = self.min_m;
        let mut previous: Option<(f32, f32)> = None;
        while z <= self.max_m {
            let p = at(z);
            let index = BlockIndex::new(
                floor_i32(p.x * inv_block),
                floor_i32(p.y * inv_block),
                floor_i32(p.z * inv_block),
            );
            let cell = [index.x as f32, index.y as f32, index.z as f32];
            if cache.block(index).is_none() {
                // Jump to where the ray leaves this empty block.
                let mut exit = f32::INFINITY;
                for a in 0..3 {
                    if dir[a] > 0.0 {
                        exit = exit.min(((cell[a] + 1.0) * block_m - p[a]) / dir[a]);
                    } else if dir[a] < 0.0 {
                        exit = exit.min((cell[a] * block_m - p[a]) / dir[a]);
                    }
                }
                z += exit.max(0.0) + 1e-5;
                previous = None;
                continue;
            }
            match cache.nearest_sdf_m(&p) {
                None => {
                    previous = None;
                    z += voxel_m * inv_norm;
                }
                Some(sdf) if sdf < 0.0 => {
                    if let Some((z0, s0)) = previous {
                        return self.refine(cache, &at, (z0, s0), (z, sdf));
                    }
                    // Started behind a surface (or after a hole): walk on.
                    z += voxel_m * inv_norm;
                }
                Some(sdf) => {
                    previous = Some((z, sdf));
                    z += (0.8 * sdf).max(voxel_m) * inv_norm;
                }
            }
        }
        None
    }

    /// Regula falsi (Illinois variant) on the trilinear SDF between a
    /// positive sample at `z0` and a negative one at `z1`.
    fn refine(
        &self,
        cache: &mut VoxelCache<'_>,
        at: &impl Fn(f32) -> Point3<f32>,
        (mut z0, s0_nearest): (f32, f32),
        (mut z1, s1_nearest): (f32, f32),
    ) -> Option<(f32, Vector3<f32>, [u8; 3])> {
        let mut f0 = cache.trilinear(&at(z0)).map_or(s0_nearest, |t| t.0);
        let mut f1 = cache.trilinear(&at(z1)).map_or(s1_nearest, |t| t.0);
        if !(f0 > 0.0 && f1 < 0.0) {
            // Trilinear values disagree with the nearest samples; use those.
            f0 = s0_nearest.max(1e-6);
            f1 = s1_nearest.min(-1e-6);
        }
        let mut best = None;
        let mut side = 0_i8;
        for _ in 0..4 {
            let z = z0 + (z1 - z0) * f0 / (f0 - f1);
            let (f, gradient, color) = cache.trilinear(&at(z))?;
            best = Some((z, gradient, color));
            if f.abs() < 1e-5 {
                break;
            }
            if f > 0.0 {
                z0 = z;
                f0 = f;
                if side == 1 {
                    f1 *= 0.5;
                }
                side = 1;
            } else {
                z1 = z;
                f1 = f;
                if side == -1 {
                    f0 *= 0.5;
                }
                side = -1;
            }
        }
        let (z, gradient, color) = best?;
        let norm = gradient.norm();
        if norm.is_nan() || norm <= 1e-6 || z < self.min_m || z > self.max_m {
            return None;
        }
        Some((z, gradient / norm, color))
    }
}
