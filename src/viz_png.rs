//! A top-down picture of the map for users without a viewer: an
//! orthographic view from above (world z up) that rasterises the mesh
//! triangles with a z-buffer and draws object footprints as rectangles,
//! written as a PNG.
//!
//! Always compiled (it needs only the `image` crate, not the `rerun`
//! feature). Inputs are plain structure-of-arrays slices ([`MeshSlices`]) so
//! any mesh type can hand them over without copying.
//!
//! ```
//! use scenemap::viz_png::{render_top_down, MeshSlices, TopDownBox};
//! let positions_m = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
//! let colors = [[255, 0, 0]; 3];
//! let triangles = [[0, 1, 2]];
//! let mesh = MeshSlices::new(&positions_m, &triangles).with_colors(&colors);
//! let top = render_top_down(&mesh, &[], 0.05)?;
//! let (u, v) = top.pixel_of(0.2, 0.2).unwrap();
//! assert_eq!(top.image.get_pixel(u, v).0, [255, 0, 0]);
//! # Ok::<(), scenemap::Error>(())
//! ```

use std::path::Path;

use image::{Rgb, RgbImage};

use crate::error::{Error, Result};
use crate::scene_graph::GravityAlignedBox;

/// Colour of pixels no triangle covers.
pub const BACKGROUND: [u8; 3] = [255, 255, 255];

/// Vertex colour used when a mesh has no colours.
pub const DEFAULT_MESH_COLOR: [u8; 3] = [180, 180, 180];

/// Empty border around the drawing, pixels.
const MARGIN_PX: f64 = 2.0;

/// Largest image [`render_top_down`] agrees to allocate (about 150 MB RGB).
pub const MAX_PIXELS: u64 = 50_000_000;

/// A borrowed triangle mesh in structure-of-arrays form (positions in metres,
/// world frame, z up).
#[derive(Clone, Copy, Debug)]
pub struct MeshSlices<'a> {
    /// Vertex positions, m.
    pub positions_m: &'a [[f32; 3]],
    /// Per-vertex colours: empty, or one per position.
    pub colors: &'a [[u8; 3]],
    /// Optional per-vertex unit normals (one per position).
    pub normals: Option<&'a [[f32; 3]]>,
    /// Triangles as indices into `positions_m`.
    pub triangles: &'a [[u32; 3]],
}

impl<'a> MeshSlices<'a> {
    /// A mesh without colours or normals.
    pub fn new(positions_m: &'a [[f32; 3]], triangles: &'a [[u32; 3]]) -> Self {
        Self {
            positions_m,
            colors: &[],
            normals: None,
            triangles,
        }
    }

    /// The empty mesh.
    pub fn empty() -> Self {
        Self::new(&[], &[])
    }

    /// Sets per-vertex colours.
    pub fn with_colors(mut self, colors: &'a [[u8; 3]]) -> Self {
        self.colors = colors;
        self
    }

    /// Sets per-vertex normals.
    pub fn with_normals(mut self, normals: &'a [[f32; 3]]) -> Self {
        self.normals = Some(normals);
        self
    }

    /// True if there is no triangle.
    pub fn is_empty(&self) -> bool {
        self.triangles.is_empty()
    }

    /// Checks that colours and normals match the positions and that every
    /// triangle index is in range.
    pub fn validate(&self) -> Result<()> {
        let n = self.positions_m.len();
        if !self.colors.is_empty() && self.colors.len() != n {
            return Err(Error::InvalidArgument(format!(
                "mesh has {n} positions but {} colours",
                self.colors.len()
            )));
        }
        if let Some(normals) = self.normals {
            if normals.len() != n {
                return Err(Error::InvalidArgument(format!(
                    "mesh has {n} positions but {} normals",
                    normals.len()
                )));
            }
        }
        if let Some((t, tri)) = self
            .triangles
            .iter()
            .enumerate()
            .find(|(_, tri)| tri.iter().any(|&i| i as usize >= n))
        {
            return Err(Error::InvalidArgument(format!(
                "mesh triangle {t} {tri:?} refers to a vertex beyond the {n} positions"
            )));
        }
        Ok(())
    }

