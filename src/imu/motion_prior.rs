//! The IMU motion prior of the tracking loop: implements
//! [`crate::pipeline::MotionPrior`].
//!
//! Between two frames the gyro and accelerometer are preintegrated (Forster
//! et al. 2017, [`crate::imu::preintegration`]) at the current bias estimate,
//! at the IMU-clock times `t + time_offset_s` of the frames, and the pose of
//! the camera is predicted through the extrinsics `imu_from_camera`:
//!
//! ```text
//! world_from_imu_i = world_from_camera_i · camera_from_imu
//! R_j = R_i ΔR_ij
//! p_j = p_i + v_i Δt + ½ g Δt² + R_i Δp_ij        (once v_i and g are known)
//! p_j = p_i + v̄ Δt                               (before: finite-difference velocity)
//! world_from_camera_j = world_from_imu_j · imu_from_camera
//! ```
//!
//! (the relative motion model of Forster Eq. 33 with the bias-corrected
//! values of Eq. 44). Each tracked (`Ok`) frame enters a [`SlidingWindow`]
//! that re-estimates the velocities, the biases and gravity; the velocity at
//! the newest frame seeds the next prediction. Frames that are lost or
//! degraded do not enter the window: the velocity is propagated through the
//! prediction (`v_j = v_i + g Δt + R_i Δv_ij`), so the IMU carries the pose
//! through a vision outage.
//!
//! Once the window has estimated the biases, each prediction also carries
//! its information ([`MotionPrior::prediction_information`], from the
//! preintegrated covariance, see `ImuConfig::visual_prior`): the pipeline
//! adds it to the visual Gauss–Newton as a Gaussian prior
//! ([`crate::odometry::PosePrior`]), so the gyro regularises the visual
//! solve instead of only seeding it.
//!
//! Accelerometer-only or gyro-only streams (e.g. TUM's Kinect accelerometer)
//! cannot be preintegrated: the prior then returns `None` and the pipeline
//! keeps its constant-velocity model.

use nalgebra::{Isometry3, Matrix3, Matrix6, Translation3, UnitQuaternion, Vector3};

use crate::error::Result;
use crate::imu::config::ImuConfig;
use crate::imu::factor::{predict, NavState};
use crate::imu::preintegration::{ImuBias, Preintegrated};
use crate::imu::stream::{ImuBuffer, ImuInterval};
use crate::imu::window::{SlidingWindow, WindowEstimate, WindowOptions};
use crate::odometry::TrackingStatus;
use crate::pipeline::{InertialState, MotionPrior};
use crate::sensor::{ImuSample, Timestamp};

/// Counters of an [`ImuMotionPrior`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MotionPriorStats {
    /// Predictions returned.
    pub predictions: usize,
    /// Predictions that used velocity and gravity (full inertial model).
    pub inertial_predictions: usize,
    /// `predict` calls that returned `None` (no usable samples).
    pub declined: usize,
    /// Predictions whose end was extrapolated by holding the last sample.
    pub held_ends: usize,
    /// Frames observed lost or degraded (carried by the prediction).
    pub carried_frames: usize,
    /// Window solves accepted.
    pub window_solves: usize,
    /// Window solves rejected (diverged/singular; the window restarts).
    pub window_failures: usize,
}

/// The state at the last observed frame.
#[derive(Clone, Copy, Debug)]
struct LastFrame {
    /// Camera clock.
    timestamp: Timestamp,
    /// IMU velocity in the world frame (`None` until estimated).
    velocity_m_s: Option<Vector3<f64>>,
    /// Finite-difference IMU velocity of the last two tracked frames.
    mean_velocity_m_s: Option<Vector3<f64>>,
    world_from_imu: Isometry3<f64>,
}

/// A prediction waiting for its frame's outcome.
#[derive(Clone, Copy, Debug)]
struct Pending {
    /// Camera clock.
    timestamp: Timestamp,
    velocity_m_s: Option<Vector3<f64>>,
    /// Information of the predicted camera pose (see
    /// [`ImuMotionPrior::prediction_information`]).
    information: Option<Matrix6<f64>>,
}

