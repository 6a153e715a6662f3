//! Marching-cubes case tables (Lorensen & Cline 1987), generated rather
//! than transcribed: for each of the 256 inside/outside corner patterns the
//! iso-lines on the 6 faces are chained into loops, which are fanned into
//! triangles.
//!
//! Corner and edge numbering follow Paul Bourke's "Polygonising a scalar
//! field" (corner `i` at [`CUBE_CORNERS`]`[i]`, edge `e` between
//! [`CUBE_EDGES`]`[e]`). Ambiguous faces (two diagonal corners inside) are
//! always resolved by *separating the inside corners*. The rule depends
//! only on the face's own four corners, so two cubes sharing a face draw the
//! same iso-lines on it and the mesh has no cracks. Triangles wind
//! counter-clockwise seen from outside (positive SDF), so
//! `(b − a) × (c − a)` points towards free space.

use std::sync::OnceLock;

/// Offsets of the 8 cube corners from the cube's minimum corner.
pub const CUBE_CORNERS: [[usize; 3]; 8] = [
    [0, 0, 0],
    [1, 0, 0],
    [1, 1, 0],
    [0, 1, 0],
    [0, 0, 1],
    [1, 0, 1],
    [1, 1, 1],
    [0, 1, 1],
];

/// The 12 cube edges as corner pairs; the first corner is the one with the
/// smaller coordinate along the edge's axis.
pub const CUBE_EDGES: [[usize; 2]; 12] = [
    [0, 1],
    [1, 2],
    [3, 2],
    [0, 3],
    [4, 5],
    [5, 6],
    [7, 6],
    [4, 7],
    [0, 4],
    [1, 5],
    [2, 6],
    [3, 7],
];

/// The 6 faces as corner cycles.
const FACES: [[usize; 4]; 6] = [
    [0, 1, 2, 3],
    [4, 5, 6, 7],
    [0, 1, 5, 4],
    [3, 2, 6, 7],
    [0, 3, 7, 4],
    [1, 2, 6, 5],
];

/// Axis (0 = x, 1 = y, 2 = z) along which edge `e` runs.
pub fn edge_axis(e: usize) -> usize {
    let [a, b] = CUBE_EDGES[e];
    (0..3)
        .find(|&k| CUBE_CORNERS[a][k] != CUBE_CORNERS[b][k])
        .unwrap_or(0)
}

struct Tables {
    triangles: Vec<[u8; 3]>,
    offsets: [usize; 257],
}

fn edge_between(a: usize, b: usize) -> usize {
    CUBE_EDGES
        .iter()
        .position(|&[p, q]| (p == a && q == b) || (p == b && q == a))
        .unwrap_or(0)
}

/// Triangles (as edge triples) for `case`, where bit `i` of `case` is set
/// when corner `i` is inside (SDF < 0).
pub fn case_triangles(case: u8) -> &'static [[u8; 3]] {
    let t = tables();
    &t.triangles[t.offsets[case as usize]..t.offsets[case as usize + 1]]
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut triangles = Vec::new();
        let mut offsets = [0_usize; 257];
        for (case, offset) in offsets.iter_mut().take(256).enumerate() {
            *offset = triangles.len();
            triangles.extend(generate_case(case as u8));
        }
        offsets[256] = triangles.len();
        Tables { triangles, offsets }
    })
}

