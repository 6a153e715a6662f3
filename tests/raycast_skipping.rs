//! Oracle for the accelerated ray-cast (range image with view culling and
//! near-plane clipping, empty-space skipping at block granularity): it must
//! be as accurate as the brute-force march — every ray over the whole depth
//! range through every allocated block — against exact depth (synthetic
//! scene) and measured depth (TUM). The two do not agree bit for bit: the
//! march samples at other depths (its phase), which moves the refinement's
//! start and decides grazing rays. Release:
//! `cargo test --release --test raycast_skipping`.

mod common;
mod tsdf_common;

use nalgebra::{Isometry3, Point3, Vector3};
use scenemap::geometry::{pose_at, PinholeCamera};
use scenemap::sensor::TumSequence;
use scenemap::tsdf::{RaycastImage, Raycaster, TsdfConfig, TsdfIntegrator, TsdfVolume};
use tsdf_common::{look_at, render, small_camera, views_around, Shape};

/// Accuracy of a render against a reference depth image (exact for
/// synthetic scenes, measured for real data), on the reference's interior
/// pixels (4 neighbours valid within 5 % of its depth: at silhouettes a
/// grazing ray's hit depends on where the march samples, not on the
/// method).
#[derive(Debug)]
struct Accuracy {
    /// Interior reference pixels the render hits, fraction.
    coverage: f64,
    median_m: f32,
    p90_m: f32,
}

fn accuracy(image: &RaycastImage, reference_depth_m: &[f32]) -> Accuracy {
    let w = image.width as usize;
    let h = image.height as usize;
    let mut errors = Vec::new();
    let mut interior = 0;
    for v in 1..h - 1 {
        for u in 1..w - 1 {
            let i = v * w + u;
            let d = reference_depth_m[i];
            let ok = d > 0.0
                && [i - 1, i + 1, i - w, i + w].iter().all(|&j| {
                    let e = reference_depth_m[j];
                    e > 0.0 && (e - d).abs() < 0.05 * d
                });
            if !ok {
                continue;
            }
            interior += 1;
            if image.hit[i] {
                errors.push((image.depth_m[i] - d).abs());
            }
        }
    }
    errors.sort_by(f32::total_cmp);
    let at = |q: f64| errors[((errors.len() - 1) as f64 * q) as usize];
    Accuracy {
        coverage: errors.len() as f64 / interior.max(1) as f64,
        median_m: at(0.5),
        p90_m: at(0.9),
    }
}

/// The fast render is at least as accurate as the brute-force one (within
/// `slack_m`, a tenth of a voxel: the close-range view is where the
/// refinement from a different bracket differs most, +3 mm on its median)
/// and covers as many pixels.
fn assert_as_accurate(fast: &Accuracy, brute: &Accuracy, slack_m: f32, what: &str) {
    eprintln!("{what}: fast {fast:?}, brute force {brute:?}");
    assert!(fast.coverage >= brute.coverage - 0.005, "{what}: coverage");
    assert!(fast.median_m <= brute.median_m + slack_m, "{what}: median");
    assert!(fast.p90_m <= brute.p90_m + slack_m, "{what}: p90");
}

/// A sphere and a box in a room, fused at 4 cm from 16 views around them.
fn synthetic_room() -> ([Shape; 3], PinholeCamera, TsdfVolume) {
    let centre = Point3::new(0.05, 0.0, 0.0);
    let shapes = [
        Shape::Sphere(Point3::new(0.1, -0.05, 0.02), 0.3),
        Shape::Box(Point3::new(-0.5, 0.4, -0.3), Vector3::new(0.2, 0.25, 0.3)),
        Shape::Room(centre, 1.6),
    ];
    let camera = small_camera(96, 72);
    let mut volume = TsdfVolume::new(TsdfConfig::for_voxel_size_m(0.04)).unwrap();
    let mut integrator = TsdfIntegrator::new();
    for pose in views_around(centre, 1.1, 16) {
        let frame = render(&shapes, &camera, &pose);
        integrator
            .integrate(&mut volume, &frame, &camera, &pose)
            .unwrap();
    }
    (shapes, camera, volume)
}

#[test]
fn skipping_raycast_is_as_accurate_as_brute_force_on_a_synthetic_room() {
    let (shapes, camera, volume) = synthetic_room();
    // New views: between the integration poses, close to the sphere (blocks
    // cross the near plane), and near a wall looking along it.
    let views: [Isometry3<f64>; 3] = [
        look_at(Point3::new(0.7, 0.75, 0.3), Point3::new(0.05, -0.05, 0.0)),
        look_at(Point3::new(0.1, -0.05, 0.42), Point3::new(0.3, 0.6, -0.4)),
        look_at(Point3::new(-0.7, -0.7, 0.0), Point3::new(0.8, -0.7, 0.1)),
    ];
    let mut fast = Raycaster::new();
    let mut brute = Raycaster::new().with_empty_space_skipping(false);
    for (k, pose) in views.iter().enumerate() {
        let truth = render(&shapes, &camera, pose).depth_m;
        let a = fast.render(&volume, &camera, pose).unwrap();
        let b = brute.render(&volume, &camera, pose).unwrap();
        let (fa, ba) = (accuracy(&a, &truth), accuracy(&b, &truth));
        assert!(fa.coverage > 0.9, "view {k}: {fa:?}");
        assert_as_accurate(&fa, &ba, 0.1 * 0.04, &format!("view {k}"));
    }
}

