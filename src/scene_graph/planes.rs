//! Gravity-aware plane detection on the map's surface samples: horizontal
//! support planes (floor, table tops, shelf boards) split into connected
//! patches, and vertical planes (walls).
//!
//! World frame is z up. Vote counting uses dense histograms over the
//! occupied bin range (a room spans a few hundred 2 cm bins), with a hash
//! map fallback for degenerate spans.

use std::collections::{HashMap, VecDeque};

use nalgebra::{Point3, Vector3};
use serde::{Deserialize, Serialize};

use crate::scene_graph::geometry::gravity_aligned_box;
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
        let bins: Vec<i64> = remaining
            .iter()
            .map(|&i| (f64::from(points_m[i].z) / tol).floor() as i64)
            .collect();
        let counts = BinCounts::new(bins.iter().map(|&b| [b, 0]));
        // Score of a height bin: its votes and its two neighbours'.
        let Some(([best_bin, _], _)) =
            counts.best_by(|[b, _]| (b - 1..=b + 1).map(|k| counts.get([k, 0])).sum::<usize>())
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

/// Vote counts over 2-D integer bins: a dense array over the occupied
/// range when it is small (a room: a few hundred height bins, or 90
/// azimuth × a few hundred offset bins), else a hash map.
enum BinCounts {
    Dense {
        lo: [i64; 2],
        span: [i64; 2],
        counts: Vec<usize>,
    },
    Sparse(HashMap<[i64; 2], usize>),
}

/// Largest dense histogram, in bins.
const MAX_DENSE_BINS: i64 = 1 << 22;

impl BinCounts {
    fn new(keys: impl Iterator<Item = [i64; 2]> + Clone) -> Self {
        let mut lo = [i64::MAX; 2];
        let mut hi = [i64::MIN; 2];
        for k in keys.clone() {
            for a in 0..2 {
                lo[a] = lo[a].min(k[a]);
                hi[a] = hi[a].max(k[a]);
            }
        }
        let span = [
            hi[0].saturating_sub(lo[0]).saturating_add(1),
            hi[1].saturating_sub(lo[1]).saturating_add(1),
        ];
        if span[0] > 0 && span[1] > 0 && span[0].saturating_mul(span[1]) <= MAX_DENSE_BINS {
            let mut counts = vec![0; (span[0] * span[1]) as usize];
            for k in keys {
                counts[((k[0] - lo[0]) * span[1] + (k[1] - lo[1])) as usize] += 1;
            }
            Self::Dense { lo, span, counts }
        } else {
            let mut counts = HashMap::new();
            for k in keys {
                *counts.entry(k).or_insert(0) += 1;
            }
            Self::Sparse(counts)
        }
    }

    fn get(&self, k: [i64; 2]) -> usize {
        match self {
            Self::Dense { lo, span, counts } => {
                let (a, b) = (k[0] - lo[0], k[1] - lo[1]);
                if (0..span[0]).contains(&a) && (0..span[1]).contains(&b) {
                    counts[(a * span[1] + b) as usize]
                } else {
                    0
                }
            }
            Self::Sparse(counts) => counts.get(&k).copied().unwrap_or(0),
        }
    }

    /// The occupied bin with the highest score, the smallest bin on ties.
    fn best_by(&self, score: impl Fn([i64; 2]) -> usize) -> Option<([i64; 2], usize)> {
        let occupied: Box<dyn Iterator<Item = [i64; 2]> + '_> =
            match self {
                Self::Dense { lo, span, counts } => {
                    Box::new(counts.iter().enumerate().filter(|(_, &c)| c > 0).map(
                        move |(i, _)| {
                            let i = i as i64;
                            [lo[0] + i / span[1], lo[1] + i % span[1]]
                        },
                    ))
                }
                Self::Sparse(counts) => Box::new(counts.keys().copied()),
            };
        occupied
            .map(|k| (k, score(k)))
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
    }
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
    // Hough cell of every candidate point, computed once: canonical normal
    // azimuth in [0, π) (a plane and its flip are one plane) and offset.
    let mut hough = vec![[0_i64; 2]; points_m.len().min(normals.len())];
    for &i in &remaining {
        let n = normals[i];
        let mut az = f64::from(n.y).atan2(f64::from(n.x));
        if az < 0.0 {
            az += std::f64::consts::PI;
        }
        if az >= std::f64::consts::PI {
            az -= std::f64::consts::PI;
        }
        let p = points_m[i];
        let d = az.cos() * f64::from(p.x) + az.sin() * f64::from(p.y);
        hough[i] = [(az / angle_bin).floor() as i64, (d / tol).floor() as i64];
    }
    let mut planes = Vec::new();
    for _ in 0..config.max_planes {
        if remaining.len() < config.min_inliers {
            break;
        }
        // Canonical normal: azimuth in [0, π) (a plane and its flip are one plane).
        let keys: Vec<[i64; 2]> = remaining.iter().map(|&i| hough[i]).collect();
        let counts = BinCounts::new(keys.iter().copied());
        let Some(([ab, db], _)) = counts.best_by(|key| counts.get(key)) else {
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
}