    /// Colour of vertex `i` ([`DEFAULT_MESH_COLOR`] without colours).
    fn color(&self, i: usize) -> [u8; 3] {
        self.colors.get(i).copied().unwrap_or(DEFAULT_MESH_COLOR)
    }
}

/// An object footprint to draw as a rectangle outline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TopDownBox {
    /// The box (only its footprint: centre x/y, half extents x/y and yaw).
    pub bounding_box: GravityAlignedBox,
    /// Outline colour.
    pub color: [u8; 3],
}

/// A rendered top view and the mapping from world x/y to pixels.
///
/// Pixel `(u, v)` covers world `x ∈ [origin_x_m + u·r, origin_x_m + (u+1)·r)`
/// and `y ∈ (origin_y_m − (v+1)·r, origin_y_m − v·r]` with `r` the resolution:
/// +x is to the right, +y is up in the picture.
#[derive(Clone, Debug)]
pub struct TopDownImage {
    /// The picture.
    pub image: RgbImage,
    /// World x of the left edge of the picture, m.
    pub origin_x_m: f64,
    /// World y of the top edge of the picture, m.
    pub origin_y_m: f64,
    /// Size of one pixel, m.
    pub resolution_m_per_px: f64,
    /// Triangles drawn (non-degenerate from above, finite).
    pub triangles_drawn: usize,
}

impl TopDownImage {
    /// The pixel containing world point `(x_m, y_m)`, if inside the picture.
    pub fn pixel_of(&self, x_m: f64, y_m: f64) -> Option<(u32, u32)> {
        let (u, v) = self.continuous_pixel(x_m, y_m);
        let (u, v) = (u.floor(), v.floor());
        (u >= 0.0
            && v >= 0.0
            && u < f64::from(self.image.width())
            && v < f64::from(self.image.height()))
        .then_some((u as u32, v as u32))
    }

    /// Continuous pixel coordinates (pixel `(u, v)` spans `[u, u+1)`).
    fn continuous_pixel(&self, x_m: f64, y_m: f64) -> (f64, f64) {
        (
            (x_m - self.origin_x_m) / self.resolution_m_per_px,
            (self.origin_y_m - y_m) / self.resolution_m_per_px,
        )
    }
}

/// A distinct, stable colour for an object id (golden-angle hue walk), so the
/// PNG and the Rerun boxes of the same object match.
pub fn object_color(id: u64) -> [u8; 3] {
    // Golden-angle hue steps spread consecutive ids around the colour wheel.
    let hue = ((id as f64) * 137.507_764_050_037_85).rem_euclid(360.0);
    hsv_to_rgb(hue, 0.85, 0.85)
}

