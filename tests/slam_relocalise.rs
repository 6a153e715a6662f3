//! The loop-closure / relocalisation stage ([`KeyframeLoopClosure`]) on the
//! synthetic furnished room with exact groundtruth: the stage alone (id
//! mapping, no loops between neighbours, exact loop poses, relocalisation
//! of seen and unseen views) and plugged into the [`Pipeline`] with a
//! kidnapped camera (issue 8). Run in release:
//! `cargo test --release --test slam_relocalise -- --nocapture`.

mod surface_oracle;

use nalgebra::{Isometry3, Vector3};
use scenemap::config::Config;
use scenemap::odometry::loop_closure::{KeyframeLoopClosure, LoopClosureStageConfig};
use scenemap::odometry::{OdometryConfig, RgbdOdometry};
use scenemap::pipeline::{Keyframe, LoopClosureStage, Pipeline, TrackingSource};
use scenemap::sensor::synthetic::{
    DepthNoise, SequenceConfig, SyntheticScene, SyntheticSequence, TrajectoryPreset,
};
use scenemap::sensor::{RgbdFrame, Timestamp};
use surface_oracle::{surface_distance_m, LineSearch};

/// Gentle orbit of the furnished room with Kinect depth noise.
fn sequence(duration_s: f64) -> SyntheticSequence {
    let config = SequenceConfig {
        duration_s,
        noise: DepthNoise::kinect(11),
        ..SequenceConfig::default()
    };
    SyntheticSequence::furnished(7, TrajectoryPreset::Gentle, config).unwrap()
}

/// Frame `i` of `sequence` re-stamped at `timestamp` (a place seen again
/// later, or the camera teleported there).
fn frame_at(sequence: &SyntheticSequence, i: usize, timestamp: Timestamp) -> RgbdFrame {
    let mut frame = sequence.render_frame(i).unwrap().frame;
    frame.timestamp = timestamp;
    frame
}

/// `(translation m, rotation deg)` of `a⁻¹ · b`.
fn pose_error(a: &Isometry3<f64>, b: &Isometry3<f64>) -> (f64, f64) {
    let e = a.inverse() * b;
    (e.translation.vector.norm(), e.rotation.angle().to_degrees())
}

fn seconds(sequence: &SyntheticSequence, s: f64) -> Timestamp {
    Timestamp(sequence.config().start.0 + (s * 1e9).round() as i64)
}

