//! Builds and maintains the scene graph from the map: support surfaces,
//! objects with persistent identity, physics, grasps and relations.
//!
//! One [`SceneGraphBuilder::update`] reads the map's surface samples:
//! 1. structure: floor (lowest large up-facing plane), ceiling, walls
//!    (large vertical planes) — gravity-aware plane detection;
//! 2. Euclidean clustering of what is left (furniture groups);
//! 3. inside each group, horizontal patches (table tops, shelf boards) that
//!    carry smaller clusters resting on them split those off as objects
//!    supported by the patch;
//! 4. association with the previous objects by box IoU (persistent ids;
//!    merges keep the older id, splits give the smaller part a new id);
//! 5. per object: gravity-aligned box, enclosed volume from the TSDF, mass
//!    and friction from the class prior, grasps; relations on / next to /
//!    inside.
//!
//! [`SceneGraphBuilder::observe_frame`] counts observations and fuses class
//! labels from an optional [`InstanceSegmentation`] by votes.

use std::collections::{BTreeMap, BTreeSet};

use nalgebra::{Isometry3, Point3, Vector3};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::geometry::PinholeCamera;
use crate::scene_graph::geometry::{
    box_iou, detect_horizontal_planes, detect_vertical_planes, euclidean_clusters, footprint,
    gravity_aligned_box, HorizontalPlane, PlaneConfig,
};
use crate::scene_graph::grasp::{antipodal_grasps, GripperConfig};
use crate::scene_graph::gravity::GravityFrameMap;
use crate::scene_graph::map_query::{enclosed_volume_m3, MapOccupancy, MapQuery, SurfaceSamples};
use crate::scene_graph::physics::{estimate_mass, MaterialPriors};
use crate::scene_graph::segmentation::{ClassVotes, InstanceSegmentation};
use crate::scene_graph::{
    Edge, GravityAlignedBox, NodeId, ObjectNode, Relation, RoomNode, SceneGraph, SurfaceNode,
};
use crate::sensor::{RgbdFrame, Timestamp};

/// Settings of scene-graph construction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SceneGraphConfig {
    /// Plane detection.
    pub planes: PlaneConfig,
    /// Neighbour radius of Euclidean clustering, m. The builder uses at
    /// least 1.75 voxels of the map it reads: a coarser map's surface samples
    /// are farther apart and would otherwise never connect.
    pub cluster_radius_m: f32,
    /// Smallest object, in surface samples.
    pub min_object_points: usize,
    /// A vertical plane at least this wide and tall is a wall, m.
    pub wall_min_extent_m: f64,
    /// Minimum IoU to keep an object's identity between updates.
    pub association_min_iou: f64,
    /// Objects on the same support closer than this are `next to`, m.
    pub next_to_distance_m: f64,
    /// Margin inside a support patch's footprint for resting objects, m.
    pub surface_margin_m: f64,
    /// Gripper for grasp planning.
    pub gripper: GripperConfig,
    /// Surface samples per object used for grasp planning.
    pub grasp_max_samples: usize,
    /// Surface samples per object kept for visibility tests and labelling.
    pub visibility_samples: usize,
}

impl Default for SceneGraphConfig {
    fn default() -> Self {
        Self {
            planes: PlaneConfig::default(),
            cluster_radius_m: 0.035,
            min_object_points: 30,
            wall_min_extent_m: 1.2,
            association_min_iou: 0.2,
            next_to_distance_m: 0.5,
            surface_margin_m: 0.02,
            gripper: GripperConfig::default(),
            grasp_max_samples: 200,
            visibility_samples: 120,
        }
    }
}

/// What one update did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SceneGraphUpdateStats {
    /// Objects after the update.
    pub objects: usize,
    /// Objects created.
    pub created: usize,
    /// Objects merged into another.
    pub merged: usize,
    /// Support surfaces.
    pub surfaces: usize,
    /// Walls detected.
    pub walls: usize,
}

/// Per-object state kept between updates.
#[derive(Clone, Debug, Default)]
struct Track {
    votes: ClassVotes,
    /// Surface samples (subsampled) for visibility and labelling.
    samples: Vec<Point3<f32>>,
}

/// An object candidate of one update, before association.
struct Candidate {
    points: Vec<usize>,
    support_height_m: f64,
    support_patch: Option<usize>,
    children_volume_m3: f64,
}

