//! File formats: shared text parsing and TUM trajectory files.

pub mod text;
mod trajectory;

pub use trajectory::{
    format_tum_trajectory, parse_tum_trajectory, read_tum_trajectory, write_tum_trajectory,
};
