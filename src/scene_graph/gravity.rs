//! The gravity frame of the scene graph: z up, whatever the map's world
//! frame is. A SLAM world frame is the first camera's (TUM mocap frames are
//! not z up either); the scene graph needs gravity to find support planes,
//! so it works in `gravity` coordinates, `gravity_from_world` away.

use nalgebra::{Isometry3, Point3, UnitQuaternion, Vector3};

use crate::error::{Error, Result};
use crate::scene_graph::map_query::MapQuery;

/// The rotation (no translation) taking `up_world` — the direction opposite
/// to gravity, in world coordinates — to `+z`: the smallest rotation, so a
/// world frame that is already z up maps to the identity.
pub fn gravity_from_world_for_up(up_world: &Vector3<f64>) -> Result<Isometry3<f64>> {
    let up = up_world.try_normalize(1e-9).ok_or_else(|| {
        Error::InvalidArgument(format!("up vector {up_world:?} has no direction"))
    })?;
    let rotation = UnitQuaternion::rotation_between(&up, &Vector3::z()).unwrap_or_else(|| {
        // Antiparallel (up = −z): any half turn about a horizontal axis.
        UnitQuaternion::from_axis_angle(&Vector3::x_axis(), std::f64::consts::PI)
    });
    Ok(Isometry3::from_parts(
        nalgebra::Translation3::identity(),
        rotation,
    ))
}

/// A [`MapQuery`] seen in the gravity frame: queries in gravity coordinates
/// are answered by the world-frame map at `world_from_gravity * p`.
pub struct GravityFrameMap<'a, M: MapQuery + ?Sized> {
    /// The world-frame map.
    pub map: &'a M,
    /// Gravity frame → world frame.
    pub world_from_gravity: Isometry3<f64>,
}

impl<M: MapQuery + ?Sized> MapQuery for GravityFrameMap<'_, M> {
    fn voxel_size_m(&self) -> f64 {
        self.map.voxel_size_m()
    }

    fn truncation_distance_m(&self) -> Option<f64> {
        self.map.truncation_distance_m()
    }

    fn sdf_at(&self, point_m: &Point3<f64>) -> Option<(f32, f32)> {
        self.map.sdf_at(&(self.world_from_gravity * point_m))
    }

    fn sdf_interpolated_at(&self, point_m: &Point3<f64>) -> Option<(f32, f32)> {
        self.map
            .sdf_interpolated_at(&(self.world_from_gravity * point_m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_maps_to_z() {
        for up in [
            Vector3::new(0.0, -1.0, 0.0),
            Vector3::new(0.3, 0.2, 0.9),
            Vector3::new(0.0, 0.0, -2.0),
            Vector3::z(),
        ] {
            let gravity_from_world = gravity_from_world_for_up(&up).unwrap();
            let z = gravity_from_world * up.normalize();
            assert!((z - Vector3::z()).norm() < 1e-12, "{up:?} -> {z:?}");
        }
        assert_eq!(
            gravity_from_world_for_up(&Vector3::z()).unwrap(),
            Isometry3::identity()
        );
        assert!(gravity_from_world_for_up(&Vector3::zeros()).is_err());
    }

    #[test]
    fn gravity_map_queries_the_world_point() {
        struct Plane;
        impl MapQuery for Plane {
            fn voxel_size_m(&self) -> f64 {
                0.01
            }
            // World frame y down: the floor is y = 1, free space at y < 1.
            fn sdf_at(&self, p: &Point3<f64>) -> Option<(f32, f32)> {
                Some(((1.0 - p.y) as f32, 1.0))
            }
        }
        let gravity_from_world = gravity_from_world_for_up(&-Vector3::y()).unwrap();
        let map = GravityFrameMap {
            map: &Plane,
            world_from_gravity: gravity_from_world.inverse(),
        };
        // In the gravity frame the floor is z = -1, 0.5 m above it is +0.5.
        let (sdf, _) = map.sdf_at(&Point3::new(0.2, 0.3, -0.5)).unwrap();
        assert!((sdf - 0.5).abs() < 1e-6);
    }
}
