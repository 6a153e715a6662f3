//! Appearance-based loop closure: candidates by nearest-neighbour search over
//! global keyframe descriptors, geometric verification behind a trait, and
//! loop edges for the [`PoseGraph`].
//!
//! The pipeline for a new keyframe `q` (ElasticFusion's global loop closure,
//! Whelan et al., RSS 2015, Sec. 5; Glocker et al., TVCG 2015):
//!
//! 1. **Describe**: a tiny blurry image of intensity and depth
//!    ([`GlobalDescriptor`], Klein & Murray, ECCV 2008).
//! 2. **Search** ([`LoopDetector::candidates`]): the nearest keyframes in
//!    descriptor space (k-d tree, kiddo), among keyframes at least
//!    `min_keyframe_gap` keyframes and `min_time_gap_s` seconds older than `q`
//!    (so not adjacent in time), within `max_descriptor_distance`. A ratio
//!    test (Lowe, IJCV 2004, Sec. 7.1) rejects ambiguous queries: the best
//!    distance must be below `max_distance_ratio` times the distance of the
//!    nearest eligible keyframe from *another place in time* (more than
//!    `min_keyframe_gap` keyframes away from the best; neighbours of the best
//!    in time look alike and would defeat a plain first/second ratio).
//! 3. **Verify** ([`LoopVerifier`]): a geometric check that returns the
//!    relative pose `candidate_from_query` with its information, e.g.
//!    [`ProjectiveIcpVerifier`] or later the dense RGB-D tracker.
//! 4. **Close** ([`loop_edge`]): an [`EdgeKind::Loop`] edge with a robust
//!    kernel, so that a wrong loop that passed verification is down-weighted
//!    by the optimiser (Sünderhauf & Protzel, IROS 2012 discuss why).
//!
//! [`LoopDetector::relocalise`] reuses step 2 without the time gap for
//! tracking recovery.
//!
//! [`KeyframeLoopClosure`] puts it all behind the pipeline's
//! [`LoopClosureStage`](crate::pipeline::LoopClosureStage) seam: keyframe
//! database with bounded memory, loop edges between the pipeline's keyframe
//! ids, and relocalisation of a lost frame (see its module docs).

mod descriptor;
mod icp;
mod index;
mod stage;

pub use descriptor::{GlobalDescriptor, DESCRIPTOR_HEIGHT, DESCRIPTOR_LEN, DESCRIPTOR_WIDTH};
pub use icp::{IcpVerifierConfig, ProjectiveIcpVerifier};
pub use index::DescriptorIndex;
pub use stage::{KeyframeLoopClosure, LoopClosureStageConfig, StageStatistics};

use nalgebra::{Isometry3, Matrix6};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::odometry::keyframe_image::KeyframeImage;
use crate::odometry::keyframes::{Keyframe, KeyframeStore};
use crate::odometry::pose_graph::{Edge, EdgeKind, PoseGraph, RobustKernel};

/// Loop-candidate search settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoopClosureConfig {
    /// Candidates are at least this many keyframes older than the query.
    pub min_keyframe_gap: usize,
    /// Candidates are at least this many seconds older than the query.
    pub min_time_gap_s: f64,
    /// Largest squared descriptor distance of a candidate (range `[0, 4]`,
    /// see [`GlobalDescriptor`]).
    pub max_descriptor_distance: f32,
    /// Ratio test: best squared distance / squared distance of the nearest
    /// keyframe from another place must be below this (1 disables it).
    pub max_distance_ratio: f32,
    /// At most this many candidates per query (best first).
    pub max_candidates: usize,
    /// Robust kernel of the loop edges.
    pub loop_kernel: RobustKernel,
}

impl Default for LoopClosureConfig {
    fn default() -> Self {
        Self {
            min_keyframe_gap: 5,
            min_time_gap_s: 2.0,
            max_descriptor_distance: 0.25,
            max_distance_ratio: 0.9,
            max_candidates: 3,
            loop_kernel: RobustKernel::Cauchy { c: 3.0 },
        }
    }
}

