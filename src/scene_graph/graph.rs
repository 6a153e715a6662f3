//! The layered scene graph: nodes keyed by [`NodeId`], typed edges, versioned
//! JSON (after Spark-DSG / Hydra).

use std::collections::BTreeMap;
use std::path::Path;

use nalgebra::{Isometry3, Point3, Vector3};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::scene_graph::physics::{push_estimate, LogNormal, PushEstimate};
use crate::sensor::Timestamp;

/// JSON format version written by [`SceneGraph::to_json`].
pub const SCENE_GRAPH_FORMAT_VERSION: u32 = 1;

/// Identity of a node, stable over the whole session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u64);

impl std::fmt::Display for NodeId {
    /// The number, as in the labels ("chair #3").
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The layer a node lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// Dense map (mesh/TSDF) chunks.
    Map,
    /// Objects.
    Object,
    /// Support surfaces (floor, table tops, shelf boards).
    Surface,
    /// Places and rooms.
    Room,
    /// The agent's keyframe poses.
    Agent,
}

/// A gravity-aligned oriented bounding box: rotated about world z only.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GravityAlignedBox {
    /// Box centre in the world frame, m.
    pub center_m: Point3<f64>,
    /// Half extents along the box's own x, y (after yaw) and world z, m.
    pub half_extents_m: Vector3<f64>,
    /// Rotation about world z, radians.
    pub yaw_rad: f64,
}

impl GravityAlignedBox {
    /// Box volume, m³.
    pub fn volume_m3(&self) -> f64 {
        8.0 * self.half_extents_m.x * self.half_extents_m.y * self.half_extents_m.z
    }

    /// `world_from_box`: box frame at the centre, x/y along the box edges.
    pub fn world_from_box(&self) -> Isometry3<f64> {
        Isometry3::new(self.center_m.coords, Vector3::z() * self.yaw_rad)
    }

    /// Height of the bottom face above z = 0 of the world, m.
    pub fn bottom_z_m(&self) -> f64 {
        self.center_m.z - self.half_extents_m.z
    }

    /// Horizontal distance from `center_of_mass` to the edge the box tips
    /// about when pushed horizontally along `direction` (world frame; only
    /// its horizontal part is used): the support polygon is the box
    /// footprint, and the tipping edge is where the push direction leaves it.
    pub fn tipping_lever_arm_m(
        &self,
        center_of_mass: &Point3<f64>,
        direction: &Vector3<f64>,
    ) -> Option<f64> {
        let horizontal = Vector3::new(direction.x, direction.y, 0.0);
        let norm = horizontal.norm();
        // A degenerate footprint supports nothing: no tipping edge.
        if norm < 1e-9 || self.half_extents_m.x <= 0.0 || self.half_extents_m.y <= 0.0 {
            return None;
        }
        let d = horizontal / norm;
        // Work in the box frame: the footprint is [-hx, hx] × [-hy, hy].
        let (s, c) = self.yaw_rad.sin_cos();
        let dx = c * d.x + s * d.y;
        let dy = -s * d.x + c * d.y;
        let rel = center_of_mass - self.center_m;
        let px = c * rel.x + s * rel.y;
        let py = -s * rel.x + c * rel.y;
        // Distance along d from the COM to the footprint boundary.
        let mut t = f64::INFINITY;
        if dx.abs() > 1e-12 {
            let edge = if dx > 0.0 {
                self.half_extents_m.x
            } else {
                -self.half_extents_m.x
            };
            t = t.min((edge - px) / dx);
        }
        if dy.abs() > 1e-12 {
            let edge = if dy > 0.0 {
                self.half_extents_m.y
            } else {
                -self.half_extents_m.y
            };
            t = t.min((edge - py) / dy);
        }
        (t.is_finite() && t >= 0.0).then_some(t)
    }
}

/// An object node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectNode {
    /// Node id (persistent).
    pub id: NodeId,
    /// Class label (`unknown` without semantics).
    pub class_name: String,
    /// Confidence of the class label in [0, 1] (vote share).
    pub class_confidence: f64,
    /// Gravity-aligned oriented bounding box.
    pub bounding_box: GravityAlignedBox,
    /// Centroid of the object's surface/volume, m.
    pub centroid_m: Point3<f64>,
    /// Enclosed volume from occupied TSDF voxels, m³.
    pub volume_m3: f64,
    /// Mass estimate, kg.
    pub mass_kg: LogNormal,
    /// Static friction coefficient against its support.
    pub friction: LogNormal,
    /// Support surface it rests on, if known.
    pub support: Option<NodeId>,
    /// Number of frames it was observed in.
    pub observation_count: u32,
    /// First observation.
    pub first_seen: Timestamp,
    /// Last observation.
    pub last_seen: Timestamp,
    /// Grasp candidates, best first.
    pub grasps: Vec<GraspCandidate>,
}

