//! TSDF integration, raycasting and meshing on analytic scenes with exact
//! answers. Heavy enough to prefer `cargo test --release --test tsdf_reconstruction`.

mod tsdf_common;

use std::collections::{HashMap, HashSet};

use nalgebra::{Isometry3, Point3, Vector3};
use scenemap::mesh::{mesh_volume, Mesh, Mesher};
use scenemap::tsdf::{BlockIndex, Raycaster, TsdfConfig, TsdfIntegrator, TsdfVolume};
use scenemap::{Error, RgbdFrame, Timestamp};
use tsdf_common::{look_at, render, scene_sdf, small_camera, views_around, Shape};

const VOXEL_M: f32 = 0.02;

fn sphere() -> Shape {
    Shape::Sphere(Point3::new(0.1, -0.05, 0.02), 0.3)
}

fn cuboid() -> Shape {
    Shape::Box(
        Point3::new(-0.03, 0.04, 0.01),
        Vector3::new(0.25, 0.2, 0.15),
    )
}

fn room() -> Shape {
    Shape::Room(Point3::new(0.05, 0.0, 0.0), 1.6)
}

/// Integrates `shapes` inside the room from `views` poses around them.
fn reconstruct(shapes: &[Shape], views: usize) -> (TsdfVolume, Vec<Isometry3<f64>>) {
    let mut shapes = shapes.to_vec();
    shapes.push(room());
    let shapes = &shapes[..];
    let camera = small_camera(160, 120);
    let mut volume = TsdfVolume::new(TsdfConfig::for_voxel_size_m(VOXEL_M)).unwrap();
    let mut integrator = TsdfIntegrator::new();
    let poses = views_around(Point3::new(0.05, 0.0, 0.0), 1.1, views);
    for pose in &poses {
        let frame = render(shapes, &camera, pose);
        integrator
            .integrate(&mut volume, &frame, &camera, pose)
            .unwrap();
    }
    (volume, poses)
}

/// The part of the mesh within `radius_m` of `centre` (drops the room).
fn crop(mesh: &Mesh, centre: Point3<f64>, radius_m: f64) -> Mesh {
    let keep: Vec<bool> = mesh
        .vertices
        .iter()
        .map(|v| (v.cast::<f64>() - centre).norm() < radius_m)
        .collect();
    let mut out = mesh.clone();
    out.triangles
        .retain(|t| t.iter().all(|&i| keep[i as usize]));
    let used: HashSet<u32> = out.triangles.iter().flatten().copied().collect();
    out.vertices = Vec::new();
    out.normals = Vec::new();
    out.colors = Vec::new();
    let mut remap = HashMap::new();
    for (i, p) in mesh.vertices.iter().enumerate() {
        if used.contains(&(i as u32)) {
            remap.insert(i as u32, out.vertices.len() as u32);
            out.vertices.push(*p);
            out.normals.push(mesh.normals[i]);
            out.colors.push(mesh.colors[i]);
        }
    }
    for t in &mut out.triangles {
        *t = t.map(|i| remap[&i]);
    }
    out
}

/// Every undirected edge is used by exactly two triangles, and no two
/// vertices coincide.
fn assert_watertight(mesh: &Mesh) {
    let mut edges: HashMap<(u32, u32), usize> = HashMap::new();
    for t in &mesh.triangles {
        for k in 0..3 {
            let (a, b) = (t[k], t[(k + 1) % 3]);
            *edges.entry((a.min(b), a.max(b))).or_default() += 1;
        }
    }
    let bad: Vec<_> = edges.iter().filter(|(_, &n)| n != 2).collect();
    assert!(
        bad.is_empty(),
        "{} of {} edges not shared by exactly 2 triangles, e.g. {:?}",
        bad.len(),
        edges.len(),
        &bad[..bad.len().min(5)]
    );
    let unique: HashSet<[u32; 3]> = mesh
        .vertices
        .iter()
        .map(|p| [p.x.to_bits(), p.y.to_bits(), p.z.to_bits()])
        .collect();
    assert_eq!(unique.len(), mesh.vertices.len(), "duplicated vertices");
}

