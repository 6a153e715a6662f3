//! Bad frames at the library level: every consumer of an `RgbdFrame`
//! (`TsdfIntegrator::integrate`, `RgbdOdometry::prepare` / `track`,
//! `SceneGraphBuilder::observe_frame`) answers a broken frame with a typed
//! error or a counted skip — never a panic — and nothing already mapped is
//! lost: the map file bytes (`to_map_bytes`) are identical after an all-invalid
//! frame, and a partly invalid frame changes exactly what its valid pixels
//! alone would have changed.
//!
//! Reader-level defects (corrupt/truncated PNG and JPEG, 8-bit depth PNG,
//! timestamps backwards, empty folders) live in `tests/tum_bad_input.rs`;
//! map-file defects in `tests/tsdf_map_file.rs` (see `docs/RELIABILITY.md`).

use nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector3};
use scenemap::mesh::Mesher;
use scenemap::odometry::{OdometryConfig, RgbdOdometry};
use scenemap::scene_graph::map_query::SurfaceSamples;
use scenemap::scene_graph::{SceneGraphBuilder, SceneGraphConfig};
use scenemap::sensor::synthetic::{RenderOptions, Renderer, SyntheticScene, Trajectory};
use scenemap::tsdf::{TsdfConfig, TsdfIntegrator, TsdfVolume};
use scenemap::{Error, PinholeCamera, RgbdFrame, Timestamp};

const WIDTH: u32 = 160;
const HEIGHT: u32 = 120;

fn camera() -> PinholeCamera {
    PinholeCamera::new(WIDTH, HEIGHT, 130.0, 130.0, 79.5, 59.5).unwrap()
}

/// The furnished room, a good frame at `t = 0` s of the gentle orbit and its
/// pose, and a 5 cm map holding that frame.
struct Fixture {
    camera: PinholeCamera,
    good: RgbdFrame,
    world_from_camera: Isometry3<f64>,
    volume: TsdfVolume,
    integrator: TsdfIntegrator,
}

impl Fixture {
    fn new() -> Self {
        let scene = SyntheticScene::furnished_room(7);
        let trajectory = Trajectory::gentle(&scene, 7);
        let camera = camera();
        let world_from_camera = trajectory.pose(0.0);
        let options = RenderOptions {
            timestamp: Timestamp(1_000_000_000),
            ..RenderOptions::default()
        };
        let good = Renderer::new(camera)
            .render(&scene, &world_from_camera, &options)
            .frame;
        assert!(good.valid_depth_count() > good.pixel_count() / 2);
        let mut volume = TsdfVolume::new(TsdfConfig::for_voxel_size_m(0.05)).unwrap();
        let mut integrator = TsdfIntegrator::new();
        integrator
            .integrate(&mut volume, &good, &camera, &world_from_camera)
            .unwrap();
        assert!(volume.block_count() > 50);
        Self {
            camera,
            good,
            world_from_camera,
            volume,
            integrator,
        }
    }

    /// The good frame, a little later, with every depth replaced.
    fn with_depth(&self, depth: impl Fn(usize, f32) -> f32) -> RgbdFrame {
        let mut frame = self.good.clone();
        frame.timestamp = Timestamp(2_000_000_000);
        for (i, d) in frame.depth_m.iter_mut().enumerate() {
            *d = depth(i, *d);
        }
        frame
    }

    /// A pose 10 cm to the side of the first one: integrating there really
    /// changes voxels, so an unchanged map means the frame was skipped.
    fn moved_pose(&self) -> Isometry3<f64> {
        self.world_from_camera * Translation3::new(0.1, 0.0, 0.0)
    }
}

/// Depth values that are not measurements, each with a name for messages.
fn invalid_depths() -> Vec<(&'static str, f32)> {
    vec![
        ("zero", 0.0),
        ("NaN", f32::NAN),
        ("+inf", f32::INFINITY),
        ("-inf", f32::NEG_INFINITY),
        ("negative", -1.5),
        ("-0", -0.0),
        ("subnormal", 1e-40),
        ("below min range", 0.05),
        ("beyond max range (TSDF 4 m, odometry 5 m)", 6.0),
        ("far beyond range", 1e30),
        ("f32::MAX", f32::MAX),
    ]
}

