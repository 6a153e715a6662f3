//! Loop correction: when the loop-closure stage reports loops, the keyframe
//! pose graph is optimised, every pose follows its keyframe, and the map is
//! rebuilt at the corrected poses — so a loop leaves no double walls.
//!
//! ```text
//! every frame    anchor = (latest keyframe k, keyframe_from_camera)
//! new keyframe   odometry edge (k−1 → k) from the tracked poses;
//!                store its RGB-D data (u16 mm depth + RGB8)
//! new loops      pose graph: nodes = keyframes (0 fixed), odometry edges
//!                Ω = diag(1/σ_t², 1/σ_r²), loop edges with the stage's Ω and
//!                a Cauchy kernel → sparse LM (odometry::pose_graph)
//!                keyframe poses ← optimum; frame = keyframe · keyframe_from_camera
//!                motion state ← latest keyframe's correction
//!                TSDF ← re-integrate stored frames at corrected poses (when
//!                a view moved ≥ rebuild_min_shift_vox since the map was
//!                built); full re-mesh; scene-graph update at the next frame
//! ```
//!
//! This is the deformation-by-anchors scheme of keyframe-based dense SLAM
//! (BundleFusion, Dai et al. 2017, §5: de-integrate / re-integrate frames
//! whose pose changed), simplified to a full rebuild from keyframes.
//!
//! # Why a rebuild from keyframes, not sub-maps
//! Keyframe-anchored sub-maps (Kähler et al. 2016; Voxblox++) avoid the
//! rebuild but need a fused view for tracking and meshing (ray-cast over
//! overlapping sub-maps, mesh stitching) — a new map layer the tracker, the
//! mesher and the scene graph would all have to learn. A rebuild keeps one
//! TSDF that every stage already reads, costs one integration per stored
//! frame (≈ the per-frame integrate time, only when a loop arrives), and
//! its result is exactly the map a drift-free run over the stored frames
//! would have built.
//!
//! # What is re-integrated
//! Keyframes (and, with `store_every_n_frames > 0`, every n-th integrated
//! frame, anchored to its keyframe like any pose). Frames that were fused
//! but not stored are lost from the rebuilt map: it is made of fewer views,
//! so it is noisier and may show holes where only non-keyframes looked.
//! The default policy makes a keyframe every 15 cm / 15° / 2 s, which covers
//! what the camera saw; storing more frames trades memory (5 bytes per
//! pixel: 1.5 MB at 640×480) for map quality. The store is bounded by
//! `max_stored_frames`: when full, every second stored frame is dropped
//! (non-keyframes first, keyframe 0 always kept) and the storing rate
//! halves, keeping an even coverage of the whole session. Frames are only
//! stored while a loop-closure stage is plugged in and the correction and
//! re-integration are enabled.
//!
//! If the store does not cover the map (a loaded session: stored frames are
//! not saved, see below), a correction fixes the poses but keeps the map
//! as it is: rebuilding from a partial store would erase the rest.
//!
//! # Sessions
//! [`Pipeline::save`] writes the odometry and loop edges
//! (`loop_correction.json`); anchors are re-derived on load from the
//! trajectory and the keyframes (the relative pose of a frame to its
//! keyframe is invariant under corrections). The stored RGB-D frames are
//! not saved (up to hundreds of MB): a loaded session still corrects its
//! poses on later loops, but never rebuilds its map (the frames stored
//! after loading do not cover what was mapped before).

use std::sync::Arc;
use std::time::Instant;

use nalgebra::{Isometry3, Matrix6, Vector6};
use serde::{Deserialize, Serialize};

use super::tracking::renormalized;
use super::{elapsed_ms, FrameResult, Keyframe, LoopClosure, Pipeline};
use crate::config::LoopCorrectionConfig;
use crate::error::{Error, Result};
use crate::mesh::Mesher;
use crate::odometry::pose_graph::{
    Edge, EdgeKind, LmOptions, OptimizationReport, PoseGraph, RobustKernel,
};
use crate::sensor::{RgbdFrame, Timestamp};
use crate::tsdf::TsdfVolume;
use store::FrameStore;

