//! Loop-correction unit tests: anchoring maths, no-op without loops,
//! outlier down-weighting, bounded frame store.

use super::*;
use crate::config::{Config, Mode};
use crate::geometry::PinholeCamera;
use crate::odometry::RgbdPyramid;
use crate::pipeline::LoopClosureStage;
use nalgebra::Vector3;

fn camera() -> PinholeCamera {
    PinholeCamera::new(64, 48, 50.0, 50.0, 31.5, 23.5).unwrap()
}

fn frame(i: i64) -> RgbdFrame {
    RgbdFrame::new(
        Timestamp(1_000_000_000 + i * 33_000_000),
        64,
        48,
        vec![[120, 80, 40]; 64 * 48],
        vec![1.5; 64 * 48],
    )
    .unwrap()
}

/// Reports one scripted loop when keyframe `at` is made.
struct Scripted {
    at: usize,
    closure: Option<LoopClosure>,
}

impl LoopClosureStage for Scripted {
    fn add_keyframe(
        &mut self,
        keyframe: &Keyframe,
        _: &RgbdFrame,
        _: &RgbdPyramid,
    ) -> Result<Vec<LoopClosure>> {
        Ok(if keyframe.id == self.at {
            self.closure.take().into_iter().collect()
        } else {
            Vec::new()
        })
    }

    fn relocalise(&mut self, _: &RgbdFrame, _: &RgbdPyramid) -> Result<Option<Isometry3<f64>>> {
        Ok(None)
    }
}

fn config() -> Config {
    let mut config = Config::default()
        .with_mode(Mode::Groundtruth)
        .with_voxel_size_m(0.05);
    config.scene_graph.enabled = false;
    config.keyframes.max_interval_s = 1e-3; // every frame a keyframe…
    config
}

/// Poses along x; frame i at 0.1·i m with a yaw of 0.01·i rad.
fn pose(i: usize) -> Isometry3<f64> {
    Isometry3::new(
        Vector3::new(0.1 * i as f64, 0.0, 0.0),
        Vector3::new(0.0, 0.01 * i as f64, 0.0),
    )
}

/// A pipeline with a [`Scripted`] stage, fed frames `0..frames` at [`pose`].
fn run(config: Config, at: usize, closure: Option<LoopClosure>, frames: i64) -> Pipeline {
    let stage = Scripted { at, closure };
    let mut pipeline = Pipeline::new(config, camera())
        .unwrap()
        .with_loop_closure(Box::new(stage));
    for i in 0..frames {
        pipeline
            .process_with_pose(&frame(i), &pose(i as usize))
            .unwrap();
    }
    pipeline
}

#[test]
fn without_loops_nothing_changes() {
    let stage = Scripted {
        at: usize::MAX,
        closure: None,
    };
    let mut pipeline = Pipeline::new(config(), camera())
        .unwrap()
        .with_loop_closure(Box::new(stage));
    for i in 0..6 {
        let result = pipeline
            .process_with_pose(&frame(i), &pose(i as usize))
            .unwrap();
        assert_eq!(result.timing.loop_correction_ms, 0.0);
    }
    for (i, p) in pipeline.trajectory().iter().enumerate() {
        assert_eq!(p.world_from_camera, renormalized(pose(i)));
    }
    assert_eq!(pipeline.summary().loop_corrections, 0);
    assert_eq!(pipeline.summary().stored_frames, 6);
    assert!(pipeline.last_loop_correction().is_none());
}

