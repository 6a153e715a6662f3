//! Smooth camera trajectories with exact analytic derivatives.
//!
//! Every coordinate is a [`Signal`]: `offset + rate·t + Σ aᵢ sin(ωᵢ t + φᵢ)`,
//! whose derivatives are closed-form. Position is `(x, y, z)`; orientation is
//! ZYX Euler angles (yaw ψ, pitch θ, roll φ) of a body frame (x forward,
//! y left, z up) composed with the fixed body-to-optical rotation:
//!
//! ```text
//! world_R_camera = Rz(ψ) · Ry(θ) · Rx(φ) · body_R_camera
//! ω_body = [φ' − ψ' sinθ,  θ' cosφ + ψ' cosθ sinφ,  −θ' sinφ + ψ' cosθ cosφ]
//! ```
//!
//! (standard ZYX kinematics; positive pitch looks down), and the camera-frame
//! angular velocity is `body_R_cameraᵀ · ω_body`. Presets orbit the room
//! centre at camera height, looking inwards and down at the furniture.

use std::f64::consts::{FRAC_PI_2, PI, TAU};

use nalgebra::{Isometry3, Matrix3, Rotation3, Translation3, UnitQuaternion, Vector3};
use serde::{Deserialize, Serialize};

use crate::sensor::synthetic::rng::Rng;
use crate::sensor::synthetic::scene::SyntheticScene;

/// `a · sin(ω t + φ)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sinusoid {
    /// Amplitude (metres or radians).
    pub amplitude: f64,
    /// Angular frequency ω, rad/s.
    pub angular_frequency_rad_s: f64,
    /// Phase φ, rad.
    pub phase_rad: f64,
}

/// `offset + rate·t + Σ sinusoids`, with exact derivatives.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Constant term.
    pub offset: f64,
    /// Linear term (per second).
    pub rate: f64,
    /// Sinusoidal terms.
    pub terms: Vec<Sinusoid>,
}

impl Signal {
    /// A constant.
    pub fn constant(offset: f64) -> Self {
        Self {
            offset,
            ..Self::default()
        }
    }

    /// Adds a sinusoid (builder style).
    pub fn with(mut self, amplitude: f64, angular_frequency_rad_s: f64, phase_rad: f64) -> Self {
        self.terms.push(Sinusoid {
            amplitude,
            angular_frequency_rad_s,
            phase_rad,
        });
        self
    }

    /// Value and first and second derivatives at `t` seconds.
    pub fn eval(&self, t: f64) -> [f64; 3] {
        let mut out = [self.offset + self.rate * t, self.rate, 0.0];
        for s in &self.terms {
            let w = s.angular_frequency_rad_s;
            let (sin, cos) = (w * t + s.phase_rad).sin_cos();
            out[0] += s.amplitude * sin;
            out[1] += s.amplitude * w * cos;
            out[2] -= s.amplitude * w * w * sin;
        }
        out
    }

    /// Upper bound of `|first derivative|`.
    pub fn max_rate(&self) -> f64 {
        self.rate.abs()
            + self
                .terms
                .iter()
                .map(|s| (s.amplitude * s.angular_frequency_rad_s).abs())
                .sum::<f64>()
    }
}

/// Trajectory presets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrajectoryPreset {
    /// ≈ 0.3 m/s, ≈ 30°/s: easy tracking.
    Gentle,
    /// Fast rotations (peaks ≈ 180–300°/s) and hand shake.
    Aggressive,
}

/// A smooth camera trajectory; time `t` in seconds from the sequence start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// World x of the camera, metres.
    pub x: Signal,
    /// World y of the camera, metres.
    pub y: Signal,
    /// World z of the camera, metres.
    pub z: Signal,
    /// Yaw ψ about world z, rad.
    pub yaw: Signal,
    /// Pitch θ (positive looks down), rad.
    pub pitch: Signal,
    /// Roll φ about the viewing direction, rad.
    pub roll: Signal,
}

/// Rotation taking optical-frame (x right, y down, z forward) coordinates to
/// body-frame (x forward, y left, z up) coordinates.
fn body_r_camera() -> Matrix3<f64> {
    Matrix3::new(0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0, -1.0, 0.0)
}

