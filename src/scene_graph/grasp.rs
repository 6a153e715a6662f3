//! Antipodal grasp candidates for a parallel-jaw gripper.
//!
//! A pair of surface contacts `(a, b)` with outward normals `(nₐ, n_b)` is a
//! force-closure grasp for two frictional point contacts when the line
//! `a → b` lies inside both friction cones (Nguyen 1988): the angle between
//! `b − a` and `−nₐ`, and between `a − b` and `−n_b`, are both at most
//! `atan μ`. Candidates are then checked against the map for collisions of
//! the gripper — two finger boxes and a palm box ([`GripperConfig::boxes`])
//! — for up to eight approach directions about the grasp axis, the most
//! downward free one kept (a tall bottle's body cannot be taken from above:
//! the palm would hit its neck; from the side or at 45° it can).

use nalgebra::{Point3, Vector3};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::scene_graph::cell_hash::CellMap;
use crate::scene_graph::map_query::{MapOccupancy, MapQuery};
use crate::scene_graph::GraspCandidate;

/// Parallel-jaw gripper geometry and search settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GripperConfig {
    /// Maximum opening between the fingers, m.
    pub max_opening_m: f64,
    /// Minimum useful opening, m.
    pub min_opening_m: f64,
    /// How far the fingers reach past the contact along the approach, m.
    pub finger_depth_m: f64,
    /// Finger thickness (along the grasp axis), m.
    pub finger_thickness_m: f64,
    /// Finger width (across the grasp axis and approach), m.
    pub finger_width_m: f64,
    /// Friction coefficient assumed for the friction cone.
    pub friction: f64,
    /// Clearance kept from obstacles, m.
    pub clearance_m: f64,
    /// Maximum number of candidates returned.
    pub max_candidates: usize,
}

impl Default for GripperConfig {
    fn default() -> Self {
        Self {
            max_opening_m: 0.085,
            min_opening_m: 0.005,
            finger_depth_m: 0.04,
            finger_thickness_m: 0.01,
            finger_width_m: 0.02,
            friction: 0.4,
            clearance_m: 0.005,
            max_candidates: 20,
        }
    }
}

impl GripperConfig {
    /// Checks the values are usable.
    pub fn validate(&self) -> Result<()> {
        let ok = self.max_opening_m > self.min_opening_m
            && self.min_opening_m >= 0.0
            && self.finger_depth_m > 0.0
            && self.finger_thickness_m > 0.0
            && self.finger_width_m > 0.0
            && self.friction > 0.0
            && self.clearance_m >= 0.0
            && self.max_candidates > 0;
        if ok {
            Ok(())
        } else {
            Err(Error::Config(format!("gripper {self:?} is inconsistent")))
        }
    }
}

/// Answers whether a point of space is free for the gripper. The map
/// implements it (TSDF distance > clearance, or unknown counted as occupied).
pub trait OccupancyQuery {
    /// `true` when a sphere of `radius_m` around `point_m` holds no surface.
    fn is_free(&self, point_m: &Point3<f64>, radius_m: f64) -> bool;

    /// How far the true surfaces may stick out of the ones this query sees,
    /// m (a reconstruction rounds convex edges and thins small parts); the
    /// planner grows the gripper by it, except the fingers' inner faces,
    /// whose gap to the contacts is the gripper's own `clearance_m`.
    /// Defaults to 0 (exact geometry).
    fn uncertainty_m(&self) -> f64 {
        0.0
    }
}

impl<F: Fn(&Point3<f64>, f64) -> bool> OccupancyQuery for F {
    fn is_free(&self, point_m: &Point3<f64>, radius_m: f64) -> bool {
        self(point_m, radius_m)
    }
}

/// How far true surfaces may stick out of the TSDF's, in voxels: the zero
/// crossing of trilinearly interpolated distances cuts convex edges and
/// corners (a bottle's shoulder, a mug's rim) and thins small parts. On the
/// synthetic room at 2 cm voxels the reconstructed mug is 8 mm short of
/// its true rim; 0.25 voxel let a palm into the true rim
/// (tests/scene_graph_synthetic.rs), 0.5 voxel does not.
pub const GRASP_MAP_UNCERTAINTY_VOX: f64 = 0.5;

/// The map as the grasp planner's obstacle query: free is observed and
/// farther than the radius from any surface (unknown counts as occupied,
/// [`MapOccupancy`]) and from every surface sample of the object itself,
/// with the map's surface uncertainty declared so that the planner keeps
/// the gripper that much farther from obstacles.
///
/// The object's own samples matter where the TSDF loses thin parts: a
/// mug's 4 mm rim or a bottle's 3 cm neck average out to positive
/// distances at 2 cm voxels (free in the SDF) yet leave mesh vertices.
pub struct ObjectMapOccupancy<'a, M: MapQuery + ?Sized> {
    map: MapOccupancy<'a, M>,
    uncertainty_m: f64,
    /// The object's surface samples hashed by cells of `cell_m`.
    own: CellMap<Vec<Point3<f64>>>,
    cell_m: f64,
}

