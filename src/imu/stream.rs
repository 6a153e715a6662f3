//! Buffering, validation and interpolation of IMU samples.
//!
//! Two ways in:
//! - [`ImuBuffer::push`] is strict: an out-of-order, duplicate, non-finite or
//!   absurd sample is *not stored*, counted, and returned as a typed error
//!   naming it ([`Error::NonMonotonicTimestamp`] with `line` = 0-based index of the
//!   sample in the pushed stream, or [`Error::InvalidFrame`] with its timestamp).
//! - [`ImuBuffer::push_lenient`] / [`ImuBuffer::extend_lenient`] skip the same
//!   samples and only count them ([`RejectionCounts`]).
//!
//! Rates may vary; [`ImuBuffer::interval`] cuts the stream to exactly
//! `[t_start, t_end]` with linearly interpolated end samples and reports gaps
//! longer than the configured maximum.

use std::path::PathBuf;

use nalgebra::Vector3;

use crate::error::{Error, Result};
use crate::imu::config::ImuConfig;
use crate::sensor::{ImuSample, Timestamp};

/// Why samples were rejected, by count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RejectionCounts {
    /// Timestamp earlier than the previous accepted sample.
    pub out_of_order: usize,
    /// Timestamp equal to the previous accepted sample.
    pub duplicate: usize,
    /// A NaN or infinite component.
    pub non_finite: usize,
    /// |gyro| or |accel| above the configured physical limit.
    pub out_of_range: usize,
    /// Neither gyro nor accelerometer present.
    pub empty: usize,
}

impl RejectionCounts {
    /// Total number of rejected samples.
    pub fn total(&self) -> usize {
        self.out_of_order + self.duplicate + self.non_finite + self.out_of_range + self.empty
    }
}

/// A time-ordered, validated IMU sample buffer.
#[derive(Clone, Debug)]
pub struct ImuBuffer {
    samples: Vec<ImuSample>,
    max_gyro_rad_s: f64,
    max_accel_m_s2: f64,
    max_gap_s: f64,
    pushed: usize,
    rejected: RejectionCounts,
}

/// The samples of one interval `[t_start, t_end]`, end samples interpolated.
#[derive(Clone, Debug, PartialEq)]
pub struct ImuInterval {
    /// Samples; the first is at exactly `t_start`, the last at exactly `t_end`.
    pub samples: Vec<ImuSample>,
    /// Largest spacing between the raw samples used (including the ones
    /// bracketing the interval ends), s.
    pub max_spacing_s: f64,
    /// `max_spacing_s` exceeds the buffer's `max_gap_s`: preintegration over
    /// this interval is unreliable.
    pub has_gap: bool,
}

impl ImuBuffer {
    /// An empty buffer using the limits of `config` (call
    /// [`ImuConfig::validate`] first).
    pub fn new(config: &ImuConfig) -> Self {
        Self {
            samples: Vec::new(),
            max_gyro_rad_s: config.max_gyro_rad_s,
            max_accel_m_s2: config.max_accel_m_s2,
            max_gap_s: config.max_gap_s,
            pushed: 0,
            rejected: RejectionCounts::default(),
        }
    }

    /// Accepted samples, strictly increasing in time.
    pub fn samples(&self) -> &[ImuSample] {
        &self.samples
    }

    /// Rejection counts since creation (both strict and lenient pushes).
    pub fn rejected(&self) -> RejectionCounts {
        self.rejected
    }

    /// Number of accepted samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True when no sample was accepted.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Strict push: stores a valid sample, or counts it and returns the error
    /// naming it (see the module docs). The buffer is unchanged on error.
    pub fn push(&mut self, sample: ImuSample) -> Result<()> {
        let index = self.pushed;
        self.pushed += 1;
        if let Some(previous) = self.samples.last().map(|s| s.timestamp) {
            if sample.timestamp <= previous {
                if sample.timestamp == previous {
                    self.rejected.duplicate += 1;
                } else {
                    self.rejected.out_of_order += 1;
                }
                return Err(Error::NonMonotonicTimestamp {
                    path: PathBuf::from("<imu stream>"),
                    line: index,
                    timestamp: sample.timestamp,
                    previous,
                });
            }
        }
        if let Err(message) = self.check_values(&sample) {
            return Err(Error::InvalidFrame {
                frame: sample.timestamp,
                message: format!("imu sample {index}: {message}"),
            });
        }
        self.samples.push(sample);
        Ok(())
    }

    /// Lenient push: stores a valid sample and returns `true`, or skips and
    /// counts it and returns `false`.
    pub fn push_lenient(&mut self, sample: ImuSample) -> bool {
        self.push(sample).is_ok()
    }

    /// Lenient push of many samples; returns how many were accepted.
    pub fn extend_lenient(&mut self, samples: impl IntoIterator<Item = ImuSample>) -> usize {
        samples
            .into_iter()
            .map(|s| self.push_lenient(s))
            .filter(|&accepted| accepted)
            .count()
    }