#[test]
fn all_invalid_depth_is_a_counted_skip_and_keeps_the_map() {
    let mut fx = Fixture::new();
    let before = fx.volume.to_map_bytes();
    let pose = fx.moved_pose();
    let n = fx.good.pixel_count();
    for (name, value) in invalid_depths() {
        let frame = fx.with_depth(|_, _| value);
        let stats = fx
            .integrator
            .integrate(&mut fx.volume, &frame, &fx.camera, &pose)
            .unwrap_or_else(|e| panic!("{name}: integrate failed: {e}"));
        assert_eq!(stats.valid_pixels, 0, "{name}");
        assert_eq!(stats.invalid_pixels, n, "{name}: every pixel is counted");
        assert_eq!(stats.blocks_touched, 0, "{name}");
        assert_eq!(stats.voxels_updated, 0, "{name}");
        assert_eq!(fx.volume.to_map_bytes(), before, "{name}: map changed");
    }
    // A good frame at the same pose does change the map: the check above
    // would have seen a change.
    let good = fx.with_depth(|_, d| d);
    fx.integrator
        .integrate(&mut fx.volume, &good, &fx.camera, &pose)
        .unwrap();
    assert_ne!(fx.volume.to_map_bytes(), before);
}

/// Oracle: a frame with garbage in some pixels fuses exactly like the same
/// frame with those pixels set to 0 ("no measurement").
#[test]
fn partly_invalid_depth_changes_only_what_its_valid_pixels_change() {
    let fx = Fixture::new();
    let pose = fx.moved_pose();
    let invalid = invalid_depths();
    // Every third pixel garbage, cycling through the invalid values; the
    // left quarter of the image entirely garbage.
    let garbage = |i: usize| -> Option<f32> {
        let u = i % WIDTH as usize;
        (u < WIDTH as usize / 4 || i.is_multiple_of(3)).then(|| invalid[i % invalid.len()].1)
    };
    let dirty = fx.with_depth(|i, d| garbage(i).unwrap_or(d));
    let clean = fx.with_depth(|i, d| if garbage(i).is_some() { 0.0 } else { d });

    let mut a = fx.volume.clone();
    let mut b = fx.volume.clone();
    let mut ia = TsdfIntegrator::new();
    let mut ib = TsdfIntegrator::new();
    let sa = ia.integrate(&mut a, &dirty, &fx.camera, &pose).unwrap();
    let sb = ib.integrate(&mut b, &clean, &fx.camera, &pose).unwrap();
    assert_eq!(sa, sb, "same valid pixels, same statistics");
    assert!(sa.valid_pixels > 0 && sa.voxels_updated > 0);
    assert_eq!(a.to_map_bytes(), b.to_map_bytes());

    // And blocks outside the band of the valid pixels are untouched.
    let band = TsdfIntegrator::new()
        .blocks_in_band(&fx.volume, &clean, &fx.camera, &pose)
        .unwrap();
    let mut untouched = 0;
    for (index, block) in fx.volume.blocks() {
        if band.binary_search(index).is_err() {
            assert_eq!(a.block(index), Some(block), "block {index:?} changed");
            untouched += 1;
        }
    }
    assert!(untouched > 0, "the test must look at some untouched block");
    for index in a.block_indices() {
        assert!(
            fx.volume.contains_block(&index) || band.binary_search(&index).is_ok(),
            "block {index:?} allocated outside the band"
        );
    }
}

/// A frame that does not match the camera, or whose buffers disagree with
/// its size, is a typed `InvalidFrame` error naming the frame; the map is
/// unchanged.
#[test]
fn inconsistent_frames_are_typed_errors() {
    let mut fx = Fixture::new();
    let before = fx.volume.to_map_bytes();
    let pose = fx.moved_pose();
    let ts = Timestamp(3_000_000_000);
    let n = fx.good.pixel_count();
    let half = RgbdFrame::new(
        ts,
        WIDTH / 2,
        HEIGHT / 2,
        vec![[9; 3]; n / 4],
        vec![1.0; n / 4],
    )
    .unwrap();
    let transposed = RgbdFrame::new(ts, HEIGHT, WIDTH, vec![[9; 3]; n], vec![1.0; n]).unwrap();
    // Public fields let a caller build frames `RgbdFrame::new` would reject.
    let mut short_depth = fx.good.clone();
    short_depth.timestamp = ts;
    short_depth.depth_m.truncate(n - 1);
    let mut short_color = fx.good.clone();
    short_color.timestamp = ts;
    short_color.color.truncate(n / 2);
    let mut long_depth = fx.good.clone();
    long_depth.timestamp = ts;
    long_depth.depth_m.extend_from_slice(&[1.0; 7]);
    let mut empty = fx.good.clone();
    empty.timestamp = ts;
    empty.depth_m.clear();
    empty.color.clear();

    let cases = [
        ("half size", half),
        ("transposed", transposed),
        ("short depth", short_depth),
        ("short colour", short_color),
        ("long depth", long_depth),
        ("empty buffers", empty),
    ];
    for (name, frame) in &cases {
        let err = fx
            .integrator
            .integrate(&mut fx.volume, frame, &fx.camera, &pose)
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidFrame { frame, .. } if frame == ts),
            "{name}: {err}"
        );
        assert_eq!(fx.volume.to_map_bytes(), before, "{name}: map changed");
        assert!(fx
            .integrator
            .blocks_in_band(&fx.volume, frame, &fx.camera, &pose)
            .is_err());
    }
    // The same buffers through the checked constructor.
    assert!(RgbdFrame::new(ts, WIDTH, HEIGHT, vec![[0; 3]; n], vec![0.0; n / 2]).is_err());
    assert!(RgbdFrame::new(ts, WIDTH, HEIGHT, vec![[0; 3]; n - 1], vec![0.0; n]).is_err());
    assert!(RgbdFrame::new(ts, 0, HEIGHT, vec![], vec![]).is_err());
    // A degenerate camera is a configuration error, not a panic.
    let mut bad_camera = fx.camera;
    bad_camera.fx = f64::NAN;
    assert!(fx
        .integrator
        .integrate(&mut fx.volume, &fx.good, &bad_camera, &pose)
        .is_err());
    assert_eq!(fx.volume.to_map_bytes(), before);
}

