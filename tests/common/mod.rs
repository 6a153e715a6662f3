//! Shared helpers for integration tests: where the real datasets live.
#![allow(dead_code)]

use std::path::PathBuf;

/// The data root: `$SCENEMAP_DATA` if set, else `../shared/data` next to the
/// project. Holds `tum/fr1_rpy`, `tum/fr1_desk_9f`, ...
pub fn data_root() -> PathBuf {
    match std::env::var_os("SCENEMAP_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
    }
}

/// Path of a TUM sequence folder, or `None` (test skipped) when the data is
/// absent outside CI. Under CI (`CI=true`) a missing dataset is a failure.
pub fn tum_sequence(name: &str) -> Option<PathBuf> {
    let dir = data_root().join("tum").join(name);
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!(
            "dataset {} missing under CI (set SCENEMAP_DATA to the folder holding tum/)",
            dir.display()
        );
    }
    eprintln!("skipping: dataset {} not found", dir.display());
    None
}

/// Folder of a fuzz target's committed seed corpus.
pub fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Feeds every file of `fuzz/corpus/<target>` to `entry` (each < 10 KB),
/// failing on any panic; returns the number of files.
pub fn replay_corpus(target: &str, entry: fn(&[u8])) -> usize {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir(target))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        assert!(bytes.len() < 10 * 1024, "{} is over 10 KB", file.display());
        let outcome = std::panic::catch_unwind(|| entry(&bytes));
        assert!(outcome.is_ok(), "panic on {}", file.display());
    }
    files.len()
}
