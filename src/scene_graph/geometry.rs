//! Point-cloud geometry for the scene graph: gravity-aware support planes,
//! Euclidean clustering and gravity-aligned bounding boxes.
//!
//! World frame is z up. Points and normals come from the map's surface
//! (mesh vertices or zero-crossing voxels).

use std::collections::{HashMap, VecDeque};

use kiddo::{ImmutableKdTree, SquaredEuclidean};
use nalgebra::{Point2, Point3, Vector2, Vector3};
use serde::{Deserialize, Serialize};

use crate::scene_graph::GravityAlignedBox;

/// Settings of support-plane detection.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlaneConfig {
    /// Inlier distance from the plane, m.
    pub distance_tolerance_m: f64,
    /// Maximum angle between a point normal and world up, degrees.
    pub normal_tolerance_deg: f64,
    /// Minimum supporting points of one plane patch.
    pub min_inliers: usize,
    /// Grid cell used to split a plane into connected patches, m.
    pub patch_cell_m: f64,
    /// Maximum number of planes.
    pub max_planes: usize,
}

impl Default for PlaneConfig {
    fn default() -> Self {
        Self {
            distance_tolerance_m: 0.02,
            normal_tolerance_deg: 15.0,
            min_inliers: 50,
            patch_cell_m: 0.06,
            max_planes: 12,
        }
    }
}

/// A horizontal support surface patch.
#[derive(Clone, Debug, PartialEq)]
pub struct HorizontalPlane {
    /// Plane height (world z), m.
    pub height_m: f64,
    /// Indices of the inlier points.
    pub inliers: Vec<usize>,
    /// Extent of the patch (zero height).
    pub extent: GravityAlignedBox,
}

/// Finds horizontal support planes (floor, table tops, shelf boards).
///
/// With gravity known a horizontal plane has a single parameter (its
/// height), so one-point RANSAC can test *every* up-facing point as a
/// hypothesis: the consensus of all hypotheses is a height histogram with
/// bin = tolerance, scored over ±1 bin. The best height is refined by the
/// inlier mean, its inliers are split into connected patches on a 2-D grid
/// (two tables at the same height are two surfaces), and removed; repeat.
pub fn detect_horizontal_planes(
    points_m: &[Point3<f32>],
    normals: &[Vector3<f32>],
    config: &PlaneConfig,
) -> Vec<HorizontalPlane> {
    let cos_tol = config.normal_tolerance_deg.to_radians().cos() as f32;
    let tol = config.distance_tolerance_m;
    let mut remaining: Vec<usize> = (0..points_m.len().min(normals.len()))
        .filter(|&i| normals[i].z >= cos_tol && points_m[i].z.is_finite())
        .collect();
    let mut planes = Vec::new();
    while planes.len() < config.max_planes && remaining.len() >= config.min_inliers {
        let mut histogram: HashMap<i64, usize> = HashMap::new();
        for &i in &remaining {
            *histogram
                .entry((f64::from(points_m[i].z) / tol).floor() as i64)
                .or_insert(0) += 1;
        }
        let Some((best_bin, _)) = histogram
            .keys()
            .map(|&b| {
                let votes: usize = (b - 1..=b + 1).filter_map(|k| histogram.get(&k)).sum();
                (b, votes)
            })
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        else {
            break;
        };
        let centre = (best_bin as f64 + 0.5) * tol;
        let near: Vec<usize> = remaining
            .iter()
            .copied()
            .filter(|&i| (f64::from(points_m[i].z) - centre).abs() <= 1.5 * tol)
            .collect();
        let height =
            near.iter().map(|&i| f64::from(points_m[i].z)).sum::<f64>() / near.len().max(1) as f64;
        let inliers: Vec<usize> = remaining
            .iter()
            .copied()
            .filter(|&i| (f64::from(points_m[i].z) - height).abs() <= tol)
            .collect();
        if inliers.len() < config.min_inliers {
            break;
        }
        remaining.retain(|i| inliers.binary_search(i).is_err());
        for patch in grid_components(points_m, &inliers, config.patch_cell_m) {
            if patch.len() < config.min_inliers {
                continue;
            }
            let extent = gravity_aligned_box(patch.iter().map(|&i| points_m[i]));
            planes.push(HorizontalPlane {
                height_m: height,
                inliers: patch,
                extent,
            });
        }
    }
    planes.sort_by_key(|p| std::cmp::Reverse(p.inliers.len()));
    planes
}

