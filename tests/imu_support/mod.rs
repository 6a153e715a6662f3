//! Shared oracles for the IMU tests: an analytic trajectory with exact
//! derivatives, an IMU simulator and a tiny deterministic RNG.
#![allow(dead_code)]

use nalgebra::{Rotation3, Vector3};
use scenemap::geometry::pose_at;
use scenemap::imu::so3;
use scenemap::StampedPose;
use scenemap::{ImuSample, Timestamp};

/// Angle between two vectors, degrees (nalgebra's `angle`: clamped acos of
/// the normalised dot product).
pub fn angle_deg(a: &Vector3<f64>, b: &Vector3<f64>) -> f64 {
    a.angle(b).to_degrees()
}

/// World gravity of the simulation (z up).
pub fn gravity() -> Vector3<f64> {
    Vector3::new(0.0, 0.0, -9.81)
}

/// Smooth analytic trajectory: sinusoidal position and rotation vector with
/// exact first and second derivatives.
#[derive(Clone, Copy, Debug)]
pub struct Trajectory {
    /// Scale of the rotation amplitudes (1 = about ±0.5 rad per axis).
    pub rotation_scale: f64,
    /// Scale of the position amplitudes (1 = up to ~2.3 m/s² acceleration).
    pub position_scale: f64,
}

impl Default for Trajectory {
    fn default() -> Self {
        Self {
            rotation_scale: 1.0,
            position_scale: 1.0,
        }
    }
}

const POS_AMP: [f64; 3] = [0.8, 0.5, 0.3];
const POS_FREQ: [f64; 3] = [1.1, 1.7, 2.3];
const POS_PHASE: [f64; 3] = [0.3, 1.1, -0.4];
const ROT_AMP: [f64; 3] = [0.5, 0.4, 0.6];
const ROT_FREQ: [f64; 3] = [1.3, 2.1, 0.9];
const ROT_PHASE: [f64; 3] = [0.2, -0.7, 1.5];

impl Trajectory {
    /// Position p(t), m.
    pub fn position(&self, t: f64) -> Vector3<f64> {
        Vector3::from_fn(|k, _| {
            self.position_scale * (POS_AMP[k] * (POS_FREQ[k] * t + POS_PHASE[k]).sin() + 0.1 * t)
        })
    }
    /// Velocity ṗ(t), m/s.
    pub fn velocity(&self, t: f64) -> Vector3<f64> {
        Vector3::from_fn(|k, _| {
            self.position_scale
                * (POS_AMP[k] * POS_FREQ[k] * (POS_FREQ[k] * t + POS_PHASE[k]).cos() + 0.1)
        })
    }
    /// Acceleration p̈(t), m/s².
    pub fn acceleration(&self, t: f64) -> Vector3<f64> {
        Vector3::from_fn(|k, _| {
            -self.position_scale
                * POS_AMP[k]
                * POS_FREQ[k].powi(2)
                * (POS_FREQ[k] * t + POS_PHASE[k]).sin()
        })
    }
    fn rot_vec(&self, t: f64) -> Vector3<f64> {
        Vector3::from_fn(|k, _| {
            self.rotation_scale * ROT_AMP[k] * (ROT_FREQ[k] * t + ROT_PHASE[k]).sin()
        })
    }
    fn rot_vec_dot(&self, t: f64) -> Vector3<f64> {
        Vector3::from_fn(|k, _| {
            self.rotation_scale * ROT_AMP[k] * ROT_FREQ[k] * (ROT_FREQ[k] * t + ROT_PHASE[k]).cos()
        })
    }
    /// Attitude world_from_body R(t) = Exp(φ(t)).
    pub fn rotation(&self, t: f64) -> Rotation3<f64> {
        so3::exp(&self.rot_vec(t))
    }
    /// Body angular velocity ω = J_r(φ) φ̇ (from d/dt Exp(φ) = Exp(φ) (J_r φ̇)^).
    pub fn body_rate(&self, t: f64) -> Vector3<f64> {
        so3::right_jacobian(&self.rot_vec(t)) * self.rot_vec_dot(t)
    }
    /// Specific force in the body frame, Rᵀ (a - g).
    pub fn specific_force(&self, t: f64) -> Vector3<f64> {
        self.rotation(t).inverse() * (self.acceleration(t) - gravity())
    }

    /// Exact preintegrated (ΔR, Δv, Δp) between t_i and t_j (Forster Eq. 33).
    pub fn exact_delta(&self, t_i: f64, t_j: f64) -> (Rotation3<f64>, Vector3<f64>, Vector3<f64>) {
        let dt = t_j - t_i;
        let r_i_t = self.rotation(t_i).inverse();
        let g = gravity();
        (
            r_i_t * self.rotation(t_j),
            r_i_t * (self.velocity(t_j) - self.velocity(t_i) - g * dt),
            r_i_t
                * (self.position(t_j)
                    - self.position(t_i)
                    - self.velocity(t_i) * dt
                    - g * (0.5 * dt * dt)),
        )
    }

