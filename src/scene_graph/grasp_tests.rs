//! Tests of [`super`] (grasp planning), kept apart so `grasp.rs` stays one concept.

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

fn cylinder_samples(c: Point3<f64>, r: f64, half_h: f64) -> (Vec<Point3<f64>>, Vec<Vector3<f64>>) {
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
        assert!(gripper
            .boxes(&g.contact_a_m, &g.contact_b_m, &g.approach)
            .iter()
            .all(|bx| box_free(bx, &occupancy)));
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
fn side_approach_when_the_top_is_blocked() {
    // A 6 x 6 x 10 cm box on a table at 0 with a board 2 cm above it:
    // no top-down grasp fits, tilted or horizontal ones do.
    let c = Point3::new(0.0, 0.0, 0.05);
    let h = Vector3::new(0.03, 0.03, 0.05);
    let (pts, nrm) = box_samples(c, h, 0.01);
    let on_table = box_on_table(c, h, 0.0);
    let occupancy = |p: &Point3<f64>, r: f64| on_table(p, r) && p.z < 0.12 - r;
    let gripper = GripperConfig::default();
    let (grasps, counts) = antipodal_grasps_counted(&pts, &nrm, &gripper, &occupancy).unwrap();
    assert!(!grasps.is_empty(), "{counts:?}");
    for g in &grasps {
        assert!(g.approach.z > -0.9, "{g:?}");
        let boxes = gripper.boxes(&g.contact_a_m, &g.contact_b_m, &g.approach);
        assert!(boxes.iter().all(|bx| box_free(bx, &occupancy)));
        // The most downward approach of that axis is blocked.
        let axis = (g.contact_b_m - g.contact_a_m).normalize();
        let down = approach_directions(&axis)[0];
        let boxes = gripper.boxes(&g.contact_a_m, &g.contact_b_m, &down);
        assert!(!boxes.iter().all(|bx| box_free(bx, &occupancy)));
    }
}

#[test]
fn uncertainty_grows_all_but_the_inner_finger_faces() {
    let gripper = GripperConfig::default();
    let a = Point3::new(-0.03, 0.0, 0.0);
    let b = Point3::new(0.03, 0.0, 0.0);
    let down = -Vector3::z();
    let nominal = gripper.boxes(&a, &b, &down);
    let wide = grown(nominal, 0.01);
    // Inner faces stay clearance_m outside the contacts.
    let inner = |bx: &GripperBox, sign: f64| bx.center_m.x - sign * bx.half_extents_m.x;
    assert!((inner(&wide[0], -1.0) - (a.x - gripper.clearance_m)).abs() < 1e-12);
    assert!((inner(&wide[1], 1.0) - (b.x + gripper.clearance_m)).abs() < 1e-12);
    assert!((inner(&nominal[0], -1.0) - inner(&wide[0], -1.0)).abs() < 1e-12);
    // Every other face moved out by the margin.
    assert!((wide[0].half_extents_m.y - nominal[0].half_extents_m.y - 0.01).abs() < 1e-12);
    assert!((wide[2].half_extents_m - nominal[2].half_extents_m).amin() > 0.01 - 1e-12);
    // Points of the nominal boxes are inside the grown ones.
    for (n, w) in nominal.iter().zip(&wide) {
        let (cells, _) = n.cell_centres(0.004);
        assert!(cells.iter().all(|p| w.contains(p) && n.contains(p)));
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
    assert!(antipodal_grasps(&pts[..3], &nrm[..2], &GripperConfig::default(), &occupancy).is_err());
}