impl LoopClosureConfig {
    /// Checks the settings ([`Error::Config`] naming the bad field).
    pub fn validate(&self) -> Result<()> {
        if !(self.min_time_gap_s.is_finite() && self.min_time_gap_s >= 0.0) {
            return Err(Error::Config(format!(
                "loop_closure.min_time_gap_s must be finite and ≥ 0, got {}",
                self.min_time_gap_s
            )));
        }
        if !(self.max_descriptor_distance.is_finite() && self.max_descriptor_distance > 0.0) {
            return Err(Error::Config(format!(
                "loop_closure.max_descriptor_distance must be finite and > 0, got {}",
                self.max_descriptor_distance
            )));
        }
        if !(self.max_distance_ratio > 0.0 && self.max_distance_ratio <= 1.0) {
            return Err(Error::Config(format!(
                "loop_closure.max_distance_ratio must be in (0, 1], got {}",
                self.max_distance_ratio
            )));
        }
        if self.max_candidates == 0 {
            return Err(Error::Config(
                "loop_closure.max_candidates must be ≥ 1".into(),
            ));
        }
        // Reuse the pose graph's kernel check.
        let mut probe = PoseGraph::new();
        let a = probe.add_node(Isometry3::identity(), true);
        let b = probe.add_node(Isometry3::identity(), false);
        probe
            .add_edge(Edge {
                a,
                b,
                a_from_b: Isometry3::identity(),
                information: Matrix6::identity(),
                kind: EdgeKind::Loop,
                kernel: self.loop_kernel,
            })
            .map_err(|_| {
                Error::Config(format!(
                    "loop_closure.loop_kernel {:?} needs a finite parameter > 0",
                    self.loop_kernel
                ))
            })
    }
}

/// An appearance match between a query and an older keyframe.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LoopCandidate {
    /// Id of the query keyframe (`usize::MAX` for a relocalisation query).
    pub query: usize,
    /// Id of the matched keyframe.
    pub candidate: usize,
    /// Squared descriptor distance.
    pub descriptor_distance: f32,
}

/// A geometrically verified loop.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct VerifiedLoop {
    /// Pose of the query keyframe in the candidate keyframe's frame.
    pub candidate_from_query: Isometry3<f64>,
    /// Information of `candidate_from_query` in the pose graph's order
    /// (translation, then rotation; right-perturbation tangent).
    pub information: Matrix6<f64>,
    /// Fraction of the query's valid depth points that found a consistent
    /// correspondence (0..1).
    pub inlier_ratio: f64,
}

/// Geometric verification of a loop candidate. Implementations start from the
/// current estimates (`candidate.world_from_keyframe⁻¹ ·
/// query.world_from_keyframe`) and return `None` to reject.
pub trait LoopVerifier {
    /// Verifies that `query` sees the place of `candidate`, returning their
    /// relative pose.
    fn verify(&self, query: &Keyframe, candidate: &Keyframe) -> Option<VerifiedLoop>;
}

/// A relocalisation match (see [`LoopDetector::relocalise`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RelocalisationMatch {
    /// Id of the matched keyframe.
    pub keyframe: usize,
    /// Squared descriptor distance.
    pub descriptor_distance: f32,
}

/// A loop that passed verification, as added to the pose graph.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct AcceptedLoop {
    /// The appearance candidate.
    pub candidate: LoopCandidate,
    /// The verification result.
    pub verified: VerifiedLoop,
}

/// Finds loop-closure candidates among the keyframes of a store.
#[derive(Clone, Debug)]
pub struct LoopDetector {
    config: LoopClosureConfig,
    index: DescriptorIndex,
}

