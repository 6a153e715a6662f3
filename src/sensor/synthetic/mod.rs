//! Synthetic scenes with exact groundtruth: the oracle the rest of scenemap
//! is tested against.
//!
//! A furnished room built from primitives ([`SyntheticScene`]), an exact
//! ray-casting RGB-D renderer with an instance mask ([`render`],
//! [`Renderer`]), a smooth camera trajectory with analytic derivatives
//! ([`Trajectory`]), an IMU simulator ([`ImuSimulator`]), Kinect-like depth
//! noise ([`DepthNoise`]) and a TUM-layout writer ([`write_tum_sequence`]).
//! Everything is seeded and bit-reproducible (own PRNG, [`Rng`]).
//!
//! Conventions: world z up, gravity `(0, 0, −9.81)` m/s², floor at `z = 0`;
//! camera x right, y down, z forward; poses are `world_from_camera`.
//!
//! ```
//! use scenemap::sensor::synthetic::{SequenceConfig, SyntheticSequence, TrajectoryPreset};
//!
//! let config = SequenceConfig { duration_s: 0.1, ..SequenceConfig::default() };
//! let sequence = SyntheticSequence::furnished(7, TrajectoryPreset::Gentle, config)?;
//! let frame = sequence.render_frame(0)?;
//! assert!(frame.frame.valid_depth_count() > 0);
//! assert_eq!(sequence.imu().samples.len(), 20); // 200 Hz × 0.1 s
//! # Ok::<(), scenemap::Error>(())
//! ```

mod furniture;
mod imu;
mod noise;
mod primitives;
mod render;
mod rng;
mod scene;
mod sequence;
mod texture;
mod trajectory;
mod writer;

pub use furniture::{
    bottle_spec, box_spec, chair_spec, mug_spec, shelf_spec, table_spec, ShelfLayout,
};
pub use imu::{ImuBias, ImuData, ImuNoise, ImuSimulator, GRAVITY_M_S2};
pub use noise::{DepthNoise, DepthQuantization, EdgeDropout};
pub use primitives::{Part, Shape};
pub use render::{render, RenderOptions, RenderedFrame, Renderer};
pub use rng::{splitmix64, Rng};
pub use scene::{
    Material, ObjectGroundtruth, ObjectSpec, SceneBuilder, SceneObject, SyntheticScene, CEILING_ID,
    FLOOR_ID, NO_INSTANCE, WALL_IDS,
};
pub use sequence::{SequenceConfig, SyntheticSequence, DEFAULT_START};
pub use texture::{hsv_to_rgb, Texture};
pub use trajectory::{Signal, Sinusoid, Trajectory, TrajectoryPreset};
pub use writer::{
    encode_tum_depth, write_tum_sequence, write_tum_sequence_with_progress, WriteSummary,
    TUM_DEPTH_SCALE,
};
