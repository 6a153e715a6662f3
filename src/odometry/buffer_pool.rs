//! Recycled per-pixel buffers for building pyramids frame after frame.
//!
//! A tracking pipeline builds two or three pyramids per frame (the frame's
//! own, one model view per tracking attempt) and drops as many: megabytes of
//! `Vec`s whose pages the allocator returns to the kernel and faults back in
//! (zeroed) on the next frame — measured on fr1_rpy, ~2000 page faults and
//! 5–8 % of the CPU in the kernel per frame. The pipeline instead gives the
//! pyramids it drops back to a [`BufferPool`], and the pyramid builders draw
//! their buffers from it. Buffers come back empty (`len() == 0`) and are
//! always filled completely, so results do not depend on what a buffer held.

use super::pyramid::{PyramidLevel, RgbdPyramid};

/// Most buffers a shelf keeps (a safety bound: a pipeline needs about a
/// dozen per element type in steady state, see [`BufferPool`]).
const MAX_BUFFERS_PER_SHELF: usize = 64;

/// Spare `Vec<T>`s, handed out best-fit by capacity.
#[derive(Debug)]
struct Shelf<T> {
    buffers: Vec<Vec<T>>,
}

impl<T> Default for Shelf<T> {
    fn default() -> Self {
        Self {
            buffers: Vec::new(),
        }
    }
}

impl<T> Shelf<T> {
    /// An empty vector with capacity for at least `len` elements: the
    /// smallest spare buffer that fits, else the largest one grown, else a
    /// new one.
    fn take(&mut self, len: usize) -> Vec<T> {
        let fitting = self
            .buffers
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        let chosen = fitting.or_else(|| {
            self.buffers
                .iter()
                .enumerate()
                .max_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i)
        });
        let mut buffer = match chosen {
            Some(i) => self.buffers.swap_remove(i),
            None => Vec::new(),
        };
        buffer.clear();
        buffer.reserve(len);
        buffer
    }

    /// Keeps `buffer` for a later [`Self::take`] (when the shelf is full,
    /// keeps the larger of it and the smallest spare buffer).
    fn give(&mut self, buffer: Vec<T>) {
        if buffer.capacity() == 0 {
            return;
        }
        if self.buffers.len() < MAX_BUFFERS_PER_SHELF {
            self.buffers.push(buffer);
            return;
        }
        let smallest = self
            .buffers
            .iter_mut()
            .min_by_key(|b| b.capacity())
            .filter(|b| b.capacity() < buffer.capacity());
        if let Some(slot) = smallest {
            *slot = buffer;
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buffers.len()
    }
}

/// Spare per-pixel buffers: scalar images (intensity, depth), 3-vector
/// images (vertices, normals) and 4-vector images (intensity gradients). Not shared between threads: one
/// pool per tracker.
#[derive(Debug, Default)]
pub(crate) struct BufferPool {
    scalars: Shelf<f32>,
    points: Shelf<[f32; 3]>,
    quads: Shelf<[f32; 4]>,
}