fn rms_surface_error_m(mesh: &Mesh, shape: &Shape) -> f64 {
    let sum: f64 = mesh
        .vertices
        .iter()
        .map(|v| shape.sdf(&v.cast::<f64>()).powi(2))
        .sum();
    (sum / mesh.vertices.len() as f64).sqrt()
}

#[test]
fn sphere_mesh_is_accurate_and_watertight() {
    let shape = sphere();
    let (mut volume, _) = reconstruct(&[shape], 30);
    let mut mesher = Mesher::new();
    mesher.update(&mut volume);
    let mesh = crop(&mesher.mesh(), Point3::new(0.1, -0.05, 0.02), 0.8);
    assert!(
        mesh.triangle_count() > 1000,
        "{} triangles",
        mesh.triangle_count()
    );
    let rms = rms_surface_error_m(&mesh, &shape);
    assert!(rms < 0.5 * f64::from(VOXEL_M), "RMS {rms} m");
    assert_watertight(&mesh);
    // Normals agree with the analytic sphere normal and the winding.
    let Shape::Sphere(c, _) = shape else {
        unreachable!()
    };
    let mut worst = 1.0_f64;
    for (v, n) in mesh.vertices.iter().zip(&mesh.normals) {
        let truth = (v.cast::<f64>() - c).normalize();
        worst = worst.min(truth.dot(&n.cast::<f64>()));
    }
    assert!(worst > 0.9, "worst normal cosine {worst}");
    for t in &mesh.triangles {
        let [a, b, d] = t.map(|i| mesh.vertices[i as usize].cast::<f64>());
        let face = (b - a).cross(&(d - a));
        let centre = Point3::from((a.coords + b.coords + d.coords) / 3.0);
        assert!(face.dot(&(centre - c)) > 0.0, "triangle winds inwards");
    }
    // Memory follows the surface: blocks only near the sphere, ≤ 8 B/voxel.
    assert!(volume.bytes_per_voxel() <= 8);
    assert!(
        volume.memory_bytes_per_voxel() <= 8.0,
        "{}",
        volume.memory_bytes_per_voxel()
    );
    let block_m = f64::from(volume.block_size_m());
    for index in volume.block_indices() {
        let centre = Point3::new(
            (f64::from(index.x) + 0.5) * block_m,
            (f64::from(index.y) + 0.5) * block_m,
            (f64::from(index.z) + 0.5) * block_m,
        );
        let reach = 0.5 * 3.0_f64.sqrt() * block_m + f64::from(volume.truncation_distance_m());
        let near = scene_sdf(&[shape, room()], &centre).abs();
        assert!(near <= reach + 1e-6, "block {index:?} far from the surface");
    }
}

#[test]
fn box_mesh_is_accurate_and_watertight() {
    let shape = cuboid();
    let (volume, _) = reconstruct(&[shape], 36);
    let mesh = crop(&mesh_volume(&volume), Point3::new(-0.03, 0.04, 0.01), 0.8);
    let rms = rms_surface_error_m(&mesh, &shape);
    assert!(rms < 0.5 * f64::from(VOXEL_M), "RMS {rms} m");
    assert_watertight(&mesh);
}

#[test]
fn incremental_mesh_equals_full_remesh() {
    let shapes = [
        sphere(),
        Shape::Box(Point3::new(0.3, 0.3, -0.2), Vector3::new(0.1, 0.1, 0.1)),
    ];
    let camera = small_camera(120, 90);
    let mut volume = TsdfVolume::new(TsdfConfig::for_voxel_size_m(VOXEL_M)).unwrap();
    let mut integrator = TsdfIntegrator::new();
    let mut mesher = Mesher::new();
    let mut freed = 0;
    for (i, pose) in views_around(Point3::origin(), 1.0, 12).iter().enumerate() {
        let frame = render(&shapes, &camera, pose);
        let stats = integrator
            .integrate(&mut volume, &frame, &camera, pose)
            .unwrap();
        freed += stats.blocks_freed;
        let update = mesher.update(&mut volume);
        assert_eq!(volume.dirty_block_count(), 0);
        if i > 0 {
            assert!(update.blocks_meshed < 27 * volume.block_count());
        }
        if i % 4 == 3 {
            assert_eq!(mesher.mesh(), mesh_volume(&volume), "after frame {i}");
        }
    }
    assert!(freed > 0, "no free-space block was ever released");
    // Nothing dirty: a second update re-meshes nothing and changes nothing.
    let before = mesher.mesh();
    assert_eq!(mesher.update(&mut volume).blocks_meshed, 0);
    assert_eq!(mesher.mesh(), before);
}

