//! Incremental marching cubes over the TSDF's voxel blocks.
//!
//! The cube with minimum corner at global voxel `g` belongs to block
//! `floor(g / 8)`; its corners are voxel centres, so cubes on a block's
//! upper faces read the neighbouring blocks. Vertices sit on grid edges and
//! are keyed by the edge's global id (start voxel + axis): neighbouring
//! blocks compute bit-identical vertices for a shared edge and the assembly
//! merges them, so the mesh has neither cracks nor duplicated vertices.
//!
//! A block's piece reads voxels of its 26 neighbours (cube corners on the
//! upper side, central-difference normals on both sides), so when a block is
//! dirty, it and its 26 neighbours are re-meshed — which makes the
//! incremental mesh identical to a full re-mesh.

use nalgebra::{Point3, Vector3};
use rayon::prelude::*;

use super::tables::{case_triangles, edge_axis, CUBE_CORNERS, CUBE_EDGES};
use super::Mesh;
use crate::tsdf::{local_voxel_index, BlockIndex, BlockMap, BlockSet, TsdfVolume, BLOCK_SIZE_VOX};

/// Padded grid per block: local voxels −1 ..= 9 on each axis.
const PAD: usize = BLOCK_SIZE_VOX + 3;
const PAD3: usize = PAD * PAD * PAD;
/// Edge start voxels of a block's cubes: local 0 ..= 8 on each axis.
const EDGE_SPAN: usize = BLOCK_SIZE_VOX + 1;

#[inline]
fn pad_index(x: usize, y: usize, z: usize) -> usize {
    x + PAD * (y + PAD * z)
}

/// Global id of a grid edge: the block and local index of its start voxel,
/// times 3, plus the axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct EdgeKey {
    block: BlockIndex,
    code: u16,
}

/// The triangles of the cubes owned by one block, with its own vertex list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BlockMesh {
    /// Vertex positions, world frame, metres.
    pub vertices: Vec<Point3<f32>>,
    /// Unit normals (SDF gradient, towards free space), world frame.
    pub normals: Vec<Vector3<f32>>,
    /// Vertex colours.
    pub colors: Vec<[u8; 3]>,
    /// Triangles indexing this piece's vertices, counter-clockwise seen
    /// from free space.
    pub triangles: Vec<[u32; 3]>,
    edge_keys: Vec<EdgeKey>,
}

/// What one [`Mesher::update`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeshUpdateStats {
    /// Blocks the volume reported dirty.
    pub blocks_dirty: usize,
    /// Blocks re-meshed (dirty blocks and their 26 neighbours).
    pub blocks_meshed: usize,
    /// Blocks holding triangles after the update.
    pub blocks_with_triangles: usize,
}

/// Keeps one mesh piece per block and re-meshes only what changed.
///
/// It also remembers in which update each block's piece last changed, so
/// a consumer that streams the mesh (e.g. to a viewer) can send only the
/// pieces that changed since it last looked ([`Self::changed_since`]).
#[derive(Clone, Debug, Default)]
pub struct Mesher {
    pieces: BlockMap<BlockMesh>,
    /// Per block: the update ([`Self::generation`]) in which its piece last
    /// appeared, changed or vanished. One entry per block ever meshed.
    changed_in: BlockMap<u64>,
    /// Updates done so far.
    generation: u64,
}