/// Maintains a [`SceneGraph`] over time.
pub struct SceneGraphBuilder {
    config: SceneGraphConfig,
    priors: MaterialPriors,
    graph: SceneGraph,
    tracks: BTreeMap<NodeId, Track>,
    gravity_from_world: Isometry3<f64>,
    /// Objects missing from recent updates (merged into a neighbour for a
    /// while, or not segmented out), kept to give them their id back, with
    /// the number of updates they have been missing.
    lost: Vec<(ObjectNode, Track, u32)>,
}

/// Updates a lost object is remembered for re-identification.
const LOST_MEMORY_UPDATES: u32 = 3;

impl SceneGraphBuilder {
    /// A builder with the shipped material priors.
    pub fn new(config: SceneGraphConfig) -> Result<Self> {
        config.gripper.validate()?;
        Ok(Self {
            config,
            priors: MaterialPriors::embedded()?,
            graph: SceneGraph::new(),
            tracks: BTreeMap::new(),
            gravity_from_world: Isometry3::identity(),
            lost: Vec::new(),
        })
    }

    /// Sets the map's orientation with respect to gravity: the graph is
    /// built and expressed in the gravity frame (z up), `gravity_from_world`
    /// away from the map's world frame (see
    /// [`gravity_from_world_for_up`](crate::scene_graph::gravity::gravity_from_world_for_up)).
    /// Samples, map and camera poses stay in world coordinates; the builder
    /// converts them. The default is the identity (world already z up).
    pub fn with_gravity_from_world(mut self, gravity_from_world: Isometry3<f64>) -> Self {
        self.gravity_from_world = gravity_from_world;
        self
    }

    /// The gravity frame of the graph, from the map's world frame.
    pub fn gravity_from_world(&self) -> &Isometry3<f64> {
        &self.gravity_from_world
    }

    /// The current graph.
    pub fn graph(&self) -> &SceneGraph {
        &self.graph
    }

    /// Re-derives surfaces and objects from the map's surface samples
    /// (world frame, normals towards free space) and the map itself.
    pub fn update(
        &mut self,
        samples: &SurfaceSamples,
        map: &(impl MapQuery + ?Sized),
        timestamp: Timestamp,
    ) -> Result<SceneGraphUpdateStats> {
        let gravity_map = GravityFrameMap {
            map,
            world_from_gravity: self.gravity_from_world.inverse(),
        };
        if self.gravity_from_world == Isometry3::identity() {
            return self.update_in_gravity_frame(samples, &gravity_map, timestamp);
        }
        let gravity_from_world = self.gravity_from_world.cast::<f32>();
        let transformed = SurfaceSamples {
            points_m: samples
                .points_m
                .iter()
                .map(|p| gravity_from_world * p)
                .collect(),
            normals: samples
                .normals
                .iter()
                .map(|n| gravity_from_world * n)
                .collect(),
        };
        self.update_in_gravity_frame(&transformed, &gravity_map, timestamp)
    }

