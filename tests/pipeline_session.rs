//! Saving and loading a session: every artefact round-trips and a loaded
//! session continues exactly like the original.

use scenemap::config::Config;
use scenemap::pipeline::{Pipeline, SESSION_FORMAT_VERSION};
use scenemap::sensor::synthetic::{SequenceConfig, SyntheticSequence, TrajectoryPreset};

#[test]
fn save_load_round_trip_and_continue() {
    let sequence = SyntheticSequence::furnished(
        3,
        TrajectoryPreset::Gentle,
        SequenceConfig {
            duration_s: 0.5,
            ..SequenceConfig::default()
        },
    )
    .unwrap();
    let config = Config::default()
        .with_voxel_size_m(0.04)
        .with_background_scene_graph(false)
        .with_scene_graph_every_n_frames(5);
    let mut original = Pipeline::new(config.clone(), *sequence.camera()).unwrap();
    let frames: Vec<_> = sequence.frames().map(|f| f.frame).collect();
    assert_eq!(frames.len(), 15);
    for frame in &frames[..10] {
        original.process(frame).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    original.save(dir.path()).unwrap();
    let manifest = std::fs::read_to_string(dir.path().join("manifest.json")).unwrap();
    assert!(manifest.contains(&format!("\"format_version\": {SESSION_FORMAT_VERSION}")));

    let mut loaded = Pipeline::load(dir.path()).unwrap();
    assert_eq!(
        loaded.config(),
        &config.clone().with_camera(*sequence.camera())
    );
    assert_eq!(loaded.map().to_map_bytes(), original.map().to_map_bytes());
    // JSON floats round-trip to within an ulp (serde_json without
    // `float_roundtrip`): compare structure exactly, numbers closely.
    let (g_loaded, g_original) = (loaded.scene_graph(), original.scene_graph());
    assert_eq!(g_loaded.edges(), g_original.edges());
    assert!(g_original.objects().count() > 0, "no objects to compare");
    assert_eq!(g_loaded.objects().count(), g_original.objects().count());
    for (a, b) in g_loaded.objects().zip(g_original.objects()) {
        assert_eq!(
            (a.id, &a.class_name, a.support),
            (b.id, &b.class_name, b.support)
        );
        assert!((a.centroid_m - b.centroid_m).norm() < 1e-9);
        assert!((a.volume_m3 - b.volume_m3).abs() < 1e-9);
    }
    assert_eq!(loaded.keyframes(), original.keyframes());
    assert_eq!(loaded.trajectory().len(), 10);
    for (a, b) in loaded.trajectory().iter().zip(original.trajectory()) {
        assert_eq!(a.timestamp, b.timestamp);
        let d = a.world_from_camera.inverse() * b.world_from_camera;
        assert!(d.translation.vector.norm() < 1e-8 && d.rotation.angle() < 1e-8);
    }
    let (s_loaded, s_original) = (loaded.summary(), original.summary());
    assert_eq!(s_loaded.frames, s_original.frames);
    assert_eq!(s_loaded.keyframes, s_original.keyframes);
    assert_eq!(s_loaded.integrated_frames, s_original.integrated_frames);

    // Both continue alike (same map, same motion state). Not bit for bit:
    // a session stores neither the last frame's pyramid nor the last model
    // view, so the loaded pipeline ray-casts its first model view afresh
    // (where the original may reuse its view, `tracking.model_view_reuse`)
    // and without the depth hint (`tracking.raycast_hint`), which moves the
    // march's sampling phase and the refined surface by well under a
    // millimetre.
    let mut worst_m: f64 = 0.0;
    for frame in &frames[10..] {
        let a = original.process(frame).unwrap();
        let b = loaded.process(frame).unwrap();
        assert_eq!(a.status, b.status);
        let d = a.world_from_camera.inverse() * b.world_from_camera;
        worst_m = worst_m.max(d.translation.vector.norm());
        assert!(
            d.translation.vector.norm() < 1e-3 && d.rotation.angle() < 0.1_f64.to_radians(),
            "loaded session diverged by {} m, {}°",
            d.translation.vector.norm(),
            d.rotation.angle().to_degrees()
        );
    }
    eprintln!("loaded vs original after loading: worst {worst_m:.2e} m");

    // A manifest of another version is refused with a clear error.
    let bumped = manifest.replace(
        &format!("\"format_version\": {SESSION_FORMAT_VERSION}"),
        "\"format_version\": 999",
    );
    std::fs::write(dir.path().join("manifest.json"), bumped).unwrap();
    let err = Pipeline::load(dir.path()).err().unwrap();
    assert!(err.to_string().contains("version 999"), "{err}");
}

#[test]
fn groundtruth_mode_fuses_at_given_poses() {
    let sequence = SyntheticSequence::furnished(
        5,
        TrajectoryPreset::Gentle,
        SequenceConfig {
            duration_s: 0.2,
            ..SequenceConfig::default()
        },
    )
    .unwrap();
    let config = Config::default()
        .with_mode(scenemap::Mode::Groundtruth)
        .with_voxel_size_m(0.04);
    let mut pipeline = Pipeline::new(config, *sequence.camera()).unwrap();
    for (rendered, pose) in sequence.frames().zip(sequence.groundtruth()) {
        let result = pipeline
            .process_with_pose(&rendered.frame, &pose.world_from_camera)
            .unwrap();
        assert!(result.integrated);
        let d = result.world_from_camera.inverse() * pose.world_from_camera;
        assert!(d.translation.vector.norm() < 1e-12);
    }
    pipeline.finish().unwrap();
    assert!(pipeline.map().block_count() > 0);
    assert!(pipeline.mesh().triangle_count() > 0);
    assert!(pipeline
        .process(&sequence.render_frame(0).unwrap().frame)
        .is_err());
}
