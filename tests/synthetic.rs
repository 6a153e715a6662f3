//! Oracle tests of the synthetic scene generator: exact plane depths, brute
//! force ray casting, IMU integration back to the trajectory, determinism,
//! layout validity, noise statistics and the TUM writer.

use std::path::PathBuf;

use nalgebra::{Isometry3, Point2, Point3, UnitQuaternion, Vector3};
use scenemap::sensor::synthetic::{
    render, DepthNoise, ImuNoise, ImuSimulator, RenderOptions, Renderer, SceneBuilder,
    SequenceConfig, SyntheticScene, SyntheticSequence, Trajectory, TrajectoryPreset, FLOOR_ID,
    GRAVITY_M_S2, NO_INSTANCE, WALL_IDS,
};
use scenemap::sensor::{ImuSample, Timestamp};
use scenemap::PinholeCamera;

fn empty_room() -> SyntheticScene {
    SceneBuilder::new(Vector3::new(5.0, 4.0, 2.6)).build()
}

#[test]
fn wall_depth_is_exact_for_pinhole_and_distorted_cameras() {
    let scene = empty_room();
    // Camera 1.5 m in front of the wall x = 5, looking along +x.
    let world_from_camera =
        Trajectory::stationary(Vector3::new(3.5, 2.0, 1.3), 0.0, 0.0, 0.0).pose(0.0);
    for camera in [
        PinholeCamera::tum_ros_default(),
        PinholeCamera::tum_freiburg1(),
    ] {
        let out = render(
            &scene,
            &camera,
            &world_from_camera,
            &RenderOptions::default(),
        );
        let mut checked = 0;
        for (i, (&d, &id)) in out.frame.depth_m.iter().zip(&out.instance_mask).enumerate() {
            assert!((d - 1.5).abs() < 1e-4, "pixel {i}: depth {d}");
            assert_eq!(id, WALL_IDS[1], "pixel {i}");
            checked += 1;
        }
        assert_eq!(checked, 640 * 480);
    }
}

#[test]
fn tilted_floor_depth_is_exact() {
    let scene = empty_room();
    let height_m = 1.2;
    let world_from_camera = Trajectory::stationary(
        Vector3::new(2.5, 2.0, height_m),
        0.3,
        60_f64.to_radians(),
        0.1,
    )
    .pose(0.0);
    let camera = PinholeCamera::tum_ros_default();
    let out = render(
        &scene,
        &camera,
        &world_from_camera,
        &RenderOptions::default(),
    );
    let mut worst: f64 = 0.0;
    for v in 0..camera.height {
        for u in 0..camera.width {
            let xy = camera
                .pixel_to_normalized(Point2::new(f64::from(u), f64::from(v)))
                .unwrap();
            let ray_world = world_from_camera.rotation * Vector3::new(xy.x, xy.y, 1.0);
            // Plane z = 0: height + t · ray_z = 0, and t is the depth (ray z = 1).
            let expected = -height_m / ray_world.z;
            let idx = (v * camera.width + u) as usize;
            worst = worst.max((f64::from(out.frame.depth_m[idx]) - expected).abs());
            assert_eq!(out.instance_mask[idx], FLOOR_ID, "pixel ({u}, {v})");
        }
    }
    assert!(worst < 1e-4, "worst floor depth error {worst} m");
}

/// First hit over every part of every object, no culling.
fn brute_force_hit(
    scene: &SyntheticScene,
    origin: &Point3<f64>,
    dir: &Vector3<f64>,
) -> Option<(f64, u32)> {
    let mut best: Option<(f64, u32)> = None;
    for object in scene.objects() {
        for part in &object.parts {
            let part_from_world =
                (object.groundtruth.world_from_object * part.object_from_part).inverse();
            let o = (part_from_world * origin).coords;
            let d = part_from_world.rotation * dir;
            if let Some(t) = part.shape.intersect(&o, &d) {
                if best.is_none_or(|(bt, _)| t < bt) {
                    best = Some((t, object.groundtruth.instance_id));
                }
            }
        }
    }
    best
}