impl Trajectory {
    /// A preset orbit around the centre of `scene`'s room; phases and
    /// frequencies vary with `seed`. Keeps ≥ 0.8 m from the walls at
    /// 1.3–1.6 m height (above every object except shelves, which stand
    /// against the walls).
    pub fn preset(preset: TrajectoryPreset, scene: &SyntheticScene, seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x7472_616A);
        let l = scene.room_size_m();
        let mut jitter = |w: f64| w * rng.range(0.9, 1.1);
        let phases: Vec<f64> = {
            let mut r = Rng::new(seed ^ 0x7068_6173);
            (0..16).map(|_| r.range(0.0, TAU)).collect()
        };
        let (wobble, z_amp) = match preset {
            TrajectoryPreset::Gentle => (0.08, 0.08),
            TrajectoryPreset::Aggressive => (0.1, 0.1),
        };
        let shake = match preset {
            TrajectoryPreset::Gentle => 0.0,
            TrajectoryPreset::Aggressive => 0.012,
        };
        let rx = (l.x / 2.0 - 0.8 - wobble - shake).clamp(0.0, 1.3);
        let ry = (l.y / 2.0 - 0.8 - wobble - shake).clamp(0.0, 1.0);
        let radius = 0.5 * (rx + ry);
        let target_z = scene.first_of_class("table").map_or(0.7, |t| {
            t.groundtruth.world_from_object.translation.z + t.groundtruth.dimensions_m.z / 2.0
        });
        let z0 = 1.45;
        let pitch0 = (z0 - target_z).atan2(radius.max(0.5));
        let (speed, orbit_sign) = match preset {
            TrajectoryPreset::Gentle => (0.28, 1.0),
            TrajectoryPreset::Aggressive => (0.6, -1.0),
        };
        let omega = orbit_sign * speed / radius.max(0.3);
        let alpha0 = phases[0];
        let mut x = Signal::constant(l.x / 2.0)
            .with(rx, omega, alpha0 + FRAC_PI_2)
            .with(wobble, jitter(0.6), phases[1]);
        let mut y = Signal::constant(l.y / 2.0).with(ry, omega, alpha0).with(
            wobble,
            jitter(0.45),
            phases[2],
        );
        let mut z = Signal::constant(z0).with(z_amp, jitter(0.5), phases[3]);
        // Look at the centre: the direction from camera to centre has angle α + π.
        let mut yaw = Signal {
            offset: alpha0 + PI,
            rate: omega,
            terms: Vec::new(),
        };
        let mut pitch = Signal::constant(pitch0);
        let mut roll = Signal::constant(0.0);
        match preset {
            TrajectoryPreset::Gentle => {
                yaw = yaw.with(0.2, jitter(0.9), phases[4]);
                pitch = pitch.with(0.1, jitter(1.1), phases[5]);
                roll = roll.with(0.05, jitter(0.7), phases[6]);
            }
            TrajectoryPreset::Aggressive => {
                yaw =
                    yaw.with(0.3, jitter(1.3), phases[4])
                        .with(0.18, jitter(TAU * 2.3), phases[7]);
                pitch = pitch.with(0.1, jitter(1.1), phases[5]).with(
                    0.15,
                    jitter(TAU * 2.9),
                    phases[8],
                );
                roll = roll.with(0.05, jitter(0.7), phases[6]).with(
                    0.07,
                    jitter(TAU * 3.3),
                    phases[9],
                );
                x = x.with(shake, jitter(TAU * 3.7), phases[10]);
                y = y.with(shake, jitter(TAU * 3.1), phases[11]);
                z = z.with(shake, jitter(TAU * 4.1), phases[12]);
            }
        }
        Self {
            x,
            y,
            z,
            yaw,
            pitch,
            roll,
        }
    }

    /// [`TrajectoryPreset::Gentle`].
    pub fn gentle(scene: &SyntheticScene, seed: u64) -> Self {
        Self::preset(TrajectoryPreset::Gentle, scene, seed)
    }

    /// [`TrajectoryPreset::Aggressive`].
    pub fn aggressive(scene: &SyntheticScene, seed: u64) -> Self {
        Self::preset(TrajectoryPreset::Aggressive, scene, seed)
    }

    /// A fixed pose expressed as a trajectory (all derivatives zero):
    /// camera at `position_m` with the given yaw/pitch/roll (rad).
    pub fn stationary(position_m: Vector3<f64>, yaw: f64, pitch: f64, roll: f64) -> Self {
        Self {
            x: Signal::constant(position_m.x),
            y: Signal::constant(position_m.y),
            z: Signal::constant(position_m.z),
            yaw: Signal::constant(yaw),
            pitch: Signal::constant(pitch),
            roll: Signal::constant(roll),
        }
    }

    fn angles(&self, t: f64) -> [[f64; 3]; 3] {
        [self.yaw.eval(t), self.pitch.eval(t), self.roll.eval(t)]
    }

    /// Camera position in the world, metres.
    pub fn position(&self, t: f64) -> Vector3<f64> {
        Vector3::new(self.x.eval(t)[0], self.y.eval(t)[0], self.z.eval(t)[0])
    }

    /// `world_from_camera` at `t` (camera: x right, y down, z forward).
    pub fn pose(&self, t: f64) -> Isometry3<f64> {
        let [psi, theta, phi] = self.angles(t);
        let world_r_body = Rotation3::from_axis_angle(&Vector3::z_axis(), psi[0])
            * Rotation3::from_axis_angle(&Vector3::y_axis(), theta[0])
            * Rotation3::from_axis_angle(&Vector3::x_axis(), phi[0]);
        let world_r_camera = world_r_body * Rotation3::from_matrix_unchecked(body_r_camera());
        Isometry3::from_parts(
            Translation3::from(self.position(t)),
            UnitQuaternion::from_rotation_matrix(&world_r_camera),
        )
    }

    /// Linear velocity of the camera centre in the world frame, m/s.
    pub fn linear_velocity(&self, t: f64) -> Vector3<f64> {
        Vector3::new(self.x.eval(t)[1], self.y.eval(t)[1], self.z.eval(t)[1])
    }

    /// Linear acceleration of the camera centre in the world frame, m/s²
    /// (kinematic, gravity not included).
    pub fn linear_acceleration(&self, t: f64) -> Vector3<f64> {
        Vector3::new(self.x.eval(t)[2], self.y.eval(t)[2], self.z.eval(t)[2])
    }

    /// Angular velocity in the camera frame, rad/s: `R(t)ᵀ Ṙ(t) = [ω]×`.
    pub fn angular_velocity_body(&self, t: f64) -> Vector3<f64> {
        let [psi, theta, phi] = self.angles(t);
        let (st, ct) = theta[0].sin_cos();
        let (sp, cp) = phi[0].sin_cos();
        let w_body = Vector3::new(
            phi[1] - psi[1] * st,
            theta[1] * cp + psi[1] * ct * sp,
            -theta[1] * sp + psi[1] * ct * cp,
        );
        body_r_camera().transpose() * w_body
    }

    /// Time derivative of [`Self::angular_velocity_body`], rad/s².
    pub fn angular_acceleration_body(&self, t: f64) -> Vector3<f64> {
        let [psi, theta, phi] = self.angles(t);
        let (st, ct) = theta[0].sin_cos();
        let (sp, cp) = phi[0].sin_cos();
        let (dpsi, dtheta, dphi) = (psi[1], theta[1], phi[1]);
        let dw_body = Vector3::new(
            phi[2] - psi[2] * st - dpsi * ct * dtheta,
            theta[2] * cp - dtheta * sp * dphi + psi[2] * ct * sp - dpsi * st * dtheta * sp
                + dpsi * ct * cp * dphi,
            -theta[2] * sp - dtheta * cp * dphi + psi[2] * ct * cp
                - dpsi * st * dtheta * cp
                - dpsi * ct * sp * dphi,
        );
        body_r_camera().transpose() * dw_body
    }

    /// Upper bound of the angular speed, rad/s (sum of Euler-rate bounds).
    pub fn max_angular_speed_bound(&self) -> f64 {
        self.yaw.max_rate() + self.pitch.max_rate() + self.roll.max_rate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trajectories() -> Vec<Trajectory> {
        let scene = SyntheticScene::furnished_room(1);
        vec![
            Trajectory::gentle(&scene, 1),
            Trajectory::aggressive(&scene, 2),
        ]
    }

    #[test]
    fn derivatives_match_finite_differences() {
        let h = 1e-5;
        for traj in trajectories() {
            for k in 0..20 {
                let t = 0.37 * k as f64;
                let fd_v = (traj.position(t + h) - traj.position(t - h)) / (2.0 * h);
                assert!((fd_v - traj.linear_velocity(t)).norm() < 1e-6);
                let fd_a = (traj.linear_velocity(t + h) - traj.linear_velocity(t - h)) / (2.0 * h);
                assert!((fd_a - traj.linear_acceleration(t)).norm() < 1e-5);
                // ω from the rotation: log(R(t-h)ᵀ R(t+h)) / 2h.
                let r0 = traj.pose(t - h).rotation;
                let r1 = traj.pose(t + h).rotation;
                let fd_w = (r0.inverse() * r1).scaled_axis() / (2.0 * h);
                let w = traj.angular_velocity_body(t);
                assert!((fd_w - w).norm() < 1e-5 * (1.0 + w.norm()), "{fd_w} vs {w}");
                let fd_dw = (traj.angular_velocity_body(t + h) - traj.angular_velocity_body(t - h))
                    / (2.0 * h);
                assert!((fd_dw - traj.angular_acceleration_body(t)).norm() < 1e-4);
            }
        }
    }

    #[test]
    fn camera_looks_forward_along_optical_axis() {
        // Zero angles: camera z (optical axis) is world +x, camera y is down.
        let traj = Trajectory::stationary(Vector3::zeros(), 0.0, 0.0, 0.0);
        let r = traj.pose(0.0).rotation;
        assert!((r * Vector3::z() - Vector3::x()).norm() < 1e-12);
        assert!((r * Vector3::y() + Vector3::z()).norm() < 1e-12);
        // Positive pitch looks down.
        let down = Trajectory::stationary(Vector3::zeros(), 0.0, 0.3, 0.0);
        assert!((down.pose(0.0).rotation * Vector3::z()).z < -0.2);
    }
}
