//! Reader for the TUM RGB-D benchmark layout (Sturm et al., IROS 2012):
//! `rgb.txt`, `depth.txt`, optional `groundtruth.txt` and `accelerometer.txt`,
//! images under `rgb/` and `depth/`.
//!
//! [`TumSequence::open`] reads and checks only the text files (and that every
//! listed image exists); images are decoded lazily, one frame at a time, by
//! [`TumSequence::frame`] or the [`TumSequence::frames`] iterator.
//!
//! ```no_run
//! # fn main() -> scenemap::Result<()> {
//! use scenemap::sensor::tum::TumSequence;
//! let sequence = TumSequence::open("data/tum/fr1_rpy")?;
//! for frame in sequence.frames() {
//!     let frame = frame?;
//!     println!("{} {}x{}", frame.timestamp, frame.width, frame.height);
//! }
//! # Ok(()) }
//! ```

mod accelerometer;
mod associate;
mod camera_select;
mod file_list;
mod frames;

use std::path::{Path, PathBuf};

pub use accelerometer::{
    parse_accelerometer, parse_imu_text, read_imu_file, read_tum_accelerometer,
};
pub use associate::{associate, DEFAULT_MAX_DIFFERENCE_S};
pub use camera_select::camera_for_folder_name;
pub use file_list::{parse_file_list, read_file_list, FileListEntry};
pub use frames::Frames;

use crate::error::{Error, Result};
use crate::geometry::{PinholeCamera, StampedPose};
use crate::io::read_tum_trajectory;
use crate::sensor::image_io::{check_depth_scale, TUM_DEPTH_SCALE};
use crate::sensor::{ImuSample, Timestamp};

/// One associated colour/depth image pair of a sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TumPair {
    /// Timestamp of the colour image (the frame's timestamp).
    pub color_timestamp: Timestamp,
    /// Timestamp of the depth image.
    pub depth_timestamp: Timestamp,
    /// Full path of the colour image.
    pub color_path: PathBuf,
    /// Full path of the depth image.
    pub depth_path: PathBuf,
}

/// A TUM RGB-D sequence on disk, decoded lazily frame by frame.
#[derive(Clone, Debug)]
pub struct TumSequence {
    dir: PathBuf,
    camera: PinholeCamera,
    depth_scale: f32,
    max_difference_s: f64,
    color_list: Vec<FileListEntry>,
    depth_list: Vec<FileListEntry>,
    pairs: Vec<TumPair>,
    groundtruth: Option<Vec<StampedPose>>,
    accelerometer: Option<Vec<ImuSample>>,
}

