//! The synthetic furnished room fused with groundtruth poses at 2 cm: the mesh
//! lies on the true geometry, and the incremental mesh equals a full re-mesh.
//! Heavy: run with `cargo test --release --test tsdf_room`.

mod surface_oracle;

use scenemap::mesh::{mesh_volume, Mesh, Mesher};
use scenemap::sensor::synthetic::{SequenceConfig, SyntheticSequence, TrajectoryPreset};
use scenemap::tsdf::{TsdfConfig, TsdfIntegrator, TsdfVolume};
use surface_oracle::{surface_distance_m, LineSearch};

const VOXEL_M: f64 = 0.02;
/// The oracle: step 2 mm, bisect to 0.05 mm, up to ±`SEARCH_M`.
const ORACLE: LineSearch = surface_oracle::FINE;
/// How far along a direction the oracle looks for the true surface.
const SEARCH_M: f64 = ORACLE.search_m;

#[test]
fn furnished_room_mesh_lies_on_the_true_surfaces_and_incremental_equals_full() {
    let config = SequenceConfig {
        duration_s: 4.0,
        ..SequenceConfig::default()
    };
    let sequence = SyntheticSequence::furnished(7, TrajectoryPreset::Gentle, config).unwrap();
    assert!(!sequence.config().noise.is_enabled());
    let camera = *sequence.camera();
    let mut volume = TsdfVolume::new(TsdfConfig::for_voxel_size_m(VOXEL_M as f32)).unwrap();
    let mut integrator = TsdfIntegrator::new();
    let mut mesher = Mesher::new();
    let groundtruth = sequence.groundtruth();
    let mut fused = 0;
    // Every 2nd frame of 4 s at 30 Hz; the mesh is updated after each.
    for i in (0..sequence.frame_count()).step_by(2) {
        let rendered = sequence.render_frame(i).unwrap();
        let world_from_camera = groundtruth[i].world_from_camera;
        integrator
            .integrate(&mut volume, &rendered.frame, &camera, &world_from_camera)
            .unwrap();
        mesher.update(&mut volume);
        fused += 1;
    }
    assert!(fused >= 50);

    // Incremental mesh (updated every frame) == full re-mesh at the end.
    let incremental = mesher.mesh();
    let full = mesh_volume(&volume);
    assert_eq!(
        incremental, full,
        "incremental mesh differs from a full re-mesh"
    );
    assert!(
        full.vertex_count() > 20_000,
        "{} vertices",
        full.vertex_count()
    );

    // Accuracy: a deterministic spread of up to 3000 vertices.
    let scene = sequence.scene();
    let stride = (full.vertex_count() / 3000).max(1);
    let (mut sum, mut n, mut not_found) = (0.0, 0_usize, 0_usize);
    for k in (0..full.vertex_count()).step_by(stride) {
        let p = full.vertices[k].cast::<f64>();
        let normal = full.normals[k].cast::<f64>();
        let Some(normal) = normal.try_normalize(1e-9) else {
            continue;
        };
        match surface_distance_m(scene, &p, &normal, &ORACLE) {
            Some(d) => {
                sum += d;
                n += 1;
            }
            None => not_found += 1,
        }
    }
    let mean_m = sum / n as f64;
    eprintln!(
        "room: {fused} frames, {} blocks, {} vertices; mean distance {:.2} mm over {n} vertices, {not_found} without surface within {SEARCH_M} m",
        volume.block_count(),
        full.vertex_count(),
        mean_m * 1e3
    );
    assert!(n > 1000);
    // Vertices farther than 8 cm from any surface would be phantom geometry.
    assert!(
        (not_found as f64) < 0.01 * (n + not_found) as f64,
        "{not_found} of {} vertices have no surface within {SEARCH_M} m",
        n + not_found
    );
    assert!(
        mean_m <= VOXEL_M,
        "mean vertex distance {mean_m} m > 1 voxel"
    );
    check_mesh_indices(&full);
}

fn check_mesh_indices(mesh: &Mesh) {
    let n = mesh.vertex_count() as u32;
    assert!(mesh.triangles.iter().flatten().all(|&i| i < n));
    assert_eq!(mesh.normals.len(), mesh.vertices.len());
    assert_eq!(mesh.colors.len(), mesh.vertices.len());
}