impl ObjectNode {
    /// Force analysis for a horizontal push along `direction` (world frame)
    /// at `push_height_m` above the object's support (bottom face).
    /// The centre of mass is taken at the bounding box's centre (uniform
    /// fill): the centroid of the *surface samples* leans towards the faces
    /// the camera saw, which biases the lever arm.
    pub fn push_force(&self, direction: &Vector3<f64>, push_height_m: f64) -> Result<PushEstimate> {
        let lever = self
            .bounding_box
            .tipping_lever_arm_m(&self.bounding_box.center_m, direction)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "push direction {direction:?} has no horizontal component, the footprint is degenerate, or the centre of mass is outside it"
                ))
            })?;
        push_estimate(&self.mass_kg, &self.friction, lever, push_height_m)
    }
}

/// A parallel-jaw grasp.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraspCandidate {
    /// Contact point of the first finger, world frame, m.
    pub contact_a_m: Point3<f64>,
    /// Contact point of the second finger, world frame, m.
    pub contact_b_m: Point3<f64>,
    /// Unit approach direction of the gripper (towards the object).
    pub approach: Vector3<f64>,
    /// Required opening, m.
    pub width_m: f64,
    /// Quality score in [0, 1], higher is better.
    pub score: f64,
}

/// A support surface node (horizontal plane patch).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SurfaceNode {
    /// Node id.
    pub id: NodeId,
    /// `floor`, `table top`, `shelf board`, ...
    pub label: String,
    /// Height of the plane, m (world z up).
    pub height_m: f64,
    /// Extent of the supported region.
    pub bounding_box: GravityAlignedBox,
}

/// A room / place node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomNode {
    /// Node id.
    pub id: NodeId,
    /// Name (`room 0`, ...).
    pub label: String,
    /// Extent.
    pub bounding_box: GravityAlignedBox,
}

/// A keyframe pose of the agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentNode {
    /// Node id.
    pub id: NodeId,
    /// Keyframe time.
    pub timestamp: Timestamp,
    /// Keyframe pose.
    pub world_from_camera: Isometry3<f64>,
}

/// Edge types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// `source` rests on `target` (object on surface).
    On,
    /// `source` is next to `target`.
    NextTo,
    /// `source` is inside `target` (object in room, object in container).
    Inside,
    /// `source` was observed from agent keyframe `target`.
    ObservedFrom,
}

/// A typed, directed edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Edge {
    /// From.
    pub source: NodeId,
    /// To.
    pub target: NodeId,
    /// Relation.
    pub relation: Relation,
}

/// The scene graph.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SceneGraph {
    /// Format version of the JSON this graph came from or goes to.
    pub format_version: u32,
    next_id: u64,
    objects: BTreeMap<NodeId, ObjectNode>,
    surfaces: BTreeMap<NodeId, SurfaceNode>,
    rooms: BTreeMap<NodeId, RoomNode>,
    agent: BTreeMap<NodeId, AgentNode>,
    edges: Vec<Edge>,
}

