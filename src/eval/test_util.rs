//! Seeded randomness for tests (no `rand` dependency): SplitMix64 + Box–Muller.

use nalgebra::{Isometry3, Vector3};

/// SplitMix64 (Steele, Lea, Flood 2014).
pub(crate) struct SplitMix64(pub u64);

impl SplitMix64 {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    pub(crate) fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub(crate) fn gauss(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    pub(crate) fn gauss3(&mut self, sigma: f64) -> Vector3<f64> {
        Vector3::new(self.gauss(), self.gauss(), self.gauss()) * sigma
    }

    /// A random rigid transform (rotation angle up to π, translation up to `t_m`).
    pub(crate) fn isometry(&mut self, t_m: f64) -> Isometry3<f64> {
        let axis = self.gauss3(1.0).normalize();
        let angle = std::f64::consts::PI * self.uniform();
        let t = Vector3::new(self.uniform(), self.uniform(), self.uniform()) * 2.0 * t_m
            - Vector3::repeat(t_m);
        Isometry3::new(t, axis * angle)
    }
}
