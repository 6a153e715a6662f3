//! Voxel blocks: 8×8×8 voxels stored structure-of-arrays, 7 bytes per voxel,
//! addressed by integer [`BlockIndex`] through a fast spatial hash.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// Voxels along one edge of a block.
pub const BLOCK_SIZE_VOX: usize = 8;
/// Voxels in a block (8³).
pub const VOXELS_PER_BLOCK: usize = BLOCK_SIZE_VOX * BLOCK_SIZE_VOX * BLOCK_SIZE_VOX;

/// Quantised SDF value meaning "+truncation" (free space).
pub(crate) const SDF_Q_MAX: i16 = i16::MAX;
/// Scale from the normalised SDF in [-1, 1] to the stored `i16`.
pub(crate) const SDF_Q_SCALE: f32 = SDF_Q_MAX as f32;

/// Integer coordinates of a block: block `b` covers global voxels
/// `8 b .. 8 b + 7` on each axis, i.e. `[8 b s, 8 (b + 1) s)` metres for a
/// voxel size `s`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct BlockIndex {
    /// x block coordinate.
    pub x: i32,
    /// y block coordinate.
    pub y: i32,
    /// z block coordinate.
    pub z: i32,
}

impl BlockIndex {
    /// Builds a block index.
    pub const fn new(x: i32, y: i32, z: i32) -> Self {
        Self { x, y, z }
    }

    /// The block holding global voxel `voxel` (floor division by 8).
    #[inline]
    pub fn of_voxel(voxel: [i32; 3]) -> Self {
        Self::new(voxel[0] >> 3, voxel[1] >> 3, voxel[2] >> 3)
    }

    /// Global index of the block's first voxel (`8 × self`).
    #[inline]
    pub fn first_voxel(&self) -> [i32; 3] {
        [self.x * 8, self.y * 8, self.z * 8]
    }

    /// The block offset by `(dx, dy, dz)`.
    #[inline]
    pub fn offset(&self, dx: i32, dy: i32, dz: i32) -> Self {
        Self::new(self.x + dx, self.y + dy, self.z + dz)
    }

    /// Coordinates as an array.
    #[inline]
    pub fn to_array(self) -> [i32; 3] {
        [self.x, self.y, self.z]
    }
}

impl Hash for BlockIndex {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Pack 3 × 21 bits; the hasher's finaliser mixes them, so aliasing of
        // far-apart blocks only costs a collision, never a wrong lookup.
        let packed = (u64::from(self.x as u32) & 0x1F_FFFF) << 42
            | (u64::from(self.y as u32) & 0x1F_FFFF) << 21
            | (u64::from(self.z as u32) & 0x1F_FFFF);
        state.write_u64(packed);
    }
}

/// A fast non-cryptographic hasher for block indices: one multiply–xorshift
/// finaliser (MurmurHash3 `fmix64`) over the packed coordinates, so both the
/// low bits (bucket) and high bits (hashbrown tag) are well mixed.
#[derive(Clone, Copy, Debug, Default)]
pub struct BlockHasher(u64);

impl Hasher for BlockHasher {
    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(29) ^ value).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
}

/// `BuildHasher` for [`BlockHasher`].
pub type BuildBlockHasher = BuildHasherDefault<BlockHasher>;
/// Hash map keyed by block index.
pub type BlockMap<V> = HashMap<BlockIndex, V, BuildBlockHasher>;
/// Hash set of block indices.
pub type BlockSet = HashSet<BlockIndex, BuildBlockHasher>;

/// `floor(x) as i32` without the libm call (x86-64 baseline has no SSE4.1
/// `roundps`, so `f32::floor` is a function call in hot loops).
#[inline(always)]
pub(crate) fn floor_i32(x: f32) -> i32 {
    let i = x as i32;
    i - i32::from((i as f32) > x)
}

/// `x.round() as i32` (half away from zero, bit-identical for
/// `|x| < 2³¹`) without the libm call: `x − trunc(x)` is exact in f32.
#[inline(always)]
pub(crate) fn round_i32(x: f32) -> i32 {
    let i = x as i32;
    let fraction = x - i as f32;
    i + i32::from(fraction >= 0.5) - i32::from(fraction <= -0.5)
}

/// Linear index of a voxel inside its block: `x + 8 y + 64 z`.
#[inline]
pub fn local_voxel_index(x: usize, y: usize, z: usize) -> usize {
    x + BLOCK_SIZE_VOX * (y + BLOCK_SIZE_VOX * z)
}

/// One decoded voxel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TsdfVoxel {
    /// Truncated signed distance, metres, in `[-μ, μ]` (positive in front of
    /// the surface, towards the camera).
    pub sdf_m: f32,
    /// Number of fused observations, capped at `max_weight` (0 = never seen).
    pub weight: u16,
    /// Fused colour.
    pub color: [u8; 3],
}

/// 8×8×8 voxels, structure-of-arrays: the SDF as `i16` normalised by the
/// truncation distance (resolution μ / 32767, e.g. 2.4 µm for μ = 8 cm), an
/// integer weight and RGB8 colour — 7 bytes per voxel. The marcher of the
/// raycaster and the mesher read only `sdf` (and `weight`), which SoA keeps
/// dense in cache.
#[derive(Clone, PartialEq, Eq)]
pub struct Block {
    pub(crate) sdf: [i16; VOXELS_PER_BLOCK],
    pub(crate) weight: [u16; VOXELS_PER_BLOCK],
    pub(crate) color: [[u8; 3]; VOXELS_PER_BLOCK],
}

