//! Dense mapping: a truncated signed distance field (TSDF) on a sparse grid
//! of 8×8×8 voxel blocks (voxel hashing, Nießner et al. 2013), fused from
//! RGB-D frames (Curless & Levoy 1996; KinectFusion, Newcombe et al. 2011).
//!
//! As in nvblox, the map data ([`TsdfVolume`]) is separate from the
//! [`TsdfIntegrator`] that writes it, the [`Raycaster`] that renders it and
//! the [`Mesher`](crate::mesh::Mesher) that reads the blocks marked dirty.
//!
//! ```no_run
//! # fn main() -> scenemap::Result<()> {
//! use scenemap::tsdf::{TsdfConfig, TsdfIntegrator, TsdfVolume, Raycaster};
//! use scenemap::mesh::Mesher;
//! # let (frame, camera, world_from_camera): (scenemap::RgbdFrame, scenemap::PinholeCamera, nalgebra::Isometry3<f64>) = unimplemented!();
//! let mut volume = TsdfVolume::new(TsdfConfig::for_voxel_size_m(0.02))?;
//! let mut integrator = TsdfIntegrator::new();
//! let stats = integrator.integrate(&mut volume, &frame, &camera, &world_from_camera)?;
//! let model_view = Raycaster::new().render(&volume, &camera, &world_from_camera)?;
//! let mut mesher = Mesher::new();
//! mesher.update(&mut volume); // re-meshes only dirty blocks
//! let mesh = mesher.mesh();
//! volume.save("map.tsdf")?;
//! # Ok(()) }
//! ```

mod allocation;
mod block;
mod camera_tables;
pub(crate) use camera_tables::CameraTableCache;
mod config;
mod integrator;
mod map_file;
mod range_image;
mod raycast;
mod volume;

pub use block::{
    local_voxel_index, Block, BlockHasher, BlockIndex, BlockMap, BlockSet, BuildBlockHasher,
    TsdfVoxel, BLOCK_SIZE_VOX, VOXELS_PER_BLOCK,
};
pub use config::TsdfConfig;
pub use integrator::{IntegrationStats, TsdfIntegrator};
pub use map_file::{MAP_FILE_MAGIC, MAP_FORMAT_VERSION};
pub use raycast::{raycast, RaycastImage, Raycaster, HINT_MARGIN_TRUNCATIONS};
pub use volume::TsdfVolume;
