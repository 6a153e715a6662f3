//! A synthetic RGB-D(-inertial) sequence: scene + camera + trajectory + IMU.
//!
//! Frames are rendered on demand (never all held in memory). Frame `i` is at
//! `start + round_µs(i / fps)`; the trajectory is evaluated at exactly that
//! (rounded) time, so groundtruth, frames and IMU samples agree to the bit.

use nalgebra::Isometry3;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::geometry::{PinholeCamera, StampedPose};
use crate::sensor::synthetic::imu::{ImuData, ImuSimulator};
use crate::sensor::synthetic::noise::DepthNoise;
use crate::sensor::synthetic::render::{RenderOptions, RenderedFrame, Renderer};
use crate::sensor::synthetic::scene::{ObjectGroundtruth, SyntheticScene};
use crate::sensor::synthetic::trajectory::{Trajectory, TrajectoryPreset};
use crate::sensor::Timestamp;

/// Default start time: an epoch-like value so files look like TUM's
/// (1600000000.000000 s).
pub const DEFAULT_START: Timestamp = Timestamp(1_600_000_000_000_000_000);

/// Timing and sensor options of a sequence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SequenceConfig {
    /// Camera frame rate, Hz (30 default).
    pub fps: f64,
    /// Length, seconds (frames and IMU samples have `t < duration_s`).
    pub duration_s: f64,
    /// Timestamp of trajectory time 0.
    pub start: Timestamp,
    /// Depth noise (off by default).
    pub noise: DepthNoise,
    /// Vision outages `[from, to)` in seconds since start: black image, zero
    /// depth (IMU continues).
    pub blackouts_s: Vec<(f64, f64)>,
    /// IMU simulator (200 Hz ideal by default).
    pub imu: ImuSimulator,
}

impl Default for SequenceConfig {
    fn default() -> Self {
        Self {
            fps: 30.0,
            duration_s: 10.0,
            start: DEFAULT_START,
            noise: DepthNoise::default(),
            blackouts_s: Vec::new(),
            imu: ImuSimulator::default(),
        }
    }
}

/// Scene, camera, trajectory and options; renders frames on demand.
#[derive(Clone, Debug)]
pub struct SyntheticSequence {
    scene: SyntheticScene,
    trajectory: Trajectory,
    config: SequenceConfig,
    renderer: Renderer,
}

impl SyntheticSequence {
    /// Checks the camera and timing and builds the sequence.
    pub fn new(
        scene: SyntheticScene,
        camera: PinholeCamera,
        trajectory: Trajectory,
        config: SequenceConfig,
    ) -> Result<Self> {
        camera.validate()?;
        if !(config.fps > 0.0 && config.fps.is_finite()) {
            return Err(Error::Config(format!(
                "synthetic sequence fps {} must be positive",
                config.fps
            )));
        }
        if !(config.duration_s > 0.0 && config.duration_s.is_finite()) {
            return Err(Error::Config(format!(
                "synthetic sequence duration {} s must be positive",
                config.duration_s
            )));
        }
        Ok(Self {
            scene,
            trajectory,
            config,
            renderer: Renderer::new(camera),
        })
    }

    /// The furnished room of `seed` seen by the undistorted TUM ROS-default
    /// camera (640 × 480, f = 525) along a preset trajectory.
    pub fn furnished(seed: u64, preset: TrajectoryPreset, config: SequenceConfig) -> Result<Self> {
        let scene = SyntheticScene::furnished_room(seed);
        let trajectory = Trajectory::preset(preset, &scene, seed);
        Self::new(scene, PinholeCamera::tum_ros_default(), trajectory, config)
    }

    /// The scene.
    pub fn scene(&self) -> &SyntheticScene {
        &self.scene
    }

    /// The camera.
    pub fn camera(&self) -> &PinholeCamera {
        self.renderer.camera()
    }

    /// The trajectory (time in seconds since `config.start`).
    pub fn trajectory(&self) -> &Trajectory {
        &self.trajectory
    }

    /// The options.
    pub fn config(&self) -> &SequenceConfig {
        &self.config
    }

    /// Object groundtruth.
    pub fn objects(&self) -> Vec<ObjectGroundtruth> {
        self.scene.groundtruth()
    }

    /// Number of frames.
    pub fn frame_count(&self) -> usize {
        (0..)
            .take_while(|&i| self.frame_time_s(i) < self.config.duration_s)
            .count()
    }

    /// Time of frame `i` since start, seconds (microsecond-rounded).
    pub fn frame_time_s(&self, i: usize) -> f64 {
        self.frame_timestamp(i).secs_since(self.config.start)
    }

    /// Timestamp of frame `i`.
    pub fn frame_timestamp(&self, i: usize) -> Timestamp {
        let offset_us = (i as f64 * 1e6 / self.config.fps).round() as i64;
        Timestamp(self.config.start.0 + offset_us * 1000)
    }

    /// Trajectory time of a timestamp, seconds.
    pub fn time_s(&self, timestamp: Timestamp) -> f64 {
        timestamp.secs_since(self.config.start)
    }

    /// Groundtruth `world_from_camera` at any timestamp.
    pub fn world_from_camera_at(&self, timestamp: Timestamp) -> Isometry3<f64> {
        self.trajectory.pose(self.time_s(timestamp))
    }

    /// Whether trajectory time `t_s` falls into a blackout interval.
    pub fn is_blackout(&self, t_s: f64) -> bool {
        self.config
            .blackouts_s
            .iter()
            .any(|&(a, b)| t_s >= a && t_s < b)
    }

    /// Renders frame `i` (with the configured noise and blackouts).
    pub fn render_frame(&self, i: usize) -> Result<RenderedFrame> {
        let count = self.frame_count();
        if i >= count {
            return Err(Error::InvalidArgument(format!(
                "synthetic frame {i} out of range (sequence has {count} frames)"
            )));
        }
        let timestamp = self.frame_timestamp(i);
        let t = self.time_s(timestamp);
        let options = RenderOptions {
            timestamp,
            noise: self.config.noise,
            frame_index: i as u64,
            blackout: self.is_blackout(t),
        };
        Ok(self
            .renderer
            .render(&self.scene, &self.trajectory.pose(t), &options))
    }

    /// Streams all frames in order, rendering each on demand.
    pub fn frames(&self) -> impl Iterator<Item = RenderedFrame> + '_ {
        (0..self.frame_count()).filter_map(move |i| self.render_frame(i).ok())
    }

    /// Groundtruth camera poses at the frame timestamps.
    pub fn groundtruth(&self) -> Vec<StampedPose> {
        (0..self.frame_count())
            .map(|i| {
                let timestamp = self.frame_timestamp(i);
                StampedPose::new(timestamp, self.world_from_camera_at(timestamp))
            })
            .collect()
    }

    /// IMU samples over the sequence, with groundtruth biases.
    pub fn imu(&self) -> ImuData {
        self.config
            .imu
            .simulate(&self.trajectory, self.config.start, self.config.duration_s)
    }
}
