//! Trajectory evaluation: ATE and RPE as in the TUM RGB-D benchmark.