impl Default for Block {
    fn default() -> Self {
        Self {
            sdf: [SDF_Q_MAX; VOXELS_PER_BLOCK],
            weight: [0; VOXELS_PER_BLOCK],
            color: [[0; 3]; VOXELS_PER_BLOCK],
        }
    }
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let observed = self.weight.iter().filter(|&&w| w > 0).count();
        write!(f, "Block {{ observed_voxels: {observed} }}")
    }
}

impl Block {
    /// Bytes of voxel payload per voxel (7).
    pub const BYTES_PER_VOXEL: usize = std::mem::size_of::<Block>() / VOXELS_PER_BLOCK;

    /// Decodes voxel `local` (see [`local_voxel_index`]) with truncation μ.
    #[inline]
    pub fn voxel(&self, local: usize, truncation_distance_m: f32) -> TsdfVoxel {
        TsdfVoxel {
            sdf_m: decode_sdf(self.sdf[local], truncation_distance_m),
            weight: self.weight[local],
            color: self.color[local],
        }
    }

    /// Raw normalised SDF values (`i16::MAX` = +μ), indexed by
    /// [`local_voxel_index`].
    pub fn sdf_raw(&self) -> &[i16; VOXELS_PER_BLOCK] {
        &self.sdf
    }

    /// Raw weights, indexed by [`local_voxel_index`].
    pub fn weights(&self) -> &[u16; VOXELS_PER_BLOCK] {
        &self.weight
    }

    /// Colours, indexed by [`local_voxel_index`].
    pub fn colors(&self) -> &[[u8; 3]; VOXELS_PER_BLOCK] {
        &self.color
    }

    /// Number of voxels with a non-zero weight.
    pub fn observed_voxel_count(&self) -> usize {
        self.weight.iter().filter(|&&w| w > 0).count()
    }
}

/// Normalised SDF in [-1, 1] → stored `i16` (round to nearest).
#[inline]
pub(crate) fn encode_sdf_normalized(sdf_normalized: f32) -> i16 {
    round_i32(sdf_normalized.clamp(-1.0, 1.0) * SDF_Q_SCALE) as i16
}

/// Stored `i16` → SDF in metres.
#[inline]
pub(crate) fn decode_sdf(q: i16, truncation_distance_m: f32) -> f32 {
    f32::from(q) * (truncation_distance_m / SDF_Q_SCALE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Oracle: `f32::round` on halves, their neighbours and a sweep.
    #[test]
    fn round_i32_matches_std_round() {
        let mut values = vec![
            0.0_f32, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 32767.0, -32767.0,
        ];
        for k in -40..=40 {
            let half = k as f32 + 0.5;
            values.extend([half, half.next_up(), half.next_down()]);
        }
        values.extend((0..20_000).map(|i| (i as f32 - 10_000.0) * 3.2767));
        values.push(0.5_f32.next_down());
        for x in values {
            assert_eq!(round_i32(x), x.round() as i32, "{x}");
        }
    }
    use std::hash::BuildHasher;

    #[test]
    fn storage_is_at_most_8_bytes_per_voxel() {
        assert_eq!(Block::BYTES_PER_VOXEL, 7);
        assert_eq!(std::mem::size_of::<Block>(), 7 * VOXELS_PER_BLOCK);
    }

    #[test]
    fn block_of_negative_voxels_floors() {
        assert_eq!(BlockIndex::of_voxel([-1, 0, 7]), BlockIndex::new(-1, 0, 0));
        assert_eq!(
            BlockIndex::of_voxel([-8, -9, 8]),
            BlockIndex::new(-1, -2, 1)
        );
    }

    #[test]
    fn quantisation_round_trip_error_is_half_a_step() {
        let mu = 0.08_f32;
        for i in -1000..=1000 {
            let s = i as f32 / 1000.0 * mu;
            let back = decode_sdf(encode_sdf_normalized(s / mu), mu);
            assert!((back - s).abs() <= 0.5 * mu / SDF_Q_SCALE + 1e-7);
        }
    }

    #[test]
    fn hasher_spreads_neighbouring_blocks_over_buckets() {
        // Oracle: 32³ neighbouring blocks into 4096 buckets (low 12 bits) must
        // fill nearly all buckets and no bucket may hold more than a handful.
        let build = BuildBlockHasher::default();
        let mut counts = vec![0_u32; 4096];
        for x in -16..16 {
            for y in -16..16 {
                for z in -16..16 {
                    let h = build.hash_one(BlockIndex::new(x, y, z));
                    counts[(h & 4095) as usize] += 1;
                }
            }
        }
        let max = counts.iter().copied().max().unwrap();
        let empty = counts.iter().filter(|&&c| c == 0).count();
        // 8 keys per bucket on average; a uniform hash gives max ≈ 20, empty ≈ 1.
        assert!(max <= 24, "max bucket load {max}");
        assert!(empty <= 8, "{empty} empty buckets");
    }
}