#[test]
fn culled_render_matches_brute_force_and_ray_marching() {
    let scene = SyntheticScene::furnished_room(5);
    let trajectory = Trajectory::gentle(&scene, 5);
    let camera = PinholeCamera::tum_freiburg1().scaled_to_level(2);
    let renderer = Renderer::new(camera);
    let mut furniture_pixels = 0;
    for k in 0..4 {
        let world_from_camera = trajectory.pose(2.5 * k as f64);
        let out = renderer.render(&scene, &world_from_camera, &RenderOptions::default());
        let origin = Point3::from(world_from_camera.translation.vector);
        for v in (0..camera.height).step_by(3) {
            for u in (0..camera.width).step_by(3) {
                let idx = (v * camera.width + u) as usize;
                let xy = camera
                    .pixel_to_normalized(Point2::new(f64::from(u), f64::from(v)))
                    .unwrap();
                let dir = world_from_camera.rotation * Vector3::new(xy.x, xy.y, 1.0);
                let (t, id) = brute_force_hit(&scene, &origin, &dir).expect("closed room");
                let depth = f64::from(out.frame.depth_m[idx]);
                assert!((depth - t).abs() < 1e-4, "pixel ({u},{v}): {depth} vs {t}");
                assert_eq!(out.instance_mask[idx], id, "pixel ({u},{v})");
                if id > WALL_IDS[3] {
                    furniture_pixels += 1;
                }
                // Nothing solid in front of the rendered surface (5 mm marching).
                if idx.is_multiple_of(7) {
                    let mut s = 0.005;
                    while s < depth - 1e-6 {
                        assert!(
                            !scene.is_occupied(&(origin + dir * s)),
                            "pixel ({u},{v}) occluded at {s}"
                        );
                        s += 0.005;
                    }
                }
            }
        }
    }
    assert!(
        furniture_pixels > 200,
        "camera should look at furniture ({furniture_pixels})"
    );
}

/// RK4 integration of IMU samples with step h = 2Δt: stages at t, t + h/2
/// and t + h use the samples k, k + 1 and k + 2 (piecewise-analytic inputs
/// at the exact stage times). State: world_from_imu rotation q, velocity v,
/// position p; q̇ = ½ q ⊗ ω, v̇ = R(q) f + g, ṗ = v.
fn integrate_rk4(
    samples: &[ImuSample],
    q0: UnitQuaternion<f64>,
    v0: Vector3<f64>,
    p0: Vector3<f64>,
    bias: (Vector3<f64>, Vector3<f64>),
) -> Vec<(Timestamp, UnitQuaternion<f64>, Vector3<f64>)> {
    type State = (nalgebra::Quaternion<f64>, Vector3<f64>, Vector3<f64>);
    let f = |s: &State, w: &Vector3<f64>, a: &Vector3<f64>| -> State {
        let q = s.0;
        let dq = q * nalgebra::Quaternion::from_imag(*w) * 0.5;
        let r = UnitQuaternion::from_quaternion(q);
        (dq, r * a + GRAVITY_M_S2, s.1)
    };
    let add =
        |s: &State, k: &State, h: f64| -> State { (s.0 + k.0 * h, s.1 + k.1 * h, s.2 + k.2 * h) };
    let mut state: State = (*q0.quaternion(), v0, p0);
    let mut out = vec![(samples[0].timestamp, q0, p0)];
    let meas = |s: &ImuSample| {
        (
            s.gyro_rad_s.unwrap() - bias.0,
            s.accel_m_s2.unwrap() - bias.1,
        )
    };
    let mut k = 0;
    while k + 2 < samples.len() {
        let h = samples[k + 2].timestamp.secs_since(samples[k].timestamp);
        let (w0, a0) = meas(&samples[k]);
        let (w1, a1) = meas(&samples[k + 1]);
        let (w2, a2) = meas(&samples[k + 2]);
        let k1 = f(&state, &w0, &a0);
        let k2 = f(&add(&state, &k1, h / 2.0), &w1, &a1);
        let k3 = f(&add(&state, &k2, h / 2.0), &w1, &a1);
        let k4 = f(&add(&state, &k3, h), &w2, &a2);
        let q = state.0 + (k1.0 + k2.0 * 2.0 + k3.0 * 2.0 + k4.0) * (h / 6.0);
        let v = state.1 + (k1.1 + k2.1 * 2.0 + k3.1 * 2.0 + k4.1) * (h / 6.0);
        let p = state.2 + (k1.2 + k2.2 * 2.0 + k3.2 * 2.0 + k4.2) * (h / 6.0);
        state = (q.normalize(), v, p);
        k += 2;
        out.push((
            samples[k].timestamp,
            UnitQuaternion::from_quaternion(state.0),
            state.2,
        ));
    }
    out
}

