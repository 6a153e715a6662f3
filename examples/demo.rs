//! The embedded default: the full pipeline on a synthetic furnished room,
//! no download needed.
//!
//! ```text
//! cargo run --release --example demo [-- --out out/demo --frames 240 --seed 7]
//! cargo run --release --features rerun --example demo -- --rerun spawn
//! ```
//!
//! Renders a seeded furnished room along a gentle camera orbit with
//! Kinect-like depth noise and runs the [`Pipeline`] on it in tracking
//! mode, started at the groundtruth pose of the first frame: dense RGB-D
//! tracking against the map, TSDF fusion, incremental meshing and the scene
//! graph on its background thread (objects, masses, push forces, grasps;
//! classes from the generator's instance masks, plugged in as a
//! `Segmenter`). Prints the scene graph and the summary table (with ATE/RPE
//! against the synthetic groundtruth) and writes `mesh.ply`, `map.smap`,
//! `scene_graph.json`, `top_down.png`, `trajectory.txt`, `groundtruth.txt`,
//! `objects.json` and `summary.json` into `--out`.
//!
//! `--rerun spawn | connect[=ADDR] | save=FILE.rrd` (feature `rerun`)
//! streams the run to the Rerun viewer.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use nalgebra::Point3;
use scenemap::config::{Config, Mode};
use scenemap::mesh::PlyFormat;
use scenemap::pipeline::{Pipeline, RunReport, TrajectoryAccuracy};
use scenemap::scene_graph::label::object_label;
use scenemap::scene_graph::segmentation::{GroundTruthSegmenter, InstanceSegmentation, Segmenter};
use scenemap::sensor::synthetic::{
    DepthNoise, SequenceConfig, SyntheticScene, SyntheticSequence, Trajectory, TrajectoryPreset,
};
use scenemap::viz_png::{object_color, render_top_down_png, MeshSlices, TopDownBox};
use scenemap::{PinholeCamera, RgbdFrame};
use serde::Serialize;

/// scenemap demo: the full pipeline on a synthetic furnished room.
#[derive(Parser, Debug)]
struct Args {
    /// Output folder (created).
    #[arg(long, default_value = "out/demo")]
    out: PathBuf,
    /// Frames; at the default 10 Hz, 240 frames are 0.9 of an orbit.
    #[arg(long, default_value_t = 240)]
    frames: usize,
    /// Frame rate of the synthetic camera, Hz.
    #[arg(long, default_value_t = 10.0)]
    fps: f64,
    /// Image size: 640x480 halved this many times (0: full size).
    #[arg(long, default_value_t = 1)]
    half_size: u32,
    /// Scene and noise seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Voxel size, m.
    #[arg(long, default_value_t = 0.02)]
    voxel_size_m: f32,
    /// Scene-graph update period, frames.
    #[arg(long, default_value_t = 20)]
    graph_every: usize,
    /// Push height for the force report, m above the object's support.
    #[arg(long, default_value_t = 0.8)]
    push_height_m: f64,
    /// Stream to Rerun: spawn | connect | connect=ADDR | save=FILE.rrd
    /// (needs `--features rerun`).
    #[arg(long, value_name = "SINK")]
    rerun: Option<String>,
}

/// The groundtruth segmenter, shared: the frame loop pushes each rendered
/// frame's instance mask, the pipeline asks for it by timestamp.
struct SharedSegmenter(Arc<Mutex<GroundTruthSegmenter>>);

impl Segmenter for SharedSegmenter {
    fn segment(&mut self, frame: &RgbdFrame) -> scenemap::Result<Option<InstanceSegmentation>> {
        match self.0.lock() {
            Ok(mut segmenter) => segmenter.segment(frame),
            Err(_) => Err(scenemap::Error::InvalidArgument(
                "segmenter lock poisoned".into(),
            )),
        }
    }
}

/// `summary.json`: the run report plus what only the demo knows.
#[derive(Serialize)]
struct DemoSummary<'a> {
    #[serde(flatten)]
    report: &'a RunReport,
    seed: u64,
    image_size: [u32; 2],
    fps_camera: f64,
    voxel_size_m: f32,
    support_surfaces: usize,
    wall_time_s: f64,
}