/// IMU motion prior with online bias, gravity and velocity estimation (see
/// the module docs).
#[derive(Clone, Debug)]
pub struct ImuMotionPrior {
    config: ImuConfig,
    buffer: ImuBuffer,
    window: SlidingWindow,
    last: Option<LastFrame>,
    pending: Option<Pending>,
    stats: MotionPriorStats,
    /// Longest time the last sample is held to reach a frame time, s.
    max_hold_s: f64,
    /// A gap between two tracked frames above this restarts the window, s.
    max_window_gap_s: f64,
}

impl ImuMotionPrior {
    /// A prior for the IMU described by `config` (validated here) with
    /// default window options and a zero initial bias.
    pub fn new(config: ImuConfig) -> Result<Self> {
        Self::with_options(config, WindowOptions::default(), ImuBias::default())
    }

    /// A prior with explicit window options and initial bias guess (e.g. a
    /// gyro bias from a static start, [`crate::imu::estimate_gyro_bias`]).
    pub fn with_options(
        config: ImuConfig,
        options: WindowOptions,
        initial_bias: ImuBias,
    ) -> Result<Self> {
        config.validate()?;
        let options = WindowOptions {
            gravity_m_s2: config.gravity_m_s2,
            ..options
        };
        Ok(Self {
            buffer: ImuBuffer::new(&config),
            window: SlidingWindow::new(options, initial_bias),
            last: None,
            pending: None,
            stats: MotionPriorStats::default(),
            max_hold_s: config.max_gap_s,
            max_window_gap_s: 1.0,
            config,
        })
    }

    /// Counters.
    pub fn stats(&self) -> MotionPriorStats {
        self.stats
    }

    /// Current bias estimate.
    pub fn bias(&self) -> ImuBias {
        self.window.bias()
    }

    /// Current gravity estimate (world frame), once the window was solved.
    pub fn gravity_world_m_s2(&self) -> Option<Vector3<f64>> {
        self.window.gravity_world_m_s2()
    }

    /// The last accepted window solve.
    pub fn window_estimate(&self) -> Option<&WindowEstimate> {
        self.window.estimate()
    }

    fn camera_from_imu(&self) -> Isometry3<f64> {
        self.config.imu_from_camera.inverse()
    }

    /// Buffers the samples not seen yet (the pipeline hands overlapping
    /// slices); invalid ones are skipped and counted by the buffer.
    fn ingest(&mut self, samples: &[ImuSample]) {
        let newest = self.buffer.samples().last().map(|s| s.timestamp);
        for sample in samples {
            if newest.is_none_or(|t| sample.timestamp > t) {
                self.buffer.push_lenient(*sample);
            }
        }
    }

    /// Samples over `[t0, t1]` (IMU clock); when the buffer ends before `t1`
    /// by at most `max_hold_s`, the last sample is held to `t1`.
    fn interval(&mut self, t0: Timestamp, t1: Timestamp) -> Option<ImuInterval> {
        if let Ok(interval) = self.buffer.interval(t0, t1) {
            return Some(interval);
        }
        let last = *self.buffer.samples().last()?;
        if last.timestamp <= t0 || t1.secs_since(last.timestamp) > self.max_hold_s {
            return None;
        }
        let mut interval = self.buffer.interval(t0, last.timestamp).ok()?;
        interval.samples.push(ImuSample {
            timestamp: t1,
            ..last
        });
        self.stats.held_ends += 1;
        Some(interval)
    }

    /// Preintegration between two camera-clock times.
    fn preintegrate(&mut self, from: Timestamp, to: Timestamp) -> Option<Preintegrated> {
        let (t0, t1) = (self.config.imu_time(from), self.config.imu_time(to));
        self.preintegrate_imu(t0, t1)
    }

    /// Preintegration between two IMU-clock times at the current bias.
    fn preintegrate_imu(&mut self, t0: Timestamp, t1: Timestamp) -> Option<Preintegrated> {
        let interval = self.interval(t0, t1)?;
        let pre = Preintegrated::from_interval(&interval, self.window.bias(), self.config.noise);
        pre.ok().filter(|p| !p.is_unreliable())
    }