mod store;
#[cfg(test)]
mod tests;

/// What the last loop correction did ([`Pipeline::last_loop_correction`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoopCorrectionReport {
    /// Timestamp of the frame that triggered it.
    pub timestamp: Timestamp,
    /// Keyframes (pose-graph nodes).
    pub keyframes: usize,
    /// Loop edges in the graph.
    pub loop_edges: usize,
    /// IRLS weight of each loop edge at the optimum, in the order of
    /// [`Pipeline::loop_closures`] (≈ 1: accepted; ≪ 1: down-weighted as
    /// an outlier by the Cauchy kernel).
    pub loop_weights: Vec<f64>,
    /// The LM run.
    pub optimization: OptimizationReport,
    /// Largest keyframe translation change, metres.
    pub max_keyframe_shift_m: f64,
    /// Largest displacement bound of a keyframe's view since the map was
    /// built (`|Δt| + |Δθ| · max_integration_depth_m`), metres; the map is
    /// rebuilt only when it reaches `rebuild_min_shift_vox`.
    pub map_shift_m: f64,
    /// Pose-graph build + optimisation, ms.
    pub optimize_ms: f64,
    /// Re-integration of the stored frames, ms (0 if the map was kept).
    pub reintegrate_ms: f64,
    /// Frames re-integrated.
    pub reintegrated_frames: usize,
    /// Full re-mesh, ms.
    pub remesh_ms: f64,
}

/// Where a frame's pose hangs: its keyframe and the pose relative to it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Anchor {
    /// `None` before the first keyframe; `keyframe_from_camera` then holds
    /// `world_from_camera` until the first keyframe resolves it.
    keyframe: Option<usize>,
    keyframe_from_camera: Isometry3<f64>,
}

/// Saved part of the correction state (`loop_correction.json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct SavedCorrection {
    odometry_edges: Vec<Edge>,
    /// Every loop closure reported, as an edge (kernel as configured).
    loop_closures: Vec<Edge>,
    /// How many of them are in the pose graph (the rest arrived while the
    /// correction was disabled).
    loop_edges: usize,
    corrections: usize,
}

/// The correction state the pipeline keeps.
#[derive(Clone, Debug, Default)]
pub(super) struct LoopCorrection {
    anchors: Vec<Anchor>,
    /// Edge `k−1 → k` measured when keyframe `k` was made.
    odometry_edges: Vec<Edge>,
    /// Loop closures already turned into edges (= `loop_edges.len()`).
    loop_edges: Vec<Edge>,
    /// Loop closures of a loaded session that are not in the graph.
    unused_loops: Vec<Edge>,
    store: FrameStore,
    /// False once a frame was integrated but not stored while the store
    /// was needed (e.g. a loaded session): a rebuild would lose map parts.
    incomplete: bool,
    /// Pose of each keyframe as the map reflects it (at creation, or at
    /// the last rebuild).
    map_world_from_keyframe: Vec<Isometry3<f64>>,
    pub(super) corrections: usize,
    pub(super) last_report: Option<LoopCorrectionReport>,
}

impl LoopCorrection {
    /// Frames held for re-integration and their memory, bytes.
    pub(super) fn store_stats(&self) -> (usize, usize) {
        self.store.stats()
    }

    pub(super) fn saved(&self, closures: &[LoopClosure]) -> SavedCorrection {
        let unused = closures.iter().skip(self.loop_edges.len()).map(|c| Edge {
            a: c.from_keyframe,
            b: c.to_keyframe,
            a_from_b: c.from_from_to,
            information: c.information,
            kind: EdgeKind::Loop,
            kernel: RobustKernel::None,
        });
        SavedCorrection {
            odometry_edges: self.odometry_edges.clone(),
            loop_closures: self.loop_edges.iter().cloned().chain(unused).collect(),
            loop_edges: self.loop_edges.len(),
            corrections: self.corrections,
        }
    }

