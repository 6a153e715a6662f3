//! Choice of the TUM camera preset from a sequence folder name.

use std::path::Path;

use crate::geometry::PinholeCamera;

/// A camera preset constructor.
type Preset = fn() -> PinholeCamera;

/// The TUM camera preset for a sequence folder name.
///
/// Rule: the name is lower-cased and searched for `freiburg1`/`fr1`,
/// `freiburg2`/`fr2` and `freiburg3`/`fr3` (a match must not be followed by
/// another digit, so `fr10` is no match); the earliest match in the name
/// wins. Without a match the Freiburg 1 preset is used, because the fr1
/// sequences are the most used ones and TUM's own tools default to them.
/// Override with [`super::TumSequence::with_camera`].
pub fn camera_for_folder_name(name: &str) -> PinholeCamera {
    let name = name.to_ascii_lowercase();
    let presets: [(&str, Preset); 6] = [
        ("freiburg1", PinholeCamera::tum_freiburg1),
        ("fr1", PinholeCamera::tum_freiburg1),
        ("freiburg2", PinholeCamera::tum_freiburg2),
        ("fr2", PinholeCamera::tum_freiburg2),
        ("freiburg3", PinholeCamera::tum_freiburg3),
        ("fr3", PinholeCamera::tum_freiburg3),
    ];
    presets
        .iter()
        .filter_map(|(token, preset)| first_token_match(&name, token).map(|at| (at, preset)))
        .min_by_key(|(at, _)| *at)
        .map_or_else(PinholeCamera::tum_freiburg1, |(_, preset)| preset())
}

/// Byte offset of the first occurrence of `token` in `name` that is not
/// followed by an ASCII digit.
fn first_token_match(name: &str, token: &str) -> Option<usize> {
    name.match_indices(token).map(|(at, _)| at).find(|&at| {
        !name
            .as_bytes()
            .get(at + token.len())
            .is_some_and(u8::is_ascii_digit)
    })
}

/// The folder's own name, after resolving `.` and `..` when possible.
pub(crate) fn folder_name(dir: &Path) -> String {
    let resolved = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    resolved
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_preset_from_name() {
        let fx = |name: &str| camera_for_folder_name(name).fx;
        let (f1, f2, f3) = (
            PinholeCamera::tum_freiburg1().fx,
            PinholeCamera::tum_freiburg2().fx,
            PinholeCamera::tum_freiburg3().fx,
        );
        assert_eq!(fx("fr1_rpy"), f1);
        assert_eq!(fx("rgbd_dataset_freiburg2_xyz"), f2);
        assert_eq!(fx("FR3_office"), f3);
        assert_eq!(fx("my_fr2_copy_of_fr3"), f2, "earliest match wins");
        assert_eq!(fx("fr10_lab"), f1, "fr10 is no match: default");
        assert_eq!(fx("fr30_lab_fr2"), f2);
        assert_eq!(fx("kitchen"), f1);
        assert_eq!(fx(""), f1);
    }
}