fn main() -> scenemap::Result<()> {
    let args = Args::parse();
    #[cfg(feature = "rerun")]
    let mut viz =
        scenemap::viz::PipelineLogger::from_flag(args.rerun.as_deref(), args.push_height_m)?;
    #[cfg(not(feature = "rerun"))]
    if args.rerun.is_some() {
        return Err(scenemap::Error::Config(
            "--rerun needs the `rerun` feature: cargo run --release --features rerun --example demo -- --rerun spawn".into(),
        ));
    }
    std::fs::create_dir_all(&args.out).map_err(|e| scenemap::Error::io(&args.out, e))?;
    let scene = SyntheticScene::furnished_room(args.seed);
    let trajectory = Trajectory::preset(TrajectoryPreset::Gentle, &scene, args.seed);
    let camera = PinholeCamera::tum_ros_default().scaled_to_level(args.half_size);
    let sequence_config = SequenceConfig {
        fps: args.fps,
        duration_s: (args.frames as f64 - 0.5) / args.fps,
        noise: DepthNoise::kinect(args.seed),
        ..SequenceConfig::default()
    };
    let sequence = SyntheticSequence::new(scene, camera, trajectory, sequence_config)?;
    let groundtruth = sequence.groundtruth();
    let config = Config::default()
        .with_voxel_size_m(args.voxel_size_m)
        .with_scene_graph_every_n_frames(args.graph_every.max(1));
    let segmenter = Arc::new(Mutex::new(GroundTruthSegmenter::new(sequence.scene())));
    let mut pipeline = Pipeline::new(config, camera)?
        .with_initial_pose(groundtruth[0].world_from_camera)
        .with_segmenter(Box::new(SharedSegmenter(Arc::clone(&segmenter))));

    let n = sequence.frame_count();
    let bar = ProgressBar::new(n as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} frames [{elapsed} < {eta}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    for i in 0..n {
        let rendered = sequence.render_frame(i)?;
        if let Ok(mut s) = segmenter.lock() {
            s.push(&rendered);
        }
        let result = pipeline.process(&rendered.frame)?;
        #[cfg(feature = "rerun")]
        if let Some(viz) = viz.as_mut() {
            viz.log_frame(&pipeline, &rendered.frame, &result)?;
        }
        bar.set_message(format!(
            "{:?}, {} blocks, {} objects",
            result.status,
            pipeline.map().block_count(),
            pipeline.scene_graph().objects().count()
        ));
        bar.inc(1);
    }
    pipeline.finish()?;
    #[cfg(feature = "rerun")]
    if let Some(viz) = viz.as_mut() {
        viz.finish(&pipeline)?;
    }
    bar.finish();
    let wall_time_s = start.elapsed().as_secs_f64();

    let out = &args.out;
    let mesh = pipeline.mesh();
    mesh.write_ply(out.join("mesh.ply"), PlyFormat::BinaryLittleEndian)?;
    pipeline.map().save(out.join("map.smap"))?;
    scenemap::io::write_tum_trajectory(out.join("trajectory.txt"), pipeline.trajectory())?;
    scenemap::io::write_tum_trajectory(out.join("groundtruth.txt"), &groundtruth)?;
    sequence
        .scene()
        .write_objects_json(&out.join("objects.json"))?;
    let scene_graph = pipeline.scene_graph();
    scene_graph.save_json(out.join("scene_graph.json"))?;
    let positions: Vec<[f32; 3]> = mesh.vertices.iter().map(|p| [p.x, p.y, p.z]).collect();
    let boxes: Vec<TopDownBox> = scene_graph
        .objects()
        .map(|o| TopDownBox {
            bounding_box: o.bounding_box,
            color: object_color(o.id.0),
        })
        .collect();
    render_top_down_png(
        out.join("top_down.png"),
        &MeshSlices::new(&positions, &mesh.triangles).with_colors(&mesh.colors),
        &boxes,
        0.01,
    )?;
    let report = RunReport {
        sequence: format!(
            "synthetic furnished room (seed {}), {}x{} at {} Hz, {} cm voxels",
            args.seed,
            camera.width,
            camera.height,
            args.fps,
            args.voxel_size_m * 100.0
        ),
        mode: Mode::Tracking,
        pipeline: pipeline.summary(),
        accuracy: Some(TrajectoryAccuracy::evaluate(
            pipeline.trajectory(),
            &groundtruth,
        )?),
    };
    let summary = DemoSummary {
        report: &report,
        seed: args.seed,
        image_size: [camera.width, camera.height],
        fps_camera: args.fps,
        voxel_size_m: args.voxel_size_m,
        support_surfaces: scene_graph.surfaces().count(),
        wall_time_s,
    };
    let summary_path = out.join("summary.json");
    let json = serde_json::to_string_pretty(&summary).map_err(|source| scenemap::Error::Json {
        path: summary_path.clone(),
        source,
    })?;
    std::fs::write(&summary_path, json).map_err(|e| scenemap::Error::io(&summary_path, e))?;

    let truth: Vec<_> = sequence
        .objects()
        .into_iter()
        .filter(|o| !o.is_structure)
        .collect();
    println!(
        "\nscene graph: {} objects on {} support surfaces (forces for a push at {} m)",
        scene_graph.objects().count(),
        scene_graph.surfaces().count(),
        args.push_height_m
    );
    for object in scene_graph.objects() {
        // The groundtruth object nearest to the box centre, for comparison.
        let centre = object.bounding_box.center_m.coords;
        let nearest = truth.iter().min_by(|a, b| {
            let da = (a.world_from_object.translation.vector - centre).norm();
            let db = (b.world_from_object.translation.vector - centre).norm();
            da.total_cmp(&db)
        });
        let note = nearest.map_or(String::new(), |t| {
            format!(
                "  [truth: {} #{}, {:.1} kg]",
                t.class, t.instance_id, t.mass_kg
            )
        });
        println!(
            "  {}, {} grasps{note}",
            object_label(object, args.push_height_m),
            object.grasps.len()
        );
    }
    let robot_m = Point3::new(0.0, 0.0, 1.0);
    if let Some((chair, Ok(push))) =
        scene_graph.where_and_how_hard("chair", &robot_m, args.push_height_m)
    {
        println!(
            "\nwhere is the chair, and how hard must I push it? chair #{} at ({:.2}, {:.2}) m: {:.0} N moves it ({:?} first)",
            chair.id.0, chair.bounding_box.center_m.x, chair.bounding_box.center_m.y, push.required_force_n, push.first
        );
    }
    println!("\n{report}");
    println!("wall time {wall_time_s:.1} s (rendering included)");
    println!(
        "wrote {}/{{mesh.ply, map.smap, scene_graph.json, top_down.png, trajectory.txt, groundtruth.txt, objects.json, summary.json}}",
        out.display()
    );
    Ok(())
}
