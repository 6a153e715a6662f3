//! Runs the full pipeline on a TUM RGB-D sequence.
//!
//! ```text
//! cargo run --release --example tum -- ../shared/data/tum/fr1_rpy --out /tmp/rpy \
//!     [--max-frames N] [--groundtruth-poses] [--config scenemap.toml] [--loop-closure]
//! ```
//!
//! `--loop-closure` plugs the keyframe loop-closure and relocalisation stage
//! (`odometry::loop_closure::KeyframeLoopClosure`) into the pipeline: loops
//! are verified, the keyframe pose graph is optimised and the map rebuilt
//! from the stored frames (`[loop_correction]` in the config).
//!
//! Writes `trajectory.txt` (TUM), `mesh.ply`, `map.smap`, `scene_graph.json`
//! and `summary.json` (counters, per-stage median/p95 ms, fps, map size and,
//! when the sequence has `groundtruth.txt`, ATE (SE3) and RPE over 1 frame
//! and 1 s) into the output folder and prints the summary as a table.
//!
//! `--rerun spawn | connect[=ADDR] | save=FILE.rrd` (feature `rerun`)
//! streams the run to the Rerun viewer:
//! `cargo run --release --features rerun --example tum -- SEQ --out DIR --rerun spawn`.

use std::path::PathBuf;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use scenemap::config::{Config, Mode};
use scenemap::geometry::pose_at;
use scenemap::io::write_tum_trajectory;
use scenemap::mesh::PlyFormat;
use scenemap::odometry::loop_closure::{KeyframeLoopClosure, LoopClosureStageConfig};
use scenemap::pipeline::{Pipeline, RunReport, TrajectoryAccuracy};
use scenemap::sensor::TumSequence;

/// Dense RGB-D mapping of a TUM sequence.
#[derive(Parser, Debug)]
struct Args {
    /// TUM sequence folder (rgb.txt, depth.txt, ...).
    sequence: PathBuf,
    /// Output folder (created).
    #[arg(long)]
    out: PathBuf,
    /// Process at most this many frames.
    #[arg(long)]
    max_frames: Option<usize>,
    /// Fuse at the groundtruth poses instead of tracking.
    #[arg(long)]
    groundtruth_poses: bool,
    /// TOML configuration file (defaults otherwise).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Raw depth units per metre (TUM: 5000).
    #[arg(long)]
    depth_scale: Option<f32>,
    /// Loop closure, relocalisation and pose-graph correction of the map.
    #[arg(long)]
    loop_closure: bool,
    /// Print one line per frame (status, source, position, ms).
    #[arg(long)]
    verbose: bool,
    /// Push height for the force labels in Rerun, m above the support.
    #[arg(long, default_value_t = 0.8)]
    push_height_m: f64,
    /// Stream to Rerun: spawn | connect | connect=ADDR | save=FILE.rrd
    /// (needs `--features rerun`).
    #[arg(long, value_name = "SINK")]
    rerun: Option<String>,
}

fn main() -> scenemap::Result<()> {
    let args = Args::parse();
    #[cfg(feature = "rerun")]
    let mut viz =
        scenemap::viz::PipelineLogger::from_flag(args.rerun.as_deref(), args.push_height_m)?;
    #[cfg(not(feature = "rerun"))]
    if args.rerun.is_some() {
        return Err(scenemap::Error::Config(
            "--rerun needs the `rerun` feature: cargo run --release --features rerun --example tum -- SEQ --out DIR --rerun spawn".into(),
        ));
    }
    let mut config = match &args.config {
        Some(path) => Config::from_toml_file(path)?,
        None => Config::default(),
    };
    if args.groundtruth_poses {
        config.mode = Mode::Groundtruth;
    }
    let mut sequence = TumSequence::open(&args.sequence)?;
    if let Some(depth_scale) = args.depth_scale {
        sequence = sequence.with_depth_scale(depth_scale)?;
    }
    let groundtruth = sequence.groundtruth().map(<[_]>::to_vec);
    if config.mode == Mode::Groundtruth && groundtruth.is_none() {
        return Err(scenemap::Error::InvalidArgument(format!(
            "{}: --groundtruth-poses needs groundtruth.txt",
            args.sequence.display()
        )));
    }
    std::fs::create_dir_all(&args.out).map_err(|e| scenemap::Error::io(&args.out, e))?;
    let mode = config.mode;
    let mut pipeline = Pipeline::new(config, *sequence.camera())?;
    if args.loop_closure {
        let stage = KeyframeLoopClosure::new(pipeline.camera(), LoopClosureStageConfig::default())?;
        pipeline = pipeline.with_loop_closure(Box::new(stage));
    }

    let total = args.max_frames.unwrap_or(usize::MAX).min(sequence.len());
    let progress = ProgressBar::new(total as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} frames, {per_sec}, eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut skipped = 0;
    for frame in sequence.frames().take(total) {
        let frame = frame?;
        let result = match (&groundtruth, mode) {
            (Some(gt), Mode::Groundtruth) => match pose_at(gt, frame.timestamp, 0.05) {
                Some(world_from_camera) => {
                    pipeline.process_with_pose(&frame, &world_from_camera)?
                }
                None => {
                    skipped += 1;
                    progress.inc(1);
                    continue;
                }
            },
            _ => pipeline.process(&frame)?,
        };
        #[cfg(feature = "rerun")]
        if let Some(viz) = viz.as_mut() {
            viz.log_frame(&pipeline, &frame, &result)?;
        }
        if args.verbose {
            let p = result.world_from_camera.translation.vector;
            progress.suspend(|| {
                eprintln!(
                    "{} {:?} {:?} [{:.3} {:.3} {:.3}] |q|-1 {:.1e} blocks {} {:.0} ms",
                    result.timestamp,
                    result.source,
                    result.status,
                    p.x,
                    p.y,
                    p.z,
                    result.world_from_camera.rotation.quaternion().norm() - 1.0,
                    pipeline.map().block_count(),
                    result.timing.total_ms
                )
            });
        }
        progress.set_message(format!("{:?}", result.source));
        progress.inc(1);
    }
    pipeline.finish()?;
    #[cfg(feature = "rerun")]
    if let Some(viz) = viz.as_mut() {
        viz.finish(&pipeline)?;
    }
    progress.finish();
    if skipped > 0 {
        eprintln!("{skipped} frames without groundtruth within 50 ms were skipped");
    }

    let out = &args.out;
    write_tum_trajectory(out.join("trajectory.txt"), pipeline.trajectory())?;
    pipeline
        .mesh()
        .write_ply(out.join("mesh.ply"), PlyFormat::BinaryLittleEndian)?;
    pipeline.map().save(out.join("map.smap"))?;
    pipeline
        .scene_graph()
        .save_json(out.join("scene_graph.json"))?;
    let accuracy = match (&groundtruth, mode) {
        (Some(gt), Mode::Tracking) => {
            Some(TrajectoryAccuracy::evaluate(pipeline.trajectory(), gt)?)
        }
        _ => None,
    };
    let report = RunReport {
        sequence: args.sequence.display().to_string(),
        mode,
        pipeline: pipeline.summary(),
        accuracy,
    };
    report.write_json(out.join("summary.json"))?;
    println!("\n{report}");
    Ok(())
}