#[test]
fn single_voxel_update_matches_hand_formula() {
    // Fronto-parallel wall at depth d: the projective SDF of a voxel on the
    // optical axis is exactly d − z.
    let camera = small_camera(40, 30);
    let config = TsdfConfig::for_voxel_size_m(0.02).with_max_weight(3);
    let mu = config.truncation_distance_m;
    let mut volume = TsdfVolume::new(config).unwrap();
    let mut integrator = TsdfIntegrator::new();
    let pose = Isometry3::identity();
    let wall = |d: f32, c: [u8; 3]| {
        RgbdFrame::new(Timestamp(0), 40, 30, vec![c; 1200], vec![d; 1200]).unwrap()
    };
    // Voxel with centre (0.01, 0.01, 0.99): on the axis (within a pixel).
    let g = [0, 0, 49];
    let z = volume.voxel_center_m(g).z;
    assert!((z - 0.99).abs() < 1e-6);
    let q = mu / 32767.0; // quantisation step
    let observations = [
        (1.0_f32, [100_u8, 50, 0]),
        (1.03, [200, 51, 255]),
        (0.97, [0, 0, 0]),
        (1.01, [90, 90, 90]),
    ];
    let mut expected_sdf = 0.0_f32;
    let mut expected_color = [0.0_f32; 3];
    let mut w = 0.0_f32;
    for (k, &(d, c)) in observations.iter().enumerate() {
        integrator
            .integrate(&mut volume, &wall(d, c), &camera, &pose)
            .unwrap();
        let tsdf = ((d - z) / mu).min(1.0) * mu;
        expected_sdf = (w * expected_sdf + tsdf) / (w + 1.0);
        for i in 0..3 {
            expected_color[i] = (w * expected_color[i] + f32::from(c[i])) / (w + 1.0);
        }
        w = (w + 1.0).min(3.0);
        let voxel = volume.voxel(g).unwrap();
        assert!(
            (voxel.sdf_m - expected_sdf).abs() <= 2.0 * q * (k + 1) as f32,
            "obs {k}: {} vs {expected_sdf}",
            voxel.sdf_m
        );
        assert_eq!(voxel.weight, (k as u16 + 1).min(3));
        for (stored, expected) in voxel.color.iter().zip(expected_color) {
            assert!(
                (f32::from(*stored) - expected).abs() <= 1.0 * (k + 1) as f32,
                "colour {k}"
            );
        }
    }
    // A voxel more than μ behind the wall is never updated; one far in
    // front is clamped to +μ.
    let behind = [0, 0, ((1.0 + mu + 0.03) / 0.02) as i32];
    assert!(volume.voxel(behind).is_none_or(|v| v.weight == 0));
    let front = [0, 0, ((1.0 - mu - 0.03) / 0.02) as i32];
    if let Some(v) = volume.voxel(front) {
        assert!(v.weight == 0 || (v.sdf_m - mu).abs() < q);
    }
}

#[test]
fn invalid_depth_is_skipped_and_counted() {
    let camera = small_camera(10, 10);
    let mut depth = vec![1.0_f32; 100];
    depth[0] = 0.0;
    depth[1] = f32::NAN;
    depth[2] = f32::INFINITY;
    depth[3] = -1.0;
    depth[4] = 100.0; // beyond max_integration_depth_m
    depth[5] = 0.05; // below min_integration_depth_m
    depth[6] = f32::NEG_INFINITY;
    let frame = RgbdFrame::new(Timestamp(3), 10, 10, vec![[9; 3]; 100], depth).unwrap();
    let mut volume = TsdfVolume::new(TsdfConfig::default()).unwrap();
    let stats = TsdfIntegrator::new()
        .integrate(&mut volume, &frame, &camera, &Isometry3::identity())
        .unwrap();
    assert_eq!(stats.invalid_pixels, 7);
    assert_eq!(stats.valid_pixels, 93);
    assert!(stats.blocks_touched > 0);
    // Wrong image size is a typed error naming the frame.
    let err = TsdfIntegrator::new()
        .integrate(
            &mut volume,
            &frame,
            &small_camera(12, 10),
            &Isometry3::identity(),
        )
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidFrame {
            frame: Timestamp(3),
            ..
        }
    ));
}