/// `render_into` an image left from another view and camera size (the
/// tracker's reuse) equals a fresh `render` / `render_with_hint`.
#[test]
fn render_into_a_reused_image_equals_a_fresh_render() {
    let (_, camera, volume) = synthetic_room();
    let views = [
        look_at(Point3::new(0.7, 0.75, 0.3), Point3::new(0.05, -0.05, 0.0)),
        look_at(Point3::new(-0.7, -0.7, 0.0), Point3::new(0.8, -0.7, 0.1)),
    ];
    let mut raycaster = Raycaster::new();
    let mut image = raycaster
        .render(&volume, &small_camera(120, 90), &views[1])
        .unwrap();
    for pose in &views {
        let fresh = Raycaster::new().render(&volume, &camera, pose).unwrap();
        assert!(fresh.hit_count() > 0);
        raycaster
            .render_into(&volume, &camera, pose, None, &mut image)
            .unwrap();
        assert!(image == fresh);
        // A hint 5 cm behind the surface.
        let hint: Vec<f32> = fresh.depth_m.iter().map(|d| d + 0.05).collect();
        let hinted = Raycaster::new()
            .render_with_hint(&volume, &camera, pose, &hint)
            .unwrap();
        raycaster
            .render_into(&volume, &camera, pose, Some(&hint), &mut image)
            .unwrap();
        assert!(image == hinted);
    }
}

/// Real data: fr1/desk fused at groundtruth poses, rendered with the
/// (distorted) sensor camera at every frame's pose and compared with that
/// frame's measured depth.
#[test]
fn skipping_raycast_is_as_accurate_as_brute_force_on_tum_desk() {
    let Some(path) = common::tum_sequence("fr1_desk_9f") else {
        eprintln!("skipped: fr1_desk_9f not found");
        return;
    };
    let sequence = TumSequence::open(&path).unwrap();
    let camera = *sequence.camera();
    let groundtruth = sequence.groundtruth().expect("groundtruth.txt").to_vec();
    let mut volume = TsdfVolume::new(TsdfConfig::default()).unwrap();
    let mut integrator = TsdfIntegrator::new();
    let mut frames = Vec::new();
    for i in 0..sequence.len() {
        let timestamp = sequence.pairs()[i].color_timestamp;
        let Some(pose) = pose_at(&groundtruth, timestamp, 0.02) else {
            continue;
        };
        let frame = sequence.frame(i).unwrap();
        integrator
            .integrate(&mut volume, &frame, &camera, &pose)
            .unwrap();
        frames.push((frame, pose));
    }
    assert!(frames.len() >= 5);
    let mut fast = Raycaster::new();
    let mut brute = Raycaster::new().with_empty_space_skipping(false);
    for (k, (frame, pose)) in frames.iter().enumerate() {
        let a = fast.render(&volume, &camera, pose).unwrap();
        let b = brute.render(&volume, &camera, pose).unwrap();
        let (fa, ba) = (accuracy(&a, &frame.depth_m), accuracy(&b, &frame.depth_m));
        assert!(fa.coverage > 0.9, "frame {k}: {fa:?}");
        assert_as_accurate(&fa, &ba, 0.1 * 0.02, &format!("frame {k}"));
    }
}

/// Depth hints ([`Raycaster::render_with_hint`]) change where rays start,
/// not what they find: with exact, too-near, and too-far-within-the-margin
/// hints the render is as accurate as without and covers as much; an
/// all-zero hint is the plain render exactly. (A hint too far by more than
/// the margin can skip a surface: documented, not tested.)
#[test]
fn hinted_raycast_is_as_accurate_as_unhinted() {
    let (shapes, camera, volume) = synthetic_room();
    let views: [Isometry3<f64>; 2] = [
        look_at(Point3::new(0.7, 0.75, 0.3), Point3::new(0.05, -0.05, 0.0)),
        look_at(Point3::new(-0.7, -0.7, 0.0), Point3::new(0.8, -0.7, 0.1)),
    ];
    let mut raycaster = Raycaster::new();
    for (k, pose) in views.iter().enumerate() {
        let truth = render(&shapes, &camera, pose).depth_m;
        let plain = raycaster.render(&volume, &camera, pose).unwrap();
        let pa = accuracy(&plain, &truth);
        let none = vec![0.0_f32; truth.len()];
        assert_eq!(
            raycaster
                .render_with_hint(&volume, &camera, pose, &none)
                .unwrap(),
            plain
        );
        // Margin 1 μ = 0.16 m at 4 cm voxels (μ = 4 voxels).
        for (what, offset_m) in [
            ("exact", 0.0_f32),
            ("0.5 m near", -0.5),
            ("0.12 m far", 0.12),
        ] {
            let hint: Vec<f32> = truth
                .iter()
                .map(|&d| if d > 0.0 { d + offset_m } else { 0.0 })
                .collect();
            let hinted = raycaster
                .render_with_hint(&volume, &camera, pose, &hint)
                .unwrap();
            let ha = accuracy(&hinted, &truth);
            assert_as_accurate(&ha, &pa, 0.1 * 0.04, &format!("view {k}, {what} hint"));
        }
    }
    let short = vec![1.0_f32; 10];
    assert!(raycaster
        .render_with_hint(&volume, &camera, &views[0], &short)
        .is_err());
}
