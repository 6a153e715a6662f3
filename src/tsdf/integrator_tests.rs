//! Unit tests of the TSDF integrator (weights, drop-off, edge overhang).
use super::*;
use crate::sensor::Timestamp;
use crate::tsdf::TsdfConfig;
use nalgebra::{Point2, Rotation3, Translation3, UnitQuaternion};

const VOXEL_M: f32 = 0.02;

fn camera() -> PinholeCamera {
    PinholeCamera::new(160, 120, 150.0, 150.0, 79.5, 59.5).unwrap()
}

/// Camera at `eye` looking at `target`, world z up (camera x right,
/// y down, z forward).
fn look_at(eye: Vector3<f64>, target: Vector3<f64>) -> Isometry3<f64> {
    let forward = (target - eye).normalize();
    let right = forward.cross(&Vector3::z()).normalize();
    let down = forward.cross(&right);
    let rotation = Rotation3::from_matrix_unchecked(Matrix3::from_columns(&[right, down, forward]));
    Isometry3::from_parts(
        Translation3::from(eye),
        UnitQuaternion::from_rotation_matrix(&rotation),
    )
}

/// Exact depth image of the floor `z = 0` plus an axis-aligned box
/// `[lo, hi]` (slab test), depth along the optical axis.
fn render(
    camera: &PinholeCamera,
    world_from_camera: &Isometry3<f64>,
    lo: Vector3<f64>,
    hi: Vector3<f64>,
) -> RgbdFrame {
    let eye = world_from_camera.translation.vector;
    let mut depth = Vec::new();
    for v in 0..camera.height {
        for u in 0..camera.width {
            let ray_camera = camera
                .unproject(Point2::new(f64::from(u), f64::from(v)), 1.0)
                .unwrap()
                .coords;
            let dir = world_from_camera.rotation * ray_camera;
            let mut t = if dir.z < 0.0 { -eye.z / dir.z } else { 0.0 };
            let (mut t_in, mut t_out) = (f64::NEG_INFINITY, f64::INFINITY);
            for k in 0..3 {
                let (a, b) = ((lo[k] - eye[k]) / dir[k], (hi[k] - eye[k]) / dir[k]);
                t_in = t_in.max(a.min(b));
                t_out = t_out.min(a.max(b));
            }
            if t_in <= t_out && t_in > 0.0 && (t == 0.0 || t_in < t) {
                t = t_in;
            }
            depth.push(t as f32);
        }
    }
    let n = depth.len();
    RgbdFrame::new(
        Timestamp(0),
        camera.width,
        camera.height,
        vec![[128; 3]; n],
        depth,
    )
    .unwrap()
}

/// Fuses views of the box from four azimuths at two elevations.
fn fuse_box(dropoff: bool, lo: Vector3<f64>, hi: Vector3<f64>) -> TsdfVolume {
    let config = TsdfConfig::for_voxel_size_m(VOXEL_M).with_behind_surface_dropoff(dropoff);
    let mut volume = TsdfVolume::new(config).unwrap();
    let mut integrator = TsdfIntegrator::new();
    let camera = camera();
    let target = 0.5 * (lo + hi);
    for k in 0..8 {
        let azimuth = std::f64::consts::FRAC_PI_4 * f64::from(k) + 0.1;
        let (radius, height) = if k % 2 == 0 { (1.0, 1.2) } else { (1.3, 0.8) };
        let eye = target + Vector3::new(radius * azimuth.cos(), radius * azimuth.sin(), height);
        let pose = look_at(eye, target);
        integrator
            .integrate(&mut volume, &render(&camera, &pose, lo, hi), &camera, &pose)
            .unwrap();
    }
    volume
}

/// Height of the zero crossing along the vertical voxel column through
/// global (x, y), between voxel-centre heights `z_lo_m < z_hi_m`
/// (linear interpolation of the fused SDF), if observed.
fn zero_crossing_z(volume: &TsdfVolume, x: i32, y: i32, z_lo_m: f32, z_hi_m: f32) -> Option<f32> {
    let k_lo = (z_lo_m / VOXEL_M).floor() as i32;
    let k_hi = (z_hi_m / VOXEL_M).floor() as i32;
    (k_lo..k_hi).find_map(|k| {
        let (a, b) = (volume.voxel([x, y, k])?, volume.voxel([x, y, k + 1])?);
        (a.weight > 0 && b.weight > 0 && a.sdf_m < 0.0 && b.sdf_m >= 0.0).then(|| {
            let z_a = (k as f32 + 0.5) * VOXEL_M;
            z_a + VOXEL_M * a.sdf_m / (a.sdf_m - b.sdf_m)
        })
    })
}

