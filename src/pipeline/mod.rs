//! The mapping pipeline: RGB-D frames in → camera poses, a TSDF map, a mesh
//! and a scene graph out.
//!
//! [`Pipeline::process`] is the algorithm box (KinectFusion, Newcombe et al.
//! 2011, Fig. 3; ElasticFusion, Whelan et al. 2015, §3):
//!
//! ```text
//! prepare    undistort, image pyramid from tracking.model_view_level down
//! predict    constant velocity on SE(3) (or the IMU motion prior, if plugged in)
//! track      frame-to-model: ray-cast TSDF at the prediction → reference pyramid,
//!            dense photometric + point-to-plane Gauss–Newton;
//!            frame-to-frame while the model is too sparse;
//!            if lost: retry from the last good pose, then ask the relocaliser
//! decide     lost? keyframe? (keyframes go to the loop-closure stage)
//! integrate  fuse into the TSDF (never when lost)
//! mesh       marching cubes on the dirty blocks, every mesh.every_n_frames
//! graph      scene-graph update every scene_graph.every_n_frames / every_s
//! correct    new loop closures → keyframe pose-graph optimisation; poses
//!            follow their keyframes, the map is rebuilt (see `correction`)
//! ```
//!
//! # Threading
//!
//! `process` runs on the caller's thread; the heavy per-pixel stages
//! (pyramids, ray-cast, Gauss–Newton, integration, meshing) are parallel
//! inside via rayon. The scene-graph update, which can take longer than a
//! frame, runs on a `std::thread` worker on a snapshot: the map is an
//! `Arc<TsdfVolume>` written through [`Arc::make_mut`] (copy-on-write: it is
//! copied only if the worker still reads it when the next frame is fused),
//! plus the mesh vertices as surface samples. Its result is picked up at the
//! start of a later `process` call; while it runs, further updates are
//! postponed. [`Pipeline::finish`] waits for it, meshes what is left and
//! runs a last update. `Pipeline` is [`Send`]: it can be moved to a mapping
//! thread as a whole. Other threads read it through a [`PipelineReader`]
//! ([`Pipeline::reader`]): the live pose after every frame, and immutable
//! map + scene-graph snapshots published by each scene-graph update; the
//! mapping thread never waits for a reader.
//!
//! # Seams
//!
//! Keyframe selection ([`KeyframePolicy`], default [`MotionKeyframePolicy`]),
//! loop closure and relocalisation ([`LoopClosureStage`], none by default)
//! and the IMU motion prior ([`MotionPrior`], none by default: IMU samples
//! given to [`Pipeline::process_imu`] are validated and buffered) are trait
//! objects plugged in with `with_*`.
//!
//! ```no_run
//! use scenemap::config::Config;
//! use scenemap::pipeline::Pipeline;
//! use scenemap::sensor::TumSequence;
//!
//! let sequence = TumSequence::open("data/tum/fr1_rpy")?;
//! let mut pipeline = Pipeline::new(Config::default(), *sequence.camera())?;
//! for frame in &sequence {
//!     let result = pipeline.process(&frame?)?;
//!     println!("{} {:?} {:.1} ms", result.timestamp, result.status, result.timing.total_ms);
//! }
//! pipeline.finish()?;
//! pipeline.save("session")?;
//! println!("{:#?}", pipeline.summary());
//! # Ok::<(), scenemap::Error>(())
//! ```

pub mod correction;
mod model_view;
mod reader;
mod results;
mod scene_graph_stage;
mod seams;
mod session;
mod tracking;

use tracking::renormalized;

use std::sync::Arc;
use std::time::Instant;

use nalgebra::Isometry3;
use serde::{Deserialize, Serialize};

pub use correction::LoopCorrectionReport;
pub use reader::{LiveState, MapSnapshot, PipelineReader};
pub use results::{
    FrameResult, Keyframe, PipelineSummary, RunReport, StageStats, StageSummary, StageTimings,
    TrackingSource, TrajectoryAccuracy,
};
pub use seams::{
    InertialState, KeyframeCandidate, KeyframePolicy, LoopClosure, LoopClosureStage,
    MotionKeyframePolicy, MotionPrior,
};
pub use session::SESSION_FORMAT_VERSION;

