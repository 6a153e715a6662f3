//! Relations between objects (`next to`) and with rooms (`inside`).

use nalgebra::Point3;

use crate::scene_graph::geometry::{footprint, gravity_aligned_box, VerticalPlane};
use crate::scene_graph::{Edge, GravityAlignedBox, NodeId, ObjectNode, Relation, RoomNode};

use super::discovery::inside_footprint;
use super::SceneGraphBuilder;

impl SceneGraphBuilder {
    /// Rebuilds `next to` and `inside` edges.
    pub(super) fn update_relations(
        &mut self,
        walls: &[VerticalPlane],
        floor_z: f64,
        ceiling_z: f64,
    ) {
        let objects: Vec<ObjectNode> = self.graph.objects().cloned().collect();
        for o in &objects {
            self.graph.clear_edges_from(o.id, Relation::NextTo);
            self.graph.clear_edges_from(o.id, Relation::Inside);
        }
        for (i, a) in objects.iter().enumerate() {
            for b in &objects[i + 1..] {
                if a.support == b.support
                    && horizontal_gap(&a.bounding_box, &b.bounding_box)
                        < self.config.next_to_distance_m
                {
                    self.graph.add_edge(Edge {
                        source: a.id,
                        target: b.id,
                        relation: Relation::NextTo,
                    });
                    self.graph.add_edge(Edge {
                        source: b.id,
                        target: a.id,
                        relation: Relation::NextTo,
                    });
                }
            }
        }
        // A room when walls bound the space on at least two sides.
        let old_rooms: Vec<NodeId> = self.graph.rooms().map(|r| r.id).collect();
        if walls.len() < 2 {
            for id in old_rooms {
                self.graph.remove(id);
            }
            return;
        }
        let corners: Vec<Point3<f32>> = self
            .graph
            .surfaces()
            .filter(|s| s.label == "floor")
            .flat_map(|s| footprint(&s.bounding_box))
            .map(|p| Point3::new(p.x as f32, p.y as f32, floor_z as f32))
            .collect();
        let mut room_box = gravity_aligned_box(corners);
        let top = if ceiling_z.is_finite() {
            ceiling_z
        } else {
            floor_z + 2.5
        };
        room_box.center_m.z = 0.5 * (floor_z + top);
        room_box.half_extents_m.z = 0.5 * (top - floor_z);
        let id = old_rooms
            .first()
            .copied()
            .unwrap_or_else(|| self.graph.allocate_id());
        self.graph.upsert_room(RoomNode {
            id,
            label: "room 0".into(),
            bounding_box: room_box,
        });
        for o in &objects {
            if inside_footprint(
                &room_box,
                &Point3::new(o.centroid_m.x as f32, o.centroid_m.y as f32, 0.0),
            ) {
                self.graph.add_edge(Edge {
                    source: o.id,
                    target: id,
                    relation: Relation::Inside,
                });
            }
        }
    }
}

/// Horizontal gap between two boxes' axis-aligned hulls (0 when touching).
fn horizontal_gap(a: &GravityAlignedBox, b: &GravityAlignedBox) -> f64 {
    let r = |x: &GravityAlignedBox| x.half_extents_m.x.hypot(x.half_extents_m.y);
    let d = ((a.center_m.x - b.center_m.x).powi(2) + (a.center_m.y - b.center_m.y).powi(2)).sqrt();
    (d - r(a) - r(b)).max(0.0)
}