impl Mesher {
    /// An empty mesher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes the volume's dirty set and re-meshes those blocks and the
    /// neighbours whose cubes or normals read them (parallel over blocks).
    pub fn update(&mut self, volume: &mut TsdfVolume) -> MeshUpdateStats {
        let dirty = volume.take_dirty_blocks();
        let mut affected = BlockSet::default();
        for index in &dirty {
            for dz in -1..=1 {
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        affected.insert(index.offset(dx, dy, dz));
                    }
                }
            }
        }
        let affected: Vec<BlockIndex> = affected.into_iter().collect();
        let volume: &TsdfVolume = volume;
        let signs = SignCache::new(volume, &affected);
        let pieces: Vec<(BlockIndex, Option<BlockMesh>)> = affected
            .par_iter()
            .map(|index| {
                let piece = if signs.may_cross(*index) {
                    mesh_block(volume, *index)
                } else {
                    None
                };
                (*index, piece)
            })
            .collect();
        let blocks_meshed = pieces.len();
        self.generation += 1;
        for (index, piece) in pieces {
            // A re-meshed neighbour often comes out bit-identical: only a
            // real change is stamped.
            let changed = match piece {
                Some(piece) if self.pieces.get(&index) != Some(&piece) => {
                    self.pieces.insert(index, piece);
                    true
                }
                Some(_) => false,
                None => self.pieces.remove(&index).is_some(),
            };
            if changed {
                self.changed_in.insert(index, self.generation);
            }
        }
        MeshUpdateStats {
            blocks_dirty: dirty.len(),
            blocks_meshed,
            blocks_with_triangles: self.pieces.len(),
        }
    }

    /// Drops all pieces and meshes every block of the volume (clearing its
    /// dirty set).
    pub fn remesh_all(&mut self, volume: &mut TsdfVolume) -> MeshUpdateStats {
        let blocks_dirty = volume.take_dirty_blocks().len();
        let pieces = mesh_pieces(volume);
        self.generation += 1;
        let vanished = self.pieces.keys().filter(|k| !pieces.contains_key(k));
        let changed = pieces
            .iter()
            .filter(|(k, piece)| self.pieces.get(k) != Some(piece))
            .map(|(k, _)| k);
        for index in vanished.chain(changed) {
            self.changed_in.insert(*index, self.generation);
        }
        self.pieces = pieces;
        MeshUpdateStats {
            blocks_dirty,
            blocks_meshed: volume.block_count(),
            blocks_with_triangles: self.pieces.len(),
        }
    }

    /// The piece of block `index`, if it holds triangles.
    pub fn block_mesh(&self, index: &BlockIndex) -> Option<&BlockMesh> {
        self.pieces.get(index)
    }

    /// All non-empty pieces (unordered), e.g. to stream per-block updates.
    pub fn block_meshes(&self) -> impl Iterator<Item = (&BlockIndex, &BlockMesh)> {
        self.pieces.iter()
    }

    /// Updates done so far ([`Self::update`] and [`Self::remesh_all`]
    /// calls): the stamp to pass to [`Self::changed_since`] next time.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Blocks whose piece appeared, changed or vanished in the updates after
    /// `generation` (0: all blocks ever meshed), sorted by index, with the
    /// current piece (`None`: the block no longer holds triangles).
    /// Re-meshed blocks whose piece came out identical are not listed.
    pub fn changed_since(&self, generation: u64) -> Vec<(BlockIndex, Option<&BlockMesh>)> {
        let mut changed: Vec<(BlockIndex, Option<&BlockMesh>)> = self
            .changed_in
            .iter()
            .filter(|(_, &stamp)| stamp > generation)
            .map(|(index, _)| (*index, self.pieces.get(index)))
            .collect();
        changed.sort_by_key(|(index, _)| *index);
        changed
    }

    /// Assembles the pieces into one mesh, merging shared border vertices.
    /// Deterministic (blocks in sorted order).
    pub fn mesh(&self) -> Mesh {
        assemble(&self.pieces)
    }
}

/// Meshes the whole volume at once (ignores and keeps its dirty set).
pub fn mesh_volume(volume: &TsdfVolume) -> Mesh {
    assemble(&mesh_pieces(volume))
}

fn mesh_pieces(volume: &TsdfVolume) -> BlockMap<BlockMesh> {
    let indices = volume.block_indices();
    indices
        .par_iter()
        .filter_map(|index| mesh_block(volume, *index).map(|piece| (*index, piece)))
        .collect::<Vec<_>>()
        .into_iter()
        .collect()
}

/// Per block: whether it holds an observed voxel with negative SDF (bit 0)
/// and one with non-negative SDF (bit 1). A block's cubes read only itself
/// and its 7 upper neighbours, so without both signs among those 8 blocks
/// it holds no zero crossing and need not be gathered.
struct SignCache {
    flags: BlockMap<u8>,
}