impl SceneGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self {
            format_version: SCENE_GRAPH_FORMAT_VERSION,
            ..Self::default()
        }
    }

    /// Allocates a fresh node id (never reused).
    pub fn allocate_id(&mut self) -> NodeId {
        self.next_id += 1;
        NodeId(self.next_id)
    }

    /// Inserts or replaces an object (keyed by its id).
    pub fn upsert_object(&mut self, object: ObjectNode) {
        self.next_id = self.next_id.max(object.id.0);
        self.objects.insert(object.id, object);
    }

    /// Inserts or replaces a support surface.
    pub fn upsert_surface(&mut self, surface: SurfaceNode) {
        self.next_id = self.next_id.max(surface.id.0);
        self.surfaces.insert(surface.id, surface);
    }

    /// Inserts or replaces a room.
    pub fn upsert_room(&mut self, room: RoomNode) {
        self.next_id = self.next_id.max(room.id.0);
        self.rooms.insert(room.id, room);
    }

    /// Inserts or replaces an agent keyframe.
    pub fn upsert_agent(&mut self, node: AgentNode) {
        self.next_id = self.next_id.max(node.id.0);
        self.agent.insert(node.id, node);
    }

    /// Removes a node of any layer and its edges.
    pub fn remove(&mut self, id: NodeId) {
        self.objects.remove(&id);
        self.surfaces.remove(&id);
        self.rooms.remove(&id);
        self.agent.remove(&id);
        self.edges.retain(|e| e.source != id && e.target != id);
    }

    /// Adds an edge (no duplicates).
    pub fn add_edge(&mut self, edge: Edge) {
        if !self.edges.contains(&edge) {
            self.edges.push(edge);
        }
    }

    /// Removes all edges of a relation leaving `source`.
    pub fn clear_edges_from(&mut self, source: NodeId, relation: Relation) {
        self.edges
            .retain(|e| !(e.source == source && e.relation == relation));
    }

    /// The layer of a node, if it exists.
    pub fn layer_of(&self, id: NodeId) -> Option<Layer> {
        if self.objects.contains_key(&id) {
            Some(Layer::Object)
        } else if self.surfaces.contains_key(&id) {
            Some(Layer::Surface)
        } else if self.rooms.contains_key(&id) {
            Some(Layer::Room)
        } else if self.agent.contains_key(&id) {
            Some(Layer::Agent)
        } else {
            None
        }
    }

    /// All objects, by id.
    pub fn objects(&self) -> impl Iterator<Item = &ObjectNode> {
        self.objects.values()
    }

    /// One object.
    pub fn object(&self, id: NodeId) -> Option<&ObjectNode> {
        self.objects.get(&id)
    }

    /// Support surfaces.
    pub fn surfaces(&self) -> impl Iterator<Item = &SurfaceNode> {
        self.surfaces.values()
    }

    /// Rooms.
    pub fn rooms(&self) -> impl Iterator<Item = &RoomNode> {
        self.rooms.values()
    }

    /// Agent keyframes.
    pub fn agent_poses(&self) -> impl Iterator<Item = &AgentNode> {
        self.agent.values()
    }

    /// All edges.
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// Targets of `relation` edges leaving `source`.
    pub fn related(&self, source: NodeId, relation: Relation) -> impl Iterator<Item = NodeId> + '_ {
        self.edges
            .iter()
            .filter(move |e| e.source == source && e.relation == relation)
            .map(|e| e.target)
    }

    /// Objects of a class (exact label match).
    pub fn objects_of_class<'a>(
        &'a self,
        class_name: &'a str,
    ) -> impl Iterator<Item = &'a ObjectNode> {
        self.objects
            .values()
            .filter(move |o| o.class_name == class_name)
    }

    /// The object whose centroid is nearest to `position_m`, optionally of a
    /// class.
    pub fn nearest_object(
        &self,
        position_m: &Point3<f64>,
        class_name: Option<&str>,
    ) -> Option<&ObjectNode> {
        self.objects
            .values()
            .filter(|o| class_name.is_none_or(|c| o.class_name == c))
            .min_by(|a, b| {
                let da = (a.centroid_m - position_m).norm_squared();
                let db = (b.centroid_m - position_m).norm_squared();
                da.total_cmp(&db)
            })
    }

    /// "Where is the chair, and how hard must I push it?" in one call: the
    /// object of `class_name` nearest to `from_m`, and the push analysis for
    /// pushing it horizontally away from `from_m` at `push_height_m` above
    /// its support.
    pub fn where_and_how_hard(
        &self,
        class_name: &str,
        from_m: &Point3<f64>,
        push_height_m: f64,
    ) -> Option<(&ObjectNode, Result<PushEstimate>)> {
        let object = self.nearest_object(from_m, Some(class_name))?;
        let direction = object.centroid_m - from_m;
        Some((object, object.push_force(&direction, push_height_m)))
    }

    /// Serialises to JSON (`format_version` first-class).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|source| Error::Json {
            path: "<memory>".into(),
            source,
        })
    }

    /// Parses JSON written by [`Self::to_json`]; rejects other format
    /// versions and dangling edges.
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        let graph: SceneGraph = serde_json::from_str(text).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        if graph.format_version != SCENE_GRAPH_FORMAT_VERSION {
            return Err(Error::format(
                path,
                format!(
                    "scene graph format version {} is not supported (expected {SCENE_GRAPH_FORMAT_VERSION})",
                    graph.format_version
                ),
            ));
        }
        for edge in &graph.edges {
            if graph.layer_of(edge.source).is_none() || graph.layer_of(edge.target).is_none() {
                return Err(Error::format(
                    path,
                    format!(
                        "edge {:?} -> {:?} refers to a missing node",
                        edge.source, edge.target
                    ),
                ));
            }
        }
        Ok(graph)
    }

    /// Writes JSON to a file.
    pub fn save_json(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json()?).map_err(|e| Error::io(path, e))
    }

    /// Reads JSON from a file.
    pub fn load_json(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene_graph::physics::GRAVITY_M_S2;
    use approx::assert_relative_eq;

    fn chair(graph: &mut SceneGraph, x: f64) -> NodeId {
        let id = graph.allocate_id();
        graph.upsert_object(ObjectNode {
            id,
            class_name: "chair".into(),
            class_confidence: 0.9,
            bounding_box: GravityAlignedBox {
                center_m: Point3::new(x, 0.0, 0.45),
                half_extents_m: Vector3::new(0.25, 0.25, 0.45),
                yaw_rad: 0.3,
            },
            centroid_m: Point3::new(x, 0.0, 0.45),
            volume_m3: 0.02,
            mass_kg: LogNormal::exact(8.0),
            friction: LogNormal::exact(0.5),
            support: None,
            observation_count: 3,
            first_seen: Timestamp(0),
            last_seen: Timestamp(10),
            grasps: vec![],
        });
        id
    }

    #[test]
    fn lever_arm_of_a_rotated_box() {
        let b = GravityAlignedBox {
            center_m: Point3::new(1.0, 2.0, 0.5),
            half_extents_m: Vector3::new(0.3, 0.2, 0.5),
            yaw_rad: 0.7,
        };
        // Pushing along the box's own x axis: lever arm = hx.
        let along_x = Vector3::new(0.7_f64.cos(), 0.7_f64.sin(), 0.0);
        assert_relative_eq!(
            b.tipping_lever_arm_m(&b.center_m, &along_x).unwrap(),
            0.3,
            epsilon = 1e-12
        );
        let along_y = Vector3::new(-0.7_f64.sin(), 0.7_f64.cos(), 0.0);
        assert_relative_eq!(
            b.tipping_lever_arm_m(&b.center_m, &along_y).unwrap(),
            0.2,
            epsilon = 1e-12
        );
        assert!(b.tipping_lever_arm_m(&b.center_m, &Vector3::z()).is_none());
    }

    #[test]
    fn one_query_finds_the_chair_and_its_push_force() {
        let mut graph = SceneGraph::new();
        let _far = chair(&mut graph, 5.0);
        let near = chair(&mut graph, 1.0);
        let (object, push) = graph
            .where_and_how_hard("chair", &Point3::new(0.0, 0.0, 0.45), 0.8)
            .unwrap();
        assert_eq!(object.id, near);
        let push = push.unwrap();
        assert_relative_eq!(
            push.slide_force_n.median,
            0.5 * 8.0 * GRAVITY_M_S2,
            epsilon = 1e-9
        );
        assert!(graph
            .where_and_how_hard("sofa", &Point3::origin(), 0.8)
            .is_none());
    }

    #[test]
    fn json_round_trip_and_version_check() {
        let mut graph = SceneGraph::new();
        let a = chair(&mut graph, 1.0);
        let floor = graph.allocate_id();
        graph.upsert_surface(SurfaceNode {
            id: floor,
            label: "floor".into(),
            height_m: 0.0,
            bounding_box: GravityAlignedBox {
                center_m: Point3::origin(),
                half_extents_m: Vector3::new(2.0, 2.0, 0.0),
                yaw_rad: 0.0,
            },
        });
        graph.add_edge(Edge {
            source: a,
            target: floor,
            relation: Relation::On,
        });
        let json = graph.to_json().unwrap();
        let back = SceneGraph::from_json(&json, Path::new("g.json")).unwrap();
        assert_eq!(back, graph);
        assert_eq!(
            back.related(a, Relation::On).collect::<Vec<_>>(),
            vec![floor]
        );
        let other = json.replace("\"format_version\": 1", "\"format_version\": 99");
        assert!(matches!(
            SceneGraph::from_json(&other, Path::new("g.json")),
            Err(Error::Format { .. })
        ));
        assert!(matches!(
            SceneGraph::from_json("{", Path::new("g.json")),
            Err(Error::Json { .. })
        ));
        graph.remove(floor);
        assert!(graph.edges().is_empty());
        // ids are never reused
        assert!(graph.allocate_id().0 > floor.0);
    }
}