    /// Noise-free IMU samples at `rate_hz` over [t0, t1] (inclusive), with
    /// constant biases added.
    pub fn samples(
        &self,
        t0: f64,
        t1: f64,
        rate_hz: f64,
        gyro_bias: Vector3<f64>,
        accel_bias: Vector3<f64>,
    ) -> Vec<ImuSample> {
        let n = ((t1 - t0) * rate_hz).round() as i64;
        let t0_ns = (t0 * 1e9).round() as i64;
        let step_ns = (1e9 / rate_hz).round() as i64;
        (0..=n)
            .map(|k| {
                let ts = Timestamp::from_nanos(t0_ns + k * step_ns);
                let t = ts.as_secs_f64();
                ImuSample::new(
                    ts,
                    self.body_rate(t) + gyro_bias,
                    self.specific_force(t) + accel_bias,
                )
            })
            .collect()
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014) with Box-Muller normals.
pub struct SplitMix64 {
    state: u64,
    spare: Option<f64>,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed,
            spare: None,
        }
    }
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1].
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let r = (-2.0 * self.uniform().ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * self.uniform();
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }
    pub fn normal3(&mut self) -> Vector3<f64> {
        Vector3::new(self.normal(), self.normal(), self.normal())
    }
}

/// Angle between two rotations, rad.
pub fn rotation_error(a: &Rotation3<f64>, b: &Rotation3<f64>) -> f64 {
    so3::log(&(a.inverse() * b)).norm()
}

/// World "up" expressed in the camera frame at `t`.
pub fn up_in_camera(
    gt: &[StampedPose],
    t: Timestamp,
    world_up: &Vector3<f64>,
) -> Option<Vector3<f64>> {
    pose_at(gt, t, 0.05).map(|world_from_camera| world_from_camera.rotation.inverse() * world_up)
}

/// (mean, median, p90, max) of a list.
pub fn stats(mut v: Vec<f64>) -> (f64, f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n as f64;
    (mean, v[n / 2], v[(n * 9) / 10], v[n - 1])
}

/// Centred moving average of unit vectors over ±`half_window_s`.
pub fn smooth(times: &[f64], dirs: &[Vector3<f64>], half_window_s: f64) -> Vec<Vector3<f64>> {
    let mut out = Vec::with_capacity(dirs.len());
    let (mut lo, mut hi) = (0, 0);
    let mut sum = Vector3::zeros();
    for (k, &t) in times.iter().enumerate() {
        while hi < times.len() && times[hi] <= t + half_window_s {
            sum += dirs[hi];
            hi += 1;
        }
        while times[lo] < t - half_window_s {
            sum -= dirs[lo];
            lo += 1;
        }
        let _ = k;
        out.push(sum.normalize());
    }
    out
}

/// The comparison of `tests/imu_tum.rs`: non-overlapping slow 0.25-s
/// accelerometer windows (std ≤ 0.6 m/s²) inside the groundtruth's span;
/// for each, the angle (degrees) between `camera_from_accel · mean f` and the
/// groundtruth vertical in the camera frame averaged over the window
/// (windows with ≤ 10 groundtruth poses are skipped).
pub fn slow_window_angles(
    samples: &[ImuSample],
    gt: &[StampedPose],
    camera_from_accel: &Rotation3<f64>,
    world_up: &Vector3<f64>,
) -> Vec<f64> {
    let detector = scenemap::imu::StaticDetector {
        window_s: 0.25,
        max_accel_std_m_s2: 0.6,
        ..scenemap::imu::StaticDetector::default()
    };
    let from = samples.partition_point(|s| s.timestamp < gt[0].timestamp);
    let mut angles = Vec::new();
    let mut rest = &samples[from..];
    while let Some(w) = detector.find_first(rest) {
        let ups: Vec<Vector3<f64>> = gt
            .iter()
            .filter(|p| p.timestamp >= w.start && p.timestamp <= w.end)
            .map(|p| p.world_from_camera.rotation.inverse() * world_up)
            .collect();
        if ups.len() > 10 {
            let up_gt = ups.iter().sum::<Vector3<f64>>();
            angles.push(angle_deg(&(camera_from_accel * w.mean_accel_m_s2), &up_gt));
        }
        let next = rest.partition_point(|s| s.timestamp <= w.end);
        rest = &rest[next..];
    }
    angles
}

/// Raw and smoothed (centred 0.2-s moving average on both sides) per-sample
/// angles (degrees) between `camera_from_accel · f` and the groundtruth
/// vertical in the camera frame, as in `tests/imu_tum.rs`.
pub fn whole_sequence_angles(
    samples: &[ImuSample],
    gt: &[StampedPose],
    camera_from_accel: &Rotation3<f64>,
    world_up: &Vector3<f64>,
) -> (Vec<f64>, Vec<f64>) {
    let mut times = Vec::new();
    let mut acc_dirs = Vec::new();
    let mut gt_dirs = Vec::new();
    for s in samples {
        let (Some(f), Some(up_gt)) = (s.accel_m_s2, up_in_camera(gt, s.timestamp, world_up)) else {
            continue;
        };
        times.push(s.timestamp.as_secs_f64());
        acc_dirs.push((camera_from_accel * f).normalize());
        gt_dirs.push(up_gt);
    }
    let raw = acc_dirs
        .iter()
        .zip(&gt_dirs)
        .map(|(a, g)| angle_deg(a, g))
        .collect();
    let acc_s = smooth(&times, &acc_dirs, 0.1);
    let gt_s = smooth(&times, &gt_dirs, 0.1);
    let smoothed = acc_s
        .iter()
        .zip(&gt_s)
        .map(|(a, g)| angle_deg(a, g))
        .collect();
    (raw, smoothed)
}
