//! TSDF benchmarks on real TUM fr1/desk frames (640×480, groundtruth poses):
//! steady-state integration at 5 / 2 / 1 cm, full meshing, incremental
//! meshing per frame, raycasting.
//!
//! `cargo bench --bench tsdf -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nalgebra::Isometry3;
use scenemap::geometry::pose_at;
use scenemap::io::read_tum_trajectory;
use scenemap::mesh::{mesh_volume, Mesher};
use scenemap::tsdf::{Raycaster, TsdfConfig, TsdfIntegrator, TsdfVolume};
use scenemap::{PinholeCamera, RgbdFrame, Timestamp};

fn sequence_dir() -> PathBuf {
    let root = std::env::var_os("SCENEMAP_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    root.join("tum/fr1_desk_9f")
}

fn list(dir: &Path, name: &str) -> Vec<(Timestamp, PathBuf)> {
    let text = std::fs::read_to_string(dir.join(name)).expect("list file");
    scenemap::io::text::data_lines(&text)
        .map(|line| {
            let t = Timestamp::parse_secs(line.fields[0]).expect("timestamp");
            (t, dir.join(line.fields[1]))
        })
        .collect()
}

/// The 9 frames with their groundtruth `world_from_camera`.
fn load_frames() -> Vec<(RgbdFrame, Isometry3<f64>)> {
    let dir = sequence_dir();
    let trajectory = read_tum_trajectory(dir.join("groundtruth.txt")).expect("groundtruth");
    let rgb = list(&dir, "rgb.txt");
    let depth = list(&dir, "depth.txt");
    rgb.iter()
        .zip(&depth)
        .map(|((t, rgb_path), (_, depth_path))| {
            let depth_image = image::open(depth_path).expect("depth png").into_luma16();
            let color_image = image::open(rgb_path).expect("rgb png").into_rgb8();
            let (w, h) = depth_image.dimensions();
            let depth_m = depth_image
                .pixels()
                .map(|p| f32::from(p.0[0]) / 5000.0)
                .collect();
            let color = color_image.pixels().map(|p| p.0).collect();
            let frame = RgbdFrame::new(*t, w, h, color, depth_m).expect("frame");
            let pose = pose_at(&trajectory, *t, 0.02).expect("groundtruth pose");
            (frame, pose)
        })
        .collect()
}

fn build_map(
    frames: &[(RgbdFrame, Isometry3<f64>)],
    camera: &PinholeCamera,
    voxel_m: f32,
) -> (TsdfVolume, TsdfIntegrator) {
    let mut volume = TsdfVolume::new(TsdfConfig::for_voxel_size_m(voxel_m)).expect("config");
    let mut integrator = TsdfIntegrator::new();
    for (frame, pose) in frames {
        integrator
            .integrate(&mut volume, frame, camera, pose)
            .expect("integrate");
    }
    (volume, integrator)
}

/// Process CPU time (all threads, user + system) from `/proc/self/stat`,
/// milliseconds; `None` off Linux. Unlike wall time it barely depends on
/// the machine's load, so the bench prints it next to criterion's numbers.
fn process_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are
    // fields 14 and 15 (1-based) in clock ticks (100 Hz on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10.0)
}

/// Runs `f` until 2 s of CPU time have been used and prints the CPU
/// milliseconds per call (divide by 2 for the wall time on 2 idle cores
/// with perfect scaling).
fn report_cpu(name: &str, mut f: impl FnMut()) {
    let Some(start) = process_cpu_ms() else {
        return;
    };
    let mut calls = 0_u32;
    let mut used = 0.0;
    while used < 2000.0 {
        f();
        calls += 1;
        used = process_cpu_ms().unwrap_or(f64::INFINITY) - start;
    }
    eprintln!(
        "cpu {name}: {:.2} ms CPU per call over {calls} calls",
        used / f64::from(calls)
    );
}