use crate::config::{Config, Mode};
use crate::error::{Error, Result};
use crate::geometry::{log_se3, PinholeCamera, StampedPose};
use crate::mesh::{Mesh, Mesher};
use crate::odometry::{RgbdPyramid, TrackingQuality, TrackingStatus};
use crate::scene_graph::map_query::SurfaceSamples;
use crate::scene_graph::segmentation::Segmenter;
use crate::scene_graph::SceneGraph;
use crate::sensor::{ImuSample, RgbdFrame, Timestamp};
use crate::tsdf::{TsdfIntegrator, TsdfVolume};
use model_view::ModelTracker;
use scene_graph_stage::SceneGraphStage;

/// IMU samples older than this before the last frame are dropped, seconds.
const IMU_BUFFER_S: f64 = 1.0;

/// Counters kept over a session (saved with it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Counters {
    frames: usize,
    lost: usize,
    degraded: usize,
    integrated: usize,
    model_tracked: usize,
    frame_to_frame: usize,
    /// Model views ray-cast (fewer than model-tracked frames when views
    /// are reused, `tracking.model_view_reuse`).
    #[serde(default)]
    model_views: usize,
}

/// Pose history used for prediction (saved with a session).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct MotionState {
    /// Last reported pose (the prediction base; a prediction after losses).
    last: Option<StampedPose>,
    /// Last pose that was tracked (not lost) or given.
    last_good: Option<StampedPose>,
    /// Constant-velocity twist `log(previous⁻¹ · current) / Δt`, per second.
    velocity_per_s: [f64; 6],
}

/// The frame-to-frame reference: the last tracked frame.
struct Reference {
    pyramid: RgbdPyramid,
    world_from_camera: Isometry3<f64>,
}

/// A rendered model view kept as the reference of the next frames.
struct CachedView {
    view: model_view::ModelView,
    /// The pose it was rendered at.
    world_from_view: Isometry3<f64>,
    /// Frames tracked against it after the one it was rendered for.
    reuses: usize,
}

/// One tracking attempt's outcome.
struct Tracked {
    world_from_camera: Isometry3<f64>,
    status: TrackingStatus,
    source: TrackingSource,
    quality: Option<TrackingQuality>,
}

/// Frames in → poses, map, mesh and scene graph out. See the
/// [module docs](self) for the algorithm and the threading design.
pub struct Pipeline {
    config: Config,
    camera: PinholeCamera,
    initial_world_from_camera: Isometry3<f64>,
    tracker: ModelTracker,
    integrator: TsdfIntegrator,
    volume: Arc<TsdfVolume>,
    mesher: Mesher,
    scene_graph: SceneGraphStage,
    keyframe_policy: Box<dyn KeyframePolicy>,
    loop_closure: Option<Box<dyn LoopClosureStage>>,
    motion_prior: Option<Box<dyn MotionPrior>>,
    imu: Vec<ImuSample>,
    last_imu: Option<Timestamp>,
    imu_received: usize,
    motion: MotionState,
    reference: Option<Reference>,
    /// The last rendered model view while it may be reused
    /// (`tracking.model_view_reuse`).
    cached_view: Option<CachedView>,
    trajectory: Vec<StampedPose>,
    keyframes: Vec<Keyframe>,
    loop_closures: Vec<LoopClosure>,
    timings: Vec<StageTimings>,
    counters: Counters,
    frames_since_scene_graph: usize,
    last_scene_graph_at: Option<Timestamp>,
    correction: correction::LoopCorrection,
}

impl Pipeline {
    /// A pipeline for frames from `camera` (ignored when `config.camera` is
    /// set). Validates the configuration.
    pub fn new(config: Config, camera: PinholeCamera) -> Result<Self> {
        config.validate()?;
        let camera = config.camera.unwrap_or(camera);
        camera.validate()?;
        let tracker =
            ModelTracker::new(&camera, &config.odometry, config.tracking.model_view_level)?;
        let scene_graph = SceneGraphStage::new(&config.scene_graph.builder)?;
        Ok(Self {
            tracker,
            integrator: TsdfIntegrator::new(),
            volume: Arc::new(TsdfVolume::new(config.tsdf)?),
            mesher: Mesher::new(),
            scene_graph,
            keyframe_policy: Box::new(MotionKeyframePolicy::new(config.keyframes.clone())),
            loop_closure: None,
            motion_prior: None,
            imu: Vec::new(),
            last_imu: None,
            imu_received: 0,
            motion: MotionState::default(),
            reference: None,
            cached_view: None,
            trajectory: Vec::new(),
            keyframes: Vec::new(),
            loop_closures: Vec::new(),
            timings: Vec::new(),
            counters: Counters::default(),
            frames_since_scene_graph: 0,
            last_scene_graph_at: None,
            correction: correction::LoopCorrection::default(),
            initial_world_from_camera: Isometry3::identity(),
            config,
            camera,
        })
    }

