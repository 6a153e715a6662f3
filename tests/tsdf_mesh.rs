//! Marching cubes over blocks vs a brute-force dense-grid marching cubes,
//! and PLY export parsed back.

use std::collections::HashMap;

use nalgebra::{Point3, Vector3};
use scenemap::mesh::tables::{case_triangles, CUBE_CORNERS, CUBE_EDGES};
use scenemap::mesh::{mesh_volume, Mesh, Mesher, PlyFormat};
use scenemap::tsdf::{TsdfConfig, TsdfVolume, TsdfVoxel};

const VOXEL_M: f32 = 0.02;

/// Two blobs, clamped to ±μ, sampled at voxel centres of a 16³ grid
/// starting at global voxel `origin` (2×2×2 blocks).
fn field(g: [i32; 3], mu: f32) -> f32 {
    let p = Vector3::new(g[0] as f32 + 0.5, g[1] as f32 + 0.5, g[2] as f32 + 0.5) * VOXEL_M;
    let a = (p - Vector3::new(-0.01, 0.02, 0.005)).norm() - 0.09;
    let b = (p - Vector3::new(0.1, 0.09, 0.1)).norm() - 0.07;
    let wobble = 0.004 * (p.x * 90.0).sin() * (p.y * 70.0).cos();
    (a.min(b) + wobble).clamp(-mu, mu)
}

fn build(origin: [i32; 3]) -> TsdfVolume {
    let mut volume = TsdfVolume::new(TsdfConfig::for_voxel_size_m(VOXEL_M)).unwrap();
    let mu = volume.truncation_distance_m();
    for z in 0..16 {
        for y in 0..16 {
            for x in 0..16 {
                let g = [origin[0] + x, origin[1] + y, origin[2] + z];
                let color = [(x * 15) as u8, (y * 15) as u8, (z * 15) as u8];
                volume.set_voxel(
                    g,
                    TsdfVoxel {
                        sdf_m: field(g, mu),
                        weight: 1,
                        color,
                    },
                );
            }
        }
    }
    volume
}

type Key = [i64; 3];

fn key(p: &Point3<f32>) -> Key {
    [p.x, p.y, p.z].map(|c| (f64::from(c) * 1e5).round() as i64)
}

/// Triangle as vertex keys rotated so the smallest comes first (keeps the
/// winding).
fn canonical(t: [Key; 3]) -> [Key; 3] {
    let m = (0..3).min_by_key(|&i| t[i]).unwrap();
    [t[m], t[(m + 1) % 3], t[(m + 2) % 3]]
}

/// Dense marching cubes straight over the stored voxels: every cube whose 8
/// corners are in the grid, vertices interpolated on the fly.
fn brute_force(volume: &TsdfVolume, origin: [i32; 3]) -> Vec<[Key; 3]> {
    let mut out = Vec::new();
    for z in 0..15 {
        for y in 0..15 {
            for x in 0..15 {
                let corner = |i: usize| {
                    let c = CUBE_CORNERS[i];
                    [
                        origin[0] + x + c[0] as i32,
                        origin[1] + y + c[1] as i32,
                        origin[2] + z + c[2] as i32,
                    ]
                };
                let sdf = |i: usize| volume.voxel(corner(i)).unwrap().sdf_m;
                let mut case = 0_u8;
                for i in 0..8 {
                    case |= u8::from(sdf(i) < 0.0) << i;
                }
                for tri in case_triangles(case) {
                    let vertex = |e: u8| {
                        let [a, b] = CUBE_EDGES[e as usize];
                        let (pa, pb) = (
                            volume.voxel_center_m(corner(a)),
                            volume.voxel_center_m(corner(b)),
                        );
                        let t = sdf(a) / (sdf(a) - sdf(b));
                        key(&(pa + (pb - pa) * t))
                    };
                    out.push(canonical([vertex(tri[0]), vertex(tri[1]), vertex(tri[2])]));
                }
            }
        }
    }
    out.sort_unstable();
    out
}

#[test]
fn block_marching_cubes_equals_dense_brute_force() {
    for origin in [[0, 0, 0], [-8, -8, -8], [-8, 0, -16]] {
        let mut volume = build(origin);
        assert_eq!(volume.block_count(), 8);
        let mut mesher = Mesher::new();
        mesher.update(&mut volume);
        let mesh = mesher.mesh();
        let mut ours: Vec<[Key; 3]> = mesh
            .triangles
            .iter()
            .map(|t| canonical(t.map(|i| key(&mesh.vertices[i as usize]))))
            .collect();
        ours.sort_unstable();
        let brute = brute_force(&volume, origin);
        assert!(brute.len() > 100, "{} triangles", brute.len());
        assert_eq!(ours, brute, "origin {origin:?}");
        // No duplicated vertices across block borders.
        let mut seen = HashMap::new();
        for (i, p) in mesh.vertices.iter().enumerate() {
            assert!(seen.insert(key(p), i).is_none(), "vertex {p} duplicated");
        }
        assert_eq!(mesh, mesh_volume(&volume));
    }
}

