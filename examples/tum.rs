//! Runs the full pipeline on a TUM RGB-D sequence.
//!
//! ```text
//! cargo run --release --example tum -- ../shared/data/tum/fr1_rpy --out /tmp/rpy \
//!     [--max-frames N] [--groundtruth-poses] [--config scenemap.toml]
//! ```
//!
//! Writes `trajectory.txt` (TUM), `mesh.ply`, `map.smap`, `scene_graph.json`
//! and `summary.json` (counters, per-stage median/p95 ms, fps, map size and,
//! when the sequence has `groundtruth.txt`, ATE (SE3) and RPE over 1 frame
//! and 1 s) into the output folder and prints the summary as a table.

use std::path::PathBuf;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use scenemap::config::{Config, Mode};
use scenemap::eval::{ate, rpe, AteOptions, ErrorStats, RpeDelta, RpeOptions};
use scenemap::geometry::pose_at;
use scenemap::io::write_tum_trajectory;
use scenemap::mesh::PlyFormat;
use scenemap::pipeline::{Pipeline, PipelineSummary, StageStats};
use scenemap::sensor::TumSequence;
use serde::Serialize;

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
    /// Print one line per frame (status, source, position, ms).
    #[arg(long)]
    verbose: bool,
}

/// Trajectory accuracy against groundtruth.
#[derive(Serialize)]
struct Accuracy {
    ate_m: ErrorStats,
    rpe_1_frame_m: ErrorStats,
    rpe_1_frame_deg: ErrorStats,
    /// `None` when the sequence is shorter than a second.
    rpe_1_s_m: Option<ErrorStats>,
    /// `None` when the sequence is shorter than a second.
    rpe_1_s_deg: Option<ErrorStats>,
}

#[derive(Serialize)]
struct Report {
    sequence: String,
    mode: Mode,
    pipeline: PipelineSummary,
    accuracy: Option<Accuracy>,
}

fn main() -> scenemap::Result<()> {
    let args = Args::parse();
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
    progress.finish();
    pipeline.finish()?;
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
        (Some(gt), Mode::Tracking) => Some(evaluate(gt, pipeline.trajectory())?),
        _ => None,
    };
    let report = Report {
        sequence: args.sequence.display().to_string(),
        mode,
        pipeline: pipeline.summary(),
        accuracy,
    };
    let json = serde_json::to_string_pretty(&report).map_err(|source| scenemap::Error::Json {
        path: out.join("summary.json"),
        source,
    })?;
    let summary_path = out.join("summary.json");
    std::fs::write(&summary_path, json).map_err(|e| scenemap::Error::io(&summary_path, e))?;
    print_table(&report);
    Ok(())
}

fn evaluate(
    groundtruth: &[scenemap::StampedPose],
    estimate: &[scenemap::StampedPose],
) -> scenemap::Result<Accuracy> {
    let ate = ate(estimate, groundtruth, &AteOptions::default())?;
    let frame = rpe(
        estimate,
        groundtruth,
        &RpeOptions::default().with_delta(RpeDelta::Frames(1)),
    )?;
    let second = rpe(
        estimate,
        groundtruth,
        &RpeOptions::default().with_delta(RpeDelta::Seconds(1.0)),
    )
    .ok();
    Ok(Accuracy {
        ate_m: ate.translation_m,
        rpe_1_frame_m: frame.translation_m,
        rpe_1_frame_deg: frame.rotation_deg,
        rpe_1_s_m: second.as_ref().map(|r| r.translation_m),
        rpe_1_s_deg: second.as_ref().map(|r| r.rotation_deg),
    })
}

fn print_table(report: &Report) {
    let s = &report.pipeline;
    println!("\n{} ({:?})", report.sequence, report.mode);
    println!(
        "frames {}  lost {}  degraded {}  fused {}  keyframes {}  loop closures {}",
        s.frames,
        s.lost_frames,
        s.degraded_frames,
        s.integrated_frames,
        s.keyframes,
        s.loop_closures
    );
    println!(
        "tracked: model {}  frame-to-frame {}   scene-graph updates {}  objects {}",
        s.model_tracked_frames, s.frame_to_frame_frames, s.scene_graph_updates, s.objects
    );
    println!(
        "{:<12} {:>10} {:>10} {:>10}",
        "stage", "median ms", "p95 ms", "mean ms"
    );
    let rows: [(&str, StageStats); 7] = [
        ("prepare", s.stages.prepare),
        ("model view", s.stages.model_view),
        ("track", s.stages.track),
        ("integrate", s.stages.integrate),
        ("mesh", s.stages.mesh),
        ("scene graph", s.stages.scene_graph),
        ("total", s.stages.total),
    ];
    for (name, stats) in rows {
        println!(
            "{:<12} {:>10.1} {:>10.1} {:>10.1}",
            name, stats.median_ms, stats.p95_ms, stats.mean_ms
        );
    }
    println!(
        "fps {:.1}  map {} blocks, {:.1} MiB  mesh {} vertices, {} triangles",
        s.fps, s.map_blocks, s.map_memory_mib, s.mesh_vertices, s.mesh_triangles
    );
    if let Some(a) = &report.accuracy {
        println!(
            "ATE (SE3) rmse {:.4} m  median {:.4} m  max {:.4} m",
            a.ate_m.rmse, a.ate_m.median, a.ate_m.max
        );
        println!(
            "RPE 1 frame rmse {:.4} m {:.3} deg",
            a.rpe_1_frame_m.rmse, a.rpe_1_frame_deg.rmse
        );
        if let (Some(m), Some(deg)) = (&a.rpe_1_s_m, &a.rpe_1_s_deg) {
            println!("RPE 1 s rmse {:.4} m {:.3} deg", m.rmse, deg.rmse);
        }
    }
}