    fn update_in_gravity_frame(
        &mut self,
        samples: &SurfaceSamples,
        map: &(impl MapQuery + ?Sized),
        timestamp: Timestamp,
    ) -> Result<SceneGraphUpdateStats> {
        let mut stats = SceneGraphUpdateStats::default();
        let pts = &samples.points_m;
        let nrm = &samples.normals;
        let n = pts.len().min(nrm.len());
        let cfg = &self.config;
        let tol = cfg.planes.distance_tolerance_m;

        // 1. Structure: floor, ceiling, walls.
        let up_planes = detect_horizontal_planes(&pts[..n], &nrm[..n], &cfg.planes);
        let floor_z = up_planes
            .iter()
            .map(|p| p.height_m)
            .fold(f64::INFINITY, f64::min);
        let floor_z = if floor_z.is_finite() {
            floor_z
        } else {
            pts.iter()
                .map(|p| f64::from(p.z))
                .fold(f64::INFINITY, f64::min)
        };
        let flipped: Vec<Vector3<f32>> = nrm[..n].iter().map(|v| -v).collect();
        let ceiling_z = detect_horizontal_planes(&pts[..n], &flipped, &cfg.planes)
            .iter()
            .filter(|p| {
                p.extent.half_extents_m.x.min(p.extent.half_extents_m.y) * 2.0
                    >= cfg.wall_min_extent_m
            })
            .map(|p| p.height_m)
            .fold(f64::NEG_INFINITY, f64::max);
        let walls = detect_vertical_planes(
            &pts[..n],
            &nrm[..n],
            &cfg.planes,
            cfg.wall_min_extent_m,
            cfg.wall_min_extent_m,
        );
        stats.walls = walls.len();
        let mut structure = vec![false; n];
        for wall in &walls {
            for &i in &wall.inliers {
                structure[i] = true;
            }
        }
        // Whatever lies on a wall's plane (corners, where the normal bends
        // into the next wall; skirting) is structure too.
        for (i, p) in pts[..n].iter().enumerate() {
            let xy = Vector3::new(f64::from(p.x), f64::from(p.y), 0.0);
            if walls
                .iter()
                .any(|w| (w.normal.dot(&xy) - w.offset_m).abs() <= 1.5 * tol)
            {
                structure[i] = true;
            }
        }
        for (i, p) in pts[..n].iter().enumerate() {
            let z = f64::from(p.z);
            if z <= floor_z + tol || (ceiling_z.is_finite() && z >= ceiling_z - tol) {
                structure[i] = true;
            }
        }

        // 2. Furniture groups.
        let rest: Vec<usize> = (0..n).filter(|&i| !structure[i]).collect();
        let rest_pts: Vec<Point3<f32>> = rest.iter().map(|&i| pts[i]).collect();
        let cluster_radius_m = cfg.cluster_radius_m.max(1.75 * map.voxel_size_m() as f32);
        let groups: Vec<Vec<usize>> =
            euclidean_clusters(&rest_pts, cluster_radius_m, cfg.min_object_points)
                .into_iter()
                .map(|g| g.into_iter().map(|k| rest[k]).collect())
                .collect();

        // Support patches above the floor (table tops, shelf boards, seats).
        let patches: Vec<&HorizontalPlane> = up_planes
            .iter()
            .filter(|p| p.height_m > floor_z + 3.0 * tol)
            .collect();

        // 3. Split objects resting on patches off their furniture.
        let mut candidates = Vec::new();
        for group in groups {
            self.split_group(
                group,
                pts,
                &patches,
                floor_z,
                cluster_radius_m,
                &mut candidates,
            );
        }

        merge_fragments(&mut candidates, pts);

        // 4. Describe, then associate with previous objects.
        let previous: Vec<(NodeId, GravityAlignedBox)> = self
            .graph
            .objects()
            .map(|o| (o.id, o.bounding_box))
            .chain(self.lost.iter().map(|(o, _, _)| (o.id, o.bounding_box)))
            .collect();
        let mut described = Vec::new();
        for cand in &candidates {
            let mut bbox = gravity_aligned_box(cand.points.iter().map(|&i| pts[i]));
            // Resting objects reach down to their support (contact points
            // are hidden or were taken as plane inliers).
            let top = bbox.center_m.z + bbox.half_extents_m.z;
            let bottom = cand.support_height_m.min(top);
            bbox.center_m.z = 0.5 * (top + bottom);
            bbox.half_extents_m.z = 0.5 * (top - bottom);
            described.push(bbox);
        }
        let assignment = associate_boxes(&previous, &described, self.config.association_min_iou);
        // Lost objects found again come back with their history.
        let revived: BTreeSet<NodeId> = assignment.values().flatten().copied().collect();
        for (node, track, _) in std::mem::take(&mut self.lost) {
            if revived.contains(&node.id) {
                self.tracks.insert(node.id, track);
                self.graph.upsert_object(node);
            } else {
                self.lost.push((node, track, 0));
            }
        }

        // 5. Surfaces (rebuilt each update; ids follow by overlap).
        let old_surfaces: Vec<(NodeId, GravityAlignedBox)> = self
            .graph
            .surfaces()
            .map(|s| (s.id, s.bounding_box))
            .collect();
        for (id, _) in &old_surfaces {
            self.graph.remove(*id);
        }
        let floor_box = {
            let mut b = gravity_aligned_box(pts[..n].iter().copied());
            b.center_m.z = floor_z;
            b.half_extents_m.z = 0.0;
            b
        };
        let mut surface_ids = Vec::new(); // index 0 = floor, then patches
        for (k, bbox) in std::iter::once(floor_box)
            .chain(patches.iter().map(|p| p.extent))
            .enumerate()
        {
            let id = old_surfaces
                .iter()
                .find(|(_, old)| {
                    footprint_overlap(old, &bbox) > 0.5
                        && (old.center_m.z - bbox.center_m.z).abs() < 2.0 * tol
                })
                .map(|(id, _)| *id)
                .unwrap_or_else(|| self.graph.allocate_id());
            self.graph.upsert_surface(SurfaceNode {
                id,
                label: if k == 0 {
                    "floor".into()
                } else {
                    "surface".into()
                },
                height_m: bbox.center_m.z,
                bounding_box: bbox,
            });
            surface_ids.push(id);
        }
        stats.surfaces = surface_ids.len();

        // Objects: keep matched ids, create new ones, drop unmatched.
        let mut kept = BTreeSet::new();
        for (c, (cand, bbox)) in candidates.iter().zip(&described).enumerate() {
            let id = match assignment.get(&c) {
                Some(ids) => {
                    // Merge: the oldest id survives, votes are pooled.
                    let survivor = ids[0];
                    for other in &ids[1..] {
                        if let Some(track) = self.tracks.remove(other) {
                            self.tracks
                                .entry(survivor)
                                .or_default()
                                .votes
                                .merge(&track.votes);
                        }
                        self.graph.remove(*other);
                        stats.merged += 1;
                    }
                    survivor
                }
                None => {
                    stats.created += 1;
                    self.graph.allocate_id()
                }
            };
            kept.insert(id);
            let node = self.describe(id, cand, bbox, pts, nrm, map, timestamp)?;
            self.graph.upsert_object(node);
            let stride = (cand.points.len() / self.config.visibility_samples.max(1)).max(1);
            let track = self.tracks.entry(id).or_default();
            track.samples = cand
                .points
                .iter()
                .step_by(stride)
                .map(|&i| pts[i])
                .collect();
            // Relations.
            self.graph.clear_edges_from(id, Relation::On);
            let support = cand
                .support_patch
                .map_or(surface_ids[0], |k| surface_ids[k + 1]);
            self.graph.add_edge(Edge {
                source: id,
                target: support,
                relation: Relation::On,
            });
            if let Some(o) = self.graph.object(id).cloned() {
                self.graph.upsert_object(ObjectNode {
                    support: Some(support),
                    ..o
                });
            }
        }
        let stale: Vec<NodeId> = self
            .graph
            .objects()
            .map(|o| o.id)
            .filter(|id| !kept.contains(id))
            .collect();
        for (_, _, age) in &mut self.lost {
            *age += 1;
        }
        self.lost.retain(|(_, _, age)| *age <= LOST_MEMORY_UPDATES);
        for id in stale {
            if let Some(node) = self.graph.object(id).cloned() {
                let track = self.tracks.remove(&id).unwrap_or_default();
                self.lost.push((node, track, 1));
            }
            self.graph.remove(id);
            self.tracks.remove(&id);
        }
        self.update_relations(&walls, floor_z, ceiling_z);
        stats.objects = self.graph.objects().count();
        Ok(stats)
    }

