//! The embedded default: a synthetic furnished room, no download needed.
//!
//! ```text
//! cargo run --release --example demo [-- --out out/demo --frames 156 --seed 7]
//! ```
//!
//! Renders a seeded furnished room along a gentle camera orbit with
//! Kinect-like depth noise, fuses every frame into a 2 cm TSDF at the
//! groundtruth poses, meshes it incrementally, builds the scene graph
//! (objects, masses, push forces, grasps; classes from the generator's
//! instance masks through the `Segmenter` interface), and writes
//! `mesh.ply`, `map.smap`, `scene_graph.json`, `top_down.png`,
//! `groundtruth.txt`, `objects.json` and `summary.json`.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use nalgebra::Point3;
use scenemap::mesh::{Mesher, PlyFormat};
use scenemap::scene_graph::label::object_label;
use scenemap::scene_graph::map_query::SurfaceSamples;
use scenemap::scene_graph::segmentation::GroundTruthSegmenter;
use scenemap::scene_graph::{SceneGraphBuilder, SceneGraphConfig};
use scenemap::sensor::synthetic::{
    DepthNoise, SequenceConfig, SyntheticSequence, TrajectoryPreset,
};
use scenemap::tsdf::{TsdfConfig, TsdfIntegrator, TsdfVolume};
use scenemap::viz_png::{object_color, render_top_down_png, MeshSlices, TopDownBox};

/// scenemap demo on a synthetic furnished room.
#[derive(Parser, Debug)]
struct Args {
    /// Output folder (created).
    #[arg(long, default_value = "out/demo")]
    out: PathBuf,
    /// Frames; at the default 6 Hz, 156 frames are one orbit of the room.
    #[arg(long, default_value_t = 156)]
    frames: usize,
    /// Frame rate of the synthetic camera, Hz.
    #[arg(long, default_value_t = 6.0)]
    fps: f64,
    /// Scene and noise seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Voxel size, m.
    #[arg(long, default_value_t = 0.02)]
    voxel_size_m: f32,
    /// Scene-graph update period, frames.
    #[arg(long, default_value_t = 10)]
    graph_every: usize,
    /// Push height for the force report, m above the object's support.
    #[arg(long, default_value_t = 0.8)]
    push_height_m: f64,
}