#[test]
fn generated_tables_close_random_surfaces() {
    // Random sign patterns (many ambiguous faces) inside an all-positive
    // border: the mesh must be closed — each edge in exactly 2 triangles.
    let mut volume = TsdfVolume::new(TsdfConfig::for_voxel_size_m(VOXEL_M)).unwrap();
    let mut seed = 99_u64;
    for z in 0..16 {
        for y in 0..16 {
            for x in 0..16 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let border = [x, y, z].iter().any(|&c| c == 0 || c == 15);
                let r = ((seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
                let sdf_m = if border { 0.05 } else { r * 0.04 + 0.001 };
                volume.set_voxel(
                    [x, y, z],
                    TsdfVoxel {
                        sdf_m,
                        weight: 1,
                        color: [0; 3],
                    },
                );
            }
        }
    }
    let mesh = mesh_volume(&volume);
    assert!(mesh.triangle_count() > 1000);
    let mut edges: HashMap<(u32, u32), usize> = HashMap::new();
    for t in &mesh.triangles {
        for k in 0..3 {
            let (a, b) = (t[k], t[(k + 1) % 3]);
            *edges.entry((a.min(b), a.max(b))).or_default() += 1;
        }
    }
    assert!(edges.values().all(|&n| n == 2));
    // Consistent orientation: each directed edge appears once.
    let mut directed = std::collections::HashSet::new();
    for t in &mesh.triangles {
        for k in 0..3 {
            assert!(
                directed.insert((t[k], t[(k + 1) % 3])),
                "inconsistent winding"
            );
        }
    }
}

/// Minimal PLY reader for the two formats the writer emits.
fn read_ply(bytes: &[u8]) -> Mesh {
    let end = b"end_header\n";
    let header_len = bytes.windows(end.len()).position(|w| w == end).unwrap() + end.len();
    let header = std::str::from_utf8(&bytes[..header_len]).unwrap();
    let mut lines = header.lines();
    assert_eq!(lines.next(), Some("ply"));
    let format = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    let count = |name: &str| -> usize {
        header
            .lines()
            .find(|l| l.starts_with(&format!("element {name} ")))
            .unwrap()
            .split_whitespace()
            .nth(2)
            .unwrap()
            .parse()
            .unwrap()
    };
    let props: Vec<&str> = header
        .lines()
        .filter(|l| l.starts_with("property"))
        .collect();
    assert_eq!(
        props,
        [
            "property float x",
            "property float y",
            "property float z",
            "property float nx",
            "property float ny",
            "property float nz",
            "property uchar red",
            "property uchar green",
            "property uchar blue",
            "property list uchar int vertex_indices"
        ]
    );
    let (nv, nf) = (count("vertex"), count("face"));
    let mut mesh = Mesh::default();
    let body = &bytes[header_len..];
    if format == "ascii" {
        let text = std::str::from_utf8(body).unwrap();
        let mut rows = text.lines();
        for _ in 0..nv {
            let f: Vec<&str> = rows.next().unwrap().split_whitespace().collect();
            let x: Vec<f32> = f[..6].iter().map(|s| s.parse().unwrap()).collect();
            mesh.vertices.push(Point3::new(x[0], x[1], x[2]));
            mesh.normals.push(Vector3::new(x[3], x[4], x[5]));
            mesh.colors
                .push([f[6], f[7], f[8]].map(|s| s.parse().unwrap()));
        }
        for _ in 0..nf {
            let f: Vec<u32> = rows
                .next()
                .unwrap()
                .split_whitespace()
                .map(|s| s.parse().unwrap())
                .collect();
            assert_eq!(f[0], 3);
            mesh.triangles.push([f[1], f[2], f[3]]);
        }
        assert!(rows.next().is_none());
    } else {
        assert_eq!(format, "binary_little_endian");
        assert_eq!(body.len(), nv * 27 + nf * 13);
        let f = |o: usize| f32::from_le_bytes(body[o..o + 4].try_into().unwrap());
        for i in 0..nv {
            let o = i * 27;
            mesh.vertices.push(Point3::new(f(o), f(o + 4), f(o + 8)));
            mesh.normals
                .push(Vector3::new(f(o + 12), f(o + 16), f(o + 20)));
            mesh.colors.push([body[o + 24], body[o + 25], body[o + 26]]);
        }
        for i in 0..nf {
            let o = nv * 27 + i * 13;
            assert_eq!(body[o], 3);
            let idx = |k: usize| {
                i32::from_le_bytes(body[o + 1 + 4 * k..o + 5 + 4 * k].try_into().unwrap()) as u32
            };
            mesh.triangles.push([idx(0), idx(1), idx(2)]);
        }
    }
    mesh
}

#[test]
fn ply_round_trips_in_both_formats() {
    let mesh = mesh_volume(&build([0, 0, 0]));
    assert!(mesh.triangle_count() > 100);
    let dir = std::env::temp_dir().join(format!("scenemap-ply-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for format in [PlyFormat::BinaryLittleEndian, PlyFormat::Ascii] {
        let path = dir.join(format!("{format:?}.ply"));
        mesh.write_ply(&path, format).unwrap();
        let back = read_ply(&std::fs::read(&path).unwrap());
        assert_eq!(back, mesh, "{format:?}");
    }
    let err = mesh
        .write_ply("/nonexistent/dir/m.ply", PlyFormat::Ascii)
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/dir/m.ply"));
}
