//! One configuration tree for the whole [`Pipeline`](crate::pipeline::Pipeline):
//! serde (TOML files) or builder methods `with_*`, [`Default`] values that
//! work on TUM-class RGB-D data, and [`Config::validate`] whose
//! [`Error::Config`] messages name the offending field.
//!
//! ```
//! use scenemap::config::{Config, Mode};
//!
//! let config = Config::from_toml_str(
//!     r#"
//!     mode = "tracking"
//!     [tsdf]
//!     voxel_size_m = 0.01
//!     truncation_distance_m = 0.04
//!     [scene_graph]
//!     every_n_frames = 60
//!     "#,
//! )?;
//! assert_eq!(config.mode, Mode::Tracking);
//! assert_eq!(config.scene_graph.every_n_frames, 60);
//! let same = Config::default().with_voxel_size_m(0.01).with_scene_graph_every_n_frames(60);
//! assert_eq!(config.tsdf.voxel_size_m, same.tsdf.voxel_size_m);
//! # Ok::<(), scenemap::Error>(())
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::geometry::PinholeCamera;
use crate::odometry::OdometryConfig;
use crate::scene_graph::SceneGraphConfig;
use crate::tsdf::TsdfConfig;

/// Where the camera poses come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Estimate poses by dense RGB-D tracking against the map.
    #[default]
    Tracking,
    /// Fuse frames at given poses
    /// ([`Pipeline::process_with_pose`](crate::pipeline::Pipeline::process_with_pose)),
    /// e.g. motion-capture groundtruth.
    Groundtruth,
}

/// How frames are tracked against the map (KinectFusion-style
/// frame-to-model tracking, Newcombe et al. 2011 §3.4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackingConfig {
    /// Pyramid level at which the model view is ray-cast and tracking
    /// starts its finest level (1 = 320×240 for a 640×480 camera). Finer
    /// levels of the frame pyramid are dropped. Must be ≤
    /// `odometry.finest_level`.
    pub model_view_level: usize,
    /// Frames fused before tracking switches from frame-to-frame to
    /// frame-to-model.
    pub min_model_frames: usize,
    /// The model view must hit the surface in at least this fraction of its
    /// pixels, else the frame is tracked frame-to-frame.
    pub min_model_hit_ratio: f64,
    /// Whether frames with [`TrackingStatus::Degraded`](crate::odometry::TrackingStatus)
    /// are fused into the map (lost frames never are).
    pub integrate_degraded: bool,
    /// A frame with valid depth in fewer than this fraction of its pixels
    /// is lost without tracking (e.g. a covered lens: the photometric term
    /// alone would still "converge" on a black image).
    pub min_valid_depth_ratio: f64,
    /// Per lost frame, the constant-velocity twist is multiplied by this
    /// (0 = stop predicting motion, 1 = keep the last velocity). Default 1:
    /// on the synthetic 1 s blackout (gentle trajectory) keeping the
    /// velocity re-acquires within 5 cm at the first frame after it, while
    /// 0.8 (velocity decaying) converged 26 cm off.
    pub lost_velocity_decay: f64,
    /// Geometric consistency check (see `Pipeline::check_geometry`): a
    /// tracking result with fewer point-to-plane than this fraction of
    /// photometric residuals is lost. Measured: 0.91 on the synthetic room,
    /// ≥ 0.54 on TUM fr1_rpy, 0.02–0.29 for a kidnapped camera.
    pub min_association_ratio: f64,
    /// Geometric consistency check: a result whose robust point-to-plane
    /// scale exceeds this fraction of `odometry.max_correspondence_distance_m`
    /// is lost. Measured: ≈ 0.03 (synthetic), ≤ 0.16 (fr1_rpy), ≈ 0.74
    /// (kidnapped).
    pub max_sigma_gate_fraction: f64,
    /// Start the model view's rays near the last tracked frame's depth
    /// warped to the guess ([`Raycaster::render_with_hint`](crate::tsdf::Raycaster::render_with_hint)):
    /// same image up to the march's sampling phase, fewer samples per ray.
    pub raycast_hint: bool,
    /// A rendered model view stays the reference for up to this many
    /// following frames before the map is ray-cast again (0 = every frame,
    /// as KinectFusion). Those frames start from the predicted pose relative
    /// to the view's pose; a lost frame, a sparse view or a loop correction
    /// forces a new render. Default 1 (every other frame): on TUM fr1_rpy
    /// ATE 2.785 → 2.804 cm, 0 lost, CPU per frame −12 ms; 2: 2.797 cm.
    pub model_view_reuse: usize,
}

