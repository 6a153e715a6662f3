//! Long-run memory check: does the map stay bounded when the camera keeps
//! circling a room it has already mapped?
//!
//! ```text
//! cargo run --release --example longrun [-- --frames 10000 --width 160 --height 120]
//! ```
//!
//! Renders the synthetic furnished room along the gentle orbit (≈ 26 s per
//! lap, so 10 000 frames at 30 Hz are ≈ 13 laps) with Kinect-like depth
//! noise, integrates every frame at its groundtruth pose into a 5 cm TSDF
//! and meshes incrementally. Every `--report-every` frames it prints the
//! resident set size (`VmRSS` of `/proc/self/status`), the map's blocks and
//! the mesh size. Exits non-zero if, from `--check-from` to the end, RSS or
//! the block count grew by more than `--max-growth` (relative): once the
//! room is covered, revisiting it must not allocate.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use scenemap::mesh::Mesher;
use scenemap::sensor::synthetic::{
    DepthNoise, RenderOptions, Renderer, SyntheticScene, Trajectory,
};
use scenemap::sensor::Timestamp;
use scenemap::tsdf::{TsdfConfig, TsdfIntegrator, TsdfVolume};
use scenemap::PinholeCamera;

/// Long-run bounded-memory check on a synthetic room.
#[derive(Parser, Debug)]
struct Args {
    /// Frames at 30 Hz.
    #[arg(long, default_value_t = 10_000)]
    frames: usize,
    /// Camera width in pixels (focal length scales with it: 65° HFOV).
    #[arg(long, default_value_t = 160)]
    width: u32,
    /// Camera height in pixels.
    #[arg(long, default_value_t = 120)]
    height: u32,
    /// Voxel size, m.
    #[arg(long, default_value_t = 0.05)]
    voxel_size_m: f32,
    /// Scene, trajectory and noise seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Print a table row every this many frames.
    #[arg(long, default_value_t = 1000)]
    report_every: usize,
    /// First frame of the plateau check (the room is covered by then).
    #[arg(long, default_value_t = 2000)]
    check_from: usize,
    /// Largest accepted relative growth of RSS and blocks after `check_from`.
    #[arg(long, default_value_t = 0.05)]
    max_growth: f64,
    /// Render without depth noise.
    #[arg(long)]
    no_noise: bool,
}

