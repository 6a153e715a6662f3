//! Solid primitives and their exact ray intersections.
//!
//! Every shape is defined in its own part frame, centred on its bounding box
//! (z is the axis of cylinders). A ray `o + t·d` is intersected analytically
//! and the *first boundary crossing* with `t > 0` is returned; for a ray that
//! starts outside the solid that is where it enters. Rigid transforms keep the
//! ray parameter `t`, so with camera rays `d = (x, y, 1)` the returned `t` is
//! directly the depth along the optical axis.

use nalgebra::{Isometry3, Point3, Vector3};
use serde::{Deserialize, Serialize};

/// A solid primitive in its part frame (centred on its bounding box).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Shape {
    /// Box `|x| ≤ hx, |y| ≤ hy, |z| ≤ hz`.
    Cuboid {
        /// Half extents, metres.
        half_extents_m: Vector3<f64>,
    },
    /// Solid cylinder `x² + y² ≤ r², |z| ≤ h` (closed by both caps).
    Cylinder {
        /// Radius, metres.
        radius_m: f64,
        /// Half height, metres.
        half_height_m: f64,
    },
    /// Cup: a cylinder of outer radius `r` with a bore of radius `r_inner`
    /// open at the top, leaving a floor of `bottom_thickness_m` at `z = -h`.
    Cup {
        /// Outer radius, metres.
        radius_m: f64,
        /// Bore radius, metres (`< radius_m`).
        inner_radius_m: f64,
        /// Half height, metres.
        half_height_m: f64,
        /// Thickness of the closed bottom, metres.
        bottom_thickness_m: f64,
    },
}

/// Smallest positive candidate.
#[inline]
fn keep_min(best: &mut Option<f64>, t: f64) {
    if t > 0.0 && t.is_finite() && best.is_none_or(|b| t < b) {
        *best = Some(t);
    }
}

/// Crossings of the infinite cylinder `x² + y² = r²` whose z lies in
/// `[z_lo, z_hi]`.
#[inline]
fn side_crossings(
    o: &Vector3<f64>,
    d: &Vector3<f64>,
    r: f64,
    z_lo: f64,
    z_hi: f64,
    best: &mut Option<f64>,
) {
    let a = d.x * d.x + d.y * d.y;
    if a <= 0.0 {
        return;
    }
    let b = o.x * d.x + o.y * d.y; // half of the usual b
    let c = o.x * o.x + o.y * o.y - r * r;
    let disc = b * b - a * c;
    if disc < 0.0 {
        return;
    }
    let s = disc.sqrt();
    for t in [(-b - s) / a, (-b + s) / a] {
        let z = o.z + t * d.z;
        if z >= z_lo && z <= z_hi {
            keep_min(best, t);
        }
    }
}

/// Crossing of the plane `z = z0` within the annulus `r_lo ≤ r ≤ r_hi`.
#[inline]
fn disk_crossing(
    o: &Vector3<f64>,
    d: &Vector3<f64>,
    z0: f64,
    r_lo: f64,
    r_hi: f64,
    best: &mut Option<f64>,
) {
    if d.z == 0.0 {
        return;
    }
    let t = (z0 - o.z) / d.z;
    let x = o.x + t * d.x;
    let y = o.y + t * d.y;
    let r2 = x * x + y * y;
    if r2 <= r_hi * r_hi && r2 >= r_lo * r_lo {
        keep_min(best, t);
    }
}