fn check_imu_integration(
    trajectory: &Trajectory,
    imu: &ImuSimulator,
    bias: (Vector3<f64>, Vector3<f64>),
) -> (f64, f64) {
    let start = Timestamp(1_000_000_000_000_000_000);
    let data = imu.simulate(trajectory, start, 5.0 + 1e-3);
    let world_from_imu0 = imu.world_from_imu(trajectory, 0.0);
    // Velocity of the IMU origin: v_C + R ω × r.
    let r = imu.imu_from_camera.inverse().translation.vector;
    let v0 = trajectory.linear_velocity(0.0)
        + trajectory.pose(0.0).rotation * trajectory.angular_velocity_body(0.0).cross(&r);
    let states = integrate_rk4(
        &data.samples,
        world_from_imu0.rotation,
        v0,
        world_from_imu0.translation.vector,
        bias,
    );
    let (mut worst_p, mut worst_r): (f64, f64) = (0.0, 0.0);
    for (timestamp, q, p) in &states {
        let truth = imu.world_from_imu(trajectory, timestamp.secs_since(start));
        worst_p = worst_p.max((p - truth.translation.vector).norm());
        worst_r = worst_r.max((truth.rotation.inverse() * q).angle());
    }
    assert!(states.last().unwrap().0.secs_since(start) >= 5.0 - 1e-9);
    (worst_p, worst_r)
}

#[test]
fn noise_free_imu_integrates_back_to_the_trajectory() {
    let scene = SyntheticScene::furnished_room(2);
    let gentle = Trajectory::gentle(&scene, 2);
    let (p, r) = check_imu_integration(
        &gentle,
        &ImuSimulator::new(200.0),
        (Vector3::zeros(), Vector3::zeros()),
    );
    eprintln!("gentle @200 Hz: {p:.2e} m, {r:.2e} rad");
    assert!(p < 1e-3 && r < 1e-5, "gentle @200 Hz: {p} m, {r} rad");
    // Lever arm and rotated IMU: the integrated IMU pose is world_from_imu.
    let imu_from_camera = Isometry3::new(
        Vector3::new(0.05, -0.03, 0.02),
        Vector3::new(0.1, -0.2, 0.3),
    );
    let imu = ImuSimulator::new(200.0).with_imu_from_camera(imu_from_camera);
    let (p, r) = check_imu_integration(&gentle, &imu, (Vector3::zeros(), Vector3::zeros()));
    assert!(
        p < 1e-3 && r < 1e-5,
        "gentle with extrinsic: {p} m, {r} rad"
    );
    let aggressive = Trajectory::aggressive(&scene, 2);
    let (p, r) = check_imu_integration(
        &aggressive,
        &ImuSimulator::new(200.0),
        (Vector3::zeros(), Vector3::zeros()),
    );
    eprintln!("aggressive @200 Hz: {p:.2e} m, {r:.2e} rad");
    assert!(p < 1e-3 && r < 1e-5, "aggressive @200 Hz: {p} m, {r} rad");
}