/// Resident set size in bytes (`VmRSS` in `/proc/self/status`), or 0 where
/// it is unavailable (not Linux).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// One table row.
#[derive(Clone, Copy, Debug)]
struct Sample {
    frame: usize,
    rss_bytes: u64,
    blocks: usize,
    map_bytes: usize,
    mesh_vertices: usize,
    mesh_triangles: usize,
    ms_per_frame: f64,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn row(s: &Sample) -> String {
    format!(
        "| {:>6} | {:>8.1} | {:>6} | {:>7.2} | {:>8} | {:>9} | {:>6.1} |",
        s.frame,
        mib(s.rss_bytes),
        s.blocks,
        mib(s.map_bytes as u64),
        s.mesh_vertices,
        s.mesh_triangles,
        s.ms_per_frame
    )
}

fn main() -> scenemap::Result<ExitCode> {
    let args = Args::parse();
    if args.check_from >= args.frames || args.report_every == 0 {
        return Err(scenemap::Error::InvalidArgument(format!(
            "need report_every > 0 and check_from ({}) < frames ({})",
            args.check_from, args.frames
        )));
    }
    let fps = 30.0;
    let scene = SyntheticScene::furnished_room(args.seed);
    let trajectory = Trajectory::gentle(&scene, args.seed);
    // 65° horizontal field of view at any resolution.
    let focal = f64::from(args.width) / (2.0 * (65.0_f64.to_radians() / 2.0).tan());
    let camera = PinholeCamera::new(
        args.width,
        args.height,
        focal,
        focal,
        (f64::from(args.width) - 1.0) / 2.0,
        (f64::from(args.height) - 1.0) / 2.0,
    )?;
    let renderer = Renderer::new(camera);
    let noise = if args.no_noise {
        DepthNoise::default()
    } else {
        DepthNoise::kinect(args.seed)
    };
    let mut volume = TsdfVolume::new(TsdfConfig::for_voxel_size_m(args.voxel_size_m))?;
    let mut integrator = TsdfIntegrator::new();
    let mut mesher = Mesher::new();

    println!(
        "longrun: {} frames, {}x{} camera, {} cm voxels, seed {}, noise {}",
        args.frames,
        args.width,
        args.height,
        args.voxel_size_m * 100.0,
        args.seed,
        if args.no_noise { "off" } else { "kinect" }
    );
    let header = "|  frame |  RSS MiB | blocks | map MiB | vertices | triangles | ms/fr |\n\
                  |-------:|---------:|-------:|--------:|---------:|----------:|------:|";
    println!("{header}");
    let mut samples = vec![Sample {
        frame: 0,
        rss_bytes: rss_bytes(),
        blocks: 0,
        map_bytes: 0,
        mesh_vertices: 0,
        mesh_triangles: 0,
        ms_per_frame: 0.0,
    }];
    println!("{}", row(&samples[0]));

    let bar = ProgressBar::new(args.frames as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} frames [{elapsed} < {eta}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let mut window = Instant::now();
    let mut check_start: Option<Sample> = None;
    for i in 0..args.frames {
        let t_s = i as f64 / fps;
        let world_from_camera = trajectory.pose(t_s);
        let options = RenderOptions {
            timestamp: Timestamp::from_secs_f64(t_s),
            noise,
            frame_index: i as u64,
            blackout: false,
        };
        let rendered = renderer.render(&scene, &world_from_camera, &options);
        integrator.integrate(&mut volume, &rendered.frame, &camera, &world_from_camera)?;
        mesher.update(&mut volume);
        bar.inc(1);
        let frame = i + 1;
        let is_last = frame == args.frames;
        if frame % args.report_every == 0 || frame == args.check_from || is_last {
            // RSS first: the assembled mesh below is a temporary copy.
            let rss = rss_bytes();
            let mesh = mesher.mesh();
            let sample = Sample {
                frame,
                rss_bytes: rss,
                blocks: volume.block_count(),
                map_bytes: volume.memory_bytes(),
                mesh_vertices: mesh.vertex_count(),
                mesh_triangles: mesh.triangle_count(),
                ms_per_frame: window.elapsed().as_secs_f64() * 1e3
                    / (frame - samples[samples.len() - 1].frame) as f64,
            };
            drop(mesh);
            if frame == args.check_from {
                check_start = Some(sample);
            }
            if frame % args.report_every == 0 || is_last {
                window = Instant::now();
                // A hidden bar (output not a terminal) swallows `println`.
                if bar.is_hidden() {
                    println!("{}", row(&sample));
                } else {
                    bar.println(row(&sample));
                }
                samples.push(sample);
            }
            bar.set_message(format!("{} blocks", sample.blocks));
        }
    }
    bar.finish_and_clear();
    let total_s = start.elapsed().as_secs_f64();
    let end = samples[samples.len() - 1];
    let Some(from) = check_start else {
        return Err(scenemap::Error::InvalidArgument(
            "check_from was never reached".into(),
        ));
    };
    let growth = |a: f64, b: f64| if a > 0.0 { (b - a) / a } else { 0.0 };
    let rss_growth = growth(from.rss_bytes as f64, end.rss_bytes as f64);
    let block_growth = growth(from.blocks as f64, end.blocks as f64);
    let peak_rss = samples.iter().map(|s| s.rss_bytes).max().unwrap_or(0);
    println!(
        "\n{} frames in {total_s:.1} s ({:.1} ms/frame); peak RSS {:.1} MiB",
        args.frames,
        total_s * 1e3 / args.frames as f64,
        mib(peak_rss)
    );
    println!(
        "frames {}..{}: RSS {:.1} -> {:.1} MiB ({:+.2} %), blocks {} -> {} ({:+.2} %), limit {:.1} %",
        from.frame,
        end.frame,
        mib(from.rss_bytes),
        mib(end.rss_bytes),
        rss_growth * 100.0,
        from.blocks,
        end.blocks,
        block_growth * 100.0,
        args.max_growth * 100.0
    );
    if rss_growth > args.max_growth || block_growth > args.max_growth {
        println!("FAIL: memory keeps growing after the room is covered");
        return Ok(ExitCode::FAILURE);
    }
    println!("OK: memory is bounded");
    Ok(ExitCode::SUCCESS)
}
