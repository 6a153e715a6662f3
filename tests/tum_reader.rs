//! The TUM reader on real data (`../shared/data/tum`), with the numbers of
//! the dataset README as oracles.

mod common;

use scenemap::sensor::tum::{associate, TumSequence};
use scenemap::{PinholeCamera, RgbdFrame, Timestamp};

// The README gives the depth statistics rounded to whole percent and to
// centimetres (fr1_rpy "70 %-81 %", measured 69.83 %-81.32 %), so the bounds
// below are the README ranges widened by half a rounding unit.

/// Fraction of pixels with valid depth, and the median valid depth in metres.
fn depth_stats(frame: &RgbdFrame) -> (f64, f32) {
    let mut valid: Vec<f32> = frame
        .depth_m
        .iter()
        .copied()
        .filter(|&d| RgbdFrame::is_valid_depth(d))
        .collect();
    let fraction = valid.len() as f64 / frame.pixel_count() as f64;
    let mid = valid.len() / 2;
    let (_, median, _) = valid.select_nth_unstable_by(mid, f32::total_cmp);
    (fraction, *median)
}

#[test]
fn fr1_desk_9f_reads_completely() {
    let Some(dir) = common::tum_sequence("fr1_desk_9f") else {
        return;
    };
    let sequence = TumSequence::open(&dir).unwrap();
    assert_eq!(sequence.camera(), &PinholeCamera::tum_freiburg1());
    assert_eq!(sequence.len(), 9);
    assert_eq!(sequence.color_list().len(), 9);
    assert_eq!(sequence.depth_list().len(), 9);
    assert_eq!(sequence.groundtruth().map(<[_]>::len), Some(2335));
    assert!(sequence.accelerometer().is_none());
    for (i, pair) in sequence.pairs().iter().enumerate() {
        // README: colour frame i pairs with depth frame i, depth 9-15 ms later.
        assert_eq!(pair.color_timestamp, sequence.color_list()[i].timestamp);
        assert_eq!(pair.depth_timestamp, sequence.depth_list()[i].timestamp);
        let dt_s = pair.depth_timestamp.secs_since(pair.color_timestamp);
        assert!((0.009..=0.015).contains(&dt_s), "pair {i}: {dt_s}");
        assert!(pair
            .color_path
            .ends_with(format!("rgb/{}.png", pair.color_timestamp)));
    }
    let frames: Vec<RgbdFrame> = sequence.frames().map(Result::unwrap).collect();
    assert_eq!(frames.len(), 9);
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(frame.timestamp, sequence.pairs()[i].color_timestamp);
        assert_eq!((frame.width, frame.height), (640, 480));
        let (fraction, median_m) = depth_stats(frame);
        assert!((0.805..=0.835).contains(&fraction), "frame {i}: {fraction}");
        assert!((1.075..=1.195).contains(&median_m), "frame {i}: {median_m}");
        // The colour image is a real picture, not a constant fill.
        let first = frame.color[0];
        assert!(frame.color.iter().any(|&c| c != first));
    }
    // Random access and the reverse iterator decode the same frames.
    assert_eq!(sequence.frame(4).unwrap(), frames[4]);
    assert_eq!(sequence.frames().next_back().unwrap().unwrap(), frames[8]);
    assert_eq!(sequence.frames().nth(7).unwrap().unwrap(), frames[7]);
    assert_eq!(sequence.frames().len(), 9);
    assert!(sequence.frame(9).is_err());
}

#[test]
fn camera_override_and_depth_scale() {
    let Some(dir) = common::tum_sequence("fr1_desk_9f") else {
        return;
    };
    let default = TumSequence::open(&dir).unwrap().frame(0).unwrap();
    let sequence = TumSequence::open(&dir)
        .unwrap()
        .with_camera(PinholeCamera::tum_ros_default())
        .with_depth_scale(2500.0)
        .unwrap();
    assert_eq!(sequence.camera(), &PinholeCamera::tum_ros_default());
    let frame = sequence.frame(0).unwrap();
    for (a, b) in default.depth_m.iter().zip(&frame.depth_m) {
        assert!((b - 2.0 * a).abs() <= 1e-6 * a.abs().max(1.0));
    }
    // A tighter association window drops every pair here (9-15 ms apart).
    let err = TumSequence::open(&dir)
        .unwrap()
        .with_max_difference_s(0.005)
        .unwrap_err();
    assert!(matches!(err, scenemap::Error::Format { .. }), "{err}");
}

/// Heavy: decodes all 694 frames of fr1_rpy. Runs in release in CI.
#[test]
fn heavy_fr1_rpy_every_frame_decodes() {
    let Some(dir) = common::tum_sequence("fr1_rpy") else {
        return;
    };
    let sequence = TumSequence::open(&dir).unwrap();
    assert_eq!(sequence.color_list().len(), 723);
    assert_eq!(sequence.depth_list().len(), 722);
    assert_eq!(sequence.len(), 694, "associate.py gives 694 pairs");
    assert_eq!(sequence.groundtruth().map(<[_]>::len), Some(2742));
    assert_eq!(sequence.accelerometer().map(<[_]>::len), Some(14070));
    assert_eq!(sequence.camera(), &PinholeCamera::tum_freiburg1());

    // The public function over timestamp slices gives the same pairs.
    let color: Vec<Timestamp> = sequence.color_list().iter().map(|e| e.timestamp).collect();
    let depth: Vec<Timestamp> = sequence.depth_list().iter().map(|e| e.timestamp).collect();
    let pairs = associate(&color, &depth, 0.02);
    assert_eq!(pairs.len(), 694);
    for (&(i, j), pair) in pairs.iter().zip(sequence.pairs()) {
        assert_eq!(
            (color[i], depth[j]),
            (pair.color_timestamp, pair.depth_timestamp)
        );
        assert!(pair.depth_timestamp.secs_since(pair.color_timestamp).abs() < 0.02);
    }
    assert!(pairs
        .windows(2)
        .all(|w| w[0].0 < w[1].0 && w[0].1 != w[1].1));

    let mut decoded = 0;
    for (i, frame) in sequence.frames().enumerate() {
        let frame = frame.unwrap_or_else(|e| panic!("frame {i}: {e}"));
        assert_eq!(frame.timestamp, sequence.pairs()[i].color_timestamp);
        assert_eq!((frame.width, frame.height), (640, 480));
        let (fraction, median_m) = depth_stats(&frame);
        assert!((0.695..=0.815).contains(&fraction), "frame {i}: {fraction}");
        assert!((0.765..=3.265).contains(&median_m), "frame {i}: {median_m}");
        decoded += 1;
    }
    assert_eq!(decoded, 694);
}