#[test]
fn imu_biases_are_recoverable_and_noise_has_the_right_scale() {
    let scene = SyntheticScene::furnished_room(2);
    let trajectory = Trajectory::gentle(&scene, 2);
    let bg = Vector3::new(0.01, -0.02, 0.005);
    let ba = Vector3::new(0.1, 0.05, -0.2);
    let noise = ImuNoise {
        initial_gyro_bias_rad_s: bg,
        initial_accel_bias_m_s2: ba,
        ..ImuNoise::default()
    };
    // Constant biases: subtracting them recovers the trajectory.
    let imu = ImuSimulator::new(200.0).with_noise(noise, 9);
    let (p, r) = check_imu_integration(&trajectory, &imu, (bg, ba));
    assert!(p < 1e-3 && r < 1e-5, "{p} m, {r} rad");
    // Random-walk biases: measured − recorded bias = ideal, exactly.
    let noise = ImuNoise {
        gyro_bias_random_walk: 1e-3,
        accel_bias_random_walk: 1e-2,
        ..noise
    };
    let imu = ImuSimulator::new(200.0).with_noise(noise, 9);
    let start = Timestamp(0);
    let data = imu.simulate(&trajectory, start, 20.0);
    assert_eq!(data.samples.len(), 4000);
    let mut increments = Vec::new();
    for (k, (s, b)) in data.samples.iter().zip(&data.biases).enumerate() {
        let (g, a) = imu.ideal(&trajectory, s.timestamp.secs_since(start));
        assert!((s.gyro_rad_s.unwrap() - b.gyro_rad_s - g).norm() < 1e-12);
        assert!((s.accel_m_s2.unwrap() - b.accel_m_s2 - a).norm() < 1e-12);
        if k > 0 {
            increments.extend(
                (b.accel_m_s2 - data.biases[k - 1].accel_m_s2)
                    .iter()
                    .copied(),
            );
        }
    }
    // Random-walk increments have σ = σ_b √Δt.
    let std = (increments.iter().map(|x| x * x).sum::<f64>() / increments.len() as f64).sqrt();
    let expected = 1e-2 * (1.0_f64 / 200.0).sqrt();
    assert!((std / expected - 1.0).abs() < 0.05, "{std} vs {expected}");
    // White noise: σ_d = σ_c / √Δt.
    let imu = ImuSimulator::new(200.0).with_noise(
        ImuNoise {
            gyro_noise_density: 1e-3,
            ..ImuNoise::default()
        },
        4,
    );
    let data = imu.simulate(&trajectory, start, 20.0);
    let errors: Vec<f64> = data
        .samples
        .iter()
        .flat_map(|s| {
            let (g, _) = imu.ideal(&trajectory, s.timestamp.secs_since(start));
            (s.gyro_rad_s.unwrap() - g)
                .iter()
                .copied()
                .collect::<Vec<_>>()
        })
        .collect();
    let std = (errors.iter().map(|x| x * x).sum::<f64>() / errors.len() as f64).sqrt();
    let expected = 1e-3 * 200.0_f64.sqrt();
    assert!((std / expected - 1.0).abs() < 0.05, "{std} vs {expected}");
}

#[test]
fn same_seed_same_bytes_different_seed_different_layout() {
    let config = SequenceConfig {
        duration_s: 0.5,
        noise: DepthNoise::kinect(3),
        ..SequenceConfig::default()
    };
    let a = SyntheticSequence::furnished(3, TrajectoryPreset::Gentle, config.clone()).unwrap();
    let b = SyntheticSequence::furnished(3, TrajectoryPreset::Gentle, config.clone()).unwrap();
    let fa = a.render_frame(7).unwrap();
    let fb = b.render_frame(7).unwrap();
    assert_eq!(fa.frame.color, fb.frame.color);
    assert_eq!(
        fa.frame
            .depth_m
            .iter()
            .map(|d| d.to_bits())
            .collect::<Vec<_>>(),
        fb.frame
            .depth_m
            .iter()
            .map(|d| d.to_bits())
            .collect::<Vec<_>>()
    );
    assert_eq!(fa.instance_mask, fb.instance_mask);
    assert_eq!(a.imu(), b.imu());
    assert_eq!(a.objects(), b.objects());
    let c = SyntheticSequence::furnished(4, TrajectoryPreset::Gentle, config).unwrap();
    let table = |s: &SyntheticSequence| {
        s.scene()
            .first_of_class("table")
            .unwrap()
            .groundtruth
            .world_from_object
    };
    assert!((table(&a).translation.vector - table(&c).translation.vector).norm() > 1e-3);
    assert_ne!(fa.frame.color, c.render_frame(7).unwrap().frame.color);
}

