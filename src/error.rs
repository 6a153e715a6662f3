//! The one error type of the crate.
//!
//! Every variant names *where* the problem is (file and line, or frame), so a
//! robot's log tells the operator what to fix without a debugger.

use std::path::PathBuf;

use crate::sensor::Timestamp;

/// Result alias used throughout scenemap.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in scenemap.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },

    /// A line of a text file could not be parsed.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        message: String,
    },

    /// Timestamps in a stream are not strictly increasing.
    #[error("{}:{line}: timestamp {timestamp} is not after the previous one ({previous})", path.display())]
    NonMonotonicTimestamp {
        /// The file (or stream name).
        path: PathBuf,
        /// 1-based line number (or sample index for in-memory streams).
        line: usize,
        /// The offending timestamp.
        timestamp: Timestamp,
        /// The timestamp before it.
        previous: Timestamp,
    },

    /// An image could not be decoded or has the wrong size or pixel format.
    #[error("{}: {message}", path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },

    /// A frame or sample handed to the library is inconsistent.
    #[error("frame {frame}: {message}")]
    InvalidFrame {
        /// Timestamp of the frame.
        frame: Timestamp,
        /// What was wrong.
        message: String,
    },

    /// A binary file (map, session) is truncated, corrupt or of another version.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file (`<memory>` for in-memory buffers).
        path: PathBuf,
        /// What was wrong.
        message: String,
    },

    /// A configuration value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// An argument handed to a function is unusable (empty trajectory, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// JSON (de)serialisation failed.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file (`<memory>` for in-memory buffers).
        path: PathBuf,
        /// The serde_json error (carries line and column).
        #[source]
        source: serde_json::Error,
    },

    /// The visualisation sink (Rerun viewer, gRPC connection, .rrd file)
    /// failed or a `--rerun` argument could not be parsed.
    #[error("visualisation: {0}")]
    Viz(String),
}

impl Error {
    /// Convenience constructor for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Convenience constructor for [`Error::Parse`].
    pub fn parse(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        Error::Parse {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    /// Convenience constructor for [`Error::Image`].
    pub fn image(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Image {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Convenience constructor for [`Error::Format`].
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}
