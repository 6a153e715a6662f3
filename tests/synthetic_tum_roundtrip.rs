//! The synthetic writer's TUM layout is read back by the real TUM reader:
//! same frames, same poses, same IMU samples.

use approx::assert_relative_eq;
use scenemap::io::read_tum_trajectory;
use scenemap::sensor::synthetic::{SequenceConfig, SyntheticSequence, TrajectoryPreset};
use scenemap::sensor::tum::read_imu_file;
use scenemap::sensor::TumSequence;

#[test]
fn tum_reader_reads_the_synthetic_writer_output() {
    let config = SequenceConfig {
        duration_s: 0.25,
        ..SequenceConfig::default()
    };
    let sequence = SyntheticSequence::furnished(3, TrajectoryPreset::Gentle, config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    scenemap::sensor::synthetic::write_tum_sequence(dir.path(), &sequence).unwrap();

    let tum = TumSequence::open(dir.path())
        .unwrap()
        .with_camera(*sequence.camera());
    assert_eq!(tum.len(), sequence.frame_count());
    for (i, frame) in tum.frames().enumerate() {
        let frame = frame.unwrap();
        let rendered = sequence.render_frame(i).unwrap();
        assert_eq!(frame.timestamp, rendered.frame.timestamp);
        assert_eq!(
            frame.color, rendered.frame.color,
            "frame {i}: colour is lossless PNG"
        );
        for (a, b) in frame.depth_m.iter().zip(&rendered.frame.depth_m) {
            // 16-bit PNG at 1/5000 m: half a step of quantisation.
            assert!((a - b).abs() <= 1.0e-4 + 1e-6, "{a} vs {b}");
        }
    }

    let groundtruth = tum.groundtruth().expect("groundtruth.txt written");
    let truth = sequence.groundtruth();
    assert_eq!(groundtruth.len(), truth.len());
    for (a, b) in groundtruth.iter().zip(&truth) {
        assert_eq!(a.timestamp, b.timestamp);
        assert_relative_eq!(a.world_from_camera, b.world_from_camera, epsilon = 1e-8);
    }
    assert_eq!(
        read_tum_trajectory(dir.path().join("groundtruth.txt"))
            .unwrap()
            .len(),
        truth.len()
    );

    let imu = read_imu_file(dir.path().join("imu.txt")).unwrap();
    let expected = sequence.imu().samples;
    assert_eq!(imu.len(), expected.len());
    for (a, b) in imu.iter().zip(&expected) {
        assert_eq!(a.timestamp, b.timestamp);
        assert_relative_eq!(a.gyro_rad_s.unwrap(), b.gyro_rad_s.unwrap(), epsilon = 1e-6);
        assert_relative_eq!(a.accel_m_s2.unwrap(), b.accel_m_s2.unwrap(), epsilon = 1e-5);
    }
}