/// A pose that is not finite (a diverged tracker) or absurdly far away must
/// not panic, allocate out of range or touch the mapped blocks.
#[test]
fn non_finite_or_far_poses_keep_the_map() {
    let mut fx = Fixture::new();
    let before = fx.volume.to_map_bytes();
    let nan = Isometry3::from_parts(
        Translation3::new(f64::NAN, 0.0, 0.0),
        UnitQuaternion::identity(),
    );
    let inf = Isometry3::from_parts(
        Translation3::new(f64::INFINITY, 1.0, 1.0),
        UnitQuaternion::identity(),
    );
    let far = Isometry3::from_parts(
        Translation3::new(1e12, -1e12, 0.0),
        UnitQuaternion::identity(),
    );
    let nan_rotation = Isometry3::from_parts(
        Translation3::new(1.0, 1.0, 1.0),
        UnitQuaternion::new_unchecked(nalgebra::Quaternion::new(f64::NAN, 0.0, 0.0, 0.0)),
    );
    for (name, pose) in [
        ("NaN translation", nan),
        ("inf translation", inf),
        ("1e12 m away", far),
        ("NaN rotation", nan_rotation),
    ] {
        match fx
            .integrator
            .integrate(&mut fx.volume, &fx.good, &fx.camera, &pose)
        {
            Ok(stats) => assert_eq!(stats.voxels_updated, 0, "{name}"),
            Err(e) => assert!(
                matches!(e, Error::InvalidFrame { frame, .. } if frame == fx.good.timestamp),
                "{name}: {e}"
            ),
        }
        assert_eq!(fx.volume.to_map_bytes(), before, "{name}: map changed");
    }
}

#[test]
fn odometry_rejects_or_tolerates_bad_frames() {
    let fx = Fixture::new();
    let odometry = RgbdOdometry::new(&fx.camera, OdometryConfig::default()).unwrap();
    let reference = odometry.prepare(&fx.good).unwrap();
    let identity = Isometry3::identity();
    // All-invalid depth of every kind: prepared fine, and tracking reports
    // a status (not a panic), never a non-finite pose. Against a good
    // reference the photometric term (which needs only the reference's
    // depth) still tracks the unchanged colour image to identity; with
    // invalid depth on both sides nothing can be tracked.
    for (name, value) in invalid_depths() {
        let frame = fx.with_depth(|_, _| value);
        let current = odometry
            .prepare(&frame)
            .unwrap_or_else(|e| panic!("{name}: prepare failed: {e}"));
        let result = odometry
            .track(&reference, &current, &identity)
            .unwrap_or_else(|e| panic!("{name}: track failed: {e}"));
        let t = result.reference_from_current.translation.vector;
        assert!(t.norm() < 0.02, "{name}: {t:?}");
        let result = odometry
            .track(&current, &current, &identity)
            .unwrap_or_else(|e| panic!("{name}: track failed: {e}"));
        assert!(result.status.is_lost(), "{name}: {:?}", result.status);
        assert_eq!(result.reference_from_current, identity, "{name}");
    }
    // NaN intensity cannot happen (u8 colour); a partly invalid frame tracks.
    let partly = fx.with_depth(|i, d| if i % 2 == 0 { f32::NAN } else { d });
    let current = odometry.prepare(&partly).unwrap();
    let result = odometry.track(&reference, &current, &identity).unwrap();
    assert!(result.reference_from_current.translation.vector.norm() < 0.02);

    // Wrong size and inconsistent buffers: typed errors.
    let n = fx.good.pixel_count();
    let ts = Timestamp(5);
    let half = RgbdFrame::new(
        ts,
        WIDTH / 2,
        HEIGHT / 2,
        vec![[0; 3]; n / 4],
        vec![1.0; n / 4],
    )
    .unwrap();
    let mut short_depth = fx.good.clone();
    short_depth.depth_m.truncate(n - 3);
    let mut short_color = fx.good.clone();
    short_color.color.truncate(10);
    for (name, frame) in [
        ("half", &half),
        ("short depth", &short_depth),
        ("short colour", &short_color),
    ] {
        let err = odometry.prepare(frame).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidFrame { .. } | Error::InvalidArgument(_) | Error::Config(_)
            ),
            "{name}: {err}"
        );
    }
    // Pyramids of different cameras cannot be tracked against each other.
    let small_camera = PinholeCamera::new(80, 60, 65.0, 65.0, 39.5, 29.5).unwrap();
    let small = RgbdOdometry::new(&small_camera, OdometryConfig::default()).unwrap();
    let small_pyramid = small.prepare(&half).unwrap();
    assert!(odometry
        .track(&reference, &small_pyramid, &identity)
        .is_err());
    // A non-finite initial guess is reported, not propagated as a pose.
    let nan_guess = Isometry3::from_parts(
        Translation3::new(f64::NAN, 0.0, 0.0),
        UnitQuaternion::identity(),
    );
    if let Ok(result) = odometry.track(&reference, &reference, &nan_guess) {
        assert!(
            !matches!(result.status, scenemap::odometry::TrackingStatus::Ok),
            "NaN guess tracked as Ok"
        );
    }
}

