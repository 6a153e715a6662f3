//! The frames kept for re-integrating the map after a loop correction:
//! compact (depth as u16 millimetres, RGB8 colour: 5 bytes per pixel) and
//! bounded (see [`FrameStore::offer`]).

use nalgebra::Isometry3;
use rayon::prelude::*;

use crate::config::LoopCorrectionConfig;
use crate::error::Result;
use crate::sensor::{RgbdFrame, Timestamp};

/// One frame kept for re-integration (compact: depth in u16 millimetres).
#[derive(Clone, Debug)]
pub(super) struct StoredFrame {
    /// Anchor keyframe id.
    pub(super) keyframe: usize,
    /// Pose relative to the anchor keyframe.
    pub(super) keyframe_from_camera: Isometry3<f64>,
    /// Whether this is the keyframe's own frame.
    pub(super) is_keyframe: bool,
    timestamp: Timestamp,
    width: u32,
    height: u32,
    /// Depth in millimetres, 0 = invalid.
    depth_mm: Vec<u16>,
    color: Vec<[u8; 3]>,
}

impl StoredFrame {
    fn new(frame: &RgbdFrame, keyframe: usize, keyframe_from_camera: Isometry3<f64>) -> Self {
        let depth_mm = frame
            .depth_m
            .par_iter()
            .map(|&d| {
                if d.is_finite() && d > 0.0 {
                    (d * 1000.0).round().clamp(1.0, f32::from(u16::MAX)) as u16
                } else {
                    0
                }
            })
            .collect();
        Self {
            keyframe,
            keyframe_from_camera,
            is_keyframe: false,
            timestamp: frame.timestamp,
            width: frame.width,
            height: frame.height,
            depth_mm,
            color: frame.color.clone(),
        }
    }

    pub(super) fn to_frame(&self) -> Result<RgbdFrame> {
        let depth_m = self
            .depth_mm
            .par_iter()
            .map(|&mm| f32::from(mm) * 1e-3)
            .collect();
        RgbdFrame::new(
            self.timestamp,
            self.width,
            self.height,
            self.color.clone(),
            depth_m,
        )
    }

    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + 2 * self.depth_mm.len() + 3 * self.color.len()
    }
}

/// The stored frames and the storing rates.
#[derive(Clone, Debug, Default)]
pub(super) struct FrameStore {
    /// In session order.
    pub(super) frames: Vec<StoredFrame>,
    /// Store every `keyframe_stride`-th keyframe (doubles when full).
    keyframe_stride: usize,
    /// Store every `frame_stride`-th frame (`store_every_n_frames`,
    /// doubling when full; 0 = keyframes only).
    frame_stride: usize,
    keyframes_offered: usize,
}

impl FrameStore {
    /// Frames held and their memory, bytes.
    pub(super) fn stats(&self) -> (usize, usize) {
        let bytes = self.frames.iter().map(StoredFrame::bytes).sum();
        (self.frames.len(), bytes)
    }

    /// Offers integrated frame `index` anchored at `(keyframe id,
    /// keyframe_from_camera)`: stored if it is a keyframe at the keyframe
    /// rate, or another frame at the frame rate. Over
    /// `max_stored_frames`, thins out (see [`Self::thin_out`]).
    pub(super) fn offer(
        &mut self,
        frame: &RgbdFrame,
        is_keyframe: bool,
        index: usize,
        anchor: (usize, Isometry3<f64>),
        config: &LoopCorrectionConfig,
    ) {
        if self.keyframe_stride == 0 {
            self.keyframe_stride = 1;
            self.frame_stride = config.store_every_n_frames;
        }
        let store = if is_keyframe {
            self.keyframes_offered += 1;
            (self.keyframes_offered - 1).is_multiple_of(self.keyframe_stride)
        } else {
            self.frame_stride > 0 && index.is_multiple_of(self.frame_stride)
        };
        if !store {
            return;
        }
        let mut stored = StoredFrame::new(frame, anchor.0, anchor.1);
        stored.is_keyframe = is_keyframe;
        self.frames.push(stored);
        while self.frames.len() > config.max_stored_frames.max(1) {
            self.thin_out();
        }
    }

    /// Drops every second stored frame (non-keyframes first; the first,
    /// keyframe 0, is kept) and halves that storing rate, so the store
    /// keeps an even coverage of the whole session.
    fn thin_out(&mut self) {
        let thin_keyframes = self.frames.iter().all(|s| s.is_keyframe);
        let mut position = 0usize;
        self.frames.retain(|s| {
            if s.is_keyframe != thin_keyframes {
                return true;
            }
            position += 1;
            position % 2 == 1
        });
        if thin_keyframes {
            self.keyframe_stride *= 2;
        } else {
            self.frame_stride *= 2;
        }
    }
}
