//! Sensors: RGB-D frames, IMU samples, timestamps and dataset readers.

mod frame;
pub mod image_io;
pub mod synthetic;
mod timestamp;
pub mod tum;

pub use frame::{ImuSample, RgbdFrame};
pub use image_io::{decode_color, decode_depth_png, ColorImage, DepthImage};
pub use timestamp::Timestamp;
pub use tum::{read_tum_accelerometer, TumSequence};