fn benches(c: &mut Criterion) {
    let frames = load_frames();
    let camera = PinholeCamera::tum_freiburg1();
    let (probe, probe_pose) = &frames[4];

    let mut group = c.benchmark_group("integrate_640x480");
    for voxel_cm in [5_u32, 2, 1] {
        let voxel_m = voxel_cm as f32 / 100.0;
        let (mut volume, mut integrator) = build_map(&frames, &camera, voxel_m);
        let stats = integrator
            .integrate(&mut volume, probe, &camera, probe_pose)
            .expect("integrate");
        eprintln!(
            "{voxel_cm} cm: {} blocks, {:.3} B/voxel payload {}, per frame: {stats:?}",
            volume.block_count(),
            volume.memory_bytes_per_voxel(),
            volume.bytes_per_voxel()
        );
        report_cpu(&format!("integrate {voxel_cm}cm"), || {
            black_box(integrator.integrate(&mut volume, probe, &camera, probe_pose)).ok();
        });
        group.bench_function(BenchmarkId::from_parameter(format!("{voxel_cm}cm")), |b| {
            b.iter(|| integrator.integrate(&mut volume, black_box(probe), &camera, probe_pose))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("mesh_full");
    group.sample_size(10);
    for voxel_cm in [5_u32, 2, 1] {
        let (volume, _) = build_map(&frames, &camera, voxel_cm as f32 / 100.0);
        let mesh = mesh_volume(&volume);
        eprintln!(
            "{voxel_cm} cm mesh: {} vertices, {} triangles",
            mesh.vertex_count(),
            mesh.triangle_count()
        );
        group.bench_function(BenchmarkId::from_parameter(format!("{voxel_cm}cm")), |b| {
            b.iter(|| mesh_volume(black_box(&volume)))
        });
    }
    group.finish();

    // Running reconstruction at 2 cm: integrate the next frame (not timed),
    // then time the incremental mesher update (and, separately, assembly).
    let mut group = c.benchmark_group("mesh_incremental_2cm");
    {
        let (mut volume, mut integrator) = build_map(&frames, &camera, 0.02);
        let mut mesher = Mesher::new();
        mesher.update(&mut volume);
        let mut k = 0;
        {
            // CPU of the mesher only: integration CPU measured separately.
            let mut mesh_cpu = 0.0;
            let mut calls = 0;
            while mesh_cpu < 2000.0 && process_cpu_ms().is_some() {
                let (frame, pose) = &frames[k % frames.len()];
                k += 1;
                integrator
                    .integrate(&mut volume, frame, &camera, pose)
                    .expect("integrate");
                let before = process_cpu_ms().unwrap_or(0.0);
                black_box(mesher.update(&mut volume));
                mesh_cpu += process_cpu_ms().unwrap_or(0.0) - before;
                calls += 1;
            }
            if calls > 0 {
                eprintln!(
                    "cpu mesh incremental 2cm: {:.2} ms CPU per update over {calls} updates",
                    mesh_cpu / f64::from(calls)
                );
            }
        }
        group.bench_function("update_per_frame", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (frame, pose) = &frames[k % frames.len()];
                    k += 1;
                    integrator
                        .integrate(&mut volume, frame, &camera, pose)
                        .expect("integrate");
                    let start = Instant::now();
                    black_box(mesher.update(&mut volume));
                    total += start.elapsed();
                }
                total
            })
        });
        group.bench_function("assemble_full_mesh", |b| b.iter(|| mesher.mesh()));
    }
    group.finish();

    let mut group = c.benchmark_group("raycast_640x480");
    group.sample_size(20);
    {
        let (volume, _) = build_map(&frames, &camera, 0.02);
        let mut raycaster = Raycaster::new();
        let image = raycaster
            .render(&volume, &camera, probe_pose)
            .expect("raycast");
        eprintln!(
            "raycast 2 cm: {} of {} pixels hit",
            image.hit_count(),
            image.depth_m.len()
        );
        report_cpu("raycast 640x480 2cm", || {
            black_box(raycaster.render(&volume, &camera, probe_pose)).ok();
        });
        group.bench_function("2cm", |b| {
            b.iter(|| raycaster.render(black_box(&volume), &camera, probe_pose))
        });
        group.finish();
        // The tracker's model view: pyramid level 1 (320×240).
        let mut group = c.benchmark_group("raycast_320x240");
        group.sample_size(20);
        let camera_l1 = camera.scaled_to_level(1);
        let mut raycaster_l1 = Raycaster::new();
        let image = raycaster_l1
            .render(&volume, &camera_l1, probe_pose)
            .expect("raycast");
        eprintln!(
            "raycast 2 cm 320x240: {} of {} pixels hit",
            image.hit_count(),
            image.depth_m.len()
        );
        report_cpu("raycast 320x240 2cm", || {
            black_box(raycaster_l1.render(&volume, &camera_l1, probe_pose)).ok();
        });
        // Reference: no range image, no empty-space skipping.
        let mut brute_l1 = Raycaster::new().with_empty_space_skipping(false);
        report_cpu("raycast 320x240 2cm brute force", || {
            black_box(brute_l1.render(&volume, &camera_l1, probe_pose)).ok();
        });
        group.bench_function("2cm", |b| {
            b.iter(|| raycaster_l1.render(black_box(&volume), &camera_l1, probe_pose))
        });
        // The tracker's case: rays start near a depth hint (here the view's
        // own depth; in the pipeline the last frame's depth warped to it).
        let hint = image.depth_m.clone();
        report_cpu("raycast 320x240 2cm depth hint", || {
            black_box(raycaster_l1.render_with_hint(&volume, &camera_l1, probe_pose, &hint)).ok();
        });
        group.bench_function("2cm_hinted", |b| {
            b.iter(|| {
                raycaster_l1.render_with_hint(black_box(&volume), &camera_l1, probe_pose, &hint)
            })
        });
        group.finish();
    }
}

criterion_group!(tsdf, benches);
criterion_main!(tsdf);