impl Default for TrackingConfig {
    fn default() -> Self {
        Self {
            model_view_level: 1,
            min_model_frames: 1,
            min_model_hit_ratio: 0.2,
            integrate_degraded: true,
            min_valid_depth_ratio: 0.05,
            lost_velocity_decay: 1.0,
            min_association_ratio: 0.4,
            max_sigma_gate_fraction: 0.4,
            raycast_hint: true,
            model_view_reuse: 1,
        }
    }
}

/// When a tracked frame becomes a keyframe (the default
/// [`MotionKeyframePolicy`](crate::pipeline::MotionKeyframePolicy)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeyframeConfig {
    /// Translation since the last keyframe that makes a keyframe, metres.
    pub min_translation_m: f64,
    /// Rotation since the last keyframe that makes a keyframe, degrees.
    pub min_rotation_deg: f64,
    /// Time since the last keyframe that makes a keyframe, seconds.
    pub max_interval_s: f64,
}

impl Default for KeyframeConfig {
    fn default() -> Self {
        Self {
            min_translation_m: 0.15,
            min_rotation_deg: 15.0,
            max_interval_s: 2.0,
        }
    }
}

/// Incremental meshing of the dirty blocks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeshConfig {
    /// Re-mesh the dirty blocks every this many frames (0 = only in
    /// [`Pipeline::finish`](crate::pipeline::Pipeline::finish) and before a
    /// scene-graph update).
    pub every_n_frames: usize,
}

impl Default for MeshConfig {
    fn default() -> Self {
        Self { every_n_frames: 10 }
    }
}

/// When and how the scene graph is updated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SceneGraphUpdateConfig {
    /// Whether the scene graph is built at all.
    pub enabled: bool,
    /// Update after this many frames since the last update (0 = never by count).
    pub every_n_frames: usize,
    /// Update after this much sensor time since the last update, seconds
    /// (0 = never by time). Whichever of the two comes first triggers.
    pub every_s: f64,
    /// Run updates on a background thread working on a snapshot of the map
    /// (results are picked up at a later frame); `false` runs them inline
    /// (deterministic, for tests).
    pub background: bool,
    /// The builder's settings.
    pub builder: SceneGraphConfig,
}

impl Default for SceneGraphUpdateConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            every_n_frames: 30,
            every_s: 0.0,
            background: true,
            builder: SceneGraphConfig::default(),
        }
    }
}

/// Loop-closure correction of poses and map (see the
/// [`pipeline`](crate::pipeline) module docs): a keyframe pose graph
/// optimised when the loop-closure stage reports loops, and the TSDF
/// rebuilt from stored keyframe RGB-D data at the corrected poses.
///
/// Odometry edges get the fixed information `diag(1/σ_t², 1/σ_r²)`: the
/// tracker's Hessian is not a calibrated covariance (dense tracking is
/// overconfident by orders of magnitude), so a per-edge drift budget is
/// the honest model. Together with `loop_kernel_c` it sets which loops are
/// accepted: a loop whose discrepancy is well inside the chain's
/// accumulated uncertainty (√n·σ for n edges) is closed, one far outside it
/// is down-weighted by the Cauchy kernel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoopCorrectionConfig {
    /// Optimise the pose graph when loops arrive (`false`: loops are only
    /// stored and counted).
    pub enabled: bool,
    /// Translation drift budget of one odometry edge (keyframe to
    /// keyframe), metres (1σ).
    pub odometry_sigma_m: f64,
    /// Rotation drift budget of one odometry edge, degrees (1σ).
    pub odometry_sigma_deg: f64,
    /// Scale c of the Cauchy kernel on the whitened loop error (0 = plain
    /// least squares, no outlier rejection).
    pub loop_kernel_c: f64,
    /// Levenberg–Marquardt iteration limit per correction.
    pub max_iterations: usize,
    /// Rebuild the TSDF from the stored frames at the corrected poses
    /// (`false`: only poses are corrected; the map keeps its double walls).
    pub reintegrate: bool,
    /// Rebuild the map only when some keyframe's view moved at least this
    /// many voxels since the map was built (bound `|Δt| + |Δθ| ·
    /// tsdf.max_integration_depth_m`): repeated loops at the same place
    /// then cost an optimisation, not a rebuild each.
    pub rebuild_min_shift_vox: f64,
    /// Besides keyframes, also store every n-th integrated frame for
    /// re-integration (0 = keyframes only). More frames: a denser, less
    /// noisy rebuilt map, at 5 bytes per pixel each.
    pub store_every_n_frames: usize,
    /// At most this many stored frames (keyframes included); when full,
    /// every second stored frame is dropped (non-keyframes first) and the
    /// storing rate halves, so the store keeps an even coverage of the
    /// whole session. 640×480: 1.5 MB per frame.
    pub max_stored_frames: usize,
}

