//! Per-camera lookup tables shared by the integrator and the raycaster,
//! computed once per camera (undistortion is iterative, ~10 ms per image):
//!
//! * the undistorted normalised ray `(x, y)` of every pixel;
//! * a *virtual pinhole grid*: an undistorted image with the camera's focal
//!   lengths covering every pixel's ray, whose cells store the index of the
//!   real (distorted) pixel nearest to the cell centre. Projecting a voxel is
//!   then a pinhole projection plus one table read instead of the
//!   Brown–Conrady polynomial per voxel (the usual "undistortion map" of
//!   OpenCV `initUndistortRectifyMap`);
//! * for block allocation, the bounding box of the normalised rays of every
//!   8×8 pixel tile.

use std::sync::Arc;

use nalgebra::Vector2;

use crate::geometry::PinholeCamera;

/// Pixels per tile edge of [`CameraTables::tile_ray_bounds`].
pub(crate) const TILE_PX: usize = 8;

/// Marks a virtual-grid cell whose centre maps outside the real image.
pub(crate) const NO_PIXEL: u32 = u32::MAX;

/// Bounds of normalised ray coordinates: `[x_min, x_max, y_min, y_max]`.
pub(crate) type RayBounds = [f32; 4];

/// Lookup tables of one camera (see the module docs).
#[derive(Debug)]
pub(crate) struct CameraTables {
    /// Undistorted normalised ray per pixel, row-major; NaN where
    /// undistortion failed.
    pub rays: Vec<[f32; 2]>,
    /// Normalised coordinates of the centre of virtual cell (0, 0).
    pub virtual_origin: [f32; 2],
    /// Virtual grid size in cells.
    pub virtual_width: usize,
    /// Virtual grid size in cells.
    pub virtual_height: usize,
    /// Real pixel index nearest to each virtual cell centre, or [`NO_PIXEL`].
    pub virtual_to_pixel: Vec<u32>,
    /// Focal lengths `(fx, fy)`: virtual cells per unit of normalised
    /// coordinate.
    pub focal: [f32; 2],
    /// Tiles per row / column of the real image.
    pub tiles_x: usize,
    /// Tiles per column.
    pub tiles_y: usize,
    /// Ray bounds of each 8×8 tile (row-major over tiles); empty bounds
    /// (`x_min > x_max`) when no pixel of the tile has a ray.
    pub tile_ray_bounds: Vec<RayBounds>,
}

impl CameraTables {
    fn new(camera: &PinholeCamera) -> Self {
        let (width, height) = (camera.width as usize, camera.height as usize);
        let rays = camera.ray_table();
        let mut bounds = [
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        let tiles_x = width.div_ceil(TILE_PX);
        let tiles_y = height.div_ceil(TILE_PX);
        let mut tile_ray_bounds = vec![bounds; tiles_x * tiles_y];
        for (i, ray) in rays.iter().enumerate() {
            if ray[0].is_nan() || ray[1].is_nan() {
                continue;
            }
            let (u, v) = (i % width, i / width);
            for b in [
                &mut bounds,
                &mut tile_ray_bounds[(v / TILE_PX) * tiles_x + u / TILE_PX],
            ] {
                b[0] = b[0].min(ray[0]);
                b[1] = b[1].max(ray[0]);
                b[2] = b[2].min(ray[1]);
                b[3] = b[3].max(ray[1]);
            }
        }
        let (fx, fy) = (camera.fx as f32, camera.fy as f32);
        let (virtual_origin, virtual_width, virtual_height) = if bounds[0] <= bounds[1] {
            // One cell of margin on each side so rounding never leaves the grid
            // for a voxel that projects into the real image.
            let origin = [bounds[0] - 1.0 / fx, bounds[2] - 1.0 / fy];
            let w = ((bounds[1] - origin[0]) * fx).ceil() as usize + 2;
            let h = ((bounds[3] - origin[1]) * fy).ceil() as usize + 2;
            (origin, w, h)
        } else {
            ([0.0, 0.0], 0, 0)
        };
        let mut virtual_to_pixel = vec![NO_PIXEL; virtual_width * virtual_height];
        for (k, cell) in virtual_to_pixel.iter_mut().enumerate() {
            let (cu, cv) = (k % virtual_width, k / virtual_width);
            let xy = Vector2::new(
                f64::from(virtual_origin[0]) + cu as f64 / camera.fx,
                f64::from(virtual_origin[1]) + cv as f64 / camera.fy,
            );
            let pixel = camera.normalized_to_pixel(xy);
            // Nearest pixel centre (centres at integer coordinates).
            let (u, v) = ((pixel.x + 0.5).floor(), (pixel.y + 0.5).floor());
            if u >= 0.0 && v >= 0.0 && u < width as f64 && v < height as f64 {
                *cell = (v as usize * width + u as usize) as u32;
            }
        }
        Self {
            rays,
            virtual_origin,
            focal: [fx, fy],
            virtual_width,
            virtual_height,
            virtual_to_pixel,
            tiles_x,
            tiles_y,
            tile_ray_bounds,
        }
    }
}

/// [`CameraTables`] cached for the last camera seen.
#[derive(Clone, Debug, Default)]
pub(crate) struct CameraTableCache {
    cached: Option<(PinholeCamera, Arc<CameraTables>)>,
}

impl CameraTableCache {
    pub(crate) fn tables(&mut self, camera: &PinholeCamera) -> Arc<CameraTables> {
        if let Some((c, tables)) = &self.cached {
            if c == camera {
                return Arc::clone(tables);
            }
        }
        let tables = Arc::new(CameraTables::new(camera));
        self.cached = Some((*camera, Arc::clone(&tables)));
        tables
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Point3;

    #[test]
    fn virtual_grid_finds_the_projected_pixel_within_one_pixel() {
        // Oracle: the exact distorted projection of points spread over the
        // field of view.
        let camera = PinholeCamera::tum_freiburg1();
        let tables = CameraTableCache::default().tables(&camera);
        let (fx, fy) = (camera.fx as f32, camera.fy as f32);
        let mut checked = 0;
        for i in 0..40 {
            for j in 0..30 {
                let p = Point3::new(
                    -0.62 + 0.031 * f64::from(i),
                    -0.47 + 0.031 * f64::from(j),
                    1.0,
                );
                let Some(px) = camera.project(&p) else {
                    continue;
                };
                if !camera.contains(&px) {
                    continue;
                }
                let cu = ((p.x as f32 - tables.virtual_origin[0]) * fx + 0.5).floor() as usize;
                let cv = ((p.y as f32 - tables.virtual_origin[1]) * fy + 0.5).floor() as usize;
                assert!(cu < tables.virtual_width && cv < tables.virtual_height);
                let pixel = tables.virtual_to_pixel[cv * tables.virtual_width + cu];
                assert_ne!(pixel, NO_PIXEL, "{p:?}");
                let (u, v) = (pixel as usize % 640, pixel as usize / 640);
                assert!((u as f64 - px.x).abs() <= 1.2 && (v as f64 - px.y).abs() <= 1.2);
                checked += 1;
            }
        }
        assert!(checked > 900);
    }
}