    /// Restores the state of a loaded session: edges from the file (or
    /// from the keyframe poses if there is none), anchors re-derived. The
    /// store is empty and marked incomplete when the map holds frames.
    pub(super) fn restore(
        saved: Option<SavedCorrection>,
        keyframes: &[Keyframe],
        trajectory: &[crate::geometry::StampedPose],
        integrated_frames: usize,
        config: &LoopCorrectionConfig,
    ) -> Self {
        let saved = saved.unwrap_or_else(|| SavedCorrection {
            odometry_edges: keyframes
                .windows(2)
                .map(|w| odometry_edge(&w[0], &w[1], config))
                .collect(),
            ..SavedCorrection::default()
        });
        let mut anchors = Vec::with_capacity(trajectory.len());
        let mut current: Option<&Keyframe> = None;
        let mut next = keyframes.iter().peekable();
        for (index, pose) in trajectory.iter().enumerate() {
            while let Some(kf) = next.next_if(|kf| kf.frame_index <= index) {
                current = Some(kf);
            }
            let anchor_kf = current.or(keyframes.first());
            anchors.push(match anchor_kf {
                Some(kf) => Anchor {
                    keyframe: Some(kf.id),
                    keyframe_from_camera: kf.world_from_camera.inverse() * pose.world_from_camera,
                },
                None => Anchor {
                    keyframe: None,
                    keyframe_from_camera: pose.world_from_camera,
                },
            });
        }
        let used = saved.loop_edges.min(saved.loop_closures.len());
        Self {
            anchors,
            odometry_edges: saved.odometry_edges,
            loop_edges: saved.loop_closures[..used].to_vec(),
            unused_loops: saved.loop_closures[used..].to_vec(),
            corrections: saved.corrections,
            incomplete: integrated_frames > 0,
            map_world_from_keyframe: keyframes.iter().map(|k| k.world_from_camera).collect(),
            ..Self::default()
        }
    }

    /// The loop closures of a restored session.
    pub(super) fn loop_closures(&self) -> Vec<LoopClosure> {
        self.loop_edges
            .iter()
            .chain(&self.unused_loops)
            .map(|e| LoopClosure {
                from_keyframe: e.a,
                to_keyframe: e.b,
                from_from_to: e.a_from_b,
                information: e.information,
            })
            .collect()
    }
}

/// Odometry edge `a → b` from the current poses, information from the
/// configured drift budget.
fn odometry_edge(a: &Keyframe, b: &Keyframe, config: &LoopCorrectionConfig) -> Edge {
    let it = 1.0 / (config.odometry_sigma_m * config.odometry_sigma_m);
    let sigma_rad = config.odometry_sigma_deg.to_radians();
    let ir = 1.0 / (sigma_rad * sigma_rad);
    Edge {
        a: a.id,
        b: b.id,
        a_from_b: renormalized(a.world_from_camera.inverse() * b.world_from_camera),
        information: Matrix6::from_diagonal(&Vector6::new(it, it, it, ir, ir, ir)),
        kind: EdgeKind::Odometry,
        kernel: RobustKernel::None,
    }
}

impl Pipeline {
    /// The report of the last loop correction, if any ran.
    pub fn last_loop_correction(&self) -> Option<&LoopCorrectionReport> {
        self.correction.last_report.as_ref()
    }

    /// Whether frames are stored for re-integration.
    fn storing_frames(&self) -> bool {
        let c = &self.config.loop_correction;
        self.loop_closure.is_some() && c.enabled && c.reintegrate
    }

