//! A [`Segmenter`] that returns the synthetic generator's exact instance
//! masks with the objects' true classes (confidence 1): the oracle for
//! scene-graph tests, and the upper bound a detector can reach.

use std::collections::{BTreeMap, VecDeque};

use crate::error::Result;
use crate::scene_graph::segmentation::{InstanceLabel, InstanceSegmentation, Segmenter};
use crate::sensor::synthetic::{RenderedFrame, SyntheticScene, NO_INSTANCE};
use crate::sensor::{RgbdFrame, Timestamp};

/// Groundtruth segmentation of a [`SyntheticScene`].
///
/// [`Self::segment_rendered`] converts a rendered frame's mask directly. For
/// code that only sees [`RgbdFrame`]s (through the [`Segmenter`] trait),
/// [`Self::push`] the rendered frame first; [`Segmenter::segment`] then
/// returns the mask whose timestamp matches (and `Ok(None)` for frames it
/// was not given).
#[derive(Clone, Debug)]
pub struct GroundTruthSegmenter {
    classes: BTreeMap<u32, String>,
    pending: VecDeque<(Timestamp, InstanceSegmentation)>,
}

/// At most this many pushed masks wait for their frame.
const MAX_PENDING: usize = 8;

impl GroundTruthSegmenter {
    /// Labels every object of `scene` by its groundtruth class; structure
    /// (floor, walls, ceiling) is left unlabelled (id 0), as an object
    /// detector would.
    pub fn new(scene: &SyntheticScene) -> Self {
        let classes = scene
            .objects()
            .iter()
            .map(|o| (o.groundtruth.instance_id, o.groundtruth.class.clone()))
            .collect();
        let mut segmenter = Self {
            classes,
            pending: VecDeque::new(),
        };
        segmenter.set_include_structure(false, scene);
        segmenter
    }

    /// Whether floor, walls and ceiling get their labels too.
    pub fn with_structure(mut self, scene: &SyntheticScene) -> Self {
        self.set_include_structure(true, scene);
        self
    }

    fn set_include_structure(&mut self, include: bool, scene: &SyntheticScene) {
        for o in scene.objects() {
            let g = &o.groundtruth;
            if g.is_structure && !include {
                self.classes.remove(&g.instance_id);
            } else {
                self.classes.insert(g.instance_id, g.class.clone());
            }
        }
    }

    /// The segmentation of a rendered frame: mask ids of labelled objects
    /// kept, all others (nothing hit, unlabelled structure) set to 0.
    pub fn segment_rendered(&self, rendered: &RenderedFrame) -> InstanceSegmentation {
        let frame = &rendered.frame;
        let mut labels = BTreeMap::new();
        let instance_ids = rendered
            .instance_mask
            .iter()
            .map(|&id| {
                if id == NO_INSTANCE {
                    return 0;
                }
                match self.classes.get(&id) {
                    Some(class_name) => {
                        labels.entry(id).or_insert_with(|| InstanceLabel {
                            class_name: class_name.clone(),
                            confidence: 1.0,
                        });
                        id
                    }
                    None => 0,
                }
            })
            .collect();
        InstanceSegmentation {
            width: frame.width,
            height: frame.height,
            instance_ids,
            labels,
        }
    }

    /// Queues the mask of `rendered` for [`Segmenter::segment`] on its
    /// frame (only the latest few are kept).
    pub fn push(&mut self, rendered: &RenderedFrame) {
        let segmentation = self.segment_rendered(rendered);
        self.pending
            .push_back((rendered.frame.timestamp, segmentation));
        while self.pending.len() > MAX_PENDING {
            self.pending.pop_front();
        }
    }
}

impl Segmenter for GroundTruthSegmenter {
    fn segment(&mut self, frame: &RgbdFrame) -> Result<Option<InstanceSegmentation>> {
        let Some(k) = self.pending.iter().position(|(t, _)| *t == frame.timestamp) else {
            return Ok(None);
        };
        // Older masks can no longer be asked for.
        let mut rest = self.pending.split_off(k);
        self.pending = rest.split_off(1);
        let segmentation = rest.pop_front().map(|(_, s)| s);
        if let Some(s) = &segmentation {
            s.validate_for(frame)?;
        }
        Ok(segmentation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensor::synthetic::{SequenceConfig, SyntheticSequence, TrajectoryPreset};

    #[test]
    fn masks_carry_the_true_classes() {
        let config = SequenceConfig {
            duration_s: 0.1,
            ..SequenceConfig::default()
        };
        let sequence = SyntheticSequence::furnished(3, TrajectoryPreset::Gentle, config).unwrap();
        let rendered = sequence.render_frame(0).unwrap();
        let mut segmenter = GroundTruthSegmenter::new(sequence.scene());
        let seg = segmenter.segment_rendered(&rendered);
        assert!(seg.validate_for(&rendered.frame).is_ok());
        assert!(!seg.labels.is_empty());
        for (id, label) in &seg.labels {
            let truth = sequence.scene().object(*id).unwrap();
            assert_eq!(label.class_name, truth.groundtruth.class);
            assert!(!truth.groundtruth.is_structure);
            assert_eq!(label.confidence, 1.0);
        }
        // Pixels of structure are unlabelled, object pixels keep their id.
        for (k, &id) in rendered.instance_mask.iter().enumerate() {
            let structure = sequence
                .scene()
                .object(id)
                .is_none_or(|o| o.groundtruth.is_structure);
            assert_eq!(seg.instance_ids[k] == 0, structure);
        }
        // Through the trait: only a pushed frame is answered.
        assert!(segmenter.segment(&rendered.frame).unwrap().is_none());
        segmenter.push(&rendered);
        assert_eq!(segmenter.segment(&rendered.frame).unwrap(), Some(seg));
        assert!(segmenter.segment(&rendered.frame).unwrap().is_none());
        let with = GroundTruthSegmenter::new(sequence.scene()).with_structure(sequence.scene());
        assert!(with
            .segment_rendered(&rendered)
            .labels
            .values()
            .any(|l| l.class_name == "floor" || l.class_name == "wall"));
    }
}
