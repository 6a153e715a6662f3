//! Saving and loading a whole session: a folder with a versioned manifest
//! and one file per artefact, each in a format other tools read.
//!
//! | file | content |
//! |---|---|
//! | `manifest.json` | `format_version`, file names, camera, counters, motion state |
//! | `config.toml` | the [`Config`] (camera included) |
//! | `trajectory.txt` | one pose per frame, TUM format |
//! | `keyframes.json` | the keyframes |
//! | `map.smap` | the TSDF ([`TsdfVolume::save`], versioned and checksummed) |
//! | `scene_graph.json` | the latest scene graph (versioned) |
//! | `loop_correction.json` | pose-graph edges (odometry, loop closures), correction count |
//!
//! Per-frame timings are not saved; a loaded session re-meshes its map and
//! its scene-graph builder restarts object identity with its next update.
//! The RGB-D frames stored for re-integration after a loop correction are
//! not saved (hundreds of MB): a loaded session still corrects its poses
//! on later loops, but keeps its map as loaded (see `pipeline::correction`).
//! `loop_correction.json` is optional: a session without it (written before
//! it existed) gets odometry edges from its keyframe poses.

use std::path::Path;
use std::sync::Arc;

use nalgebra::Isometry3;
use serde::{Deserialize, Serialize};

use super::correction::{LoopCorrection, SavedCorrection};
use super::{Counters, Keyframe, MotionState, Pipeline};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::geometry::PinholeCamera;
use crate::io::{read_tum_trajectory, write_tum_trajectory};
use crate::scene_graph::SceneGraph;
use crate::sensor::Timestamp;
use crate::tsdf::TsdfVolume;

/// Version of the session folder layout written by [`Pipeline::save`].
pub const SESSION_FORMAT_VERSION: u32 = 1;

const MANIFEST: &str = "manifest.json";

/// File names of a session's artefacts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Files {
    config: String,
    trajectory: String,
    keyframes: String,
    map: String,
    scene_graph: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    loop_correction: Option<String>,
}

impl Default for Files {
    fn default() -> Self {
        Self {
            config: "config.toml".into(),
            trajectory: "trajectory.txt".into(),
            keyframes: "keyframes.json".into(),
            map: "map.smap".into(),
            scene_graph: "scene_graph.json".into(),
            loop_correction: Some("loop_correction.json".into()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Manifest {
    format_version: u32,
    writer: String,
    files: Files,
    camera: PinholeCamera,
    initial_world_from_camera: Isometry3<f64>,
    counters: Counters,
    motion: MotionState,
    frames_since_scene_graph: usize,
    last_scene_graph_at: Option<Timestamp>,
    scene_graph_updates: usize,
}

impl Pipeline {
    /// Saves the session into folder `dir` (created if missing; existing
    /// session files are overwritten). Waits for a running scene-graph
    /// update first.
    pub fn save(&mut self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        self.poll_scene_graph(true)?;
        let files = Files::default();
        let config = self.config.clone().with_camera(self.camera);
        write(
            &dir.join(&files.config),
            config.to_toml_string()?.as_bytes(),
        )?;
        write_tum_trajectory(dir.join(&files.trajectory), &self.trajectory)?;
        write_json(&dir.join(&files.keyframes), &self.keyframes)?;
        self.volume.save(dir.join(&files.map))?;
        self.scene_graph
            .graph
            .save_json(dir.join(&files.scene_graph))?;
        if let Some(name) = &files.loop_correction {
            write_json(&dir.join(name), &self.correction.saved(&self.loop_closures))?;
        }
        let manifest = Manifest {
            format_version: SESSION_FORMAT_VERSION,
            writer: format!("scenemap {}", env!("CARGO_PKG_VERSION")),
            files,
            camera: self.camera,
            initial_world_from_camera: self.initial_world_from_camera,
            counters: self.counters.clone(),
            motion: self.motion.clone(),
            frames_since_scene_graph: self.frames_since_scene_graph,
            last_scene_graph_at: self.last_scene_graph_at,
            scene_graph_updates: self.scene_graph.updates,
        };
        // The manifest last: a folder with a manifest is complete.
        write_json(&dir.join(MANIFEST), &manifest)
    }

    /// Loads a session saved by [`Self::save`] and continues it: the next
    /// frame is tracked against the loaded map from the saved motion state.
    /// Plug-in stages (keyframe policy, loop closure, motion prior) are the
    /// defaults; set them again with `with_*`.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let manifest_path = dir.join(MANIFEST);
        let text =
            std::fs::read_to_string(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: manifest_path.clone(),
            source,
        })?;
        if manifest.format_version != SESSION_FORMAT_VERSION {
            return Err(Error::format(
                &manifest_path,
                format!(
                    "session format version {} is not supported (expected {SESSION_FORMAT_VERSION})",
                    manifest.format_version
                ),
            ));
        }
        let files = &manifest.files;
        let config = Config::from_toml_file(dir.join(&files.config))?;
        let mut pipeline = Pipeline::new(config, manifest.camera)?
            .with_initial_pose(manifest.initial_world_from_camera);
        let mut volume = TsdfVolume::load(dir.join(&files.map))?;
        pipeline.mesher.remesh_all(&mut volume);
        pipeline.volume = Arc::new(volume);
        pipeline.trajectory = read_tum_trajectory(dir.join(&files.trajectory))?;
        let keyframes_path = dir.join(&files.keyframes);
        let text =
            std::fs::read_to_string(&keyframes_path).map_err(|e| Error::io(&keyframes_path, e))?;
        pipeline.keyframes =
            serde_json::from_str::<Vec<Keyframe>>(&text).map_err(|source| Error::Json {
                path: keyframes_path.clone(),
                source,
            })?;
        let graph = SceneGraph::load_json(dir.join(&files.scene_graph))?;
        pipeline.scene_graph.set_graph(graph);
        pipeline.scene_graph.updates = manifest.scene_graph_updates;
        if pipeline.trajectory.len() != manifest.counters.frames {
            return Err(Error::format(
                dir.join(&files.trajectory),
                format!(
                    "{} poses but the manifest counts {} frames",
                    pipeline.trajectory.len(),
                    manifest.counters.frames
                ),
            ));
        }
        let saved = match &files.loop_correction {
            Some(name) => {
                let path = dir.join(name);
                let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
                let saved = serde_json::from_str::<SavedCorrection>(&text)
                    .map_err(|source| Error::Json { path, source })?;
                Some(saved)
            }
            None => None,
        };
        pipeline.correction = LoopCorrection::restore(
            saved,
            &pipeline.keyframes,
            &pipeline.trajectory,
            manifest.counters.integrated,
            &pipeline.config.loop_correction,
        );
        pipeline.loop_closures = pipeline.correction.loop_closures();
        pipeline.counters = manifest.counters;
        pipeline.motion = manifest.motion;
        pipeline.frames_since_scene_graph = manifest.frames_since_scene_graph;
        pipeline.last_scene_graph_at = manifest.last_scene_graph_at;
        Ok(pipeline)
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    write(path, text.as_bytes())
}