    /// Information of a predicted camera pose for its right perturbation
    /// `(v, ω)` (camera frame), for the visual solve's prior
    /// ([`crate::odometry::PosePrior`]); `None` when
    /// `visual_prior.weight` is 0, before the first window solve, or when
    /// the rotation covariance is singular.
    ///
    /// Rotation: the preintegrated `Σ_φφ` (Forster Eq. 63, right
    /// perturbation of ΔR_ij in the IMU frame at j) plus the first-order
    /// effect `∂ΔR/∂b_g Σ_bg ∂ΔR/∂b_gᵀ` of the residual gyro bias error
    /// (Eq. 44), rotated into the camera frame: `R_ci Σ R_ciᵀ`.
    /// Translation, only with the full inertial model (`inertial`): the
    /// velocity uncertainty `σ_v² Δt² I` plus `R_i Σ_pp R_iᵀ` in the world
    /// frame, rotated into the predicted camera frame. The φ–p correlation
    /// is dropped (block-diagonal); the previous pose is taken as exact
    /// (the prior constrains the relative motion).
    fn information(
        &self,
        pre: &Preintegrated,
        world_from_imu_i: &Isometry3<f64>,
        world_from_camera_j: &Isometry3<f64>,
        inertial: bool,
    ) -> Option<Matrix6<f64>> {
        let options = self.config.visual_prior;
        // Before the window has estimated the biases the gyro bias error is
        // unbounded (up to the injected 0.04 rad/s in the tests, 10× the
        // σ above): no prior, the prediction only seeds the solve.
        if options.weight <= 0.0 || self.window.estimate().is_none() {
            return None;
        }
        let covariance = pre.covariance();
        let d_r_d_bg = pre.bias_jacobians().d_r_d_bg;
        let bias_variance = options.gyro_bias_sigma_rad_s.powi(2);
        let imu_sigma_phi = covariance.fixed_view::<3, 3>(0, 0).into_owned()
            + d_r_d_bg * d_r_d_bg.transpose() * bias_variance;
        let camera_from_imu = self.config.imu_from_camera_rotation().inverse();
        let camera_from_imu = camera_from_imu.matrix();
        let sigma_omega = camera_from_imu * imu_sigma_phi * camera_from_imu.transpose();
        let mut information = Matrix6::zeros();
        let info_omega = symmetric_inverse(&sigma_omega)?;
        information
            .fixed_view_mut::<3, 3>(3, 3)
            .copy_from(&info_omega);
        let dt_s = pre.delta_t_s();
        if inertial && options.velocity_sigma_m_s > 0.0 {
            let world_from_imu_i = world_from_imu_i.rotation.to_rotation_matrix();
            let imu_sigma_p = covariance.fixed_view::<3, 3>(6, 6).into_owned();
            let world_sigma_p =
                world_from_imu_i.matrix() * imu_sigma_p * world_from_imu_i.matrix().transpose()
                    + Matrix3::identity() * (options.velocity_sigma_m_s * dt_s).powi(2);
            let camera_from_world = world_from_camera_j.rotation.inverse().to_rotation_matrix();
            let sigma_v =
                camera_from_world.matrix() * world_sigma_p * camera_from_world.matrix().transpose();
            if let Some(info_v) = symmetric_inverse(&sigma_v) {
                information.fixed_view_mut::<3, 3>(0, 0).copy_from(&info_v);
            }
        }
        Some(information * options.weight)
    }

    /// The window update for a tracked frame.
    fn observe_tracked(&mut self, timestamp: Timestamp, world_from_imu: Isometry3<f64>) {
        let t_imu = self.config.imu_time(timestamp);
        let from_previous = match self.window.newest() {
            Some((t_prev, _)) if t_imu.secs_since(t_prev) <= self.max_window_gap_s => {
                self.preintegrate_imu(t_prev, t_imu)
            }
            _ => None,
        };
        if self
            .window
            .push(t_imu, world_from_imu, from_previous)
            .is_err()
        {
            self.window.clear();
            return;
        }
        match self.window.solve() {
            Ok(Some(_)) => self.stats.window_solves += 1,
            Ok(None) => {}
            Err(_) => self.stats.window_failures += 1,
        }
    }
}