#[test]
fn frames_follow_their_keyframe_exactly() {
    // Keyframes only at frames 0, 3, 6 (by translation ≥ 0.25 m); a
    // loop at keyframe 2 says it sits 5 cm higher relative to keyframe
    // 0 than odometry says, with overwhelming information.
    let mut config = config();
    config.keyframes.max_interval_s = 100.0;
    config.keyframes.min_translation_m = 0.25;
    config.keyframes.min_rotation_deg = 90.0;
    let shifted = Isometry3::translation(0.0, 0.0, 0.05);
    let closure = LoopClosure {
        from_keyframe: 0,
        to_keyframe: 2,
        from_from_to: pose(0).inverse() * shifted * pose(6),
        information: Matrix6::identity() * 1e12,
    };
    let pipeline = run(config, 2, Some(closure), 7);
    let keyframes: Vec<usize> = pipeline.keyframes().iter().map(|k| k.frame_index).collect();
    assert_eq!(keyframes, [0, 3, 6]);
    assert_eq!(pipeline.summary().loop_corrections, 1);
    let report = pipeline.last_loop_correction().unwrap();
    assert!(report.reintegrated_frames == 3 && report.loop_weights.len() == 1);
    // Keyframe 0 is the gauge.
    assert_eq!(
        pipeline.keyframes()[0].world_from_camera,
        renormalized(pose(0))
    );
    let kf2 = pipeline.keyframes()[2].world_from_camera;
    assert!((kf2.translation.vector - (shifted * pose(6)).translation.vector).norm() < 1e-4);
    // Each frame = its keyframe's corrected pose · the relative pose it
    // had when tracked (frames 0–2 → kf 0, 3–5 → kf 1, 6 → kf 2).
    for (i, p) in pipeline.trajectory().iter().enumerate() {
        let kf = &pipeline.keyframes()[i / 3];
        let expected = kf.world_from_camera * (pose(kf.frame_index).inverse() * pose(i));
        let d = expected.inverse() * p.world_from_camera;
        assert!(
            d.translation.vector.norm() < 1e-9 && d.rotation.angle() < 1e-9,
            "frame {i}"
        );
    }
    // The motion state moved with the latest keyframe.
    let last_good = pipeline.motion.last_good.unwrap().world_from_camera;
    let d = kf2.inverse() * last_good;
    assert!(d.translation.vector.norm() < 1e-9 && d.rotation.angle() < 1e-9);
    assert!(
        (pipeline.timings()[6].loop_correction_ms - report.optimize_ms).abs() >= 0.0
            && pipeline.timings()[6].loop_correction_ms > 0.0
    );
}

/// Max translation error of the trajectory against `pose(i)`.
fn max_error_m(pipeline: &Pipeline) -> f64 {
    let errors =
        pipeline.trajectory().iter().enumerate().map(|(i, p)| {
            (p.world_from_camera.translation.vector - pose(i).translation.vector).norm()
        });
    errors.fold(0.0, f64::max)
}

#[test]
fn cauchy_kernel_down_weights_a_wrong_loop() {
    // Keyframe 5 claims to be 1 m off its true pose relative to
    // keyframe 0, with a high information; odometry is exact.
    let run = |loop_kernel_c: f64| {
        let mut config = config();
        config.loop_correction.loop_kernel_c = loop_kernel_c;
        let closure = LoopClosure {
            from_keyframe: 0,
            to_keyframe: 5,
            from_from_to: pose(0).inverse() * pose(5) * Isometry3::translation(1.0, 0.0, 0.0),
            information: Matrix6::identity() * 1e6,
        };
        run(config, 5, Some(closure), 7)
    };
    let robust = run(3.0);
    let plain = run(0.0);
    let weight = robust.last_loop_correction().unwrap().loop_weights[0];
    assert!(weight < 1e-2, "outlier weight {weight}");
    assert!(max_error_m(&robust) < 0.01, "{}", max_error_m(&robust));
    assert!(max_error_m(&plain) > 0.5, "{}", max_error_m(&plain));
}

#[test]
fn store_thins_out_evenly_and_keeps_keyframe_zero() {
    let mut config = config();
    config.loop_correction.max_stored_frames = 4;
    let pipeline = run(config, usize::MAX, None, 9);
    let ids: Vec<usize> = pipeline
        .correction
        .store
        .frames
        .iter()
        .map(|s| s.keyframe)
        .collect();
    // 9 keyframes, at most 4 stored: strides 1 → 2 → 4 keep 0, 4, 8.
    assert_eq!(ids, [0, 4, 8]);
    let (n, bytes) = pipeline.correction.store_stats();
    assert!(n == 3 && bytes >= 3 * 5 * 64 * 48);
}