impl SignCache {
    fn new(volume: &TsdfVolume, affected: &[BlockIndex]) -> Self {
        let mut needed = BlockSet::default();
        for index in affected {
            for k in 0..8 {
                needed.insert(index.offset(k & 1, (k >> 1) & 1, k >> 2));
            }
        }
        let needed: Vec<BlockIndex> = needed.into_iter().collect();
        let flags = needed
            .par_iter()
            .filter_map(|index| {
                let block = volume.block(index)?;
                let (mut negative, mut positive) = (false, false);
                for (&q, &w) in block.sdf_raw().iter().zip(block.weights().iter()) {
                    negative |= w > 0 && q < 0;
                    positive |= w > 0 && q >= 0;
                }
                Some((*index, u8::from(negative) | u8::from(positive) << 1))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .collect();
        Self { flags }
    }

    fn may_cross(&self, index: BlockIndex) -> bool {
        if !self.flags.contains_key(&index) {
            return false; // unallocated: no piece
        }
        let mut all = 0;
        for k in 0..8 {
            all |= self
                .flags
                .get(&index.offset(k & 1, (k >> 1) & 1, k >> 2))
                .copied()
                .unwrap_or(0);
        }
        all == 3
    }
}

fn assemble(pieces: &BlockMap<BlockMesh>) -> Mesh {
    let mut order: Vec<&BlockIndex> = pieces.keys().collect();
    order.sort_unstable();
    let vertex_total: usize = pieces.values().map(|p| p.vertices.len()).sum();
    let triangle_total: usize = pieces.values().map(|p| p.triangles.len()).sum();
    let mut mesh = Mesh {
        vertices: Vec::with_capacity(vertex_total),
        normals: Vec::with_capacity(vertex_total),
        colors: Vec::with_capacity(vertex_total),
        triangles: Vec::with_capacity(triangle_total),
    };
    let mut ids: std::collections::HashMap<EdgeKey, u32, crate::tsdf::BuildBlockHasher> =
        std::collections::HashMap::with_capacity_and_hasher(vertex_total, Default::default());
    let mut remap = Vec::new();
    for index in order {
        let piece = &pieces[index];
        remap.clear();
        for (k, key) in piece.edge_keys.iter().enumerate() {
            let id = *ids.entry(*key).or_insert_with(|| {
                mesh.vertices.push(piece.vertices[k]);
                mesh.normals.push(piece.normals[k]);
                mesh.colors.push(piece.colors[k]);
                (mesh.vertices.len() - 1) as u32
            });
            remap.push(id);
        }
        mesh.triangles.extend(piece.triangles.iter().map(|t| {
            [
                remap[t[0] as usize],
                remap[t[1] as usize],
                remap[t[2] as usize],
            ]
        }));
    }
    mesh
}

/// Voxels of a block and its neighbours copied into a padded local grid.
struct PaddedGrid {
    sdf: [f32; PAD3],
    observed: [bool; PAD3],
    color: [[u8; 3]; PAD3],
}

impl PaddedGrid {
    /// Gathers local voxels −1..=9 around `index`; returns `None` when no
    /// cube of the block can hold a zero crossing.
    fn gather(volume: &TsdfVolume, index: BlockIndex) -> Option<Self> {
        volume.block(&index)?;
        let mut grid = PaddedGrid {
            sdf: [0.0; PAD3],
            observed: [false; PAD3],
            color: [[0; 3]; PAD3],
        };
        // For neighbour offset d: its local voxel range and where it lands.
        let span = |d: i32| -> (usize, usize, usize) {
            match d {
                -1 => (BLOCK_SIZE_VOX - 1, BLOCK_SIZE_VOX, 0),
                0 => (0, BLOCK_SIZE_VOX, 1),
                _ => (0, 2, BLOCK_SIZE_VOX + 1),
            }
        };
        let (mut negative, mut positive) = (false, false);
        for dz in -1..=1 {
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let Some(block) = volume.block(&index.offset(dx, dy, dz)) else {
                        continue;
                    };
                    let (x0, x1, px) = span(dx);
                    let (y0, y1, py) = span(dy);
                    let (z0, z1, pz) = span(dz);
                    let (sdf, weight, color) = (block.sdf_raw(), block.weights(), block.colors());
                    for z in z0..z1 {
                        for y in y0..y1 {
                            for x in x0..x1 {
                                let l = local_voxel_index(x, y, z);
                                let (gx, gy, gz) = (px + x - x0, py + y - y0, pz + z - z0);
                                let p = pad_index(gx, gy, gz);
                                if weight[l] == 0 {
                                    continue;
                                }
                                let s = f32::from(sdf[l]);
                                grid.sdf[p] = s;
                                grid.observed[p] = true;
                                grid.color[p] = color[l];
                                // Cube corners are padded 1..=9.
                                if (1..=9).contains(&gx)
                                    && (1..=9).contains(&gy)
                                    && (1..=9).contains(&gz)
                                {
                                    negative |= s < 0.0;
                                    positive |= s >= 0.0;
                                }
                            }
                        }
                    }
                }
            }
        }
        (negative && positive).then_some(grid)
    }

