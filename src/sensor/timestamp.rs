//! Integer-nanosecond timestamps.
//!
//! Datasets give seconds as decimal text (`1305031229.528748`); they are parsed
//! once, exactly, at the edge, so association and ordering never suffer from
//! floating-point rounding.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A point in time in integer nanoseconds (since the Unix epoch for real data,
/// since the start of the sequence for synthetic data).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub i64);

const NS_PER_S: i64 = 1_000_000_000;

impl Timestamp {
    /// From integer nanoseconds.
    pub const fn from_nanos(ns: i64) -> Self {
        Timestamp(ns)
    }

    /// Integer nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// From seconds as `f64` (rounded to the nearest nanosecond).
    pub fn from_secs_f64(s: f64) -> Self {
        Timestamp((s * 1e9).round() as i64)
    }

    /// Seconds as `f64` (loses sub-microsecond precision for epoch times).
    pub fn as_secs_f64(self) -> f64 {
        let secs = self.0.div_euclid(NS_PER_S);
        let frac = self.0.rem_euclid(NS_PER_S);
        secs as f64 + frac as f64 * 1e-9
    }

    /// Parses decimal seconds such as `1305031229.528748`, `-0.5` or `12`
    /// exactly (up to nanosecond resolution; further digits are rounded).
    /// Returns `None` for anything that is not a plain decimal number.
    pub fn parse_secs(text: &str) -> Option<Self> {
        let text = text.trim();
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (int_part, frac_part) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        if !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let secs: i64 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        let mut frac_ns: i64 = 0;
        for (i, b) in frac_part.bytes().enumerate() {
            let digit = i64::from(b - b'0');
            if i < 9 {
                frac_ns = frac_ns * 10 + digit;
            } else {
                if i == 9 && digit >= 5 {
                    frac_ns += 1;
                }
                break;
            }
        }
        let digits = frac_part.len().min(9) as u32;
        frac_ns *= 10_i64.pow(9 - digits);
        let ns = secs.checked_mul(NS_PER_S)?.checked_add(frac_ns)?;
        Some(Timestamp(if negative { -ns } else { ns }))
    }

    /// Signed difference `self - earlier` in seconds.
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        (self.0 - earlier.0) as f64 * 1e-9
    }
}

impl fmt::Display for Timestamp {
    /// Decimal seconds with six decimals (TUM style), or nine when the
    /// timestamp has sub-microsecond content.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let secs = abs / NS_PER_S as u64;
        let frac = abs % NS_PER_S as u64;
        if frac.is_multiple_of(1000) {
            write!(f, "{sign}{secs}.{:06}", frac / 1000)
        } else {
            write!(f, "{sign}{secs}.{frac:09}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tum_timestamps_exactly() {
        let t = Timestamp::parse_secs("1305031229.528748").unwrap();
        assert_eq!(t.as_nanos(), 1_305_031_229_528_748_000);
        assert_eq!(t.to_string(), "1305031229.528748");
        assert_eq!(
            Timestamp::parse_secs("1305031225.9334").unwrap().as_nanos(),
            1_305_031_225_933_400_000
        );
        assert_eq!(
            Timestamp::parse_secs("12").unwrap().as_nanos(),
            12 * NS_PER_S
        );
        assert_eq!(
            Timestamp::parse_secs("-0.5").unwrap().as_nanos(),
            -NS_PER_S / 2
        );
        assert_eq!(
            Timestamp::parse_secs("0.0000000015").unwrap().as_nanos(),
            2,
            "10th decimal rounds"
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", ".", "abc", "1.2.3", "1e9", "nan", "1,5", "--1"] {
            assert!(Timestamp::parse_secs(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for ns in [
            0_i64,
            1,
            999,
            1_000,
            1_305_031_229_528_748_123,
            -1_500_000_000,
        ] {
            let t = Timestamp(ns);
            assert_eq!(Timestamp::parse_secs(&t.to_string()), Some(t));
        }
    }
}
