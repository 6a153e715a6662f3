//! The embedded default: a synthetic furnished room, no download needed.
//!
//! ```text
//! cargo run --release --example demo [-- --out out/demo --frames 150 --seed 7]
//! ```
//!
//! Renders a seeded furnished room along a gentle camera trajectory with
//! Kinect-like depth noise, fuses every frame into a 2 cm TSDF, meshes it
//! incrementally, and writes `mesh.ply`, `map.smap`, `groundtruth.txt`,
//! `objects.json` and `summary.json` to the output folder.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use scenemap::mesh::{Mesher, PlyFormat};
use scenemap::sensor::synthetic::{
    DepthNoise, SequenceConfig, SyntheticSequence, TrajectoryPreset,
};
use scenemap::tsdf::{TsdfConfig, TsdfIntegrator, TsdfVolume};

/// scenemap demo on a synthetic furnished room.
#[derive(Parser, Debug)]
struct Args {
    /// Output folder (created).
    #[arg(long, default_value = "out/demo")]
    out: PathBuf,
    /// Frames at 30 Hz.
    #[arg(long, default_value_t = 150)]
    frames: usize,
    /// Scene and noise seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Voxel size, m.
    #[arg(long, default_value_t = 0.02)]
    voxel_size_m: f32,
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
    let fps = 30.0;
    let config = SequenceConfig {
        fps,
        duration_s: (args.frames as f64 - 0.5) / fps,
        noise: DepthNoise::kinect(args.seed),
        ..SequenceConfig::default()
    };
    let sequence = SyntheticSequence::furnished(args.seed, TrajectoryPreset::Gentle, config)?;
    let camera = *sequence.camera();
    let mut volume = TsdfVolume::new(TsdfConfig::for_voxel_size_m(args.voxel_size_m))?;
    let mut integrator = TsdfIntegrator::new();
    let mut mesher = Mesher::new();

    let bar = ProgressBar::new(sequence.frame_count() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} frames [{elapsed} < {eta}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut render_ms, mut integrate_ms, mut mesh_ms) = (Vec::new(), Vec::new(), Vec::new());
    let mut invalid_pixels = 0_usize;
    let start = Instant::now();
    for i in 0..sequence.frame_count() {
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
        render_ms.push((t1 - t0).as_secs_f64() * 1e3);
        integrate_ms.push((t2 - t1).as_secs_f64() * 1e3);
        mesh_ms.push((t3 - t2).as_secs_f64() * 1e3);
        bar.set_message(format!("{} blocks", volume.block_count()));
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

    let (render_med, render_p95) = median_p95(&mut render_ms);
    let (int_med, int_p95) = median_p95(&mut integrate_ms);
    let (mesh_med, mesh_p95) = median_p95(&mut mesh_ms);
    let memory_mib = volume.memory_bytes() as f64 / (1024.0 * 1024.0);
    let summary = serde_json::json!({
        "frames": sequence.frame_count(),
        "voxel_size_m": args.voxel_size_m,
        "ms_per_frame": {
            "render": {"median": render_med, "p95": render_p95},
            "integrate": {"median": int_med, "p95": int_p95},
            "mesh": {"median": mesh_med, "p95": mesh_p95},
        },
        "invalid_depth_pixels": invalid_pixels,
        "map": {"blocks": volume.block_count(), "memory_mib": memory_mib,
                 "bytes_per_voxel": volume.memory_bytes_per_voxel()},
        "mesh": {"vertices": mesh.vertex_count(), "triangles": mesh.triangle_count()},
        "total_s": total_s,
    });
    let summary_path = args.out.join("summary.json");
    std::fs::write(
        &summary_path,
        serde_json::to_string_pretty(&summary).unwrap_or_default(),
    )
    .map_err(|e| scenemap::Error::io(&summary_path, e))?;

    println!(
        "\nscenemap demo: synthetic furnished room (seed {}), {} frames, {} cm voxels",
        args.seed,
        sequence.frame_count(),
        args.voxel_size_m * 100.0
    );
    println!("| stage | median ms | p95 ms |\n|---|---|---|");
    println!("| render (synthetic camera) | {render_med:.1} | {render_p95:.1} |");
    println!("| TSDF integrate | {int_med:.1} | {int_p95:.1} |");
    println!("| incremental mesh | {mesh_med:.1} | {mesh_p95:.1} |");
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
        sequence.frame_count() as f64 / total_s
    );
    println!("\n| groundtruth object | class | mass kg | size m |\n|---|---|---|---|");
    for o in sequence.objects().iter().filter(|o| !o.is_structure) {
        let d = o.dimensions_m;
        println!(
            "| #{} | {} | {:.2} | {:.2} x {:.2} x {:.2} |",
            o.instance_id, o.class, o.mass_kg, d.x, d.y, d.z
        );
    }
    println!(
        "\nwrote {}/{{mesh.ply, map.smap, groundtruth.txt, objects.json, summary.json}}",
        args.out.display()
    );
    Ok(())
}