/// A vertical plane (wall candidate): `normal · p = offset_m`, normal horizontal.
#[derive(Clone, Debug, PartialEq)]
pub struct VerticalPlane {
    /// Unit horizontal normal.
    pub normal: Vector3<f64>,
    /// Plane offset along the normal, m.
    pub offset_m: f64,
    /// Indices of the inlier points.
    pub inliers: Vec<usize>,
    /// Horizontal extent of the inliers along the plane, m.
    pub width_m: f64,
    /// Vertical extent of the inliers, m.
    pub height_m: f64,
}

/// Finds large vertical planes (walls): a Hough vote over (normal azimuth,
/// offset) of every point with a horizontal normal — with gravity known a
/// vertical plane has two parameters — then inliers within the tolerance
/// whose normal agrees (either sign), kept when at least `min_width_m` wide
/// and `min_height_m` tall.
pub fn detect_vertical_planes(
    points_m: &[Point3<f32>],
    normals: &[Vector3<f32>],
    config: &PlaneConfig,
    min_width_m: f64,
    min_height_m: f64,
) -> Vec<VerticalPlane> {
    let sin_tol = config.normal_tolerance_deg.to_radians().sin() as f32;
    let cos_tol = config.normal_tolerance_deg.to_radians().cos();
    let tol = config.distance_tolerance_m;
    let angle_bin = 2.0_f64.to_radians();
    let mut remaining: Vec<usize> = (0..points_m.len().min(normals.len()))
        .filter(|&i| normals[i].z.abs() <= sin_tol && points_m[i].x.is_finite())
        .collect();
    let mut planes = Vec::new();
    for _ in 0..config.max_planes {
        if remaining.len() < config.min_inliers {
            break;
        }
        // Canonical normal: azimuth in [0, π) (a plane and its flip are one plane).
        let canonical = |i: usize| {
            let n = normals[i];
            let mut az = f64::from(n.y).atan2(f64::from(n.x));
            if az < 0.0 {
                az += std::f64::consts::PI;
            }
            if az >= std::f64::consts::PI {
                az -= std::f64::consts::PI;
            }
            let normal = Vector3::new(az.cos(), az.sin(), 0.0);
            let p = points_m[i];
            (
                az,
                normal.dot(&Vector3::new(f64::from(p.x), f64::from(p.y), 0.0)),
            )
        };
        let mut votes: HashMap<(i64, i64), usize> = HashMap::new();
        for &i in &remaining {
            let (az, d) = canonical(i);
            *votes
                .entry(((az / angle_bin).floor() as i64, (d / tol).floor() as i64))
                .or_insert(0) += 1;
        }
        let Some((&(ab, db), _)) = votes.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        else {
            break;
        };
        let az = (ab as f64 + 0.5) * angle_bin;
        let mut normal = Vector3::new(az.cos(), az.sin(), 0.0);
        let mut offset = (db as f64 + 0.5) * tol;
        let select = |normal: &Vector3<f64>, offset: f64| -> Vec<usize> {
            remaining
                .iter()
                .copied()
                .filter(|&i| {
                    let p = points_m[i];
                    let n = normals[i].cast::<f64>();
                    (normal.dot(&Vector3::new(f64::from(p.x), f64::from(p.y), 0.0)) - offset).abs()
                        <= 1.5 * tol
                        && normal.dot(&n).abs() >= cos_tol
                })
                .collect()
        };
        let mut inliers = select(&normal, offset);
        // The Hough bin is 2° wide: a wall's far end is off by ~1 cm per
        // half metre. Refit the line through the inliers (total least
        // squares in xy) and re-select, twice.
        for _ in 0..2 {
            let Some((n, d)) = fit_vertical_plane(points_m, &inliers) else {
                break;
            };
            let refit = select(&n, d);
            if refit.len() < inliers.len() {
                break;
            }
            (normal, offset, inliers) = (n, d, refit);
        }
        if inliers.len() < config.min_inliers {
            break;
        }
        remaining.retain(|i| inliers.binary_search(i).is_err());
        let along = Vector3::new(-normal.y, normal.x, 0.0);
        let (mut a_lo, mut a_hi, mut z_lo, mut z_hi) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for &i in &inliers {
            let p = points_m[i].cast::<f64>();
            let a = along.dot(&p.coords);
            a_lo = a_lo.min(a);
            a_hi = a_hi.max(a);
            z_lo = z_lo.min(p.z);
            z_hi = z_hi.max(p.z);
        }
        let (width, height) = (a_hi - a_lo, z_hi - z_lo);
        if width >= min_width_m && height >= min_height_m {
            planes.push(VerticalPlane {
                normal,
                offset_m: offset,
                inliers,
                width_m: width,
                height_m: height,
            });
        }
    }
    planes
}