/// Median and 95th percentile of a list of durations in ms.
fn median_p95(values: &mut [f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    values.sort_by(f64::total_cmp);
    let pick = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (pick(0.5), pick(0.95))
}

fn main() -> scenemap::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out).map_err(|e| scenemap::Error::io(&args.out, e))?;
    let config = SequenceConfig {
        fps: args.fps,
        duration_s: (args.frames as f64 - 0.5) / args.fps,
        noise: DepthNoise::kinect(args.seed),
        ..SequenceConfig::default()
    };
    let sequence = SyntheticSequence::furnished(args.seed, TrajectoryPreset::Gentle, config)?;
    let camera = *sequence.camera();
    let mut volume = TsdfVolume::new(TsdfConfig::for_voxel_size_m(args.voxel_size_m))?;
    let mut integrator = TsdfIntegrator::new();
    let mut mesher = Mesher::new();
    let mut graph = SceneGraphBuilder::new(SceneGraphConfig::default())?;
    let segmenter = GroundTruthSegmenter::new(sequence.scene());
    let every = args.graph_every.max(1);

    let n = sequence.frame_count();
    let bar = ProgressBar::new(n as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} frames [{elapsed} < {eta}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut times_ms: [Vec<f64>; 4] = Default::default(); // render, integrate, mesh, graph
    let mut invalid_pixels = 0_usize;
    let start = Instant::now();
    for i in 0..n {
        let t0 = Instant::now();
        let rendered = sequence.render_frame(i)?;
        let world_from_camera = sequence.world_from_camera_at(rendered.frame.timestamp);
        let t1 = Instant::now();
        let stats =
            integrator.integrate(&mut volume, &rendered.frame, &camera, &world_from_camera)?;
        invalid_pixels += stats.invalid_pixels;
        let t2 = Instant::now();
        mesher.update(&mut volume);
        let t3 = Instant::now();
        if i % every == every - 1 || i + 1 == n {
            let samples = SurfaceSamples::from_mesh(&mesher.mesh());
            graph.update(&samples, &volume, rendered.frame.timestamp)?;
        }
        let segmentation = segmenter.segment_rendered(&rendered);
        graph.observe_frame(
            &rendered.frame,
            &camera,
            &world_from_camera,
            Some(&segmentation),
        )?;
        let t4 = Instant::now();
        for (k, (a, b)) in [(t0, t1), (t1, t2), (t2, t3), (t3, t4)]
            .into_iter()
            .enumerate()
        {
            times_ms[k].push((b - a).as_secs_f64() * 1e3);
        }
        bar.set_message(format!(
            "{} blocks, {} objects",
            volume.block_count(),
            graph.graph().objects().count()
        ));
        bar.inc(1);
    }
    bar.finish();
    let total_s = start.elapsed().as_secs_f64();

    let mesh = mesher.mesh();
    mesh.write_ply(args.out.join("mesh.ply"), PlyFormat::BinaryLittleEndian)?;
    volume.save(args.out.join("map.smap"))?;
    scenemap::io::write_tum_trajectory(args.out.join("groundtruth.txt"), &sequence.groundtruth())?;
    sequence
        .scene()
        .write_objects_json(&args.out.join("objects.json"))?;
    let scene_graph = graph.graph();
    scene_graph.save_json(args.out.join("scene_graph.json"))?;
    let positions: Vec<[f32; 3]> = mesh.vertices.iter().map(|p| [p.x, p.y, p.z]).collect();
    let boxes: Vec<TopDownBox> = scene_graph
        .objects()
        .map(|o| TopDownBox {
            bounding_box: o.bounding_box,
            color: object_color(o.id.0),
        })
        .collect();
    render_top_down_png(
        args.out.join("top_down.png"),
        &MeshSlices::new(&positions, &mesh.triangles).with_colors(&mesh.colors),
        &boxes,
        0.01,
    )?;

    let stages = [
        "render (synthetic camera)",
        "TSDF integrate",
        "incremental mesh",
        "scene graph",
    ];
    let stats: Vec<(f64, f64)> = times_ms.iter_mut().map(|v| median_p95(v)).collect();
    let memory_mib = volume.memory_bytes() as f64 / (1024.0 * 1024.0);
    let summary = serde_json::json!({
        "frames": n,
        "voxel_size_m": args.voxel_size_m,
        "ms_per_frame": stages.iter().zip(&stats).map(|(s, (m, p))| (s.to_string(), serde_json::json!({"median": m, "p95": p}))).collect::<serde_json::Map<_, _>>(),
        "invalid_depth_pixels": invalid_pixels,
        "map": {"blocks": volume.block_count(), "memory_mib": memory_mib, "bytes_per_voxel": volume.memory_bytes_per_voxel()},
        "mesh": {"vertices": mesh.vertex_count(), "triangles": mesh.triangle_count()},
        "objects": scene_graph.objects().count(),
        "support_surfaces": scene_graph.surfaces().count(),
        "total_s": total_s,
    });
    let summary_path = args.out.join("summary.json");
    std::fs::write(
        &summary_path,
        serde_json::to_string_pretty(&summary).unwrap_or_default(),
    )
    .map_err(|e| scenemap::Error::io(&summary_path, e))?;

    println!(
        "\nscenemap demo: synthetic furnished room (seed {}), {n} frames, {} cm voxels",
        args.seed,
        args.voxel_size_m * 100.0
    );
    println!("| stage | median ms | p95 ms |\n|---|---|---|");
    for (stage, (median, p95)) in stages.iter().zip(&stats) {
        println!("| {stage} | {median:.1} | {p95:.1} |");
    }
    println!("\n| map | value |\n|---|---|");
    println!("| blocks | {} |", volume.block_count());
    println!(
        "| memory | {memory_mib:.1} MiB ({:.2} B/voxel) |",
        volume.memory_bytes_per_voxel()
    );
    println!(
        "| mesh | {} vertices, {} triangles |",
        mesh.vertex_count(),
        mesh.triangle_count()
    );
    println!("| invalid depth pixels skipped | {invalid_pixels} |");
    println!(
        "| wall time | {total_s:.1} s ({:.1} fps) |",
        n as f64 / total_s
    );

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
    println!(
        "\nwrote {}/{{mesh.ply, map.smap, scene_graph.json, top_down.png, groundtruth.txt, objects.json, summary.json}}",
        args.out.display()
    );
    Ok(())
}
