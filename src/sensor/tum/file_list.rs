//! TUM image lists (`rgb.txt`, `depth.txt`): `timestamp filename` per line.

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::text::{check_increasing, data_lines, read_to_string};
use crate::sensor::Timestamp;

/// One data line of a TUM image list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileListEntry {
    /// 1-based line number in the list file (for error messages).
    pub line: usize,
    /// Acquisition time of the image.
    pub timestamp: Timestamp,
    /// Image file name, relative to the sequence folder (e.g. `rgb/1305031229.528748.png`).
    pub file: String,
}

/// Parses a TUM image list (`timestamp filename` per line; blank lines and
/// `#` comments skipped). `path` is used in error messages only.
///
/// Errors: [`Error::Parse`] for a line without exactly two fields or with an
/// invalid timestamp; [`Error::NonMonotonicTimestamp`] when a timestamp is not
/// strictly after the previous one (duplicates included). An empty list is
/// `Ok(vec![])`: whether that is acceptable is the caller's decision.
pub fn parse_file_list(text: &str, path: &Path) -> Result<Vec<FileListEntry>> {
    let mut entries: Vec<FileListEntry> = Vec::new();
    for line in data_lines(text) {
        line.expect_fields(path, 2)?;
        let timestamp = line.timestamp(path, 0)?;
        check_increasing(
            path,
            line.line,
            entries.last().map(|e| e.timestamp),
            timestamp,
        )?;
        entries.push(FileListEntry {
            line: line.line,
            timestamp,
            file: line.fields[1].to_owned(),
        });
    }
    Ok(entries)
}

/// Reads and parses a TUM image list; an empty list (no data lines) is an
/// [`Error::Format`] naming the file.
pub fn read_file_list(path: &Path) -> Result<Vec<FileListEntry>> {
    let entries = parse_file_list(&read_to_string(path)?, path)?;
    if entries.is_empty() {
        return Err(Error::format(
            path,
            "lists no images (the file is empty or holds only comments)",
        ));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_comments_blanks_and_lines() {
        let text = "# color images\n\n1305031229.528748 rgb/1305031229.528748.jpg\n  \n1305031229.564425 rgb/b.jpg\n";
        let entries = parse_file_list(text, Path::new("rgb.txt")).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].line, 3);
        assert_eq!(entries[0].timestamp.as_nanos(), 1_305_031_229_528_748_000);
        assert_eq!(entries[1].file, "rgb/b.jpg");
        assert_eq!(entries[1].line, 5);
    }

    #[test]
    fn errors_name_file_and_line() {
        let path = Path::new("rgb.txt");
        let err = parse_file_list("1.0 a.png\n2.0\n", path).unwrap_err();
        assert_eq!(err.to_string(), "rgb.txt:2: expected 2 fields, found 1");
        let err = parse_file_list("1.0 a.png extra\n", path).unwrap_err();
        assert!(matches!(err, Error::Parse { line: 1, .. }));
        let err = parse_file_list("# h\n1.x a.png\n", path).unwrap_err();
        assert_eq!(err.to_string(), "rgb.txt:2: invalid timestamp \"1.x\"");
        let err = parse_file_list("2.0 a.png\n2.0 b.png\n", path).unwrap_err();
        assert!(matches!(err, Error::NonMonotonicTimestamp { line: 2, .. }));
        let err = parse_file_list("2.0 a.png\n1.0 b.png\n", path).unwrap_err();
        assert!(matches!(err, Error::NonMonotonicTimestamp { line: 2, .. }));
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC*") {
            let _ = parse_file_list(&text, Path::new("fuzz.txt"));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_file_list(&String::from_utf8_lossy(&bytes), Path::new("fuzz.txt"));
        }

        #[test]
        fn generated_lists_round_trip(
            start_ns in 0_i64..2_000_000_000_000_000_000,
            steps in proptest::collection::vec(1_i64..100_000_000, 0..40),
            comment_every in 2_usize..6,
        ) {
            let mut expected = Vec::new();
            let mut text = String::from("# timestamp filename\n");
            let mut t = start_ns;
            for (i, step) in steps.iter().enumerate() {
                t += step;
                let timestamp = Timestamp(t);
                let file = format!("rgb/{timestamp}.png");
                text.push_str(&format!("{timestamp} {file}\n"));
                if i % comment_every == 0 {
                    text.push_str("\n# a comment\n");
                }
                expected.push((timestamp, file));
            }
            let parsed = parse_file_list(&text, Path::new("rgb.txt")).unwrap();
            let got: Vec<_> = parsed.into_iter().map(|e| (e.timestamp, e.file)).collect();
            prop_assert_eq!(got, expected);
        }
    }
}
