//! Pose-graph optimisation speed: a circle of 500 and of 2000 keyframes with
//! noisy, biased odometry and a handful of loop closures (the scenario of the
//! unit test `loop_closure_removes_drift`), solved from the odometry start.
//!
//! Run: `cargo bench --bench pose_graph`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use nalgebra::{Isometry3, Matrix6, Vector3, Vector6};
use scenemap::odometry::pose_graph::{Edge, EdgeKind, LmOptions, PoseGraph, RobustKernel};

/// SplitMix64 (Steele, Lea, Flood 2014) + Box–Muller: seeded noise without `rand`.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (((z ^ (z >> 31)) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn gauss3(&mut self, sigma: f64) -> Vector3<f64> {
        let mut g = || {
            let (u1, u2) = (self.uniform(), self.uniform());
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        };
        Vector3::new(g(), g(), g()) * sigma
    }
}

/// A circle of radius 10 m with `n` keyframes, odometry edges (1 cm, 0.2°
/// noise, a small yaw bias) and loops at the closure and across the circle.
fn circle(n: usize, seed: u64) -> PoseGraph {
    let (sigma_t_m, sigma_r_rad) = (0.01f64, 0.2f64.to_radians());
    let (it, ir) = (sigma_t_m.powi(-2), sigma_r_rad.powi(-2));
    let information = Matrix6::from_diagonal(&Vector6::new(it, it, it, ir, ir, ir));
    let truth: Vec<Isometry3<f64>> = (0..n)
        .map(|k| {
            let angle = std::f64::consts::TAU * k as f64 / n as f64;
            Isometry3::new(
                Vector3::new(
                    10.0 * angle.cos(),
                    10.0 * angle.sin(),
                    0.5 * (3.0 * angle).sin(),
                ),
                Vector3::new(0.0, 0.05 * (5.0 * angle).sin(), angle),
            )
        })
        .collect();
    let mut rng = Rng(seed);
    let noisy = |rng: &mut Rng| Isometry3::new(rng.gauss3(sigma_t_m), rng.gauss3(sigma_r_rad));
    let bias = Isometry3::new(
        Vector3::new(0.0005, 0.0, 0.0),
        Vector3::new(0.0, 0.0, 0.01f64.to_radians()),
    );
    let mut graph = PoseGraph::new();
    graph.add_node(truth[0], true);
    let mut edges = Vec::new();
    for k in 1..n {
        let a_from_b = truth[k - 1].inverse() * truth[k] * bias * noisy(&mut rng);
        let world_from_b = graph.poses()[k - 1] * a_from_b;
        graph.add_node(world_from_b, false);
        edges.push((k - 1, k, a_from_b, EdgeKind::Odometry));
    }
    let loops = [
        (0, n - 1),
        (0, n - 2),
        (1, n - 1),
        (n / 4, 3 * n / 4),
        (n / 8, 7 * n / 8),
    ];
    for (a, b) in loops {
        let a_from_b = truth[a].inverse() * truth[b] * noisy(&mut rng);
        edges.push((a, b, a_from_b, EdgeKind::Loop));
    }
    for (a, b, a_from_b, kind) in edges {
        let edge = Edge {
            a,
            b,
            a_from_b,
            information,
            kind,
            kernel: RobustKernel::Huber { delta: 3.0 },
        };
        if graph.add_edge(edge).is_err() {
            unreachable!("benchmark edges are valid by construction");
        }
    }
    graph
}

fn bench_pose_graph(c: &mut Criterion) {
    let mut group = c.benchmark_group("pose_graph_optimize");
    group.sample_size(10);
    for n in [500, 2000] {
        let graph = circle(n, 7);
        group.bench_function(format!("circle_{n}_nodes_5_loops"), |b| {
            b.iter_batched(
                || graph.clone(),
                |mut g| black_box(g.optimize(&LmOptions::default()).map(|r| r.iterations)),
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, bench_pose_graph);
criterion_main!(benches);
