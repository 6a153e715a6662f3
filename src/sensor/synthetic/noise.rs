//! Depth sensor noise (all off by default, seeded, reproducible).
//!
//! - Axial noise `σ(z) = 0.0012 + 0.0019 (z − 0.4)²` m: Nguyen, Izadi &
//!   Lovell, "Modeling Kinect sensor noise for improved 3D reconstruction and
//!   tracking", 3DIMPVT 2012, Eq. (6) (θ small).
//! - Quantisation: a fixed depth step (TUM PNGs store 1/5000 m) or
//!   disparity-style steps `z = b·f / (round(b·f/z · s) / s)` that grow ∝ z².
//! - Dropouts at depth discontinuities and beyond a maximum range.
//!
//! Per-pixel draws come from a generator keyed by `(seed, frame, row)`, so the
//! result is independent of thread scheduling.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::sensor::synthetic::rng::Rng;

/// Depth quantisation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum DepthQuantization {
    /// No quantisation.
    #[default]
    None,
    /// Round to multiples of `step_m` (TUM PNG: 0.0002 m).
    Step {
        /// Quantum, metres.
        step_m: f32,
    },
    /// Kinect-style disparity quantisation.
    Disparity {
        /// Baseline × focal length, metre·pixel (Kinect ≈ 0.075 · 580).
        baseline_focal_m_px: f32,
        /// Disparity sub-pixel steps per pixel (Kinect ≈ 8).
        subpixel_steps: f32,
    },
}

/// Dropouts near depth discontinuities.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EdgeDropout {
    /// A pixel is "at an edge" when a 4-neighbour's depth differs by more
    /// than this, metres.
    pub threshold_m: f32,
    /// Probability of invalidating an edge pixel.
    pub probability: f64,
}

/// Depth noise options; `Default` is noise-free.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DepthNoise {
    /// Add Gaussian axial noise with the Nguyen et al. σ(z).
    pub axial: bool,
    /// Quantisation applied after the axial noise.
    pub quantization: DepthQuantization,
    /// Dropouts at depth edges.
    pub edge_dropout: Option<EdgeDropout>,
    /// Depths beyond this are invalid (0).
    pub max_range_m: Option<f32>,
    /// Depths below this are invalid (0), e.g. 0.4 m for a Kinect.
    pub min_range_m: Option<f32>,
    /// Seed of all draws.
    pub seed: u64,
}

impl DepthNoise {
    /// A Kinect-like model: axial noise, TUM 1/5000 m quantisation, edge
    /// dropouts (5 cm jumps, p = 0.5), range 0.4–8 m.
    pub fn kinect(seed: u64) -> Self {
        Self {
            axial: true,
            quantization: DepthQuantization::Step { step_m: 0.0002 },
            edge_dropout: Some(EdgeDropout {
                threshold_m: 0.05,
                probability: 0.5,
            }),
            max_range_m: Some(8.0),
            min_range_m: Some(0.4),
            seed,
        }
    }

    /// Whether any option is on.
    pub fn is_enabled(&self) -> bool {
        *self
            != Self {
                seed: self.seed,
                ..Self::default()
            }
    }

    /// Axial standard deviation at depth `z`, metres (Nguyen et al. 2012).
    pub fn axial_sigma_m(z_m: f32) -> f32 {
        0.0012 + 0.0019 * (z_m - 0.4) * (z_m - 0.4)
    }

    /// Applies the noise in place to a `width`-wide depth image of frame
    /// number `frame_index` (0 = invalid stays invalid).
    pub fn apply(&self, depth_m: &mut [f32], width: usize, frame_index: u64) {
        if !self.is_enabled() || width == 0 {
            return;
        }
        let clean = depth_m.to_vec();
        let height = clean.len() / width;
        depth_m
            .par_chunks_mut(width)
            .enumerate()
            .for_each(|(v, row)| {
                let mut rng = Rng::for_stream(self.seed, &[frame_index, v as u64]);
                for (u, d) in row.iter_mut().enumerate() {
                    let z = *d;
                    // Draw every random number unconditionally so a pixel's
                    // draws do not depend on its neighbours.
                    let g = rng.gaussian() as f32;
                    let p = rng.uniform();
                    if !(z > 0.0 && z.is_finite()) {
                        *d = 0.0;
                        continue;
                    }
                    if let Some(edge) = self.edge_dropout {
                        let idx = v * width + u;
                        let mut at_edge = false;
                        let mut check = |j: usize| {
                            let n = clean[j];
                            if n.is_nan() || n <= 0.0 || (n - z).abs() > edge.threshold_m {
                                at_edge = true;
                            }
                        };
                        if u > 0 {
                            check(idx - 1);
                        }
                        if u + 1 < width {
                            check(idx + 1);
                        }
                        if v > 0 {
                            check(idx - width);
                        }
                        if v + 1 < height {
                            check(idx + width);
                        }
                        if at_edge && p < edge.probability {
                            *d = 0.0;
                            continue;
                        }
                    }
                    let mut zn = if self.axial {
                        z + Self::axial_sigma_m(z) * g
                    } else {
                        z
                    };
                    zn = match self.quantization {
                        DepthQuantization::None => zn,
                        DepthQuantization::Step { step_m } if step_m > 0.0 => {
                            (zn / step_m).round() * step_m
                        }
                        DepthQuantization::Disparity {
                            baseline_focal_m_px: bf,
                            subpixel_steps: s,
                        } if bf > 0.0 && s > 0.0 => {
                            let disparity = (bf / zn * s).round() / s;
                            if disparity > 0.0 {
                                bf / disparity
                            } else {
                                0.0
                            }
                        }
                        _ => zn,
                    };
                    let out_of_range = self.max_range_m.is_some_and(|m| zn > m)
                        || self.min_range_m.is_some_and(|m| zn < m)
                        || zn <= 0.0;
                    *d = if out_of_range { 0.0 } else { zn };
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_noise_free() {
        let mut depth = vec![1.234_f32; 64];
        DepthNoise::default().apply(&mut depth, 8, 0);
        assert!(depth.iter().all(|&d| d == 1.234));
    }

    #[test]
    fn disparity_quantisation_and_range() {
        let noise = DepthNoise {
            quantization: DepthQuantization::Disparity {
                baseline_focal_m_px: 43.5,
                subpixel_steps: 8.0,
            },
            max_range_m: Some(3.0),
            ..DepthNoise::default()
        };
        let mut depth = vec![2.0_f32, 2.001, 5.0, 0.0];
        noise.apply(&mut depth, 4, 0);
        // Step at 2 m: z²/(bf·s) ≈ 1.15 cm, so 2.0 and 2.001 fall in one bin.
        assert_eq!(depth[0], depth[1]);
        assert!((depth[0] - 2.0).abs() < 0.006);
        assert_eq!(depth[2], 0.0);
        assert_eq!(depth[3], 0.0);
    }

    #[test]
    fn edge_dropout_only_near_edges() {
        let noise = DepthNoise {
            edge_dropout: Some(EdgeDropout {
                threshold_m: 0.05,
                probability: 1.0,
            }),
            ..DepthNoise::default()
        };
        // Left half at 1 m, right half at 2 m: the two middle columns drop.
        let width = 8;
        let mut depth: Vec<f32> = (0..64)
            .map(|i| if i % width < 4 { 1.0 } else { 2.0 })
            .collect();
        noise.apply(&mut depth, width, 0);
        for (i, &d) in depth.iter().enumerate() {
            let u = i % width;
            assert_eq!(d == 0.0, u == 3 || u == 4, "pixel {i}");
        }
    }
}
