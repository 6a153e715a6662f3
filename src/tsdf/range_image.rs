//! The ray-caster's per-frame acceleration structures (InfiniTAM, Kähler et
//! al. 2015, §4.2): which blocks rays must march (visible, in range and
//! holding an observed negative voxel) and the coarse range image of their
//! depth intervals. See the [`raycast`](super::raycast) module docs.

use nalgebra::{Isometry3, Matrix3, Vector3};
use rayon::prelude::*;

use super::block::{Block, BlockIndex, BlockMap};
use super::camera_tables::CameraTables;
use super::volume::TsdfVolume;

/// Virtual cells (≈ pixels of the undistorted image) per edge of a range
/// tile. Finer than the integrator's 8-cell tiles: the interval of a tile is
/// that of its nearest block, so smaller tiles start rays closer to their
/// surface at depth edges; splatting costs O(projected block area / 16).
pub(super) const RANGE_TILE_CELLS: f32 = 4.0;

/// Whether `block` holds an observed negative voxel (a ray can only stop
/// in such a block). Branch-free per 64 voxels so it vectorises.
fn has_observed_negative(block: &Block) -> bool {
    block
        .sdf_raw()
        .chunks_exact(64)
        .zip(block.weights().chunks_exact(64))
        .any(|(sdf, weight)| {
            sdf.iter()
                .zip(weight)
                .fold(false, |any, (&s, &w)| any | ((s < 0) & (w > 0)))
        })
}

/// The range image: per tile the depth interval `[z_min, z_max]` of the
/// marched blocks covering it (empty: `z_min > z_max`).
pub(super) struct RangeImage {
    /// Normalised coordinates of the grid's corner.
    origin: [f32; 2],
    /// Tiles per unit of normalised coordinate.
    scale: [f32; 2],
    pub(super) tiles_x: usize,
    pub(super) tiles_y: usize,
    pub(super) intervals: Vec<[f32; 2]>,
}

impl RangeImage {
    fn new(tables: &CameraTables) -> Self {
        // The virtual grid covers every ray with one cell of margin.
        let tiles_x = (tables.virtual_width as f32 / RANGE_TILE_CELLS).ceil() as usize;
        let tiles_y = (tables.virtual_height as f32 / RANGE_TILE_CELLS).ceil() as usize;
        let (tiles_x, tiles_y) = (tiles_x.max(1), tiles_y.max(1));
        Self {
            origin: [
                tables.virtual_origin[0] - 0.5 / tables.focal[0],
                tables.virtual_origin[1] - 0.5 / tables.focal[1],
            ],
            scale: [
                tables.focal[0] / RANGE_TILE_CELLS,
                tables.focal[1] / RANGE_TILE_CELLS,
            ],
            tiles_x,
            tiles_y,
            intervals: vec![[f32::INFINITY, f32::NEG_INFINITY]; tiles_x * tiles_y],
        }
    }

    /// Unclamped tile coordinates of normalised `(x, y)`.
    #[inline]
    fn tile_coords(&self, x: f32, y: f32) -> (f32, f32) {
        (
            ((x - self.origin[0]) * self.scale[0]).floor(),
            ((y - self.origin[1]) * self.scale[1]).floor(),
        )
    }

    /// Tile of a pixel's ray; `None` for a NaN ray or outside the grid.
    #[inline]
    pub(super) fn tile_of(&self, ray: [f32; 2]) -> Option<usize> {
        let (tx, ty) = self.tile_coords(ray[0], ray[1]);
        // NaN fails both comparisons.
        let inside = tx >= 0.0 && ty >= 0.0 && tx < self.tiles_x as f32 && ty < self.tiles_y as f32;
        inside.then(|| ty as usize * self.tiles_x + tx as usize)
    }

    /// Widens the tiles covering the normalised box `[x0, x1] × [y0, y1]`
    /// to include `[z_lo, z_hi]`; a box outside the grid changes nothing.
    fn splat(&mut self, [x0, x1, y0, y1]: [f32; 4], z_lo: f32, z_hi: f32) {
        let (tx0, ty0) = self.tile_coords(x0, y0);
        let (tx1, ty1) = self.tile_coords(x1, y1);
        let (nx, ny) = (self.tiles_x as f32, self.tiles_y as f32);
        if !(tx1 >= 0.0 && ty1 >= 0.0 && tx0 < nx && ty0 < ny) {
            return;
        }
        let (tx0, tx1) = (tx0.max(0.0) as usize, tx1.min(nx - 1.0) as usize);
        let (ty0, ty1) = (ty0.max(0.0) as usize, ty1.min(ny - 1.0) as usize);
        for ty in ty0..=ty1 {
            let row = ty * self.tiles_x;
            for r in &mut self.intervals[row + tx0..=row + tx1] {
                r[0] = r[0].min(z_lo);
                r[1] = r[1].max(z_hi);
            }
        }
    }

