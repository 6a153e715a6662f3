//! Sample handling: ordering, validation, gaps, interpolation, config.

use nalgebra::{Isometry3, Vector3};
use scenemap::imu::{ImuBias, ImuBuffer, ImuConfig, ImuNoise, Preintegrated};
use scenemap::{Error, ImuSample, Timestamp};

fn ms(t: i64) -> Timestamp {
    Timestamp::from_nanos(t * 1_000_000)
}

fn sample(t_ms: i64) -> ImuSample {
    let t = t_ms as f64 * 1e-3;
    // Linear in time so interpolation is exact.
    ImuSample::new(
        ms(t_ms),
        Vector3::new(0.1 + 0.5 * t, -0.2 * t, 0.3),
        Vector3::new(1.0 - 2.0 * t, 0.5 * t, 9.81 + t),
    )
}

#[test]
fn strict_push_names_the_rejected_sample() {
    let mut buffer = ImuBuffer::new(&ImuConfig::default());
    buffer.push(sample(0)).unwrap();
    buffer.push(sample(5)).unwrap();
    // Out of order: sample #2 in the pushed stream.
    match buffer.push(sample(3)).unwrap_err() {
        Error::NonMonotonicTimestamp {
            line,
            timestamp,
            previous,
            ..
        } => {
            assert_eq!((line, timestamp, previous), (2, ms(3), ms(5)));
        }
        other => panic!("unexpected {other}"),
    }
    // Duplicate.
    let err = buffer.push(sample(5)).unwrap_err();
    assert!(
        matches!(err, Error::NonMonotonicTimestamp { line: 3, .. }),
        "{err}"
    );
    // NaN and absurd values carry the timestamp.
    let mut nan = sample(10);
    nan.gyro_rad_s = Some(Vector3::new(f64::NAN, 0.0, 0.0));
    let err = buffer.push(nan).unwrap_err();
    assert!(
        matches!(err, Error::InvalidFrame { frame, .. } if frame == ms(10)),
        "{err}"
    );
    let mut fast = sample(11);
    fast.gyro_rad_s = Some(Vector3::new(60.0, 0.0, 0.0));
    assert!(buffer.push(fast).unwrap_err().to_string().contains("gyro"));
    let mut heavy = sample(12);
    heavy.accel_m_s2 = Some(Vector3::new(0.0, 250.0, 0.0));
    assert!(buffer
        .push(heavy)
        .unwrap_err()
        .to_string()
        .contains("accel"));
    let empty = ImuSample {
        timestamp: ms(13),
        gyro_rad_s: None,
        accel_m_s2: None,
    };
    assert!(buffer.push(empty).is_err());
    // Rejected samples were not stored; counts add up.
    assert_eq!(buffer.len(), 2);
    let c = buffer.rejected();
    assert_eq!(
        (
            c.out_of_order,
            c.duplicate,
            c.non_finite,
            c.out_of_range,
            c.empty
        ),
        (1, 1, 1, 2, 1)
    );
    assert_eq!(c.total(), 6);
    // A valid sample after the rejections is still accepted.
    buffer.push(sample(10)).unwrap();
}

#[test]
fn lenient_push_skips_and_counts() {
    let mut buffer = ImuBuffer::new(&ImuConfig::default());
    let mut stream = vec![sample(0), sample(5), sample(5), sample(4), sample(10)];
    let mut inf = sample(15);
    inf.accel_m_s2 = Some(Vector3::new(f64::INFINITY, 0.0, 0.0));
    stream.push(inf);
    stream.push(sample(20));
    assert_eq!(buffer.extend_lenient(stream), 4);
    let times: Vec<_> = buffer.samples().iter().map(|s| s.timestamp).collect();
    assert_eq!(times, vec![ms(0), ms(5), ms(10), ms(20)]);
    assert_eq!(buffer.rejected().total(), 3);
}