    /// Bookkeeping after a frame was recorded (anchor, odometry edge, frame
    /// store) and, when the loop-closure stage reported new loops, the
    /// correction. Returns the result with the corrected pose and timing.
    pub(super) fn after_frame(
        &mut self,
        frame: &RgbdFrame,
        mut result: FrameResult,
    ) -> Result<FrameResult> {
        let index = self.trajectory.len().saturating_sub(1);
        let world_from_camera = result.world_from_camera;
        let config = self.config.loop_correction.clone();
        let storing = self.storing_frames();
        let state = &mut self.correction;
        if result.is_keyframe {
            if let Some(keyframe) = self.keyframes.last() {
                state
                    .map_world_from_keyframe
                    .push(keyframe.world_from_camera);
                if keyframe.id == 0 {
                    // Frames before the first keyframe anchor to it.
                    let keyframe_from_world = keyframe.world_from_camera.inverse();
                    for anchor in state.anchors.iter_mut().filter(|a| a.keyframe.is_none()) {
                        anchor.keyframe = Some(0);
                        anchor.keyframe_from_camera =
                            keyframe_from_world * anchor.keyframe_from_camera;
                    }
                } else if let Some(previous) = self.keyframes.get(keyframe.id - 1) {
                    state
                        .odometry_edges
                        .push(odometry_edge(previous, keyframe, &config));
                }
            }
        }
        let latest = self.keyframes.last();
        let anchor = match latest {
            Some(kf) => Anchor {
                keyframe: Some(kf.id),
                keyframe_from_camera: kf.world_from_camera.inverse() * world_from_camera,
            },
            None => Anchor {
                keyframe: None,
                keyframe_from_camera: world_from_camera,
            },
        };
        state.anchors.push(anchor);
        debug_assert_eq!(state.anchors.len(), self.trajectory.len());

        if storing && result.integrated {
            if let (Some(kf), Some(keyframe)) = (latest, anchor.keyframe) {
                let is_keyframe = result.is_keyframe && kf.frame_index == index;
                state.store.offer(
                    frame,
                    is_keyframe,
                    index,
                    (keyframe, anchor.keyframe_from_camera),
                    &config,
                );
            } else {
                // Integrated before any keyframe: not in the store.
                state.incomplete = true;
            }
        }

        let new_loops = self.loop_closures.len() > state.loop_edges.len();
        if !(new_loops && config.enabled && !self.keyframes.is_empty()) {
            return Ok(result);
        }
        // The map is rebuilt and the world re-anchored: render afresh.
        self.drop_cached_view();
        let clock = Instant::now();
        let report = self.correct(frame.timestamp)?;
        let ms = elapsed_ms(clock);
        if let Some(corrected) = self.trajectory.last() {
            result.world_from_camera = corrected.world_from_camera;
        }
        result.timing.loop_correction_ms = ms;
        result.timing.total_ms += ms;
        if let Some(timing) = self.timings.last_mut() {
            *timing = result.timing;
        }
        self.correction.corrections += 1;
        self.correction.last_report = Some(report);
        if let Some(stage) = self.loop_closure.as_mut() {
            stage.keyframes_corrected(&self.keyframes);
        }
        Ok(result)
    }