    fn check_values(&mut self, sample: &ImuSample) -> std::result::Result<(), String> {
        if sample.gyro_rad_s.is_none() && sample.accel_m_s2.is_none() {
            self.rejected.empty += 1;
            return Err("neither gyro nor accelerometer".into());
        }
        let finite = |v: &Option<Vector3<f64>>| v.is_none_or(|v| v.iter().all(|x| x.is_finite()));
        if !finite(&sample.gyro_rad_s) || !finite(&sample.accel_m_s2) {
            self.rejected.non_finite += 1;
            return Err("non-finite value".into());
        }
        if let Some(g) = sample.gyro_rad_s {
            if g.norm() > self.max_gyro_rad_s {
                self.rejected.out_of_range += 1;
                return Err(format!(
                    "|gyro| = {:.3} rad/s above the limit {} rad/s",
                    g.norm(),
                    self.max_gyro_rad_s
                ));
            }
        }
        if let Some(a) = sample.accel_m_s2 {
            if a.norm() > self.max_accel_m_s2 {
                self.rejected.out_of_range += 1;
                return Err(format!(
                    "|accel| = {:.3} m/s² above the limit {} m/s²",
                    a.norm(),
                    self.max_accel_m_s2
                ));
            }
        }
        Ok(())
    }

    /// Spacings between consecutive accepted samples that exceed `max_gap_s`,
    /// as `(before, after)` timestamp pairs.
    pub fn gaps(&self) -> Vec<(Timestamp, Timestamp)> {
        self.samples
            .windows(2)
            .filter(|w| w[1].timestamp.secs_since(w[0].timestamp) > self.max_gap_s)
            .map(|w| (w[0].timestamp, w[1].timestamp))
            .collect()
    }

    /// The sample linearly interpolated at `t` (a field is `None` when either
    /// neighbour lacks it), or `None` when `t` is outside the buffer.
    pub fn sample_at(&self, t: Timestamp) -> Option<ImuSample> {
        let after = self.samples.partition_point(|s| s.timestamp < t);
        let upper = self.samples.get(after)?;
        if upper.timestamp == t {
            return Some(*upper);
        }
        let lower = self.samples.get(after.checked_sub(1)?)?;
        Some(interpolate(lower, upper, t))
    }

    /// Samples covering exactly `[t_start, t_end]`: the end samples are
    /// linearly interpolated to `t_start` and `t_end`, the raw samples strictly
    /// inside are kept. Errors with [`Error::InvalidArgument`] when
    /// `t_end <= t_start` or the buffer does not bracket both ends.
    pub fn interval(&self, t_start: Timestamp, t_end: Timestamp) -> Result<ImuInterval> {
        if t_end <= t_start {
            return Err(Error::InvalidArgument(format!(
                "imu interval end {t_end} is not after its start {t_start}"
            )));
        }
        let (first, last) = match (self.samples.first(), self.samples.last()) {
            (Some(f), Some(l)) => (f.timestamp, l.timestamp),
            _ => {
                return Err(Error::InvalidArgument(
                    "imu interval requested from an empty buffer".into(),
                ))
            }
        };
        if t_start < first || t_end > last {
            return Err(Error::InvalidArgument(format!(
                "imu interval [{t_start}, {t_end}] not covered by samples [{first}, {last}]"
            )));
        }
        // Raw indices: `lo` = last sample <= t_start, `hi` = first sample >= t_end.
        let lo = self
            .samples
            .partition_point(|s| s.timestamp <= t_start)
            .saturating_sub(1);
        let hi = self
            .samples
            .partition_point(|s| s.timestamp < t_end)
            .min(self.samples.len() - 1);
        let raw = &self.samples[lo..=hi];
        let max_spacing_s = raw
            .windows(2)
            .map(|w| w[1].timestamp.secs_since(w[0].timestamp))
            .fold(0.0, f64::max);
        let mut samples = Vec::with_capacity(raw.len());
        let (Some(start), Some(end)) = (self.sample_at(t_start), self.sample_at(t_end)) else {
            // Unreachable: both ends were checked to be inside the buffer.
            return Err(Error::InvalidArgument(
                "imu interval ends outside buffer".into(),
            ));
        };
        samples.push(start);
        samples.extend(
            raw.iter()
                .filter(|s| s.timestamp > t_start && s.timestamp < t_end)
                .copied(),
        );
        samples.push(end);
        Ok(ImuInterval {
            samples,
            max_spacing_s,
            has_gap: max_spacing_s > self.max_gap_s,
        })
    }

    /// Drops samples no longer needed for intervals starting at or after `t`
    /// (keeps the last sample at or before `t` for interpolation).
    pub fn drop_before(&mut self, t: Timestamp) {
        let keep_from = self
            .samples
            .partition_point(|s| s.timestamp <= t)
            .saturating_sub(1);
        self.samples.drain(..keep_from);
    }
}

/// Linear interpolation of two samples at `t` (`lower.t < t < upper.t`).
fn interpolate(lower: &ImuSample, upper: &ImuSample, t: Timestamp) -> ImuSample {
    let span = (upper.timestamp.0 - lower.timestamp.0) as f64;
    let alpha = (t.0 - lower.timestamp.0) as f64 / span;
    let lerp = |a: Option<Vector3<f64>>, b: Option<Vector3<f64>>| match (a, b) {
        (Some(a), Some(b)) => Some(a + (b - a) * alpha),
        _ => None,
    };
    ImuSample {
        timestamp: t,
        gyro_rad_s: lerp(lower.gyro_rad_s, upper.gyro_rad_s),
        accel_m_s2: lerp(lower.accel_m_s2, upper.accel_m_s2),
    }
}
