//! Keyframe selection by motion and overlap, and the keyframe store.
//!
//! A frame becomes a keyframe when, relative to the last keyframe, the camera
//! has moved more than `keyframe_min_translation_m`, turned more than
//! `keyframe_min_rotation_deg`, or when the estimated overlap (see
//! [`estimate_overlap`]) falls below `keyframe_min_overlap`. The motion test is
//! the one of DVO-SLAM and ORB-SLAM's distance criteria; the overlap test is
//! DVO-SLAM's covisibility criterion (Kerl, Sturm, Cremers, "Dense Visual SLAM
//! for RGB-D Cameras", IROS 2013, Sec. IV-A; Mur-Artal, Montiel, Tardós,
//! "ORB-SLAM", T-RO 2015, Sec. V-E). The first frame is always a keyframe.
//!
//! Each stored keyframe keeps its id, timestamp, `world_from_keyframe`, a
//! downsampled intensity + depth image ([`KeyframeImage`]) and its global
//! appearance descriptor ([`GlobalDescriptor`]) for loop closure and
//! relocalisation. Keyframe ids are insertion indices; by convention they are
//! also the node ids of the keyframe [`PoseGraph`].

use nalgebra::Isometry3;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::odometry::keyframe_image::{estimate_overlap, KeyframeImage};
use crate::odometry::loop_closure::GlobalDescriptor;
use crate::odometry::pose_graph::PoseGraph;
use crate::sensor::Timestamp;

/// Keyframe selection settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeyframeConfig {
    /// New keyframe when the translation from the last keyframe exceeds this.
    pub keyframe_min_translation_m: f64,
    /// New keyframe when the rotation angle from the last keyframe exceeds this.
    pub keyframe_min_rotation_deg: f64,
    /// New keyframe when the overlap with the last keyframe falls below this
    /// (fraction in `[0, 1]`; 0 disables the test).
    pub keyframe_min_overlap: f64,
    /// Depths agree for the overlap test when they differ by at most this
    /// fraction of the keyframe depth.
    pub overlap_relative_depth_tolerance: f64,
    /// Integer downsampling of the stored keyframe images (4: 640×480 → 160×120).
    pub image_downsample: u32,
}

impl Default for KeyframeConfig {
    /// 10 cm / 10° / 70 % overlap; 160×120 keyframe images from VGA.
    fn default() -> Self {
        Self {
            keyframe_min_translation_m: 0.10,
            keyframe_min_rotation_deg: 10.0,
            keyframe_min_overlap: 0.7,
            overlap_relative_depth_tolerance: 0.05,
            image_downsample: 4,
        }
    }
}

impl KeyframeConfig {
    /// Checks the settings ([`Error::Config`] naming the bad field).
    pub fn validate(&self) -> Result<()> {
        let positive = [
            (
                "keyframe_min_translation_m",
                self.keyframe_min_translation_m,
            ),
            ("keyframe_min_rotation_deg", self.keyframe_min_rotation_deg),
            (
                "overlap_relative_depth_tolerance",
                self.overlap_relative_depth_tolerance,
            ),
        ];
        for (name, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(Error::Config(format!(
                    "keyframes.{name} must be finite and > 0, got {value}"
                )));
            }
        }
        if !(0.0..=1.0).contains(&self.keyframe_min_overlap) {
            return Err(Error::Config(format!(
                "keyframes.keyframe_min_overlap must be in [0, 1], got {}",
                self.keyframe_min_overlap
            )));
        }
        if self.image_downsample == 0 {
            return Err(Error::Config(
                "keyframes.image_downsample must be ≥ 1".into(),
            ));
        }
        Ok(())
    }
}

/// Why a frame became a keyframe (the first test that fired, in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyframeReason {
    /// No keyframe yet.
    First,
    /// Translation above `keyframe_min_translation_m`.
    Translation,
    /// Rotation above `keyframe_min_rotation_deg`.
    Rotation,
    /// Overlap below `keyframe_min_overlap`.
    Overlap,
}

/// The outcome of [`KeyframeSelector::decide`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct KeyframeDecision {
    /// `Some(reason)` when the frame should become a keyframe.
    pub reason: Option<KeyframeReason>,
    /// Translation from the last keyframe (0 for the first frame).
    pub translation_m: f64,
    /// Rotation angle from the last keyframe (0 for the first frame).
    pub rotation_deg: f64,
    /// Overlap with the last keyframe; computed only when the motion tests
    /// did not fire already.
    pub overlap: Option<f64>,
}

impl KeyframeDecision {
    /// Whether the frame should become a keyframe.
    pub fn is_keyframe(&self) -> bool {
        self.reason.is_some()
    }
}

/// Decides which frames become keyframes (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KeyframeSelector {
    config: KeyframeConfig,
}

