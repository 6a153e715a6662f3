//! Shared oracles for the IMU tests: an analytic trajectory with exact
//! derivatives, an IMU simulator and a tiny deterministic RNG.
#![allow(dead_code)]

use nalgebra::{Rotation3, Vector3};
use scenemap::imu::so3;
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
