//! Issue 6 on the synthetic furnished room: the scene graph built from a
//! fused TSDF (groundtruth poses) against the generator's exact objects.
//! Heavy: run with `cargo test --release --test scene_graph_synthetic`.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Instant;

use nalgebra::{Isometry3, Point3, Vector3};
use scenemap::mesh::Mesher;
use scenemap::scene_graph::geometry::box_iou;
use scenemap::scene_graph::map_query::SurfaceSamples;
use scenemap::scene_graph::segmentation::GroundTruthSegmenter;
use scenemap::scene_graph::{
    GraspCandidate, GravityAlignedBox, NodeId, Relation, SceneGraph, SceneGraphBuilder,
    SceneGraphConfig,
};
use scenemap::sensor::synthetic::{
    ObjectGroundtruth, SequenceConfig, SyntheticSequence, TrajectoryPreset,
};
use scenemap::tsdf::{TsdfConfig, TsdfIntegrator, TsdfVolume};

const SEED: u64 = 7;
const VOXEL_M: f32 = 0.02;
const FPS: f64 = 6.0;
const UPDATE_EVERY: usize = 10;
/// An object counts as visible in a frame with this many mask pixels.
const VISIBLE_PIXELS: usize = 400;

/// One fused run and what was recorded along the way.
struct Run {
    sequence: SyntheticSequence,
    /// Final graph with the groundtruth segmenter.
    graph: SceneGraph,
    /// Final graph without a segmenter.
    graph_unlabelled: SceneGraph,
    /// Per frame: groundtruth instance id → (mask pixels, matched node id).
    per_frame: Vec<BTreeMap<u32, (usize, Option<NodeId>)>>,
    /// The fused map.
    volume: TsdfVolume,
    /// Its final surface samples (mesh vertices).
    samples: SurfaceSamples,
}

/// Classes whose cylinders make the true box's yaw arbitrary.
fn is_cylinder(class: &str) -> bool {
    class == "mug" || class == "bottle"
}

fn true_box(g: &ObjectGroundtruth) -> GravityAlignedBox {
    let (_, _, yaw) = g.world_from_object.rotation.euler_angles();
    GravityAlignedBox {
        center_m: Point3::from(g.world_from_object.translation.vector),
        half_extents_m: g.dimensions_m / 2.0,
        yaw_rad: yaw,
    }
}

/// IoU with the true box; for cylinders the true box takes the estimate's
/// yaw (any square around a circle bounds it).
fn iou_with_truth(estimate: &GravityAlignedBox, g: &ObjectGroundtruth) -> f64 {
    let mut truth = true_box(g);
    if is_cylinder(&g.class) {
        truth.yaw_rad = estimate.yaw_rad;
    }
    box_iou(estimate, &truth)
}

/// Per-face error of an estimated box against the true box, m, positive
/// where the estimate sticks out: −x, +x, −y, +y in the true box's frame,
/// then bottom and top.
fn face_errors_m(estimate: &GravityAlignedBox, g: &ObjectGroundtruth) -> [f64; 6] {
    let truth = true_box(g);
    let (s, c) = estimate.yaw_rad.sin_cos();
    let (ts, tc) = truth.yaw_rad.sin_cos();
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for (a, b) in [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
        let u = a * estimate.half_extents_m.x;
        let v = b * estimate.half_extents_m.y;
        let x = estimate.center_m.x + c * u - s * v - truth.center_m.x;
        let y = estimate.center_m.y + s * u + c * v - truth.center_m.y;
        let local = [tc * x + ts * y, -ts * x + tc * y];
        for k in 0..2 {
            lo[k] = lo[k].min(local[k]);
            hi[k] = hi[k].max(local[k]);
        }
    }
    let h = truth.half_extents_m;
    [
        -lo[0] - h.x,
        hi[0] - h.x,
        -lo[1] - h.y,
        hi[1] - h.y,
        truth.center_m.z - h.z - estimate.bottom_z_m(),
        estimate.center_m.z + estimate.half_extents_m.z - truth.center_m.z - h.z,
    ]
}