impl KeyframeSelector {
    /// A selector; fails when the config does not validate.
    pub fn new(config: KeyframeConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config })
    }

    /// The settings.
    pub fn config(&self) -> &KeyframeConfig {
        &self.config
    }

    /// Decides whether the current frame (pose estimate `world_from_current`,
    /// downsampled image `current`) becomes a keyframe, given the last
    /// keyframe (`None` before the first).
    pub fn decide(
        &self,
        last: Option<&Keyframe>,
        world_from_current: &Isometry3<f64>,
        current: &KeyframeImage,
    ) -> KeyframeDecision {
        let Some(last) = last else {
            return KeyframeDecision {
                reason: Some(KeyframeReason::First),
                translation_m: 0.0,
                rotation_deg: 0.0,
                overlap: None,
            };
        };
        let keyframe_from_current = last.world_from_keyframe.inverse() * world_from_current;
        let translation_m = keyframe_from_current.translation.vector.norm();
        let rotation_deg = keyframe_from_current.rotation.angle().to_degrees();
        let mut decision = KeyframeDecision {
            reason: None,
            translation_m,
            rotation_deg,
            overlap: None,
        };
        if translation_m > self.config.keyframe_min_translation_m {
            decision.reason = Some(KeyframeReason::Translation);
        } else if rotation_deg > self.config.keyframe_min_rotation_deg {
            decision.reason = Some(KeyframeReason::Rotation);
        } else if self.config.keyframe_min_overlap > 0.0 {
            let overlap = estimate_overlap(
                &keyframe_from_current,
                current,
                &last.image,
                self.config.overlap_relative_depth_tolerance,
            );
            decision.overlap = Some(overlap);
            if overlap < self.config.keyframe_min_overlap {
                decision.reason = Some(KeyframeReason::Overlap);
            }
        }
        decision
    }
}

/// One keyframe.
#[derive(Clone, Debug, PartialEq)]
pub struct Keyframe {
    /// Id = index in the [`KeyframeStore`] (and pose-graph node id).
    pub id: usize,
    /// Acquisition time of the frame.
    pub timestamp: Timestamp,
    /// Current estimate of the keyframe pose.
    pub world_from_keyframe: Isometry3<f64>,
    /// Downsampled intensity + depth image.
    pub image: KeyframeImage,
    /// Global appearance descriptor of `image`.
    pub descriptor: GlobalDescriptor,
}

/// Keyframes in insertion (time) order.
#[derive(Clone, Debug, Default)]
pub struct KeyframeStore {
    keyframes: Vec<Keyframe>,
}