impl<'a, M: MapQuery + ?Sized> ObjectMapOccupancy<'a, M> {
    /// `own`: the grasped object's surface samples; `uncertainty_m`: see
    /// [`OccupancyQuery::uncertainty_m`].
    pub fn new(map: &'a M, own: impl Iterator<Item = Point3<f64>>, uncertainty_m: f64) -> Self {
        let cell_m = map.voxel_size_m().max(1e-3);
        let mut cells: CellMap<Vec<Point3<f64>>> = CellMap::default();
        for p in own {
            cells.entry(Self::key(&p, cell_m)).or_default().push(p);
        }
        Self {
            map: MapOccupancy(map),
            uncertainty_m,
            own: cells,
            cell_m,
        }
    }

    fn key(p: &Point3<f64>, cell_m: f64) -> [i32; 3] {
        [
            (p.x / cell_m).floor() as i32,
            (p.y / cell_m).floor() as i32,
            (p.z / cell_m).floor() as i32,
        ]
    }

    /// Whether an own sample lies within `radius_m` of `point_m`.
    fn near_own(&self, point_m: &Point3<f64>, radius_m: f64) -> bool {
        // Only the cells the ball's bounding box overlaps (1–8 for a ball
        // smaller than a cell, instead of the 27 around its centre).
        let r = Vector3::repeat(radius_m);
        let [i0, j0, k0] = Self::key(&(point_m - r), self.cell_m);
        let [i1, j1, k1] = Self::key(&(point_m + r), self.cell_m);
        let r2 = radius_m * radius_m;
        for i in i0..=i1 {
            for j in j0..=j1 {
                for k in k0..=k1 {
                    if let Some(points) = self.own.get(&[i, j, k]) {
                        if points.iter().any(|q| (q - point_m).norm_squared() <= r2) {
                            return true;
                        }
                    }
                }
            }
        }
        false
    }
}

impl<M: MapQuery + ?Sized> OccupancyQuery for ObjectMapOccupancy<'_, M> {
    fn is_free(&self, point_m: &Point3<f64>, radius_m: f64) -> bool {
        self.map.is_free(point_m, radius_m) && !self.near_own(point_m, radius_m)
    }

    fn uncertainty_m(&self) -> f64 {
        self.uncertainty_m
    }
}

/// Finds antipodal grasps on an object's surface samples.
///
/// `points_m` / `normals` are surface samples of the object (outward unit
/// normals, world frame, z up). `occupancy` is asked about the gripper's
/// boxes (cell centres and covering radii), grown by its
/// [`OccupancyQuery::uncertainty_m`] on every face but the fingers' inner
/// ones; it must treat the object's own surface as occupied like any other
/// (the fingers close onto it from outside: their inner faces stay
/// `clearance_m` away from the contacts, and the object between the pads
/// is not inside any box).
pub fn antipodal_grasps(
    points_m: &[Point3<f64>],
    normals: &[Vector3<f64>],
    gripper: &GripperConfig,
    occupancy: &impl OccupancyQuery,
) -> Result<Vec<GraspCandidate>> {
    antipodal_grasps_counted(points_m, normals, gripper, occupancy).map(|(g, _)| g)
}

/// Why candidate pairs were rejected: one count per pair, for diagnostics
/// (which test removes the grasps of an object).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraspRejections {
    /// Pairs of samples considered.
    pub pairs: usize,
    /// Width outside `[min_opening_m, max_opening_m]`.
    pub width: usize,
    /// Line of the contacts outside a friction cone.
    pub friction_cone: usize,
    /// Every approach blocked; the most downward one by a finger.
    pub finger: usize,
    /// Every approach blocked; the most downward one by the palm (fingers free).
    pub palm: usize,
    /// Pairs with at least one free approach.
    pub accepted: usize,
}