/// Total-least-squares vertical plane through points (a line in xy): the
/// normal is the eigenvector of the smaller eigenvalue of the 2×2 scatter.
fn fit_vertical_plane(points_m: &[Point3<f32>], indices: &[usize]) -> Option<(Vector3<f64>, f64)> {
    if indices.len() < 2 {
        return None;
    }
    let n = indices.len() as f64;
    let (mut mx, mut my) = (0.0, 0.0);
    for &i in indices {
        mx += f64::from(points_m[i].x);
        my += f64::from(points_m[i].y);
    }
    let (mx, my) = (mx / n, my / n);
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for &i in indices {
        let dx = f64::from(points_m[i].x) - mx;
        let dy = f64::from(points_m[i].y) - my;
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    // Direction of the line: angle of the major axis.
    let theta = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    let normal = Vector3::new(-theta.sin(), theta.cos(), 0.0);
    normal
        .iter()
        .all(|c| c.is_finite())
        .then(|| (normal, normal.x * mx + normal.y * my))
}

/// Splits `indices` into 8-connected components of occupied cells on a
/// horizontal grid of `cell_m`.
fn grid_components(points_m: &[Point3<f32>], indices: &[usize], cell_m: f64) -> Vec<Vec<usize>> {
    let key = |p: &Point3<f32>| {
        (
            (f64::from(p.x) / cell_m).floor() as i64,
            (f64::from(p.y) / cell_m).floor() as i64,
        )
    };
    let mut cells: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
    for &i in indices {
        cells.entry(key(&points_m[i])).or_default().push(i);
    }
    let mut seen: HashMap<(i64, i64), bool> = cells.keys().map(|&k| (k, false)).collect();
    let mut components = Vec::new();
    let mut keys: Vec<(i64, i64)> = cells.keys().copied().collect();
    keys.sort_unstable();
    for start in keys {
        if seen.get(&start).copied().unwrap_or(true) {
            continue;
        }
        let mut queue = VecDeque::from([start]);
        seen.insert(start, true);
        let mut members = Vec::new();
        while let Some(c) = queue.pop_front() {
            if let Some(pts) = cells.get(&c) {
                members.extend_from_slice(pts);
            }
            for dx in -1..=1 {
                for dy in -1..=1 {
                    let n = (c.0 + dx, c.1 + dy);
                    if seen.get(&n) == Some(&false) {
                        seen.insert(n, true);
                        queue.push_back(n);
                    }
                }
            }
        }
        members.sort_unstable();
        components.push(members);
    }
    components
}

/// Euclidean clustering (PCL-style region growing): points closer than
/// `radius_m` belong to the same cluster. Clusters smaller than
/// `min_points` are dropped. Uses a k-d tree for the radius queries.
pub fn euclidean_clusters(
    points_m: &[Point3<f32>],
    radius_m: f32,
    min_points: usize,
) -> Vec<Vec<usize>> {
    let coords: Vec<[f32; 3]> = points_m.iter().map(|p| [p.x, p.y, p.z]).collect();
    if coords.is_empty() {
        return Vec::new();
    }
    let Ok(tree) = ImmutableKdTree::<f32, 3>::new_from_slice(&coords) else {
        return Vec::new();
    };
    let mut label = vec![usize::MAX; coords.len()];
    let mut clusters = Vec::new();
    for seed in 0..coords.len() {
        if label[seed] != usize::MAX {
            continue;
        }
        let id = clusters.len();
        label[seed] = id;
        let mut members = vec![seed];
        let mut head = 0;
        while head < members.len() {
            let q = coords[members[head]];
            head += 1;
            for hit in tree
                .query(&q)
                .within::<SquaredEuclidean<f32>>(radius_m * radius_m)
                .unsorted()
                .execute()
            {
                let j = hit.item as usize;
                if label[j] == usize::MAX {
                    label[j] = id;
                    members.push(j);
                }
            }
        }
        clusters.push(members);
    }
    clusters
        .into_iter()
        .filter(|c| c.len() >= min_points)
        .map(|mut c| {
            c.sort_unstable();
            c
        })
        .collect()
}

/// The minimum-area gravity-aligned box around points: z range from the
/// points, footprint from the minimum-area rectangle of the 2-D convex
/// hull (rotating calipers: the optimal rectangle has a side collinear with
/// a hull edge, Freeman & Shapira 1975).
pub fn gravity_aligned_box(points_m: impl IntoIterator<Item = Point3<f32>>) -> GravityAlignedBox {
    let mut xy = Vec::new();
    let (mut z_min, mut z_max) = (f64::INFINITY, f64::NEG_INFINITY);
    for p in points_m {
        xy.push(Point2::new(f64::from(p.x), f64::from(p.y)));
        z_min = z_min.min(f64::from(p.z));
        z_max = z_max.max(f64::from(p.z));
    }
    if xy.is_empty() {
        return GravityAlignedBox {
            center_m: Point3::origin(),
            half_extents_m: Vector3::zeros(),
            yaw_rad: 0.0,
        };
    }
    let hull = convex_hull(xy);
    let mut best = (f64::INFINITY, 0.0, Point2::origin(), Vector2::zeros());
    let edges = hull.len().max(1);
    for k in 0..edges {
        let a = hull[k];
        let b = hull[(k + 1) % hull.len()];
        let dir = b - a;
        let yaw = if dir.norm() > 1e-12 {
            dir.y.atan2(dir.x)
        } else {
            0.0
        };
        let (s, c) = yaw.sin_cos();
        let (mut lo, mut hi) = (
            Vector2::repeat(f64::INFINITY),
            Vector2::repeat(f64::NEG_INFINITY),
        );
        for p in &hull {
            let u = Vector2::new(c * p.x + s * p.y, -s * p.x + c * p.y);
            lo = lo.inf(&u);
            hi = hi.sup(&u);
        }
        let area = (hi.x - lo.x) * (hi.y - lo.y);
        if area < best.0 - 1e-12 {
            let mid = (lo + hi) * 0.5;
            let centre = Point2::new(c * mid.x - s * mid.y, s * mid.x + c * mid.y);
            best = (area, yaw, centre, (hi - lo) * 0.5);
        }
    }
    let (_, yaw, centre, half) = best;
    // Canonical yaw in (-π/2, π/2]: a rectangle is symmetric under ±π.
    let mut yaw = yaw;
    while yaw <= -std::f64::consts::FRAC_PI_2 {
        yaw += std::f64::consts::PI;
    }
    while yaw > std::f64::consts::FRAC_PI_2 {
        yaw -= std::f64::consts::PI;
    }
    GravityAlignedBox {
        center_m: Point3::new(centre.x, centre.y, 0.5 * (z_min + z_max)),
        half_extents_m: Vector3::new(half.x, half.y, 0.5 * (z_max - z_min)),
        yaw_rad: yaw,
    }
}

/// Andrew's monotone chain convex hull, counter-clockwise.
fn convex_hull(mut pts: Vec<Point2<f64>>) -> Vec<Point2<f64>> {
    pts.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let cross = |o: &Point2<f64>, a: &Point2<f64>, b: &Point2<f64>| {
        (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x)
    };
    let mut hull: Vec<Point2<f64>> = Vec::with_capacity(2 * pts.len());
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &Point2<f64>>> = if pass == 0 {
            Box::new(pts.iter())
        } else {
            Box::new(pts.iter().rev())
        };
        for p in iter {
            while hull.len() >= start + 2
                && cross(&hull[hull.len() - 2], &hull[hull.len() - 1], p) <= 0.0
            {
                hull.pop();
            }
            hull.push(*p);
        }
        hull.pop();
    }
    hull
}

