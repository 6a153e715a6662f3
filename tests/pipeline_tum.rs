//! The full pipeline on all of TUM `fr1_rpy` (694 frames) against
//! motion-capture groundtruth: frame-to-model tracking, keyframe loop
//! closure and pose-graph correction of the map. Run in release:
//! `cargo test --release --test pipeline_tum -- --nocapture`.

mod common;

use scenemap::config::Config;
use scenemap::eval::{ate, rpe, AteOptions, RpeDelta, RpeOptions};
use scenemap::odometry::loop_closure::{KeyframeLoopClosure, LoopClosureStageConfig};
use scenemap::pipeline::Pipeline;
use scenemap::sensor::TumSequence;

/// ATE bound asserted on fr1_rpy (SE(3)-aligned translation RMSE). The
/// issue asks for ≤ 3 cm; see the report for what the pipeline reaches.
const MAX_ATE_RMSE_M: f64 = 0.03;

#[test]
fn fr1_rpy_full_pipeline_ate() {
    let Some(dir) = common::tum_sequence("fr1_rpy") else {
        return;
    };
    let sequence = TumSequence::open(&dir).unwrap();
    let groundtruth = sequence.groundtruth().unwrap().to_vec();
    let stage =
        KeyframeLoopClosure::new(sequence.camera(), LoopClosureStageConfig::default()).unwrap();
    let mut pipeline = Pipeline::new(Config::default(), *sequence.camera())
        .unwrap()
        .with_loop_closure(Box::new(stage));
    for frame in &sequence {
        pipeline.process(&frame.unwrap()).unwrap();
    }
    pipeline.finish().unwrap();
    let estimate = pipeline.trajectory();
    let ate = ate(estimate, &groundtruth, &AteOptions::default()).unwrap();
    let rpe_frame = rpe(
        estimate,
        &groundtruth,
        &RpeOptions::default().with_delta(RpeDelta::Frames(1)),
    )
    .unwrap();
    let summary = pipeline.summary();
    println!(
        "fr1_rpy: {} frames, lost {}, degraded {}, keyframes {}, loops {}, corrections {}; ATE rmse {:.2} cm; RPE/frame {:.2} mm {:.3} deg",
        summary.frames,
        summary.lost_frames,
        summary.degraded_frames,
        summary.keyframes,
        summary.loop_closures,
        summary.loop_corrections,
        ate.translation_m.rmse * 100.0,
        rpe_frame.translation_m.rmse * 1e3,
        rpe_frame.rotation_deg.rmse
    );
    println!("{}", serde_json::to_string_pretty(&summary.stages).unwrap());
    assert_eq!(summary.frames, sequence.len());
    assert!(
        summary.lost_frames < 10,
        "{} frames lost",
        summary.lost_frames
    );
    // fr1_rpy turns on the spot: loops are found and the map corrected.
    assert!(summary.loop_closures >= 1 && summary.loop_corrections >= 1);
    assert!(
        ate.translation_m.rmse <= MAX_ATE_RMSE_M,
        "ATE rmse {:.4} m > {MAX_ATE_RMSE_M} m",
        ate.translation_m.rmse
    );
}
