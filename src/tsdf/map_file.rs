//! Versioned binary map files.
//!
//! Layout (all little-endian), format version 1:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `SCNMTSDF` |
//! | 4 | format version `u32` |
//! | 4 | `voxel_size_m` `f32` |
//! | 4 | `truncation_distance_m` `f32` |
//! | 2 | `max_weight` `u16` |
//! | 2 | reserved, zero |
//! | 4 | `min_integration_depth_m` `f32` |
//! | 4 | `max_integration_depth_m` `f32` |
//! | 8 | block count `u64` |
//! | 3596 × count | blocks sorted by index: `x y z` `i32`, 512 SDF `i16` (normalised by μ), 512 weights `u16`, 512 RGB8 |
//! | 8 | FNV-1a-64 of every byte before it |
//!
//! Loading validates length, checksum and every value before building the
//! volume, so a bad file yields [`Error::Format`] and never a half-built map.

use std::path::Path;

use super::block::{Block, BlockIndex, BlockSet, VOXELS_PER_BLOCK};
use super::config::TsdfConfig;
use super::volume::TsdfVolume;
use crate::error::{Error, Result};

/// First 8 bytes of a map file.
pub const MAP_FILE_MAGIC: [u8; 8] = *b"SCNMTSDF";
/// Map file format version written by this build (the only one it reads).
pub const MAP_FORMAT_VERSION: u32 = 1;

const HEADER_BYTES: usize = 8 + 4 + 4 + 4 + 2 + 2 + 4 + 4 + 8;
const BLOCK_BYTES: usize = 12 + VOXELS_PER_BLOCK * (2 + 2 + 3);
const CHECKSUM_BYTES: usize = 8;