    /// Central-difference gradient at a padded voxel (one-sided next to
    /// unobserved voxels).
    fn gradient(&self, x: usize, y: usize, z: usize) -> Vector3<f32> {
        let p = pad_index(x, y, z);
        let strides = [1, PAD, PAD * PAD];
        let coords = [x, y, z];
        let mut g = Vector3::zeros();
        for a in 0..3 {
            let lo = (coords[a] > 0)
                .then(|| p - strides[a])
                .filter(|&q| self.observed[q]);
            let hi = (coords[a] + 1 < PAD)
                .then(|| p + strides[a])
                .filter(|&q| self.observed[q]);
            g[a] = match (lo, hi) {
                (Some(l), Some(h)) => 0.5 * (self.sdf[h] - self.sdf[l]),
                (None, Some(h)) => self.sdf[h] - self.sdf[p],
                (Some(l), None) => self.sdf[p] - self.sdf[l],
                (None, None) => 0.0,
            };
        }
        g
    }
}

/// Marching cubes over the 8³ cubes owned by block `index`; `None` when the
/// block is absent or holds no triangle.
fn mesh_block(volume: &TsdfVolume, index: BlockIndex) -> Option<BlockMesh> {
    let grid = PaddedGrid::gather(volume, index)?;
    let voxel_m = volume.voxel_size_m();
    let first = index.first_voxel();
    let mut piece = BlockMesh::default();
    let mut vertex_of_edge = [u32::MAX; EDGE_SPAN * EDGE_SPAN * EDGE_SPAN * 3];
    let corner_offsets: [usize; 8] = CUBE_CORNERS.map(|[x, y, z]| pad_index(x, y, z));
    for z in 0..BLOCK_SIZE_VOX {
        for y in 0..BLOCK_SIZE_VOX {
            for x in 0..BLOCK_SIZE_VOX {
                let base = pad_index(x + 1, y + 1, z + 1);
                let mut case = 0_u8;
                let mut all_observed = true;
                for (i, off) in corner_offsets.iter().enumerate() {
                    all_observed &= grid.observed[base + off];
                    case |= u8::from(grid.sdf[base + off] < 0.0) << i;
                }
                if !all_observed || case == 0 || case == 255 {
                    continue;
                }
                let mut edge_vertex = [0_u32; 12];
                for (e, &[a, b]) in CUBE_EDGES.iter().enumerate() {
                    if (case >> a & 1) == (case >> b & 1) {
                        continue;
                    }
                    let axis = edge_axis(e);
                    let s = CUBE_CORNERS[a];
                    let start = [x + s[0], y + s[1], z + s[2]];
                    let slot =
                        ((start[0] + EDGE_SPAN * (start[1] + EDGE_SPAN * start[2])) * 3) + axis;
                    if vertex_of_edge[slot] == u32::MAX {
                        vertex_of_edge[slot] =
                            push_vertex(&mut piece, &grid, first, start, axis, voxel_m);
                    }
                    edge_vertex[e] = vertex_of_edge[slot];
                }
                piece.triangles.extend(case_triangles(case).iter().map(|t| {
                    [
                        edge_vertex[t[0] as usize],
                        edge_vertex[t[1] as usize],
                        edge_vertex[t[2] as usize],
                    ]
                }));
            }
        }
    }
    (!piece.triangles.is_empty()).then_some(piece)
}