    /// Sets the pose of the first frame (default identity), e.g. a
    /// gravity-aligned start so the scene graph's "up" is world z.
    pub fn with_initial_pose(mut self, world_from_camera: Isometry3<f64>) -> Self {
        self.initial_world_from_camera = world_from_camera;
        self
    }

    /// Replaces the keyframe policy (seam for `odometry::keyframes`).
    pub fn with_keyframe_policy(mut self, policy: Box<dyn KeyframePolicy>) -> Self {
        self.keyframe_policy = policy;
        self
    }

    /// Plugs in loop closure and relocalisation (seam for
    /// `odometry::loop_closure`).
    pub fn with_loop_closure(mut self, stage: Box<dyn LoopClosureStage>) -> Self {
        self.loop_closure = Some(stage);
        self
    }

    /// Plugs in an IMU motion prior (seam for `imu::` preintegration).
    pub fn with_motion_prior(mut self, prior: Box<dyn MotionPrior>) -> Self {
        self.motion_prior = Some(prior);
        self
    }

    /// Plugs in a segmenter: the scene graph then labels objects by its
    /// per-frame instance masks (e.g. a detector, or the synthetic
    /// generator's `GroundTruthSegmenter`). It is asked only for frames the
    /// scene-graph builder observes (tracked, builder not busy).
    pub fn with_segmenter(mut self, segmenter: Box<dyn Segmenter + Send>) -> Self {
        self.scene_graph.segmenter = Some(segmenter);
        self
    }

    /// Tracks `frame`, fuses it and updates the mesh and the scene graph
    /// (mode `tracking`). Errors: a frame of another size than the camera,
    /// a timestamp not after the previous frame's
    /// ([`Error::NonMonotonicTimestamp`]), or mode `groundtruth`. Tracking
    /// failure is not an error: it is reported in [`FrameResult::status`].
    pub fn process(&mut self, frame: &RgbdFrame) -> Result<FrameResult> {
        if self.config.mode != Mode::Tracking {
            return Err(Error::InvalidArgument(
                "mode = \"groundtruth\": give poses with Pipeline::process_with_pose".into(),
            ));
        }
        self.check_frame(frame)?;
        let started = Instant::now();
        let mut timing = StageTimings::default();
        self.poll_scene_graph(false)?;

        // 1. Prepare: undistort, pyramid from the model-view level down.
        let clock = Instant::now();
        let current = self.tracker.prepare(frame)?;
        timing.prepare_ms = elapsed_ms(clock);

        // 2. Predict: IMU prior if plugged in, else constant velocity.
        let clock = Instant::now();
        let (world_from_predicted, imu_predicted) = self.predict(frame.timestamp);
        timing.imu_ms = elapsed_ms(clock);

        // 3. Track against the model (frame-to-frame while it is sparse;
        //    after a loss: retry from the last good pose, then relocalise).
        //    Lost with an IMU prediction: the IMU carries the pose.
        let mut tracked = self.track(frame, &current, &world_from_predicted, &mut timing)?;
        if imu_predicted && tracked.status.is_lost() {
            tracked.world_from_camera = world_from_predicted;
            tracked.source = TrackingSource::Imu;
        }

        // 4. Decide: lost → report, keep predicting; else maybe a keyframe.
        let is_keyframe = self.decide(frame, Some(&current), &tracked)?;

        // 5. Integrate (never when lost).
        let integrated = self.integrate(frame, &tracked, &mut timing)?;

        // 6. Mesh the dirty blocks; 7. scene graph every N frames / seconds.
        self.update_mesh_and_graph(frame, &tracked, &mut timing)?;

        // The replaced (or unused) pyramid's buffers serve the next frame.
        let unused = if tracked.status.is_lost() {
            Some(current)
        } else {
            let replaced = self.reference.replace(Reference {
                pyramid: current,
                world_from_camera: tracked.world_from_camera,
            });
            replaced.map(|r| r.pyramid)
        };
        if let Some(pyramid) = unused {
            self.tracker.recycle(pyramid);
        }
        let result = self.record(frame, tracked, is_keyframe, integrated, timing, started);
        // 8. Correct: new loop closures → pose graph, poses and map follow.
        self.after_frame(frame, result)
    }

