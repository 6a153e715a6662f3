//! # scenemap
//!
//! Real-time 3D spatial mapping for robots with an RGB-D camera and an IMU:
//! tracking, dense TSDF mapping and a semantic scene graph with physics.
//!
//! ## Quick start
//!
//! ```
//! use scenemap::mesh::Mesher;
//! use scenemap::sensor::synthetic::{SequenceConfig, SyntheticSequence, TrajectoryPreset};
//! use scenemap::tsdf::{TsdfConfig, TsdfIntegrator, TsdfVolume};
//!
//! // A seeded synthetic furnished room seen by a moving RGB-D camera
//! // (or `scenemap::sensor::TumSequence::open("rgbd_dataset_freiburg1_desk")?`).
//! let config = SequenceConfig { duration_s: 0.1, ..SequenceConfig::default() };
//! let sequence = SyntheticSequence::furnished(7, TrajectoryPreset::Gentle, config)?;
//! let mut map = TsdfVolume::new(TsdfConfig::for_voxel_size_m(0.05))?;
//! let (mut integrator, mut mesher) = (TsdfIntegrator::new(), Mesher::new());
//! for i in 0..sequence.frame_count() {
//!     let rendered = sequence.render_frame(i)?;
//!     let world_from_camera = sequence.world_from_camera_at(rendered.frame.timestamp);
//!     integrator.integrate(&mut map, &rendered.frame, sequence.camera(), &world_from_camera)?;
//!     mesher.update(&mut map); // re-meshes only the blocks that changed
//! }
//! let mesh = mesher.mesh();
//! assert!(mesh.triangle_count() > 1000);
//! # Ok::<(), scenemap::Error>(())
//! ```
//!
//! The full pipeline — a TUM sequence in, poses, map, mesh and scene graph
//! out (see [`pipeline`] for the algorithm and [`config`] for the settings):
//!
//! ```no_run
//! use scenemap::{Config, Pipeline};
//! use scenemap::sensor::TumSequence;
//!
//! let sequence = TumSequence::open("fr1_rpy")?;
//! let mut pipeline = Pipeline::new(Config::default(), *sequence.camera())?;
//! for frame in &sequence {
//!     let result = pipeline.process(&frame?)?;
//!     if result.status.is_lost() {
//!         eprintln!("{}: tracking lost", result.timestamp);
//!     }
//! }
//! pipeline.finish()?;
//! pipeline.save("session")?; // trajectory, map, scene graph, config
//! let mesh = pipeline.mesh();
//! println!("{} triangles, {:?}", mesh.triangle_count(), pipeline.summary());
//! # Ok::<(), scenemap::Error>(())
//! ```
//!
//! Poses are [`nalgebra::Isometry3<f64>`] named `a_from_b` (Sophus
//! convention): `world_from_camera * camera_from_point` gives the point in
//! world coordinates. Units are suffixed to names (`_m`, `_s`, `_kg`, `_n`).

#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod eval;
pub mod geometry;
pub mod imu;
pub mod io;
pub mod mesh;
pub mod odometry;
pub mod pipeline;
pub mod scene_graph;
pub mod sensor;
pub mod tsdf;
#[cfg(feature = "rerun")]
pub mod viz;
pub mod viz_png;

pub use config::{Config, Mode};
pub use error::{Error, Result};
pub use geometry::{BrownConrady, PinholeCamera, StampedPose};
pub use pipeline::{FrameResult, Pipeline, PipelineSummary};
pub use sensor::{ImuSample, RgbdFrame, Timestamp};

/// The README's code blocks, compiled as doc tests so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
