//! Loop-closure oracles: kiddo vs linear scan, candidate rules vs a brute-force
//! filter, ICP on a ray-cast synthetic room with exact poses.

use nalgebra::{Isometry3, Point3, Vector3};

use super::*;
use crate::eval::test_util::SplitMix64;
use crate::geometry::PinholeCamera;
use crate::sensor::Timestamp;

fn random_image(rng: &mut SplitMix64) -> KeyframeImage {
    let camera = PinholeCamera::new(32, 24, 30.0, 30.0, 15.5, 11.5).unwrap();
    let n = 32 * 24;
    let intensity = (0..n).map(|_| rng.uniform() as f32).collect();
    let depth = (0..n).map(|_| 0.5 + 3.0 * rng.uniform() as f32).collect();
    KeyframeImage::new(camera, intensity, depth).unwrap()
}

#[test]
fn kiddo_nearest_equals_linear_scan() {
    let mut rng = SplitMix64(11);
    let descriptors: Vec<GlobalDescriptor> = (0..300)
        .map(|_| GlobalDescriptor::from_image(&random_image(&mut rng)))
        .collect();
    let mut index = DescriptorIndex::new(descriptors[..200].to_vec()).unwrap();
    index.extend(descriptors[200..].to_vec()).unwrap();
    assert_eq!(index.len(), 300);
    for q in 0..40 {
        // Queries: stored descriptors and fresh ones.
        let query = if q % 2 == 0 {
            descriptors[q * 7].clone()
        } else {
            GlobalDescriptor::from_image(&random_image(&mut rng))
        };
        for k in [1, 5, 17] {
            let fast = index.nearest(&query, k);
            let slow = index.nearest_brute_force(&query, k);
            assert_eq!(fast.len(), slow.len());
            for (f, s) in fast.iter().zip(&slow) {
                assert_eq!(f.0, s.0, "query {q} k {k}: {fast:?} vs {slow:?}");
                assert!((f.1 - s.1).abs() < 1e-5);
            }
        }
    }
    assert!(DescriptorIndex::default()
        .nearest(&descriptors[0], 3)
        .is_empty());
}

#[test]
fn candidates_follow_the_rules_brute_force() {
    // Keyframes at 0.5 s spacing; every 10th keyframe repeats the look of an
    // earlier one (a revisited place) so some queries have real matches.
    let mut rng = SplitMix64(12);
    let mut store = KeyframeStore::new();
    let mut images: Vec<KeyframeImage> = Vec::new();
    for i in 0..120 {
        let image = if i >= 30 && i % 10 == 0 {
            let mut revisit: KeyframeImage = images[i - 30 + 3].clone();
            for v in &mut revisit.intensity {
                *v += 0.02 * rng.uniform() as f32;
            }
            revisit
        } else {
            random_image(&mut rng)
        };
        images.push(image.clone());
        store
            .push(
                Timestamp(i as i64 * 500_000_000),
                Isometry3::identity(),
                image,
            )
            .unwrap();
    }
    let config = LoopClosureConfig {
        min_keyframe_gap: 6,
        min_time_gap_s: 4.0,
        max_descriptor_distance: 1.9,
        max_distance_ratio: 0.95,
        max_candidates: 3,
        ..LoopClosureConfig::default()
    };
    let mut detector = LoopDetector::new(config).unwrap();
    detector.update(&store).unwrap();
    let mut with_candidates = 0;
    for query in 0..store.len() {
        let fast = detector.candidates(&store, query).unwrap();
        // Brute force: scan every keyframe, apply the documented rules.
        let q = store.get(query).unwrap();
        let mut ranked: Vec<(usize, f32)> = store
            .iter()
            .filter(|k| {
                k.id + config.min_keyframe_gap <= query
                    && q.timestamp.secs_since(k.timestamp) >= config.min_time_gap_s
            })
            .map(|k| (k.id, q.descriptor.squared_distance(&k.descriptor)))
            .collect();
        ranked.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        let mut expected = Vec::new();
        if let Some(&(best, d_best)) = ranked.first() {
            let other = ranked
                .iter()
                .find(|(id, _)| id.abs_diff(best) > config.min_keyframe_gap);
            let ratio_ok = other.is_none_or(|&(_, d)| d_best < config.max_distance_ratio * d);
            if d_best <= config.max_descriptor_distance && ratio_ok {
                expected = ranked
                    .iter()
                    .filter(|(_, d)| *d <= config.max_descriptor_distance)
                    .take(config.max_candidates)
                    .map(|&(id, _)| id)
                    .collect();
            }
        }
        let got: Vec<usize> = fast.iter().map(|c| c.candidate).collect();
        assert_eq!(got, expected, "query {query}");
        with_candidates += usize::from(!got.is_empty());
        if query >= 30 && query % 10 == 0 {
            assert_eq!(got.first(), Some(&(query - 27)), "revisit {query}");
        }
    }
    assert!(with_candidates >= 9, "{with_candidates}");
    // Relocalisation finds the source of a revisit first, with no time gap.
    let found = detector.relocalise(&images[50], 2);
    assert!(
        found[0].keyframe == 23 || found[0].keyframe == 50,
        "{found:?}"
    );
}