    /// Splits a furniture group into the furniture itself and the objects
    /// resting on its horizontal patches.
    fn split_group(
        &self,
        group: Vec<usize>,
        pts: &[Point3<f32>],
        patches: &[&HorizontalPlane],
        floor_z: f64,
        cluster_radius_m: f32,
        out: &mut Vec<Candidate>,
    ) {
        let cfg = &self.config;
        let tol = cfg.planes.distance_tolerance_m;
        let members: BTreeSet<usize> = group.iter().copied().collect();
        let mut remaining = members.clone();
        let mut parent_patch_children = 0.0;
        for (k, patch) in patches.iter().enumerate() {
            // The patch belongs to this group if most of its inliers do.
            let inside = patch.inliers.iter().filter(|i| members.contains(i)).count();
            if inside * 2 < patch.inliers.len() {
                continue;
            }
            let mut shrunk = patch.extent;
            shrunk.half_extents_m.x -= cfg.surface_margin_m;
            shrunk.half_extents_m.y -= cfg.surface_margin_m;
            if shrunk.half_extents_m.x <= 0.0 || shrunk.half_extents_m.y <= 0.0 {
                continue;
            }
            let patch_set: BTreeSet<usize> = patch.inliers.iter().copied().collect();
            // The space an object on this patch can occupy: above it, over
            // its footprint, and below the next board of the same furniture
            // over it (shelves) — that board's front edge and underside
            // (2 cm boards and thinner) are not objects on this one.
            let ceiling = patches
                .iter()
                .enumerate()
                .filter(|(j, other)| {
                    *j != k
                        && other.height_m > patch.height_m + 3.0 * tol
                        && footprint_overlap(&other.extent, &patch.extent) > 0.5
                        && other.inliers.iter().filter(|i| members.contains(i)).count() * 2
                            >= other.inliers.len()
                })
                .map(|(_, other)| other.height_m - 0.02 - 0.5 * tol)
                .fold(f64::INFINITY, f64::min);
            let above: Vec<usize> = remaining
                .iter()
                .copied()
                .filter(|i| {
                    let z = f64::from(pts[*i].z);
                    !patch_set.contains(i)
                        && z > patch.height_m + 0.5 * tol
                        && z < ceiling
                        && inside_footprint(&shrunk, &pts[*i])
                })
                .collect();
            let above_pts: Vec<Point3<f32>> = above.iter().map(|&i| pts[i]).collect();
            for comp in euclidean_clusters(&above_pts, cluster_radius_m, cfg.min_object_points) {
                let comp: Vec<usize> = comp.into_iter().map(|c| above[c]).collect();
                let z_min = comp
                    .iter()
                    .map(|&i| f64::from(pts[i].z))
                    .fold(f64::INFINITY, f64::min);
                let resting = z_min < patch.height_m + 4.0 * tol;
                if resting {
                    for i in &comp {
                        remaining.remove(i);
                    }
                    let bbox = gravity_aligned_box(comp.iter().map(|&i| pts[i]));
                    let h = bbox.center_m.z + bbox.half_extents_m.z - patch.height_m;
                    parent_patch_children +=
                        4.0 * bbox.half_extents_m.x * bbox.half_extents_m.y * h.max(0.0);
                    out.push(Candidate {
                        points: comp,
                        support_height_m: patch.height_m,
                        support_patch: Some(k),
                        children_volume_m3: 0.0,
                    });
                }
            }
        }
        if remaining.len() >= cfg.min_object_points {
            out.push(Candidate {
                points: remaining.into_iter().collect(),
                support_height_m: floor_z,
                support_patch: None,
                children_volume_m3: parent_patch_children,
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn describe(
        &self,
        id: NodeId,
        cand: &Candidate,
        bbox: &GravityAlignedBox,
        pts: &[Point3<f32>],
        nrm: &[Vector3<f32>],
        map: &(impl MapQuery + ?Sized),
        timestamp: Timestamp,
    ) -> Result<ObjectNode> {
        let previous = self.graph.object(id);
        let track = self.tracks.get(&id);
        let (class_name, class_confidence) = track
            .and_then(|t| t.votes.best())
            .map_or(("unknown".to_owned(), 0.0), |(c, s)| (c.to_owned(), s));
        let centroid = cand.points.iter().fold(Vector3::zeros(), |acc, &i| {
            acc + pts[i].coords.cast::<f64>()
        }) / cand.points.len().max(1) as f64;
        let min = bbox.center_m - bbox.half_extents_m.map(|h| h * 2.0_f64.sqrt());
        let max = bbox.center_m + bbox.half_extents_m.map(|h| h * 2.0_f64.sqrt());
        let min = Point3::new(min.x, min.y, bbox.bottom_z_m());
        let max = Point3::new(max.x, max.y, bbox.center_m.z + bbox.half_extents_m.z);
        let volume = (enclosed_volume_m3(map, &min, &max, |p| {
            inside_footprint(bbox, &Point3::new(p.x as f32, p.y as f32, 0.0))
        }) - cand.children_volume_m3)
            .max(0.0);
        let v = map.voxel_size_m();
        let h = bbox.half_extents_m;
        let area = 8.0 * (h.x * h.y + h.y * h.z + h.x * h.z);
        let volume_sigma = if volume > 0.0 {
            (0.5 * v * area / volume).clamp(0.05, 1.0)
        } else {
            1.0
        };
        let prior = self.priors.get(&class_name);
        let stride = (cand.points.len() / self.config.grasp_max_samples.max(1)).max(1);
        let grasp_pts: Vec<Point3<f64>> = cand
            .points
            .iter()
            .step_by(stride)
            .map(|&i| pts[i].cast())
            .collect();
        let grasp_nrm: Vec<Vector3<f64>> = cand
            .points
            .iter()
            .step_by(stride)
            .map(|&i| nrm[i].cast())
            .collect();
        let grasps = antipodal_grasps(
            &grasp_pts,
            &grasp_nrm,
            &self.config.gripper,
            &MapOccupancy(map),
        )?;
        Ok(ObjectNode {
            id,
            class_name,
            class_confidence,
            bounding_box: *bbox,
            centroid_m: Point3::from(centroid),
            volume_m3: volume,
            mass_kg: estimate_mass(volume.max(1e-9), volume_sigma, prior),
            friction: prior.friction,
            support: None,
            observation_count: previous.map_or(0, |o| o.observation_count),
            first_seen: previous.map_or(timestamp, |o| o.first_seen),
            last_seen: previous.map_or(timestamp, |o| o.last_seen),
            grasps,
        })
    }

    /// Rebuilds `next to` and `inside` edges.
    fn update_relations(
        &mut self,
        walls: &[crate::scene_graph::geometry::VerticalPlane],
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

    /// Counts an observation of every object visible in `frame` and, with a
    /// segmentation, adds class votes: an object's visible samples are
    /// projected into the mask and the majority instance's label is voted.
    pub fn observe_frame(
        &mut self,
        frame: &RgbdFrame,
        camera: &PinholeCamera,
        world_from_camera: &Isometry3<f64>,
        segmentation: Option<&InstanceSegmentation>,
    ) -> Result<Vec<NodeId>> {
        // Pixels are looked up by the camera's projection: the frame must
        // be the camera's size with full buffers.
        let n = frame.width as usize * frame.height as usize;
        if frame.width != camera.width
            || frame.height != camera.height
            || frame.depth_m.len() != n
            || frame.color.len() != n
        {
            return Err(Error::InvalidFrame {
                frame: frame.timestamp,
                message: format!(
                    "frame is {}x{} with {} depth and {} colour pixels; the camera is {}x{}",
                    frame.width,
                    frame.height,
                    frame.depth_m.len(),
                    frame.color.len(),
                    camera.width,
                    camera.height
                ),
            });
        }
        if let Some(seg) = segmentation {
            seg.validate_for(frame)?;
        }
        // Track samples live in the gravity frame.
        let camera_from_gravity = (self.gravity_from_world * world_from_camera).inverse();
        let depth_tol = 0.05_f32;
        let mut visible_ids = Vec::new();
        for (id, track) in &mut self.tracks {
            let mut visible = 0_usize;
            let mut instance_counts: BTreeMap<u32, usize> = BTreeMap::new();
            for p in &track.samples {
                let pc = camera_from_gravity * p.cast::<f64>();
                let Some(px) = camera.project(&pc) else {
                    continue;
                };
                if !camera.contains(&px) {
                    continue;
                }
                let (u, v) = (px.x.round() as u32, px.y.round() as u32);
                let Some(d) = frame.depth_at(u, v) else {
                    continue;
                };
                if !RgbdFrame::is_valid_depth(d) || (d - pc.z as f32).abs() > depth_tol {
                    continue;
                }
                visible += 1;
                if let Some(seg) = segmentation {
                    let inst = seg.instance_ids[(v * seg.width + u) as usize];
                    *instance_counts.entry(inst).or_insert(0) += 1;
                }
            }
            if visible < 5.max(track.samples.len() / 5) {
                continue;
            }
            visible_ids.push(*id);
            if let Some(seg) = segmentation {
                if let Some((&inst, &count)) = instance_counts.iter().max_by_key(|(_, c)| **c) {
                    if inst != 0 && count * 2 >= visible {
                        if let Some(label) = seg.labels.get(&inst) {
                            track.votes.add(&label.class_name, label.confidence);
                        }
                    }
                }
            }
        }
        for id in &visible_ids {
            if let Some(o) = self.graph.object(*id).cloned() {
                let votes = self.tracks.get(id).and_then(|t| t.votes.best());
                let (class_name, class_confidence) = votes
                    .map_or((o.class_name.clone(), o.class_confidence), |(c, s)| {
                        (c.to_owned(), s)
                    });
                let relabelled = class_name != o.class_name;
                let prior = self.priors.get(&class_name).clone();
                let mut node = ObjectNode {
                    observation_count: o.observation_count + 1,
                    first_seen: if o.observation_count == 0 {
                        frame.timestamp
                    } else {
                        o.first_seen
                    },
                    last_seen: frame.timestamp,
                    class_name,
                    class_confidence,
                    ..o
                };
                if relabelled {
                    // Re-derive mass and friction from the new class prior,
                    // keeping the measured volume and its uncertainty.
                    let volume_sigma = node.mass_kg.sigma_log.powi(2)
                        - self
                            .priors
                            .get(&o.class_name)
                            .fill_fraction
                            .sigma_log
                            .powi(2)
                        - self
                            .priors
                            .get(&o.class_name)
                            .density_kg_m3
                            .sigma_log
                            .powi(2);
                    node.mass_kg = estimate_mass(
                        node.volume_m3.max(1e-9),
                        volume_sigma.max(0.0).sqrt(),
                        &prior,
                    );
                    node.friction = prior.friction;
                }
                self.graph.upsert_object(node);
            }
        }
        Ok(visible_ids)
    }
}

/// Thin fragments standing on the floor under a larger piece of furniture
/// (a chair leg whose mesh does not connect to the seat at the voxel size)
/// belong to that furniture: a floor-standing candidate at most 10 cm wide
/// whose centre lies inside the footprint of a taller floor-standing
/// candidate is merged into it.
fn merge_fragments(candidates: &mut Vec<Candidate>, pts: &[Point3<f32>]) {
    const MAX_FRAGMENT_HALF_WIDTH_M: f64 = 0.05;
    let boxes: Vec<GravityAlignedBox> = candidates
        .iter()
        .map(|c| gravity_aligned_box(c.points.iter().map(|&i| pts[i])))
        .collect();
    let top = |b: &GravityAlignedBox| b.center_m.z + b.half_extents_m.z;
    let mut target = vec![None; candidates.len()];
    for (f, fragment) in boxes.iter().enumerate() {
        let floor_standing = candidates[f].support_patch.is_none();
        if !floor_standing
            || fragment.half_extents_m.x.max(fragment.half_extents_m.y) > MAX_FRAGMENT_HALF_WIDTH_M
        {
            continue;
        }
        let centre = Point3::new(fragment.center_m.x as f32, fragment.center_m.y as f32, 0.0);
        target[f] = boxes
            .iter()
            .enumerate()
            .filter(|&(o, other)| {
                o != f
                    && candidates[o].support_patch.is_none()
                    && other.half_extents_m.x.max(other.half_extents_m.y)
                        > MAX_FRAGMENT_HALF_WIDTH_M
                    && top(other) > top(fragment)
                    && inside_footprint(other, &centre)
            })
            .max_by(|a, b| a.1.volume_m3().total_cmp(&b.1.volume_m3()))
            .map(|(o, _)| o);
    }
    let mut merged = vec![false; candidates.len()];
    for f in 0..candidates.len() {
        if let Some(o) = target[f] {
            let points = std::mem::take(&mut candidates[f].points);
            candidates[o].points.extend(points);
            merged[f] = true;
        }
    }
    let mut k = 0;
    candidates.retain(|_| {
        let keep = !merged[k];
        k += 1;
        keep
    });
}

/// Whether the horizontal position of `p` lies inside the box footprint.
fn inside_footprint(b: &GravityAlignedBox, p: &Point3<f32>) -> bool {
    let (s, c) = b.yaw_rad.sin_cos();
    let dx = f64::from(p.x) - b.center_m.x;
    let dy = f64::from(p.y) - b.center_m.y;
    let u = c * dx + s * dy;
    let v = -s * dx + c * dy;
    u.abs() <= b.half_extents_m.x && v.abs() <= b.half_extents_m.y
}

/// Share of the smaller footprint covered by the other.
fn footprint_overlap(a: &GravityAlignedBox, b: &GravityAlignedBox) -> f64 {
    let mut a2 = *a;
    let mut b2 = *b;
    a2.center_m.z = 0.0;
    b2.center_m.z = 0.0;
    a2.half_extents_m.z = 0.5;
    b2.half_extents_m.z = 0.5;
    let iou = box_iou(&a2, &b2);
    let (va, vb) = (a2.volume_m3(), b2.volume_m3());
    let inter = iou * (va + vb) / (1.0 + iou);
    inter / va.min(vb).max(1e-12)
}

/// Horizontal gap between two boxes' axis-aligned hulls (0 when touching).
fn horizontal_gap(a: &GravityAlignedBox, b: &GravityAlignedBox) -> f64 {
    let r = |x: &GravityAlignedBox| x.half_extents_m.x.hypot(x.half_extents_m.y);
    let d = ((a.center_m.x - b.center_m.x).powi(2) + (a.center_m.y - b.center_m.y).powi(2)).sqrt();
    (d - r(a) - r(b)).max(0.0)
}

/// Greedy association of new boxes with previous objects by IoU. Returns,
/// per new box index, the previous ids it takes over, the oldest (smallest
/// id) first. A previous object overlapping two new boxes (a split) goes to
/// the one with the higher IoU; the other gets a new id.
fn associate_boxes(
    previous: &[(NodeId, GravityAlignedBox)],
    new: &[GravityAlignedBox],
    min_iou: f64,
) -> BTreeMap<usize, Vec<NodeId>> {
    let mut pairs = Vec::new();
    for (p, (_, old)) in previous.iter().enumerate() {
        for (c, b) in new.iter().enumerate() {
            let iou = box_iou(old, b);
            if iou >= min_iou {
                pairs.push((iou, p, c));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut used_previous = vec![false; previous.len()];
    let mut result: BTreeMap<usize, Vec<NodeId>> = BTreeMap::new();
    for (_, p, c) in pairs {
        if used_previous[p] {
            continue;
        }
        used_previous[p] = true;
        result.entry(c).or_default().push(previous[p].0);
    }
    // Second pass for what IoU left unmatched (small or thin objects whose
    // box jitters by a voxel): the nearest unused previous object whose
    // centre lies within half the smaller box diagonal (+ 5 cm).
    for (c, b) in new.iter().enumerate() {
        if result.contains_key(&c) {
            continue;
        }
        let nearest = previous
            .iter()
            .enumerate()
            .filter(|(p, _)| !used_previous[*p])
            .map(|(p, (_, old))| {
                let d = (old.center_m - b.center_m).norm();
                let reach =
                    0.5 * 2.0 * old.half_extents_m.norm().min(b.half_extents_m.norm()) + 0.05;
                (p, d, reach)
            })
            .filter(|(_, d, reach)| d <= reach)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((p, _, _)) = nearest {
            used_previous[p] = true;
            result.entry(c).or_default().push(previous[p].0);
        }
    }
    for ids in result.values_mut() {
        ids.sort();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: f64, y: f64, h: f64) -> GravityAlignedBox {
        GravityAlignedBox {
            center_m: Point3::new(x, y, h),
            half_extents_m: Vector3::new(0.2, 0.2, h),
            yaw_rad: 0.0,
        }
    }

    #[test]
    fn association_keeps_ids_merges_and_splits() {
        let previous = vec![
            (NodeId(1), b(0.0, 0.0, 0.4)),
            (NodeId(2), b(0.35, 0.0, 0.4)),
            (NodeId(3), b(5.0, 0.0, 0.4)),
        ];
        // New: one box covering 1 and 2 (merge), one near 3, one brand new.
        let mut merged = b(0.175, 0.0, 0.4);
        merged.half_extents_m.x = 0.375;
        let new = vec![merged, b(5.02, 0.0, 0.4), b(9.0, 9.0, 0.4)];
        let a = associate_boxes(&previous, &new, 0.2);
        assert_eq!(a.get(&0), Some(&vec![NodeId(1), NodeId(2)]));
        assert_eq!(a.get(&1), Some(&vec![NodeId(3)]));
        assert!(!a.contains_key(&2));
        // Split: one previous, two new halves: only the better one keeps it.
        let halves = vec![b(-0.1, 0.0, 0.4), b(0.3, 0.0, 0.4)];
        let a = associate_boxes(&previous[..1], &halves, 0.2);
        assert_eq!(a.len(), 1);
        assert_eq!(a.get(&0), Some(&vec![NodeId(1)]));
    }
}
