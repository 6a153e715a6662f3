//! Where the log goes: a spawned viewer, a running viewer over gRPC, or an
//! `.rrd` file. Parsed from the command-line strings `spawn`, `connect`,
//! `connect=ADDR` and `save=FILE.rrd`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Destination of a [`Visualizer`](super::Visualizer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VizSink {
    /// Start a Rerun viewer (`rerun` must be on `PATH`) and stream to it.
    Spawn,
    /// Stream to a running viewer or `rerun --serve-grpc` over gRPC. `None`
    /// is the SDK default `rerun+http://127.0.0.1:9876/proxy`.
    Connect(Option<String>),
    /// Write an `.rrd` file (open it later with `rerun FILE.rrd`).
    Save(PathBuf),
}

/// What `--rerun` accepts, for error messages and `--help`.
pub const VIZ_SINK_SYNTAX: &str = "spawn | connect | connect=ADDR | save=FILE.rrd";

impl VizSink {
    /// The gRPC URL for [`VizSink::Connect`]: a bare `host:port` becomes
    /// `rerun+http://host:port/proxy`; a full URL is kept as given.
    pub fn grpc_url(address: Option<&str>) -> String {
        match address {
            None => rerun::DEFAULT_CONNECT_URL.to_owned(),
            Some(a) if a.contains("://") => a.to_owned(),
            Some(a) => format!("rerun+http://{a}/proxy"),
        }
    }
}

impl FromStr for VizSink {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let (kind, value) = match s.split_once('=') {
            Some((k, v)) => (k, Some(v.trim())),
            None => (s, None),
        };
        let bad =
            |why: &str| Error::Viz(format!("--rerun {s:?}: {why} (expected {VIZ_SINK_SYNTAX})"));
        match (kind, value) {
            ("spawn", None) => Ok(VizSink::Spawn),
            ("connect", None) => Ok(VizSink::Connect(None)),
            ("connect", Some("")) => Err(bad("empty address")),
            ("connect", Some(addr)) => Ok(VizSink::Connect(Some(addr.to_owned()))),
            ("save", None) | ("save", Some("")) => Err(bad("missing file name")),
            ("save", Some(file)) => {
                let path = PathBuf::from(file);
                if path.extension().and_then(|e| e.to_str()) != Some("rrd") {
                    return Err(bad("the file name must end in .rrd"));
                }
                Ok(VizSink::Save(path))
            }
            ("spawn", Some(_)) => Err(bad("spawn takes no value")),
            _ => Err(bad("unknown sink")),
        }
    }
}

impl fmt::Display for VizSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VizSink::Spawn => write!(f, "spawn"),
            VizSink::Connect(None) => write!(f, "connect"),
            VizSink::Connect(Some(addr)) => write!(f, "connect={addr}"),
            VizSink::Save(path) => write!(f, "save={}", path.display()),
        }
    }
}