/// Ray-casts a room (inside of a box) with a sphere and a block, seen by an
/// undistorted 160×120 camera: depth exact, intensity from a 3D pattern.
fn render(world_from_camera: &Isometry3<f64>) -> KeyframeImage {
    let camera = PinholeCamera::new(160, 120, 130.0, 130.0, 79.5, 59.5).unwrap();
    let (lo, hi) = (Vector3::new(-2.0, -1.2, -1.0), Vector3::new(2.5, 1.5, 4.0));
    let (centre, radius) = (Point3::new(0.4, 0.3, 2.5), 0.5);
    let origin = world_from_camera.translation.vector;
    let (mut intensity, mut depth) = (Vec::new(), Vec::new());
    for v in 0..120 {
        for u in 0..160 {
            let ray_c = Vector3::new(
                (f64::from(u) - 79.5) / 130.0,
                (f64::from(v) - 59.5) / 130.0,
                1.0,
            );
            let d = world_from_camera.rotation * ray_c;
            // Room walls (ray from inside the box).
            let mut t = f64::INFINITY;
            for k in 0..3 {
                if d[k].abs() > 1e-12 {
                    let bound = if d[k] > 0.0 { hi[k] } else { lo[k] };
                    t = t.min((bound - origin[k]) / d[k]);
                }
            }
            // Sphere.
            let oc = origin - centre.coords;
            let (b, cc) = (oc.dot(&d), oc.norm_squared() - radius * radius);
            let disc = b * b - d.norm_squared() * cc;
            if disc > 0.0 {
                let ts = (-b - disc.sqrt()) / d.norm_squared();
                if ts > 0.0 {
                    t = t.min(ts);
                }
            }
            let p = origin + d * t;
            intensity.push(
                (0.5 + 0.25 * (3.0 * p.x).sin() * (2.0 * p.y).cos() + 0.2 * (5.0 * p.z).sin())
                    as f32,
            );
            depth.push(t as f32); // ray_c has z = 1, so t is the depth.
        }
    }
    KeyframeImage::new(camera, intensity, depth).unwrap()
}

#[test]
fn icp_recovers_the_exact_relative_pose_and_rejects_bad_guesses() {
    let world_from_candidate =
        Isometry3::new(Vector3::new(0.1, 0.0, 0.0), Vector3::new(0.0, 0.05, 0.0));
    let world_from_query = Isometry3::new(
        Vector3::new(0.2, -0.05, 0.1),
        Vector3::new(0.03, -0.1, 0.04),
    );
    let (candidate, query) = (render(&world_from_candidate), render(&world_from_query));
    let truth = world_from_candidate.inverse() * world_from_query;
    let verifier = ProjectiveIcpVerifier::new(IcpVerifierConfig::default()).unwrap();
    // Start 4 cm and 3° off.
    let guess = truth
        * Isometry3::new(
            Vector3::new(0.03, -0.02, 0.02),
            Vector3::new(0.03, 0.03, -0.03),
        );
    let verified = verifier.align(&query, &candidate, &guess).unwrap();
    let error = truth.inverse() * verified.candidate_from_query;
    assert!(error.translation.vector.norm() < 1e-3, "{error}");
    assert!(error.rotation.angle().to_degrees() < 0.05, "{error}");
    // Bounded by the view overlap (≈ 0.7 here) and by pixels without normals.
    assert!(verified.inlier_ratio > 0.6, "{}", verified.inlier_ratio);
    assert!(verified.information.symmetric_eigenvalues().min() > 0.0);
    // A guess 35° off is outside the basin (or the correction limit).
    let far = truth * Isometry3::new(Vector3::zeros(), Vector3::new(0.0, 0.6, 0.0));
    assert!(verifier.align(&query, &candidate, &far).is_none());
    // A view of the other half of the room does not verify.
    let elsewhere = Isometry3::new(Vector3::new(0.1, 0.0, 0.5), Vector3::new(0.0, 2.6, 0.0));
    let other = render(&elsewhere);
    assert!(verifier.align(&other, &candidate, &truth).is_none());
}

#[test]
fn configs_validate() {
    assert!(LoopClosureConfig::default().validate().is_ok());
    assert!(IcpVerifierConfig::default().validate().is_ok());
    let bad = LoopClosureConfig {
        loop_kernel: RobustKernel::Huber { delta: 0.0 },
        ..LoopClosureConfig::default()
    };
    assert!(bad.validate().is_err());
    let bad = LoopClosureConfig {
        max_distance_ratio: 1.5,
        ..LoopClosureConfig::default()
    };
    assert!(bad.validate().is_err());
    let bad = IcpVerifierConfig {
        min_inlier_ratio: -0.1,
        ..IcpVerifierConfig::default()
    };
    assert!(bad.validate().is_err());
}