impl LoopDetector {
    /// A detector; fails when the config does not validate.
    pub fn new(config: LoopClosureConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            index: DescriptorIndex::default(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &LoopClosureConfig {
        &self.config
    }

    /// Brings the descriptor index up to date with the store (indexes the
    /// keyframes added since the last call; rebuilds if the store shrank).
    pub fn update(&mut self, store: &KeyframeStore) -> Result<()> {
        if store.len() < self.index.len() {
            self.index = DescriptorIndex::default();
        }
        let new: Vec<GlobalDescriptor> = store.as_slice()[self.index.len()..]
            .iter()
            .map(|k| k.descriptor.clone())
            .collect();
        self.index.extend(new)
    }

    /// Loop candidates for keyframe `query` (see the module docs, step 2),
    /// best first. Call [`Self::update`] after adding keyframes; keyframes not
    /// yet indexed are not searched.
    pub fn candidates(&self, store: &KeyframeStore, query: usize) -> Result<Vec<LoopCandidate>> {
        let q = store
            .get(query)
            .ok_or_else(|| Error::InvalidArgument(format!("no keyframe {query}")))?;
        Ok(self.candidates_for(store, query, q.timestamp, &q.descriptor))
    }

    /// Loop candidates for a query that need not be in the store: a
    /// keyframe that would get id `query` (e.g. `store.len()`), taken at
    /// `timestamp` with `descriptor`. Same rules as [`Self::candidates`].
    pub fn candidates_for(
        &self,
        store: &KeyframeStore,
        query: usize,
        timestamp: crate::sensor::Timestamp,
        descriptor: &GlobalDescriptor,
    ) -> Vec<LoopCandidate> {
        let gap = self.config.min_keyframe_gap;
        let eligible = |id: usize| {
            id + gap <= query
                && store.get(id).is_some_and(|k| {
                    timestamp.secs_since(k.timestamp) >= self.config.min_time_gap_s
                })
        };
        let ranked = self.ranked(descriptor, eligible);
        let Some(&(best, best_distance)) = ranked.first() else {
            return Vec::new();
        };
        if best_distance > self.config.max_descriptor_distance {
            return Vec::new();
        }
        // Ratio test against the nearest keyframe from another place in time.
        let other = ranked.iter().find(|(id, _)| id.abs_diff(best) > gap);
        if let Some(&(_, other_distance)) = other {
            if best_distance >= self.config.max_distance_ratio * other_distance {
                return Vec::new();
            }
        }
        ranked
            .into_iter()
            .take_while(|&(_, d)| d <= self.config.max_descriptor_distance)
            .take(self.config.max_candidates)
            .map(|(candidate, descriptor_distance)| LoopCandidate {
                query,
                candidate,
                descriptor_distance,
            })
            .collect()
    }

    /// The best-matching keyframes for an arbitrary frame (for tracking
    /// recovery): up to `max_results` nearest keyframes by descriptor within
    /// `max_descriptor_distance`, best first, with no time restriction.
    pub fn relocalise(
        &self,
        image: &KeyframeImage,
        max_results: usize,
    ) -> Vec<RelocalisationMatch> {
        let descriptor = GlobalDescriptor::from_image(image);
        self.index
            .nearest(&descriptor, max_results)
            .into_iter()
            .filter(|&(_, d)| d <= self.config.max_descriptor_distance)
            .map(|(keyframe, descriptor_distance)| RelocalisationMatch {
                keyframe,
                descriptor_distance,
            })
            .collect()
    }

    /// Finds candidates for `query`, verifies them with `verifier` and adds
    /// each verified loop to `graph` as a [`loop_edge`] (node id = keyframe
    /// id). Returns the accepted loops.
    pub fn close_loops(
        &self,
        store: &KeyframeStore,
        query: usize,
        verifier: &dyn LoopVerifier,
        graph: &mut PoseGraph,
    ) -> Result<Vec<AcceptedLoop>> {
        let mut accepted = Vec::new();
        let Some(q) = store.get(query) else {
            return Err(Error::InvalidArgument(format!("no keyframe {query}")));
        };
        for candidate in self.candidates(store, query)? {
            let Some(c) = store.get(candidate.candidate) else {
                continue;
            };
            if let Some(verified) = verifier.verify(q, c) {
                graph.add_edge(loop_edge(
                    candidate.candidate,
                    query,
                    &verified,
                    self.config.loop_kernel,
                ))?;
                accepted.push(AcceptedLoop {
                    candidate,
                    verified,
                });
            }
        }
        Ok(accepted)
    }

    /// All indexed keyframes ranked by descriptor distance, filtered by
    /// `eligible`. Grows the k-NN query until enough eligible keyframes are
    /// found for the candidates and the ratio test (or all are ranked).
    fn ranked(
        &self,
        descriptor: &GlobalDescriptor,
        eligible: impl Fn(usize) -> bool,
    ) -> Vec<(usize, f32)> {
        let gap = self.config.min_keyframe_gap;
        let mut k = (4 * self.config.max_candidates).max(16);
        loop {
            let found: Vec<(usize, f32)> = self
                .index
                .nearest(descriptor, k)
                .into_iter()
                .filter(|&(id, _)| eligible(id))
                .collect();
            let has_other = found
                .first()
                .is_some_and(|&(best, _)| found.iter().any(|(id, _)| id.abs_diff(best) > gap));
            if (found.len() >= self.config.max_candidates && has_other) || k >= self.index.len() {
                return found;
            }
            k *= 2;
        }
    }
}

/// The pose-graph edge of a verified loop: `a = candidate`, `b = query`,
/// `a_from_b = candidate_from_query`, [`EdgeKind::Loop`], with `kernel`.
pub fn loop_edge(
    candidate: usize,
    query: usize,
    verified: &VerifiedLoop,
    kernel: RobustKernel,
) -> Edge {
    Edge {
        a: candidate,
        b: query,
        a_from_b: verified.candidate_from_query,
        information: verified.information,
        kind: EdgeKind::Loop,
        kernel,
    }
}

#[cfg(test)]
mod tests;