/// The node whose box overlaps the true box most (IoU ≥ 0.25).
fn match_node(graph: &SceneGraph, g: &ObjectGroundtruth) -> Option<(NodeId, f64)> {
    graph
        .objects()
        .map(|o| (o.id, iou_with_truth(&o.bounding_box, g)))
        .filter(|(_, iou)| *iou >= 0.25)
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

fn run() -> Run {
    let config = SequenceConfig {
        fps: FPS,
        duration_s: 26.0,
        ..SequenceConfig::default()
    };
    let sequence = SyntheticSequence::furnished(SEED, TrajectoryPreset::Gentle, config).unwrap();
    let camera = *sequence.camera();
    let objects: Vec<ObjectGroundtruth> = sequence
        .objects()
        .into_iter()
        .filter(|o| !o.is_structure)
        .collect();
    let mut volume = TsdfVolume::new(TsdfConfig::for_voxel_size_m(VOXEL_M)).unwrap();
    let mut integrator = TsdfIntegrator::new();
    let mut mesher = Mesher::new();
    let mut labelled = SceneGraphBuilder::new(SceneGraphConfig::default()).unwrap();
    let mut unlabelled = SceneGraphBuilder::new(SceneGraphConfig::default()).unwrap();
    let segmenter = GroundTruthSegmenter::new(sequence.scene());
    let n = sequence.frame_count();
    let mut per_frame = Vec::with_capacity(n);
    let mut final_samples = SurfaceSamples::default();
    let (mut t_fuse, mut t_update, mut updates) = (0.0, 0.0, 0);
    for i in 0..n {
        let t0 = Instant::now();
        let rendered = sequence.render_frame(i).unwrap();
        let world_from_camera: Isometry3<f64> =
            sequence.world_from_camera_at(rendered.frame.timestamp);
        integrator
            .integrate(&mut volume, &rendered.frame, &camera, &world_from_camera)
            .unwrap();
        t_fuse += t0.elapsed().as_secs_f64();
        if i % UPDATE_EVERY == UPDATE_EVERY - 1 || i + 1 == n {
            mesher.update(&mut volume);
            let samples = SurfaceSamples::from_mesh(&mesher.mesh());
            final_samples = samples.clone();
            let t0 = Instant::now();
            labelled
                .update(&samples, &volume, rendered.frame.timestamp)
                .unwrap();
            t_update += t0.elapsed().as_secs_f64();
            updates += 1;
            unlabelled
                .update(&samples, &volume, rendered.frame.timestamp)
                .unwrap();
        }
        let segmentation = segmenter.segment_rendered(&rendered);
        labelled
            .observe_frame(
                &rendered.frame,
                &camera,
                &world_from_camera,
                Some(&segmentation),
            )
            .unwrap();
        unlabelled
            .observe_frame(&rendered.frame, &camera, &world_from_camera, None)
            .unwrap();
        let mut pixels: BTreeMap<u32, usize> = BTreeMap::new();
        for &id in &rendered.instance_mask {
            *pixels.entry(id).or_default() += 1;
        }
        per_frame.push(
            objects
                .iter()
                .map(|g| {
                    let px = pixels.get(&g.instance_id).copied().unwrap_or(0);
                    (
                        g.instance_id,
                        (px, match_node(labelled.graph(), g).map(|m| m.0)),
                    )
                })
                .collect(),
        );
    }
    eprintln!(
        "{n} frames: render+fuse {t_fuse:.1} s; {updates} updates, {:.0} ms each",
        1e3 * t_update / updates as f64
    );
    Run {
        sequence,
        graph: labelled.graph().clone(),
        graph_unlabelled: unlabelled.graph().clone(),
        per_frame,
        volume,
        samples: final_samples,
    }
}

fn fused() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(run)
}

fn movable_objects(run: &Run) -> Vec<ObjectGroundtruth> {
    run.sequence
        .objects()
        .into_iter()
        .filter(|o| !o.is_structure)
        .collect()
}

