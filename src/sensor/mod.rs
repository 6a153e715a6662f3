//! Sensors: RGB-D frames, IMU samples, timestamps and dataset readers.

mod frame;
mod timestamp;

pub use frame::{ImuSample, RgbdFrame};
pub use timestamp::Timestamp;