fn generate_case(case: u8) -> Vec<[u8; 3]> {
    let inside = |c: usize| case >> c & 1 == 1;
    // Each cut edge gets two neighbours (one per face it borders).
    let mut links: [Vec<usize>; 12] = Default::default();
    for face in FACES {
        let edge = |i: usize| edge_between(face[i], face[(i + 1) % 4]);
        let cut: Vec<usize> = (0..4)
            .filter(|&i| inside(face[i]) != inside(face[(i + 1) % 4]))
            .collect();
        let mut segments = Vec::new();
        match cut.len() {
            2 => segments.push((edge(cut[0]), edge(cut[1]))),
            4 => {
                // Ambiguous face: cut off each inside corner on its own.
                for (k, &corner) in face.iter().enumerate() {
                    if inside(corner) {
                        segments.push((edge((k + 3) % 4), edge(k)));
                    }
                }
            }
            _ => {}
        }
        for (a, b) in segments {
            links[a].push(b);
            links[b].push(a);
        }
    }
    let mut used = [false; 12];
    let mut triangles = Vec::new();
    for start in 0..12 {
        if used[start] || links[start].len() != 2 {
            continue;
        }
        let mut polygon = vec![start];
        used[start] = true;
        let mut previous = start;
        let mut current = links[start][0];
        while current != start && !used[current] {
            polygon.push(current);
            used[current] = true;
            let next = if links[current][0] == previous {
                links[current][1]
            } else {
                links[current][0]
            };
            previous = current;
            current = next;
        }
        orient(&mut polygon, &inside);
        for i in 1..polygon.len() - 1 {
            triangles.push([polygon[0] as u8, polygon[i] as u8, polygon[i + 1] as u8]);
        }
    }
    triangles
}

/// Reverses the loop unless its Newell normal (vertices at edge midpoints)
/// points from the inside corners to the outside ones.
fn orient(polygon: &mut [usize], inside: &impl Fn(usize) -> bool) {
    let midpoint = |e: usize| {
        let [a, b] = CUBE_EDGES[e];
        let mut p = [0.0_f64; 3];
        for k in 0..3 {
            p[k] = 0.5 * (CUBE_CORNERS[a][k] + CUBE_CORNERS[b][k]) as f64;
        }
        p
    };
    let mut normal = [0.0_f64; 3];
    for i in 0..polygon.len() {
        let p = midpoint(polygon[i]);
        let q = midpoint(polygon[(i + 1) % polygon.len()]);
        normal[0] += (p[1] - q[1]) * (p[2] + q[2]);
        normal[1] += (p[2] - q[2]) * (p[0] + q[0]);
        normal[2] += (p[0] - q[0]) * (p[1] + q[1]);
    }
    let mut alignment = 0.0;
    for &e in polygon.iter() {
        let [a, b] = CUBE_EDGES[e];
        let (from, to) = if inside(a) { (a, b) } else { (b, a) };
        for k in 0..3 {
            alignment += normal[k] * (CUBE_CORNERS[to][k] as f64 - CUBE_CORNERS[from][k] as f64);
        }
    }
    if alignment < 0.0 {
        polygon.reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivial_and_single_corner_cases() {
        assert!(case_triangles(0).is_empty());
        assert!(case_triangles(255).is_empty());
        // Corner 0 inside: one triangle on edges 0, 3, 8.
        let t = case_triangles(1);
        assert_eq!(t.len(), 1);
        let mut edges = t[0].to_vec();
        edges.sort_unstable();
        assert_eq!(edges, vec![0, 3, 8]);
    }

    #[test]
    fn every_triangle_uses_only_cut_edges_and_complements_match() {
        for case in 0..=255_u8 {
            for tri in case_triangles(case) {
                for &e in tri {
                    let [a, b] = CUBE_EDGES[e as usize];
                    assert_ne!(
                        case >> a & 1,
                        case >> b & 1,
                        "case {case}: edge {e} is not cut"
                    );
                }
            }
            // Every cut edge is used.
            for (e, &[a, b]) in CUBE_EDGES.iter().enumerate() {
                if case >> a & 1 != case >> b & 1 {
                    assert!(
                        case_triangles(case).iter().any(|t| t.contains(&(e as u8))),
                        "case {case}: cut edge {e} unused"
                    );
                }
            }
        }
    }

    #[test]
    fn edge_axes() {
        assert_eq!(edge_axis(0), 0);
        assert_eq!(edge_axis(1), 1);
        assert_eq!(edge_axis(8), 2);
        for &[a, b] in &CUBE_EDGES {
            let k = (0..3)
                .find(|&k| CUBE_CORNERS[a][k] != CUBE_CORNERS[b][k])
                .unwrap();
            assert!(CUBE_CORNERS[a][k] < CUBE_CORNERS[b][k]);
        }
    }
}
