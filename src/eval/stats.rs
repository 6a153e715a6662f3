//! Summary statistics of a list of errors (the numbers evo and TUM print).

use serde::Serialize;

use crate::error::{Error, Result};

/// Summary of non-negative errors (metres or degrees), as printed by `evo`
/// and TUM's `evaluate_ate.py` / `evaluate_rpe.py`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ErrorStats {
    /// Root mean square, `sqrt(Σ e² / n)`.
    pub rmse: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median (mean of the two middle values for even `n`, as `numpy.median`).
    pub median: f64,
    /// Population standard deviation (`numpy.std`, divisor `n`).
    pub std: f64,
    /// Smallest error.
    pub min: f64,
    /// Largest error.
    pub max: f64,
    /// Number of errors.
    pub count: usize,
}

impl ErrorStats {
    /// Statistics of `errors`. Fails on an empty slice or a non-finite value.
    pub fn from_errors(errors: &[f64]) -> Result<Self> {
        if errors.is_empty() {
            return Err(Error::InvalidArgument(
                "error statistics of an empty list".into(),
            ));
        }
        if let Some(i) = errors.iter().position(|e| !e.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "error statistics: value {} at index {i} is not finite",
                errors[i]
            )));
        }
        let n = errors.len() as f64;
        let mean = errors.iter().sum::<f64>() / n;
        let sse: f64 = errors.iter().map(|e| e * e).sum();
        let variance = errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n;
        let mut sorted = errors.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 {
            sorted[mid]
        } else {
            0.5 * (sorted[mid - 1] + sorted[mid])
        };
        Ok(Self {
            rmse: (sse / n).sqrt(),
            mean,
            median,
            std: variance.sqrt(),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            count: errors.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn matches_hand_computed_values() {
        let s = ErrorStats::from_errors(&[3.0, 1.0, 4.0, 2.0]).unwrap();
        assert_relative_eq!(s.mean, 2.5);
        assert_relative_eq!(s.median, 2.5);
        assert_relative_eq!(s.rmse, (30.0f64 / 4.0).sqrt());
        assert_relative_eq!(s.std, 1.25f64.sqrt());
        assert_eq!((s.min, s.max, s.count), (1.0, 4.0, 4));
        let odd = ErrorStats::from_errors(&[5.0, 1.0, 2.0]).unwrap();
        assert_eq!(odd.median, 2.0);
    }

    #[test]
    fn rejects_empty_and_nan() {
        assert!(matches!(
            ErrorStats::from_errors(&[]),
            Err(Error::InvalidArgument(_))
        ));
        assert!(ErrorStats::from_errors(&[1.0, f64::NAN]).is_err());
    }
}
