//! Surface extraction from the TSDF: incremental marching cubes over voxel
//! blocks ([`Mesher`]), the case tables ([`tables`]) and PLY export.

mod mesher;
mod ply;
pub mod tables;

use nalgebra::{Point3, Vector3};

pub use mesher::{mesh_volume, BlockMesh, MeshUpdateStats, Mesher};
pub use ply::PlyFormat;

/// A triangle mesh, structure-of-arrays (goes straight to Rerun or PLY).
///
/// Coordinates are in the world frame, metres. Triangles wind
/// counter-clockwise seen from free space, consistent with the normals
/// (unit SDF gradient).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mesh {
    /// Vertex positions, metres.
    pub vertices: Vec<Point3<f32>>,
    /// Unit vertex normals (zero where the gradient vanished).
    pub normals: Vec<Vector3<f32>>,
    /// Vertex colours, RGB8.
    pub colors: Vec<[u8; 3]>,
    /// Vertex-index triples.
    pub triangles: Vec<[u32; 3]>,
}

impl Mesh {
    /// Number of vertices.
    pub fn vertex_count(&self) -> usize {
        self.vertices.len()
    }

    /// Number of triangles.
    pub fn triangle_count(&self) -> usize {
        self.triangles.len()
    }

    /// Whether the mesh has no triangles.
    pub fn is_empty(&self) -> bool {
        self.triangles.is_empty()
    }
}
