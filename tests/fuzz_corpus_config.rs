//! Configuration parsing under bad input: the committed `config_toml` fuzz
//! seeds replayed on stable, a proptest that mutates a valid configuration,
//! and the typed errors for the seeds that must fail.
//!
//! `cargo test --test fuzz_corpus_config -- --ignored regenerate_seed_corpus`
//! rewrites the seed files.

mod common;

use common::{corpus_dir, replay_corpus as replay};

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)] // this test uses only the config entry point
mod fuzz_entry;

use std::fs;

use proptest::prelude::*;
use scenemap::config::Config;
use scenemap::Error;

/// The seeds: (file name, TOML text, accepted?).
fn seeds() -> Vec<(&'static str, String, bool)> {
    let default = Config::default().to_toml_string().unwrap();
    vec![
        ("default.toml", default, true),
        ("empty.toml", String::new(), true),
        (
            "partial.toml",
            "mode = \"groundtruth\"\n[tsdf]\nvoxel_size_m = 0.05\n[scene_graph]\nevery_n_frames = 10\n"
                .into(),
            true,
        ),
        (
            "camera.toml",
            "[camera]\nwidth = 640\nheight = 480\nfx = 517.3\nfy = 516.5\ncx = 318.6\ncy = 255.3\n\
             [camera.distortion]\nk1 = 0.2624\nk2 = -0.9531\np1 = -0.0054\np2 = 0.0026\nk3 = 1.1633\n"
                .into(),
            true,
        ),
        ("unknown_field.toml", "[tsdf]\nvoxel_size = 0.05\n".into(), false),
        (
            "unknown_builder_field.toml",
            "[scene_graph.builder]\ncluster_radius = 0.05\n".into(),
            false,
        ),
        (
            "partial_builder.toml",
            "[scene_graph.builder.gripper]\nmax_opening_m = 0.1\n".into(),
            true,
        ),
        ("wrong_type.toml", "[tsdf]\nvoxel_size_m = \"small\"\n".into(), false),
        ("negative_voxel.toml", "[tsdf]\nvoxel_size_m = -0.02\n".into(), false),
        ("nan_voxel.toml", "[tsdf]\nvoxel_size_m = nan\n".into(), false),
        ("inf_voxel.toml", "[tsdf]\nvoxel_size_m = inf\n".into(), false),
        (
            "huge_camera.toml",
            "[camera]\nwidth = 4000000000\nheight = 3\nfx = 1.0\nfy = 1.0\ncx = 0.0\ncy = 0.0\n"
                .into(),
            false,
        ),
        (
            "nan_distortion.toml",
            "[camera]\nwidth = 64\nheight = 48\nfx = 50.0\nfy = 50.0\ncx = 31.5\ncy = 23.5\n\
             [camera.distortion]\nk1 = nan\nk2 = 0.0\np1 = 0.0\np2 = 0.0\nk3 = 0.0\n"
                .into(),
            false,
        ),
        ("huge_int.toml", "[mesh]\nevery_n_frames = 99999999999999999999\n".into(), false),
        ("bad_mode.toml", "mode = \"teleport\"\n".into(), false),
        ("not_toml.toml", "[tsdf\nvoxel_size_m = \n".into(), false),
        (
            "no_scene_graph_trigger.toml",
            "[scene_graph]\nevery_n_frames = 0\nevery_s = 0.0\n".into(),
            false,
        ),
    ]
}

#[test]
fn config_toml_corpus_never_panics() {
    assert!(replay("config_toml", fuzz_entry::config_toml) >= 17);
}

/// Accepted seeds round-trip; rejected seeds give a typed error that names
/// the line (parse errors) or the field (validation errors).
#[test]
fn seeds_are_accepted_or_rejected_with_a_named_cause() {
    for (name, text, accepted) in seeds() {
        let result = Config::from_toml_str(&text);
        assert_eq!(result.is_ok(), accepted, "{name}: {result:?}");
        match result {
            Ok(config) => {
                let again = Config::from_toml_str(&config.to_toml_string().unwrap()).unwrap();
                assert_eq!(again, config, "{name}");
            }
            Err(Error::Parse { line, .. }) => assert!(line >= 1, "{name}: no line"),
            Err(Error::Config(message)) => {
                assert!(
                    message.contains('.') || message.contains("camera"),
                    "{name}: {message} names no field"
                )
            }
            Err(other) => panic!("{name}: unexpected error kind {other:?}"),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    fs::write(&path, "# comment\n[tsdf]\nvoxel_size_m = \"small\"\n").unwrap();
    let err = Config::from_toml_file(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Parse { path: p, line: 3, .. } if p == &path),
        "{err:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary insertions into a valid configuration never panic the
    /// parser, and whatever it accepts round-trips and builds a pipeline.
    #[test]
    fn mutated_configs_never_panic(pos in 0usize..4096, insert in "[ -~\n]{0,12}") {
        let toml = Config::default().to_toml_string().unwrap();
        let p = pos % toml.len();
        let mut mutated = toml.clone();
        if mutated.is_char_boundary(p) {
            mutated.insert_str(p, &insert);
        }
        fuzz_entry::config_toml(mutated.as_bytes());
    }

    /// Any numeric value in place of the voxel size is accepted only when
    /// it is a usable size, never with a panic.
    #[test]
    fn any_voxel_size_is_validated(value in prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(1e-30),
    ]) {
        let text = format!("[tsdf]\nvoxel_size_m = {value:?}\n");
        fuzz_entry::config_toml(text.as_bytes());
        if let Ok(config) = Config::from_toml_str(&text) {
            let v = config.tsdf.voxel_size_m;
            prop_assert!(v.is_finite() && v > 0.0, "accepted voxel size {v}");
        }
    }
}

#[test]
#[ignore = "writes the seed corpus into fuzz/corpus; run by hand"]
fn regenerate_seed_corpus() {
    let dir = corpus_dir("config_toml");
    fs::create_dir_all(&dir).unwrap();
    for (name, text, _) in seeds() {
        fs::write(dir.join(name), text).unwrap();
    }
}