/// [`antipodal_grasps`] that also counts why pairs were rejected.
pub fn antipodal_grasps_counted(
    points_m: &[Point3<f64>],
    normals: &[Vector3<f64>],
    gripper: &GripperConfig,
    occupancy: &impl OccupancyQuery,
) -> Result<(Vec<GraspCandidate>, GraspRejections)> {
    gripper.validate()?;
    if points_m.len() != normals.len() {
        return Err(Error::InvalidArgument(format!(
            "{} points but {} normals",
            points_m.len(),
            normals.len()
        )));
    }
    let mut stats = GraspRejections::default();
    let cos_cone = gripper.friction.atan().cos();
    let center = points_m
        .iter()
        .fold(Vector3::zeros(), |acc, p| acc + p.coords)
        / points_m.len().max(1) as f64;
    let mut candidates = Vec::new();
    for (i, (a, na)) in points_m.iter().zip(normals).enumerate() {
        for (b, nb) in points_m.iter().zip(normals).skip(i + 1) {
            stats.pairs += 1;
            let axis = b - a;
            let width = axis.norm();
            if width < gripper.min_opening_m.max(1e-9) || width > gripper.max_opening_m {
                stats.width += 1;
                continue;
            }
            let axis = axis / width;
            // Inside both friction cones (Nguyen 1988).
            let align_a = (-na).dot(&axis);
            let align_b = (-nb).dot(&-axis);
            if align_a < cos_cone || align_b < cos_cone {
                stats.friction_cone += 1;
                continue;
            }
            // The most downward collision-free approach.
            let mut first_block = None;
            let mut chosen = None;
            for approach in approach_directions(&axis) {
                let boxes = grown(gripper.boxes(a, b, &approach), occupancy.uncertainty_m());
                match boxes.iter().position(|bx| !box_free(bx, occupancy)) {
                    None => {
                        chosen = Some(approach);
                        break;
                    }
                    Some(k) => {
                        first_block.get_or_insert(k);
                    }
                }
            }
            let Some(approach) = chosen else {
                match first_block {
                    Some(2) => stats.palm += 1,
                    _ => stats.finger += 1,
                }
                continue;
            };
            stats.accepted += 1;
            let midpoint = Point3::from((a.coords + b.coords) * 0.5);
            // Score: antipodality, from-above approach, close to the
            // centroid (less torque), width margin.
            let antipodal = 0.5 * (align_a + align_b);
            let top_down = (-approach.z).max(0.0);
            let centred = 1.0 / (1.0 + 10.0 * (midpoint.coords - center).norm());
            let margin = 1.0 - width / gripper.max_opening_m;
            let score = 0.4 * antipodal + 0.25 * top_down + 0.25 * centred + 0.1 * margin;
            candidates.push(GraspCandidate {
                contact_a_m: *a,
                contact_b_m: *b,
                approach,
                width_m: width,
                score: score.clamp(0.0, 1.0),
            });
        }
    }
    candidates.sort_by(|x, y| y.score.total_cmp(&x.score));
    candidates.truncate(gripper.max_candidates);
    Ok((candidates, stats))
}

/// Approaches tried per grasp axis, most downward first.
const APPROACHES_PER_AXIS: usize = 8;

/// Approaches perpendicular to the grasp axis, every 45° about it, starting
/// from the one closest to straight down (−z); approaches from below the
/// horizontal (through the support) are left out. A vertical axis gets
/// eight horizontal approaches.
fn approach_directions(axis: &Vector3<f64>) -> Vec<Vector3<f64>> {
    let Some(down) = approach_direction(axis) else {
        return Vec::new();
    };
    let side = axis.cross(&down);
    let mut out: Vec<Vector3<f64>> = (0..APPROACHES_PER_AXIS)
        .map(|k| {
            let angle = k as f64 * std::f64::consts::TAU / APPROACHES_PER_AXIS as f64;
            down * angle.cos() + side * angle.sin()
        })
        .filter(|d| d.z <= 1e-9)
        .collect();
    out.sort_by(|x, y| x.z.total_cmp(&y.z));
    out
}

/// Approach perpendicular to the grasp axis, as close to straight down
/// (−z) as possible; horizontal when the axis is vertical.
fn approach_direction(axis: &Vector3<f64>) -> Option<Vector3<f64>> {
    let down = -Vector3::z();
    let projected = down - axis * axis.dot(&down);
    if projected.norm() > 1e-3 {
        return Some(projected.normalize());
    }
    // Vertical axis: approach horizontally along any perpendicular.
    let side = axis.cross(&Vector3::x());
    let side = if side.norm() < 1e-3 {
        axis.cross(&Vector3::y())
    } else {
        side
    };
    (side.norm() > 1e-9).then(|| side.normalize())
}

/// One solid part of the gripper: an oriented box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GripperBox {
    /// Centre, m.
    pub center_m: Point3<f64>,
    /// Unit axes of the box: grasp axis, across the fingers, approach.
    pub axes: [Vector3<f64>; 3],
    /// Half extents along `axes`, m.
    pub half_extents_m: Vector3<f64>,
}