#[test]
fn stage_maps_ids_finds_exact_loops_and_relocalises_only_seen_views() {
    let sequence = sequence(10.0);
    let groundtruth = sequence.groundtruth();
    let camera = *sequence.camera();
    let odometry = RgbdOdometry::new(&camera, OdometryConfig::default()).unwrap();
    let mut stage = KeyframeLoopClosure::new(&camera, LoopClosureStageConfig::default()).unwrap();
    let statistics = stage.statistics();
    // Pass 1: keyframes every 8 frames over 2 s (0.27 s apart, so all
    // within the 2 s time gap: no loop may be reported). Pipeline ids are
    // deliberately not store ids: 100, 103, 106, ...
    let sources: Vec<usize> = (0..60).step_by(8).collect();
    let pipeline_id = |k: usize| 100 + 3 * k;
    let mut k = 0;
    for &i in &sources {
        let frame = sequence.render_frame(i).unwrap().frame;
        let keyframe = Keyframe {
            id: pipeline_id(k),
            frame_index: i,
            timestamp: frame.timestamp,
            world_from_camera: groundtruth[i].world_from_camera,
        };
        let pyramid = odometry.prepare(&frame).unwrap();
        let loops = stage.add_keyframe(&keyframe, &frame, &pyramid).unwrap();
        assert!(
            loops.is_empty(),
            "loop between neighbours at frame {i}: {loops:?}"
        );
        k += 1;
    }
    assert_eq!(stage.store().len(), sources.len());
    for (store_id, _) in sources.iter().enumerate() {
        assert_eq!(stage.pipeline_id(store_id), Some(pipeline_id(store_id)));
    }
    // Pass 2, 5 s later: the same places again, seen from poses 1 frame
    // off (≈ 1 cm, ≈ 0.5°). Tracking estimates are perturbed by 1 cm / 1°,
    // so the loop must come from the images, not the estimates.
    let perturbation = Isometry3::new(
        Vector3::new(0.01, -0.005, 0.004),
        Vector3::new(0.01, -0.012, 0.008),
    );
    let mut loops_found = 0;
    for (n, &i) in sources.iter().enumerate().skip(1) {
        let j = i + 1;
        let frame = frame_at(&sequence, j, seconds(&sequence, 5.0 + 0.3 * n as f64));
        let keyframe = Keyframe {
            id: pipeline_id(k),
            frame_index: j,
            timestamp: frame.timestamp,
            world_from_camera: groundtruth[j].world_from_camera * perturbation,
        };
        let pyramid = odometry.prepare(&frame).unwrap();
        let loops = stage.add_keyframe(&keyframe, &frame, &pyramid).unwrap();
        for closure in &loops {
            assert_eq!(closure.to_keyframe, pipeline_id(k));
            let from = (closure.from_keyframe - 100) / 3;
            assert_eq!(
                pipeline_id(from),
                closure.from_keyframe,
                "not a pipeline id"
            );
            let from_frame = sources[from];
            let truth = groundtruth[from_frame].world_from_camera.inverse()
                * groundtruth[j].world_from_camera;
            let (t_m, r_deg) = pose_error(&truth, &closure.from_from_to);
            println!(
                "loop {} -> {}: frames {from_frame} -> {j}, error {:.2} mm {:.3}°",
                closure.from_keyframe,
                closure.to_keyframe,
                t_m * 1e3,
                r_deg
            );
            assert!(t_m < 0.01 && r_deg < 1.0, "loop error {t_m} m {r_deg}°");
            let info = &closure.information;
            assert!((info - info.transpose()).amax() < 1e-6 * info.amax());
            assert!(info.symmetric_eigenvalues().min() > 0.0);
            loops_found += 1;
        }
        k += 1;
    }
    println!("{:?}", statistics.lock().unwrap());
    assert!(loops_found >= 3, "only {loops_found} loops");
    // Revisits 1 frame off are redundant: the store keeps the places once.
    assert!(stage.store().len() < sources.len() + (sources.len() - 1));

    // Relocalisation: a view 3 frames from a keyframe → its pose; a view of
    // the far side of the room (never seen) → None.
    let pyramid_of = |frame: &RgbdFrame| odometry.prepare(frame).unwrap();
    let seen = frame_at(&sequence, 19, seconds(&sequence, 9.0));
    let pose = stage
        .relocalise(&seen, &pyramid_of(&seen))
        .unwrap()
        .expect("a seen view must relocalise");
    let (t_m, r_deg) = pose_error(&groundtruth[19].world_from_camera, &pose);
    println!("relocalised seen view: {:.2} mm {:.3}°", t_m * 1e3, r_deg);
    assert!(t_m < 0.02 && r_deg < 2.0, "{t_m} m {r_deg}°");
    for i in [180, 240] {
        let unseen = frame_at(&sequence, i, seconds(&sequence, 9.5 + i as f64 * 1e-3));
        let pose = stage.relocalise(&unseen, &pyramid_of(&unseen)).unwrap();
        assert!(pose.is_none(), "unseen frame {i} relocalised at {pose:?}");
    }
    let s = statistics.lock().unwrap().clone();
    println!(
        "stage: {} keyframes seen, {} stored, {} candidates, {} loops; add_keyframe mean {:.1} ms max {:.1} ms; relocalise mean {:.1} ms max {:.1} ms",
        s.keyframes_seen,
        s.keyframes_stored,
        s.candidates,
        s.loops,
        s.add_keyframe_total_ms / s.keyframes_seen as f64,
        s.add_keyframe_max_ms,
        s.relocalise_total_ms / s.relocalisation_attempts as f64,
        s.relocalise_max_ms
    );
    assert_eq!((s.relocalisation_attempts, s.relocalisations), (3, 1));
}

const VOXEL_M: f64 = 0.02;
/// The oracle: step 2 mm, bisect to 0.05 mm, up to ±`SEARCH_M`.
const ORACLE: LineSearch = surface_oracle::FINE;
/// How far along a direction the oracle looks for the true surface.
const SEARCH_M: f64 = ORACLE.search_m;

