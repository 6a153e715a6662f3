//! What the pipeline reports: per frame ([`FrameResult`]) and per session
//! ([`PipelineSummary`]).

use nalgebra::Isometry3;
use serde::{Deserialize, Serialize};

use crate::odometry::{TrackingQuality, TrackingStatus};
use crate::sensor::Timestamp;

/// Wall-clock time of each stage of one [`Pipeline::process`](super::Pipeline::process)
/// call, milliseconds. Stages that did not run are 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimings {
    /// Undistortion and image pyramid.
    pub prepare_ms: f64,
    /// Ray-casting the model view and building its pyramid (part of
    /// tracking, reported separately because it dominates).
    pub model_view_ms: f64,
    /// Tracking proper (Gauss–Newton), all attempts.
    pub track_ms: f64,
    /// TSDF integration.
    pub integrate_ms: f64,
    /// Incremental meshing of dirty blocks.
    pub mesh_ms: f64,
    /// Scene graph: inline update, or snapshot + hand-off to the worker.
    pub scene_graph_ms: f64,
    /// IMU motion prior: prediction and state update (window solve), 0
    /// without a prior.
    #[serde(default)]
    pub imu_ms: f64,
    /// Loop correction: pose-graph optimisation, re-anchoring, map rebuild
    /// and full re-mesh (0 on frames without new loop closures).
    #[serde(default)]
    pub loop_correction_ms: f64,
    /// The whole call.
    pub total_ms: f64,
}

/// Against what a frame was tracked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingSource {
    /// The first frame: the initial pose is given.
    Initial,
    /// Ray-cast view of the TSDF at the predicted pose (frame-to-model).
    Model,
    /// The previous tracked frame (model too sparse).
    FrameToFrame,
    /// The pose came from a relocaliser (loop-closure seam).
    Relocalised,
    /// The pose was given ([`super::Pipeline::process_with_pose`]).
    Given,
    /// Nothing could be tracked; the pose is the prediction.
    Prediction,
    /// Vision was lost; the pose is the IMU motion prior's prediction (the
    /// frame is reported lost and not fused).
    Imu,
}

/// The outcome of one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameResult {
    /// The frame's timestamp.
    pub timestamp: Timestamp,
    /// Estimated (or given) camera pose. For lost frames: the prediction.
    pub world_from_camera: Isometry3<f64>,
    /// Ok / Degraded / Lost.
    pub status: TrackingStatus,
    /// What the pose was tracked against.
    pub source: TrackingSource,
    /// Whether the frame became a keyframe.
    pub is_keyframe: bool,
    /// Whether the frame was fused into the map.
    pub integrated: bool,
    /// Stage timings.
    pub timing: StageTimings,
    /// Tracking quality of the accepted attempt (`None` for given poses and
    /// the first frame).
    pub quality: Option<TrackingQuality>,
}

/// A keyframe: a tracked frame kept as an anchor for relocalisation and
/// loop closure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Keyframe {
    /// Sequential id (0, 1, ...).
    pub id: usize,
    /// Index of the frame in the session (0-based).
    pub frame_index: usize,
    /// Timestamp of the frame.
    pub timestamp: Timestamp,
    /// Its pose: as tracked, then as corrected by each loop correction.
    pub world_from_camera: Isometry3<f64>,
}

/// Median and 95th percentile of a stage's time, milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageStats {
    /// Median, ms.
    pub median_ms: f64,
    /// 95th percentile (nearest rank), ms.
    pub p95_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
}

impl StageStats {
    /// Statistics of `samples_ms` (all zero when empty).
    pub fn from_samples(samples_ms: &[f64]) -> Self {
        if samples_ms.is_empty() {
            return Self::default();
        }
        let mut sorted = samples_ms.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
            sorted[i]
        };
        let n = sorted.len();
        let median_ms = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            0.5 * (sorted[n / 2 - 1] + sorted[n / 2])
        };
        Self {
            median_ms,
            p95_ms: rank(0.95),
            mean_ms: sorted.iter().sum::<f64>() / n as f64,
        }
    }
}

