//! Optional semantic input: per-pixel instance segmentation with class labels,
//! and per-object label fusion by confidence-weighted votes over frames.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sensor::RgbdFrame;

pub use crate::scene_graph::groundtruth_segmenter::GroundTruthSegmenter;

/// Label of one instance in one frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceLabel {
    /// Class name (`chair`, `table`, ...).
    pub class_name: String,
    /// Detector confidence in [0, 1].
    pub confidence: f32,
}

/// A per-pixel instance segmentation of one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceSegmentation {
    /// Image width (must match the frame).
    pub width: u32,
    /// Image height (must match the frame).
    pub height: u32,
    /// Per-pixel instance id, row-major, `0` = no instance. Ids are local to
    /// the frame (a detector need not keep them stable).
    pub instance_ids: Vec<u32>,
    /// Label of each instance id present.
    pub labels: BTreeMap<u32, InstanceLabel>,
}

impl InstanceSegmentation {
    /// Checks the segmentation matches `frame` in size and that every id in
    /// the mask has a label.
    pub fn validate_for(&self, frame: &RgbdFrame) -> Result<()> {
        if self.width != frame.width
            || self.height != frame.height
            || self.instance_ids.len() != frame.pixel_count()
        {
            return Err(Error::InvalidFrame {
                frame: frame.timestamp,
                message: format!(
                    "segmentation is {}x{} ({} ids) but the frame is {}x{}",
                    self.width,
                    self.height,
                    self.instance_ids.len(),
                    frame.width,
                    frame.height
                ),
            });
        }
        if let Some(id) = self
            .instance_ids
            .iter()
            .find(|&&id| id != 0 && !self.labels.contains_key(&id))
        {
            return Err(Error::InvalidFrame {
                frame: frame.timestamp,
                message: format!("instance id {id} in the mask has no label"),
            });
        }
        Ok(())
    }
}

/// Anything that segments frames into labelled instances: a detector, or the
/// synthetic generator's groundtruth masks.
pub trait Segmenter: Send {
    /// Segments one frame. `Ok(None)` when this segmenter has nothing for it
    /// (e.g. it runs at a lower rate than the camera).
    fn segment(&mut self, frame: &RgbdFrame) -> Result<Option<InstanceSegmentation>>;
}

/// Confidence-weighted class votes of one object over frames.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassVotes {
    votes: BTreeMap<String, f64>,
}

impl ClassVotes {
    /// Adds one observation.
    pub fn add(&mut self, class_name: &str, confidence: f32) {
        let weight = f64::from(confidence.clamp(0.0, 1.0));
        *self.votes.entry(class_name.to_owned()).or_insert(0.0) += weight;
    }

    /// Merges another object's votes (objects merged into one).
    pub fn merge(&mut self, other: &ClassVotes) {
        for (class, weight) in &other.votes {
            *self.votes.entry(class.clone()).or_insert(0.0) += weight;
        }
    }

    /// The winning class and its share of the total vote weight, or `None`
    /// without votes.
    pub fn best(&self) -> Option<(&str, f64)> {
        let total: f64 = self.votes.values().sum();
        if total <= 0.0 {
            return None;
        }
        self.votes
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(class, w)| (class.as_str(), w / total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensor::Timestamp;

    #[test]
    fn votes_pick_the_weighted_majority() {
        let mut votes = ClassVotes::default();
        assert!(votes.best().is_none());
        votes.add("chair", 0.9);
        votes.add("chair", 0.8);
        votes.add("table", 0.95);
        let (class, share) = votes.best().unwrap();
        assert_eq!(class, "chair");
        assert!((share - 1.7 / 2.65).abs() < 1e-6);
        let mut other = ClassVotes::default();
        other.add("table", 1.0);
        votes.merge(&other);
        assert_eq!(votes.best().unwrap().0, "table");
    }

    #[test]
    fn segmentation_must_match_the_frame() {
        let frame = RgbdFrame::new(Timestamp(5), 2, 2, vec![[0; 3]; 4], vec![1.0; 4]).unwrap();
        let mut seg = InstanceSegmentation {
            width: 2,
            height: 2,
            instance_ids: vec![0, 1, 1, 0],
            labels: BTreeMap::from([(
                1,
                InstanceLabel {
                    class_name: "mug".into(),
                    confidence: 1.0,
                },
            )]),
        };
        assert!(seg.validate_for(&frame).is_ok());
        seg.instance_ids[0] = 7;
        assert!(seg
            .validate_for(&frame)
            .unwrap_err()
            .to_string()
            .contains("id 7"));
        seg.instance_ids.pop();
        assert!(seg.validate_for(&frame).is_err());
    }
}
