//! The synthetic furnished room fused with groundtruth poses at 2 cm: the mesh
//! lies on the true geometry, and the incremental mesh equals a full re-mesh.
//! Heavy: run with `cargo test --release --test tsdf_room`.

use nalgebra::{Point3, Vector3};
use scenemap::mesh::{mesh_volume, Mesh, Mesher};
use scenemap::sensor::synthetic::{
    SequenceConfig, SyntheticScene, SyntheticSequence, TrajectoryPreset,
};
use scenemap::tsdf::{TsdfConfig, TsdfIntegrator, TsdfVolume};

const VOXEL_M: f64 = 0.02;
/// How far along the normal the oracle looks for the true surface.
const SEARCH_M: f64 = 0.08;

/// Distance from `p` to the true surface measured along the line `p + t n`
/// (both ways), from the scene's exact occupancy: step 2 mm until
/// occupancy differs from that at `p`, then bisect to 0.05 mm. The
/// distance along a line is an upper bound of the Euclidean distance to the
/// surface, so the oracle is conservative. `None` if no surface lies within
/// ±`SEARCH_M`.
fn distance_along_m(scene: &SyntheticScene, p: &Point3<f64>, n: &Vector3<f64>) -> Option<f64> {
    let inside = scene.is_occupied(p);
    let step = 0.002;
    let mut best: Option<f64> = None;
    for sign in [1.0, -1.0] {
        let dir = n * sign;
        let mut t0 = 0.0;
        let mut t = step;
        while t <= SEARCH_M + 1e-12 {
            if scene.is_occupied(&(p + dir * t)) != inside {
                let (mut lo, mut hi) = (t0, t);
                while hi - lo > 5e-5 {
                    let mid = 0.5 * (lo + hi);
                    if scene.is_occupied(&(p + dir * mid)) != inside {
                        hi = mid;
                    } else {
                        lo = mid;
                    }
                }
                let d = 0.5 * (lo + hi);
                best = Some(best.map_or(d, |b: f64| b.min(d)));
                break;
            }
            t0 = t;
            t += step;
        }
    }
    best
}

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
        // The mesh normal first; the axes catch vertices whose normal is
        // poor (edges, thin parts). Each is an upper bound of the distance.
        let directions = [normal, Vector3::x(), Vector3::y(), Vector3::z()];
        let distance = directions
            .iter()
            .filter_map(|d| distance_along_m(scene, &p, d))
            .min_by(f64::total_cmp);
        match distance {
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
