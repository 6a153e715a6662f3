//! The TSDF map: blocks in a spatial hash plus the set of blocks changed since
//! the mesher last looked. The volume only stores data; the
//! [`TsdfIntegrator`](super::TsdfIntegrator) writes it, the raycaster and the
//! [`Mesher`](crate::mesh::Mesher) read it (nvblox layer/integrator split).

use nalgebra::{Point3, Vector3};

use super::block::{
    decode_sdf, encode_sdf_normalized, floor_i32, local_voxel_index, Block, BlockIndex, BlockMap,
    BlockSet, TsdfVoxel, BLOCK_SIZE_VOX, SDF_Q_SCALE, VOXELS_PER_BLOCK,
};
use super::config::TsdfConfig;
use crate::error::Result;

/// A sparse TSDF voxel-block grid.
///
/// Voxel `g = (i, j, k)` (global integer coordinates) has its centre at
/// `(g + 0.5) · voxel_size_m` in the world frame and lives in block
/// `floor(g / 8)`.
#[derive(Clone, Debug)]
pub struct TsdfVolume {
    config: TsdfConfig,
    pub(crate) blocks: BlockMap<Box<Block>>,
    pub(crate) dirty: BlockSet,
}

impl TsdfVolume {
    /// An empty volume. Fails with [`crate::Error::Config`] on an invalid
    /// configuration.
    pub fn new(config: TsdfConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            blocks: BlockMap::default(),
            dirty: BlockSet::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TsdfConfig {
        &self.config
    }

    /// Voxel edge length, metres.
    pub fn voxel_size_m(&self) -> f32 {
        self.config.voxel_size_m
    }

    /// Block edge length (8 voxels), metres.
    pub fn block_size_m(&self) -> f32 {
        self.config.voxel_size_m * BLOCK_SIZE_VOX as f32
    }

    /// Truncation distance μ, metres.
    pub fn truncation_distance_m(&self) -> f32 {
        self.config.truncation_distance_m
    }

    /// Number of allocated blocks.
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// Number of allocated voxels (`512 × block_count`).
    pub fn allocated_voxel_count(&self) -> usize {
        self.blocks.len() * VOXELS_PER_BLOCK
    }

    /// Voxel payload bytes per voxel: 7 (`i16` SDF, `u16` weight, RGB8).
    pub fn bytes_per_voxel(&self) -> usize {
        Block::BYTES_PER_VOXEL
    }

    /// Estimated heap bytes of the map including the hash table and box
    /// headers, divided by the allocated voxels (≈ 7.05 in practice).
    pub fn memory_bytes_per_voxel(&self) -> f64 {
        if self.blocks.is_empty() {
            return Block::BYTES_PER_VOXEL as f64;
        }
        self.memory_bytes() as f64 / self.allocated_voxel_count() as f64
    }

    /// Estimated heap bytes of the map (blocks + hash table slots).
    pub fn memory_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(BlockIndex, Box<Block>)>() + 1;
        self.blocks.len() * std::mem::size_of::<Block>() + self.blocks.capacity() * slot
    }

    /// The block at `index`, if allocated.
    pub fn block(&self, index: &BlockIndex) -> Option<&Block> {
        self.blocks.get(index).map(|b| &**b)
    }

    /// Whether the block at `index` is allocated.
    pub fn contains_block(&self, index: &BlockIndex) -> bool {
        self.blocks.contains_key(index)
    }

    /// Indices of all allocated blocks, sorted.
    pub fn block_indices(&self) -> Vec<BlockIndex> {
        let mut indices: Vec<BlockIndex> = self.blocks.keys().copied().collect();
        indices.sort_unstable();
        indices
    }

    /// Iterates over allocated blocks in unspecified order.
    pub fn blocks(&self) -> impl Iterator<Item = (&BlockIndex, &Block)> {
        self.blocks.iter().map(|(i, b)| (i, &**b))
    }

    /// Global voxel containing world point `p_world` (metres).
    #[inline]
    pub fn voxel_of_point(&self, p_world: &Point3<f32>) -> [i32; 3] {
        let inv = 1.0 / self.config.voxel_size_m;
        [
            (p_world.x * inv).floor() as i32,
            (p_world.y * inv).floor() as i32,
            (p_world.z * inv).floor() as i32,
        ]
    }

    /// Block containing world point `p_world`.
    pub fn block_of_point(&self, p_world: &Point3<f32>) -> BlockIndex {
        BlockIndex::of_voxel(self.voxel_of_point(p_world))
    }

    /// World position of the centre of global voxel `voxel`.
    #[inline]
    pub fn voxel_center_m(&self, voxel: [i32; 3]) -> Point3<f32> {
        let s = self.config.voxel_size_m;
        Point3::new(
            (voxel[0] as f32 + 0.5) * s,
            (voxel[1] as f32 + 0.5) * s,
            (voxel[2] as f32 + 0.5) * s,
        )
    }

