//! Point-cloud geometry for the scene graph: Euclidean clustering and
//! gravity-aligned bounding boxes (plane detection lives in
//! [`planes`](crate::scene_graph::planes) and is re-exported here).
//!
//! World frame is z up. Points and normals come from the map's surface
//! (mesh vertices or zero-crossing voxels).

use kiddo::{ImmutableKdTree, SquaredEuclidean};
use nalgebra::{Point2, Point3, Vector2, Vector3};
use rayon::prelude::*;

pub use crate::scene_graph::planes::{
    detect_horizontal_planes, detect_vertical_planes, HorizontalPlane, PlaneConfig, VerticalPlane,
};
use crate::scene_graph::GravityAlignedBox;

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
    // Radius queries are independent: in parallel; then union-find over
    // the neighbour pairs (i < j) gives the connected components.
    let neighbours: Vec<Vec<u32>> = coords
        .par_iter()
        .enumerate()
        .map(|(i, q)| {
            tree.query(q)
                .within::<SquaredEuclidean<f32>>(radius_m * radius_m)
                .unsorted()
                .execute()
                .into_iter()
                .map(|hit| hit.item)
                .filter(|&j| j as usize > i)
                .collect()
        })
        .collect();
    let mut parent: Vec<usize> = (0..coords.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]]; // path halving
            i = parent[i];
        }
        i
    }
    for (i, list) in neighbours.iter().enumerate() {
        for &j in list {
            let (a, b) = (root(&mut parent, i), root(&mut parent, j as usize));
            if a != b {
                // The smaller index is the root: clusters come out ordered by
                // their first point, as a region growing from each unvisited
                // seed in index order would produce them.
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut cluster_of_root: Vec<usize> = vec![usize::MAX; coords.len()];
    let mut clusters: Vec<Vec<usize>> = Vec::new();
    for i in 0..coords.len() {
        let r = root(&mut parent, i);
        if cluster_of_root[r] == usize::MAX {
            cluster_of_root[r] = clusters.len();
            clusters.push(Vec::new());
        }
        clusters[cluster_of_root[r]].push(i);
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

/// Akl–Toussaint heuristic (Akl & Toussaint 1978): points strictly inside
/// the octagon of the extreme points along x, y, x + y and x − y cannot be
/// hull vertices; dropping them leaves the hull unchanged and spares the
/// sort most of a large cloud (a room's floor footprint).
fn discard_interior(pts: Vec<Point2<f64>>) -> Vec<Point2<f64>> {
    if pts.len() < 64 {
        return pts;
    }
    let directions = [
        (1.0, 0.0),
        (1.0, 1.0),
        (0.0, 1.0),
        (-1.0, 1.0),
        (-1.0, 0.0),
        (-1.0, -1.0),
        (0.0, -1.0),
        (1.0, -1.0),
    ];
    // Extreme point per direction, in counter-clockwise order of direction.
    let octagon: Vec<Point2<f64>> = directions
        .iter()
        .filter_map(|&(dx, dy)| {
            pts.iter()
                .copied()
                .max_by(|a, b| (dx * a.x + dy * a.y).total_cmp(&(dx * b.x + dy * b.y)))
        })
        .collect();
    let cross = |o: &Point2<f64>, a: &Point2<f64>, b: &Point2<f64>| {
        (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x)
    };
    let mut distinct = octagon.clone();
    distinct.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    distinct.dedup();
    if distinct.len() < 3 {
        return pts; // all points on one spot: nothing to discard
    }
    let strictly_inside = |p: &Point2<f64>| {
        (0..octagon.len()).all(|k| {
            let (a, b) = (octagon[k], octagon[(k + 1) % octagon.len()]);
            // Coincident extreme points give a degenerate edge: no test.
            a == b || cross(&a, &b, p) > 0.0
        })
    };
    pts.into_iter().filter(|p| !strictly_inside(p)).collect()
}

/// Andrew's monotone chain convex hull, counter-clockwise.
fn convex_hull(pts: Vec<Point2<f64>>) -> Vec<Point2<f64>> {
    monotone_chain(discard_interior(pts))
}

/// Andrew's monotone chain on all of `pts`.
fn monotone_chain(mut pts: Vec<Point2<f64>>) -> Vec<Point2<f64>> {
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
    use std::collections::HashMap;

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
    fn interior_discard_keeps_the_hull() {
        // Oracle: the hull with the Akl–Toussaint prefilter equals the hull
        // of all points, on random clouds of several shapes.
        let mut state = 12345_u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1_u64 << 53) as f64
        };
        for shape in 0..4 {
            let pts: Vec<Point2<f64>> = (0..2000)
                .map(|_| {
                    let (u, v) = (next() - 0.5, next() - 0.5);
                    match shape {
                        0 => Point2::new(u, v),
                        1 => Point2::new(3.0 * u + v, 0.1 * v), // thin, tilted
                        2 => Point2::new((u * 20.0).round() / 20.0, (v * 20.0).round() / 20.0),
                        _ => {
                            let a = u * std::f64::consts::TAU;
                            Point2::new(a.cos(), a.sin()) * (0.9 + 0.1 * v)
                        }
                    }
                })
                .collect();
            assert_eq!(
                convex_hull(pts.clone()),
                monotone_chain(pts),
                "shape {shape}"
            );
        }
        // A single repeated point survives.
        let same = vec![Point2::new(1.0, 2.0); 100];
        assert_eq!(convex_hull(same), vec![Point2::new(1.0, 2.0)]);
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
