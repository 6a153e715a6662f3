//! Line-oriented text parsing shared by the dataset readers.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use crate::error::{Error, Result};
use crate::sensor::Timestamp;

/// One non-empty, non-comment line of a whitespace-separated text file.
#[derive(Debug)]
pub struct DataLine<'a> {
    /// 1-based line number in the file.
    pub line: usize,
    /// The whitespace-separated fields.
    pub fields: Vec<&'a str>,
}

/// Reads a whole text file, naming the file on error.
pub fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

/// Opens a text file for buffered line reading, naming the file on error.
pub fn open_lines(path: &Path) -> Result<BufReader<File>> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|e| Error::io(path, e))
}

/// Splits `text` into data lines, skipping blank lines and `#` comments.
pub fn data_lines(text: &str) -> impl Iterator<Item = DataLine<'_>> {
    text.lines().enumerate().filter_map(|(i, raw)| {
        let trimmed = raw.trim();
        (!trimmed.is_empty() && !trimmed.starts_with('#')).then(|| DataLine {
            line: i + 1,
            fields: trimmed.split_whitespace().collect(),
        })
    })
}

impl DataLine<'_> {
    /// Fails unless the line has exactly `n` fields.
    pub fn expect_fields(&self, path: &Path, n: usize) -> Result<()> {
        if self.fields.len() != n {
            return Err(Error::parse(
                path,
                self.line,
                format!("expected {n} fields, found {}", self.fields.len()),
            ));
        }
        Ok(())
    }

    /// Field `i` as a timestamp in decimal seconds.
    pub fn timestamp(&self, path: &Path, i: usize) -> Result<Timestamp> {
        parse_timestamp(path, self.line, self.fields[i])
    }

    /// Field `i` as a finite `f64`.
    pub fn f64(&self, path: &Path, i: usize) -> Result<f64> {
        parse_f64(path, self.line, self.fields[i])
    }
}

/// Parses a decimal-seconds timestamp, naming file and line on error.
pub fn parse_timestamp(path: &Path, line: usize, field: &str) -> Result<Timestamp> {
    Timestamp::parse_secs(field)
        .ok_or_else(|| Error::parse(path, line, format!("invalid timestamp {field:?}")))
}

/// Parses a finite float, naming file and line on error.
pub fn parse_f64(path: &Path, line: usize, field: &str) -> Result<f64> {
    match field.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(Error::parse(
            path,
            line,
            format!("invalid number {field:?}"),
        )),
    }
}

/// Checks that `timestamp` is strictly after `previous` (if any).
pub fn check_increasing(
    path: &Path,
    line: usize,
    previous: Option<Timestamp>,
    timestamp: Timestamp,
) -> Result<()> {
    match previous {
        Some(previous) if timestamp <= previous => Err(Error::NonMonotonicTimestamp {
            path: path.to_path_buf(),
            line,
            timestamp,
            previous,
        }),
        _ => Ok(()),
    }
}