/// HSV (hue in degrees, s and v in [0, 1]) to 8-bit RGB.
fn hsv_to_rgb(hue_deg: f64, s: f64, v: f64) -> [u8; 3] {
    let c = v * s;
    let h = hue_deg / 60.0;
    let x = c * (1.0 - (h.rem_euclid(2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    let to_u8 = |f: f64| ((f + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    [to_u8(r), to_u8(g), to_u8(b)]
}

/// The four footprint corners of a box, counter-clockwise, world x/y.
fn footprint_corners(b: &GravityAlignedBox) -> [[f64; 2]; 4] {
    let (s, c) = b.yaw_rad.sin_cos();
    let (hx, hy) = (b.half_extents_m.x, b.half_extents_m.y);
    [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)].map(|(sx, sy)| {
        let (lx, ly) = (sx * hx, sy * hy);
        [
            b.center_m.x + c * lx - s * ly,
            b.center_m.y + s * lx + c * ly,
        ]
    })
}

/// Renders the mesh seen from above (orthographic, looking down −z) and the
/// box footprints at `resolution_m_per_px`.
///
/// Each pixel shows the highest triangle covering its centre (z-buffer),
/// coloured by barycentric interpolation of the vertex colours and shaded by
/// how horizontal the triangle is (`0.55 + 0.45·|n_z|`), so walls and steps
/// stay visible. Triangles with a non-finite vertex are skipped. Boxes are
/// drawn on top as 2-pixel outlines. Labels are not drawn (no font).
pub fn render_top_down(
    mesh: &MeshSlices<'_>,
    boxes: &[TopDownBox],
    resolution_m_per_px: f64,
) -> Result<TopDownImage> {
    if !(resolution_m_per_px.is_finite() && resolution_m_per_px > 0.0) {
        return Err(Error::InvalidArgument(format!(
            "top-down resolution must be a positive number of metres per pixel, got {resolution_m_per_px}"
        )));
    }
    mesh.validate()?;

    // Extent: every finite vertex used by a triangle, and every box corner.
    let mut min = [f64::INFINITY; 2];
    let mut max = [f64::NEG_INFINITY; 2];
    let mut extend = |x: f64, y: f64| {
        if x.is_finite() && y.is_finite() {
            min = [min[0].min(x), min[1].min(y)];
            max = [max[0].max(x), max[1].max(y)];
        }
    };
    for tri in mesh.triangles {
        for &i in tri {
            let p = mesh.positions_m[i as usize];
            extend(f64::from(p[0]), f64::from(p[1]));
        }
    }
    for b in boxes {
        for [x, y] in footprint_corners(&b.bounding_box) {
            extend(x, y);
        }
    }
    if !(min[0].is_finite() && min[1].is_finite()) {
        return Err(Error::InvalidArgument(
            "top-down picture: no finite triangle or box to draw".into(),
        ));
    }
    let width = ((max[0] - min[0]) / resolution_m_per_px + 2.0 * MARGIN_PX).ceil();
    let height = ((max[1] - min[1]) / resolution_m_per_px + 2.0 * MARGIN_PX).ceil();
    if width * height > MAX_PIXELS as f64 {
        return Err(Error::InvalidArgument(format!(
            "top-down picture of {:.1} m x {:.1} m at {resolution_m_per_px} m/px would be {width} x {height} pixels (limit {MAX_PIXELS}); use a coarser resolution",
            max[0] - min[0],
            max[1] - min[1]
        )));
    }
    let (width, height) = (width.max(1.0) as u32, height.max(1.0) as u32);
    let mut top = TopDownImage {
        image: RgbImage::from_pixel(width, height, Rgb(BACKGROUND)),
        origin_x_m: min[0] - MARGIN_PX * resolution_m_per_px,
        origin_y_m: max[1] + MARGIN_PX * resolution_m_per_px,
        resolution_m_per_px,
        triangles_drawn: 0,
    };
    let mut z_buffer = vec![f32::NEG_INFINITY; width as usize * height as usize];
    for tri in mesh.triangles {
        if rasterize_triangle(&mut top, &mut z_buffer, mesh, tri) {
            top.triangles_drawn += 1;
        }
    }
    for b in boxes {
        let corners = footprint_corners(&b.bounding_box);
        for k in 0..4 {
            draw_thick_line(&mut top, corners[k], corners[(k + 1) % 4], b.color);
        }
    }
    Ok(top)
}

/// Draws one triangle into the z-buffered image; false if it was skipped
/// (non-finite, or edge-on from above).
fn rasterize_triangle(
    top: &mut TopDownImage,
    z_buffer: &mut [f32],
    mesh: &MeshSlices<'_>,
    tri: &[u32; 3],
) -> bool {
    let idx = tri.map(|i| i as usize);
    let p = idx.map(|i| mesh.positions_m[i].map(f64::from));
    if p.iter().flatten().any(|c| !c.is_finite()) {
        return false;
    }
    // Screen positions (continuous pixel coordinates).
    let s = p.map(|q| top.continuous_pixel(q[0], q[1]));
    let edge = |a: (f64, f64), b: (f64, f64), c: (f64, f64)| {
        (b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0)
    };
    let area = edge(s[0], s[1], s[2]);
    if area.abs() < 1e-12 {
        return false;
    }
    // Shade by the face normal's vertical component.
    let e1 = [p[1][0] - p[0][0], p[1][1] - p[0][1], p[1][2] - p[0][2]];
    let e2 = [p[2][0] - p[0][0], p[2][1] - p[0][1], p[2][2] - p[0][2]];
    let n = [
        e1[1] * e2[2] - e1[2] * e2[1],
        e1[2] * e2[0] - e1[0] * e2[2],
        e1[0] * e2[1] - e1[1] * e2[0],
    ];
    let n_norm = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
    let shade = 0.55 + 0.45 * (n[2].abs() / n_norm.max(1e-300));
    let colors = idx.map(|i| mesh.color(i).map(f64::from));

    let (w, h) = (top.image.width(), top.image.height());
    let lo = |a: f64, b: f64, c: f64| a.min(b).min(c).floor().max(0.0) as u32;
    let hi =
        |a: f64, b: f64, c: f64, limit: u32| (a.max(b).max(c).ceil().max(0.0) as u32).min(limit);
    let (u0, u1) = (lo(s[0].0, s[1].0, s[2].0), hi(s[0].0, s[1].0, s[2].0, w));
    let (v0, v1) = (lo(s[0].1, s[1].1, s[2].1), hi(s[0].1, s[1].1, s[2].1, h));
    for v in v0..v1 {
        for u in u0..u1 {
            let c = (f64::from(u) + 0.5, f64::from(v) + 0.5);
            // Barycentric weights from edge functions, normalised by the
            // signed area so both windings are accepted.
            let b0 = edge(s[1], s[2], c) / area;
            let b1 = edge(s[2], s[0], c) / area;
            let b2 = 1.0 - b0 - b1;
            if b0 < 0.0 || b1 < 0.0 || b2 < 0.0 {
                continue;
            }
            let z = (b0 * p[0][2] + b1 * p[1][2] + b2 * p[2][2]) as f32;
            let k = v as usize * w as usize + u as usize;
            if z <= z_buffer[k] {
                continue;
            }
            z_buffer[k] = z;
            let rgb = [0, 1, 2].map(|ch| {
                let value = b0 * colors[0][ch] + b1 * colors[1][ch] + b2 * colors[2][ch];
                (value * shade).round().clamp(0.0, 255.0) as u8
            });
            top.image.put_pixel(u, v, Rgb(rgb));
        }
    }
    true
}

/// Draws a 2-pixel wide line between two world x/y points (DDA at half-pixel
/// steps; pixels outside the image are ignored).
fn draw_thick_line(top: &mut TopDownImage, a: [f64; 2], b: [f64; 2], color: [u8; 3]) {
    let pa = top.continuous_pixel(a[0], a[1]);
    let pb = top.continuous_pixel(b[0], b[1]);
    let steps = ((pb.0 - pa.0).abs().max((pb.1 - pa.1).abs()) * 2.0)
        .ceil()
        .max(1.0) as u32;
    let (w, h) = (i64::from(top.image.width()), i64::from(top.image.height()));
    for i in 0..=steps {
        let t = f64::from(i) / f64::from(steps);
        let x = pa.0 + t * (pb.0 - pa.0);
        let y = pa.1 + t * (pb.1 - pa.1);
        let (u, v) = (x.floor() as i64, y.floor() as i64);
        // Thicken towards the nearer neighbouring pixel in both directions.
        let du = if x - x.floor() < 0.5 { -1 } else { 1 };
        let dv = if y - y.floor() < 0.5 { -1 } else { 1 };
        for (uu, vv) in [(u, v), (u + du, v), (u, v + dv)] {
            if uu >= 0 && vv >= 0 && uu < w && vv < h {
                top.image.put_pixel(uu as u32, vv as u32, Rgb(color));
            }
        }
    }
}

/// [`render_top_down`], then writes the picture to `path` as a PNG.
pub fn render_top_down_png(
    path: impl AsRef<Path>,
    mesh: &MeshSlices<'_>,
    boxes: &[TopDownBox],
    resolution_m_per_px: f64,
) -> Result<TopDownImage> {
    let path = path.as_ref();
    let top = render_top_down(mesh, boxes, resolution_m_per_px)?;
    top.image
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| Error::image(path, format!("cannot write PNG: {e}")))?;
    Ok(top)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Point3, Vector3};

    const RED: [u8; 3] = [255, 0, 0];
    const GREEN: [u8; 3] = [0, 255, 0];
    const BLUE: [u8; 3] = [0, 0, 255];

    fn pixel(top: &TopDownImage, x: f64, y: f64) -> [u8; 3] {
        let (u, v) = top.pixel_of(x, y).unwrap();
        top.image.get_pixel(u, v).0
    }

    fn unit_box(cx: f64, cy: f64, yaw_rad: f64, color: [u8; 3]) -> TopDownBox {
        TopDownBox {
            bounding_box: GravityAlignedBox {
                center_m: Point3::new(cx, cy, 0.5),
                half_extents_m: Vector3::new(0.5, 0.5, 0.5),
                yaw_rad,
            },
            color,
        }
    }

    #[test]
    fn known_triangle_and_box_land_on_the_right_pixels() {
        let positions = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        let colors = [RED; 3];
        let triangles = [[0, 1, 2]];
        let mesh = MeshSlices::new(&positions, &triangles).with_colors(&colors);
        let top = render_top_down(&mesh, &[unit_box(3.0, 0.5, 0.0, BLUE)], 0.04).unwrap();
        assert_eq!(top.triangles_drawn, 1);
        // Extent x ∈ [0, 3.5], y ∈ [0, 1] plus a 2-pixel margin on each side.
        assert_eq!(top.image.width(), (3.5_f64 / 0.04 + 4.0).ceil() as u32);
        assert_eq!(top.image.height(), (1.0_f64 / 0.04 + 4.0).ceil() as u32);
        // Inside the triangle (flat: full colour), outside it (x + y > 1).
        assert_eq!(pixel(&top, 0.2, 0.2), RED);
        assert_eq!(pixel(&top, 0.1, 0.85), RED);
        assert_eq!(pixel(&top, 0.8, 0.8), BACKGROUND);
        assert_eq!(pixel(&top, 0.6, 0.6), BACKGROUND);
        // y up: the triangle's right angle is at the bottom-left of the image.
        let (u, v) = top.pixel_of(0.02, 0.02).unwrap();
        assert_eq!((u, v), (2, top.image.height() - 3));
        // The box outline: edges at x = 2.5, 3.5 and y = 0, 1; inside empty.
        for (x, y) in [(2.5, 0.5), (3.5, 0.5), (3.0, 0.0), (3.0, 1.0)] {
            assert_eq!(pixel(&top, x, y), BLUE, "edge point ({x}, {y})");
        }
        assert_eq!(pixel(&top, 3.0, 0.5), BACKGROUND);
        assert_eq!(pixel(&top, 2.0, 0.5), BACKGROUND);
    }

    #[test]
    fn z_buffer_keeps_the_highest_surface_in_any_order() {
        // A high red and a low green square-ish triangle over the same area.
        let positions = [
            [0.0, 0.0, 1.0],
            [1.0, 0.0, 1.0],
            [0.0, 1.0, 1.0],
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
        ];
        let colors = [RED, RED, RED, GREEN, GREEN, GREEN];
        for triangles in [[[0, 1, 2], [3, 4, 5]], [[3, 4, 5], [0, 2, 1]]] {
            let mesh = MeshSlices::new(&positions, &triangles).with_colors(&colors);
            let top = render_top_down(&mesh, &[], 0.05).unwrap();
            assert_eq!(pixel(&top, 0.3, 0.3), RED);
        }
    }

    #[test]
    fn rotated_box_and_shading_of_slopes() {
        // Box rotated by 45°: the midpoint of an edge of the rotated square
        // is on the outline, the unrotated edge midpoint is inside it.
        let top = render_top_down(
            &MeshSlices::empty(),
            &[unit_box(0.0, 0.0, std::f64::consts::FRAC_PI_4, BLUE)],
            0.01,
        )
        .unwrap();
        let r = 0.5 * std::f64::consts::FRAC_1_SQRT_2;
        assert_eq!(pixel(&top, r, r), BLUE);
        assert_eq!(pixel(&top, 0.5, 0.0), BACKGROUND);
        assert_eq!(
            pixel(&top, 0.5 * std::f64::consts::SQRT_2 - 0.005, 0.0),
            BLUE
        );

        // A 45° slope is darker than a flat triangle: 0.55 + 0.45·cos 45°.
        let positions = [[0.0, 0.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]];
        let colors = [[200, 200, 200]; 3];
        let triangles = [[0, 1, 2]];
        let mesh = MeshSlices::new(&positions, &triangles).with_colors(&colors);
        let top = render_top_down(&mesh, &[], 0.05).unwrap();
        let expected = (200.0 * (0.55 + 0.45 * std::f64::consts::FRAC_1_SQRT_2)).round() as u8;
        assert_eq!(pixel(&top, 0.2, 0.2), [expected; 3]);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let positions = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        let out_of_range = [[0, 1, 3]];
        let mesh = MeshSlices::new(&positions, &out_of_range);
        assert!(matches!(
            render_top_down(&mesh, &[], 0.05),
            Err(Error::InvalidArgument(_))
        ));
        let triangles = [[0, 1, 2]];
        let mesh = MeshSlices::new(&positions, &triangles);
        for resolution in [0.0, -1.0, f64::NAN] {
            assert!(render_top_down(&mesh, &[], resolution).is_err());
        }
        assert!(render_top_down(&mesh, &[], 1e-6).is_err()); // too many pixels
        assert!(render_top_down(&MeshSlices::empty(), &[], 0.05).is_err());
        let two_colors = [RED; 2];
        assert!(render_top_down(&mesh.with_colors(&two_colors), &[], 0.05).is_err());
        // A NaN vertex skips its triangle only.
        let nan = [[f32::NAN, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        let top = render_top_down(&MeshSlices::new(&nan, &triangles), &[], 0.05).unwrap();
        assert_eq!(top.triangles_drawn, 0);
    }

    #[test]
    fn png_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("top.png");
        let positions = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        let triangles = [[0, 1, 2]];
        let mesh = MeshSlices::new(&positions, &triangles);
        let top = render_top_down_png(
            &path,
            &mesh,
            &[unit_box(2.0, 2.0, 0.3, object_color(3))],
            0.05,
        )
        .unwrap();
        let back = image::open(&path).unwrap().to_rgb8();
        assert_eq!(back.dimensions(), top.image.dimensions());
        assert_eq!(back, top.image);
        assert_eq!(pixel(&top, 0.2, 0.2), DEFAULT_MESH_COLOR);
        assert!(render_top_down_png(dir.path().join("no/such/dir.png"), &mesh, &[], 0.05).is_err());
    }

    #[test]
    fn object_colors_are_distinct_for_neighbouring_ids() {
        for id in 0..50u64 {
            assert_ne!(object_color(id), object_color(id + 1));
        }
    }
}