/// Segment–box overlap in f64 (slab method), box grown by `margin`.
fn segment_hits_box(
    p0: &Point3<f64>,
    p1: &Point3<f64>,
    lo: [f64; 3],
    hi: [f64; 3],
    margin: f64,
) -> bool {
    let (mut t0, mut t1) = (0.0_f64, 1.0_f64);
    let d = p1 - p0;
    for k in 0..3 {
        let (l, h) = (lo[k] - margin, hi[k] + margin);
        if d[k].abs() < 1e-15 {
            if p0[k] < l || p0[k] > h {
                return false;
            }
            continue;
        }
        let (a, b) = ((l - p0[k]) / d[k], (h - p0[k]) / d[k]);
        t0 = t0.max(a.min(b));
        t1 = t1.min(a.max(b));
    }
    t0 <= t1
}

#[test]
fn allocated_blocks_are_a_bounded_superset_of_the_brute_force_band() {
    // Documented guarantee of `TsdfIntegrator::blocks_in_band`: a superset
    // of the blocks crossed by every valid pixel's band segment (no missing
    // surface), whose extras come from the bounding box of an 8×8-pixel
    // tile's band frustum. Here a tile spans 8/51 rad (a block at 1 m) and
    // the frustum at most one block of depth plus 2μ, so every extra block
    // lies within 3 blocks of some segment.
    let shapes = [sphere(), cuboid()];
    let camera = small_camera(64, 48);
    let config = TsdfConfig::for_voxel_size_m(0.02);
    let mu = f64::from(config.truncation_distance_m);
    let mut volume = TsdfVolume::new(config).unwrap();
    let pose = look_at(Point3::new(0.9, -0.6, 0.5), Point3::new(0.0, 0.0, 0.0));
    let frame = render(&shapes, &camera, &pose);
    let mut integrator = TsdfIntegrator::new();
    let band: HashSet<BlockIndex> = integrator
        .blocks_in_band(&volume, &frame, &camera, &pose)
        .unwrap()
        .into_iter()
        .collect();
    // Brute force: every block near each pixel's band segment, tested
    // exactly against the segment.
    let block_m = f64::from(volume.block_size_m());
    let eps = 1e-5;
    let margin_m = 3.0 * block_m;
    let (mut must, mut may) = (HashSet::new(), HashSet::new());
    for v in 0..48 {
        for u in 0..64 {
            let d = f64::from(frame.depth_m[v * 64 + u]);
            if d <= 0.0 {
                continue;
            }
            let xy = camera
                .pixel_to_normalized(nalgebra::Point2::new(u as f64, v as f64))
                .unwrap();
            let ray = Vector3::new(xy.x, xy.y, 1.0);
            let p0 = pose * Point3::from(ray * (d - mu).max(0.0));
            let p1 = pose * Point3::from(ray * (d + mu));
            let lo = p0
                .coords
                .zip_map(&p1.coords, f64::min)
                .map(|c| (c / block_m).floor() as i32 - 4);
            let hi = p0
                .coords
                .zip_map(&p1.coords, f64::max)
                .map(|c| (c / block_m).floor() as i32 + 4);
            for x in lo.x..=hi.x {
                for y in lo.y..=hi.y {
                    for z in lo.z..=hi.z {
                        let b_lo = [x, y, z].map(|c| f64::from(c) * block_m);
                        let b_hi = [x, y, z].map(|c| f64::from(c + 1) * block_m);
                        if segment_hits_box(&p0, &p1, b_lo, b_hi, -eps) {
                            must.insert(BlockIndex::new(x, y, z));
                        }
                        if segment_hits_box(&p0, &p1, b_lo, b_hi, margin_m + eps) {
                            may.insert(BlockIndex::new(x, y, z));
                        }
                    }
                }
            }
        }
    }
    assert!(must.len() > 20);
    let missing: Vec<_> = must.difference(&band).collect();
    assert!(
        missing.is_empty(),
        "blocks in the band but not allocated: {missing:?}"
    );
    let extra: Vec<_> = band.difference(&may).collect();
    assert!(
        extra.is_empty(),
        "blocks allocated farther than 3 blocks from the band: {extra:?}"
    );
    // The superset stays tight enough to be cheap.
    assert!(
        band.len() <= 3 * must.len(),
        "{} blocks allocated for {} in the band",
        band.len(),
        must.len()
    );
    // Integration touches exactly that set; survivors are a subset, and
    // released blocks are accounted for.
    let stats = integrator
        .integrate(&mut volume, &frame, &camera, &pose)
        .unwrap();
    assert_eq!(stats.blocks_touched, band.len());
    assert_eq!(stats.blocks_allocated, band.len());
    assert_eq!(volume.block_count(), band.len() - stats.blocks_freed);
    // No surviving block is free space only.
    let mu32 = volume.truncation_distance_m();
    for index in volume.block_indices() {
        let block = volume.block(&index).unwrap();
        let has_band = (0..512).any(|i| {
            let v = block.voxel(i, mu32);
            v.weight > 0 && v.sdf_m < 0.99 * mu32
        });
        assert!(
            has_band,
            "block {index:?} kept without any voxel in the band"
        );
    }
}

