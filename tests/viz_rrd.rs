//! Rerun logging, tested for real: a short synthetic run is written to an
//! `.rrd` file and read back with the rerun SDK's own decoder (Python
//! `rerun-sdk==0.36.3`, `tests/viz/read_rrd.py`), then checked with
//! `rerun rrd verify`.
//!
//! Needs `--features rerun`. Without python + rerun-sdk the read-back test is
//! skipped with a message, except under `CI=true` where it fails.
//! `SCENEMAP_PYTHON` selects the interpreter (default `python3`).
//!
//! `viz/pipeline_run.rs` streams a short synthetic *pipeline* run through
//! `PipelineLogger` (the examples' `--rerun` code path) and checks it the
//! same way.
#![cfg(feature = "rerun")]

mod viz;

use std::collections::BTreeSet;
use std::path::PathBuf;

use nalgebra::{Isometry3, Point3, Vector3};
use scenemap::scene_graph::physics::{LogNormal, GRAVITY_M_S2};
use scenemap::scene_graph::{
    GraspCandidate, GravityAlignedBox, NodeId, ObjectNode, SceneGraph, SurfaceNode,
};
use scenemap::viz::{
    block_path, object_label, BlockKey, MeshBlock, Visualizer, VizOptions, VizSink, VizStats,
};
use scenemap::viz_png::MeshSlices;
use scenemap::{Error, PinholeCamera, RgbdFrame, Timestamp};
use viz::rrd::{assert_camera_every_frame, frames, read_rrd, rerun_python, rrd_verify};

const W: u32 = 160;
const H: u32 = 120;
const FRAMES: u64 = 10;
const PUSH_HEIGHT_M: f64 = 0.8;

const A: BlockKey = [0, 0, 0];
const B: BlockKey = [1, 0, 0];
const C: BlockKey = [-1, 2, 0];
const EMPTY: BlockKey = [5, 5, 5];
const NEVER: BlockKey = [9, 9, 9];

fn camera() -> PinholeCamera {
    PinholeCamera::new(W, H, 130.0, 130.0, 79.5, 59.5).unwrap()
}

/// Colour gradient and a tilted depth plane; pixel 0 is 20 m deep, beyond
/// the u16 range of the depth image (sent as invalid and counted).
fn frame(i: u64, timestamp: Timestamp) -> RgbdFrame {
    let n = (W * H) as usize;
    let color = (0..n)
        .map(|k| {
            [
                (k % 256) as u8,
                (i * 20) as u8,
                ((k / W as usize) * 2) as u8,
            ]
        })
        .collect();
    let mut depth_m: Vec<f32> = (0..n)
        .map(|k| 1.0 + 0.001 * (k % W as usize) as f32)
        .collect();
    depth_m[0] = 20.0;
    RgbdFrame::new(timestamp, W, H, color, depth_m).unwrap()
}

/// Camera on a circle of radius 1.5 m at 1.2 m height, looking at the origin.
fn world_from_camera(i: u64) -> Isometry3<f64> {
    let a = i as f64 * 0.3;
    let eye = Point3::new(1.5 * a.cos(), 1.5 * a.sin(), 1.2);
    // Camera z forward, y down: "up" of the observer is world −z.
    Isometry3::face_towards(&eye, &Point3::origin(), &-Vector3::z())
}

/// A quad (two triangles) in block `key`, coloured by `shade`.
struct Quad {
    positions: Vec<[f32; 3]>,
    colors: Vec<[u8; 3]>,
    triangles: Vec<[u32; 3]>,
}

fn quad(key: BlockKey, shade: u8) -> Quad {
    let o = key.map(|k| k as f32 * 0.5);
    Quad {
        positions: vec![
            [o[0], o[1], o[2]],
            [o[0] + 0.5, o[1], o[2]],
            [o[0] + 0.5, o[1] + 0.5, o[2]],
            [o[0], o[1] + 0.5, o[2]],
        ],
        colors: vec![[shade, 100, 100]; 4],
        triangles: vec![[0, 1, 2], [0, 2, 3]],
    }
}