#[test]
fn layouts_are_physically_valid_for_many_seeds() {
    let mut rng = scenemap::sensor::synthetic::Rng::new(1);
    for seed in 0..25 {
        let scene = SyntheticScene::furnished_room(seed);
        let pairs = scene.interpenetrating_pairs(1e-9);
        assert!(pairs.is_empty(), "seed {seed}: overlapping {pairs:?}");
        let count = |class: &str| {
            scene
                .objects()
                .iter()
                .filter(|o| o.groundtruth.class == class)
                .count()
        };
        assert_eq!(count("table"), 1, "seed {seed}");
        assert!(count("chair") >= 2, "seed {seed}");
        assert_eq!(count("shelf"), 1, "seed {seed}");
        assert!(count("box") >= 3, "seed {seed}");
        assert_eq!((count("mug"), count("bottle")), (1, 1), "seed {seed}");
        let mut ids: Vec<u32> = scene
            .objects()
            .iter()
            .map(|o| o.groundtruth.instance_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), scene.objects().len());
        // Objects differ clearly in base colour.
        let furniture: Vec<_> = scene
            .objects()
            .iter()
            .filter(|o| !o.groundtruth.is_structure)
            .collect();
        for (i, a) in furniture.iter().enumerate() {
            for b in &furniture[i + 1..] {
                let d: f32 = (0..3)
                    .map(|k| (a.texture.base_color[k] - b.texture.base_color[k]).abs())
                    .sum();
                assert!(
                    d > 0.15,
                    "seed {seed}: {} and {} look alike",
                    a.groundtruth.instance_id,
                    b.groundtruth.instance_id
                );
            }
        }
        assert!(!ids.contains(&NO_INSTANCE));
        for object in scene.objects() {
            let gt = &object.groundtruth;
            let r = gt.world_from_object.rotation;
            // Furniture is only yawed; its bottom rests on its support's top.
            if let Some(support) = gt.support {
                assert!((r * Vector3::z() - Vector3::z()).norm() < 1e-12);
                let bottom = gt.world_from_object.translation.z - gt.dimensions_m.z / 2.0;
                let s = &scene.object(support).unwrap().groundtruth;
                let s_top = s.world_from_object.translation.z + s.dimensions_m.z / 2.0;
                match s.class.as_str() {
                    "floor" => assert!(
                        bottom.abs() < 1e-9,
                        "seed {seed} {}: bottom {bottom}",
                        gt.class
                    ),
                    "table" => assert!(
                        (bottom - s_top).abs() < 1e-9,
                        "seed {seed}: {bottom} vs {s_top}"
                    ),
                    "shelf" => assert!(bottom > 0.0 && bottom < s_top),
                    other => panic!("unexpected support {other}"),
                }
                // Resting: the point just below the centre of the bottom is solid
                // for everything except shelf items (which sit on a board too).
                let below =
                    gt.world_from_object * Point3::new(0.0, 0.0, -gt.dimensions_m.z / 2.0 - 1e-6);
                assert!(scene.is_occupied(&below), "seed {seed} {} floats", gt.class);
            }
            // Mass = density · fill · volume, and the volume matches Monte Carlo
            // over the union of the parts (so parts do not overlap either).
            assert!(
                (gt.mass_kg - gt.density_kg_m3 * gt.fill_fraction * gt.volume_m3).abs()
                    < 1e-12 * gt.mass_kg.max(1.0)
            );
            if seed < 3 && !gt.is_structure {
                let h = gt.dimensions_m / 2.0;
                let n = 60_000;
                let mut inside = 0;
                for _ in 0..n {
                    let p = Vector3::new(
                        rng.range(-h.x, h.x),
                        rng.range(-h.y, h.y),
                        rng.range(-h.z, h.z),
                    );
                    if object.parts.iter().any(|part| {
                        part.shape.contains(
                            &part
                                .object_from_part
                                .inverse_transform_point(&Point3::from(p))
                                .coords,
                        )
                    }) {
                        inside += 1;
                    }
                }
                let mc = 8.0 * h.x * h.y * h.z * f64::from(inside) / f64::from(n);
                let tolerance = 4.0 * (gt.volume_m3 * 8.0 * h.x * h.y * h.z / f64::from(n)).sqrt();
                assert!(
                    (mc - gt.volume_m3).abs() < tolerance,
                    "seed {seed} {}: MC {mc} vs {}",
                    gt.class,
                    gt.volume_m3
                );
            }
        }
    }
}

