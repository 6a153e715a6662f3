//! Per-object description: enclosed volume (TSDF voxels, or a panel shell
//! for thin-walled classes), mass and friction from the class prior, grasp
//! candidates.

use nalgebra::{Point3, Vector3};

use crate::error::Result;
use crate::scene_graph::grasp::{antipodal_grasps, ObjectMapOccupancy, GRASP_MAP_UNCERTAINTY_VOX};
use crate::scene_graph::map_query::{enclosed_volume_m3, MapQuery};
use crate::scene_graph::physics::{estimate_mass, LogNormal, MaterialPrior};
use crate::scene_graph::{GravityAlignedBox, NodeId, ObjectNode};
use crate::sensor::Timestamp;

use super::discovery::{inside_footprint, Candidate};
use super::SceneGraphBuilder;

/// Relative (log) uncertainty of the observed surface area as a measure of
/// a panel object's material. Between "both faces of every panel seen"
/// (material = A/2 · t) and "one face seen" (A · t) the shell model takes
/// the geometric middle A/√2 · t; 0.35 (a factor 1.8 at the 90 % bounds)
/// covers that factor 2 and the area of edges.
const SHELL_AREA_SIGMA_LOG: f64 = 0.35;

/// What the map says about the amount of material of an object, kept per
/// track so that a relabelled object's mass can be re-derived.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct VolumeMeasurement {
    /// Occupied voxels plus the hidden interior they enclose, m³ (children
    /// resting on the object's patches subtracted).
    pub(super) enclosed_m3: f64,
    /// Log uncertainty of `enclosed_m3` (half a voxel of surface error over
    /// the box's surface).
    pub(super) enclosed_sigma_log: f64,
    /// Observed surface area of the object, m² (each seen face of a panel
    /// counts).
    pub(super) surface_area_m2: f64,
}

impl VolumeMeasurement {
    /// Material volume and mass for a class prior.
    ///
    /// The voxel count misses panels thinner than about two voxels (a 2 cm
    /// shelf board at 2 cm voxels leaves few voxels with a negative SDF), so
    /// for classes with a panel-thickness prior the volume is at least the
    /// shell estimate `A / √2 · t` — the observed panel area (each panel
    /// seen from one or both sides) times the panel thickness prior — with
    /// the uncertainties of area and thickness combined in log space.
    pub(super) fn volume_and_mass(&self, prior: &MaterialPrior) -> (f64, LogNormal) {
        let voxels = LogNormal {
            median: self.enclosed_m3.max(1e-9),
            sigma_log: self.enclosed_sigma_log,
        };
        let volume = match &prior.panel_thickness_m {
            Some(thickness) => {
                let shell = LogNormal {
                    median: (std::f64::consts::FRAC_1_SQRT_2 * self.surface_area_m2).max(1e-12),
                    sigma_log: SHELL_AREA_SIGMA_LOG,
                }
                .mul(thickness);
                if shell.median > voxels.median {
                    shell
                } else {
                    voxels
                }
            }
            None => voxels,
        };
        let mass = estimate_mass(volume.median, volume.sigma_log, prior);
        let volume_m3 = if volume.median <= 1e-9 {
            self.enclosed_m3
        } else {
            volume.median
        };
        (volume_m3, mass)
    }
}

/// Surface area represented by marching-cubes vertices: the mesher puts one
/// vertex on every voxel edge the surface crosses, and a surface of unit
/// normal `n` crosses `|n_x| + |n_y| + |n_z|` edges per voxel face area, so
/// each vertex stands for `v² / ‖n‖₁` of surface (normals in the map's
/// world frame, whose axes the voxel edges follow).
pub(super) fn mesh_surface_area_m2(
    world_normals: impl Iterator<Item = Vector3<f64>>,
    voxel_size_m: f64,
) -> f64 {
    world_normals
        .map(|n| {
            let l1 = n.x.abs() + n.y.abs() + n.z.abs();
            // ‖n‖₁ ∈ [1, √3] for a unit normal.
            voxel_size_m * voxel_size_m / l1.max(1.0)
        })
        .sum()
}

