//! Semantic scene graph with physics: objects, support surfaces, masses,
//! push forces and grasps.

mod builder;
mod cell_hash;
pub mod geometry;
mod graph;
pub mod grasp;
pub mod gravity;
mod groundtruth_segmenter;
pub mod label;
pub mod map_query;
pub mod physics;
pub mod planes;
pub mod segmentation;

pub use builder::{SceneGraphBuilder, SceneGraphConfig, SceneGraphUpdateStats};
pub use graph::{
    AgentNode, Edge, GraspCandidate, GravityAlignedBox, Layer, NodeId, ObjectNode, Relation,
    RoomNode, SceneGraph, SurfaceNode, SCENE_GRAPH_FORMAT_VERSION,
};