    /// Fuses `frame` at the given `world_from_camera` (mode `groundtruth`,
    /// or a pose from an external source in mode `tracking`) and updates
    /// the mesh and the scene graph.
    pub fn process_with_pose(
        &mut self,
        frame: &RgbdFrame,
        world_from_camera: &Isometry3<f64>,
    ) -> Result<FrameResult> {
        self.check_frame(frame)?;
        let coords = world_from_camera.translation.vector.iter();
        let finite = coords.chain(world_from_camera.rotation.coords.iter());
        if !finite.into_iter().all(|v| v.is_finite()) {
            return Err(Error::InvalidFrame {
                frame: frame.timestamp,
                message: "given world_from_camera is not finite".into(),
            });
        }
        let started = Instant::now();
        let mut timing = StageTimings::default();
        self.poll_scene_graph(false)?;
        let tracked = Tracked {
            world_from_camera: renormalized(*world_from_camera),
            status: TrackingStatus::Ok,
            source: TrackingSource::Given,
            quality: None,
        };
        // The pyramid is only needed by a loop-closure stage.
        let pyramid = match self.loop_closure {
            Some(_) => {
                let clock = Instant::now();
                let pyramid = self.tracker.prepare(frame)?;
                timing.prepare_ms = elapsed_ms(clock);
                Some(pyramid)
            }
            None => None,
        };
        let is_keyframe = self.decide(frame, pyramid.as_ref(), &tracked)?;
        let integrated = self.integrate(frame, &tracked, &mut timing)?;
        self.update_mesh_and_graph(frame, &tracked, &mut timing)?;
        self.drop_cached_view();
        let unused = self.reference.take().map(|r| r.pyramid).into_iter();
        for pyramid in unused.chain(pyramid) {
            self.tracker.recycle(pyramid);
        }
        let result = self.record(frame, tracked, is_keyframe, integrated, timing, started);
        self.after_frame(frame, result)
    }

    /// Buffers an IMU sample for the motion prior. Samples must arrive in
    /// strictly increasing time ([`Error::NonMonotonicTimestamp`] otherwise,
    /// `line` = 1-based sample count) with finite values
    /// ([`Error::InvalidFrame`]).
    pub fn process_imu(&mut self, sample: ImuSample) -> Result<()> {
        if let Some(previous) = self.last_imu {
            if sample.timestamp <= previous {
                return Err(Error::NonMonotonicTimestamp {
                    path: "<imu stream>".into(),
                    line: self.imu_received + 1,
                    timestamp: sample.timestamp,
                    previous,
                });
            }
        }
        let finite =
            |v: &Option<nalgebra::Vector3<f64>>| v.is_none_or(|v| v.iter().all(|x| x.is_finite()));
        if !finite(&sample.gyro_rad_s) || !finite(&sample.accel_m_s2) {
            return Err(Error::InvalidFrame {
                frame: sample.timestamp,
                message: "IMU sample is not finite".into(),
            });
        }
        self.last_imu = Some(sample.timestamp);
        self.imu_received += 1;
        self.imu.push(sample);
        Ok(())
    }

    /// Waits for a running scene-graph update, meshes the remaining dirty
    /// blocks and runs a last scene-graph update inline.
    pub fn finish(&mut self) -> Result<()> {
        self.poll_scene_graph(true)?;
        self.mesher.update(Arc::make_mut(&mut self.volume));
        let last = self.trajectory.last().map(|p| p.timestamp);
        let stage = &mut self.scene_graph;
        if let (true, Some(timestamp)) = (self.config.scene_graph.enabled, last) {
            if self.frames_since_scene_graph > 0 || stage.updates == 0 {
                let mesh = self.mesher.mesh();
                let samples = SurfaceSamples {
                    points_m: mesh.vertices,
                    normals: mesh.normals,
                };
                stage.start(samples, Arc::clone(&self.volume), timestamp, false)?;
                self.frames_since_scene_graph = 0;
                self.last_scene_graph_at = Some(timestamp);
            }
        }
        Ok(())
    }