#[test]
fn interval_interpolates_to_exact_frame_times() {
    let mut buffer = ImuBuffer::new(&ImuConfig::default());
    // Variable rate: 5 ms then 3 ms then 7 ms spacing.
    let mut t = 0;
    for k in 0..40 {
        buffer.push(sample(t)).unwrap();
        t += [5, 3, 7][k % 3];
    }
    let (t0, t1) = (
        Timestamp::from_nanos(12_345_678),
        Timestamp::from_nanos(98_765_432),
    );
    let interval = buffer.interval(t0, t1).unwrap();
    assert_eq!(interval.samples.first().unwrap().timestamp, t0);
    assert_eq!(interval.samples.last().unwrap().timestamp, t1);
    assert!(!interval.has_gap);
    assert!((interval.max_spacing_s - 0.007).abs() < 1e-12);
    for s in &interval.samples {
        let exact = {
            let t = s.timestamp.as_secs_f64();
            let mut e = sample(0);
            e.gyro_rad_s = Some(Vector3::new(0.1 + 0.5 * t, -0.2 * t, 0.3));
            e.accel_m_s2 = Some(Vector3::new(1.0 - 2.0 * t, 0.5 * t, 9.81 + t));
            e
        };
        assert!((s.gyro_rad_s.unwrap() - exact.gyro_rad_s.unwrap()).norm() < 1e-12);
        assert!((s.accel_m_s2.unwrap() - exact.accel_m_s2.unwrap()).norm() < 1e-12);
    }
    let pre =
        Preintegrated::from_interval(&interval, ImuBias::default(), ImuNoise::default()).unwrap();
    assert!((pre.delta_t_s() - t1.secs_since(t0)).abs() < 1e-12);
    // Requests outside the data or reversed are errors.
    assert!(buffer.interval(t1, t0).is_err());
    assert!(buffer.interval(t0, ms(10_000)).is_err());
    assert!(buffer.interval(Timestamp::from_nanos(-1), t1).is_err());
    // Exact hits on raw samples are not duplicated.
    let exact = buffer.interval(ms(5), ms(15)).unwrap();
    let times: Vec<_> = exact.samples.iter().map(|s| s.timestamp).collect();
    assert_eq!(times, vec![ms(5), ms(8), ms(15)]);
}

#[test]
fn gaps_are_reported_and_flag_preintegration() {
    let config = ImuConfig {
        max_gap_s: 0.05,
        ..ImuConfig::default()
    };
    let mut buffer = ImuBuffer::new(&config);
    for t in [0, 5, 10, 15, 100, 105, 110] {
        buffer.push(sample(t)).unwrap();
    }
    assert_eq!(buffer.gaps(), vec![(ms(15), ms(100))]);
    let across = buffer.interval(ms(2), ms(108)).unwrap();
    assert!(across.has_gap);
    assert!((across.max_spacing_s - 0.085).abs() < 1e-12);
    let pre = Preintegrated::from_interval(&across, ImuBias::default(), config.noise).unwrap();
    assert!(pre.is_unreliable());
    let before = buffer.interval(ms(2), ms(14)).unwrap();
    assert!(!before.has_gap);
    // Partial overlap with the gap (ends inside it) is flagged too.
    assert!(buffer.interval(ms(2), ms(50)).unwrap().has_gap);
    buffer.drop_before(ms(100));
    assert_eq!(buffer.samples()[0].timestamp, ms(100));
}

#[test]
fn accelerometer_only_samples_are_buffered_and_interpolated() {
    let mut buffer = ImuBuffer::new(&ImuConfig::default());
    buffer
        .push(ImuSample::accel_only(ms(0), Vector3::new(0.0, 9.0, 1.0)))
        .unwrap();
    buffer
        .push(ImuSample::accel_only(ms(10), Vector3::new(0.0, 10.0, 3.0)))
        .unwrap();
    let s = buffer.sample_at(ms(5)).unwrap();
    assert_eq!(s.gyro_rad_s, None);
    assert_eq!(s.accel_m_s2, Some(Vector3::new(0.0, 9.5, 2.0)));
    // Preintegration needs a gyro: a typed error, not a panic.
    let interval = buffer.interval(ms(1), ms(9)).unwrap();
    assert!(
        Preintegrated::from_interval(&interval, ImuBias::default(), ImuNoise::default()).is_err()
    );
}

#[test]
fn config_validates_and_round_trips() {
    let config = ImuConfig::kinect_v1();
    config.validate().unwrap();
    let json = serde_json::to_string(&config).unwrap();
    let back: ImuConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, config);
    let toml_text = toml::to_string(&config).unwrap();
    let back: ImuConfig = toml::from_str(&toml_text).unwrap();
    assert_eq!(back, config);
    // t_imu = t_camera + offset.
    let shifted = ImuConfig {
        time_offset_s: -0.0125,
        ..ImuConfig::default()
    };
    assert_eq!(shifted.imu_time(ms(100)), Timestamp::from_nanos(87_500_000));
    for bad in [
        ImuConfig {
            time_offset_s: f64::NAN,
            ..ImuConfig::default()
        },
        ImuConfig {
            max_gap_s: 0.0,
            ..ImuConfig::default()
        },
        ImuConfig {
            gravity_m_s2: 1.0,
            ..ImuConfig::default()
        },
        ImuConfig {
            imu_from_camera: Isometry3::translation(5.0, 0.0, 0.0),
            ..ImuConfig::default()
        },
        ImuConfig {
            noise: ImuNoise {
                gyro_noise_density: -1.0,
                ..ImuNoise::default()
            },
            ..ImuConfig::default()
        },
    ] {
        assert!(matches!(bad.validate(), Err(Error::Config(_))), "{bad:?}");
    }
}
