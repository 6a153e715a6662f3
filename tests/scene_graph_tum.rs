//! Real data: the scene graph of TUM fr1_rpy (a desk seen from one spot),
//! fused at 2 cm with the motion-capture groundtruth poses.
//! Heavy: run with `cargo test --release --test scene_graph_tum`.
//!
//! Gravity: the groundtruth world frame is z up (the motion-capture
//! convention; `tests/imu_tum.rs` checks it against the Kinect
//! accelerometer), so the builder's gravity frame is the identity.

mod common;

use scenemap::geometry::pose_at;
use scenemap::mesh::Mesher;
use scenemap::scene_graph::map_query::SurfaceSamples;
use scenemap::scene_graph::{Relation, SceneGraph, SceneGraphBuilder, SceneGraphConfig};
use scenemap::sensor::TumSequence;
use scenemap::tsdf::{TsdfConfig, TsdfIntegrator, TsdfVolume};

/// Poses interpolated between groundtruth samples at most this far apart.
const MAX_GAP_S: f64 = 0.02;

#[test]
fn fr1_rpy_desk_top_is_a_support_surface_with_objects_on_it() {
    let Some(dir) = common::tum_sequence("fr1_rpy") else {
        return;
    };
    let sequence = TumSequence::open(&dir).unwrap();
    let camera = *sequence.camera();
    let groundtruth = sequence.groundtruth().unwrap().to_vec();
    let mut volume = TsdfVolume::new(TsdfConfig::for_voxel_size_m(0.02)).unwrap();
    let mut integrator = TsdfIntegrator::new();
    let mut mesher = Mesher::new();
    let mut builder = SceneGraphBuilder::new(SceneGraphConfig::default()).unwrap();
    let mut last_timestamp = None;
    let mut updates = 0;
    let (mut observe_s, mut observed) = (0.0, 0);
    // Every 3rd frame: the camera turns in place, neighbours overlap.
    for (k, i) in (0..sequence.len()).step_by(3).enumerate() {
        let timestamp = sequence.pairs()[i].color_timestamp;
        let Some(world_from_camera) = pose_at(&groundtruth, timestamp, MAX_GAP_S) else {
            continue;
        };
        let frame = sequence.frame(i).unwrap();
        integrator
            .integrate(&mut volume, &frame, &camera, &world_from_camera)
            .unwrap();
        last_timestamp = Some(frame.timestamp);
        // Depth points observed on each object clip its box (the TSDF
        // surface sticks out past unseen edges), as in the pipeline.
        let t0 = std::time::Instant::now();
        builder
            .observe_frame(&frame, &camera, &world_from_camera, None)
            .unwrap();
        observe_s += t0.elapsed().as_secs_f64();
        observed += 1;
        // Incremental updates while mapping, as the pipeline does.
        if k % 60 == 59 {
            mesher.update(&mut volume);
            let samples = SurfaceSamples::from_mesh(&mesher.mesh());
            builder.update(&samples, &volume, frame.timestamp).unwrap();
            updates += 1;
        }
    }
    mesher.update(&mut volume);
    let samples = SurfaceSamples::from_mesh(&mesher.mesh());
    builder
        .update(&samples, &volume, last_timestamp.unwrap())
        .unwrap();
    let graph = builder.graph();
    eprintln!(
        "observe_frame: {:.1} ms per frame over {observed} frames",
        1e3 * observe_s / f64::from(observed.max(1))
    );
    eprintln!(
        "fr1_rpy: {} samples, {} updates; {} surfaces, {} objects",
        samples.len(),
        updates + 1,
        graph.surfaces().count(),
        graph.objects().count()
    );
    for s in graph.surfaces() {
        let b = &s.bounding_box;
        eprintln!(
            "  surface {:>3} {:<8} z {:.3} extent {:.2} x {:.2} m",
            s.id.0,
            s.label,
            s.height_m,
            2.0 * b.half_extents_m.x,
            2.0 * b.half_extents_m.y
        );
    }
    for o in graph.objects() {
        let b = &o.bounding_box;
        eprintln!(
            "  object {:>3} centre {:.2?} size {:.2} x {:.2} x {:.2} m on {:?}",
            o.id.0,
            b.center_m.coords.as_slice(),
            2.0 * b.half_extents_m.x,
            2.0 * b.half_extents_m.y,
            2.0 * b.half_extents_m.z,
            o.support.map(|s| s.0)
        );
    }
    check_desk(graph);

    // JSON written and re-read equal.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scene_graph.json");
    graph.save_json(&path).unwrap();
    let reread = SceneGraph::load_json(&path).unwrap();
    assert_same_graph(&reread, graph);
}