fn block<'a>(key: BlockKey, q: &'a Quad) -> MeshBlock<'a> {
    MeshBlock {
        key,
        mesh: MeshSlices::new(&q.positions, &q.triangles).with_colors(&q.colors),
    }
}

fn chair(center_x_m: f64) -> ObjectNode {
    let center = Point3::new(center_x_m, 0.0, 0.45);
    ObjectNode {
        id: NodeId(3),
        class_name: "chair".into(),
        class_confidence: 0.9,
        bounding_box: GravityAlignedBox {
            center_m: center,
            half_extents_m: Vector3::new(0.25, 0.3, 0.45),
            yaw_rad: 0.4,
        },
        centroid_m: center,
        volume_m3: 0.02,
        mass_kg: LogNormal::from_interval90(4.9, 9.4).unwrap(),
        friction: LogNormal::exact(0.4),
        support: Some(NodeId(1)),
        observation_count: 5,
        first_seen: Timestamp(0),
        last_seen: Timestamp(0),
        grasps: vec![
            GraspCandidate {
                contact_a_m: center + Vector3::new(-0.25, 0.0, 0.4),
                contact_b_m: center + Vector3::new(0.25, 0.0, 0.4),
                approach: -Vector3::z(),
                width_m: 0.5,
                score: 0.8,
            },
            GraspCandidate {
                contact_a_m: center + Vector3::new(0.0, -0.3, 0.0),
                contact_b_m: center + Vector3::new(0.0, 0.3, 0.0),
                approach: Vector3::x(),
                width_m: 0.6,
                score: 0.3,
            },
        ],
    }
}

fn crate_box() -> ObjectNode {
    let mut node = chair(-1.0);
    node.id = NodeId(4);
    node.class_name = "box".into();
    node.grasps.clear();
    node
}

fn scene(chair_x_m: f64, with_box: bool) -> SceneGraph {
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
    graph.upsert_object(chair(chair_x_m));
    if with_box {
        graph.upsert_object(crate_box());
    }
    graph
}

/// Logs the 10-frame run to `sink`; returns the stats.
fn log_run(viz: &mut Visualizer) -> VizStats {
    let qa = quad(A, 10);
    let qa2 = quad(A, 200);
    let qb = quad(B, 50);
    let qc = quad(C, 90);
    let empty = MeshSlices::empty();
    for i in 0..FRAMES {
        let t = Timestamp::from_secs_f64(1_305_031_102.0 + 0.033 * i as f64);
        viz.begin_frame(i, t);
        viz.log_camera(&camera(), &world_from_camera(i), Some(&frame(i, t)))
            .unwrap();
        match i {
            0 => viz.log_mesh_blocks(&[block(A, &qa), block(B, &qb)], &[]),
            1 => viz.log_mesh_blocks(&[block(C, &qc)], &[]),
            2 => viz.log_mesh_blocks(
                &[MeshBlock {
                    key: EMPTY,
                    mesh: empty,
                }],
                &[],
            ),
            3 | 6 => viz.log_mesh_blocks(&[block(A, if i == 3 { &qa2 } else { &qa })], &[]),
            5 => viz.log_mesh_blocks(&[block(B, &qa2)], &[]),
            7 => viz.log_mesh_blocks(&[], &[C]),
            8 => viz.log_mesh_blocks(&[], &[NEVER]),
            _ => Ok(()),
        }
        .unwrap();
        if i >= 2 {
            let chair_x_m = if i >= 6 { 1.2 } else { 1.0 };
            viz.log_scene_graph(&scene(chair_x_m, i < 8), PUSH_HEIGHT_M)
                .unwrap();
        }
    }
    viz.flush().unwrap();
    viz.stats()
}