impl KeyframeStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a keyframe (computing its descriptor); returns its id. Fails
    /// ([`Error::InvalidArgument`]) when `timestamp` is not after the last
    /// keyframe's.
    pub fn push(
        &mut self,
        timestamp: Timestamp,
        world_from_keyframe: Isometry3<f64>,
        image: KeyframeImage,
    ) -> Result<usize> {
        if let Some(last) = self.keyframes.last() {
            if timestamp <= last.timestamp {
                return Err(Error::InvalidArgument(format!(
                    "keyframe at {timestamp} is not after the last keyframe at {}",
                    last.timestamp
                )));
            }
        }
        let id = self.keyframes.len();
        let descriptor = GlobalDescriptor::from_image(&image);
        self.keyframes.push(Keyframe {
            id,
            timestamp,
            world_from_keyframe,
            image,
            descriptor,
        });
        Ok(id)
    }

    /// Number of keyframes.
    pub fn len(&self) -> usize {
        self.keyframes.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.keyframes.is_empty()
    }

    /// Keyframe by id.
    pub fn get(&self, id: usize) -> Option<&Keyframe> {
        self.keyframes.get(id)
    }

    /// The newest keyframe.
    pub fn last(&self) -> Option<&Keyframe> {
        self.keyframes.last()
    }

    /// All keyframes, oldest first.
    pub fn as_slice(&self) -> &[Keyframe] {
        &self.keyframes
    }

    /// Iterates over the keyframes, oldest first.
    pub fn iter(&self) -> std::slice::Iter<'_, Keyframe> {
        self.keyframes.iter()
    }

    /// Replaces a keyframe's pose estimate.
    pub fn set_world_from_keyframe(
        &mut self,
        id: usize,
        world_from_keyframe: Isometry3<f64>,
    ) -> Result<()> {
        let keyframe = self
            .keyframes
            .get_mut(id)
            .ok_or_else(|| Error::InvalidArgument(format!("no keyframe {id}")))?;
        keyframe.world_from_keyframe = world_from_keyframe;
        Ok(())
    }

    /// Copies the optimised poses of `graph` (node id = keyframe id) into the
    /// store. Fails when the graph has fewer nodes than the store.
    pub fn update_from_pose_graph(&mut self, graph: &PoseGraph) -> Result<()> {
        if graph.len() < self.keyframes.len() {
            return Err(Error::InvalidArgument(format!(
                "pose graph has {} nodes, the keyframe store {}",
                graph.len(),
                self.keyframes.len()
            )));
        }
        for (keyframe, pose) in self.keyframes.iter_mut().zip(graph.poses()) {
            keyframe.world_from_keyframe = *pose;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::PinholeCamera;
    use crate::odometry::keyframe_image::ImageDownsampler;
    use crate::sensor::RgbdFrame;
    use nalgebra::Vector3;

    /// 80×60 image of a fronto-parallel plane at 2 m (camera fx = 500 at VGA).
    fn plane_image() -> (KeyframeImage, f64) {
        let camera = PinholeCamera::new(640, 480, 500.0, 500.0, 319.5, 239.5).unwrap();
        let n = 640 * 480;
        let frame = RgbdFrame::new(Timestamp(0), 640, 480, vec![[90; 3]; n], vec![2.0; n]).unwrap();
        let down = ImageDownsampler::new(&camera, 8).unwrap();
        (down.downsample(&frame).unwrap(), down.camera().fx)
    }

    /// Runs the selector over poses, pushing keyframes; returns their indices.
    fn select(config: KeyframeConfig, poses: &[Isometry3<f64>]) -> Vec<usize> {
        let (image, _) = plane_image();
        let selector = KeyframeSelector::new(config).unwrap();
        let mut store = KeyframeStore::new();
        let mut chosen = Vec::new();
        for (i, world_from_current) in poses.iter().enumerate() {
            if selector
                .decide(store.last(), world_from_current, &image)
                .is_keyframe()
            {
                store
                    .push(Timestamp(i as i64), *world_from_current, image.clone())
                    .unwrap();
                chosen.push(i);
            }
        }
        chosen
    }

    #[test]
    fn keyframes_exactly_where_motion_thresholds_say() {
        let config = KeyframeConfig {
            keyframe_min_translation_m: 0.1,
            keyframe_min_rotation_deg: 10.0,
            keyframe_min_overlap: 0.0,
            ..KeyframeConfig::default()
        };
        // 3 cm per frame along z for 20 frames: 0.03·k > 0.1 first at k = 4,
        // so keyframes every 4 frames. Then 3° per frame about y for 20
        // frames: 3·k > 10 first at k = 4 again, counted from the last
        // keyframe (frame 16, 4 frames before the turn starts).
        let mut poses = Vec::new();
        for k in 0..20 {
            poses.push(Isometry3::translation(0.0, 0.0, 0.03 * k as f64));
        }
        let end = poses[19];
        for k in 1..=20 {
            let turn = Isometry3::rotation(Vector3::y() * (3.0 * k as f64).to_radians());
            poses.push(end * turn);
        }
        // Translation keyframes: 0, 4, 8, 12, 16. Frame 19 + k (k ≥ 1) is 3
        // cm + 3k° from frame 16: rotation 3k > 10 at k = 4 → frame 23; then
        // every 4 frames: 27, 31, 35, 39.
        assert_eq!(
            select(config, &poses),
            vec![0, 4, 8, 12, 16, 23, 27, 31, 35, 39]
        );
    }

    #[test]
    fn keyframes_exactly_where_overlap_threshold_says() {
        // Sideways steps of 4 downsampled pixels on the 80-pixel-wide plane
        // image: overlap after k steps = (80 − 4k)/80 < 0.7 first at k = 6
        // (0.70 is not below 0.7; 0.65 is). Motion thresholds never fire.
        let (_, fx) = plane_image();
        let step_m = 4.0 * 2.0 / fx;
        let config = KeyframeConfig {
            keyframe_min_translation_m: 10.0,
            keyframe_min_rotation_deg: 90.0,
            keyframe_min_overlap: 0.7,
            ..KeyframeConfig::default()
        };
        let poses: Vec<_> = (0..20)
            .map(|k| Isometry3::translation(step_m * k as f64, 0.0, 0.0))
            .collect();
        assert_eq!(select(config, &poses), vec![0, 7, 14]);
    }

    #[test]
    fn config_validation_and_store_errors() {
        assert!(KeyframeConfig::default().validate().is_ok());
        for bad in [
            KeyframeConfig {
                keyframe_min_overlap: 1.5,
                ..KeyframeConfig::default()
            },
            KeyframeConfig {
                keyframe_min_translation_m: f64::NAN,
                ..KeyframeConfig::default()
            },
            KeyframeConfig {
                image_downsample: 0,
                ..KeyframeConfig::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let toml_text = "keyframe_min_rotation_deg = 5.0\n";
        let parsed: KeyframeConfig = toml::from_str(toml_text).unwrap();
        assert_eq!(parsed.keyframe_min_rotation_deg, 5.0);
        let (image, _) = plane_image();
        let mut store = KeyframeStore::new();
        store
            .push(Timestamp(5), Isometry3::identity(), image.clone())
            .unwrap();
        assert!(store
            .push(Timestamp(5), Isometry3::identity(), image)
            .is_err());
        assert!(store
            .set_world_from_keyframe(3, Isometry3::identity())
            .is_err());
    }
}