    fn merge(mut self, other: &Self) -> Self {
        for (x, y) in self.intervals.iter_mut().zip(&other.intervals) {
            x[0] = x[0].min(y[0]);
            x[1] = x[1].max(y[1]);
        }
        self
    }
}

/// Normalised bounding box `[x0, x1, y0, y1]` and depth interval of the
/// part of a block (its 8 corners in the camera frame, bit `a` of the index
/// = +edge `a`) in front of the plane `z = min_m`; `None` if none is.
/// The part is convex, so its projection is bounded by its vertices: the
/// corners in front and the edges' intersections with the plane.
fn clipped_projection(corners: &[Vector3<f32>; 8], min_m: f32) -> Option<([f32; 4], f32, f32)> {
    let mut bounds = [
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    let (mut z_lo, mut z_hi) = (f32::INFINITY, f32::NEG_INFINITY);
    let mut add = |p: &Vector3<f32>| {
        let (x, y) = (p.x / p.z, p.y / p.z);
        bounds = [
            bounds[0].min(x),
            bounds[1].max(x),
            bounds[2].min(y),
            bounds[3].max(y),
        ];
        z_lo = z_lo.min(p.z);
        z_hi = z_hi.max(p.z);
    };
    let in_front = corners.iter().filter(|c| c.z >= min_m).count();
    if in_front == 0 {
        return None;
    }
    for c in corners.iter().filter(|c| c.z >= min_m) {
        add(c);
    }
    if in_front < 8 {
        for k in 0..8 {
            for a in 0..3 {
                let j = k | 1 << a;
                if j == k {
                    continue;
                }
                let (p, q) = (corners[k], corners[j]);
                if (p.z < min_m) != (q.z < min_m) {
                    let t = (min_m - p.z) / (q.z - p.z);
                    let mut on_plane = p + (q - p) * t;
                    on_plane.z = min_m;
                    add(&on_plane);
                }
            }
        }
    }
    Some((bounds, z_lo, z_hi))
}

/// Per-frame ray-cast inputs, gathered in one parallel pass over the
/// blocks: the blocks rays must march — visible, in the depth range and
/// holding an observed negative voxel — by index, and their
/// [`RangeImage`].
pub(super) fn visible_blocks<'a>(
    volume: &'a TsdfVolume,
    tables: &CameraTables,
    world_from_camera: &Isometry3<f64>,
    min_m: f32,
    max_m: f32,
) -> (RangeImage, BlockMap<&'a Block>) {
    let camera_from_world = world_from_camera.inverse();
    let rotation: Matrix3<f32> = camera_from_world
        .rotation
        .to_rotation_matrix()
        .matrix()
        .cast();
    let translation: Vector3<f32> = camera_from_world.translation.vector.cast();
    let block_m = volume.block_size_m();
    let edges = [0, 1, 2].map(|a| rotation.column(a) * block_m);
    type Gathered<'b> = (RangeImage, Vec<(BlockIndex, &'b Block)>);
    let empty = || -> Gathered<'a> { (RangeImage::new(tables), Vec::new()) };
    let blocks: Vec<(&BlockIndex, &Box<Block>)> = volume.blocks.iter().collect();
    let (ranges, marched) = blocks
        .par_chunks(256)
        .fold(empty, |(mut ranges, mut marched), chunk| {
            for &(index, block) in chunk {
                let first = index
                    .first_voxel()
                    .map(|c| c as f32 * volume.voxel_size_m());
                let base = rotation * Vector3::new(first[0], first[1], first[2]) + translation;
                let mut corners = [base; 8];
                for (k, c) in corners.iter_mut().enumerate() {
                    for (a, e) in edges.iter().enumerate() {
                        if k >> a & 1 == 1 {
                            *c += e;
                        }
                    }
                }
                let Some((bounds, z_lo, z_hi)) = clipped_projection(&corners, min_m) else {
                    continue;
                };
                if z_lo > max_m {
                    continue;
                }
                let (tx0, ty0) = ranges.tile_coords(bounds[0], bounds[2]);
                let (tx1, ty1) = ranges.tile_coords(bounds[1], bounds[3]);
                let outside = tx1 < 0.0
                    || ty1 < 0.0
                    || tx0 >= ranges.tiles_x as f32
                    || ty0 >= ranges.tiles_y as f32;
                if outside || !has_observed_negative(block) {
                    continue;
                }
                marched.push((*index, &**block));
                ranges.splat(bounds, z_lo, z_hi);
            }
            (ranges, marched)
        })
        .reduce(empty, |(a, mut marched_a), (b, marched_b)| {
            marched_a.extend(marched_b);
            (a.merge(&b), marched_a)
        });
    let mut map = BlockMap::with_capacity_and_hasher(marched.len(), Default::default());
    map.extend(marched);
    (ranges, map)
}
