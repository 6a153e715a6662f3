//! Writes a [`SyntheticSequence`] in the TUM RGB-D layout.
//!
//! `rgb/<t>.png` (8-bit RGB), `depth/<t>.png` (16-bit, metres × 5000,
//! 0 = invalid), `rgb.txt`, `depth.txt`, `groundtruth.txt` (camera poses at
//! the frame times), `imu.txt` (`timestamp gx gy gz ax ay az`, IMU frame),
//! `imu_bias.txt` (groundtruth biases), `objects.json`, `camera.json`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::io::write_tum_trajectory;
use crate::sensor::synthetic::sequence::SyntheticSequence;

/// TUM depth PNG scale: stored value = metres × 5000.
pub const TUM_DEPTH_SCALE: f32 = 5000.0;

/// What [`write_tum_sequence`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WriteSummary {
    /// Frames written.
    pub frames: usize,
    /// IMU samples written.
    pub imu_samples: usize,
    /// Total time spent rendering, seconds.
    pub render_time_s: f64,
    /// Total time spent encoding and writing images, seconds.
    pub write_time_s: f64,
}

/// Encodes depth in metres as TUM 16-bit values (0 for invalid or beyond
/// 65535 / 5000 ≈ 13.1 m).
pub fn encode_tum_depth(depth_m: &[f32]) -> Vec<u16> {
    depth_m
        .iter()
        .map(|&d| {
            let v = (d * TUM_DEPTH_SCALE).round();
            if d > 0.0 && d.is_finite() && v <= f32::from(u16::MAX) {
                v as u16
            } else {
                0
            }
        })
        .collect()
}

/// Writes the sequence under `dir` (created if needed).
pub fn write_tum_sequence(dir: &Path, sequence: &SyntheticSequence) -> Result<WriteSummary> {
    write_tum_sequence_with_progress(dir, sequence, |_, _| {})
}

/// [`write_tum_sequence`], calling `progress(frames_done, frame_count)` after
/// every frame.
pub fn write_tum_sequence_with_progress(
    dir: &Path,
    sequence: &SyntheticSequence,
    mut progress: impl FnMut(usize, usize),
) -> Result<WriteSummary> {
    for sub in ["rgb", "depth"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
    }
    let camera = sequence.camera();
    let count = sequence.frame_count();
    let mut summary = WriteSummary::default();
    let mut rgb_txt =
        String::from("# color images\n# synthetic scenemap sequence\n# timestamp filename\n");
    let mut depth_txt =
        String::from("# depth maps\n# synthetic scenemap sequence\n# timestamp filename\n");
    for i in 0..count {
        let t0 = Instant::now();
        let rendered = sequence.render_frame(i)?;
        let t1 = Instant::now();
        let frame = &rendered.frame;
        let name = format!("{}.png", frame.timestamp);
        let rgb_rel = format!("rgb/{name}");
        let depth_rel = format!("depth/{name}");

        let rgb_path = dir.join(&rgb_rel);
        let bytes: Vec<u8> = frame.color.iter().flatten().copied().collect();
        let rgb = image::RgbImage::from_raw(camera.width, camera.height, bytes)
            .ok_or_else(|| Error::image(&rgb_path, "colour buffer size mismatch"))?;
        rgb.save(&rgb_path)
            .map_err(|e| Error::image(&rgb_path, e.to_string()))?;

        let depth_path = dir.join(&depth_rel);
        let depth = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_raw(
            camera.width,
            camera.height,
            encode_tum_depth(&frame.depth_m),
        )
        .ok_or_else(|| Error::image(&depth_path, "depth buffer size mismatch"))?;
        depth
            .save(&depth_path)
            .map_err(|e| Error::image(&depth_path, e.to_string()))?;

        let _ = writeln!(rgb_txt, "{} {rgb_rel}", frame.timestamp);
        let _ = writeln!(depth_txt, "{} {depth_rel}", frame.timestamp);
        summary.frames += 1;
        summary.render_time_s += (t1 - t0).as_secs_f64();
        summary.write_time_s += t1.elapsed().as_secs_f64();
        progress(i + 1, count);
    }
    write_text(&dir.join("rgb.txt"), &rgb_txt)?;
    write_text(&dir.join("depth.txt"), &depth_txt)?;
    write_tum_trajectory(dir.join("groundtruth.txt"), &sequence.groundtruth())?;

    let imu = sequence.imu();
    let mut imu_txt = String::from("# timestamp gx gy gz ax ay az\n");
    let mut bias_txt = String::from("# timestamp bgx bgy bgz bax bay baz\n");
    for (s, b) in imu.samples.iter().zip(&imu.biases) {
        if let (Some(g), Some(a)) = (s.gyro_rad_s, s.accel_m_s2) {
            let _ = writeln!(
                imu_txt,
                "{} {:.9} {:.9} {:.9} {:.9} {:.9} {:.9}",
                s.timestamp, g.x, g.y, g.z, a.x, a.y, a.z
            );
        }
        let (g, a) = (b.gyro_rad_s, b.accel_m_s2);
        let _ = writeln!(
            bias_txt,
            "{} {:.9} {:.9} {:.9} {:.9} {:.9} {:.9}",
            b.timestamp, g.x, g.y, g.z, a.x, a.y, a.z
        );
    }
    summary.imu_samples = imu.samples.len();
    write_text(&dir.join("imu.txt"), &imu_txt)?;
    write_text(&dir.join("imu_bias.txt"), &bias_txt)?;

    sequence
        .scene()
        .write_objects_json(&dir.join("objects.json"))?;
    let camera_path = dir.join("camera.json");
    let camera_json = serde_json::to_string_pretty(camera).map_err(|source| Error::Json {
        path: camera_path.clone(),
        source,
    })?;
    write_text(&camera_path, &camera_json)?;
    Ok(summary)
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}
