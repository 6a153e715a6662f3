//! Lazy decoding of the frames of a [`TumSequence`].

use crate::error::{Error, Result};
use crate::sensor::image_io::{decode_color, decode_depth_png, read_bytes};
use crate::sensor::tum::{TumPair, TumSequence};
use crate::sensor::RgbdFrame;

impl TumSequence {
    /// Decodes frame `index` (colour and depth read from disk now).
    ///
    /// The frame's timestamp is the colour timestamp. Errors name the image
    /// file and carry the frame index and timestamp in the message:
    /// [`Error::Io`] (file unreadable), [`Error::Image`] (corrupt or
    /// truncated image, depth not 16-bit, depth size different from colour
    /// size, colour size different from the camera's);
    /// [`Error::InvalidArgument`] for `index >= len()`.
    pub fn frame(&self, index: usize) -> Result<RgbdFrame> {
        let pair = self.pairs.get(index).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "frame index {index} out of range (sequence {} has {} frames)",
                self.dir.display(),
                self.pairs.len()
            ))
        })?;
        self.decode_pair(pair)
            .map_err(|e| with_frame_context(e, index, pair))
    }

    /// Reads, decodes and cross-checks one colour/depth pair.
    fn decode_pair(&self, pair: &TumPair) -> Result<RgbdFrame> {
        let color = decode_color(&read_bytes(&pair.color_path)?, &pair.color_path)?;
        let depth = decode_depth_png(
            &read_bytes(&pair.depth_path)?,
            &pair.depth_path,
            self.depth_scale,
        )?;
        if (depth.width, depth.height) != (color.width, color.height) {
            return Err(Error::image(
                &pair.depth_path,
                format!(
                    "depth image is {}x{} but colour image {} is {}x{}",
                    depth.width,
                    depth.height,
                    pair.color_path.display(),
                    color.width,
                    color.height
                ),
            ));
        }
        if (color.width, color.height) != (self.camera.width, self.camera.height) {
            return Err(Error::image(
                &pair.color_path,
                format!(
                    "image is {}x{} but the camera is {}x{}",
                    color.width, color.height, self.camera.width, self.camera.height
                ),
            ));
        }
        RgbdFrame::new(
            pair.color_timestamp,
            color.width,
            color.height,
            color.pixels,
            depth.depth_m,
        )
    }
}

/// Prefixes image and I/O errors with the frame index and timestamp.
fn with_frame_context(error: Error, index: usize, pair: &TumPair) -> Error {
    let context = format!("frame {index} (t = {})", pair.color_timestamp);
    match error {
        Error::Image { path, message } => Error::Image {
            path,
            message: format!("{context}: {message}"),
        },
        Error::Io { path, source } => Error::Io {
            path,
            source: std::io::Error::new(source.kind(), format!("{context}: {source}")),
        },
        other => other,
    }
}

/// Iterator over the frames of a [`TumSequence`], decoding lazily: only the
/// frame being returned is in memory.
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    sequence: &'a TumSequence,
    next: usize,
    end: usize,
}

impl<'a> Frames<'a> {
    /// All frames of `sequence`.
    pub(crate) fn new(sequence: &'a TumSequence) -> Self {
        Self {
            sequence,
            next: 0,
            end: sequence.len(),
        }
    }
}

impl Iterator for Frames<'_> {
    type Item = Result<RgbdFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        (self.next < self.end).then(|| {
            self.next += 1;
            self.sequence.frame(self.next - 1)
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.next;
        (n, Some(n))
    }

    fn nth(&mut self, n: usize) -> Option<Self::Item> {
        self.next = self.next.saturating_add(n).min(self.end);
        self.next()
    }
}

impl DoubleEndedIterator for Frames<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        (self.next < self.end).then(|| {
            self.end -= 1;
            self.sequence.frame(self.end)
        })
    }
}

impl ExactSizeIterator for Frames<'_> {}

impl std::iter::FusedIterator for Frames<'_> {}