/// RMS distance of (a spread of) mesh vertices to the true surfaces and
/// the fraction of vertices with no true surface within `SEARCH_M`.
fn ghost_statistics(pipeline: &Pipeline, scene: &SyntheticScene) -> (f64, f64, usize) {
    let mesh = pipeline.mesh();
    let stride = (mesh.vertex_count() / 3000).max(1);
    let (mut sum_sq, mut n, mut not_found) = (0.0, 0_usize, 0_usize);
    for k in (0..mesh.vertex_count()).step_by(stride) {
        let p = mesh.vertices[k].cast::<f64>();
        let Some(normal) = mesh.normals[k].cast::<f64>().try_normalize(1e-9) else {
            continue;
        };
        match surface_distance_m(scene, &p, &normal, &ORACLE) {
            Some(d) => {
                sum_sq += d * d;
                n += 1;
            }
            None => not_found += 1,
        }
    }
    let total = (n + not_found).max(1);
    (
        (sum_sq / n.max(1) as f64).sqrt(),
        not_found as f64 / total as f64,
        total,
    )
}

#[test]
fn kidnapped_camera_is_lost_not_fused_and_relocalises_without_ghosts() {
    let sequence = sequence(10.0);
    let groundtruth = sequence.groundtruth();
    let camera = *sequence.camera();
    let config = Config::default().with_background_scene_graph(false);
    let stage = KeyframeLoopClosure::new(&camera, LoopClosureStageConfig::default()).unwrap();
    let statistics = stage.statistics();
    let mut pipeline = Pipeline::new(config, camera)
        .unwrap()
        .with_initial_pose(groundtruth[0].world_from_camera)
        .with_loop_closure(Box::new(stage));
    // Phase A: frames 0..60 (2 s) as recorded. Phase B: the camera is
    // carried to the far side of the room (frames 200..203, never seen).
    // Phase C: it is put back where it was 1.6 s earlier (frames 12..26).
    let mut plan: Vec<(char, usize)> = (0..60).map(|i| ('A', i)).collect();
    plan.extend((200..203).map(|i| ('B', i)));
    plan.extend((12..26).map(|i| ('C', i)));
    let mut relocalised_after = None;
    let mut c_frames = 0;
    for (n, &(phase, i)) in plan.iter().enumerate() {
        let frame = frame_at(&sequence, i, sequence.frame_timestamp(n));
        let truth = groundtruth[i].world_from_camera;
        let map_before = pipeline.summary().integrated_frames;
        let result = pipeline.process(&frame).unwrap();
        let (t_m, r_deg) = pose_error(&truth, &result.world_from_camera);
        let q = result.quality.as_ref();
        println!(
            "{phase} frame {i:3}: {:?} {:?} integrated {} error {:.1} mm {:.2}°; inliers {:.3} σ_icp {:.2} mm rms_icp {:.2} mm σ_photo {:.4} rms_photo {:.4} n {}/{}",
            result.status,
            result.source,
            result.integrated,
            t_m * 1e3,
            r_deg,
            q.map_or(0.0, |q| q.inlier_ratio),
            q.map_or(0.0, |q| q.point_to_plane_sigma_m * 1e3),
            q.map_or(0.0, |q| q.point_to_plane_rms_m * 1e3),
            q.map_or(0.0, |q| q.photometric_sigma),
            q.map_or(0.0, |q| q.photometric_rms),
            q.map_or(0, |q| q.point_to_plane_residuals),
            q.map_or(0, |q| q.photometric_residuals),
        );
        // Whatever is fused is fused at the right pose (no ghosts at the source).
        if result.integrated {
            assert!(
                t_m < 0.03 && r_deg < 2.0,
                "{phase} frame {i} fused {t_m} m {r_deg}° off"
            );
        }
        if result.status.is_lost() {
            assert!(!result.integrated && !result.is_keyframe);
            assert_eq!(pipeline.summary().integrated_frames, map_before);
        }
        match phase {
            'A' => assert!(!result.status.is_lost(), "frame {i} lost before the kidnap"),
            'B' => assert!(
                result.status.is_lost(),
                "unseen view {i} not reported lost: {:?} {:?}",
                result.status,
                result.source
            ),
            _ => {
                c_frames += 1;
                if relocalised_after.is_none() && result.source == TrackingSource::Relocalised {
                    relocalised_after = Some(c_frames);
                    println!("relocalised: {:.2} mm {:.3}°", t_m * 1e3, r_deg);
                    assert!(
                        t_m < 0.02 && r_deg < 2.0,
                        "relocalised {t_m} m {r_deg}° off"
                    );
                }
                if relocalised_after.is_some() {
                    assert!(!result.status.is_lost(), "lost again at C frame {i}");
                } else {
                    assert!(
                        result.status.is_lost(),
                        "C frame {i} tracked before relocalising"
                    );
                }
            }
        }
    }
    pipeline.finish().unwrap();
    let relocalised_after = relocalised_after.expect("never relocalised");
    let (rms_m, far_fraction, checked) = ghost_statistics(&pipeline, sequence.scene());
    let s = statistics.lock().unwrap().clone();
    println!(
        "kidnap: relocalised at the {relocalised_after}. frame back; mesh RMS {:.2} mm over {checked} vertices, {:.2} % with no surface within {SEARCH_M} m; stage {s:?}; {:?}",
        rms_m * 1e3,
        far_fraction * 100.0,
        pipeline.summary()
    );
    assert!(
        relocalised_after <= 3,
        "relocalised only at the {relocalised_after}. frame"
    );
    assert!(rms_m <= 1.5 * VOXEL_M, "mesh RMS {rms_m} m");
    // Measured 0.9 % (depth-edge fringe of the noisy frames); one frame
    // fused 1.2 m off would add a whole view of misplaced surfaces.
    assert!(
        far_fraction < 0.02,
        "{far_fraction} of the vertices are ghosts"
    );
}