impl Shape {
    /// First boundary crossing `t > 0` of the ray `o + t·d` (part frame).
    #[inline]
    pub fn intersect(&self, o: &Vector3<f64>, d: &Vector3<f64>) -> Option<f64> {
        match *self {
            Shape::Cuboid { half_extents_m: h } => {
                // Slab test (Kay & Kajiya 1986).
                let mut t_enter = f64::NEG_INFINITY;
                let mut t_exit = f64::INFINITY;
                for k in 0..3 {
                    if d[k] == 0.0 {
                        if o[k].abs() > h[k] {
                            return None;
                        }
                        continue;
                    }
                    let inv = 1.0 / d[k];
                    let t0 = (-h[k] - o[k]) * inv;
                    let t1 = (h[k] - o[k]) * inv;
                    let (near, far) = if t0 < t1 { (t0, t1) } else { (t1, t0) };
                    t_enter = t_enter.max(near);
                    t_exit = t_exit.min(far);
                }
                if t_enter > t_exit || t_exit <= 0.0 {
                    None
                } else if t_enter > 0.0 {
                    Some(t_enter)
                } else {
                    Some(t_exit)
                }
            }
            Shape::Cylinder {
                radius_m: r,
                half_height_m: h,
            } => {
                let mut best = None;
                side_crossings(o, d, r, -h, h, &mut best);
                disk_crossing(o, d, -h, 0.0, r, &mut best);
                disk_crossing(o, d, h, 0.0, r, &mut best);
                best
            }
            Shape::Cup {
                radius_m: r,
                inner_radius_m: ri,
                half_height_m: h,
                bottom_thickness_m: tb,
            } => {
                let mut best = None;
                let floor_z = -h + tb;
                side_crossings(o, d, r, -h, h, &mut best);
                disk_crossing(o, d, -h, 0.0, r, &mut best);
                if floor_z < h {
                    disk_crossing(o, d, h, ri, r, &mut best);
                    side_crossings(o, d, ri, floor_z, h, &mut best);
                    disk_crossing(o, d, floor_z, 0.0, ri, &mut best);
                } else {
                    disk_crossing(o, d, h, 0.0, r, &mut best);
                }
                best
            }
        }
    }

    /// Whether a point (part frame) lies inside the closed solid.
    pub fn contains(&self, p: &Vector3<f64>) -> bool {
        match *self {
            Shape::Cuboid { half_extents_m: h } => {
                p.x.abs() <= h.x && p.y.abs() <= h.y && p.z.abs() <= h.z
            }
            Shape::Cylinder {
                radius_m: r,
                half_height_m: h,
            } => p.x * p.x + p.y * p.y <= r * r && p.z.abs() <= h,
            Shape::Cup {
                radius_m: r,
                inner_radius_m: ri,
                half_height_m: h,
                bottom_thickness_m: tb,
            } => {
                let r2 = p.x * p.x + p.y * p.y;
                let in_outer = r2 <= r * r && p.z.abs() <= h;
                let in_bore = r2 < ri * ri && p.z > -h + tb;
                in_outer && !in_bore
            }
        }
    }

    /// Volume of the solid, m³.
    pub fn volume_m3(&self) -> f64 {
        use std::f64::consts::PI;
        match *self {
            Shape::Cuboid { half_extents_m: h } => 8.0 * h.x * h.y * h.z,
            Shape::Cylinder {
                radius_m: r,
                half_height_m: h,
            } => PI * r * r * 2.0 * h,
            Shape::Cup {
                radius_m: r,
                inner_radius_m: ri,
                half_height_m: h,
                bottom_thickness_m: tb,
            } => PI * r * r * 2.0 * h - PI * ri * ri * (2.0 * h - tb).max(0.0),
        }
    }

    /// Centroid of the solid in the part frame.
    pub fn centroid(&self) -> Vector3<f64> {
        match *self {
            Shape::Cup {
                radius_m: r,
                inner_radius_m: ri,
                half_height_m: h,
                bottom_thickness_m: tb,
            } => {
                use std::f64::consts::PI;
                // Outer cylinder (centroid 0) minus the bore (centroid at tb/2).
                let v_outer = PI * r * r * 2.0 * h;
                let v_bore = PI * ri * ri * (2.0 * h - tb).max(0.0);
                Vector3::new(0.0, 0.0, -v_bore * (tb / 2.0) / (v_outer - v_bore))
            }
            _ => Vector3::zeros(),
        }
    }

    /// Half extents of the shape's bounding box (part frame).
    pub fn half_extents_m(&self) -> Vector3<f64> {
        match *self {
            Shape::Cuboid { half_extents_m } => half_extents_m,
            Shape::Cylinder {
                radius_m: r,
                half_height_m: h,
            }
            | Shape::Cup {
                radius_m: r,
                half_height_m: h,
                ..
            } => Vector3::new(r, r, h),
        }
    }
}

/// One primitive placed in an object: `object_from_part` maps part
/// coordinates into the object frame.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// Pose of the part in its object.
    pub object_from_part: Isometry3<f64>,
    /// The solid.
    pub shape: Shape,
}

