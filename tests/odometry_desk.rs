//! Real-data odometry test on the 9-frame `fr1_desk` excerpt: relative
//! poses of frame pairs 1–4 frames apart against motion-capture groundtruth.
//!
//! Run in release for speed: `cargo test --release --test odometry_desk -- --nocapture`.

mod common;
mod odometry_support;

use nalgebra::Isometry3;
use odometry_support::{associate, groundtruth, load_frame, median, pose_error};
use scenemap::odometry::{OdometryConfig, ResidualTerms, RgbdOdometry};
use scenemap::PinholeCamera;

fn run(config: OdometryConfig, label: &str) -> Vec<(usize, f64, f64)> {
    let Some(dir) = common::tum_sequence("fr1_desk_9f") else {
        return Vec::new();
    };
    let pairs = associate(&dir, true, 0.02);
    assert_eq!(pairs.len(), 9);
    let odometry = RgbdOdometry::new(&PinholeCamera::tum_freiburg1(), config).unwrap();
    let pyramids: Vec<_> = pairs
        .iter()
        .map(|(t, c, d)| odometry.prepare(&load_frame(&dir, *t, c, d)).unwrap())
        .collect();
    let timestamps: Vec<_> = pairs.iter().map(|p| p.0).collect();
    let gt = groundtruth(&dir, &timestamps);
    let mut errors = Vec::new();
    for gap in 1..=4 {
        for i in 0..pairs.len() - gap {
            let j = i + gap;
            let (Some(world_from_i), Some(world_from_j)) = (gt[i], gt[j]) else {
                continue;
            };
            let expected = world_from_i.inverse() * world_from_j;
            // Zero-motion initial guess: the hardest honest start for a gap.
            let result = odometry
                .track(&pyramids[i], &pyramids[j], &Isometry3::identity())
                .unwrap();
            let (t_err, r_err) = pose_error(&result.reference_from_current, &expected);
            eprintln!(
                "{label} pair {i}->{j}: motion {:.1} mm {:.2}°, error {:.2} mm {:.3}°, inliers {:.2}, iters {}, status {:?}",
                expected.translation.vector.norm() * 1e3,
                expected.rotation.angle().to_degrees(),
                t_err * 1e3,
                r_err,
                result.quality.inlier_ratio,
                result.quality.iterations,
                result.status
            );
            errors.push((gap, t_err, r_err));
        }
    }
    errors
}

fn summarize(label: &str, errors: &[(usize, f64, f64)]) -> (f64, f64, f64) {
    let t: Vec<f64> = errors.iter().map(|e| e.1).collect();
    let r: Vec<f64> = errors.iter().map(|e| e.2).collect();
    let good =
        errors.iter().filter(|e| e.1 < 0.01 && e.2 < 1.0).count() as f64 / errors.len() as f64;
    eprintln!(
        "{label}: {} pairs, median {:.2} mm / {:.3}°, max {:.2} mm / {:.3}°, {:.0} % within 1 cm & 1°",
        errors.len(),
        median(&t) * 1e3,
        median(&r),
        t.iter().cloned().fold(0.0, f64::max) * 1e3,
        r.iter().cloned().fold(0.0, f64::max),
        good * 100.0
    );
    (median(&t), median(&r), good)
}

#[test]
fn desk_pairs_joint_match_groundtruth() {
    let errors = run(OdometryConfig::default(), "joint");
    if errors.is_empty() {
        return;
    }
    let (t, r, good) = summarize("joint", &errors);
    // Measured: median 3.0 mm / 0.36°, worst 8.0 mm / 0.65°, every pair
    // within 1 cm & 1°. fr1 depth is captured 9–15 ms after colour while the
    // camera moves at ~0.4 m/s and ~40°/s, so a few mm / tenths of a degree
    // are the floor for the photometric term; 90 % leaves room for that.
    assert!(t < 0.006 && r < 0.6, "median {t} m {r}°");
    assert!(
        good >= 0.9,
        "only {:.0} % of pairs within 1 cm / 1°",
        good * 100.0
    );
}

#[test]
fn desk_pairs_single_terms_track() {
    for terms in [ResidualTerms::Photometric, ResidualTerms::PointToPlane] {
        let config = OdometryConfig {
            terms,
            ..OdometryConfig::default()
        };
        let label = format!("{terms:?}");
        let errors = run(config, &label);
        if errors.is_empty() {
            return;
        }
        let (t, r, good) = summarize(&label, &errors);
        // Measured: photometric 6.6 mm / 0.47° median (92 % within 1 cm &
        // 1°), point-to-plane 3.3 mm / 0.40° (100 %).
        assert!(t < 0.01 && r < 1.0, "{label}: median {t} m {r}°");
        assert!(
            good >= 0.75,
            "{label}: {:.0} % within 1 cm / 1°",
            good * 100.0
        );
    }
}