#[test]
fn presets_stay_in_the_room_and_have_their_speeds() {
    for seed in 0..6 {
        let scene = SyntheticScene::furnished_room(seed);
        let l = scene.room_size_m();
        for (preset, max_deg_s, speed_range) in [
            (TrajectoryPreset::Gentle, (15.0, 45.0), (0.15, 0.5)),
            (TrajectoryPreset::Aggressive, (180.0, 320.0), (0.3, 1.5)),
        ] {
            let trajectory = Trajectory::preset(preset, &scene, seed);
            let (mut peak_w, mut speed_sum, mut n) = (0.0_f64, 0.0, 0);
            for k in 0..3000 {
                let t = k as f64 * 0.01;
                let p = trajectory.position(t);
                assert!(
                    p.x > 0.75 && p.y > 0.75 && p.x < l.x - 0.75 && p.y < l.y - 0.75,
                    "{preset:?} seed {seed}: {p}"
                );
                assert!(p.z > 1.2 && p.z < 1.7);
                assert!(!scene.is_occupied(&Point3::from(p)));
                peak_w = peak_w.max(trajectory.angular_velocity_body(t).norm().to_degrees());
                speed_sum += trajectory.linear_velocity(t).norm();
                n += 1;
            }
            let speed = speed_sum / f64::from(n);
            eprintln!("{preset:?} seed {seed}: peak {peak_w:.0} deg/s, mean speed {speed:.2} m/s");
            assert!(
                peak_w > max_deg_s.0 && peak_w < max_deg_s.1,
                "{preset:?}: peak {peak_w} °/s"
            );
            assert!(
                speed > speed_range.0 && speed < speed_range.1,
                "{preset:?}: mean speed {speed}"
            );
        }
    }
}

#[test]
fn axial_noise_std_matches_nguyen_model_at_two_metres() {
    let scene = empty_room();
    let world_from_camera =
        Trajectory::stationary(Vector3::new(3.0, 2.0, 1.3), 0.0, 0.0, 0.0).pose(0.0);
    let options = RenderOptions {
        noise: DepthNoise {
            axial: true,
            seed: 11,
            ..DepthNoise::default()
        },
        ..RenderOptions::default()
    };
    let out = render(
        &scene,
        &PinholeCamera::tum_ros_default(),
        &world_from_camera,
        &options,
    );
    let errors: Vec<f64> = out
        .frame
        .depth_m
        .iter()
        .map(|&d| f64::from(d) - 2.0)
        .collect();
    let n = errors.len() as f64;
    let mean = errors.iter().sum::<f64>() / n;
    let std = (errors.iter().map(|e| (e - mean) * (e - mean)).sum::<f64>() / n).sqrt();
    let sigma = f64::from(DepthNoise::axial_sigma_m(2.0));
    eprintln!("axial noise at 2 m: std {std:.5} m, model {sigma:.5} m");
    assert!((std / sigma - 1.0).abs() < 0.1, "std {std} vs σ {sigma}");
    assert!(mean.abs() < 0.1 * sigma);
}

