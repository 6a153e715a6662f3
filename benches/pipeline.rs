//! Benchmarks of the whole pipeline on a synthetic 640×480 sequence:
//! `cargo bench --bench pipeline`. Per-stage times on real data come from
//! the `tum` example's summary table.

use criterion::{criterion_group, criterion_main, Criterion};
use scenemap::config::{Config, Mode};
use scenemap::pipeline::Pipeline;
use scenemap::sensor::synthetic::{SequenceConfig, SyntheticSequence, TrajectoryPreset};
use scenemap::{RgbdFrame, StampedPose};

const FRAMES: usize = 10;

fn data() -> Option<(SyntheticSequence, Vec<RgbdFrame>, Vec<StampedPose>)> {
    let config = SequenceConfig {
        duration_s: (FRAMES as f64 - 0.5) / 30.0,
        ..SequenceConfig::default()
    };
    let sequence = SyntheticSequence::furnished(7, TrajectoryPreset::Gentle, config).ok()?;
    let frames = sequence.frames().map(|f| f.frame).collect();
    let groundtruth = sequence.groundtruth();
    Some((sequence, frames, groundtruth))
}

fn bench(c: &mut Criterion) {
    let Some((sequence, frames, groundtruth)) = data() else {
        return;
    };
    let camera = *sequence.camera();
    let config = Config::default().with_scene_graph_every_n_frames(FRAMES);
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(10);
    group.bench_function("tracking_10_frames", |b| {
        b.iter(|| {
            let Ok(mut pipeline) = Pipeline::new(config.clone(), camera) else {
                return;
            };
            for frame in &frames {
                let _ = pipeline.process(frame);
            }
        })
    });
    let fuse_config = config.clone().with_mode(Mode::Groundtruth);
    group.bench_function("groundtruth_poses_10_frames", |b| {
        b.iter(|| {
            let Ok(mut pipeline) = Pipeline::new(fuse_config.clone(), camera) else {
                return;
            };
            for (frame, pose) in frames.iter().zip(&groundtruth) {
                let _ = pipeline.process_with_pose(frame, &pose.world_from_camera);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
