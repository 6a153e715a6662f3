//! Fuses a TUM RGB-D sequence into a TSDF with its groundtruth poses and
//! writes the mesh (binary PLY) and the map file.
//!
//! ```text
//! cargo run --release --example fuse -- ../shared/data/tum/fr1_rpy --out /tmp/fuse \
//!     [--voxel-size-m 0.02] [--every 1]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use scenemap::geometry::pose_at;
use scenemap::mesh::{Mesher, PlyFormat};
use scenemap::sensor::TumSequence;
use scenemap::tsdf::{TsdfConfig, TsdfIntegrator, TsdfVolume};

/// TSDF fusion of a TUM sequence with groundtruth poses.
#[derive(Parser, Debug)]
struct Args {
    /// TUM sequence folder (rgb.txt, depth.txt, groundtruth.txt).
    sequence: PathBuf,
    /// Output folder (created); receives mesh.ply and map.smap.
    #[arg(long)]
    out: PathBuf,
    /// Voxel edge length, metres (0.01–0.10).
    #[arg(long, default_value_t = 0.02)]
    voxel_size_m: f32,
    /// Fuse every N-th frame.
    #[arg(long, default_value_t = 1)]
    every: usize,
    /// Interpolate groundtruth only between samples at most this far apart,
    /// seconds; frames in longer gaps are skipped.
    #[arg(long, default_value_t = 0.02)]
    max_gap_s: f64,
}

/// Median and 95th percentile, milliseconds.
fn median_p95(samples: &mut [f64]) -> (f64, f64) {
    if samples.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

fn main() -> scenemap::Result<()> {
    let args = Args::parse();
    if args.every == 0 {
        return Err(scenemap::Error::InvalidArgument(
            "--every must be at least 1".into(),
        ));
    }
    let sequence = TumSequence::open(&args.sequence)?;
    let groundtruth = sequence.groundtruth().ok_or_else(|| {
        scenemap::Error::InvalidArgument(format!(
            "{}: no groundtruth.txt, cannot fuse with groundtruth poses",
            args.sequence.display()
        ))
    })?;
    let camera = *sequence.camera();
    std::fs::create_dir_all(&args.out).map_err(|e| scenemap::Error::io(&args.out, e))?;

    let mut volume = TsdfVolume::new(TsdfConfig::for_voxel_size_m(args.voxel_size_m))?;
    let mut integrator = TsdfIntegrator::new();
    let mut mesher = Mesher::new();
    let indices: Vec<usize> = (0..sequence.len()).step_by(args.every).collect();
    let bar = ProgressBar::new(indices.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} frames [{elapsed} < {eta}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut integrate_ms, mut mesh_ms) = (Vec::new(), Vec::new());
    let mut skipped = 0;
    let start = Instant::now();
    for &i in &indices {
        bar.inc(1);
        let timestamp = sequence.pairs()[i].color_timestamp;
        let Some(world_from_camera) = pose_at(groundtruth, timestamp, args.max_gap_s) else {
            skipped += 1;
            continue;
        };
        let frame = sequence.frame(i)?;
        let t0 = Instant::now();
        integrator.integrate(&mut volume, &frame, &camera, &world_from_camera)?;
        let t1 = Instant::now();
        mesher.update(&mut volume);
        integrate_ms.push((t1 - t0).as_secs_f64() * 1e3);
        mesh_ms.push(t1.elapsed().as_secs_f64() * 1e3);
        bar.set_message(format!("{} blocks", volume.block_count()));
    }
    bar.finish();
    let wall_s = start.elapsed().as_secs_f64();

    let mesh = mesher.mesh();
    let mesh_path = args.out.join("mesh.ply");
    mesh.write_ply(&mesh_path, PlyFormat::BinaryLittleEndian)?;
    let map_path = args.out.join("map.smap");
    volume.save(&map_path)?;

    let fused = integrate_ms.len();
    let (int_med, int_p95) = median_p95(&mut integrate_ms);
    let (mesh_med, mesh_p95) = median_p95(&mut mesh_ms);
    let rows = [
        ("sequence", args.sequence.display().to_string()),
        ("voxel size", format!("{} m", args.voxel_size_m)),
        ("frames fused", format!("{fused} (every {})", args.every)),
        ("frames skipped (no groundtruth)", skipped.to_string()),
        (
            "integration ms/frame",
            format!("median {int_med:.2}, p95 {int_p95:.2}"),
        ),
        (
            "incremental meshing ms/frame",
            format!("median {mesh_med:.2}, p95 {mesh_p95:.2}"),
        ),
        ("blocks", volume.block_count().to_string()),
        (
            "memory",
            format!(
                "{:.1} MiB, {:.2} bytes/voxel",
                volume.memory_bytes() as f64 / (1 << 20) as f64,
                volume.memory_bytes_per_voxel()
            ),
        ),
        (
            "mesh",
            format!(
                "{} vertices, {} triangles",
                mesh.vertex_count(),
                mesh.triangle_count()
            ),
        ),
        ("wall time (incl. decoding)", format!("{wall_s:.1} s")),
        (
            "outputs",
            format!("{}, {}", mesh_path.display(), map_path.display()),
        ),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in rows {
        println!("{key:<width$}  {value}");
    }
    Ok(())
}