#[test]
fn blackouts_black_out_vision_only() {
    let config = SequenceConfig {
        duration_s: 0.3,
        blackouts_s: vec![(0.1, 0.2)],
        ..SequenceConfig::default()
    };
    let scene = SyntheticScene::furnished_room(1);
    let trajectory = Trajectory::gentle(&scene, 1);
    let camera = PinholeCamera::tum_ros_default().scaled_to_level(3);
    let sequence = SyntheticSequence::new(scene, camera, trajectory, config).unwrap();
    assert_eq!(sequence.frame_count(), 9);
    for (i, f) in sequence.frames().enumerate() {
        let t = sequence.frame_time_s(i);
        let black =
            f.frame.color.iter().all(|c| *c == [0, 0, 0]) && f.frame.valid_depth_count() == 0;
        assert_eq!(black, (0.1..0.2).contains(&t), "frame {i} at {t}");
    }
    assert_eq!(sequence.imu().samples.len(), 60);
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scenemap-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn writer_produces_a_tum_layout() {
    let config = SequenceConfig {
        duration_s: 0.2,
        ..SequenceConfig::default()
    };
    let scene = SyntheticScene::furnished_room(8);
    let trajectory = Trajectory::gentle(&scene, 8);
    let camera = PinholeCamera::tum_ros_default().scaled_to_level(2);
    let sequence = SyntheticSequence::new(scene, camera, trajectory, config).unwrap();
    let dir = temp_dir("writer");
    let summary = scenemap::sensor::synthetic::write_tum_sequence(&dir, &sequence).unwrap();
    assert_eq!(summary.frames, 6);
    let data_lines = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(data_lines("rgb.txt").len(), 6);
    assert_eq!(data_lines("depth.txt").len(), 6);
    assert_eq!(data_lines("groundtruth.txt").len(), 6);
    assert_eq!(data_lines("imu.txt").len(), 40);
    assert_eq!(data_lines("imu.txt")[0].split_whitespace().count(), 7);
    assert!(data_lines("rgb.txt")[0].starts_with("1600000000.000000 rgb/1600000000.000000.png"));
    let gt = scenemap::io::read_tum_trajectory(dir.join("groundtruth.txt")).unwrap();
    assert!(
        (gt[3].world_from_camera.translation.vector
            - sequence.groundtruth()[3]
                .world_from_camera
                .translation
                .vector)
            .norm()
            < 1e-8
    );
    let objects: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("objects.json")).unwrap()).unwrap();
    assert_eq!(
        objects["objects"].as_array().unwrap().len(),
        sequence.scene().objects().len()
    );
    let cam: PinholeCamera =
        serde_json::from_str(&std::fs::read_to_string(dir.join("camera.json")).unwrap()).unwrap();
    assert_eq!(cam, camera);
    for (i, line) in data_lines("depth.txt").iter().enumerate() {
        let file = line.split_whitespace().nth(1).unwrap();
        let png = image::open(dir.join(file)).unwrap();
        let png = match png {
            image::DynamicImage::ImageLuma16(img) => img,
            other => panic!("{file}: expected 16-bit grey, got {:?}", other.color()),
        };
        let rendered = sequence.render_frame(i).unwrap();
        for (raw, &d) in png.as_raw().iter().zip(&rendered.frame.depth_m) {
            assert!(d > 0.0 && *raw > 0);
            assert!(
                (f32::from(*raw) / 5000.0 - d).abs() <= 0.0002,
                "{raw} vs {d}"
            );
        }
        let rgb_file = data_lines("rgb.txt")[i]
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned();
        let rgb = image::open(dir.join(rgb_file)).unwrap().into_rgb8();
        assert_eq!(
            rgb.as_raw(),
            &rendered
                .frame
                .color
                .iter()
                .flatten()
                .copied()
                .collect::<Vec<u8>>()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