#[test]
#[ignore = "report only: cargo test --release --test slam_relocalise -- --ignored --nocapture"]
fn aggressive_trajectory_loss_detection_report() {
    // The aggressive preset (peaks ≈ 180–300°/s) with the stage plugged in:
    // which frames are flagged, how far off the accepted ones are.
    let config = SequenceConfig {
        duration_s: 179.5 / 30.0,
        noise: DepthNoise::kinect(11),
        ..SequenceConfig::default()
    };
    let sequence = SyntheticSequence::furnished(7, TrajectoryPreset::Aggressive, config).unwrap();
    let groundtruth = sequence.groundtruth();
    let camera = *sequence.camera();
    let stage = KeyframeLoopClosure::new(&camera, LoopClosureStageConfig::default()).unwrap();
    let statistics = stage.statistics();
    let mut pipeline = Pipeline::new(Config::default().with_background_scene_graph(false), camera)
        .unwrap()
        .with_initial_pose(groundtruth[0].world_from_camera)
        .with_loop_closure(Box::new(stage));
    let (mut lost, mut relocalised, mut fused_errors) = (0, 0, Vec::new());
    let mut first_lost = None;
    for (i, truth) in groundtruth.iter().enumerate() {
        let frame = sequence.render_frame(i).unwrap().frame;
        let result = pipeline.process(&frame).unwrap();
        let (t_m, r_deg) = pose_error(&truth.world_from_camera, &result.world_from_camera);
        println!(
            "frame {i:3}: {:?} {:?} integrated {} error {:.1} mm {:.2}°",
            result.status,
            result.source,
            result.integrated,
            t_m * 1e3,
            r_deg
        );
        if result.status.is_lost() {
            lost += 1;
            first_lost.get_or_insert(i);
        }
        relocalised += usize::from(result.source == TrackingSource::Relocalised);
        if result.integrated {
            fused_errors.push(t_m);
        }
    }
    fused_errors.sort_by(f64::total_cmp);
    let rms =
        (fused_errors.iter().map(|e| e * e).sum::<f64>() / fused_errors.len().max(1) as f64).sqrt();
    println!(
        "aggressive 180 frames: lost {lost} (first at {first_lost:?}), relocalised {relocalised}, fused {} frames: pose error rms {:.1} mm, max {:.1} mm; stage {:?}",
        fused_errors.len(),
        rms * 1e3,
        fused_errors.last().copied().unwrap_or(0.0) * 1e3,
        statistics.lock().unwrap()
    );
}
