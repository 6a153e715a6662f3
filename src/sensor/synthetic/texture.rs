//! View-independent procedural surface texture.
//!
//! Colour is a pure function of the surface point in *object* coordinates
//! (no lighting, no view dependence), so brightness constancy holds exactly
//! between frames: a base colour per object is modulated by a checker (sharp
//! edges) and three octaves of 3-D value noise (smooth gradients at 4, 11 and
//! 29 cycles per metre), giving strong multi-scale image gradients for
//! photometric and feature tracking.

use nalgebra::Vector3;
use serde::{Deserialize, Serialize};

/// Texture parameters of one object.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Texture {
    /// Base colour, linear 0..1 RGB.
    pub base_color: [f32; 3],
    /// Checker cell size, metres (`0` disables the checker).
    pub checker_cell_m: f64,
    /// Seed of the value noise lattice.
    pub noise_seed: u32,
}

impl Texture {
    /// A texture with a base colour given as HSV (`hue` in turns, 0..1).
    pub fn from_hsv(
        hue: f64,
        saturation: f64,
        value: f64,
        checker_cell_m: f64,
        noise_seed: u32,
    ) -> Self {
        Self {
            base_color: hsv_to_rgb(hue, saturation, value),
            checker_cell_m,
            noise_seed,
        }
    }

    /// Colour of the surface point `p` (object frame).
    #[inline]
    pub fn shade(&self, p: &Vector3<f64>) -> [u8; 3] {
        let checker = if self.checker_cell_m > 0.0 {
            // Phase offset 1/π of a cell so faces at round coordinates do not
            // sit exactly on a cell boundary (which would speckle).
            let s = 1.0 / self.checker_cell_m;
            let off = std::f64::consts::FRAC_1_PI;
            let parity =
                (fast_floor(p.x * s + off) + fast_floor(p.y * s + off) + fast_floor(p.z * s + off))
                    & 1;
            parity as f64
        } else {
            0.5
        };
        let seed = self.noise_seed;
        let fbm = (value_noise(p * 4.0, seed)
            + 0.5 * value_noise(p * 11.0, seed ^ 0x9E37)
            + 0.25 * value_noise(p * 29.0, seed ^ 0x7F4A))
            / 1.75;
        let v = (0.3 + 0.3 * checker + 0.4 * fbm) as f32;
        // Non-negative, so `+ 0.5` then truncation rounds (saturating cast).
        let to_u8 = |c: f32| (c * v * 255.0 + 0.5) as u8;
        [
            to_u8(self.base_color[0]),
            to_u8(self.base_color[1]),
            to_u8(self.base_color[2]),
        ]
    }
}

/// HSV (all in 0..1) to RGB.
pub fn hsv_to_rgb(hue: f64, saturation: f64, value: f64) -> [f32; 3] {
    let h = hue.rem_euclid(1.0) * 6.0;
    let c = value * saturation;
    let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
    let m = value - c;
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    [(r + m) as f32, (g + m) as f32, (b + m) as f32]
}

/// Hash of a lattice point to `[0, 1)`.
#[inline]
fn lattice(ix: i64, iy: i64, iz: i64, seed: u32) -> f64 {
    let mut h = (ix as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (iy as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ (iz as u64).wrapping_mul(0x1656_67B1_9E37_79F9)
        ^ u64::from(seed);
    h = (h ^ (h >> 31)).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    (h >> 40) as f64 * (1.0 / (1_u64 << 24) as f64)
}

/// `floor` without a libm call (baseline x86-64 has no rounding instruction).
#[inline]
fn fast_floor(x: f64) -> i64 {
    let i = x as i64;
    i - i64::from((i as f64) > x)
}

/// Trilinearly interpolated value noise with smoothstep weights, in `[0, 1]`.
#[inline]
fn value_noise(p: Vector3<f64>, seed: u32) -> f64 {
    let (ix, iy, iz) = (fast_floor(p.x), fast_floor(p.y), fast_floor(p.z));
    let f = Vector3::new(ix as f64, iy as f64, iz as f64);
    let w = (p - f).map(|t| t * t * (3.0 - 2.0 * t));
    let mut acc = 0.0;
    for (dz, wz) in [(0, 1.0 - w.z), (1, w.z)] {
        for (dy, wy) in [(0, 1.0 - w.y), (1, w.y)] {
            let a = lattice(ix, iy + dy, iz + dz, seed);
            let b = lattice(ix + 1, iy + dy, iz + dz, seed);
            acc += wz * wy * (a + (b - a) * w.x);
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texture_has_contrast_and_is_deterministic() {
        let t = Texture::from_hsv(0.3, 0.6, 0.9, 0.1, 5);
        let mut lo = 255;
        let mut hi = 0;
        for i in 0..1000 {
            let p = Vector3::new(i as f64 * 0.0013, 0.37, i as f64 * 0.0007);
            let c = t.shade(&p);
            assert_eq!(c, t.shade(&p));
            lo = lo.min(c[1]);
            hi = hi.max(c[1]);
        }
        assert!(hi - lo > 80, "contrast {lo}..{hi}");
    }
}