    /// A handle for reading the latest pose, map snapshot and scene graph
    /// from other threads while this pipeline maps (see
    /// [`PipelineReader`]: published snapshots, the mapping thread never
    /// waits for readers). Map snapshots are published from the next
    /// scene-graph update on.
    pub fn reader(&self) -> PipelineReader {
        PipelineReader::new(Arc::clone(&self.scene_graph.published))
    }

    /// The configuration (with the camera in use).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The camera frames come from.
    pub fn camera(&self) -> &PinholeCamera {
        &self.camera
    }

    /// One pose per processed frame (lost frames: the prediction).
    pub fn trajectory(&self) -> &[StampedPose] {
        &self.trajectory
    }

    /// The TSDF map.
    pub fn map(&self) -> &TsdfVolume {
        &self.volume
    }

    /// The mesh as of the last meshing (see [`crate::config::MeshConfig`];
    /// call [`Self::finish`] first for an up-to-date mesh).
    pub fn mesh(&self) -> Mesh {
        self.mesher.mesh()
    }

    /// The incremental mesher, e.g. to stream only the blocks re-meshed
    /// since a generation ([`Mesher::changed_since`]).
    pub fn mesher(&self) -> &Mesher {
        &self.mesher
    }

    /// The latest completed scene graph (empty when disabled).
    pub fn scene_graph(&self) -> &SceneGraph {
        &self.scene_graph.graph
    }

    /// Keyframes made so far.
    pub fn keyframes(&self) -> &[Keyframe] {
        &self.keyframes
    }

    /// Loop closures reported by the loop-closure stage.
    pub fn loop_closures(&self) -> &[LoopClosure] {
        &self.loop_closures
    }

    /// IMU samples buffered for the motion prior (the last
    /// second before the latest frame, and anything newer).
    pub fn imu_samples(&self) -> &[ImuSample] {
        &self.imu
    }

    /// The plugged-in motion prior (e.g. to read its
    /// [`MotionPrior::inertial_state`]).
    pub fn motion_prior(&self) -> Option<&dyn MotionPrior> {
        self.motion_prior.as_deref()
    }

    /// Per-frame timings so far.
    pub fn timings(&self) -> &[StageTimings] {
        &self.timings
    }

    /// Counters, per-stage timing statistics and map statistics.
    pub fn summary(&self) -> PipelineSummary {
        let stages = StageSummary::from_timings(&self.timings);
        let total_s: f64 = self.timings.iter().map(|t| t.total_ms).sum::<f64>() / 1e3;
        let mesh = self.mesher.mesh();
        let c = &self.counters;
        let (stored_frames, stored_bytes) = self.correction.store_stats();
        PipelineSummary {
            frames: c.frames,
            lost_frames: c.lost,
            degraded_frames: c.degraded,
            integrated_frames: c.integrated,
            model_tracked_frames: c.model_tracked,
            model_views: c.model_views,
            frame_to_frame_frames: c.frame_to_frame,
            keyframes: self.keyframes.len(),
            loop_closures: self.loop_closures.len(),
            loop_corrections: self.correction.corrections,
            stored_frames,
            stored_frames_mib: stored_bytes as f64 / (1024.0 * 1024.0),
            scene_graph_updates: self.scene_graph.updates,
            stages,
            fps: if total_s > 0.0 {
                self.timings.len() as f64 / total_s
            } else {
                0.0
            },
            map_blocks: self.volume.block_count(),
            map_memory_mib: self.volume.memory_bytes() as f64 / (1024.0 * 1024.0),
            mesh_vertices: mesh.vertex_count(),
            mesh_triangles: mesh.triangle_count(),
            objects: self.scene_graph().objects().count(),
        }
    }

    // ----- stages -----------------------------------------------------

    fn check_frame(&self, frame: &RgbdFrame) -> Result<()> {
        if frame.width != self.camera.width || frame.height != self.camera.height {
            return Err(Error::InvalidFrame {
                frame: frame.timestamp,
                message: format!(
                    "frame is {}x{} but the camera is {}x{}",
                    frame.width, frame.height, self.camera.width, self.camera.height
                ),
            });
        }
        if let Some(previous) = self.trajectory.last().map(|p| p.timestamp) {
            if frame.timestamp <= previous {
                return Err(Error::NonMonotonicTimestamp {
                    path: "<frames>".into(),
                    line: self.trajectory.len() + 1,
                    timestamp: frame.timestamp,
                    previous,
                });
            }
        }
        Ok(())
    }