impl Default for LoopCorrectionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            odometry_sigma_m: 0.01,
            odometry_sigma_deg: 0.5,
            loop_kernel_c: 3.0,
            max_iterations: 50,
            reintegrate: true,
            rebuild_min_shift_vox: 0.5,
            store_every_n_frames: 0,
            max_stored_frames: 256,
        }
    }
}

impl LoopCorrectionConfig {
    /// Checks the fields; [`Error::Config`] names the field.
    pub fn validate(&self) -> Result<()> {
        for (name, value) in [
            ("odometry_sigma_m", self.odometry_sigma_m),
            ("odometry_sigma_deg", self.odometry_sigma_deg),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(Error::Config(format!(
                    "loop_correction.{name} = {value} must be finite and > 0"
                )));
            }
        }
        if !(self.loop_kernel_c.is_finite() && self.loop_kernel_c >= 0.0) {
            return Err(Error::Config(format!(
                "loop_correction.loop_kernel_c = {} must be finite and ≥ 0",
                self.loop_kernel_c
            )));
        }
        if !(self.rebuild_min_shift_vox.is_finite() && self.rebuild_min_shift_vox >= 0.0) {
            return Err(Error::Config(format!(
                "loop_correction.rebuild_min_shift_vox = {} must be finite and ≥ 0",
                self.rebuild_min_shift_vox
            )));
        }
        if self.max_iterations == 0 {
            return Err(Error::Config(
                "loop_correction.max_iterations must be ≥ 1".into(),
            ));
        }
        if self.max_stored_frames < 2 {
            return Err(Error::Config(format!(
                "loop_correction.max_stored_frames = {} must be ≥ 2",
                self.max_stored_frames
            )));
        }
        Ok(())
    }
}

/// The whole configuration of a mapping session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Tracking (estimate poses) or groundtruth (fuse at given poses).
    pub mode: Mode,
    /// The camera; `None` = take it from the dataset (the `camera` argument
    /// of [`Pipeline::new`](crate::pipeline::Pipeline::new)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camera: Option<PinholeCamera>,
    /// The TSDF map.
    pub tsdf: TsdfConfig,
    /// The dense RGB-D tracker.
    pub odometry: OdometryConfig,
    /// Frame-to-model tracking and lost-tracking behaviour.
    pub tracking: TrackingConfig,
    /// Keyframe thresholds.
    pub keyframes: KeyframeConfig,
    /// Incremental meshing.
    pub mesh: MeshConfig,
    /// Scene-graph updates.
    pub scene_graph: SceneGraphUpdateConfig,
    /// Loop-closure correction (pose graph + map rebuild).
    pub loop_correction: LoopCorrectionConfig,
}

impl Default for Config {
    /// Defaults of every section, except `odometry.photometric_weight` =
    /// 0.3 (tracker default 0.1): against the ray-cast model the
    /// point-to-plane term sees a smoothed surface and the photometric term
    /// carries more of the constraint. Measured on TUM fr1_rpy (694 frames):
    /// ATE rmse 2.78 cm at 0.3 vs 3.29 cm at 0.1 — one sequence, so treat
    /// it as a starting point rather than a tuned optimum. Note: a TOML file
    /// with an `[odometry]` table fills the fields it omits from
    /// [`OdometryConfig::default`] (weight 0.1) — set `photometric_weight`
    /// there explicitly.
    fn default() -> Self {
        Self {
            mode: Mode::default(),
            camera: None,
            tsdf: TsdfConfig::default(),
            odometry: OdometryConfig {
                photometric_weight: 0.3,
                ..OdometryConfig::default()
            },
            tracking: TrackingConfig::default(),
            keyframes: KeyframeConfig::default(),
            mesh: MeshConfig::default(),
            scene_graph: SceneGraphUpdateConfig::default(),
            loop_correction: LoopCorrectionConfig::default(),
        }
    }
}

