//! What the pipeline reports: per frame ([`FrameResult`]), per session
//! ([`PipelineSummary`]) and at the end of a run ([`RunReport`]: the summary
//! with the trajectory accuracy, printed as the examples' summary table).

use std::fmt;
use std::path::Path;

use nalgebra::Isometry3;
use serde::{Deserialize, Serialize};

use crate::config::Mode;
use crate::error::{Error, Result};
use crate::eval::{ate, rpe, AteOptions, ErrorStats, RpeDelta, RpeOptions};
use crate::geometry::StampedPose;
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
    /// Model views ray-cast for tracking (`tracking.model_view_reuse`
    /// lets one view serve several frames).
    #[serde(default)]
    pub model_views: usize,
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

/// Trajectory accuracy against groundtruth: the TUM RGB-D benchmark's
/// metrics (Sturm et al. 2012, §4): ATE after an SE(3) alignment, RPE over
/// one frame and over one second.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrajectoryAccuracy {
    /// Absolute trajectory error (SE(3)-aligned), m.
    pub ate_m: ErrorStats,
    /// Relative pose error over 1 frame, translation, m.
    pub rpe_1_frame_m: ErrorStats,
    /// Relative pose error over 1 frame, rotation, degrees.
    pub rpe_1_frame_deg: ErrorStats,
    /// RPE over 1 s, translation, m; `None` when the run is shorter.
    pub rpe_1_s_m: Option<ErrorStats>,
    /// RPE over 1 s, rotation, degrees; `None` when the run is shorter.
    pub rpe_1_s_deg: Option<ErrorStats>,
}

impl TrajectoryAccuracy {
    /// Evaluates `estimate` against `groundtruth` (associated by timestamp,
    /// default tolerances of [`crate::eval`]).
    pub fn evaluate(estimate: &[StampedPose], groundtruth: &[StampedPose]) -> Result<Self> {
        let absolute = ate(estimate, groundtruth, &AteOptions::default())?;
        let per_frame = RpeOptions::default().with_delta(RpeDelta::Frames(1));
        let frame = rpe(estimate, groundtruth, &per_frame)?;
        let per_second = RpeOptions::default().with_delta(RpeDelta::Seconds(1.0));
        let second = rpe(estimate, groundtruth, &per_second).ok();
        Ok(Self {
            ate_m: absolute.translation_m,
            rpe_1_frame_m: frame.translation_m,
            rpe_1_frame_deg: frame.rotation_deg,
            rpe_1_s_m: second.as_ref().map(|r| r.translation_m),
            rpe_1_s_deg: second.as_ref().map(|r| r.rotation_deg),
        })
    }
}

/// The end of a run: what ran, the pipeline summary and, when groundtruth
/// exists, the trajectory accuracy. Serialises to the examples'
/// `summary.json`; [`Display`](fmt::Display) prints the summary table
/// (Markdown: frames, lost frames, ms per stage median/p95, fps, ATE/RPE,
/// map blocks and memory, objects found, loop closures).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunReport {
    /// What was processed (a sequence folder, "synthetic room, seed 7", ...).
    pub sequence: String,
    /// Where the poses came from.
    pub mode: Mode,
    /// Counters and timings.
    pub pipeline: PipelineSummary,
    /// Accuracy against groundtruth, if known.
    pub accuracy: Option<TrajectoryAccuracy>,
}