    /// Updates the motion model; makes a keyframe (and feeds the
    /// loop-closure stage) when the policy says so.
    fn decide(
        &mut self,
        frame: &RgbdFrame,
        pyramid: Option<&RgbdPyramid>,
        tracked: &Tracked,
    ) -> Result<bool> {
        let now = StampedPose::new(frame.timestamp, tracked.world_from_camera);
        if tracked.status.is_lost() {
            let decay = self.config.tracking.lost_velocity_decay;
            self.motion.velocity_per_s = self.motion.velocity_per_s.map(|v| v * decay);
            self.motion.last = Some(now);
            return Ok(false);
        }
        self.motion.velocity_per_s = match self.motion.last_good {
            Some(previous) if frame.timestamp > previous.timestamp => {
                let dt_s = frame.timestamp.secs_since(previous.timestamp);
                let delta = previous.world_from_camera.inverse() * tracked.world_from_camera;
                (log_se3(&delta) / dt_s).into()
            }
            _ => [0.0; 6],
        };
        self.motion.last = Some(now);
        self.motion.last_good = Some(now);
        let candidate = KeyframeCandidate {
            timestamp: frame.timestamp,
            world_from_camera: &tracked.world_from_camera,
            status: &tracked.status,
            quality: tracked.quality.as_ref(),
            last_keyframe: self.keyframes.last(),
        };
        if !self.keyframe_policy.is_keyframe(&candidate) {
            return Ok(false);
        }
        let keyframe = Keyframe {
            id: self.keyframes.len(),
            frame_index: self.trajectory.len(),
            timestamp: frame.timestamp,
            world_from_camera: tracked.world_from_camera,
        };
        if let (Some(stage), Some(pyramid)) = (self.loop_closure.as_mut(), pyramid) {
            let closures = stage.add_keyframe(&keyframe, frame, pyramid)?;
            self.loop_closures.extend(closures);
        }
        self.keyframes.push(keyframe);
        Ok(true)
    }

    fn integrate(
        &mut self,
        frame: &RgbdFrame,
        tracked: &Tracked,
        timing: &mut StageTimings,
    ) -> Result<bool> {
        let fuse = match tracked.status {
            TrackingStatus::Ok => true,
            TrackingStatus::Degraded(_) => self.config.tracking.integrate_degraded,
            TrackingStatus::Lost(_) => false,
        };
        if !fuse {
            return Ok(false);
        }
        let clock = Instant::now();
        // Copy-on-write: copies the map only if the scene-graph worker
        // still reads the previous snapshot.
        let volume = Arc::make_mut(&mut self.volume);
        self.integrator
            .integrate(volume, frame, &self.camera, &tracked.world_from_camera)?;
        timing.integrate_ms = elapsed_ms(clock);
        Ok(true)
    }

    fn update_mesh_and_graph(
        &mut self,
        frame: &RgbdFrame,
        tracked: &Tracked,
        timing: &mut StageTimings,
    ) -> Result<()> {
        let frame_number = self.trajectory.len() + 1;
        let every = self.config.mesh.every_n_frames;
        if every > 0 && frame_number.is_multiple_of(every) {
            let clock = Instant::now();
            self.mesher.update(Arc::make_mut(&mut self.volume));
            timing.mesh_ms = elapsed_ms(clock);
        }
        if !self.config.scene_graph.enabled {
            return Ok(());
        }
        let stage = &mut self.scene_graph;
        let clock = Instant::now();
        if !tracked.status.is_lost() {
            stage.observe(frame, &self.camera, &tracked.world_from_camera)?;
        }
        self.frames_since_scene_graph += 1;
        let settings = &self.config.scene_graph;
        let by_count =
            settings.every_n_frames > 0 && self.frames_since_scene_graph >= settings.every_n_frames;
        let by_time = settings.every_s > 0.0
            && self
                .last_scene_graph_at
                .is_none_or(|t| frame.timestamp.secs_since(t) >= settings.every_s);
        if (by_count || by_time) && !stage.is_busy() {
            self.mesher.update(Arc::make_mut(&mut self.volume));
            let mesh = self.mesher.mesh();
            let samples = SurfaceSamples {
                points_m: mesh.vertices,
                normals: mesh.normals,
            };
            let snapshot = Arc::clone(&self.volume);
            if stage.start(samples, snapshot, frame.timestamp, settings.background)? {
                self.frames_since_scene_graph = 0;
                self.last_scene_graph_at = Some(frame.timestamp);
            }
        }
        timing.scene_graph_ms = elapsed_ms(clock);
        Ok(())
    }