/// FNV-1a, 64 bit (Fowler, Noll, Vo; IETF draft-eastlake-fnv).
fn fnv1a_64(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

impl TsdfVolume {
    /// Serialises the map (format above). Deterministic: blocks are sorted,
    /// so equal maps give equal bytes.
    pub fn to_map_bytes(&self) -> Vec<u8> {
        let c = self.config();
        let mut out = Vec::with_capacity(HEADER_BYTES + self.block_count() * BLOCK_BYTES + 8);
        out.extend_from_slice(&MAP_FILE_MAGIC);
        out.extend_from_slice(&MAP_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&c.voxel_size_m.to_le_bytes());
        out.extend_from_slice(&c.truncation_distance_m.to_le_bytes());
        out.extend_from_slice(&c.max_weight.to_le_bytes());
        out.extend_from_slice(&0_u16.to_le_bytes());
        out.extend_from_slice(&c.min_integration_depth_m.to_le_bytes());
        out.extend_from_slice(&c.max_integration_depth_m.to_le_bytes());
        out.extend_from_slice(&(self.block_count() as u64).to_le_bytes());
        for index in self.block_indices() {
            let Some(block) = self.block(&index) else {
                continue; // unreachable: the index came from the map
            };
            for v in index.to_array() {
                out.extend_from_slice(&v.to_le_bytes());
            }
            for s in block.sdf {
                out.extend_from_slice(&s.to_le_bytes());
            }
            for w in block.weight {
                out.extend_from_slice(&w.to_le_bytes());
            }
            for rgb in block.color {
                out.extend_from_slice(&rgb);
            }
        }
        let checksum = fnv1a_64(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        out
    }

    /// Writes the map to `path` (through a temporary file renamed into
    /// place, so a crash never leaves a half-written map under `path`).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".tmp");
        let tmp = path.with_file_name(tmp_name);
        std::fs::write(&tmp, self.to_map_bytes()).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    /// Reads a map written by [`Self::save`]. All blocks are marked dirty.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_map_bytes(&bytes, path)
    }

    /// Parses map bytes; `path` names the source in errors. Truncated,
    /// corrupt or other-version input gives [`Error::Format`].
    pub fn from_map_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let fail = |message: String| Error::format(path, message);
        if bytes.len() < 12 {
            return Err(fail(format!(
                "file too short for a map header ({} bytes)",
                bytes.len()
            )));
        }
        if bytes[..8] != MAP_FILE_MAGIC {
            return Err(fail(format!(
                "not a scenemap TSDF map (magic {:02x?}, expected \"SCNMTSDF\")",
                &bytes[..8]
            )));
        }
        let mut reader = Reader { bytes, pos: 8 };
        let version = reader.u32();
        if version != MAP_FORMAT_VERSION {
            return Err(fail(format!(
                "map format version {version}, this build reads version {MAP_FORMAT_VERSION}"
            )));
        }
        if bytes.len() < HEADER_BYTES + CHECKSUM_BYTES {
            return Err(fail(format!(
                "truncated map header: {} bytes, need at least {}",
                bytes.len(),
                HEADER_BYTES + CHECKSUM_BYTES
            )));
        }
        let config = TsdfConfig {
            voxel_size_m: reader.f32(),
            truncation_distance_m: reader.f32(),
            max_weight: reader.u16(),
            ..TsdfConfig::default()
        };
        let reserved = reader.u16();
        let config = TsdfConfig {
            min_integration_depth_m: reader.f32(),
            max_integration_depth_m: reader.f32(),
            ..config
        };
        let block_count = reader.u64();
        // Bound everything by the file length before allocating.
        let room = (bytes.len() - HEADER_BYTES - CHECKSUM_BYTES) as u64;
        if block_count > room / BLOCK_BYTES as u64
            || HEADER_BYTES + block_count as usize * BLOCK_BYTES + CHECKSUM_BYTES != bytes.len()
        {
            return Err(fail(format!(
                "header announces {block_count} blocks ({} bytes) but the file has {} bytes (truncated or trailing data)",
                (block_count as u128) * BLOCK_BYTES as u128 + (HEADER_BYTES + CHECKSUM_BYTES) as u128,
                bytes.len()
            )));
        }
        let body = bytes.len() - CHECKSUM_BYTES;
        let mut stored = [0_u8; 8];
        stored.copy_from_slice(&bytes[body..]);
        let (stored, computed) = (u64::from_le_bytes(stored), fnv1a_64(&bytes[..body]));
        if stored != computed {
            return Err(fail(format!(
                "checksum mismatch (stored {stored:016x}, computed {computed:016x}): file is corrupt"
            )));
        }
        if reserved != 0 {
            return Err(fail(format!(
                "reserved header field is {reserved}, expected 0"
            )));
        }
        config
            .validate()
            .map_err(|e| fail(format!("bad map parameters: {e}")))?;

        let mut blocks = Vec::with_capacity(block_count as usize);
        let mut seen = BlockSet::default();
        for k in 0..block_count as usize {
            let index = BlockIndex::new(reader.i32(), reader.i32(), reader.i32());
            if !seen.insert(index) {
                return Err(fail(format!("block {k}: duplicate block index {index:?}")));
            }
            let mut block = Box::<Block>::default();
            for s in block.sdf.iter_mut() {
                *s = reader.i16();
                if *s == i16::MIN {
                    return Err(fail(format!(
                        "block {k} {index:?}: SDF value -32768 is outside [-1, 1]"
                    )));
                }
            }
            for w in block.weight.iter_mut() {
                *w = reader.u16();
                if *w > config.max_weight {
                    return Err(fail(format!(
                        "block {k} {index:?}: weight {w} exceeds max_weight {}",
                        config.max_weight
                    )));
                }
            }
            for rgb in block.color.iter_mut() {
                *rgb = [reader.u8(), reader.u8(), reader.u8()];
            }
            blocks.push((index, block));
        }
        let mut volume = TsdfVolume::new(config).map_err(|e| fail(e.to_string()))?;
        for (index, block) in blocks {
            volume.insert_block(index, block);
        }
        Ok(volume)
    }
}

/// Little-endian cursor over a buffer whose length was checked up front.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0_u8; N];
        // Lengths are validated before reading; a short slice yields zeros
        // rather than a panic.
        if let Some(src) = self.bytes.get(self.pos..self.pos + N) {
            out.copy_from_slice(src);
        }
        self.pos += N;
        out
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn i16(&mut self) -> i16 {
        i16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn i32(&mut self) -> i32 {
        i32::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    fn f32(&mut self) -> f32 {
        f32::from_le_bytes(self.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_reference_values() {
        // Published FNV-1a-64 test vectors.
        assert_eq!(fnv1a_64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn header_size_matches_layout() {
        let volume = TsdfVolume::new(TsdfConfig::default()).unwrap();
        assert_eq!(volume.to_map_bytes().len(), HEADER_BYTES + CHECKSUM_BYTES);
    }
}