/// Same structure exactly, numbers to 1e-12 relative (serde_json's default
/// float parsing may round the last bit).
fn assert_same_graph(a: &SceneGraph, b: &SceneGraph) {
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * x.abs().max(1.0);
    assert_eq!(a.edges(), b.edges());
    assert_eq!(a.format_version, b.format_version);
    assert_eq!(a.objects().count(), b.objects().count());
    for (p, q) in a.objects().zip(b.objects()) {
        assert_eq!(
            (p.id, &p.class_name, p.support, p.grasps.len()),
            (q.id, &q.class_name, q.support, q.grasps.len())
        );
        assert!(close(p.mass_kg.median, q.mass_kg.median));
        assert!(close(p.mass_kg.sigma_log, q.mass_kg.sigma_log));
        assert!(close(p.volume_m3, q.volume_m3));
        assert!((p.bounding_box.center_m - q.bounding_box.center_m).norm() < 1e-12);
        assert!((p.bounding_box.half_extents_m - q.bounding_box.half_extents_m).norm() < 1e-12);
    }
    assert_eq!(a.surfaces().count(), b.surfaces().count());
    for (p, q) in a.surfaces().zip(b.surfaces()) {
        assert_eq!((p.id, &p.label), (q.id, &q.label));
        assert!(close(p.height_m, q.height_m));
    }
}

/// The desk top: a horizontal support surface 0.6–0.9 m above the floor
/// (office desks are 0.70–0.78 m; fr1's desk sits on the motion-capture
/// floor), at least 0.8 m long (the fr1 desk holds two monitors side by side)
/// and carrying at least one clustered object.
fn check_desk(graph: &SceneGraph) {
    let floor = graph
        .surfaces()
        .find(|s| s.label == "floor")
        .expect("a floor surface");
    let desk = graph
        .surfaces()
        .filter(|s| s.label != "floor")
        .filter(|s| (0.6..0.9).contains(&(s.height_m - floor.height_m)))
        .max_by(|a, b| {
            let area = |s: &scenemap::scene_graph::SurfaceNode| {
                s.bounding_box.half_extents_m.x * s.bounding_box.half_extents_m.y
            };
            area(a).total_cmp(&area(b))
        })
        .unwrap_or_else(|| {
            panic!(
                "no surface 0.6-0.9 m above the floor at {:.2}",
                floor.height_m
            )
        });
    let long_side_m = 2.0
        * desk
            .bounding_box
            .half_extents_m
            .x
            .max(desk.bounding_box.half_extents_m.y);
    eprintln!(
        "desk: surface {} at {:.2} m above the floor, long side {long_side_m:.2} m",
        desk.id.0,
        desk.height_m - floor.height_m
    );
    assert!(
        (0.8..4.0).contains(&long_side_m),
        "desk long side {long_side_m:.2} m"
    );
    let on_desk: Vec<_> = graph
        .objects()
        .filter(|o| graph.related(o.id, Relation::On).any(|s| s == desk.id))
        .collect();
    assert!(!on_desk.is_empty(), "no object on the desk");
    for o in &on_desk {
        // Resting on the desk: the box reaches down to the desk top and
        // stands inside the desk's footprint (+ 10 cm for overhangs).
        let b = &o.bounding_box;
        assert!(
            (b.bottom_z_m() - desk.height_m).abs() < 0.03,
            "object {} bottom {:.3} vs desk {:.3}",
            o.id.0,
            b.bottom_z_m(),
            desk.height_m
        );
        let d = desk.bounding_box.center_m - b.center_m;
        let reach = desk
            .bounding_box
            .half_extents_m
            .x
            .hypot(desk.bounding_box.half_extents_m.y)
            + 0.1;
        assert!(d.xy().norm() < reach, "object {} off the desk", o.id.0);
        assert!(o.mass_kg.median > 0.0 && o.mass_kg.median.is_finite());
    }
}