    /// The voxel at global index `voxel`, if its block is allocated.
    pub fn voxel(&self, voxel: [i32; 3]) -> Option<TsdfVoxel> {
        let block = self.blocks.get(&BlockIndex::of_voxel(voxel))?;
        let local = local_voxel_index(
            (voxel[0] & 7) as usize,
            (voxel[1] & 7) as usize,
            (voxel[2] & 7) as usize,
        );
        Some(block.voxel(local, self.config.truncation_distance_m))
    }

    /// Trilinearly interpolated SDF (metres) and its gradient at a world
    /// point. `None` unless all 8 surrounding voxels are allocated and
    /// observed.
    pub fn sdf_and_gradient_at(&self, p_world: &Point3<f32>) -> Option<(f32, Vector3<f32>)> {
        let mut cache = VoxelCache::new(self);
        cache.trilinear(p_world).map(|(s, g, _)| (s, g))
    }

    /// Number of blocks changed since the last [`Self::take_dirty_blocks`].
    pub fn dirty_block_count(&self) -> usize {
        self.dirty.len()
    }

    /// Whether block `index` changed since the last [`Self::take_dirty_blocks`].
    pub fn is_dirty(&self, index: &BlockIndex) -> bool {
        self.dirty.contains(index)
    }

    /// Returns (sorted) and clears the set of blocks changed — updated,
    /// allocated or freed — since the last call. The mesher consumes this.
    pub fn take_dirty_blocks(&mut self) -> Vec<BlockIndex> {
        let mut dirty: Vec<BlockIndex> = self.dirty.drain().collect();
        dirty.sort_unstable();
        dirty
    }

    /// Marks every allocated block dirty (e.g. after loading a map).
    pub fn mark_all_dirty(&mut self) {
        let keys: Vec<BlockIndex> = self.blocks.keys().copied().collect();
        self.dirty.extend(keys);
    }

    /// Removes every block (and marks them dirty so meshes drop them).
    pub fn clear(&mut self) {
        let keys: Vec<BlockIndex> = self.blocks.keys().copied().collect();
        self.dirty.extend(keys);
        self.blocks.clear();
    }

    /// Overwrites one voxel (allocating its block and marking it dirty);
    /// the SDF is clamped to ±μ and the weight to `max_weight`. For
    /// synthetic maps and tests — sensors go through the integrator.
    pub fn set_voxel(&mut self, voxel: [i32; 3], value: TsdfVoxel) {
        let index = BlockIndex::of_voxel(voxel);
        let local = local_voxel_index(
            (voxel[0] & 7) as usize,
            (voxel[1] & 7) as usize,
            (voxel[2] & 7) as usize,
        );
        let mu = self.config.truncation_distance_m;
        let max_weight = self.config.max_weight;
        let block = self.blocks.entry(index).or_default();
        block.sdf[local] = encode_sdf_normalized(value.sdf_m / mu);
        block.weight[local] = value.weight.min(max_weight);
        block.color[local] = value.color;
        self.dirty.insert(index);
    }

    /// Inserts a block (map loading).
    pub(crate) fn insert_block(&mut self, index: BlockIndex, block: Box<Block>) {
        self.blocks.insert(index, block);
        self.dirty.insert(index);
    }
}

/// Voxel lookups that remember the last block, so marching along a ray or a
/// grid costs one hash lookup per block instead of per voxel.
pub(crate) struct VoxelCache<'a> {
    volume: &'a TsdfVolume,
    last_index: BlockIndex,
    last_block: Option<&'a Block>,
    inv_voxel_size: f32,
    truncation_m: f32,
}

impl<'a> VoxelCache<'a> {
    pub(crate) fn new(volume: &'a TsdfVolume) -> Self {
        // Start with a sentinel index that no lookup hits before `block` runs.
        let last_index = BlockIndex::new(i32::MIN, i32::MIN, i32::MIN);
        Self {
            volume,
            last_index,
            last_block: volume.blocks.get(&last_index).map(|b| &**b),
            inv_voxel_size: 1.0 / volume.config.voxel_size_m,
            truncation_m: volume.config.truncation_distance_m,
        }
    }