#[test]
fn scene_graph_observation_skips_bad_frames() {
    let fx = Fixture::new();
    let mut volume = fx.volume.clone();
    let mut mesher = Mesher::new();
    mesher.update(&mut volume);
    let mesh = mesher.mesh();
    let samples = SurfaceSamples {
        points_m: mesh.vertices.clone(),
        normals: mesh.normals.clone(),
    };
    // 5 cm voxels: mesh vertices are ~5 cm apart, so cluster at 8 cm.
    let config = SceneGraphConfig {
        cluster_radius_m: 0.08,
        ..SceneGraphConfig::default()
    };
    let mut builder = SceneGraphBuilder::new(config).unwrap();
    builder
        .update(&samples, &volume, fx.good.timestamp)
        .unwrap();
    assert!(
        builder.graph().objects().count() > 0,
        "the room must give objects to observe"
    );
    let before = builder.graph().to_json().unwrap();
    for (name, value) in invalid_depths() {
        let frame = fx.with_depth(|_, _| value);
        let seen = builder
            .observe_frame(&frame, &fx.camera, &fx.world_from_camera, None)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(seen.is_empty(), "{name}: objects seen in an empty frame");
        assert_eq!(builder.graph().to_json().unwrap(), before, "{name}");
    }
    // Wrong size and inconsistent buffers.
    let n = fx.good.pixel_count();
    let half = RgbdFrame::new(
        Timestamp(9),
        WIDTH / 2,
        HEIGHT / 2,
        vec![[0; 3]; n / 4],
        vec![1.0; n / 4],
    )
    .unwrap();
    let mut short_depth = fx.good.clone();
    short_depth.depth_m.truncate(n / 3);
    let mut empty = fx.good.clone();
    empty.depth_m.clear();
    empty.color.clear();
    let nan_pose = Isometry3::from_parts(
        Translation3::from(Vector3::repeat(f64::NAN)),
        UnitQuaternion::identity(),
    );
    for (name, frame, pose) in [
        ("half", &half, fx.world_from_camera),
        ("short depth", &short_depth, fx.world_from_camera),
        ("empty buffers", &empty, fx.world_from_camera),
        ("NaN pose", &fx.good, nan_pose),
    ] {
        match builder.observe_frame(frame, &fx.camera, &pose, None) {
            Ok(seen) => assert!(seen.is_empty(), "{name}: saw {seen:?}"),
            Err(e) => assert!(matches!(e, Error::InvalidFrame { .. }), "{name}: {e}"),
        }
        assert_eq!(builder.graph().to_json().unwrap(), before, "{name}");
    }
    // The good frame does see objects and updates the graph: the checks
    // above would have noticed an observation.
    let seen = builder
        .observe_frame(&fx.good, &fx.camera, &fx.world_from_camera, None)
        .unwrap();
    assert!(!seen.is_empty());
    assert_ne!(builder.graph().to_json().unwrap(), before);
}