/// Per-stage statistics over a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    /// See [`StageTimings::prepare_ms`].
    pub prepare: StageStats,
    /// See [`StageTimings::model_view_ms`].
    pub model_view: StageStats,
    /// See [`StageTimings::track_ms`].
    pub track: StageStats,
    /// See [`StageTimings::integrate_ms`].
    pub integrate: StageStats,
    /// See [`StageTimings::mesh_ms`].
    pub mesh: StageStats,
    /// See [`StageTimings::scene_graph_ms`].
    pub scene_graph: StageStats,
    /// See [`StageTimings::imu_ms`].
    #[serde(default)]
    pub imu: StageStats,
    /// See [`StageTimings::loop_correction_ms`], over the frames that ran
    /// a correction only (all zero when none did).
    #[serde(default)]
    pub loop_correction: StageStats,
    /// See [`StageTimings::total_ms`].
    pub total: StageStats,
}

impl StageSummary {
    /// Statistics of a list of per-frame timings.
    pub fn from_timings(timings: &[StageTimings]) -> Self {
        let stat = |f: fn(&StageTimings) -> f64| {
            StageStats::from_samples(&timings.iter().map(f).collect::<Vec<_>>())
        };
        Self {
            prepare: stat(|t| t.prepare_ms),
            model_view: stat(|t| t.model_view_ms),
            track: stat(|t| t.track_ms),
            integrate: stat(|t| t.integrate_ms),
            mesh: stat(|t| t.mesh_ms),
            scene_graph: stat(|t| t.scene_graph_ms),
            imu: stat(|t| t.imu_ms),
            loop_correction: StageStats::from_samples(
                &timings
                    .iter()
                    .map(|t| t.loop_correction_ms)
                    .filter(|&ms| ms > 0.0)
                    .collect::<Vec<_>>(),
            ),
            total: stat(|t| t.total_ms),
        }
    }
}

/// Counters and statistics of a session (serde-serialisable, e.g. to a
/// `summary.json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineSummary {
    /// Frames processed.
    pub frames: usize,
    /// Frames whose tracking was lost (not fused).
    pub lost_frames: usize,
    /// Frames tracked with a degraded status.
    pub degraded_frames: usize,
    /// Frames fused into the map.
    pub integrated_frames: usize,
    /// Frames tracked against the model view.
    pub model_tracked_frames: usize,
    /// Frames tracked frame-to-frame.
    pub frame_to_frame_frames: usize,
    /// Keyframes made.
    pub keyframes: usize,
    /// Loop closures reported by the loop-closure stage.
    pub loop_closures: usize,
    /// Loop corrections run (pose-graph optimisations; see
    /// [`crate::config::LoopCorrectionConfig`]).
    #[serde(default)]
    pub loop_corrections: usize,
    /// Frames held for re-integrating the map after a loop correction.
    #[serde(default)]
    pub stored_frames: usize,
    /// Memory of the stored frames, MiB.
    #[serde(default)]
    pub stored_frames_mib: f64,
    /// Scene-graph updates completed.
    pub scene_graph_updates: usize,
    /// Per-stage median / p95 / mean, ms.
    pub stages: StageSummary,
    /// Frames per second of wall-clock time spent in `process`.
    pub fps: f64,
    /// Allocated TSDF blocks.
    pub map_blocks: usize,
    /// Memory of the TSDF map, MiB.
    pub map_memory_mib: f64,
    /// Mesh vertices.
    pub mesh_vertices: usize,
    /// Mesh triangles.
    pub mesh_triangles: usize,
    /// Objects in the scene graph.
    pub objects: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_stats_match_hand_computed_values() {
        let samples: Vec<f64> = (1..=20).map(f64::from).collect();
        let s = StageStats::from_samples(&samples);
        assert_eq!(s.median_ms, 10.5);
        assert_eq!(s.p95_ms, 19.0);
        assert_eq!(s.mean_ms, 10.5);
        assert_eq!(StageStats::from_samples(&[]), StageStats::default());
        assert_eq!(StageStats::from_samples(&[3.0, 1.0, 2.0]).median_ms, 2.0);
    }
}