    #[inline]
    pub(crate) fn block(&mut self, index: BlockIndex) -> Option<&'a Block> {
        if index != self.last_index {
            self.last_index = index;
            self.last_block = self.volume.blocks.get(&index).map(|b| &**b);
        }
        self.last_block
    }

    /// Raw (sdf_q, weight) of a global voxel; `None` if its block is absent.
    #[inline]
    pub(crate) fn raw(&mut self, v: [i32; 3]) -> Option<(i16, u16, [u8; 3])> {
        let block = self.block(BlockIndex::of_voxel(v))?;
        let local = local_voxel_index(
            (v[0] & 7) as usize,
            (v[1] & 7) as usize,
            (v[2] & 7) as usize,
        );
        Some((block.sdf[local], block.weight[local], block.color[local]))
    }

    /// Trilinear SDF (metres), its analytic gradient and the nearest-corner
    /// colour at `p`; `None` unless all 8 corners are observed.
    pub(crate) fn trilinear(&mut self, p: &Point3<f32>) -> Option<(f32, Vector3<f32>, [u8; 3])> {
        // Voxel centres sit at (g + 0.5) s, so shift by half a voxel.
        let gx = p.x * self.inv_voxel_size - 0.5;
        let gy = p.y * self.inv_voxel_size - 0.5;
        let gz = p.z * self.inv_voxel_size - 0.5;
        let base = [floor_i32(gx), floor_i32(gy), floor_i32(gz)];
        let (tx, ty, tz) = (
            gx - base[0] as f32,
            gy - base[1] as f32,
            gz - base[2] as f32,
        );
        let mut c = [0.0_f32; 8];
        let mut color = [0_u8; 3];
        let nearest =
            usize::from(tx >= 0.5) | usize::from(ty >= 0.5) << 1 | usize::from(tz >= 0.5) << 2;
        if (base[0] & 7) != 7 && (base[1] & 7) != 7 && (base[2] & 7) != 7 {
            // Fast path: all 8 corners in one block (343 of 512 cells).
            let block = self.block(BlockIndex::of_voxel(base))?;
            let l0 = local_voxel_index(
                (base[0] & 7) as usize,
                (base[1] & 7) as usize,
                (base[2] & 7) as usize,
            );
            for (i, ci) in c.iter_mut().enumerate() {
                let l = l0
                    + (i & 1)
                    + ((i >> 1) & 1) * BLOCK_SIZE_VOX
                    + (i >> 2) * BLOCK_SIZE_VOX * BLOCK_SIZE_VOX;
                if block.weight[l] == 0 {
                    return None;
                }
                *ci = f32::from(block.sdf[l]);
            }
            let l = l0
                + (nearest & 1)
                + ((nearest >> 1) & 1) * BLOCK_SIZE_VOX
                + (nearest >> 2) * BLOCK_SIZE_VOX * BLOCK_SIZE_VOX;
            color = block.color[l];
            let scale = self.truncation_m / SDF_Q_SCALE;
            for ci in c.iter_mut() {
                *ci *= scale;
            }
            return Some(trilinear_value_and_gradient(
                &c,
                tx,
                ty,
                tz,
                self.inv_voxel_size,
                color,
            ));
        }
        for (i, ci) in c.iter_mut().enumerate() {
            let v = [
                base[0] + (i & 1) as i32,
                base[1] + ((i >> 1) & 1) as i32,
                base[2] + ((i >> 2) & 1) as i32,
            ];
            let (s, w, col) = self.raw(v)?;
            if w == 0 {
                return None;
            }
            if i == nearest {
                color = col;
            }
            *ci = decode_sdf(s, self.truncation_m);
        }
        Some(trilinear_value_and_gradient(
            &c,
            tx,
            ty,
            tz,
            self.inv_voxel_size,
            color,
        ))
    }
}

/// Trilinear value and analytic gradient (per metre) of corner values `c`
/// (index bit 0 = +x, bit 1 = +y, bit 2 = +z) at fractions `(tx, ty, tz)`.
#[inline]
fn trilinear_value_and_gradient(
    c: &[f32; 8],
    tx: f32,
    ty: f32,
    tz: f32,
    inv_voxel_size: f32,
    color: [u8; 3],
) -> (f32, Vector3<f32>, [u8; 3]) {
    // Interpolate along x, then y, then z.
    let c00 = c[0] + (c[1] - c[0]) * tx;
    let c10 = c[2] + (c[3] - c[2]) * tx;
    let c01 = c[4] + (c[5] - c[4]) * tx;
    let c11 = c[6] + (c[7] - c[6]) * tx;
    let c0 = c00 + (c10 - c00) * ty;
    let c1 = c01 + (c11 - c01) * ty;
    let value = c0 + (c1 - c0) * tz;
    // Analytic derivative of the trilinear form, per metre.
    let dx0 = (c[1] - c[0]) + ((c[3] - c[2]) - (c[1] - c[0])) * ty;
    let dx1 = (c[5] - c[4]) + ((c[7] - c[6]) - (c[5] - c[4])) * ty;
    let ddx = dx0 + (dx1 - dx0) * tz;
    let dy0 = c10 - c00;
    let dy1 = c11 - c01;
    let ddy = dy0 + (dy1 - dy0) * tz;
    let ddz = c1 - c0;
    let gradient = Vector3::new(ddx, ddy, ddz) * inv_voxel_size;
    (value, gradient, color)
}
