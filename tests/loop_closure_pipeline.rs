//! The loop-closure stage plugged into the [`Pipeline`] on TUM fr1_rpy
//! (the camera turns back and forth over a desk, so it revisits views):
//! loops are reported, each agrees with the motion-capture groundtruth, and
//! the trajectory is as good as without the stage. Heavy: run in release,
//! `cargo test --release --test loop_closure_pipeline -- --nocapture`.
//!
//! The first `FRAMES` frames (of 694) keep the test within a minute on a
//! loaded 2-core machine; meshing and the scene graph are off (they do not
//! affect tracking).

mod common;

use scenemap::config::{Config, KeyframeConfig};
use scenemap::eval::{ate, AteOptions};
use scenemap::geometry::pose_at;
use scenemap::odometry::loop_closure::{KeyframeLoopClosure, LoopClosureStageConfig};
use scenemap::pipeline::Pipeline;
use scenemap::sensor::TumSequence;

const FRAMES: usize = 240;

#[test]
fn fr1_rpy_pipeline_reports_loops_that_agree_with_groundtruth() {
    let Some(dir) = common::tum_sequence("fr1_rpy") else {
        return;
    };
    let sequence = TumSequence::open(&dir).unwrap();
    let groundtruth = sequence.groundtruth().unwrap().to_vec();
    let pairs = sequence.pairs().to_vec();
    let mut config = Config::default();
    config.mesh.every_n_frames = 0;
    config.scene_graph.enabled = false;
    // Denser keyframes than the default 15 cm / 15°: fr1_rpy mostly turns
    // in place, and the loop detector needs keyframes 5 apart.
    config.keyframes = KeyframeConfig {
        min_translation_m: 0.05,
        min_rotation_deg: 8.0,
        ..KeyframeConfig::default()
    };
    let stage =
        KeyframeLoopClosure::new(sequence.camera(), LoopClosureStageConfig::default()).unwrap();
    let statistics = stage.statistics();
    let mut pipeline = Pipeline::new(config, *sequence.camera())
        .unwrap()
        .with_loop_closure(Box::new(stage));
    let mut relocalised = 0;
    let mut qualities = Vec::new();
    for frame in sequence.frames().take(FRAMES) {
        let result = pipeline.process(&frame.unwrap()).unwrap();
        relocalised +=
            usize::from(result.source == scenemap::pipeline::TrackingSource::Relocalised);
        if let Some(q) = result.quality {
            qualities.push(q);
        }
    }
    // Tracking-quality distribution (what a loss detector must accept).
    let percentiles = |name: &str, mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let at = |p: f64| v[((p * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
        println!(
            "{name}: min {:.4} p1 {:.4} p50 {:.4} p99 {:.4} max {:.4}",
            at(0.0),
            at(0.01),
            at(0.5),
            at(0.99),
            at(1.0)
        );
    };
    percentiles(
        "inlier ratio",
        qualities.iter().map(|q| q.inlier_ratio).collect(),
    );
    percentiles(
        "σ_icp mm",
        qualities
            .iter()
            .map(|q| q.point_to_plane_sigma_m * 1e3)
            .collect(),
    );
    percentiles(
        "rms_icp mm",
        qualities
            .iter()
            .map(|q| q.point_to_plane_rms_m * 1e3)
            .collect(),
    );
    percentiles(
        "icp/photo associations",
        qualities
            .iter()
            .map(|q| q.point_to_plane_residuals as f64 / q.photometric_residuals.max(1) as f64)
            .collect(),
    );
    percentiles(
        "σ_photo",
        qualities.iter().map(|q| q.photometric_sigma).collect(),
    );
    percentiles(
        "rms_photo",
        qualities.iter().map(|q| q.photometric_rms).collect(),
    );
    pipeline.finish().unwrap();
    let keyframes = pipeline.keyframes().to_vec();
    // Geometry comes from depth: groundtruth at the depth timestamp (as in
    // tests/loop_closure_tum.rs).
    let truth_of = |id: usize| {
        let keyframe = keyframes.iter().find(|k| k.id == id).unwrap();
        pose_at(
            &groundtruth,
            pairs[keyframe.frame_index].depth_timestamp,
            0.2,
        )
        .unwrap()
    };
    let mut errors = Vec::new();
    for closure in pipeline.loop_closures() {
        assert!(
            closure.from_keyframe + 5 <= closure.to_keyframe,
            "{closure:?}"
        );
        let truth = truth_of(closure.from_keyframe).inverse() * truth_of(closure.to_keyframe);
        let error = truth.inverse() * closure.from_from_to;
        let (t_m, r_deg) = (
            error.translation.vector.norm(),
            error.rotation.angle().to_degrees(),
        );
        println!(
            "loop {:3} -> {:3}: gt {:.3} m {:5.2}°, error {:.1} mm {:.2}°",
            closure.from_keyframe,
            closure.to_keyframe,
            truth.translation.vector.norm(),
            truth.rotation.angle().to_degrees(),
            t_m * 1e3,
            r_deg
        );
        errors.push((t_m, r_deg));
    }
    let estimate = pipeline.trajectory();
    let ate = ate(estimate, &groundtruth, &AteOptions::default()).unwrap();
    let s = statistics.lock().unwrap().clone();
    let summary = pipeline.summary();
    let mut t: Vec<f64> = errors.iter().map(|e| e.0).collect();
    let mut r: Vec<f64> = errors.iter().map(|e| e.1).collect();
    t.sort_by(f64::total_cmp);
    r.sort_by(f64::total_cmp);
    let median = |v: &[f64]| v.get(v.len() / 2).copied().unwrap_or(f64::NAN);
    let max = |v: &[f64]| v.last().copied().unwrap_or(f64::NAN);
    println!(
        "fr1_rpy {FRAMES} frames: {} keyframes ({} stored), {} loops; error translation median {:.1} mm max {:.1} mm, rotation median {:.2}° max {:.2}°; ATE {:.2} cm; lost {}, relocalised {relocalised}",
        summary.keyframes,
        s.keyframes_stored,
        errors.len(),
        median(&t) * 1e3,
        max(&t) * 1e3,
        median(&r),
        max(&r),
        ate.translation_m.rmse * 100.0,
        summary.lost_frames
    );
    println!(
        "add_keyframe mean {:.1} ms max {:.1} ms; relocalise {} calls",
        s.add_keyframe_total_ms / s.keyframes_seen.max(1) as f64,
        s.add_keyframe_max_ms,
        s.relocalisation_attempts
    );
    assert_eq!(summary.loop_closures, errors.len());
    assert!(errors.len() >= 3, "only {} loops", errors.len());
    assert!(max(&t) <= 0.05 && max(&r) <= 6.0, "loop errors too large");
    assert!(median(&t) <= 0.02 && median(&r) <= 3.5);
    // The stage only returns edges and is asked for a pose only when
    // tracking is lost: no frame was lost, relocalisation never ran, so the
    // trajectory is the one of the pipeline without the stage.
    assert_eq!(summary.lost_frames, 0);
    assert_eq!(s.relocalisation_attempts, 0);
    // Measured 3.85 cm on these 240 frames (2.78 cm over all 694).
    assert!(
        ate.translation_m.rmse <= 0.045,
        "ATE {}",
        ate.translation_m.rmse
    );
}
