//! Hash map and set keyed by integer 3-D cells (`[i32; 3]`), with a fast
//! non-cryptographic hasher.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Multiply-rotate hash of integer cells (the FxHash scheme of rustc):
/// evidence cells are inserted for every depth point near an object in
/// every frame and the grasp planner looks up cells per gripper cell, and
/// SipHash's DoS resistance buys nothing for keys from our own sensor.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CellHasher(u64);

impl Hasher for CellHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(4) {
            let mut word = [0_u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u32(u32::from_le_bytes(word));
        }
    }

    fn write_u32(&mut self, i: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(i)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, i: usize) {
        self.0 = (self.0.rotate_left(5) ^ i as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Set of integer cells.
pub(crate) type CellSet = HashSet<[i32; 3], BuildHasherDefault<CellHasher>>;

/// Map keyed by integer cells.
pub(crate) type CellMap<V> = HashMap<[i32; 3], V, BuildHasherDefault<CellHasher>>;
