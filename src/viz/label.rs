//! What the viewer shows next to objects, surfaces and grasps: the plain
//! per-item inputs of the visualiser ([`ObjectViz`], [`SurfaceViz`]) and the
//! one-line labels built from scene-graph nodes.

pub use crate::scene_graph::label::{format_2sig, object_label};
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

/// Label of one grasp arrow: `"grasp 0.87, 6.0 cm"` (score and opening).
pub fn grasp_label(grasp: &GraspCandidate) -> String {
    format!("grasp {:.2}, {:.1} cm", grasp.score, grasp.width_m * 100.0)
}
