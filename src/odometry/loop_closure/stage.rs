//! The SLAM back-end stage of the [`Pipeline`](crate::pipeline::Pipeline):
//! keyframe database, appearance loop candidates, geometric verification
//! and relocalisation behind the [`LoopClosureStage`] seam.
//!
//! For every pipeline keyframe ([`LoopClosureStage::add_keyframe`]):
//!
//! 1. a 160×120 [`KeyframeImage`] (block-averaged intensity + depth, see
//!    [`ImageDownsampler`]) and its [`GlobalDescriptor`] are computed;
//! 2. [`LoopDetector::candidates_for`] proposes older keyframes that look
//!    alike (k-d tree, time/keyframe gap, ratio test — module docs of
//!    [`super`]);
//! 3. each candidate is verified by projective point-to-plane ICP
//!    ([`ProjectiveIcpVerifier`]) from the current pose estimates; a verified
//!    loop is returned as a [`LoopClosure`] between the *pipeline's* keyframe
//!    ids (`from` = the older keyframe, `to` = the new one), `from_from_to =
//!    candidate_from_query` and the verifier's information (right
//!    perturbation, `(v, ω)` order — the convention of the seam and of the
//!    pose graph);
//! 4. the keyframe is stored, unless it is *redundant*: a verified loop put
//!    it within `redundant_translation_m` and `redundant_rotation_deg` of a
//!    stored keyframe, which then represents the place (keyframe culling in
//!    the spirit of ORB-SLAM, Mur-Artal et al., T-RO 2015, Sec. VI-E).
//!
//! [`LoopClosureStage::relocalise`] (tracking lost) ranks the stored
//! keyframes by descriptor ([`LoopDetector::relocalise`], no time gap),
//! aligns the frame's image to each of the best ones by the same ICP from
//! identity (`keyframe_from_frame ≈ I`: the frame looks like the keyframe)
//! and returns `world_from_keyframe · keyframe_from_frame` of the best
//! verified match (highest inlier ratio), or `None`. The pipeline then
//! re-tracks the frame against the model from that guess.
//!
//! # Memory
//!
//! Per *stored* keyframe: the 160×120 image as `f32` intensity + depth
//! (153.6 kB; the ray table is shared), the descriptor (`4·DESCRIPTOR_LEN`
//! bytes, twice: store and k-d tree), the pose, timestamp and the pipeline
//! id (≈ 160 kB in all). Frames, pyramids and full-resolution images are not
//! kept. Memory grows with the number of *distinct places* (redundant
//! keyframes are not stored) and is capped at `max_keyframes` (later
//! keyframes are still searched for loops but not stored): ≈ 160 MB at the
//! default cap of 1000.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use nalgebra::Isometry3;
use serde::{Deserialize, Serialize};

use super::{
    GlobalDescriptor, IcpVerifierConfig, LoopClosureConfig, LoopDetector, ProjectiveIcpVerifier,
};
use crate::error::{Error, Result};
use crate::geometry::PinholeCamera;
use crate::odometry::keyframe_image::{ImageDownsampler, KeyframeImage};
use crate::odometry::keyframes::KeyframeStore;
use crate::odometry::RgbdPyramid;
use crate::pipeline::{Keyframe, LoopClosure, LoopClosureStage};
use crate::sensor::RgbdFrame;

/// Settings of [`KeyframeLoopClosure`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoopClosureStageConfig {
    /// Candidate search.
    pub detector: LoopClosureConfig,
    /// Geometric verification (loops and relocalisation).
    pub verifier: IcpVerifierConfig,
    /// Integer downsampling of the stored keyframe images (4: 640×480 →
    /// 160×120, what the verifier defaults are tuned for).
    pub image_downsample: u32,
    /// Relocalisation verifies up to this many best descriptor matches.
    pub relocalisation_candidates: usize,
    /// A keyframe verified this close (translation) to a stored one is not
    /// stored.
    pub redundant_translation_m: f64,
    /// ... and this close in rotation.
    pub redundant_rotation_deg: f64,
    /// At most this many keyframes are stored.
    pub max_keyframes: usize,
}

impl Default for LoopClosureStageConfig {
    fn default() -> Self {
        Self {
            detector: LoopClosureConfig::default(),
            verifier: IcpVerifierConfig::default(),
            image_downsample: 4,
            relocalisation_candidates: 3,
            redundant_translation_m: 0.05,
            redundant_rotation_deg: 5.0,
            max_keyframes: 1000,
        }
    }
}