    fn poll_scene_graph(&mut self, wait: bool) -> Result<()> {
        self.scene_graph.poll(wait)
    }

    fn record(
        &mut self,
        frame: &RgbdFrame,
        tracked: Tracked,
        is_keyframe: bool,
        integrated: bool,
        mut timing: StageTimings,
        started: Instant,
    ) -> FrameResult {
        if let Some(prior) = self.motion_prior.as_mut() {
            let clock = Instant::now();
            prior.observe(frame.timestamp, &tracked.world_from_camera, &tracked.status);
            timing.imu_ms += elapsed_ms(clock);
        }
        let c = &mut self.counters;
        c.frames += 1;
        match tracked.status {
            TrackingStatus::Lost(_) => c.lost += 1,
            TrackingStatus::Degraded(_) => c.degraded += 1,
            TrackingStatus::Ok => {}
        }
        c.integrated += usize::from(integrated);
        if !tracked.status.is_lost() {
            match tracked.source {
                TrackingSource::Model => c.model_tracked += 1,
                TrackingSource::FrameToFrame => c.frame_to_frame += 1,
                _ => {}
            }
        }
        // Keep one second of IMU history before this frame.
        let keep_from = Timestamp::from_secs_f64(frame.timestamp.as_secs_f64() - IMU_BUFFER_S);
        let stale = self.imu.partition_point(|s| s.timestamp < keep_from);
        self.imu.drain(..stale);
        self.trajectory
            .push(StampedPose::new(frame.timestamp, tracked.world_from_camera));
        self.scene_graph.published.set_live(LiveState {
            frames: c.frames,
            timestamp: frame.timestamp,
            world_from_camera: tracked.world_from_camera,
            status: tracked.status.clone(),
            integrated,
        });
        timing.total_ms = elapsed_ms(started);
        self.timings.push(timing);
        FrameResult {
            timestamp: frame.timestamp,
            world_from_camera: tracked.world_from_camera,
            status: tracked.status,
            source: tracked.source,
            is_keyframe,
            integrated,
            timing,
            quality: tracked.quality,
        }
    }
}

pub(crate) fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Pipeline` can move to a mapping thread.
    #[test]
    fn pipeline_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Pipeline>();
    }

    fn frame(t: i64) -> RgbdFrame {
        RgbdFrame::new(
            Timestamp(t),
            64,
            48,
            vec![[100, 100, 100]; 64 * 48],
            vec![1.0; 64 * 48],
        )
        .unwrap()
    }

    fn small_camera() -> PinholeCamera {
        PinholeCamera::new(64, 48, 50.0, 50.0, 31.5, 23.5).unwrap()
    }

    #[test]
    fn rejects_out_of_order_input() {
        let config = Config::default().with_mode(Mode::Groundtruth);
        let mut pipeline = Pipeline::new(config, small_camera()).unwrap();
        pipeline
            .process_with_pose(&frame(10), &Isometry3::identity())
            .unwrap();
        let err = pipeline
            .process_with_pose(&frame(10), &Isometry3::identity())
            .unwrap_err();
        assert!(
            matches!(err, Error::NonMonotonicTimestamp { line: 2, .. }),
            "{err:?}"
        );
        assert!(pipeline.process(&frame(20)).is_err(), "groundtruth mode");
        let accel = nalgebra::Vector3::new(0.0, 0.0, 9.81);
        pipeline
            .process_imu(ImuSample::accel_only(Timestamp(5), accel))
            .unwrap();
        let err = pipeline
            .process_imu(ImuSample::accel_only(Timestamp(5), accel))
            .unwrap_err();
        assert!(
            matches!(err, Error::NonMonotonicTimestamp { line: 2, .. }),
            "{err:?}"
        );
        let nan = nalgebra::Vector3::new(f64::NAN, 0.0, 0.0);
        assert!(pipeline
            .process_imu(ImuSample::accel_only(Timestamp(6), nan))
            .is_err());
        assert_eq!(pipeline.imu_samples().len(), 1);
        let wrong_size =
            RgbdFrame::new(Timestamp(30), 2, 2, vec![[0; 3]; 4], vec![0.0; 4]).unwrap();
        assert!(pipeline
            .process_with_pose(&wrong_size, &Isometry3::identity())
            .is_err());
    }
}
