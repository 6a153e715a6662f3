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
//! 5. per object: gravity-aligned box (clipped to the depth points observed
//!    on the object, see `evidence`), enclosed volume from the TSDF, mass
//!    and friction from the class prior, grasps; relations on / next to /
//!    inside.
//!
//! [`SceneGraphBuilder::observe_frame`] counts observations and fuses class
//! labels from an optional
//! [`InstanceSegmentation`](crate::scene_graph::segmentation::InstanceSegmentation)
//! by votes.
//!
//! One concept per file: `discovery` (candidates inside furniture groups),
//! `association` (persistent ids), `describe` (box, volume, mass, grasps),
//! `relations`, `observe` (visibility and label votes), `evidence`
//! (observed depth points clip the TSDF's overhang off the boxes).

mod association;
mod describe;
mod discovery;
mod evidence;
mod observe;
mod relations;

use std::collections::{BTreeMap, BTreeSet};

use nalgebra::{Isometry3, Point3, Vector3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::scene_graph::geometry::{
    detect_horizontal_planes, detect_vertical_planes, euclidean_clusters, gravity_aligned_box,
    HorizontalPlane, PlaneConfig,
};
use crate::scene_graph::grasp::GripperConfig;
use crate::scene_graph::gravity::GravityFrameMap;
use crate::scene_graph::map_query::{MapQuery, SurfaceSamples};
use crate::scene_graph::physics::MaterialPriors;
use crate::scene_graph::segmentation::ClassVotes;
use crate::scene_graph::{
    Edge, GravityAlignedBox, NodeId, ObjectNode, Relation, SceneGraph, SurfaceNode,
};
use crate::sensor::Timestamp;

use association::associate_boxes;
use describe::VolumeMeasurement;
use discovery::{candidate_box, footprint_overlap, merge_fragments};

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
    /// The map's measure of the object's material (mass re-derived from it
    /// when the class changes).
    measurement: VolumeMeasurement,
    /// Observed depth points near the object (gravity frame, cells of
    /// `evidence::EVIDENCE_CELL_M`), see `evidence`.
    evidence: evidence::CellSet,
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
    /// Pixel rays (the TSDF's camera tables) of the camera `observe_frame`
    /// last saw.
    ray_cache: crate::tsdf::CameraTableCache,
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
            ray_cache: crate::tsdf::CameraTableCache::default(),
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

        // 1. Structure: floor, ceiling, walls — three independent searches,
        // run in parallel.
        let flipped: Vec<Vector3<f32>> = nrm[..n].iter().map(|v| -v).collect();
        let ((up_planes, down_planes), walls) = rayon::join(
            || {
                rayon::join(
                    || detect_horizontal_planes(&pts[..n], &nrm[..n], &cfg.planes),
                    || detect_horizontal_planes(&pts[..n], &flipped, &cfg.planes),
                )
            },
            || {
                detect_vertical_planes(
                    &pts[..n],
                    &nrm[..n],
                    &cfg.planes,
                    cfg.wall_min_extent_m,
                    cfg.wall_min_extent_m,
                )
            },
        );
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
        let ceiling_z = down_planes
            .iter()
            .filter(|p| {
                p.extent.half_extents_m.x.min(p.extent.half_extents_m.y) * 2.0
                    >= cfg.wall_min_extent_m
            })
            .map(|p| p.height_m)
            .fold(f64::NEG_INFINITY, f64::max);
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
            let mut bbox = candidate_box(&cand.points, pts);
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
        let mut ids = Vec::with_capacity(candidates.len());
        for c in 0..candidates.len() {
            let id = match assignment.get(&c) {
                Some(ids) => {
                    // Merge: the oldest id survives, votes are pooled.
                    let survivor = ids[0];
                    for other in &ids[1..] {
                        if let Some(track) = self.tracks.remove(other) {
                            let survivor_track = self.tracks.entry(survivor).or_default();
                            survivor_track.votes.merge(&track.votes);
                            survivor_track.evidence.extend(track.evidence);
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
            ids.push(id);
        }
        // Observed depth points clip the TSDF's overhang off the boxes
        // (see `evidence`); the overhang is at most the truncation band.
        let max_clip_m = map
            .truncation_distance_m()
            .unwrap_or(4.0 * map.voxel_size_m());
        for (bbox, id) in described.iter_mut().zip(&ids) {
            if let Some(track) = self.tracks.get(id) {
                *bbox = evidence::clip_to_evidence(bbox, &track.evidence, max_clip_m);
            }
        }
        // Descriptions are independent (volume, grasps): in parallel.
        let descriptions: Vec<Result<(ObjectNode, VolumeMeasurement)>> = {
            let this = &*self;
            candidates
                .par_iter()
                .zip(&described)
                .zip(&ids)
                .map(|((cand, bbox), &id)| this.describe(id, cand, bbox, pts, nrm, map, timestamp))
                .collect()
        };
        let mut kept = BTreeSet::new();
        for ((cand, id), description) in candidates.iter().zip(ids).zip(descriptions) {
            let (node, measurement) = description?;
            kept.insert(id);
            self.graph.upsert_object(node);
            let stride = (cand.points.len() / self.config.visibility_samples.max(1)).max(1);
            let track = self.tracks.entry(id).or_default();
            track.measurement = measurement;
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
}