/// Found, right class, box IoU ≥ 0.7, persistent id, mass coverage.
#[test]
fn objects_found_labelled_boxed_and_weighed() {
    let run = fused();
    let objects = movable_objects(run);
    let mut mass_covered = 0;
    let mut failures = Vec::new();
    for g in &objects {
        let (id, iou) = match_node(&run.graph, g)
            .unwrap_or_else(|| panic!("{} {} not found", g.class, g.instance_id));
        let node = run.graph.object(id).unwrap();
        // Identity: frames where the object is visible, from the first
        // frame it was matched at all (before that it is not yet mapped).
        let visible: Vec<Option<NodeId>> = run
            .per_frame
            .iter()
            .filter_map(|f| f.get(&g.instance_id))
            .filter(|(px, _)| *px >= VISIBLE_PIXELS)
            .map(|(_, m)| *m)
            .skip_while(Option::is_none)
            .collect();
        let same = visible.iter().filter(|m| **m == Some(id)).count();
        // No visible frame after detection (found at the last look): n/a.
        let persistence = if visible.is_empty() {
            1.0
        } else {
            same as f64 / visible.len() as f64
        };
        let (lo, hi) = node.mass_kg.interval90();
        let covered = node.mass_kg.contains90(g.mass_kg);
        mass_covered += usize::from(covered);
        eprintln!(
            "{:>3} {:<7} iou {iou:.2} class {:<7} ({:.2}) id {:>3} in {same}/{} visible frames ({:.0} %) | volume {:.4} (true {:.4}) mass {:.2} kg in [{lo:.2}, {hi:.2}]: {covered}",
            g.instance_id,
            g.class,
            node.class_name,
            node.class_confidence,
            id.0,
            visible.len(),
            100.0 * persistence,
            node.volume_m3,
            g.volume_m3,
            g.mass_kg,
        );
        let e = face_errors_m(&node.bounding_box, g).map(|x| 100.0 * x);
        eprintln!(
            "    face errors cm (-x +x -y +y bottom top): {:+.1} {:+.1} {:+.1} {:+.1} {:+.1} {:+.1}",
            e[0], e[1], e[2], e[3], e[4], e[5]
        );
        // Labels come from frames that see the object after it exists.
        if node.class_name != g.class && node.observation_count > 0 {
            failures.push(format!(
                "{} {}: class {}",
                g.class, g.instance_id, node.class_name
            ));
        }
        // Boxes fitted to the TSDF mesh alone stick out past edges no view
        // sees face-on by up to the truncation band (8 cm here): chairs had
        // IoU 0.65-0.75 (back and both sides 5-8 cm too far out). The
        // builder clips boxes to the observed depth points
        // (src/scene_graph/builder/evidence.rs); every object, chairs
        // included, must reach 0.7.
        if iou < 0.7 {
            failures.push(format!("{} {}: IoU {iou:.2}", g.class, g.instance_id));
        }
        if persistence < 0.9 {
            failures.push(format!(
                "{} {}: same id in {:.0} % of visible frames",
                g.class,
                g.instance_id,
                100.0 * persistence
            ));
        }
    }
    // Exactly one object per groundtruth object: no leftover fragments
    // (chair legs, seat rims) and no two true objects on one node.
    let matched: std::collections::BTreeSet<NodeId> = objects
        .iter()
        .filter_map(|g| match_node(&run.graph, g).map(|m| m.0))
        .collect();
    eprintln!(
        "{} objects in the graph, {} groundtruth, {} distinct matches",
        run.graph.objects().count(),
        objects.len(),
        matched.len()
    );
    if run.graph.objects().count() != objects.len() || matched.len() != objects.len() {
        failures.push(format!(
            "{} objects, {} distinct matches for {} groundtruth objects",
            run.graph.objects().count(),
            matched.len(),
            objects.len()
        ));
    }
    let coverage = mass_covered as f64 / objects.len() as f64;
    eprintln!(
        "mass inside the 90 % interval: {mass_covered}/{} ({:.0} %)",
        objects.len(),
        100.0 * coverage
    );
    assert!(coverage >= 0.8);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Without semantics every object is still found, as `unknown` with the
/// broad prior.
#[test]
fn objects_found_without_a_segmenter() {
    let run = fused();
    let priors = scenemap::scene_graph::physics::MaterialPriors::embedded().unwrap();
    let unknown = priors.get("unknown");
    let broad = unknown
        .density_kg_m3
        .sigma_log
        .hypot(unknown.fill_fraction.sigma_log);
    for g in movable_objects(run) {
        let (id, iou) = match_node(&run.graph_unlabelled, &g)
            .unwrap_or_else(|| panic!("{} {} not found", g.class, g.instance_id));
        let node = run.graph_unlabelled.object(id).unwrap();
        assert_eq!(node.class_name, "unknown");
        assert!(node.mass_kg.sigma_log >= broad - 1e-9);
        assert_eq!(node.friction, unknown.friction);
        assert!(iou >= 0.5, "{} {}: IoU {iou:.2}", g.class, g.instance_id);
    }
}

/// On / inside relations against the generator's support graph.
#[test]
fn relations_match_the_support_graph() {
    let run = fused();
    let table = run.sequence.scene().first_of_class("table").unwrap();
    let table_top_m =
        table.groundtruth.world_from_object.translation.z + table.groundtruth.dimensions_m.z / 2.0;
    let floor = run
        .graph
        .surfaces()
        .find(|s| s.label == "floor")
        .expect("floor surface");
    assert!(floor.height_m.abs() < 0.02, "floor at {}", floor.height_m);
    let room = run.graph.rooms().next().expect("a room");
    for g in movable_objects(run) {
        let (id, _) = match_node(&run.graph, &g).unwrap();
        let node = run.graph.object(id).unwrap();
        let support = node
            .support
            .and_then(|s| run.graph.surfaces().find(|x| x.id == s));
        let support = support.unwrap_or_else(|| panic!("{} has no support", g.class));
        assert!(run.graph.related(id, Relation::On).any(|s| s == support.id));
        if g.support == Some(table.groundtruth.instance_id) {
            assert!(
                (support.height_m - table_top_m).abs() < 0.03,
                "{} on a surface at {:.2} m, table top at {table_top_m:.2}",
                g.class,
                support.height_m
            );
        } else if g.support == Some(scenemap::sensor::synthetic::FLOOR_ID) {
            assert_eq!(support.id, floor.id, "{} should be on the floor", g.class);
        }
        assert!(
            run.graph
                .related(id, Relation::Inside)
                .any(|r| r == room.id),
            "{} not inside the room",
            g.class
        );
    }
}

/// Slide and tip forces against F = μ m g and F = m g b / h of the true
/// boxes; the one-query API.
#[test]
fn push_forces_match_the_analytic_values() {
    use scenemap::scene_graph::physics::GRAVITY_M_S2;
    let run = fused();
    for g in movable_objects(run).iter().filter(|g| g.class == "box") {
        let (id, _) = match_node(&run.graph, g).unwrap();
        let node = run.graph.object(id).unwrap();
        // Push along the box's own x axis at 80 % of its height.
        let direction = g.world_from_object.rotation * Vector3::x();
        let h = 0.8 * g.dimensions_m.z;
        let push = node.push_force(&direction, h).unwrap();
        let slide_true = node.friction.median * g.mass_kg * GRAVITY_M_S2;
        // Uniform box: centre of mass at the centre, tipping edge dims.x / 2 away.
        let tip_true = g.mass_kg * GRAVITY_M_S2 * (g.dimensions_m.x / 2.0) / h;
        let (slo, shi) = push.slide_force_n.interval90();
        let (tlo, thi) = push.tip_force_n.interval90();
        eprintln!(
            "box {}: slide {slide_true:.2} N in [{slo:.2}, {shi:.2}], tip {tip_true:.2} N in [{tlo:.2}, {thi:.2}]",
            g.instance_id
        );
        assert!(push.slide_force_n.contains90(slide_true));
        assert!(push.tip_force_n.contains90(tip_true));
        // The lever arm itself, from the estimated box: within 2 voxels.
        let lever = node
            .bounding_box
            .tipping_lever_arm_m(&node.bounding_box.center_m, &direction)
            .unwrap();
        assert!(
            (lever - g.dimensions_m.x / 2.0).abs() < 2.0 * f64::from(VOXEL_M) + 0.02,
            "lever {lever:.3} vs {:.3}",
            g.dimensions_m.x / 2.0
        );
    }
    // "Where is the chair and how hard must I push it?"
    for chair in movable_objects(run).iter().filter(|g| g.class == "chair") {
        let c = chair.world_from_object.translation.vector;
        let from = Point3::new(c.x + 0.6, c.y, 0.5);
        let nearest_true = movable_objects(run)
            .into_iter()
            .filter(|g| g.class == "chair")
            .min_by(|a, b| {
                let da = (a.world_from_object.translation.vector - from.coords)
                    .xy()
                    .norm();
                let db = (b.world_from_object.translation.vector - from.coords)
                    .xy()
                    .norm();
                da.total_cmp(&db)
            })
            .unwrap();
        let (node, push) = run.graph.where_and_how_hard("chair", &from, 0.4).unwrap();
        let expected = match_node(&run.graph, &nearest_true).unwrap().0;
        assert_eq!(node.id, expected);
        let push = push.unwrap();
        let slide = node.friction.mul(&node.mass_kg).scale(GRAVITY_M_S2);
        assert!((push.slide_force_n.median - slide.median).abs() < 1e-9);
        assert!(push.required_force_n > 0.0 && push.required_force_n.is_finite());
    }
}

/// Asserts that both contacts of `grasp` lie inside the friction cone
/// (`cone_rad`) of the TRUE shape's normals; returns the grasp axis (a → b).
fn assert_antipodal_on_truth(
    g: &ObjectGroundtruth,
    grasp: &GraspCandidate,
    cone_rad: f64,
) -> Vector3<f64> {
    let axis = (grasp.contact_b_m - grasp.contact_a_m).normalize();
    let na = true_normal(g, &grasp.contact_a_m);
    let nb = true_normal(g, &grasp.contact_b_m);
    assert!(
        (-na).dot(&axis).acos() <= cone_rad,
        "{grasp:?}: a outside the cone"
    );
    assert!(
        nb.dot(&axis).acos() <= cone_rad,
        "{grasp:?}: b outside the cone"
    );
    axis
}

/// Outward unit normal of the true shape at a surface point (boxes:
/// nearest face; cylinders: radial on the side, ±z on the caps).
fn true_normal(g: &ObjectGroundtruth, p: &Point3<f64>) -> Vector3<f64> {
    let local = g.world_from_object.inverse_transform_point(p);
    let half = g.dimensions_m / 2.0;
    let n_local = if g.class == "box" {
        let k = (0..3)
            .max_by(|&a, &b| (local[a].abs() / half[a]).total_cmp(&(local[b].abs() / half[b])))
            .unwrap();
        let mut n = Vector3::zeros();
        n[k] = local[k].signum();
        n
    } else if local.z.abs() > half.z - 0.01 {
        Vector3::z() * local.z.signum()
    } else {
        Vector3::new(local.x, local.y, 0.0).normalize()
    };
    g.world_from_object.rotation * n_local
}

/// Every grasp on a box or cylinder is antipodal on the true shape and its
/// fingers are free in the true scene.
#[test]
fn grasps_are_antipodal_and_collision_free() {
    let run = fused();
    let gripper = scenemap::scene_graph::grasp::GripperConfig::default();
    let scene = run.sequence.scene();
    let cone = gripper.friction.atan() + 10f64.to_radians();
    let mut checked = 0;
    for g in movable_objects(run)
        .iter()
        .filter(|g| g.class == "box" || is_cylinder(&g.class))
    {
        let (id, _) = match_node(&run.graph, g).unwrap();
        let node = run.graph.object(id).unwrap();
        eprintln!(
            "{} {}: {} grasps",
            g.class,
            g.instance_id,
            node.grasps.len()
        );
        for grasp in &node.grasps {
            let axis = assert_antipodal_on_truth(g, grasp, cone);
            let radius = 0.5 * gripper.finger_thickness_m.min(gripper.finger_width_m);
            let offset = gripper.clearance_m + radius;
            for (contact, outward) in [(grasp.contact_a_m, -axis), (grasp.contact_b_m, axis)] {
                for k in 0..=8 {
                    let s = -gripper.finger_depth_m + 2.0 * gripper.finger_depth_m * k as f64 / 8.0;
                    let p = contact + outward * offset + grasp.approach * s;
                    assert!(!scene.is_occupied(&p), "finger collides at {p:?}");
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "no grasp to check");
}

/// The graph survives JSON.
#[test]
fn json_round_trip() {
    let run = fused();
    let text = run.graph.to_json().unwrap();
    let back = SceneGraph::from_json(&text, std::path::Path::new("<test>")).unwrap();
    // serde_json's default float parsing may round the last bit: compare
    // the structure exactly and the numbers to 1e-12 relative.
    assert_eq!(back.edges(), run.graph.edges());
    assert_eq!(back.objects().count(), run.graph.objects().count());
    for (a, b) in back.objects().zip(run.graph.objects()) {
        assert_eq!(
            (a.id, &a.class_name, a.grasps.len()),
            (b.id, &b.class_name, b.grasps.len())
        );
        assert_eq!(a.support, b.support);
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * x.abs().max(1.0);
        assert!(close(a.mass_kg.median, b.mass_kg.median));
        assert!((a.bounding_box.center_m - b.bounding_box.center_m).norm() < 1e-12);
        assert!(close(a.volume_m3, b.volume_m3));
    }
}

/// Issue 6, small objects: the bottle and the mug on the table each get a
/// grasp from the map, and every grasp on them is antipodal on the true
/// shape and leaves the gripper's fingers and palm (boxes, pre-grasp
/// opening) out of every true solid: other objects, the table, the floor,
/// the walls and the grasped object itself.
#[test]
fn small_objects_get_grasps_free_in_the_true_scene() {
    use scenemap::scene_graph::grasp::{
        antipodal_grasps_counted, GripperConfig, ObjectMapOccupancy, GRASP_MAP_UNCERTAINTY_VOX,
    };
    use scenemap::scene_graph::map_query::MapOccupancy;
    let run = fused();
    let gripper = GripperConfig::default();
    let scene = run.sequence.scene();
    let cone = gripper.friction.atan() + 10f64.to_radians();
    let mut failures = Vec::new();
    for g in movable_objects(run)
        .iter()
        .filter(|g| is_cylinder(&g.class))
    {
        let (id, _) = match_node(&run.graph, g).unwrap();
        let node = run.graph.object(id).unwrap();
        // Diagnostics: the planner on the map's samples inside the box.
        let (pts, nrm) = samples_in_box(&run.samples, &node.bounding_box);
        // Rejections: without obstacles, against the SDF alone, against
        // the SDF, the object's own samples and the map's uncertainty.
        let free = |_: &Point3<f64>, _: f64| true;
        let (_, unobstructed) = antipodal_grasps_counted(&pts, &nrm, &gripper, &free).unwrap();
        let (_, sdf_only) =
            antipodal_grasps_counted(&pts, &nrm, &gripper, &MapOccupancy(&run.volume)).unwrap();
        let planner = ObjectMapOccupancy::new(
            &run.volume,
            pts.iter().copied(),
            GRASP_MAP_UNCERTAINTY_VOX * f64::from(VOXEL_M),
        );
        let (_, counts) = antipodal_grasps_counted(&pts, &nrm, &gripper, &planner).unwrap();
        eprintln!(
            "{} {} ({:.1} cm wide): {} grasps in the graph; {} samples\n  no obstacles {unobstructed:?}\n  SDF only     {sdf_only:?}\n  planner      {counts:?}",
            g.class,
            g.instance_id,
            100.0 * g.dimensions_m.x,
            node.grasps.len(),
            pts.len(),
        );
        if node.grasps.is_empty() {
            failures.push(format!("{} has no grasp", g.class));
        }
        for grasp in &node.grasps {
            assert_antipodal_on_truth(g, grasp, cone);
            for (k, bx) in gripper
                .boxes(&grasp.contact_a_m, &grasp.contact_b_m, &grasp.approach)
                .iter()
                .enumerate()
            {
                // 2 mm grid over the box (every true solid is thicker).
                let (points, _) = bx.cell_centres(0.002);
                if let Some(hit) = points.iter().find(|p| scene.is_occupied(p)) {
                    failures.push(format!(
                        "{} {grasp:?}: gripper part {k} in a solid at {hit:?}",
                        g.class
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Surface samples inside an object's box (1 cm margin, above its support),
/// at most 200 like the builder's grasp planning.
fn samples_in_box(
    samples: &SurfaceSamples,
    b: &GravityAlignedBox,
) -> (Vec<Point3<f64>>, Vec<Vector3<f64>>) {
    let (s, c) = b.yaw_rad.sin_cos();
    let (mut pts, mut nrm) = (Vec::new(), Vec::new());
    for (p, n) in samples.points_m.iter().zip(&samples.normals) {
        let p = p.cast::<f64>();
        let d = p - b.center_m;
        let (u, v) = (c * d.x + s * d.y, -s * d.x + c * d.y);
        if u.abs() < b.half_extents_m.x + 0.01
            && v.abs() < b.half_extents_m.y + 0.01
            && p.z > b.bottom_z_m() + 0.01
            && p.z < b.center_m.z + b.half_extents_m.z + 0.01
        {
            pts.push(p);
            nrm.push(n.cast::<f64>());
        }
    }
    let stride = (pts.len() / 200).max(1);
    (
        pts.into_iter().step_by(stride).collect(),
        nrm.into_iter().step_by(stride).collect(),
    )
}
