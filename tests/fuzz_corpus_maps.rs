//! Replays the committed seed corpus of the map-file and scene-graph JSON
//! fuzz targets on stable Rust, and property-tests the loaders on mutated
//! valid inputs.

mod common;

use common::{corpus_dir, replay_corpus as replay};

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)] // each replay test uses some of the entry points
mod fuzz_entry;

use std::fs;
use std::path::Path;

use nalgebra::{Point3, Vector3};
use proptest::prelude::*;
use scenemap::scene_graph::{Edge, GravityAlignedBox, NodeId, Relation, SceneGraph, SurfaceNode};
use scenemap::tsdf::{TsdfConfig, TsdfVolume, TsdfVoxel};

fn small_map() -> Vec<u8> {
    let mut volume = TsdfVolume::new(TsdfConfig::for_voxel_size_m(0.05)).unwrap();
    for (i, v) in [[0, 0, 0], [1, 2, 3], [-1, 0, 5]].into_iter().enumerate() {
        volume.set_voxel(
            v,
            TsdfVoxel {
                sdf_m: 0.01 * i as f32 - 0.01,
                weight: 3 + i as u16,
                color: [10, 20 * i as u8, 30],
            },
        );
    }
    volume.to_map_bytes()
}

fn small_graph() -> String {
    let mut graph = SceneGraph::new();
    let floor = graph.allocate_id();
    graph.upsert_surface(SurfaceNode {
        id: floor,
        label: "floor".into(),
        height_m: 0.0,
        bounding_box: GravityAlignedBox {
            center_m: Point3::origin(),
            half_extents_m: Vector3::new(2.0, 1.5, 0.0),
            yaw_rad: 0.1,
        },
    });
    graph.add_edge(Edge {
        source: floor,
        target: floor,
        relation: Relation::NextTo,
    });
    assert_eq!(floor, NodeId(1));
    graph.to_json().unwrap()
}

#[test]
fn map_file_corpus_never_panics() {
    assert!(replay("map_file", fuzz_entry::map_file) >= 4);
}

/// The corpus must hold loadable and broken inputs, or it tests nothing.
#[test]
fn corpus_has_valid_and_invalid_seeds() {
    let read = |dir: &str, name: &str| fs::read(corpus_dir(dir).join(name)).unwrap();
    let path = Path::new("seed");
    assert!(TsdfVolume::from_map_bytes(&read("map_file", "small.smap"), path).is_ok());
    assert!(TsdfVolume::from_map_bytes(&read("map_file", "empty.smap"), path).is_ok());
    for bad in ["truncated.smap", "flipped.smap", "other_version.smap"] {
        assert!(
            TsdfVolume::from_map_bytes(&read("map_file", bad), path).is_err(),
            "{bad}"
        );
    }
    let text = |name: &str| String::from_utf8(read("scene_graph_json", name)).unwrap();
    assert!(SceneGraph::from_json(&text("valid.json"), path).is_ok());
    for bad in [
        "truncated.json",
        "other_version.json",
        "dangling_edge.json",
        "not_json.json",
    ] {
        assert!(SceneGraph::from_json(&text(bad), path).is_err(), "{bad}");
    }
}

#[test]
fn scene_graph_json_corpus_never_panics() {
    assert!(replay("scene_graph_json", fuzz_entry::scene_graph_json) >= 4);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any single-byte corruption of a valid map file is rejected or loads
    /// a map that round-trips; never a panic.
    #[test]
    fn corrupted_map_files_never_panic(pos in 0usize..4096, value in any::<u8>(), cut in 0usize..4096) {
        let mut bytes = small_map();
        let p = pos % bytes.len();
        bytes[p] = value;
        fuzz_entry::map_file(&bytes);
        let c = cut % bytes.len();
        prop_assert!(TsdfVolume::from_map_bytes(&small_map()[..c], Path::new("cut")).is_err());
    }

    /// Arbitrary edits of a valid scene-graph JSON never panic the loader.
    #[test]
    fn mutated_scene_graph_json_never_panics(pos in 0usize..2048, insert in "[ -~]{0,8}") {
        let json = small_graph();
        let p = pos % json.len();
        let mut mutated = json.clone();
        if mutated.is_char_boundary(p) {
            mutated.insert_str(p, &insert);
        }
        fuzz_entry::scene_graph_json(mutated.as_bytes());
    }
}

#[test]
#[ignore = "writes the seed corpus into fuzz/corpus; run by hand"]
fn regenerate_seed_corpus() {
    let maps = corpus_dir("map_file");
    let graphs = corpus_dir("scene_graph_json");
    fs::create_dir_all(&maps).unwrap();
    fs::create_dir_all(&graphs).unwrap();
    let map = small_map();
    let mut flipped = map.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    let mut other_version = map.clone();
    other_version[8] = 99;
    let empty = TsdfVolume::new(TsdfConfig::default())
        .unwrap()
        .to_map_bytes();
    for (name, bytes) in [
        ("small.smap", map.clone()),
        ("empty.smap", empty),
        ("truncated.smap", map[..map.len() / 3].to_vec()),
        ("flipped.smap", flipped),
        ("other_version.smap", other_version),
    ] {
        fs::write(maps.join(name), bytes).unwrap();
    }
    let json = small_graph();
    for (name, body) in [
        ("valid.json", json.clone()),
        ("truncated.json", json[..json.len() / 2].to_owned()),
        (
            "other_version.json",
            json.replace("\"format_version\": 1", "\"format_version\": 2"),
        ),
        (
            "dangling_edge.json",
            json.replace("\"target\": 1", "\"target\": 77"),
        ),
        ("not_json.json", "{\"objects\": [1, 2".to_owned()),
    ] {
        fs::write(graphs.join(name), body).unwrap();
    }
}