impl Part {
    /// A part translated (not rotated) to `center_m` in the object frame.
    pub fn at(center_m: Vector3<f64>, shape: Shape) -> Self {
        Self {
            object_from_part: Isometry3::translation(center_m.x, center_m.y, center_m.z),
            shape,
        }
    }

    /// An axis-aligned box of full size `size_m` centred at `center_m`.
    pub fn cuboid(center_m: Vector3<f64>, size_m: Vector3<f64>) -> Self {
        Self::at(
            center_m,
            Shape::Cuboid {
                half_extents_m: size_m / 2.0,
            },
        )
    }

    /// Axis-aligned (object frame) bounding box of the part: `(min, max)`.
    pub fn object_aabb(&self) -> (Point3<f64>, Point3<f64>) {
        let h = self.shape.half_extents_m();
        let r = self.object_from_part.rotation.to_rotation_matrix();
        let abs = r.matrix().abs();
        let e = abs * h;
        let c = self.object_from_part.translation.vector;
        (Point3::from(c - e), Point3::from(c + e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensor::synthetic::rng::Rng;

    fn shapes() -> Vec<Shape> {
        vec![
            Shape::Cuboid {
                half_extents_m: Vector3::new(0.3, 0.2, 0.1),
            },
            Shape::Cylinder {
                radius_m: 0.15,
                half_height_m: 0.25,
            },
            Shape::Cup {
                radius_m: 0.2,
                inner_radius_m: 0.16,
                half_height_m: 0.2,
                bottom_thickness_m: 0.05,
            },
        ]
    }

    /// Brute force: march along the ray and report the first sample inside.
    fn march(
        shape: &Shape,
        o: &Vector3<f64>,
        d: &Vector3<f64>,
        step: f64,
        t_max: f64,
    ) -> Option<f64> {
        let n = (t_max / step) as usize;
        (1..=n)
            .map(|i| i as f64 * step)
            .find(|&t| shape.contains(&(o + d * t)))
    }

    #[test]
    fn intersection_matches_ray_marching() {
        let mut rng = Rng::new(3);
        let step = 2e-4;
        for shape in shapes() {
            let (mut hits, mut misses) = (0, 0);
            for _ in 0..300 {
                // Origin outside the bounding box, aimed near the shape.
                let dir = Vector3::new(rng.gaussian(), rng.gaussian(), rng.gaussian()).normalize();
                let o = dir * rng.range(0.6, 1.0);
                let target = Vector3::new(
                    rng.range(-0.3, 0.3),
                    rng.range(-0.3, 0.3),
                    rng.range(-0.3, 0.3),
                );
                let d = (target - o) * rng.range(0.5, 2.0); // non-unit on purpose
                let analytic = shape.intersect(&o, &d);
                let brute = march(&shape, &o, &d, step / d.norm(), 3.0);
                match (analytic, brute) {
                    (Some(a), Some(b)) => {
                        hits += 1;
                        assert!(
                            b >= a - 1e-12 && (b - a) * d.norm() <= step + 1e-9,
                            "{shape:?}: analytic {a}, marched {b}"
                        );
                    }
                    (None, None) => misses += 1,
                    (a, b) => panic!("{shape:?}: analytic {a:?} vs marched {b:?}"),
                }
            }
            assert!(
                hits > 50 && misses > 10,
                "{shape:?}: {hits} hits {misses} misses"
            );
        }
    }

    #[test]
    fn volumes_match_monte_carlo() {
        let mut rng = Rng::new(11);
        for shape in shapes() {
            let h = shape.half_extents_m();
            let n = 200_000;
            let mut inside = 0;
            let mut centroid = Vector3::zeros();
            for _ in 0..n {
                let p = Vector3::new(
                    rng.range(-h.x, h.x),
                    rng.range(-h.y, h.y),
                    rng.range(-h.z, h.z),
                );
                if shape.contains(&p) {
                    inside += 1;
                    centroid += p;
                }
            }
            let box_volume = 8.0 * h.x * h.y * h.z;
            let mc = box_volume * inside as f64 / n as f64;
            let v = shape.volume_m3();
            assert!((mc - v).abs() < 0.02 * v, "{shape:?}: MC {mc} vs {v}");
            let c = centroid / inside as f64;
            assert!(
                (c - shape.centroid()).norm() < 0.01 * h.norm(),
                "{shape:?}: {c} vs {}",
                shape.centroid()
            );
        }
    }
}
