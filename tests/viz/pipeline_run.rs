//! A short synthetic pipeline run streamed through `PipelineLogger` — the
//! code path of `--rerun` in the `demo` and `tum` examples — into an `.rrd`
//! file, read back with the rerun SDK.
//!
//! Poses are the groundtruth (`process_with_pose`): this checks what is
//! logged, not tracking, and stays quick in a debug build (12 frames of
//! 160x120; at 0.75 Hz they span 16 s, 200° of the orbit, so the mug is
//! seen from enough sides to get grasp candidates).

use std::collections::{BTreeMap, BTreeSet};

use scenemap::config::{Config, MeshConfig, Mode};
use scenemap::pipeline::Pipeline;
use scenemap::sensor::synthetic::{
    SequenceConfig, SyntheticScene, SyntheticSequence, Trajectory, TrajectoryPreset,
};
use scenemap::viz::{block_path, PipelineLogger};
use scenemap::PinholeCamera;
use serde_json::Value;

use super::rrd::{assert_camera_every_frame, frames, read_rrd, rerun_python, rrd_verify};

const FRAMES: usize = 12;
const FPS: f64 = 0.75;

/// Entities (without the leading `/`) whose path starts with `prefix` and
/// that carry `component`, with the frames it was logged in.
fn logged(summary: &Value, prefix: &str, component: &str) -> BTreeMap<String, Vec<u64>> {
    let mut found = BTreeMap::new();
    for (entity, entry) in summary["entities"].as_object().unwrap() {
        let Some(rest) = entity.strip_prefix('/') else {
            continue;
        };
        if rest.starts_with(prefix) && entry["components"][component].is_object() {
            found.insert(rest.to_owned(), frames(summary, entity, component));
        }
    }
    found
}

#[test]
fn a_synthetic_pipeline_run_streams_camera_incremental_mesh_and_objects() {
    let scene = SyntheticScene::furnished_room(7);
    let trajectory = Trajectory::preset(TrajectoryPreset::Gentle, &scene, 7);
    let camera = PinholeCamera::tum_ros_default().scaled_to_level(2); // 160x120
    let sequence_config = SequenceConfig {
        fps: FPS,
        duration_s: (FRAMES as f64 - 0.5) / FPS,
        ..SequenceConfig::default()
    };
    let sequence = SyntheticSequence::new(scene, camera, trajectory, sequence_config).unwrap();
    let groundtruth = sequence.groundtruth();
    assert_eq!(groundtruth.len(), FRAMES);
    let config = Config::default()
        .with_mode(Mode::Groundtruth)
        .with_mesh(MeshConfig { every_n_frames: 3 })
        .with_scene_graph_every_n_frames(4)
        .with_background_scene_graph(false);
    let mut pipeline = Pipeline::new(config, camera).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipeline.rrd");
    let mut viz = PipelineLogger::open(&format!("save={}", path.display()), 0.8).unwrap();
    for (i, truth) in groundtruth.iter().enumerate() {
        let frame = sequence.render_frame(i).unwrap().frame;
        let result = pipeline
            .process_with_pose(&frame, &truth.world_from_camera)
            .unwrap();
        viz.log_frame(&pipeline, &frame, &result).unwrap();
    }
    pipeline.finish().unwrap();
    viz.finish(&pipeline).unwrap();
    let stats = viz.stats();
    let updates = viz.mesh_updates().to_vec();
    assert_eq!(viz.frames(), FRAMES as u64);
    drop(viz);

    // What the logger sent: the camera every frame, the mesh in several
    // updates of changed blocks only.
    let final_blocks: BTreeSet<String> = pipeline
        .mesher()
        .block_meshes()
        .map(|(index, _)| block_path([index.x, index.y, index.z]))
        .collect();
    let graph = pipeline.scene_graph();
    eprintln!(
        "pipeline run: {} blocks meshed, {} objects, {} surfaces; mesh updates {updates:?}; {stats:?}; {} bytes",
        final_blocks.len(),
        graph.objects().count(),
        graph.surfaces().count(),
        std::fs::metadata(&path).unwrap().len()
    );
    assert_eq!(stats.camera_poses, FRAMES as u64);
    assert_eq!(stats.images, FRAMES as u64);
    assert!(updates.len() >= 3, "mesh sent in {updates:?}");
    assert!(stats.blocks_logged <= updates.iter().sum::<usize>() as u64);
    assert!(
        updates[1..].iter().all(|&n| n < final_blocks.len()),
        "an update re-sent the whole mesh: {updates:?} of {} blocks",
        final_blocks.len()
    );
    assert!(graph.objects().any(|o| !o.grasps.is_empty()));

    if rerun_python().is_none() {
        return;
    }
    let summary = read_rrd(&path);

    // Frame count and timelines: camera pose and both images every frame.
    assert_camera_every_frame(&summary, FRAMES as u64);
    assert!(!frames(&summary, "/world/trajectory/0", "LineStrips3D:strips").is_empty());

    // Mesh: one entity per block, every block of the final mesh among them,
    // logged at several frames and never all at once after the first.
    let mesh = logged(&summary, "world/mesh/", "Mesh3D:vertex_positions");
    let entities: BTreeSet<String> = mesh.keys().cloned().collect();
    assert!(
        final_blocks.is_subset(&entities),
        "blocks never logged: {:?}",
        final_blocks.difference(&entities).collect::<Vec<_>>()
    );
    let mut per_frame: BTreeMap<u64, usize> = BTreeMap::new();
    for frame in mesh.values().flatten() {
        *per_frame.entry(*frame).or_default() += 1;
    }
    let rows: usize = per_frame.values().sum();
    assert_eq!(rows as u64, stats.blocks_logged);
    assert!(per_frame.len() >= 3, "mesh logged at frames {per_frame:?}");
    assert!(
        per_frame.values().skip(1).all(|&n| n < entities.len()),
        "{per_frame:?} of {} block entities",
        entities.len()
    );

    // Objects: a labelled box per object of the final graph (class, mass,
    // push force), grasp arrows, support surfaces.
    let boxes = logged(&summary, "world/objects/", "Boxes3D:centers");
    let mut with_push = 0;
    for object in graph.objects() {
        let entity = format!("/world/objects/{}", object.id.0);
        assert!(boxes.contains_key(&entity[1..]), "{entity} never logged");
        let labels = summary["entities"][&entity]["labels"].as_array().unwrap();
        let prefix = format!("{} #{}: ", object.class_name, object.id.0);
        // The labels of every update of the box; the final one among them.
        let labels: Vec<&str> = labels.iter().filter_map(Value::as_str).collect();
        assert!(
            labels
                .iter()
                .any(|l| l.starts_with(&prefix) && l.contains(" kg (")),
            "{entity}: {labels:?}"
        );
        with_push += usize::from(labels.iter().any(|l| l.contains(" N, tip ")));
    }
    assert!(with_push > 0, "no object label with push forces");
    assert!(!logged(&summary, "world/objects/", "Arrows3D:vectors").is_empty());
    assert!(!logged(&summary, "world/surfaces/", "Boxes3D:centers").is_empty());
    rrd_verify(&path);
}
