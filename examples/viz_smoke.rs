//! Smoke test of the Rerun visualisation: a camera circles three boxes on a
//! floor; colour and depth images are ray-cast, each box is its own mesh
//! block that appears (and one later disappears) over time, and the boxes
//! are objects with physics labels and grasp arrows.
//!
//! ```text
//! cargo run --features rerun --example viz_smoke -- --rerun save=smoke.rrd --png smoke.png
//! cargo run --features rerun --example viz_smoke -- --rerun spawn
//! cargo run --features rerun --example viz_smoke -- --rerun connect=127.0.0.1:9876
//! ```
//!
//! Prints the logging cost per frame (camera + images, mesh blocks, scene
//! graph). The lead will replace the synthetic scene with the real pipeline.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use nalgebra::{Isometry3, Point3, Vector3};
use scenemap::scene_graph::physics::LogNormal;
use scenemap::scene_graph::{
    GraspCandidate, GravityAlignedBox, NodeId, ObjectNode, SceneGraph, SurfaceNode,
};
use scenemap::viz::{MeshBlock, ObjectViz, Visualizer, VizSink, VIZ_SINK_SYNTAX};
use scenemap::viz_png::{object_color, render_top_down_png, MeshSlices, TopDownBox};
use scenemap::{PinholeCamera, RgbdFrame, Timestamp};

#[derive(Parser, Debug)]
#[command(about = "Log a small synthetic scene to Rerun")]
struct Args {
    /// Where to send the log: spawn | connect | connect=ADDR | save=FILE.rrd
    #[arg(long, default_value = "save=viz_smoke.rrd")]
    rerun: String,
    /// Number of frames.
    #[arg(long, default_value_t = 60)]
    frames: u64,
    /// Also write a top-down PNG of the final scene here.
    #[arg(long)]
    png: Option<PathBuf>,
    /// Push height for the force labels, m.
    #[arg(long, default_value_t = 0.8)]
    push_height_m: f64,
}

/// A box object: its node and its triangle mesh.
struct SceneBox {
    node: ObjectNode,
    positions: Vec<[f32; 3]>,
    colors: Vec<[u8; 3]>,
    triangles: Vec<[u32; 3]>,
}

fn make_box(
    id: u64,
    class_name: &str,
    center: Point3<f64>,
    half: Vector3<f64>,
    yaw: f64,
) -> SceneBox {
    let bounding_box = GravityAlignedBox {
        center_m: center,
        half_extents_m: half,
        yaw_rad: yaw,
    };
    let world_from_box = bounding_box.world_from_box();
    let mut positions = Vec::new();
    for k in 0..8 {
        let s = |bit: u32| if k & (1 << bit) != 0 { 1.0 } else { -1.0 };
        let p = world_from_box * Point3::new(s(0) * half.x, s(1) * half.y, s(2) * half.z);
        positions.push([p.x as f32, p.y as f32, p.z as f32]);
    }
    // Faces of the cube with vertex index bits (x, y, z), outward winding.
    let triangles = vec![
        [0, 2, 1],
        [1, 2, 3],
        [4, 5, 6],
        [5, 7, 6], // z−, z+
        [0, 1, 4],
        [1, 5, 4],
        [2, 6, 3],
        [3, 6, 7], // y−, y+
        [0, 4, 2],
        [2, 4, 6],
        [1, 3, 5],
        [3, 7, 5], // x−, x+
    ];
    let color = object_color(id);
    let top = center + Vector3::new(0.0, 0.0, half.z);
    let (s, c) = yaw.sin_cos();
    let across = Vector3::new(c, s, 0.0) * half.x;
    SceneBox {
        node: ObjectNode {
            id: NodeId(id),
            class_name: class_name.to_owned(),
            class_confidence: 0.9,
            bounding_box,
            centroid_m: center,
            volume_m3: bounding_box.volume_m3(),
            mass_kg: LogNormal::from_interval90(
                bounding_box.volume_m3() * 40.0,
                bounding_box.volume_m3() * 120.0,
            )
            .unwrap_or(LogNormal::exact(1.0)),
            friction: LogNormal::from_interval90(0.3, 0.6).unwrap_or(LogNormal::exact(0.45)),
            support: Some(NodeId(1)),
            observation_count: 1,
            first_seen: Timestamp(0),
            last_seen: Timestamp(0),
            grasps: vec![GraspCandidate {
                contact_a_m: top - across,
                contact_b_m: top + across,
                approach: -Vector3::z(),
                width_m: 2.0 * half.x,
                score: 0.7,
            }],
        },
        positions,
        colors: vec![color; 8],
        triangles,
    }
}

/// The mesh of one box.
fn box_mesh(b: &SceneBox) -> MeshSlices<'_> {
    MeshSlices::new(&b.positions, &b.triangles).with_colors(&b.colors)
}

/// Pixels per ray-cast sample along each axis: the images are 640x480 (the
/// logging cost is what this example measures) but ray-casting every pixel
/// is slow in a debug build, so each 4x4 block shares one ray.
const RAY_STEP_PX: u32 = 4;

