//! What the viewer shows next to objects, surfaces and grasps: the plain
//! per-item inputs of the visualiser ([`ObjectViz`], [`SurfaceViz`]) and the
//! one-line labels built from scene-graph nodes.

use nalgebra::Vector3;

use crate::scene_graph::{GraspCandidate, GravityAlignedBox, ObjectNode, SurfaceNode};
use crate::viz_png::object_color;

/// An object to draw as a labelled box, with its grasps as arrows.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectViz {
    /// Stable id (entity `world/objects/<id>`).
    pub id: u64,
    /// The box.
    pub bounding_box: GravityAlignedBox,
    /// Text next to the box.
    pub label: String,
    /// Box colour.
    pub color: [u8; 3],
    /// Grasp candidates (arrows under `world/objects/<id>/grasps`).
    pub grasps: Vec<GraspCandidate>,
}

impl ObjectViz {
    /// From a scene-graph object: label from [`object_label`], colour from
    /// [`object_color`] of the id.
    pub fn from_node(node: &ObjectNode, push_height_m: f64) -> Self {
        Self {
            id: node.id.0,
            bounding_box: node.bounding_box,
            label: object_label(node, push_height_m),
            color: object_color(node.id.0),
            grasps: node.grasps.clone(),
        }
    }
}

/// A support surface to draw as a flat translucent box.
#[derive(Clone, Debug, PartialEq)]
pub struct SurfaceViz {
    /// Stable id (entity `world/surfaces/<id>`).
    pub id: u64,
    /// Extent (drawn at least [`MIN_SURFACE_HALF_THICKNESS_M`] thick).
    pub bounding_box: GravityAlignedBox,
    /// Text next to the surface.
    pub label: String,
}

/// Half thickness given to a surface patch whose box is flat, m.
pub const MIN_SURFACE_HALF_THICKNESS_M: f64 = 0.005;

impl SurfaceViz {
    /// From a scene-graph surface: label `"table top #7 at 0.74 m"`.
    pub fn from_node(node: &SurfaceNode) -> Self {
        Self {
            id: node.id.0,
            bounding_box: node.bounding_box,
            label: format!("{} #{} at {:.2} m", node.label, node.id.0, node.height_m),
        }
    }
}

/// Formats a positive quantity with about two significant digits, the
/// precision the physics priors support: `6.8`, `27`, `0.42`.
pub fn format_2sig(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        format!("{x}")
    } else if a >= 10.0 {
        format!("{x:.0}")
    } else if a >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// The one-line label of an object:
/// `"chair #3: 6.8 kg (4.9–9.4), slide 27 N, tip 41 N at 0.8 m"` —
/// median mass with its 90 % interval, median force to slide it and median
/// force to tip it when pushed horizontally at `push_height_m` above its
/// support. The tip force is for the easiest direction: along the box's
/// narrower horizontal axis (shortest lever arm). Without a valid push
/// analysis (e.g. a degenerate box) the forces read `push n/a`.
pub fn object_label(node: &ObjectNode, push_height_m: f64) -> String {
    let (low, high) = node.mass_kg.interval90();
    let mass = format!(
        "{} kg ({}–{})",
        format_2sig(node.mass_kg.median),
        format_2sig(low),
        format_2sig(high)
    );
    let b = &node.bounding_box;
    let (s, c) = b.yaw_rad.sin_cos();
    let direction = if b.half_extents_m.x <= b.half_extents_m.y {
        Vector3::new(c, s, 0.0)
    } else {
        Vector3::new(-s, c, 0.0)
    };
    let push = match node.push_force(&direction, push_height_m) {
        Ok(p) => format!(
            "slide {} N, tip {} N at {} m",
            format_2sig(p.slide_force_n.median),
            format_2sig(p.tip_force_n.median),
            // Heights are set by the caller: show them to the cm, no padding.
            (push_height_m * 100.0).round() / 100.0
        ),
        Err(_) => "push n/a".to_owned(),
    };
    format!("{} #{}: {mass}, {push}", node.class_name, node.id.0)
}

/// Label of one grasp arrow: `"grasp 0.87, 6.0 cm"` (score and opening).
pub fn grasp_label(grasp: &GraspCandidate) -> String {
    format!("grasp {:.2}, {:.1} cm", grasp.score, grasp.width_m * 100.0)
}