#[test]
fn dropoff_weight_is_one_in_front_and_linear_behind() {
    let (mu, eps) = (0.08, 0.02);
    for sdf in [0.08, 0.03, 0.0, -0.01, -0.02] {
        assert_eq!(behind_surface_weight(sdf, mu, eps), 1.0);
    }
    for (sdf, w) in [
        (-0.03, 5.0 / 6.0),
        (-0.05, 0.5),
        (-0.07, 1.0 / 6.0),
        (-0.08, 0.0),
    ] {
        assert!(
            (behind_surface_weight(sdf, mu, eps) - w).abs() < 1e-6,
            "{sdf}"
        );
    }
    assert_eq!(behind_surface_weight(-0.2, mu, eps), 0.0);
    // Truncation of one voxel: no drop-off range, never NaN.
    assert_eq!(behind_surface_weight(-0.02, 0.02, 0.02), 1.0);
    assert_eq!(behind_surface_weight(-0.021, 0.02, 0.02), 0.0);
}

#[test]
fn dropoff_removes_edge_overhang_but_keeps_oblique_top_and_thin_plate_far_side() {
    // A 4 cm (two-voxel) plate, top at z = 0.5 m, over the floor, seen
    // obliquely (35-55° incidence) from eight directions.
    let (lo, hi) = (Vector3::new(-0.3, -0.2, 0.46), Vector3::new(0.3, 0.2, 0.5));
    let on = fuse_box(true, lo, hi);
    let off = fuse_box(false, lo, hi);
    let mut inside = 0;
    // Interior columns (≥ 2 voxels from the plate's sides).
    for x in -13..13 {
        for y in -8..8 {
            // Top surface: zero crossing at 0.50 m with and without
            // drop-off (exact depth: only the nearest-pixel lookup errs).
            for (name, volume) in [("on", &on), ("off", &off)] {
                let z = zero_crossing_z(volume, x, y, 0.45, 0.6)
                    .unwrap_or_else(|| panic!("{name}: no top surface at ({x}, {y})"));
                assert!(
                    (z - 0.5).abs() < 0.25 * VOXEL_M,
                    "{name} ({x}, {y}): top at {z}"
                );
            }
            // Far side not eroded: both voxel centres inside the plate
            // (0.47, 0.49 m) stay inside (negative).
            for k in [23, 24] {
                let v = on.voxel([x, y, k]).unwrap();
                assert!(v.weight > 0 && v.sdf_m < 0.0, "({x}, {y}, {k}): {v:?}");
                inside += 1;
            }
        }
    }
    assert_eq!(inside, 26 * 16 * 2);
    // Overhang: columns outside the plate's footprint (centre ≥ one
    // voxel past its sides) with a surface at plate height. Behind-edge
    // updates create them (23 columns here without drop-off, 3 with).
    let overhang = |volume: &TsdfVolume| {
        let mut n = 0;
        for x in -20..20 {
            for y in -15..15 {
                let (cx, cy) = ((x as f32 + 0.5) * VOXEL_M, (y as f32 + 0.5) * VOXEL_M);
                let outside = cx.abs() >= 0.3 + VOXEL_M || cy.abs() >= 0.2 + VOXEL_M;
                if outside && zero_crossing_z(volume, x, y, 0.3, 0.56).is_some() {
                    n += 1;
                }
            }
        }
        n
    };
    let (overhang_on, overhang_off) = (overhang(&on), overhang(&off));
    eprintln!("overhang columns: drop-off {overhang_on}, without {overhang_off}");
    assert!(overhang_off >= 10 && 3 * overhang_on <= overhang_off);
    // The floor (seen past the plate) is also unchanged.
    let floor = zero_crossing_z(&on, 30, 0, -0.1, 0.1).unwrap();
    assert!(floor.abs() < 0.25 * VOXEL_M, "floor at {floor}");
}
