//! Test helpers for the odometry tests: TUM image loading and pose errors.
#![allow(dead_code)]

use std::path::Path;

use nalgebra::Isometry3;
use scenemap::geometry::pose_at;
use scenemap::io::read_tum_trajectory;
use scenemap::{RgbdFrame, StampedPose, Timestamp};

/// `(timestamp, relative path)` entries of a TUM `rgb.txt` / `depth.txt`.
pub fn read_list(path: &Path) -> Vec<(Timestamp, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut it = l.split_whitespace();
            let t = Timestamp::parse_secs(it.next().unwrap()).unwrap();
            (t, it.next().unwrap().to_string())
        })
        .collect()
}

/// Loads one registered frame (colour PNG/JPEG, 16-bit depth PNG / 5000).
pub fn load_frame(dir: &Path, timestamp: Timestamp, color: &str, depth: &str) -> RgbdFrame {
    let rgb = image::open(dir.join(color)).unwrap().into_rgb8();
    let (w, h) = rgb.dimensions();
    let color: Vec<[u8; 3]> = rgb.pixels().map(|p| p.0).collect();
    let depth_image = image::open(dir.join(depth)).unwrap();
    let depth16 = depth_image.as_luma16().expect("16-bit depth PNG");
    assert_eq!(depth16.dimensions(), (w, h));
    let depth_m = depth16
        .pixels()
        .map(|p| f32::from(p.0[0]) / 5000.0)
        .collect();
    RgbdFrame::new(timestamp, w, h, color, depth_m).unwrap()
}

/// Colour/depth pairs: by index (`by_index`) or one-to-one by nearest
/// timestamp within `max_dt_s` (TUM `associate.py`, greedy on the gap).
pub fn associate(dir: &Path, by_index: bool, max_dt_s: f64) -> Vec<(Timestamp, String, String)> {
    let rgb = read_list(&dir.join("rgb.txt"));
    let depth = read_list(&dir.join("depth.txt"));
    if by_index {
        return rgb
            .into_iter()
            .zip(depth)
            .map(|((t, c), (_, d))| (t, c, d))
            .collect();
    }
    let mut candidates = Vec::new();
    for (i, (tc, _)) in rgb.iter().enumerate() {
        for (j, (td, _)) in depth.iter().enumerate() {
            let dt = td.secs_since(*tc).abs();
            if dt < max_dt_s {
                candidates.push((dt, i, j));
            }
        }
    }
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut used_c = vec![false; rgb.len()];
    let mut used_d = vec![false; depth.len()];
    let mut pairs = Vec::new();
    for (_, i, j) in candidates {
        if !used_c[i] && !used_d[j] {
            used_c[i] = true;
            used_d[j] = true;
            pairs.push((i, j));
        }
    }
    pairs.sort();
    pairs
        .into_iter()
        .map(|(i, j)| (rgb[i].0, rgb[i].1.clone(), depth[j].1.clone()))
        .collect()
}

/// Groundtruth `world_from_camera` at each timestamp (interpolated).
pub fn groundtruth(dir: &Path, timestamps: &[Timestamp]) -> Vec<Option<Isometry3<f64>>> {
    let trajectory: Vec<StampedPose> = read_tum_trajectory(dir.join("groundtruth.txt")).unwrap();
    timestamps
        .iter()
        .map(|&t| pose_at(&trajectory, t, 0.2))
        .collect()
}

/// Translation (m) and rotation (deg) of `expected⁻¹ · estimated`.
pub fn pose_error(estimated: &Isometry3<f64>, expected: &Isometry3<f64>) -> (f64, f64) {
    let e = expected.inverse() * estimated;
    (e.translation.vector.norm(), e.rotation.angle().to_degrees())
}

/// Median of a list (sorted copy).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// Percentile `p` in 0..=100 of a list.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let k = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[k]
}