impl Config {
    /// Parses a TOML document (missing sections and fields take their
    /// defaults) and validates it.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        Self::parse_toml(text, Path::new("<memory>"))
    }

    /// Reads and validates a TOML file; errors name the file and line.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse_toml(&text, path)
    }

    fn parse_toml(text: &str, path: &Path) -> Result<Self> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| {
                    let before = text.get(..span.start).unwrap_or(text);
                    before.bytes().filter(|&b| b == b'\n').count() + 1
                })
                .unwrap_or(0);
            Error::parse(path, line, e.message().to_string())
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration as a TOML document.
    pub fn to_toml_string(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::Config(format!("cannot serialise to TOML: {e}")))
    }

    /// Checks every section; [`Error::Config`] names the field.
    pub fn validate(&self) -> Result<()> {
        if let Some(camera) = &self.camera {
            camera.validate().map_err(|e| prefixed("camera", e))?;
        }
        self.tsdf.validate()?;
        self.odometry.validate()?;
        let t = &self.tracking;
        let levels = self.odometry.pyramid.levels;
        if t.model_view_level > self.odometry.finest_level {
            return Err(Error::Config(format!(
                "tracking.model_view_level = {} must be ≤ odometry.finest_level = {}",
                t.model_view_level, self.odometry.finest_level
            )));
        }
        if t.model_view_level + 1 >= levels {
            return Err(Error::Config(format!(
                "tracking.model_view_level = {} leaves fewer than 2 of the {levels} pyramid levels",
                t.model_view_level
            )));
        }
        if t.model_view_reuse > 8 {
            return Err(Error::Config(format!(
                "tracking.model_view_reuse = {} must be at most 8 (frames)",
                t.model_view_reuse
            )));
        }
        if !(0.0..=1.0).contains(&t.min_model_hit_ratio) {
            return Err(Error::Config(format!(
                "tracking.min_model_hit_ratio = {} must be in [0, 1]",
                t.min_model_hit_ratio
            )));
        }
        if !(0.0..=1.0).contains(&t.min_valid_depth_ratio) {
            return Err(Error::Config(format!(
                "tracking.min_valid_depth_ratio = {} must be in [0, 1]",
                t.min_valid_depth_ratio
            )));
        }
        if !(0.0..=1.0).contains(&t.min_association_ratio) {
            return Err(Error::Config(format!(
                "tracking.min_association_ratio = {} must be in [0, 1]",
                t.min_association_ratio
            )));
        }
        if !(t.max_sigma_gate_fraction > 0.0 && t.max_sigma_gate_fraction.is_finite()) {
            return Err(Error::Config(format!(
                "tracking.max_sigma_gate_fraction = {} must be finite and > 0",
                t.max_sigma_gate_fraction
            )));
        }
        if !(0.0..=1.0).contains(&t.lost_velocity_decay) {
            return Err(Error::Config(format!(
                "tracking.lost_velocity_decay = {} must be in [0, 1]",
                t.lost_velocity_decay
            )));
        }
        let k = &self.keyframes;
        for (name, value) in [
            ("min_translation_m", k.min_translation_m),
            ("min_rotation_deg", k.min_rotation_deg),
            ("max_interval_s", k.max_interval_s),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(Error::Config(format!(
                    "keyframes.{name} = {value} must be finite and > 0"
                )));
            }
        }
        let s = &self.scene_graph;
        if !(s.every_s.is_finite() && s.every_s >= 0.0) {
            return Err(Error::Config(format!(
                "scene_graph.every_s = {} must be finite and ≥ 0",
                s.every_s
            )));
        }
        if s.enabled && s.every_n_frames == 0 && s.every_s == 0.0 {
            return Err(Error::Config(
                "scene_graph.every_n_frames and scene_graph.every_s are both 0: set one, or enabled = false"
                    .into(),
            ));
        }
        s.builder
            .gripper
            .validate()
            .map_err(|e| prefixed("scene_graph.builder.gripper", e))?;
        self.loop_correction.validate()
    }

    /// Sets the mode.
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the camera (overrides the dataset's).
    pub fn with_camera(mut self, camera: PinholeCamera) -> Self {
        self.camera = Some(camera);
        self
    }

    /// Sets the TSDF section.
    pub fn with_tsdf(mut self, tsdf: TsdfConfig) -> Self {
        self.tsdf = tsdf;
        self
    }

    /// Sets the voxel size with [`TsdfConfig::for_voxel_size_m`] defaults
    /// (truncation 4 voxels), keeping the integration depth range.
    pub fn with_voxel_size_m(mut self, voxel_size_m: f32) -> Self {
        let (lo, hi) = (
            self.tsdf.min_integration_depth_m,
            self.tsdf.max_integration_depth_m,
        );
        self.tsdf = TsdfConfig::for_voxel_size_m(voxel_size_m).with_depth_range_m(lo, hi);
        self
    }

    /// Sets the odometry section.
    pub fn with_odometry(mut self, odometry: OdometryConfig) -> Self {
        self.odometry = odometry;
        self
    }

    /// Sets the tracking section.
    pub fn with_tracking(mut self, tracking: TrackingConfig) -> Self {
        self.tracking = tracking;
        self
    }

    /// Sets the keyframe thresholds.
    pub fn with_keyframes(mut self, keyframes: KeyframeConfig) -> Self {
        self.keyframes = keyframes;
        self
    }

    /// Sets the meshing section.
    pub fn with_mesh(mut self, mesh: MeshConfig) -> Self {
        self.mesh = mesh;
        self
    }

    /// Sets the scene-graph section.
    pub fn with_scene_graph(mut self, scene_graph: SceneGraphUpdateConfig) -> Self {
        self.scene_graph = scene_graph;
        self
    }

    /// Updates the scene graph every `n` frames.
    pub fn with_scene_graph_every_n_frames(mut self, n: usize) -> Self {
        self.scene_graph.every_n_frames = n;
        self
    }

    /// Sets the loop-correction section.
    pub fn with_loop_correction(mut self, loop_correction: LoopCorrectionConfig) -> Self {
        self.loop_correction = loop_correction;
        self
    }

    /// Enables or disables the background scene-graph thread.
    pub fn with_background_scene_graph(mut self, background: bool) -> Self {
        self.scene_graph.background = background;
        self
    }
}