/// Ray-casts the floor (checkerboard) and the boxes into a colour and depth
/// image (depth along the optical axis).
fn render(
    camera: &PinholeCamera,
    world_from_camera: &Isometry3<f64>,
    boxes: &[&SceneBox],
    t: Timestamp,
) -> scenemap::Result<RgbdFrame> {
    let (w, h) = (camera.width, camera.height);
    let mut color = vec![[30u8, 30, 40]; (w * h) as usize];
    let mut depth_m = vec![0.0f32; (w * h) as usize];
    let origin = world_from_camera.translation.vector;
    let box_from_world: Vec<_> = boxes
        .iter()
        .map(|b| {
            let bb = &b.node.bounding_box;
            let box_from_world = bb.world_from_box().inverse();
            let o = box_from_world * Point3::from(origin);
            (box_from_world.rotation, o, bb.half_extents_m, b.colors[0])
        })
        .collect();
    for v0 in (0..h).step_by(RAY_STEP_PX as usize) {
        for u0 in (0..w).step_by(RAY_STEP_PX as usize) {
            let (u, v) = (
                f64::from(u0) + 0.5 * f64::from(RAY_STEP_PX),
                f64::from(v0) + 0.5 * f64::from(RAY_STEP_PX),
            );
            let ray_c = Vector3::new(
                (u - camera.cx) / camera.fx,
                (v - camera.cy) / camera.fy,
                1.0,
            );
            let dir = world_from_camera.rotation * ray_c;
            let mut best = f64::INFINITY;
            let mut rgb = [30u8, 30, 40];
            if dir.z < -1e-9 {
                let t_floor = -origin.z / dir.z;
                let p = origin + dir * t_floor;
                if p.x.abs() < 3.0 && p.y.abs() < 3.0 {
                    best = t_floor;
                    let checker = ((p.x * 2.0).floor() + (p.y * 2.0).floor()) as i64 % 2 == 0;
                    rgb = if checker {
                        [200, 200, 200]
                    } else {
                        [150, 150, 150]
                    };
                }
            }
            for (rotation, o, half, box_rgb) in &box_from_world {
                // Slab test in the box frame.
                let d = rotation * dir;
                let (mut t0, mut t1) = (0.0f64, f64::INFINITY);
                for k in 0..3 {
                    if d[k].abs() < 1e-12 {
                        if o[k].abs() > half[k] {
                            t0 = f64::INFINITY;
                        }
                        continue;
                    }
                    let (a, c) = ((-half[k] - o[k]) / d[k], (half[k] - o[k]) / d[k]);
                    t0 = t0.max(a.min(c));
                    t1 = t1.min(a.max(c));
                }
                if t0 <= t1 && t0 < best {
                    best = t0;
                    rgb = *box_rgb;
                }
            }
            if best.is_finite() {
                for v in v0..(v0 + RAY_STEP_PX).min(h) {
                    for u in u0..(u0 + RAY_STEP_PX).min(w) {
                        let k = (v * w + u) as usize;
                        color[k] = rgb;
                        depth_m[k] = best as f32; // ray_c has z = 1: t is the z depth
                    }
                }
            }
        }
    }
    RgbdFrame::new(t, w, h, color, depth_m)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let sink: VizSink = args
        .rerun
        .parse()
        .map_err(|e| format!("{e}\n--rerun takes {VIZ_SINK_SYNTAX}"))?;
    let mut viz = Visualizer::new(&sink)?;
    let camera = PinholeCamera::new(640, 480, 525.0, 525.0, 319.5, 239.5)?;

    let boxes = [
        make_box(
            2,
            "chair",
            Point3::new(0.6, 0.3, 0.45),
            Vector3::new(0.25, 0.25, 0.45),
            0.3,
        ),
        make_box(
            3,
            "box",
            Point3::new(-0.5, 0.4, 0.2),
            Vector3::new(0.2, 0.3, 0.2),
            -0.5,
        ),
        make_box(
            4,
            "table",
            Point3::new(0.0, -0.7, 0.37),
            Vector3::new(0.6, 0.4, 0.37),
            0.0,
        ),
    ];
    let floor_positions = [
        [-3.0f32, -3.0, 0.0],
        [3.0, -3.0, 0.0],
        [3.0, 3.0, 0.0],
        [-3.0, 3.0, 0.0],
    ];
    let floor_colors = [[170u8, 170, 170]; 4];
    let floor_triangles = [[0u32, 1, 2], [0, 2, 3]];
    let floor_mesh = MeshSlices::new(&floor_positions, &floor_triangles).with_colors(&floor_colors);
    let floor_key = [0, 0, -1];
    let box_key = |k: usize| [k as i32, 0, 0];
    let removed_box = 1usize; // "box" leaves the scene at 3/4 of the run
    let appear = |k: usize| k as u64 * 10;
    let leave = args.frames * 3 / 4;

    let (mut t_camera, mut t_render, mut t_mesh, mut t_graph) = (
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
    );
    let mut mesh_calls = 0u32;
    let start = Instant::now();
    for i in 0..args.frames {
        let timestamp = Timestamp::from_secs_f64(1_700_000_000.0 + i as f64 / 30.0);
        viz.begin_frame(i, timestamp);
        let a = i as f64 * std::f64::consts::TAU / 120.0;
        let eye = Point3::new(2.5 * a.cos(), 2.5 * a.sin(), 1.3);
        let world_from_camera =
            Isometry3::face_towards(&eye, &Point3::new(0.0, 0.0, 0.3), &-Vector3::z());
        let visible: Vec<&SceneBox> = boxes
            .iter()
            .enumerate()
            .filter(|(k, _)| i >= appear(*k) && !(*k == removed_box && i >= leave))
            .map(|(_, b)| b)
            .collect();
        let t0 = Instant::now();
        let frame = render(&camera, &world_from_camera, &visible, timestamp)?;
        t_render += t0.elapsed();

        let t0 = Instant::now();
        viz.log_camera(&camera, &world_from_camera, Some(&frame))?;
        t_camera += t0.elapsed();

        // Mesh: the floor at 0, each box when it appears, box 0 re-meshed
        // every 20 frames (as if refined), the removed box cleared.
        let mut changed: Vec<MeshBlock<'_>> = Vec::new();
        if i == 0 {
            changed.push(MeshBlock {
                key: floor_key,
                mesh: floor_mesh,
            });
        }
        for (k, b) in boxes.iter().enumerate() {
            if i == appear(k) || (k == 0 && i > 0 && i % 20 == 0) {
                changed.push(MeshBlock {
                    key: box_key(k),
                    mesh: box_mesh(b),
                });
            }
        }
        let removed = if i == leave {
            vec![box_key(removed_box)]
        } else {
            vec![]
        };
        if !changed.is_empty() || !removed.is_empty() {
            let t0 = Instant::now();
            viz.log_mesh_blocks(&changed, &removed)?;
            t_mesh += t0.elapsed();
            mesh_calls += 1;
        }

        let mut graph = SceneGraph::new();
        graph.upsert_surface(SurfaceNode {
            id: NodeId(1),
            label: "floor".into(),
            height_m: 0.0,
            bounding_box: GravityAlignedBox {
                center_m: Point3::origin(),
                half_extents_m: Vector3::new(3.0, 3.0, 0.0),
                yaw_rad: 0.0,
            },
        });
        for b in &visible {
            graph.upsert_object(b.node.clone());
        }
        let t0 = Instant::now();
        viz.log_scene_graph(&graph, args.push_height_m)?;
        t_graph += t0.elapsed();
    }
    let t0 = Instant::now();
    viz.flush()?;
    let t_flush = t0.elapsed();
    let total = start.elapsed();

    let n = args.frames.max(1) as f64;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("viz_smoke: {} frames of 640x480 to {sink}", args.frames);
    println!(
        "  camera pose + pinhole + colour + depth : {:7.2} ms/frame",
        ms(t_camera) / n
    );
    println!(
        "  mesh blocks                            : {:7.2} ms/call ({mesh_calls} calls)",
        ms(t_mesh) / f64::from(mesh_calls.max(1))
    );
    println!(
        "  scene graph (changed objects only)     : {:7.2} ms/frame",
        ms(t_graph) / n
    );
    println!(
        "  flush at the end                       : {:7.2} ms",
        ms(t_flush)
    );
    println!(
        "  synthetic rendering (not logging)      : {:7.2} ms/frame",
        ms(t_render) / n
    );
    println!(
        "  wall clock                             : {:7.2} s",
        total.as_secs_f64()
    );
    println!("  sent: {:?}", viz.stats());
    drop(viz);
    if let VizSink::Save(path) = &sink {
        let bytes = std::fs::metadata(path)?.len();
        println!(
            "  {}: {:.2} MB ({:.1} kB/frame)",
            path.display(),
            bytes as f64 / 1e6,
            bytes as f64 / 1e3 / n
        );
    }

    if let Some(png) = &args.png {
        let mut positions = floor_positions.to_vec();
        let mut colors = floor_colors.to_vec();
        let mut triangles = floor_triangles.to_vec();
        let mut outlines = Vec::new();
        for (k, b) in boxes.iter().enumerate() {
            if k == removed_box && args.frames > leave {
                continue;
            }
            let base = positions.len() as u32;
            positions.extend_from_slice(&b.positions);
            colors.extend_from_slice(&b.colors);
            triangles.extend(b.triangles.iter().map(|t| t.map(|i| i + base)));
            let object = ObjectViz::from_node(&b.node, args.push_height_m);
            println!("  object: {}", object.label);
            outlines.push(TopDownBox {
                bounding_box: object.bounding_box,
                color: [0, 0, 0],
            });
        }
        let mesh = MeshSlices::new(&positions, &triangles).with_colors(&colors);
        let top = render_top_down_png(png, &mesh, &outlines, 0.01)?;
        println!(
            "  top view: {} ({}x{} px at 1 cm/px)",
            png.display(),
            top.image.width(),
            top.image.height()
        );
    }
    Ok(())
}