impl LoopClosureStageConfig {
    /// Checks the settings ([`Error::Config`] naming the bad field).
    pub fn validate(&self) -> Result<()> {
        self.detector.validate()?;
        self.verifier.validate()?;
        if self.image_downsample == 0 || self.relocalisation_candidates == 0 {
            return Err(Error::Config(
                "loop_closure_stage.image_downsample and relocalisation_candidates must be ≥ 1"
                    .into(),
            ));
        }
        let redundancy_ok = self.redundant_translation_m.is_finite()
            && self.redundant_translation_m >= 0.0
            && self.redundant_rotation_deg.is_finite()
            && self.redundant_rotation_deg >= 0.0;
        if !redundancy_ok {
            return Err(Error::Config(format!(
                "loop_closure_stage.redundant_translation_m / redundant_rotation_deg must be finite and ≥ 0, got {} / {}",
                self.redundant_translation_m, self.redundant_rotation_deg
            )));
        }
        Ok(())
    }
}

/// Counters and timings of a [`KeyframeLoopClosure`] (shared through
/// [`KeyframeLoopClosure::statistics`], so they can be read while the stage
/// is owned by a pipeline).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageStatistics {
    /// Keyframes given to `add_keyframe`.
    pub keyframes_seen: usize,
    /// Keyframes stored (not redundant, below the cap).
    pub keyframes_stored: usize,
    /// Appearance candidates proposed.
    pub candidates: usize,
    /// Loops that passed verification (returned).
    pub loops: usize,
    /// `relocalise` calls.
    pub relocalisation_attempts: usize,
    /// `relocalise` calls that returned a pose.
    pub relocalisations: usize,
    /// Wall-clock time of every `add_keyframe` call, summed, ms.
    pub add_keyframe_total_ms: f64,
    /// Slowest `add_keyframe` call, ms.
    pub add_keyframe_max_ms: f64,
    /// Wall-clock time of every `relocalise` call, summed, ms.
    pub relocalise_total_ms: f64,
    /// Slowest `relocalise` call, ms.
    pub relocalise_max_ms: f64,
}

/// Keyframe database + loop detection + relocalisation: the
/// [`LoopClosureStage`] of the pipeline (see the module docs).
pub struct KeyframeLoopClosure {
    config: LoopClosureStageConfig,
    downsampler: ImageDownsampler,
    store: KeyframeStore,
    detector: LoopDetector,
    verifier: ProjectiveIcpVerifier,
    /// Pipeline keyframe id of each stored keyframe (index = store id).
    pipeline_ids: Vec<usize>,
    statistics: Arc<Mutex<StageStatistics>>,
}

impl std::fmt::Debug for KeyframeLoopClosure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyframeLoopClosure")
            .field("config", &self.config)
            .field("stored_keyframes", &self.store.len())
            .finish_non_exhaustive()
    }
}

impl KeyframeLoopClosure {
    /// A stage for frames of `camera` (the pipeline's input camera,
    /// distortion included). Fails when the config does not validate or the
    /// downsampled image would be too small.
    pub fn new(camera: &PinholeCamera, config: LoopClosureStageConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            downsampler: ImageDownsampler::new(camera, config.image_downsample)?,
            store: KeyframeStore::new(),
            detector: LoopDetector::new(config.detector)?,
            verifier: ProjectiveIcpVerifier::new(config.verifier)?,
            pipeline_ids: Vec::new(),
            statistics: Arc::new(Mutex::new(StageStatistics::default())),
            config,
        })
    }

    /// A stage with the given search and verification settings and the
    /// other settings at their defaults.
    pub fn with_configs(
        camera: &PinholeCamera,
        detector: LoopClosureConfig,
        verifier: IcpVerifierConfig,
    ) -> Result<Self> {
        Self::new(
            camera,
            LoopClosureStageConfig {
                detector,
                verifier,
                ..LoopClosureStageConfig::default()
            },
        )
    }

    /// The settings.
    pub fn config(&self) -> &LoopClosureStageConfig {
        &self.config
    }

    /// The stored keyframes (store id = index; see [`Self::pipeline_id`]).
    pub fn store(&self) -> &KeyframeStore {
        &self.store
    }

    /// Pipeline keyframe id of stored keyframe `store_id`.
    pub fn pipeline_id(&self, store_id: usize) -> Option<usize> {
        self.pipeline_ids.get(store_id).copied()
    }

    /// A shared handle on the counters and timings (stays valid after the
    /// stage is boxed into a pipeline).
    pub fn statistics(&self) -> Arc<Mutex<StageStatistics>> {
        Arc::clone(&self.statistics)
    }

    fn update_statistics(&self, update: impl FnOnce(&mut StageStatistics)) {
        // A poisoned lock only means a reader panicked: the counters are
        // plain data, keep updating them.
        let mut guard = match self.statistics.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        update(&mut guard);
    }

    /// Loops for a keyframe that would get store id `query` (not stored
    /// yet): candidates, verified, as `(store id, VerifiedLoop)`.
    fn verified_loops(
        &self,
        query: usize,
        keyframe: &Keyframe,
        image: &KeyframeImage,
        descriptor: &GlobalDescriptor,
    ) -> (usize, Vec<(usize, super::VerifiedLoop)>) {
        let candidates =
            self.detector
                .candidates_for(&self.store, query, keyframe.timestamp, descriptor);
        let verified = candidates
            .iter()
            .filter_map(|candidate| {
                let stored = self.store.get(candidate.candidate)?;
                let guess = stored.world_from_keyframe.inverse() * keyframe.world_from_camera;
                let verified = self.verifier.align(image, &stored.image, &guess)?;
                Some((candidate.candidate, verified))
            })
            .collect();
        (candidates.len(), verified)
    }
}