impl MotionPrior for ImuMotionPrior {
    fn predict(
        &mut self,
        samples: &[ImuSample],
        from: Timestamp,
        to: Timestamp,
        world_from_previous: &Isometry3<f64>,
    ) -> Option<Isometry3<f64>> {
        self.ingest(samples);
        self.pending = None;
        let Some(pre) = self.preintegrate(from, to) else {
            self.stats.declined += 1;
            return None;
        };
        let world_from_imu = world_from_previous * self.camera_from_imu();
        let last = self.last.filter(|l| l.timestamp == from);
        let state_i = NavState {
            world_from_imu: world_from_imu.rotation.to_rotation_matrix(),
            position_m: world_from_imu.translation.vector,
            velocity_m_s: last.and_then(|l| l.velocity_m_s).unwrap_or_default(),
            bias: self.window.bias(),
        };
        let velocity = last.and_then(|l| l.velocity_m_s);
        let (predicted, velocity_j) = match (velocity, self.window.gravity_world_m_s2()) {
            (Some(_), Some(gravity)) => {
                self.stats.inertial_predictions += 1;
                let state_j = predict(&pre, &state_i, &gravity);
                (state_j, Some(state_j.velocity_m_s))
            }
            _ => {
                // Rotation from the gyro, translation at the mean velocity.
                let delta = pre.corrected(&(state_i.bias - pre.bias()));
                let mean = last.and_then(|l| l.mean_velocity_m_s).unwrap_or_default();
                let state_j = NavState {
                    world_from_imu: state_i.world_from_imu * delta.delta_r,
                    position_m: state_i.position_m + mean * pre.delta_t_s(),
                    ..state_i
                };
                (state_j, None)
            }
        };
        self.stats.predictions += 1;
        let world_from_imu_j = Isometry3::from_parts(
            Translation3::from(predicted.position_m),
            UnitQuaternion::from_rotation_matrix(&predicted.world_from_imu),
        );
        let world_from_camera_j = world_from_imu_j * self.config.imu_from_camera;
        let information = self.information(
            &pre,
            &world_from_imu,
            &world_from_camera_j,
            velocity_j.is_some(),
        );
        self.pending = Some(Pending {
            timestamp: to,
            velocity_m_s: velocity_j,
            information,
        });
        Some(world_from_camera_j)
    }

    fn prediction_information(&self, timestamp: Timestamp) -> Option<Matrix6<f64>> {
        self.pending
            .filter(|p| p.timestamp == timestamp)
            .and_then(|p| p.information)
    }

    fn observe(
        &mut self,
        timestamp: Timestamp,
        world_from_camera: &Isometry3<f64>,
        status: &TrackingStatus,
    ) {
        if self.last.is_some_and(|l| timestamp <= l.timestamp) {
            return;
        }
        let world_from_imu = world_from_camera * self.camera_from_imu();
        let pending = self.pending.take().filter(|p| p.timestamp == timestamp);
        let (velocity_m_s, mean_velocity_m_s) = if *status == TrackingStatus::Ok {
            self.observe_tracked(timestamp, world_from_imu);
            let mean = self.last.and_then(|l| {
                let dt_s = timestamp.secs_since(l.timestamp);
                (dt_s > 0.0 && dt_s <= 0.2).then(|| {
                    (world_from_imu.translation.vector - l.world_from_imu.translation.vector) / dt_s
                })
            });
            let solved = self
                .window
                .estimate()
                .filter(|e| e.timestamp == self.config.imu_time(timestamp))
                .map(|e| e.velocity_world_m_s);
            (solved, mean)
        } else {
            self.stats.carried_frames += 1;
            (
                pending.and_then(|p| p.velocity_m_s),
                self.last.and_then(|l| l.mean_velocity_m_s),
            )
        };
        self.last = Some(LastFrame {
            timestamp,
            velocity_m_s,
            mean_velocity_m_s,
            world_from_imu,
        });
        // Keep the samples the window and the next prediction need.
        let now = self.config.imu_time(timestamp);
        let keep = self.window.oldest().map_or(now, |(t, _)| t.min(now));
        self.buffer.drop_before(Timestamp(keep.0 - 50_000_000));
    }

    fn inertial_state(&self) -> Option<InertialState> {
        let last = self.last?;
        Some(InertialState {
            timestamp: last.timestamp,
            bias: self.window.bias(),
            gravity_world_m_s2: self.window.gravity_world_m_s2(),
            velocity_world_m_s: last.velocity_m_s,
            window_frames: self.window.len(),
        })
    }
}

