//! What the scene graph needs from the dense map, as a trait so the graph
//! does not depend on the map's storage.

use nalgebra::{Point3, Vector3};

use crate::mesh::Mesh;
use crate::scene_graph::grasp::OccupancyQuery;
use crate::tsdf::TsdfVolume;

/// Read access to a signed-distance map.
pub trait MapQuery: Sync {
    /// Voxel edge length, m.
    fn voxel_size_m(&self) -> f64;

    /// Signed distance (m, positive in free space) and fusion weight of the
    /// voxel containing `point_m`; `None` where nothing was observed.
    fn sdf_at(&self, point_m: &Point3<f64>) -> Option<(f32, f32)>;

    /// Truncation distance μ of the signed distance, m, if the map has one
    /// (surfaces of a projective TSDF can stick out past unseen edges by
    /// up to μ); defaults to `None`.
    fn truncation_distance_m(&self) -> Option<f64> {
        None
    }

    /// Like [`Self::sdf_at`] but interpolated between voxels where the map
    /// can (sub-voxel clearance tests); defaults to [`Self::sdf_at`].
    fn sdf_interpolated_at(&self, point_m: &Point3<f64>) -> Option<(f32, f32)> {
        self.sdf_at(point_m)
    }
}

/// [`MapQuery::sdf_at`] is the voxel containing the point (the scene graph
/// counts voxels); [`MapQuery::sdf_interpolated_at`] is trilinear where the
/// 8 surrounding voxels are observed, else that voxel. Unallocated blocks
/// and voxels of weight 0 are unobserved (`None`).
impl MapQuery for TsdfVolume {
    fn voxel_size_m(&self) -> f64 {
        f64::from(TsdfVolume::voxel_size_m(self))
    }

    fn truncation_distance_m(&self) -> Option<f64> {
        Some(f64::from(TsdfVolume::truncation_distance_m(self)))
    }

    fn sdf_at(&self, point_m: &Point3<f64>) -> Option<(f32, f32)> {
        let voxel = self.voxel(self.voxel_of_point(&point_m.cast::<f32>()))?;
        (voxel.weight > 0).then_some((voxel.sdf_m, f32::from(voxel.weight)))
    }

    fn sdf_interpolated_at(&self, point_m: &Point3<f64>) -> Option<(f32, f32)> {
        let p = point_m.cast::<f32>();
        let voxel = self.voxel(self.voxel_of_point(&p))?;
        if voxel.weight == 0 {
            return None;
        }
        let sdf = self
            .sdf_and_gradient_at(&p)
            .map_or(voxel.sdf_m, |(sdf, _)| sdf);
        Some((sdf, f32::from(voxel.weight)))
    }
}

/// Surface samples of the map (e.g. mesh vertices) with outward normals.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SurfaceSamples {
    /// Points, world frame, m.
    pub points_m: Vec<Point3<f32>>,
    /// Unit normals pointing into free space.
    pub normals: Vec<Vector3<f32>>,
}

impl SurfaceSamples {
    /// The vertices of a TSDF mesh with their normals. The mesher's normals
    /// are the normalised SDF gradient, which points from the inside
    /// (negative) towards free space (positive) — the orientation the scene
    /// graph needs; vertices whose gradient vanished (zero or non-finite
    /// normal) are dropped.
    pub fn from_mesh(mesh: &Mesh) -> Self {
        let mut samples = Self::default();
        for (p, n) in mesh.vertices.iter().zip(&mesh.normals) {
            let norm = n.norm();
            if !(norm > 0.5 && norm.is_finite() && p.coords.iter().all(|c| c.is_finite())) {
                continue;
            }
            samples.points_m.push(*p);
            samples.normals.push(n / norm);
        }
        samples
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.points_m.len().min(self.normals.len())
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// At most one sample per cubic cell of `cell_m` (the first one met),
    /// for faster scene-graph updates on dense meshes. `cell_m <= 0`
    /// returns a copy.
    pub fn subsampled(&self, cell_m: f32) -> Self {
        if cell_m.is_nan() || cell_m <= 0.0 {
            return self.clone();
        }
        let inv = 1.0 / cell_m;
        let mut seen = std::collections::HashSet::with_capacity(self.len());
        let mut out = Self::default();
        for (p, n) in self.points_m.iter().zip(&self.normals) {
            let key = (
                (p.x * inv).floor() as i32,
                (p.y * inv).floor() as i32,
                (p.z * inv).floor() as i32,
            );
            if seen.insert(key) {
                out.points_m.push(*p);
                out.normals.push(*n);
            }
        }
        out
    }
}

/// Adapts a [`MapQuery`] to the grasp planner's occupancy question: free
/// means observed and farther than `radius_m` from any surface; unobserved
/// space counts as occupied (a gripper must not move through the unknown).
pub struct MapOccupancy<'a, M: MapQuery + ?Sized>(pub &'a M);

impl<M: MapQuery + ?Sized> OccupancyQuery for MapOccupancy<'_, M> {
    fn is_free(&self, point_m: &Point3<f64>, radius_m: f64) -> bool {
        match self.0.sdf_interpolated_at(point_m) {
            Some((sdf, weight)) => weight > 0.0 && f64::from(sdf) > radius_m,
            None => false,
        }
    }
}