impl LoopClosureStage for KeyframeLoopClosure {
    fn add_keyframe(
        &mut self,
        keyframe: &Keyframe,
        frame: &RgbdFrame,
        _pyramid: &RgbdPyramid,
    ) -> Result<Vec<LoopClosure>> {
        let clock = Instant::now();
        let image = self.downsampler.downsample(frame)?;
        let descriptor = GlobalDescriptor::from_image(&image);
        let query = self.store.len();
        let (candidates, verified) = self.verified_loops(query, keyframe, &image, &descriptor);
        let mut closures = Vec::with_capacity(verified.len());
        let mut redundant = false;
        for (store_id, loop_) in &verified {
            let Some(&from_keyframe) = self.pipeline_ids.get(*store_id) else {
                continue; // every stored keyframe has an id: cannot happen
            };
            let offset = &loop_.candidate_from_query;
            redundant |= offset.translation.vector.norm() <= self.config.redundant_translation_m
                && offset.rotation.angle().to_degrees() <= self.config.redundant_rotation_deg;
            closures.push(LoopClosure {
                from_keyframe,
                to_keyframe: keyframe.id,
                from_from_to: loop_.candidate_from_query,
                information: loop_.information,
            });
        }
        let store = !redundant && self.store.len() < self.config.max_keyframes;
        if store {
            self.store
                .push(keyframe.timestamp, keyframe.world_from_camera, image)?;
            self.pipeline_ids.push(keyframe.id);
            self.detector.update(&self.store)?;
        }
        let elapsed_ms = clock.elapsed().as_secs_f64() * 1e3;
        let loops = closures.len();
        self.update_statistics(|s| {
            s.keyframes_seen += 1;
            s.keyframes_stored += usize::from(store);
            s.candidates += candidates;
            s.loops += loops;
            s.add_keyframe_total_ms += elapsed_ms;
            s.add_keyframe_max_ms = s.add_keyframe_max_ms.max(elapsed_ms);
        });
        Ok(closures)
    }

    fn relocalise(
        &mut self,
        frame: &RgbdFrame,
        _pyramid: &RgbdPyramid,
    ) -> Result<Option<Isometry3<f64>>> {
        let clock = Instant::now();
        let image = self.downsampler.downsample(frame)?;
        let matches = self
            .detector
            .relocalise(&image, self.config.relocalisation_candidates);
        let best = matches
            .iter()
            .filter_map(|m| {
                let stored = self.store.get(m.keyframe)?;
                let verified =
                    self.verifier
                        .align(&image, &stored.image, &Isometry3::identity())?;
                Some((stored.world_from_keyframe, verified))
            })
            .max_by(|a, b| a.1.inlier_ratio.total_cmp(&b.1.inlier_ratio));
        let pose = best.map(|(world_from_keyframe, verified)| {
            world_from_keyframe * verified.candidate_from_query
        });
        let elapsed_ms = clock.elapsed().as_secs_f64() * 1e3;
        self.update_statistics(|s| {
            s.relocalisation_attempts += 1;
            s.relocalisations += usize::from(pose.is_some());
            s.relocalise_total_ms += elapsed_ms;
            s.relocalise_max_ms = s.relocalise_max_ms.max(elapsed_ms);
        });
        Ok(pose)
    }

    /// Moves the stored keyframes to their corrected poses, so relocalised
    /// poses are in the corrected world frame.
    fn keyframes_corrected(&mut self, keyframes: &[Keyframe]) {
        for (store_id, pipeline_id) in self.pipeline_ids.iter().enumerate() {
            // Pipeline keyframe ids are their indices; search otherwise.
            let corrected = keyframes
                .get(*pipeline_id)
                .filter(|k| k.id == *pipeline_id)
                .or_else(|| keyframes.iter().find(|k| k.id == *pipeline_id));
            if let Some(keyframe) = corrected {
                // Cannot fail: `store_id` indexes the store (ids are pushed
                // together with the keyframe).
                let _ = self
                    .store
                    .set_world_from_keyframe(store_id, keyframe.world_from_camera);
            }
        }
    }
}