/// Intersection over union of two gravity-aligned boxes (exact: z overlap
/// times the area of the footprints' polygon intersection).
pub fn box_iou(a: &GravityAlignedBox, b: &GravityAlignedBox) -> f64 {
    let z_overlap = ((a.center_m.z + a.half_extents_m.z).min(b.center_m.z + b.half_extents_m.z)
        - (a.center_m.z - a.half_extents_m.z).max(b.center_m.z - b.half_extents_m.z))
    .max(0.0);
    let inter = z_overlap * polygon_area(&clip_polygon(&footprint(a), &footprint(b)));
    let union = a.volume_m3() + b.volume_m3() - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// Counter-clockwise footprint corners of a box.
pub fn footprint(b: &GravityAlignedBox) -> Vec<Point2<f64>> {
    let (s, c) = b.yaw_rad.sin_cos();
    let (hx, hy) = (b.half_extents_m.x, b.half_extents_m.y);
    [(-hx, -hy), (hx, -hy), (hx, hy), (-hx, hy)]
        .iter()
        .map(|&(u, v)| Point2::new(b.center_m.x + c * u - s * v, b.center_m.y + s * u + c * v))
        .collect()
}

/// Sutherland–Hodgman clipping of `subject` by the convex CCW `clip`.
fn clip_polygon(subject: &[Point2<f64>], clip: &[Point2<f64>]) -> Vec<Point2<f64>> {
    let mut output = subject.to_vec();
    for k in 0..clip.len() {
        if output.is_empty() {
            break;
        }
        let (a, b) = (clip[k], clip[(k + 1) % clip.len()]);
        let inside = |p: &Point2<f64>| (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x) >= 0.0;
        let input = std::mem::take(&mut output);
        for i in 0..input.len() {
            let (p, q) = (input[i], input[(i + 1) % input.len()]);
            let (pin, qin) = (inside(&p), inside(&q));
            if pin {
                output.push(p);
            }
            if pin != qin {
                // Intersection of segment p-q with the line a-b.
                let d1 = (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x);
                let d2 = (b.x - a.x) * (q.y - a.y) - (b.y - a.y) * (q.x - a.x);
                let t = d1 / (d1 - d2);
                output.push(p + (q - p) * t);
            }
        }
    }
    output
}

fn polygon_area(poly: &[Point2<f64>]) -> f64 {
    let n = poly.len();
    if n < 3 {
        return 0.0;
    }
    0.5 * (0..n)
        .map(|i| {
            let (p, q) = (poly[i], poly[(i + 1) % n]);
            p.x * q.y - q.x * p.y
        })
        .sum::<f64>()
        .abs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    fn grid_plane(z: f32, x0: f32, x1: f32, y0: f32, y1: f32, step: f32) -> Vec<Point3<f32>> {
        let mut pts = Vec::new();
        let mut x = x0;
        while x <= x1 {
            let mut y = y0;
            while y <= y1 {
                pts.push(Point3::new(x, y, z));
                y += step;
            }
            x += step;
        }
        pts
    }

    #[test]
    fn finds_floor_and_two_tables_at_the_same_height() {
        let mut pts = grid_plane(0.0, 0.0, 4.0, 0.0, 3.0, 0.05);
        let floor_n = pts.len();
        pts.extend(grid_plane(0.75, 0.5, 1.3, 0.5, 1.1, 0.03));
        pts.extend(grid_plane(0.75, 2.5, 3.3, 1.5, 2.1, 0.03));
        // Walls (vertical normals) must be ignored.
        let wall: Vec<Point3<f32>> = (0..400)
            .map(|i| Point3::new(0.0, (i % 20) as f32 * 0.1, (i / 20) as f32 * 0.1))
            .collect();
        let n_flat = pts.len();
        pts.extend(&wall);
        let mut normals = vec![Vector3::z(); n_flat];
        normals.extend(std::iter::repeat_n(Vector3::x(), wall.len()));
        let planes = detect_horizontal_planes(&pts, &normals, &PlaneConfig::default());
        assert_eq!(
            planes.len(),
            3,
            "{:?}",
            planes
                .iter()
                .map(|p| (p.height_m, p.inliers.len()))
                .collect::<Vec<_>>()
        );
        assert_relative_eq!(planes[0].height_m, 0.0, epsilon = 1e-6);
        assert_eq!(planes[0].inliers.len(), floor_n);
        for table in &planes[1..] {
            assert_relative_eq!(table.height_m, 0.75, epsilon = 1e-5);
            assert!(
                (table.extent.half_extents_m.x * 2.0 - 0.81).abs() < 0.05
                    || (table.extent.half_extents_m.y * 2.0 - 0.81).abs() < 0.05
            );
        }
    }

    #[test]
    fn clusters_match_brute_force_components() {
        // Three blobs, one of them two pieces 4 cm apart (joined at r = 5 cm).
        let mut pts = Vec::new();
        for (cx, n) in [(0.0_f32, 50), (1.0, 60), (1.04, 60), (3.0, 5)] {
            for i in 0..n {
                pts.push(Point3::new(
                    cx + (i % 5) as f32 * 0.004,
                    (i / 5) as f32 * 0.01,
                    0.5,
                ));
            }
        }
        let clusters = euclidean_clusters(&pts, 0.05, 10);
        // Brute force: union-find over all pairs.
        let mut parent: Vec<usize> = (0..pts.len()).collect();
        fn find(p: &mut [usize], i: usize) -> usize {
            if p[i] != i {
                let r = find(p, p[i]);
                p[i] = r;
            }
            p[i]
        }
        for i in 0..pts.len() {
            for j in i + 1..pts.len() {
                if (pts[i] - pts[j]).norm_squared() <= 0.05 * 0.05 {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                    parent[a] = b;
                }
            }
        }
        let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
        for i in 0..pts.len() {
            let r = find(&mut parent, i);
            groups.entry(r).or_default().push(i);
        }
        let mut expected: Vec<Vec<usize>> =
            groups.into_values().filter(|g| g.len() >= 10).collect();
        expected.sort();
        let mut got = clusters;
        got.sort();
        assert_eq!(got, expected);
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn box_fit_recovers_a_rotated_box_and_iou_is_exact() {
        let truth = GravityAlignedBox {
            center_m: Point3::new(1.0, -0.5, 0.4),
            half_extents_m: Vector3::new(0.3, 0.15, 0.4),
            yaw_rad: 0.6,
        };
        let world_from_box = truth.world_from_box();
        let mut pts = Vec::new();
        for i in 0..=10 {
            for j in 0..=10 {
                for k in [-1.0, 1.0] {
                    let local = Point3::new(
                        -0.3 + 0.06 * f64::from(i),
                        -0.15 + 0.03 * f64::from(j),
                        0.4 * k,
                    );
                    let p = world_from_box * local;
                    pts.push(Point3::new(p.x as f32, p.y as f32, p.z as f32 + 0.0));
                }
            }
        }
        let fit = gravity_aligned_box(pts);
        assert_relative_eq!(fit.center_m, truth.center_m, epsilon = 1e-5);
        assert_relative_eq!(fit.half_extents_m, truth.half_extents_m, epsilon = 1e-5);
        assert_relative_eq!(fit.yaw_rad, truth.yaw_rad, epsilon = 1e-5);
        assert_relative_eq!(box_iou(&truth, &fit), 1.0, epsilon = 1e-5);
        // Shifted by half its length along its own x: IoU = 1/3.
        let mut shifted = truth;
        shifted.center_m += Vector3::new(0.6_f64.cos(), 0.6_f64.sin(), 0.0) * 0.3;
        assert_relative_eq!(box_iou(&truth, &shifted), 1.0 / 3.0, epsilon = 1e-9);
        // Rotated by 90° about its centre, square footprint case: a 0.3x0.3 cross.
        let mut square = truth;
        square.half_extents_m = Vector3::new(0.3, 0.1, 0.4);
        let mut turned = square;
        turned.yaw_rad += std::f64::consts::FRAC_PI_2;
        // Intersection is 0.2 x 0.2 of a 0.6 x 0.2 footprint: 0.04 / (0.12 + 0.12 - 0.04).
        assert_relative_eq!(box_iou(&square, &turned), 0.04 / 0.2, epsilon = 1e-9);
    }
}