impl GripperBox {
    /// Whether a point lies inside the (closed) box.
    pub fn contains(&self, p: &Point3<f64>) -> bool {
        let d = p - self.center_m;
        (0..3).all(|k| d.dot(&self.axes[k]).abs() <= self.half_extents_m[k])
    }

    /// Centres of a grid of cells no longer than `max_cell_m` along each
    /// axis covering the box, and the radius of the ball around each centre
    /// that covers its cell (half the cell diagonal).
    pub fn cell_centres(&self, max_cell_m: f64) -> (Vec<Point3<f64>>, f64) {
        let n = self
            .half_extents_m
            .map(|h| ((2.0 * h / max_cell_m.max(1e-6)).ceil().max(1.0)) as usize);
        let cell = Vector3::new(
            2.0 * self.half_extents_m.x / n.x as f64,
            2.0 * self.half_extents_m.y / n.y as f64,
            2.0 * self.half_extents_m.z / n.z as f64,
        );
        let mut out = Vec::with_capacity(n.x * n.y * n.z);
        for i in 0..n.x {
            for j in 0..n.y {
                for k in 0..n.z {
                    let u = -self.half_extents_m.x + (i as f64 + 0.5) * cell.x;
                    let v = -self.half_extents_m.y + (j as f64 + 0.5) * cell.y;
                    let w = -self.half_extents_m.z + (k as f64 + 0.5) * cell.z;
                    out.push(
                        self.center_m + self.axes[0] * u + self.axes[1] * v + self.axes[2] * w,
                    );
                }
            }
        }
        (out, 0.5 * cell.norm())
    }
}

impl GripperConfig {
    /// The gripper's solids for contacts `a`, `b` and an approach direction
    /// (unit, perpendicular to `b − a`), opened to the pre-grasp width
    /// `|b − a| + 2 clearance_m`: finger at `a`, finger at `b`, palm.
    ///
    /// Each finger is `finger_thickness_m` thick along the grasp axis, with
    /// its inner face `clearance_m` outside its contact, `finger_width_m`
    /// wide across, and reaches from `finger_depth_m` before the contact
    /// (palm side) to `finger_depth_m` past it. The palm joins the finger
    /// bases: a bar of the fingers' thickness and width behind them.
    pub fn boxes(
        &self,
        a: &Point3<f64>,
        b: &Point3<f64>,
        approach: &Vector3<f64>,
    ) -> [GripperBox; 3] {
        let axis = (b - a).try_normalize(1e-12).unwrap_or_else(Vector3::x);
        let across = axis.cross(approach);
        let axes = [axis, across, *approach];
        let t = self.finger_thickness_m;
        let offset = self.clearance_m + 0.5 * t;
        let finger = |c: Point3<f64>| GripperBox {
            center_m: c,
            axes,
            half_extents_m: Vector3::new(0.5 * t, 0.5 * self.finger_width_m, self.finger_depth_m),
        };
        let mid = Point3::from((a.coords + b.coords) * 0.5);
        let half_span = 0.5 * (b - a).norm() + self.clearance_m + t;
        [
            finger(a - axis * offset),
            finger(b + axis * offset),
            GripperBox {
                center_m: mid - approach * (self.finger_depth_m + 0.5 * t),
                axes,
                half_extents_m: Vector3::new(half_span, 0.5 * self.finger_width_m, 0.5 * t),
            },
        ]
    }
}

/// The gripper's boxes grown by `margin_m` on every face except the
/// fingers' inner faces (those face the contacts across the clearance).
fn grown(boxes: [GripperBox; 3], margin_m: f64) -> [GripperBox; 3] {
    if margin_m <= 0.0 {
        return boxes;
    }
    let [mut finger_a, mut finger_b, mut palm] = boxes;
    // Finger a's outside is −axis, finger b's +axis (see `boxes`).
    for (finger, outward) in [(&mut finger_a, -1.0), (&mut finger_b, 1.0)] {
        finger.center_m += finger.axes[0] * (outward * 0.5 * margin_m);
        finger.half_extents_m += Vector3::new(0.5 * margin_m, margin_m, margin_m);
    }
    palm.half_extents_m += Vector3::repeat(margin_m);
    [finger_a, finger_b, palm]
}

/// Whether a gripper box is free: the balls covering its cells (cells at
/// most the smallest half extent: half the finger thickness) are all
/// free.
fn box_free(bx: &GripperBox, occupancy: &impl OccupancyQuery) -> bool {
    let (centres, radius) = bx.cell_centres(bx.half_extents_m.min());
    centres.iter().all(|p| occupancy.is_free(p, radius))
}

#[cfg(test)]
#[path = "grasp_tests.rs"]
mod tests;