#[test]
fn a_short_run_round_trips_through_an_rrd_file() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("run.rrd");
    let mut viz = Visualizer::new(&VizSink::Save(path.clone())).unwrap();
    let stats = log_run(&mut viz);
    drop(viz);

    // What the visualiser says it sent: only changed blocks, never the mesh.
    assert_eq!(stats.camera_poses, FRAMES);
    assert_eq!(stats.images, FRAMES);
    assert_eq!(stats.depth_pixels_clipped, FRAMES);
    assert_eq!(stats.blocks_logged, 6); // A ×3, B ×2, C ×1
    assert_eq!(stats.blocks_cleared, 1); // C; never-logged blocks are not cleared
    assert_eq!(stats.objects_logged, 3); // chair at 2 and 6 (moved), box at 2
    assert_eq!(stats.objects_cleared, 1); // box at 8
    assert_eq!(stats.surfaces_logged, 1);

    let size = std::fs::metadata(&path).unwrap().len();
    eprintln!(
        "rrd: {size} bytes for {FRAMES} frames of {W}x{H} colour+depth, 6 block meshes, 3 boxes, arrows"
    );

    if rerun_python().is_none() {
        return;
    }
    let summary = read_rrd(&path);
    let entities: BTreeSet<String> = summary["entities"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let expected: BTreeSet<String> = [
        "/world".to_owned(),
        "/world/camera".to_owned(),
        "/world/camera/image".to_owned(),
        "/world/camera/image/rgb".to_owned(),
        "/world/camera/image/depth".to_owned(),
        "/world/trajectory/0".to_owned(),
        format!("/{}", block_path(A)),
        format!("/{}", block_path(B)),
        format!("/{}", block_path(C)),
        "/world/objects/3".to_owned(),
        "/world/objects/3/grasps".to_owned(),
        "/world/objects/4".to_owned(),
        "/world/surfaces/1".to_owned(),
    ]
    .into_iter()
    .collect();
    assert_eq!(entities, expected);

    let all: Vec<u64> = (0..FRAMES).collect();
    // The view is z-up, once and static.
    assert_eq!(summary["entities"]["/world"]["static_rows"], 1);
    // Camera: pose, images and trajectory every frame, intrinsics once.
    assert_camera_every_frame(&summary, FRAMES);
    assert_eq!(
        frames(&summary, "/world/camera", "Transform3D:quaternion"),
        all
    );
    assert_eq!(
        frames(&summary, "/world/trajectory/0", "LineStrips3D:strips"),
        all
    );

    // Mesh: each block only in the frames it changed; C cleared at 7.
    let mesh_frames = |key| {
        frames(
            &summary,
            &format!("/{}", block_path(key)),
            "Mesh3D:vertex_positions",
        )
    };
    assert_eq!(mesh_frames(A), vec![0, 3, 6]);
    assert_eq!(mesh_frames(B), vec![0, 5]);
    assert_eq!(mesh_frames(C), vec![1]);
    assert_eq!(
        summary["entities"][format!("/{}", block_path(A))]["rows"],
        3
    );
    assert_eq!(
        frames(
            &summary,
            &format!("/{}", block_path(C)),
            "Clear:is_recursive"
        ),
        vec![7]
    );

    // Objects: boxes when new or changed, with the physics label; arrows.
    assert_eq!(
        frames(&summary, "/world/objects/3", "Boxes3D:centers"),
        vec![2, 6]
    );
    assert_eq!(
        frames(&summary, "/world/objects/3", "Boxes3D:quaternions"),
        vec![2, 6]
    );
    assert_eq!(
        frames(&summary, "/world/objects/4", "Boxes3D:centers"),
        vec![2]
    );
    assert_eq!(
        frames(&summary, "/world/objects/4", "Clear:is_recursive"),
        vec![8]
    );
    let labels = &summary["entities"]["/world/objects/3"]["labels"];
    let label = object_label(&chair(1.0), PUSH_HEIGHT_M);
    assert_eq!(labels[0], label.as_str());
    assert_eq!(
        frames(&summary, "/world/objects/3/grasps", "Arrows3D:vectors"),
        vec![2, 6]
    );
    assert_eq!(
        frames(&summary, "/world/surfaces/1", "Boxes3D:centers"),
        vec![2]
    );
    assert_eq!(
        summary["entities"]["/world/surfaces/1"]["labels"][0],
        "floor #1 at 0.00 m"
    );

    // The rerun CLI (from the pip package) agrees the file is valid.
    rrd_verify(&path);
}