impl Clone for BufferPool {
    /// A clone starts with an empty pool (spare buffers are a cache).
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl BufferPool {
    /// An empty pool.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// An empty scalar buffer with capacity for `len` values.
    pub(crate) fn scalars(&mut self, len: usize) -> Vec<f32> {
        self.scalars.take(len)
    }

    /// An empty 3-vector buffer with capacity for `len` values.
    pub(crate) fn points(&mut self, len: usize) -> Vec<[f32; 3]> {
        self.points.take(len)
    }

    /// An empty 4-vector buffer with capacity for `len` values.
    pub(crate) fn quads(&mut self, len: usize) -> Vec<[f32; 4]> {
        self.quads.take(len)
    }

    /// Gives back a scalar buffer.
    pub(crate) fn give_scalars(&mut self, buffer: Vec<f32>) {
        self.scalars.give(buffer);
    }

    /// Gives back a 3-vector buffer.
    pub(crate) fn give_points(&mut self, buffer: Vec<[f32; 3]>) {
        self.points.give(buffer);
    }

    /// Gives back a 4-vector buffer.
    pub(crate) fn give_quads(&mut self, buffer: Vec<[f32; 4]>) {
        self.quads.give(buffer);
    }

    /// Gives back every buffer of a level.
    pub(crate) fn recycle_level(&mut self, level: PyramidLevel) {
        let PyramidLevel {
            camera: _,
            intensity,
            intensity_gradient,
            depth_m,
            vertices,
            normals,
        } = level;
        self.give_scalars(intensity);
        self.give_scalars(depth_m);
        self.give_quads(intensity_gradient);
        self.give_points(vertices);
        self.give_points(normals);
    }

    /// Gives back every buffer of a pyramid that is no longer needed.
    pub(crate) fn recycle(&mut self, pyramid: RgbdPyramid) {
        for level in pyramid.levels {
            self.recycle_level(level);
        }
    }

    /// Spare buffers held (scalar, 3-vector).
    #[cfg(test)]
    pub(crate) fn spare_counts(&self) -> (usize, usize) {
        (self.scalars.len(), self.points.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::PinholeCamera;
    use crate::odometry::pyramid::assert_same_levels;
    use crate::odometry::PyramidConfig;

    #[test]
    fn hands_out_the_smallest_buffer_that_fits() {
        let mut pool = BufferPool::new();
        pool.give_scalars(Vec::with_capacity(100));
        pool.give_scalars(Vec::with_capacity(10));
        pool.give_scalars(Vec::with_capacity(1000));
        let mut b = pool.scalars(50);
        assert!(b.is_empty() && (100..1000).contains(&b.capacity()));
        b.push(1.0);
        pool.give_scalars(b);
        // Nothing fits: the largest is grown, no buffer is added.
        let big = pool.scalars(5000);
        assert!(big.is_empty() && big.capacity() >= 5000);
        assert_eq!(pool.spare_counts(), (2, 0));
        // Reused buffers come back empty.
        assert!(pool.scalars(100).is_empty());
    }

    #[test]
    fn a_full_shelf_keeps_the_largest_buffers() {
        let mut pool = BufferPool::new();
        for _ in 0..MAX_BUFFERS_PER_SHELF {
            pool.give_points(Vec::with_capacity(8));
        }
        pool.give_points(Vec::with_capacity(64));
        pool.give_points(Vec::with_capacity(2));
        assert_eq!(pool.spare_counts(), (0, MAX_BUFFERS_PER_SHELF));
        // The 64 replaced one 8; the 2 was dropped.
        assert_eq!(pool.points(1).capacity(), 8);
        assert_eq!(pool.points(9).capacity(), 64);
    }

    /// A tilted plane with a hole and an edge, `w × h`, with a NaN
    /// intensity (as undistortion leaves outside the image).
    fn scene(w: u32, h: u32) -> (PinholeCamera, Vec<f32>, Vec<f32>) {
        let camera = PinholeCamera::new(
            w,
            h,
            0.9 * f64::from(w),
            0.9 * f64::from(w),
            0.5 * f64::from(w) - 0.5,
            0.5 * f64::from(h) - 0.5,
        )
        .unwrap();
        let n = (w * h) as usize;
        let (mut depth, mut intensity) = (vec![0.0f32; n], vec![0.0f32; n]);
        for i in 0..n {
            let (u, v) = ((i % w as usize) as f32, (i / w as usize) as f32);
            let x = (f64::from(u) - camera.cx) / camera.fx;
            depth[i] = (2.0 / (1.0 - 0.5 * x)) as f32 + if u > 0.7 * w as f32 { 0.8 } else { 0.0 };
            intensity[i] = u / w as f32 + 0.01 * (v * 0.7).sin();
        }
        depth[5 * w as usize + 7] = 0.0;
        intensity[3 * w as usize + 2] = f32::NAN;
        (camera, intensity, depth)
    }

    /// Oracle: pyramids built from a pool holding buffers of other sizes
    /// and stale contents (including a recycled pyramid of another camera)
    /// equal freshly built ones bit for bit.
    #[test]
    fn pyramids_built_from_recycled_buffers_equal_fresh_ones() {
        let config = PyramidConfig {
            levels: 3,
            ..PyramidConfig::default()
        };
        let mut pool = BufferPool::new();
        for len in [7, 300, 5000, 20_000] {
            pool.give_scalars(vec![f32::NAN; len]);
            pool.give_scalars(vec![7.0; len]);
            pool.give_points(vec![[1.0, f32::NAN, -3.0]; len]);
        }
        // A bigger pyramid first, then its buffers recycled for smaller ones.
        let (big, big_intensity, big_depth) = scene(96, 80);
        let pyramid = RgbdPyramid::from_depth_intensity_from_level_pooled(
            &big,
            big_intensity,
            big_depth,
            &config,
            0,
            &mut pool,
        )
        .unwrap();
        pool.recycle(pyramid);
        let (camera, intensity, depth) = scene(64, 48);
        for first in 0..3 {
            let fresh = RgbdPyramid::from_depth_intensity_from_level(
                &camera,
                intensity.clone(),
                depth.clone(),
                &config,
                first,
            )
            .unwrap();
            let pooled = RgbdPyramid::from_depth_intensity_from_level_pooled(
                &camera,
                intensity.clone(),
                depth.clone(),
                &config,
                first,
                &mut pool,
            )
            .unwrap();
            assert_same_levels(&pooled.levels, &fresh.levels);
            pool.recycle(pooled);
        }
        // A model view: the level-0 vertices of the scene with some normals.
        let frame =
            RgbdPyramid::from_depth_intensity(&camera, intensity.clone(), depth, &config).unwrap();
        let level = &frame.levels[0];
        let mut normals = level.normals.clone();
        normals[100] = [0.0, 0.0, 1.0];
        let fresh = RgbdPyramid::from_model_view(
            &camera,
            &level.vertices,
            &normals,
            intensity.clone(),
            &config,
        )
        .unwrap();
        for _ in 0..2 {
            let pooled = RgbdPyramid::from_model_view_pooled(
                &camera,
                &level.vertices,
                &normals,
                intensity.clone(),
                &config,
                &mut pool,
            )
            .unwrap();
            assert_same_levels(&pooled.levels, &fresh.levels);
            pool.recycle(pooled);
        }
    }
}