/// Volume enclosed by an object inside an axis-aligned region: voxels whose
/// observed signed distance is negative, plus unobserved voxels enclosed
/// between occupied ones in the same vertical column (the hidden interior of
/// a solid object is never observed, yet it is part of it; the observed free
/// space under a table top or a chair seat is not).
///
/// `belongs` restricts the count to the object's own footprint.
pub fn enclosed_volume_m3(
    map: &(impl MapQuery + ?Sized),
    min_m: &Point3<f64>,
    max_m: &Point3<f64>,
    belongs: impl Fn(&Point3<f64>) -> bool,
) -> f64 {
    let v = map.voxel_size_m();
    if v <= 0.0 {
        return 0.0;
    }
    let nx = ((max_m.x - min_m.x) / v).ceil().max(0.0) as usize;
    let ny = ((max_m.y - min_m.y) / v).ceil().max(0.0) as usize;
    let nz = ((max_m.z - min_m.z) / v).ceil().max(0.0) as usize;
    let mut count = 0_usize;
    let mut column = Vec::with_capacity(nz);
    for i in 0..nx {
        for j in 0..ny {
            let x = min_m.x + (i as f64 + 0.5) * v;
            let y = min_m.y + (j as f64 + 0.5) * v;
            if !belongs(&Point3::new(x, y, min_m.z)) {
                continue;
            }
            column.clear();
            // Per voxel: Some(true) occupied, Some(false) observed free, None unknown.
            for k in 0..nz {
                let p = Point3::new(x, y, min_m.z + (k as f64 + 0.5) * v);
                column.push(match map.sdf_at(&p) {
                    Some((sdf, w)) if w > 0.0 => Some(sdf < 0.0),
                    _ => None,
                });
            }
            count += count_enclosed(&column);
        }
    }
    count as f64 * v * v * v
}

/// Occupied voxels plus unknown runs bounded by occupied voxels on both
/// sides (or by an occupied voxel above and the region floor below).
fn count_enclosed(column: &[Option<bool>]) -> usize {
    let mut count = 0;
    let mut pending_unknown = 0;
    let mut below_is_solid = true; // the region's bottom rests on the support
    for cell in column {
        match cell {
            Some(true) => {
                if below_is_solid {
                    count += pending_unknown;
                }
                pending_unknown = 0;
                count += 1;
                below_is_solid = true;
            }
            Some(false) => {
                pending_unknown = 0;
                below_is_solid = false;
            }
            None => pending_unknown += 1,
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A solid sphere observed only in a shell of ±3 voxels around its
    /// surface (as a TSDF sees it): interior unknown, exterior free.
    struct ShellSphere {
        center: Point3<f64>,
        radius: f64,
        voxel: f64,
    }

    impl MapQuery for ShellSphere {
        fn voxel_size_m(&self) -> f64 {
            self.voxel
        }
        fn sdf_at(&self, p: &Point3<f64>) -> Option<(f32, f32)> {
            // Snap to the voxel centre like a voxel grid.
            let snap = |c: f64| ((c / self.voxel).floor() + 0.5) * self.voxel;
            let q = Point3::new(snap(p.x), snap(p.y), snap(p.z));
            let d = (q - self.center).norm() - self.radius;
            (d > -3.0 * self.voxel).then_some((d as f32, 1.0))
        }
    }

    #[test]
    fn hidden_interior_counts_as_volume() {
        let sphere = ShellSphere {
            center: Point3::new(0.0, 0.0, 0.3),
            radius: 0.2,
            voxel: 0.01,
        };
        let v = enclosed_volume_m3(
            &sphere,
            &Point3::new(-0.3, -0.3, 0.0),
            &Point3::new(0.3, 0.3, 0.6),
            |_| true,
        );
        let truth = 4.0 / 3.0 * std::f64::consts::PI * 0.2_f64.powi(3);
        assert!((v / truth - 1.0).abs() < 0.05, "volume {v} vs {truth}");
    }

    #[test]
    fn column_rules() {
        use Some as S;
        // unknown above free space is not enclosed; between solids it is.
        assert_eq!(
            count_enclosed(&[S(false), None, S(true), None, None, S(true), S(false)]),
            4
        );
        assert_eq!(
            count_enclosed(&[None, None, S(true)]),
            3,
            "rests on the support"
        );
        assert_eq!(count_enclosed(&[S(false), None, None]), 0);
    }

    #[test]
    fn occupancy_treats_unknown_as_blocked() {
        let sphere = ShellSphere {
            center: Point3::origin(),
            radius: 0.1,
            voxel: 0.01,
        };
        let occ = MapOccupancy(&sphere);
        assert!(occ.is_free(&Point3::new(0.15, 0.0, 0.0), 0.02));
        assert!(!occ.is_free(&Point3::new(0.105, 0.0, 0.0), 0.02));
        assert!(
            !occ.is_free(&Point3::new(0.0, 0.0, 0.0), 0.0),
            "interior unknown"
        );
    }
}
