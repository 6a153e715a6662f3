//! Trajectory evaluation: ATE and RPE as in the TUM RGB-D benchmark.
//!
//! The pieces follow the evaluation pipeline of Sturm et al. (IROS 2012):
//!
//! 1. [`associate`] pairs estimated poses with groundtruth poses by timestamp
//!    (TUM `associate.py` rule, max. difference 0.02 s by default).
//! 2. [`align_umeyama`] aligns the estimate to groundtruth with a rigid
//!    SE(3) or similarity Sim(3) transform (Umeyama 1991).
//! 3. [`ate`] gives the absolute trajectory error (translation RMSE etc.),
//!    [`rpe`] the relative pose error over a frame or time delta.
//!
//! Every result carries an [`ErrorStats`] (rmse, mean, median, std, min, max,
//! count) and is `serde::Serialize`. The numbers agree with `evo` 1.31.0 and
//! TUM's `evaluate_rpe.py` (see `tests/data/REFERENCE.md` and
//! `tests/eval_reference.rs`).
//!
//! ```
//! use nalgebra::{Isometry3, Vector3};
//! use scenemap::eval::{ate, AteOptions};
//! use scenemap::{StampedPose, Timestamp};
//!
//! let groundtruth: Vec<StampedPose> = (0..10)
//!     .map(|i| {
//!         let world_from_camera =
//!             Isometry3::new(Vector3::new(i as f64, (i * i) as f64 * 0.1, 0.0), Vector3::zeros());
//!         StampedPose::new(Timestamp(i * 33_000_000), world_from_camera)
//!     })
//!     .collect();
//! let result = ate(&groundtruth, &groundtruth, &AteOptions::default())?;
//! assert!(result.translation_m.rmse < 1e-9);
//! # Ok::<(), scenemap::Error>(())
//! ```

mod alignment;
mod association;
mod ate;
mod rpe;
mod stats;
#[cfg(test)]
pub(crate) mod test_util;

pub use alignment::{align_umeyama, Alignment, AlignmentKind};
pub use association::{associate, DEFAULT_MAX_DIFF_S};
pub use ate::{ate, AteOptions, AteResult};
pub use rpe::{rpe, RpeDelta, RpeErrorDefinition, RpeOptions, RpeResult};
pub use stats::ErrorStats;