#[test]
fn object_label_shows_mass_interval_and_push_forces() {
    let node = chair(1.0);
    // m = √(4.9·9.4) = 6.79 kg; slide μ m g = 0.4·6.79·9.81 = 26.6 N;
    // tip m g b / h with b = 0.25 m (narrower half extent), h = 0.8 m: 20.8 N.
    let m = (4.9_f64 * 9.4).sqrt();
    assert!((0.4 * m * GRAVITY_M_S2 - 26.62).abs() < 0.01);
    assert!((m * GRAVITY_M_S2 * 0.25 / 0.8 - 20.80).abs() < 0.01);
    assert_eq!(
        object_label(&node, 0.8),
        "chair #3: 6.8 kg (4.9–9.4), slide 27 N, tip 21 N at 0.8 m"
    );
    let mut flat = node.clone();
    flat.bounding_box.half_extents_m = Vector3::new(0.0, 0.0, 0.0);
    flat.centroid_m = Point3::new(5.0, 5.0, 5.0); // outside its footprint
    assert!(object_label(&flat, 0.8).ends_with("push n/a"));
}

#[test]
fn sink_strings_parse_and_print() {
    assert_eq!("spawn".parse::<VizSink>().unwrap(), VizSink::Spawn);
    assert_eq!(
        "connect".parse::<VizSink>().unwrap(),
        VizSink::Connect(None)
    );
    let c: VizSink = "connect=10.0.0.2:9876".parse().unwrap();
    assert_eq!(c, VizSink::Connect(Some("10.0.0.2:9876".into())));
    assert_eq!(c.to_string(), "connect=10.0.0.2:9876");
    assert_eq!(
        VizSink::grpc_url(Some("10.0.0.2:9876")),
        "rerun+http://10.0.0.2:9876/proxy"
    );
    assert_eq!(
        VizSink::grpc_url(Some("rerun+http://h:1/proxy")),
        "rerun+http://h:1/proxy"
    );
    assert_eq!(VizSink::grpc_url(None), "rerun+http://127.0.0.1:9876/proxy");
    let s: VizSink = "save=out/run.rrd".parse().unwrap();
    assert_eq!(s, VizSink::Save("out/run.rrd".into()));
    assert_eq!(s.to_string().parse::<VizSink>().unwrap(), s);
    for bad in [
        "",
        "save",
        "save=",
        "save=run.txt",
        "connect=",
        "spawn=x",
        "viewer",
    ] {
        match bad.parse::<VizSink>() {
            Err(Error::Viz(msg)) => assert!(msg.contains("save=FILE.rrd"), "{msg}"),
            other => panic!("{bad:?} parsed as {other:?}"),
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    // A directory that does not exist.
    let sink = VizSink::Save(dir.path().join("missing/run.rrd"));
    assert!(matches!(Visualizer::new(&sink), Err(Error::Viz(_))));

    let mut viz = Visualizer::with_options(
        &VizSink::Save(dir.path().join("bad.rrd")),
        VizOptions::default(),
    )
    .unwrap();
    viz.begin_frame(0, Timestamp(0));
    // Frame size differs from the camera.
    let small = RgbdFrame::new(Timestamp(0), 2, 2, vec![[0; 3]; 4], vec![1.0; 4]).unwrap();
    assert!(matches!(
        viz.log_camera(&camera(), &Isometry3::identity(), Some(&small)),
        Err(Error::InvalidFrame { .. })
    ));
    // A triangle index out of range: nothing is sent for the whole call.
    let q = quad(A, 1);
    let bad = [[0u32, 1, 7]];
    let blocks = [
        block(B, &q),
        MeshBlock {
            key: A,
            mesh: MeshSlices::new(&q.positions, &bad),
        },
    ];
    assert!(matches!(
        viz.log_mesh_blocks(&blocks, &[]),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(viz.stats().blocks_logged, 0);
}