fn prefixed(section: &str, error: Error) -> Error {
    match error {
        Error::Config(message) => Error::Config(format!("{section}: {message}")),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_validates_and_round_trips_through_toml() {
        let config = Config::default().with_camera(PinholeCamera::tum_freiburg1());
        config.validate().unwrap();
        let text = config.to_toml_string().unwrap();
        let back = Config::from_toml_str(&text).unwrap();
        assert_eq!(back, config);
        let without_camera = Config::default();
        let back = Config::from_toml_str(&without_camera.to_toml_string().unwrap()).unwrap();
        assert_eq!(back, without_camera);
    }

    #[test]
    fn errors_name_the_field_and_line() {
        let err = Config::from_toml_str("[tsdf]\nvoxel_size_m = 0.5\n").unwrap_err();
        assert!(err.to_string().contains("tsdf.voxel_size_m"), "{err}");
        let err =
            Config::from_toml_str("mode = \"tracking\"\n[keyframes]\nbogus = 1\n").unwrap_err();
        assert!(matches!(err, Error::Parse { line: 3, .. }), "{err:?}");
        let err = Config::from_toml_str("[tracking]\nmodel_view_level = 3\n").unwrap_err();
        assert!(
            err.to_string().contains("tracking.model_view_level"),
            "{err}"
        );
        let err = Config::from_toml_str("[tracking]\nmodel_view_reuse = 9\n").unwrap_err();
        assert!(
            err.to_string().contains("tracking.model_view_reuse"),
            "{err}"
        );
        let err = Config::from_toml_str("[keyframes]\nmin_rotation_deg = -1.0\n").unwrap_err();
        assert!(
            err.to_string().contains("keyframes.min_rotation_deg"),
            "{err}"
        );
        let err = Config::default()
            .with_scene_graph_every_n_frames(0)
            .validate()
            .unwrap_err();
        assert!(
            err.to_string().contains("scene_graph.every_n_frames"),
            "{err}"
        );
        let mut bad_camera = PinholeCamera::tum_freiburg1();
        bad_camera.fx = -1.0;
        let err = Config::default()
            .with_camera(bad_camera)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("camera"), "{err}");
        let err = Config::from_toml_str("[loop_correction]\nodometry_sigma_m = 0.0\n").unwrap_err();
        assert!(
            err.to_string().contains("loop_correction.odometry_sigma_m"),
            "{err}"
        );
        let config = Config::from_toml_str("[loop_correction]\nreintegrate = false\n").unwrap();
        assert!(!config.loop_correction.reintegrate && config.loop_correction.enabled);
    }

    #[test]
    fn mode_parses_from_snake_case() {
        let config = Config::from_toml_str("mode = \"groundtruth\"").unwrap();
        assert_eq!(config.mode, Mode::Groundtruth);
        assert!(Config::from_toml_str("mode = \"slam\"").is_err());
    }
}