    /// Optimises the keyframe pose graph and moves poses, motion state and
    /// map to the optimum (see the module docs).
    fn correct(&mut self, timestamp: Timestamp) -> Result<LoopCorrectionReport> {
        let config = self.config.loop_correction.clone();
        let clock = Instant::now();
        let kernel = if config.loop_kernel_c > 0.0 {
            RobustKernel::Cauchy {
                c: config.loop_kernel_c,
            }
        } else {
            RobustKernel::None
        };
        let keyframe_count = self.keyframes.len();
        let state = &mut self.correction;
        for closure in &self.loop_closures[state.loop_edges.len()..] {
            if closure.from_keyframe >= keyframe_count || closure.to_keyframe >= keyframe_count {
                return Err(Error::InvalidFrame {
                    frame: timestamp,
                    message: format!(
                        "loop closure {} → {} names a keyframe beyond the {keyframe_count} made",
                        closure.from_keyframe, closure.to_keyframe
                    ),
                });
            }
            state.loop_edges.push(Edge {
                a: closure.from_keyframe,
                b: closure.to_keyframe,
                a_from_b: closure.from_from_to,
                information: closure.information,
                kind: EdgeKind::Loop,
                kernel,
            });
        }
        let mut graph = PoseGraph::new();
        for keyframe in &self.keyframes {
            graph.add_node(keyframe.world_from_camera, keyframe.id == 0);
        }
        for edge in state.odometry_edges.iter().chain(&state.loop_edges) {
            graph
                .add_edge(edge.clone())
                .map_err(|e| Error::InvalidFrame {
                    frame: timestamp,
                    message: format!("loop correction: {e}"),
                })?;
        }
        let options = LmOptions {
            max_iterations: config.max_iterations,
            ..LmOptions::default()
        };
        let optimization = graph.optimize(&options)?;
        let weights = graph.edge_weights();
        let loop_weights = weights[state.odometry_edges.len()..].to_vec();
        let optimize_ms = elapsed_ms(clock);

        // Keyframes ← optimum; frames follow their anchors.
        let lever_m = f64::from(self.config.tsdf.max_integration_depth_m);
        let mut max_shift_m = 0.0f64;
        let mut map_shift_m = 0.0f64;
        let latest_before = self.keyframes.last().map(|kf| kf.world_from_camera);
        for (keyframe, optimum) in self.keyframes.iter_mut().zip(graph.poses()) {
            let optimum = renormalized(*optimum);
            let shift =
                (optimum.translation.vector - keyframe.world_from_camera.translation.vector).norm();
            max_shift_m = max_shift_m.max(shift);
            keyframe.world_from_camera = optimum;
            if let Some(in_map) = state.map_world_from_keyframe.get(keyframe.id) {
                let delta = in_map.inverse() * optimum;
                let bound = delta.translation.vector.norm() + delta.rotation.angle() * lever_m;
                map_shift_m = map_shift_m.max(bound);
            }
        }
        for (pose, anchor) in self.trajectory.iter_mut().zip(&state.anchors) {
            if let Some(kf) = anchor.keyframe.and_then(|k| self.keyframes.get(k)) {
                pose.world_from_camera =
                    renormalized(kf.world_from_camera * anchor.keyframe_from_camera);
            }
        }
        // Tracking continues from the latest keyframe's correction.
        if let (Some(before), Some(after)) = (latest_before, self.keyframes.last()) {
            let correction = after.world_from_camera * before.inverse();
            let moved = |p: &Isometry3<f64>| renormalized(correction * p);
            if let Some(last) = self.motion.last.as_mut() {
                last.world_from_camera = moved(&last.world_from_camera);
            }
            if let Some(last_good) = self.motion.last_good.as_mut() {
                last_good.world_from_camera = moved(&last_good.world_from_camera);
            }
            if let Some(reference) = self.reference.as_mut() {
                reference.world_from_camera = moved(&reference.world_from_camera);
            }
        }

        // The map follows: rebuild from the stored frames.
        let mut report = LoopCorrectionReport {
            timestamp,
            keyframes: keyframe_count,
            loop_edges: state.loop_edges.len(),
            loop_weights,
            optimization,
            max_keyframe_shift_m: max_shift_m,
            map_shift_m,
            optimize_ms,
            reintegrate_ms: 0.0,
            reintegrated_frames: 0,
            remesh_ms: 0.0,
        };
        let min_shift_m = config.rebuild_min_shift_vox * f64::from(self.config.tsdf.voxel_size_m);
        if !config.reintegrate
            || state.incomplete
            || state.store.frames.is_empty()
            || map_shift_m < min_shift_m
        {
            return Ok(report);
        }
        let clock = Instant::now();
        let mut volume = TsdfVolume::new(self.config.tsdf)?;
        for stored in &state.store.frames {
            let Some(kf) = self.keyframes.get(stored.keyframe) else {
                continue;
            };
            let world_from_camera =
                renormalized(kf.world_from_camera * stored.keyframe_from_camera);
            // The integrator is parallel over blocks inside.
            self.integrator.integrate(
                &mut volume,
                &stored.to_frame()?,
                &self.camera,
                &world_from_camera,
            )?;
            report.reintegrated_frames += 1;
        }
        report.reintegrate_ms = elapsed_ms(clock);
        state.map_world_from_keyframe =
            self.keyframes.iter().map(|k| k.world_from_camera).collect();
        let clock = Instant::now();
        self.mesher = Mesher::new();
        self.mesher.remesh_all(&mut volume);
        self.volume = Arc::new(volume);
        report.remesh_ms = elapsed_ms(clock);
        // The scene graph updates on the new map at the next frame.
        self.frames_since_scene_graph = self
            .frames_since_scene_graph
            .max(self.config.scene_graph.every_n_frames);
        self.last_scene_graph_at = None;
        Ok(report)
    }
}
