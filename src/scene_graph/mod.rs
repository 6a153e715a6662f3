//! Semantic scene graph with physics: objects, support surfaces, masses,
//! push forces and grasps.

pub mod physics;