impl TumSequence {
    /// Opens the sequence folder `dir`.
    ///
    /// Reads `rgb.txt` and `depth.txt` (required, non-empty, strictly
    /// increasing timestamps), checks that every listed image exists,
    /// associates colour and depth with [`associate`] (max 0.02 s), and reads
    /// `groundtruth.txt` and `accelerometer.txt` if present. The camera is
    /// chosen from the folder name by [`camera_for_folder_name`]; the depth
    /// scale is 5000 (TUM).
    ///
    /// Errors: [`Error::Io`] for a missing folder or list, or a listed image
    /// that does not exist (the message names the list file and line);
    /// [`Error::Parse`] / [`Error::NonMonotonicTimestamp`] for bad lines;
    /// [`Error::Format`] for an empty list or when no pair can be associated.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        check_is_dir(&dir)?;
        let color_list = read_listed_images(&dir, "rgb.txt")?;
        let depth_list = read_listed_images(&dir, "depth.txt")?;
        let groundtruth = read_optional(&dir.join("groundtruth.txt"), |p| read_tum_trajectory(p))?;
        let accelerometer = read_optional(&dir.join("accelerometer.txt"), |p| {
            read_tum_accelerometer(p)
        })?;
        let camera = camera_for_folder_name(&camera_select::folder_name(&dir));
        let mut sequence = Self {
            dir,
            camera,
            depth_scale: TUM_DEPTH_SCALE,
            max_difference_s: DEFAULT_MAX_DIFFERENCE_S,
            color_list,
            depth_list,
            pairs: Vec::new(),
            groundtruth,
            accelerometer,
        };
        sequence.pairs = sequence.associate_pairs()?;
        Ok(sequence)
    }

    /// Uses `camera` instead of the preset chosen from the folder name.
    /// Frames whose colour image size differs from the camera's are errors.
    pub fn with_camera(mut self, camera: PinholeCamera) -> Self {
        self.camera = camera;
        self
    }

    /// Sets the depth scale (raw PNG value per metre; TUM: 5000).
    /// Fails with [`Error::InvalidArgument`] unless finite and positive.
    pub fn with_depth_scale(mut self, depth_scale: f32) -> Result<Self> {
        check_depth_scale(depth_scale)?;
        self.depth_scale = depth_scale;
        Ok(self)
    }

    /// Re-associates colour and depth with another maximum timestamp
    /// difference (seconds, default 0.02). Fails with
    /// [`Error::InvalidArgument`] unless finite and positive, and with
    /// [`Error::Format`] if no pair is left.
    pub fn with_max_difference_s(mut self, max_difference_s: f64) -> Result<Self> {
        if !(max_difference_s.is_finite() && max_difference_s > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "maximum colour/depth time difference must be finite and positive, got {max_difference_s}"
            )));
        }
        self.max_difference_s = max_difference_s;
        self.pairs = self.associate_pairs()?;
        Ok(self)
    }

    /// Associates the colour and depth lists; no pair is an error.
    fn associate_pairs(&self) -> Result<Vec<TumPair>> {
        let color: Vec<Timestamp> = self.color_list.iter().map(|e| e.timestamp).collect();
        let depth: Vec<Timestamp> = self.depth_list.iter().map(|e| e.timestamp).collect();
        let pairs: Vec<TumPair> = associate(&color, &depth, self.max_difference_s)
            .into_iter()
            .map(|(i, j)| TumPair {
                color_timestamp: color[i],
                depth_timestamp: depth[j],
                color_path: self.dir.join(&self.color_list[i].file),
                depth_path: self.dir.join(&self.depth_list[j].file),
            })
            .collect();
        if pairs.is_empty() {
            return Err(Error::format(
                &self.dir,
                format!(
                    "no colour/depth pair within {} s ({} colour, {} depth images)",
                    self.max_difference_s,
                    color.len(),
                    depth.len()
                ),
            ));
        }
        Ok(pairs)
    }

    /// The sequence folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The camera (preset from the folder name, or set by [`Self::with_camera`]).
    pub fn camera(&self) -> &PinholeCamera {
        &self.camera
    }

    /// Raw depth value per metre.
    pub fn depth_scale(&self) -> f32 {
        self.depth_scale
    }

    /// Maximum colour/depth timestamp difference used for association, seconds.
    pub fn max_difference_s(&self) -> f64 {
        self.max_difference_s
    }

    /// Every entry of `rgb.txt`, associated or not.
    pub fn color_list(&self) -> &[FileListEntry] {
        &self.color_list
    }

    /// Every entry of `depth.txt`, associated or not.
    pub fn depth_list(&self) -> &[FileListEntry] {
        &self.depth_list
    }

    /// The associated colour/depth pairs, sorted by colour timestamp.
    pub fn pairs(&self) -> &[TumPair] {
        &self.pairs
    }

    /// Number of frames (associated pairs).
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there is no frame (never true for an opened sequence).
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Groundtruth poses from `groundtruth.txt`, if the file exists.
    pub fn groundtruth(&self) -> Option<&[StampedPose]> {
        self.groundtruth.as_deref()
    }

    /// Accelerometer samples from `accelerometer.txt`, if the file exists.
    pub fn accelerometer(&self) -> Option<&[ImuSample]> {
        self.accelerometer.as_deref()
    }

    /// Iterator over all frames, decoding one at a time.
    pub fn frames(&self) -> Frames<'_> {
        Frames::new(self)
    }
}

impl<'a> IntoIterator for &'a TumSequence {
    type Item = Result<crate::sensor::RgbdFrame>;
    type IntoIter = Frames<'a>;

    fn into_iter(self) -> Frames<'a> {
        self.frames()
    }
}

/// Fails with [`Error::Io`] unless `dir` is an existing folder.
fn check_is_dir(dir: &Path) -> Result<()> {
    let metadata = std::fs::metadata(dir).map_err(|e| Error::io(dir, e))?;
    if !metadata.is_dir() {
        return Err(Error::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a folder"),
        ));
    }
    Ok(())
}

/// Reads the image list `dir/name` and checks that every listed image exists.
fn read_listed_images(dir: &Path, name: &str) -> Result<Vec<FileListEntry>> {
    let list_path = dir.join(name);
    let entries = read_file_list(&list_path)?;
    for entry in &entries {
        let image_path = dir.join(&entry.file);
        if !image_path.is_file() {
            return Err(Error::io(
                &image_path,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "listed at {}:{} (t = {}) but not found",
                        list_path.display(),
                        entry.line,
                        entry.timestamp
                    ),
                ),
            ));
        }
    }
    Ok(entries)
}

/// Reads `path` with `read` if it exists, else `None`.
fn read_optional<T>(path: &Path, read: impl Fn(&Path) -> Result<T>) -> Result<Option<T>> {
    if path.exists() {
        read(path).map(Some)
    } else {
        Ok(None)
    }
}
