//! Antipodal grasp candidates for a parallel-jaw gripper.
//!
//! A pair of surface contacts `(a, b)` with outward normals `(nₐ, n_b)` is a
//! force-closure grasp for two frictional point contacts when the line
//! `a → b` lies inside both friction cones (Nguyen 1988): the angle between
//! `b − a` and `−nₐ`, and between `a − b` and `−n_b`, are both at most
//! `atan μ`. Candidates are then checked against the map for collisions of
//! the fingers and palm along the approach direction.

use nalgebra::{Point3, Vector3};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
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
}

impl<F: Fn(&Point3<f64>, f64) -> bool> OccupancyQuery for F {
    fn is_free(&self, point_m: &Point3<f64>, radius_m: f64) -> bool {
        self(point_m, radius_m)
    }
}

/// Finds antipodal grasps on an object's surface samples.
///
/// `points_m` / `normals` are surface samples of the object (outward unit
/// normals, world frame, z up). `occupancy` is asked about the space the
/// fingers sweep *outside* the object; it must treat the object's own
/// surface as occupied like any other (the fingers close onto it from
/// outside, so their volumes start `clearance_m` away from the contacts).
pub fn antipodal_grasps(
    points_m: &[Point3<f64>],
    normals: &[Vector3<f64>],
    gripper: &GripperConfig,
    occupancy: &impl OccupancyQuery,
) -> Result<Vec<GraspCandidate>> {
    gripper.validate()?;
    if points_m.len() != normals.len() {
        return Err(Error::InvalidArgument(format!(
            "{} points but {} normals",
            points_m.len(),
            normals.len()
        )));
    }
    let cos_cone = gripper.friction.atan().cos();
    let center = points_m
        .iter()
        .fold(Vector3::zeros(), |acc, p| acc + p.coords)
        / points_m.len().max(1) as f64;
    let mut candidates = Vec::new();
    for (i, (a, na)) in points_m.iter().zip(normals).enumerate() {
        for (b, nb) in points_m.iter().zip(normals).skip(i + 1) {
            let axis = b - a;
            let width = axis.norm();
            if width < gripper.min_opening_m.max(1e-9) || width > gripper.max_opening_m {
                continue;
            }
            let axis = axis / width;
            // Inside both friction cones (Nguyen 1988).
            let align_a = (-na).dot(&axis);
            let align_b = (-nb).dot(&-axis);
            if align_a < cos_cone || align_b < cos_cone {
                continue;
            }
            let Some(approach) = approach_direction(&axis) else {
                continue;
            };
            if !fingers_free(a, b, &axis, &approach, gripper, occupancy) {
                continue;
            }
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
    Ok(candidates)
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

/// Samples the volumes swept by both fingers (from above the contacts down
/// to `finger_depth_m` past them) and the palm bar between them.
fn fingers_free(
    a: &Point3<f64>,
    b: &Point3<f64>,
    axis: &Vector3<f64>,
    approach: &Vector3<f64>,
    gripper: &GripperConfig,
    occupancy: &impl OccupancyQuery,
) -> bool {
    let radius = 0.5 * gripper.finger_thickness_m.min(gripper.finger_width_m);
    let offset = gripper.clearance_m + radius;
    let steps = ((gripper.finger_depth_m * 2.0) / radius).ceil().max(2.0) as usize;
    for (contact, outward) in [(a, -axis), (b, *axis)] {
        let finger_axis_point = contact + outward * offset;
        for k in 0..=steps {
            // From finger_depth past the contact back to finger_depth before it
            // (the part of the finger between palm and contact).
            let s =
                -gripper.finger_depth_m + 2.0 * gripper.finger_depth_m * k as f64 / steps as f64;
            let p = finger_axis_point + approach * s;
            if !occupancy.is_free(&p, radius) {
                return false;
            }
        }
    }
    // Palm: a bar joining the finger bases, finger_depth behind the contacts.
    let palm_a = a - axis * offset - approach * gripper.finger_depth_m;
    let palm_b = b + axis * offset - approach * gripper.finger_depth_m;
    let bar_steps = (((palm_b - palm_a).norm()) / radius).ceil().max(1.0) as usize;
    (0..=bar_steps).all(|k| {
        let p = palm_a + (palm_b - palm_a) * (k as f64 / bar_steps as f64);
        occupancy.is_free(&p, radius)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Surface samples of an axis-aligned box centred at `c` with half
    /// extents `h`, on a grid of `step`.
    fn box_samples(
        c: Point3<f64>,
        h: Vector3<f64>,
        step: f64,
    ) -> (Vec<Point3<f64>>, Vec<Vector3<f64>>) {
        let mut pts = Vec::new();
        let mut nrm = Vec::new();
        for axis in 0..3 {
            for sign in [-1.0, 1.0] {
                let (u, v) = ((axis + 1) % 3, (axis + 2) % 3);
                let nu = (2.0 * h[u] / step).round() as i32;
                let nv = (2.0 * h[v] / step).round() as i32;
                for i in 0..=nu {
                    for j in 0..=nv {
                        // Stay off the edges: normals are ambiguous there.
                        if i == 0 || j == 0 || i == nu || j == nv {
                            continue;
                        }
                        let mut p = Vector3::zeros();
                        p[axis] = sign * h[axis];
                        p[u] = -h[u] + 2.0 * h[u] * i as f64 / nu as f64;
                        p[v] = -h[v] + 2.0 * h[v] * j as f64 / nv as f64;
                        let mut n = Vector3::zeros();
                        n[axis] = sign;
                        pts.push(c + p);
                        nrm.push(n);
                    }
                }
            }
        }
        (pts, nrm)
    }

    fn cylinder_samples(
        c: Point3<f64>,
        r: f64,
        half_h: f64,
    ) -> (Vec<Point3<f64>>, Vec<Vector3<f64>>) {
        let mut pts = Vec::new();
        let mut nrm = Vec::new();
        for k in 0..36 {
            let a = k as f64 * std::f64::consts::TAU / 36.0;
            for j in 1..8 {
                let z = -half_h + 2.0 * half_h * j as f64 / 8.0;
                let n = Vector3::new(a.cos(), a.sin(), 0.0);
                pts.push(c + n * r + Vector3::z() * z);
                nrm.push(n);
            }
        }
        (pts, nrm)
    }

    /// Occupancy of an axis-aligned box on a table top at z = `table_z`.
    fn box_on_table(
        c: Point3<f64>,
        h: Vector3<f64>,
        table_z: f64,
    ) -> impl Fn(&Point3<f64>, f64) -> bool {
        move |p: &Point3<f64>, r: f64| {
            let d = (p - c).abs() - h;
            let outside = Vector3::new(d.x.max(0.0), d.y.max(0.0), d.z.max(0.0)).norm();
            let inside = d.x.max(d.y).max(d.z).min(0.0);
            let sdf = outside + inside;
            sdf > r && p.z - table_z > r
        }
    }

    #[test]
    fn box_grasps_are_antipodal_and_collision_free() {
        let c = Point3::new(0.5, 0.2, 0.8 + 0.05);
        let h = Vector3::new(0.03, 0.05, 0.05); // 6 x 10 x 10 cm box on a table at 0.8 m
        let (pts, nrm) = box_samples(c, h, 0.01);
        let occupancy = box_on_table(c, h, 0.8);
        let gripper = GripperConfig::default();
        let grasps = antipodal_grasps(&pts, &nrm, &gripper, &occupancy).unwrap();
        assert!(!grasps.is_empty());
        let cos_cone = gripper.friction.atan().cos();
        for g in &grasps {
            let axis = (g.contact_b_m - g.contact_a_m).normalize();
            // Contacts on opposite faces of the box, axis along a face normal.
            let best = axis.x.abs().max(axis.y.abs()).max(axis.z.abs());
            assert!(best >= cos_cone, "axis {axis:?} outside the friction cone");
            assert!(g.width_m <= gripper.max_opening_m + 1e-12);
            // Width equals the box size along that axis when perfectly antipodal.
            assert!(
                g.approach.dot(&axis).abs() < 1e-9,
                "approach not perpendicular"
            );
            assert!(fingers_free(
                &g.contact_a_m,
                &g.contact_b_m,
                &axis,
                &g.approach,
                &gripper,
                &occupancy
            ));
        }
        // The 6 cm side fits a top-down grasp: the best grasp comes from above.
        assert!(grasps[0].approach.z < -0.9, "{:?}", grasps[0]);
        assert!((grasps[0].width_m - 0.06).abs() < 1e-9);
        // The 10 cm faces never pair (too wide for an 8.5 cm gripper).
        assert!(grasps.iter().all(|g| g.width_m < 0.085));
    }

    #[test]
    fn cylinder_grasps_pass_through_the_axis() {
        let c = Point3::new(0.0, 0.0, 0.06);
        let (pts, nrm) = cylinder_samples(c, 0.035, 0.05);
        let occupancy = |p: &Point3<f64>, r: f64| {
            let radial = (p.x * p.x + p.y * p.y).sqrt();
            let inside_cyl = radial < 0.035 + r && p.z > 0.01 - r && p.z < 0.11 + r;
            !inside_cyl && p.z > r
        };
        let gripper = GripperConfig::default();
        let grasps = antipodal_grasps(&pts, &nrm, &gripper, &occupancy).unwrap();
        assert!(!grasps.is_empty());
        for g in &grasps {
            // Antipodal pairs on a cylinder pass (nearly) through its axis.
            let mid = (g.contact_a_m.coords + g.contact_b_m.coords) * 0.5;
            assert!(
                (mid.x * mid.x + mid.y * mid.y).sqrt() < 0.035 * 0.4,
                "{g:?}"
            );
            assert!((g.width_m - 0.07).abs() < 0.01);
        }
    }

    #[test]
    fn blocked_grasps_are_rejected() {
        let c = Point3::new(0.0, 0.0, 0.05);
        let h = Vector3::new(0.03, 0.03, 0.05);
        let (pts, nrm) = box_samples(c, h, 0.01);
        // Everything outside the box is a wall: nothing is free.
        let occupancy = |_: &Point3<f64>, _: f64| false;
        let grasps = antipodal_grasps(&pts, &nrm, &GripperConfig::default(), &occupancy).unwrap();
        assert!(grasps.is_empty());
        assert!(
            antipodal_grasps(&pts[..3], &nrm[..2], &GripperConfig::default(), &occupancy).is_err()
        );
    }
}