/// Adds the vertex on the edge from local voxel `start` along `axis`:
/// linear interpolation of the zero crossing, colour and gradient.
fn push_vertex(
    piece: &mut BlockMesh,
    grid: &PaddedGrid,
    first: [i32; 3],
    start: [usize; 3],
    axis: usize,
    voxel_m: f32,
) -> u32 {
    let mut end = start;
    end[axis] += 1;
    let p0 = pad_index(start[0] + 1, start[1] + 1, start[2] + 1);
    let p1 = pad_index(end[0] + 1, end[1] + 1, end[2] + 1);
    let (s0, s1) = (grid.sdf[p0], grid.sdf[p1]);
    let t = s0 / (s0 - s1);
    let global = [
        first[0] + start[0] as i32,
        first[1] + start[1] as i32,
        first[2] + start[2] as i32,
    ];
    let mut position = Point3::new(
        (global[0] as f32 + 0.5) * voxel_m,
        (global[1] as f32 + 0.5) * voxel_m,
        (global[2] as f32 + 0.5) * voxel_m,
    );
    position[axis] += t * voxel_m;
    let g0 = grid.gradient(start[0] + 1, start[1] + 1, start[2] + 1);
    let g1 = grid.gradient(end[0] + 1, end[1] + 1, end[2] + 1);
    let g = g0 + (g1 - g0) * t;
    let normal = g.try_normalize(1e-12).unwrap_or_else(Vector3::zeros);
    let (c0, c1) = (grid.color[p0], grid.color[p1]);
    let color = [0, 1, 2]
        .map(|k| (f32::from(c0[k]) + (f32::from(c1[k]) - f32::from(c0[k])) * t).round() as u8);
    let owner = BlockIndex::of_voxel(global);
    let local = local_voxel_index(
        (global[0] & 7) as usize,
        (global[1] & 7) as usize,
        (global[2] & 7) as usize,
    );
    piece.edge_keys.push(EdgeKey {
        block: owner,
        code: (local * 3 + axis) as u16,
    });
    piece.vertices.push(position);
    piece.normals.push(normal);
    piece.colors.push(color);
    (piece.vertices.len() - 1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdf::{TsdfConfig, TsdfVoxel};
    use std::collections::BTreeMap;

    /// Writes the plane z = `height_m` into the cube of `size` voxels at `from`.
    fn plane(volume: &mut TsdfVolume, height_m: f32, from: [i32; 3], size: i32) {
        let mu = volume.truncation_distance_m();
        for z in from[2]..from[2] + size {
            for y in from[1]..from[1] + size {
                for x in from[0]..from[0] + size {
                    let centre = volume.voxel_center_m([x, y, z]);
                    let value = TsdfVoxel {
                        sdf_m: (centre.z - height_m).clamp(-mu, mu),
                        weight: 1,
                        color: [100, 100, 100],
                    };
                    volume.set_voxel([x, y, z], value);
                }
            }
        }
    }

    /// A viewer that applies `changed_since` to its copy of the pieces ends
    /// up with exactly the mesher's pieces, and the listed blocks are
    /// exactly those whose piece differs (brute force over all blocks).
    #[test]
    fn changed_since_lists_exactly_the_changed_pieces() {
        let mut volume = TsdfVolume::new(TsdfConfig::for_voxel_size_m(0.02)).unwrap();
        plane(&mut volume, 0.23, [0, 0, 0], 24);
        let mut mesher = Mesher::new();
        assert_eq!(mesher.generation(), 0);
        mesher.update(&mut volume);
        let mut viewer: BTreeMap<BlockIndex, BlockMesh> = BTreeMap::new();
        let mut seen = 0;
        for step in 0..3 {
            let before: BTreeMap<BlockIndex, BlockMesh> = mesher
                .block_meshes()
                .map(|(k, v)| (*k, v.clone()))
                .collect();
            for (index, piece) in mesher.changed_since(seen) {
                match piece {
                    Some(piece) => viewer.insert(index, piece.clone()),
                    None => viewer.remove(&index),
                };
            }
            seen = mesher.generation();
            assert_eq!(viewer, before, "step {step}");
            match step {
                // Move the surface in one corner only, drop part of it
                // (full re-mesh), then bring that part back.
                0 => plane(&mut volume, 0.25, [0, 0, 8], 8),
                1 => plane(&mut volume, 0.9, [16, 16, 8], 8),
                _ => plane(&mut volume, 0.23, [16, 16, 8], 8),
            }
            if step == 1 {
                mesher.remesh_all(&mut volume);
            } else {
                mesher.update(&mut volume);
            }
            let after: BTreeMap<BlockIndex, BlockMesh> = mesher
                .block_meshes()
                .map(|(k, v)| (*k, v.clone()))
                .collect();
            let mut expected: Vec<BlockIndex> = before
                .keys()
                .chain(after.keys())
                .filter(|k| before.get(k) != after.get(k))
                .copied()
                .collect();
            expected.sort();
            expected.dedup();
            let listed: Vec<BlockIndex> =
                mesher.changed_since(seen).iter().map(|(k, _)| *k).collect();
            assert!(!listed.is_empty(), "step {step}: nothing changed");
            assert!(listed.len() < after.len().max(before.len()), "step {step}");
            assert_eq!(listed, expected, "step {step}");
        }
        assert!(mesher.changed_since(mesher.generation()).is_empty());
    }
}