#[test]
fn raycast_matches_analytic_depth_from_a_new_view() {
    let shape = sphere();
    let (volume, _) = reconstruct(&[shape], 30);
    let camera = small_camera(160, 120);
    // A view between the integration poses.
    let pose = look_at(Point3::new(0.7, 0.75, 0.3), Point3::new(0.05, -0.05, 0.0));
    let truth = render(&[shape, room()], &camera, &pose);
    let sphere_only = render(&[shape], &camera, &pose);
    let image = Raycaster::new().render(&volume, &camera, &pose).unwrap();
    let Shape::Sphere(c, _) = shape else {
        unreachable!()
    };
    let (mut sum_sq, mut n, mut both, mut truth_hits, mut cos_sum) = (0.0, 0, 0, 0, 0.0);
    let origin = Point3::from(pose.translation.vector);
    for v in 0..120 {
        for u in 0..160 {
            let i = v * 160 + u;
            let d_true = f64::from(truth.depth_m[i]);
            truth_hits += usize::from(d_true > 0.0);
            assert_eq!(image.hit[i], image.depth_m[i] > 0.0);
            if d_true > 0.0 && image.hit[i] {
                both += 1;
                if sphere_only.depth_m[i] == 0.0 {
                    continue; // the room: only the sphere is checked
                }
                // Skip the silhouette, where a ray grazes the surface.
                let xy = camera
                    .pixel_to_normalized(nalgebra::Point2::new(u as f64, v as f64))
                    .unwrap();
                let dir = pose.rotation * Vector3::new(xy.x, xy.y, 1.0);
                let p = origin + dir * d_true;
                let normal = (p - c).normalize();
                if normal.dot(&-dir.normalize()) < 0.3 {
                    continue;
                }
                let err = f64::from(image.depth_m[i]) - d_true;
                sum_sq += err * err;
                n += 1;
                cos_sum += normal.dot(&image.normals_world[i].cast::<f64>());
            }
        }
    }
    assert!(
        both as f64 > 0.97 * truth_hits as f64,
        "{both} of {truth_hits} hits"
    );
    assert!(image.hit_count() as f64 <= 1.02 * truth_hits as f64);
    let rms = (sum_sq / f64::from(n)).sqrt();
    assert!(
        rms < 0.5 * f64::from(VOXEL_M),
        "depth RMS {rms} m over {n} pixels"
    );
    assert!(
        cos_sum / f64::from(n) > 0.97,
        "mean normal cosine {}",
        cos_sum / f64::from(n)
    );
}
