//! Shared parts of the `viz_rrd` test binary.

mod pipeline_run;
pub mod rrd;