/// Inverse of a symmetric positive-definite 3×3 matrix (Cholesky), `None`
/// when it is not positive definite or not finite.
fn symmetric_inverse(m: &Matrix3<f64>) -> Option<Matrix3<f64>> {
    let symmetric = (m + m.transpose()) * 0.5;
    let inverse = symmetric.cholesky()?.inverse();
    inverse.iter().all(|v| v.is_finite()).then_some(inverse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imu::window::tests::{simulator, trajectory, GYRO_BIAS};
    use crate::odometry::TrackingIssue;

    #[test]
    fn carries_the_pose_through_an_outage_after_the_window_converged() {
        let sim = simulator();
        let traj = trajectory();
        let data = sim.simulate(&traj, Timestamp(0), 2.0);
        let config = ImuConfig {
            imu_from_camera: sim.imu_from_camera,
            ..ImuConfig::default()
        };
        let mut prior = ImuMotionPrior::new(config).unwrap();
        let frame_time = |k: usize| Timestamp::from_secs_f64(0.0101 + k as f64 / 30.0);
        let lost = TrackingStatus::Lost(TrackingIssue::NumericalFailure);
        let mut world_from_last = traj.pose(frame_time(0).as_secs_f64());
        prior.observe(frame_time(0), &world_from_last, &TrackingStatus::Ok);
        let mut worst_outage = (0.0f64, 0.0f64);
        let mut with_information = 0;
        for k in 1..55 {
            let (from, to) = (frame_time(k - 1), frame_time(k));
            // The pipeline's slice: (from − 50 ms, to] plus one sample.
            let lo = data
                .samples
                .partition_point(|s| s.timestamp.as_secs_f64() <= from.as_secs_f64() - 0.05);
            let hi =
                (data.samples.partition_point(|s| s.timestamp <= to) + 1).min(data.samples.len());
            let predicted = prior
                .predict(&data.samples[lo..hi], from, to, &world_from_last)
                .unwrap();
            let truth = traj.pose(to.as_secs_f64());
            if let Some(information) = prior.prediction_information(to) {
                // Rotation σ ≈ σ_bg Δt ≈ 1.7e-4 rad: information ≈ 3.6e7.
                let rotation = information.fixed_view::<3, 3>(3, 3).symmetric_eigenvalues();
                assert!(rotation.min() > 1e6 && rotation.max() < 1e9, "{rotation}");
                with_information += 1;
            }
            let outage = k >= 40;
            if outage {
                let error = truth.inverse() * predicted;
                worst_outage.0 = worst_outage.0.max(error.translation.vector.norm());
                worst_outage.1 = worst_outage.1.max(error.rotation.angle());
                prior.observe(to, &predicted, &lost);
                world_from_last = predicted;
            } else {
                prior.observe(to, &truth, &TrackingStatus::Ok);
                world_from_last = truth;
            }
        }
        let stats = prior.stats();
        assert_eq!(stats.declined, 0);
        assert_eq!(stats.carried_frames, 15);
        assert!(stats.inertial_predictions >= 40 - 10);
        // Once the window has solved, every prediction carries a prior.
        assert!(with_information >= 40 - 10, "{with_information}");
        let gyro_error = (prior.bias().gyro_rad_s - GYRO_BIAS).norm();
        assert!(gyro_error < 1e-3, "gyro bias error {gyro_error}");
        // 0.5 s without vision on a noise-free IMU.
        assert!(
            worst_outage.0 < 0.01,
            "outage position error {} m",
            worst_outage.0
        );
        assert!(
            worst_outage.1 < 1e-3,
            "outage rotation error {} rad",
            worst_outage.1
        );
        let state = prior.inertial_state().unwrap();
        assert_eq!(state.timestamp, frame_time(54));
        assert!(state.velocity_world_m_s.is_some());
    }

    #[test]
    fn accelerometer_only_samples_are_declined() {
        let mut prior = ImuMotionPrior::new(ImuConfig::default()).unwrap();
        let samples: Vec<ImuSample> = (0..20)
            .map(|k| ImuSample::accel_only(Timestamp(k * 5_000_000), Vector3::new(0.0, 0.0, 9.81)))
            .collect();
        let pose = Isometry3::identity();
        assert!(prior
            .predict(
                &samples,
                Timestamp(10_000_000),
                Timestamp(40_000_000),
                &pose
            )
            .is_none());
        assert!(prior
            .prediction_information(Timestamp(40_000_000))
            .is_none());
        prior.observe(Timestamp(40_000_000), &pose, &TrackingStatus::Ok);
        assert_eq!(prior.stats().declined, 1);
    }
}