impl RunReport {
    /// Writes the report as pretty JSON to `path`.
    pub fn write_json(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let json = serde_json::to_string_pretty(self).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        std::fs::write(path, json).map_err(|e| Error::io(path, e))
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.pipeline;
        let mode = match self.mode {
            Mode::Tracking => "tracking",
            Mode::Groundtruth => "groundtruth poses",
        };
        writeln!(f, "{} ({mode})", self.sequence)?;
        writeln!(f)?;
        writeln!(f, "| stage | median ms | p95 ms | mean ms |")?;
        writeln!(f, "|---|---:|---:|---:|")?;
        let rows: [(&str, StageStats); 7] = [
            ("prepare (undistort, pyramid)", s.stages.prepare),
            ("model view (ray-cast)", s.stages.model_view),
            ("track", s.stages.track),
            ("integrate", s.stages.integrate),
            ("mesh", s.stages.mesh),
            ("scene graph", s.stages.scene_graph),
            ("total per frame", s.stages.total),
        ];
        for (name, t) in rows {
            writeln!(
                f,
                "| {name} | {:.1} | {:.1} | {:.1} |",
                t.median_ms, t.p95_ms, t.mean_ms
            )?;
        }
        writeln!(f)?;
        writeln!(f, "| item | value |")?;
        writeln!(f, "|---|---|")?;
        writeln!(
            f,
            "| frames | {} ({} lost, {} degraded, {} fused) |",
            s.frames, s.lost_frames, s.degraded_frames, s.integrated_frames
        )?;
        writeln!(
            f,
            "| tracked against | model {} ({} ray-cast views), frame-to-frame {} |",
            s.model_tracked_frames, s.model_views, s.frame_to_frame_frames
        )?;
        writeln!(
            f,
            "| keyframes, loop closures | {}, {} |",
            s.keyframes, s.loop_closures
        )?;
        writeln!(f, "| speed | {:.1} fps |", s.fps)?;
        writeln!(
            f,
            "| map | {} blocks, {:.1} MiB |",
            s.map_blocks, s.map_memory_mib
        )?;
        writeln!(
            f,
            "| mesh | {} vertices, {} triangles |",
            s.mesh_vertices, s.mesh_triangles
        )?;
        writeln!(
            f,
            "| objects found | {} ({} scene-graph updates) |",
            s.objects, s.scene_graph_updates
        )?;
        let mm = |e: &ErrorStats| {
            format!(
                "rmse {:.1} mm (median {:.1}, max {:.1})",
                e.rmse * 1e3,
                e.median * 1e3,
                e.max * 1e3
            )
        };
        match &self.accuracy {
            Some(a) => {
                writeln!(f, "| ATE (SE3-aligned) | {} |", mm(&a.ate_m))?;
                writeln!(
                    f,
                    "| RPE 1 frame | {}, rmse {:.2}° |",
                    mm(&a.rpe_1_frame_m),
                    a.rpe_1_frame_deg.rmse
                )?;
                if let (Some(m), Some(deg)) = (&a.rpe_1_s_m, &a.rpe_1_s_deg) {
                    writeln!(f, "| RPE 1 s | {}, rmse {:.2}° |", mm(m), deg.rmse)?;
                }
            }
            None => writeln!(f, "| ATE / RPE | n/a (no groundtruth, or given poses) |")?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Translation3, UnitQuaternion};

    /// The table shows every item of the summary and the accuracy, with
    /// the numbers converted as labelled (m → mm).
    #[test]
    fn report_table_lists_all_items() {
        let truth: Vec<StampedPose> = (0..40)
            .map(|i| {
                let t = f64::from(i) / 20.0;
                let pose = Isometry3::from_parts(
                    Translation3::new(t, 0.5 * t, 0.0),
                    UnitQuaternion::from_euler_angles(0.0, 0.0, 0.3 * t),
                );
                StampedPose::new(Timestamp::from_secs_f64(100.0 + t), pose)
            })
            .collect();
        // Every estimate 2 mm off along z, alternating in sign (an SE(3)
        // alignment would remove a constant offset).
        let estimate: Vec<StampedPose> = truth
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let dz = if i % 2 == 0 { 0.002 } else { -0.002 };
                let shifted = Translation3::new(0.0, 0.0, dz) * p.world_from_camera;
                StampedPose::new(p.timestamp, shifted)
            })
            .collect();
        let accuracy = TrajectoryAccuracy::evaluate(&estimate, &truth).unwrap();
        assert!((accuracy.ate_m.rmse - 0.002).abs() < 1e-4, "{accuracy:?}");
        assert!((accuracy.rpe_1_frame_m.rmse - 0.004).abs() < 1e-6);
        assert!(accuracy.rpe_1_s_m.is_some());
        let report = RunReport {
            sequence: "synthetic".into(),
            mode: Mode::Tracking,
            pipeline: PipelineSummary {
                frames: 40,
                lost_frames: 3,
                loop_closures: 2,
                map_blocks: 1234,
                map_memory_mib: 5.25,
                objects: 7,
                fps: 12.5,
                ..PipelineSummary::default()
            },
            accuracy: Some(accuracy),
        };
        let table = report.to_string();
        for needle in [
            "| frames | 40 (3 lost",
            "| total per frame |",
            "| keyframes, loop closures | 0, 2 |",
            "| speed | 12.5 fps |",
            "| map | 1234 blocks, 5.2 MiB |",
            "| objects found | 7 ",
            "| ATE (SE3-aligned) | rmse 2.0 mm",
            "| RPE 1 frame | rmse 4.0 mm",
            "| RPE 1 s |",
        ] {
            assert!(table.contains(needle), "{needle:?} not in\n{table}");
        }
        let without = RunReport {
            accuracy: None,
            ..report
        };
        assert!(without.to_string().contains("| ATE / RPE | n/a"));
    }

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
