//! Global appearance descriptor of a keyframe: a small blurry image of
//! intensity and depth.
//!
//! After Klein & Murray, "Improving the Agility of Keyframe-Based SLAM"
//! (ECCV 2008, Sec. 4.1): each keyframe is reduced to a tiny, blurred,
//! zero-mean image and relocalisation compares these by sum of squared
//! differences. Here the tiny image is 16×12 (area means over the keyframe
//! image, then a `[1 2 1]/4` binomial blur in x and y) and it has two channels,
//! intensity and depth, as the RGB-D variant of Glocker et al. ("Real-Time
//! RGB-D Camera Relocalization via Randomized Ferns for Keyframe Encoding",
//! TVCG 2015) encodes both. Each channel is mean-subtracted and scaled to
//! norm `1/√2`, so the whole descriptor has unit norm and the squared
//! Euclidean distance `‖a − b‖² = 2 − 2·cos(a, b)` lies in `[0, 4]`:
//! invariant to global brightness/contrast changes and to a global depth
//! offset/scale. Cells without valid depth take the mean depth (they add
//! nothing after mean subtraction); a constant channel becomes zero.

use crate::odometry::keyframe_image::KeyframeImage;
use crate::sensor::RgbdFrame;

/// Tiny-image width (cells).
pub const DESCRIPTOR_WIDTH: usize = 16;
/// Tiny-image height (cells).
pub const DESCRIPTOR_HEIGHT: usize = 12;
/// Descriptor length: intensity cells then depth cells.
pub const DESCRIPTOR_LEN: usize = 2 * DESCRIPTOR_WIDTH * DESCRIPTOR_HEIGHT;

/// A unit-norm tiny-image descriptor (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct GlobalDescriptor(pub [f32; DESCRIPTOR_LEN]);

impl GlobalDescriptor {
    /// Computes the descriptor of a keyframe image.
    pub fn from_image(image: &KeyframeImage) -> Self {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let cells = DESCRIPTOR_WIDTH * DESCRIPTOR_HEIGHT;
        let mut intensity = vec![0.0f64; cells];
        let mut depth = vec![f64::NAN; cells];
        for cy in 0..DESCRIPTOR_HEIGHT {
            // Cell (cx, cy) covers pixels [x0, x1) × [y0, y1) (at least one).
            let y0 = cy * h / DESCRIPTOR_HEIGHT;
            let y1 = ((cy + 1) * h / DESCRIPTOR_HEIGHT).max(y0 + 1);
            for cx in 0..DESCRIPTOR_WIDTH {
                let x0 = cx * w / DESCRIPTOR_WIDTH;
                let x1 = ((cx + 1) * w / DESCRIPTOR_WIDTH).max(x0 + 1);
                let (mut sum_i, mut n_i, mut sum_d, mut n_d) = (0.0, 0usize, 0.0, 0usize);
                for y in y0..y1.min(h) {
                    for x in x0..x1.min(w) {
                        sum_i += f64::from(image.intensity[y * w + x]);
                        n_i += 1;
                        let d = image.depth_m[y * w + x];
                        if RgbdFrame::is_valid_depth(d) {
                            sum_d += f64::from(d);
                            n_d += 1;
                        }
                    }
                }
                let c = cy * DESCRIPTOR_WIDTH + cx;
                intensity[c] = if n_i > 0 { sum_i / n_i as f64 } else { 0.0 };
                if n_d > 0 {
                    depth[c] = sum_d / n_d as f64;
                }
            }
        }
        // Fill cells without depth with the mean valid depth.
        let valid: Vec<f64> = depth.iter().copied().filter(|d| d.is_finite()).collect();
        let mean_depth = if valid.is_empty() {
            0.0
        } else {
            valid.iter().sum::<f64>() / valid.len() as f64
        };
        for d in &mut depth {
            if !d.is_finite() {
                *d = mean_depth;
            }
        }
        let mut out = [0.0f32; DESCRIPTOR_LEN];
        for (channel, values) in [intensity, depth].into_iter().enumerate() {
            let blurred = normalise(&blur(&values));
            out[channel * cells..(channel + 1) * cells].copy_from_slice(&blurred);
        }
        Self(out)
    }

    /// Squared Euclidean distance to another descriptor, in `[0, 4]`.
    pub fn squared_distance(&self, other: &Self) -> f32 {
        self.0
            .iter()
            .zip(other.0.iter())
            .map(|(a, b)| (a - b) * (a - b))
            .sum()
    }
}

/// Separable `[1 2 1]/4` blur with clamped borders.
fn blur(values: &[f64]) -> Vec<f64> {
    let (w, h) = (DESCRIPTOR_WIDTH, DESCRIPTOR_HEIGHT);
    let at = |v: &[f64], x: usize, y: usize| v[y * w + x];
    let mut tmp = vec![0.0; w * h];
    for y in 0..h {
        for x in 0..w {
            let (l, r) = (x.saturating_sub(1), (x + 1).min(w - 1));
            tmp[y * w + x] =
                0.25 * at(values, l, y) + 0.5 * at(values, x, y) + 0.25 * at(values, r, y);
        }
    }
    let mut out = vec![0.0; w * h];
    for y in 0..h {
        for x in 0..w {
            let (u, d) = (y.saturating_sub(1), (y + 1).min(h - 1));
            out[y * w + x] = 0.25 * at(&tmp, x, u) + 0.5 * at(&tmp, x, y) + 0.25 * at(&tmp, x, d);
        }
    }
    out
}

/// Mean-subtracts and scales to norm `1/√2` (zero for a constant channel).
fn normalise(values: &[f64]) -> Vec<f32> {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let norm = values
        .iter()
        .map(|v| (v - mean).powi(2))
        .sum::<f64>()
        .sqrt();
    if norm < 1e-12 {
        return vec![0.0; values.len()];
    }
    let scale = std::f64::consts::FRAC_1_SQRT_2 / norm;
    values.iter().map(|v| ((v - mean) * scale) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::PinholeCamera;

    fn image(f: impl Fn(usize, usize) -> (f32, f32)) -> KeyframeImage {
        let camera = PinholeCamera::new(160, 120, 130.0, 130.0, 79.5, 59.5).unwrap();
        let (mut i, mut d) = (Vec::new(), Vec::new());
        for y in 0..120 {
            for x in 0..160 {
                let (a, b) = f(x, y);
                i.push(a);
                d.push(b);
            }
        }
        KeyframeImage::new(camera, i, d).unwrap()
    }

    #[test]
    fn invariant_to_gain_offset_and_unit_norm() {
        let a = image(|x, y| {
            (
                ((x * 7 + y * 3) % 50) as f32 / 50.0,
                1.0 + (x as f32) / 100.0,
            )
        });
        let b = image(|x, y| {
            (
                0.1 + 0.5 * ((x * 7 + y * 3) % 50) as f32 / 50.0,
                2.0 * (1.0 + (x as f32) / 100.0),
            )
        });
        let (da, db) = (
            GlobalDescriptor::from_image(&a),
            GlobalDescriptor::from_image(&b),
        );
        let norm: f32 = da.0.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        assert!(da.squared_distance(&db) < 1e-8);
        // A different image is far; no depth at all gives a zero depth half.
        let c = image(|x, y| (((x * 13 + y * 29) % 17) as f32 / 17.0, 0.0));
        let dc = GlobalDescriptor::from_image(&c);
        assert!(da.squared_distance(&dc) > 0.5);
        assert!(dc.0[DESCRIPTOR_LEN / 2..].iter().all(|&v| v == 0.0));
    }
}