impl SceneGraphBuilder {
    /// Describes a candidate: returns the object node (class from the
    /// track's votes) and its volume measurement.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn describe(
        &self,
        id: NodeId,
        cand: &Candidate,
        bbox: &GravityAlignedBox,
        pts: &[Point3<f32>],
        nrm: &[Vector3<f32>],
        map: &(impl MapQuery + ?Sized),
        timestamp: Timestamp,
    ) -> Result<(ObjectNode, VolumeMeasurement)> {
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
        let enclosed = (enclosed_volume_m3(map, &min, &max, |p| {
            inside_footprint(bbox, &Point3::new(p.x as f32, p.y as f32, 0.0))
        }) - cand.children_volume_m3)
            .max(0.0);
        let v = map.voxel_size_m();
        let h = bbox.half_extents_m;
        let box_area = 8.0 * (h.x * h.y + h.y * h.z + h.x * h.z);
        let world_from_gravity = self.gravity_from_world.rotation.inverse();
        let measurement = VolumeMeasurement {
            enclosed_m3: enclosed,
            enclosed_sigma_log: if enclosed > 0.0 {
                (0.5 * v * box_area / enclosed).clamp(0.05, 1.0)
            } else {
                1.0
            },
            surface_area_m2: mesh_surface_area_m2(
                cand.points
                    .iter()
                    .map(|&i| world_from_gravity * nrm[i].cast::<f64>()),
                v,
            ),
        };
        let prior = self.priors.get(&class_name);
        let (volume_m3, mass_kg) = measurement.volume_and_mass(prior);
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
            &ObjectMapOccupancy::new(
                map,
                cand.points.iter().map(|&i| pts[i].cast()),
                GRASP_MAP_UNCERTAINTY_VOX * v,
            ),
        )?;
        let node = ObjectNode {
            id,
            class_name,
            class_confidence,
            bounding_box: *bbox,
            centroid_m: Point3::from(centroid),
            volume_m3,
            mass_kg,
            friction: prior.friction,
            support: None,
            observation_count: previous.map_or(0, |o| o.observation_count),
            first_seen: previous.map_or(timestamp, |o| o.first_seen),
            last_seen: previous.map_or(timestamp, |o| o.last_seen),
            grasps,
        };
        Ok((node, measurement))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vertex_area_of_an_oblique_plane_matches_its_area() {
        // A plane crossing a voxel grid: count crossed edges by brute force.
        let v = 0.01;
        let n = Vector3::new(0.3_f64, 0.5, 0.81).normalize();
        let d = 0.805;
        let cells = 100; // a 1 m cube
        let mut crossed = 0_usize;
        for i in 0..cells {
            for j in 0..cells {
                for k in 0..cells {
                    let p = Vector3::new(i as f64, j as f64, k as f64) * v;
                    let s0 = n.dot(&p) - d;
                    for axis in 0..3 {
                        let mut q = p;
                        q[axis] += v;
                        if (s0 < 0.0) != (n.dot(&q) - d < 0.0) {
                            crossed += 1;
                        }
                    }
                }
            }
        }
        let area = mesh_surface_area_m2(std::iter::repeat_n(n, crossed), v);
        // The plane n·p = d clipped to the unit cube: area of its polygon
        // = its projection onto z divided by n_z (plane reaches the whole
        // xy square: 0 <= (d - n_x x - n_y y) / n_z <= 1 for x, y in [0, 1]).
        let truth = 1.0 / n.z; // n_x + n_y <= d <= n_z: it spans the square
        assert!((area / truth - 1.0).abs() < 0.03, "area {area} vs {truth}");
    }

    #[test]
    fn shell_floor_applies_only_to_panel_classes() {
        let priors = crate::scene_graph::physics::MaterialPriors::embedded().unwrap();
        let m = VolumeMeasurement {
            enclosed_m3: 0.01,
            enclosed_sigma_log: 0.2,
            surface_area_m2: 4.0,
        };
        let shelf = priors.get("shelf");
        let t = shelf.panel_thickness_m.unwrap();
        let (v, mass) = m.volume_and_mass(shelf);
        assert!((v - 4.0 * std::f64::consts::FRAC_1_SQRT_2 * t.median).abs() < 1e-12);
        assert!(mass.sigma_log > SHELL_AREA_SIGMA_LOG);
        let (v, _) = m.volume_and_mass(priors.get("box"));
        assert_eq!(v, 0.01);
    }
}
