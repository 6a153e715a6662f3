//! Pose-graph tests: Jacobians vs finite differences, synthetic circles with
//! known truth, robust kernels.

use nalgebra::{Isometry3, Matrix6, Vector3, Vector6};

use super::residual::{residual, residual_and_jacobians, retract};
use super::*;
use crate::eval::test_util::SplitMix64;

fn noisy(rng: &mut SplitMix64, sigma_t_m: f64, sigma_r_rad: f64) -> Isometry3<f64> {
    Isometry3::new(rng.gauss3(sigma_t_m), rng.gauss3(sigma_r_rad))
}

fn information(sigma_t_m: f64, sigma_r_rad: f64) -> Matrix6<f64> {
    let (it, ir) = (
        1.0 / (sigma_t_m * sigma_t_m),
        1.0 / (sigma_r_rad * sigma_r_rad),
    );
    Matrix6::from_diagonal(&Vector6::new(it, it, it, ir, ir, ir))
}

fn rmse_m(a: &[Isometry3<f64>], b: &[Isometry3<f64>]) -> f64 {
    let sse: f64 = a
        .iter()
        .zip(b)
        .map(|(p, q)| (p.translation.vector - q.translation.vector).norm_squared())
        .sum();
    (sse / a.len() as f64).sqrt()
}

#[test]
fn jacobians_match_finite_differences() {
    let mut rng = SplitMix64(1);
    for _ in 0..20 {
        let world_from_a = rng.isometry(3.0);
        let world_from_b = rng.isometry(3.0);
        // Measurements near and far from the current relative pose.
        let a_from_b = (world_from_a.inverse() * world_from_b) * noisy(&mut rng, 0.3, 0.8);
        let (_, j_a, j_b) = residual_and_jacobians(&world_from_a, &world_from_b, &a_from_b);
        let h = 1e-6;
        for k in 0..6 {
            let mut d = Vector6::zeros();
            d[k] = h;
            let fd_a = (residual(&retract(&world_from_a, &d), &world_from_b, &a_from_b)
                - residual(&retract(&world_from_a, &(-d)), &world_from_b, &a_from_b))
                / (2.0 * h);
            let fd_b = (residual(&world_from_a, &retract(&world_from_b, &d), &a_from_b)
                - residual(&world_from_a, &retract(&world_from_b, &(-d)), &a_from_b))
                / (2.0 * h);
            assert!(
                (fd_a - j_a.column(k)).amax() < 1e-6,
                "J_a col {k}: {fd_a} vs {}",
                j_a.column(k)
            );
            assert!(
                (fd_b - j_b.column(k)).amax() < 1e-6,
                "J_b col {k}: {fd_b} vs {}",
                j_b.column(k)
            );
        }
    }
}

/// Poses on a circle of radius 10 m (tangent heading, gentle pitch wobble),
/// odometry with noise and a yaw bias, loop closures to the start.
struct Scenario {
    truth: Vec<Isometry3<f64>>,
    graph: PoseGraph,
}

fn circle(n: usize, loops: &[(usize, usize)], seed: u64, kernel: RobustKernel) -> Scenario {
    let (sigma_t_m, sigma_r_rad) = (0.01, 0.2f64.to_radians());
    let truth: Vec<Isometry3<f64>> = (0..n)
        .map(|k| {
            let angle = std::f64::consts::TAU * k as f64 / n as f64;
            let position = Vector3::new(
                10.0 * angle.cos(),
                10.0 * angle.sin(),
                0.5 * (3.0 * angle).sin(),
            );
            Isometry3::new(
                position,
                Vector3::new(0.0, 0.05 * (5.0 * angle).sin(), angle),
            )
        })
        .collect();
    let mut rng = SplitMix64(seed);
    let bias = Isometry3::new(
        Vector3::new(0.0005, 0.0, 0.0),
        Vector3::new(0.0, 0.0, 0.01f64.to_radians()),
    );
    let mut graph = PoseGraph::new();
    graph.add_node(truth[0], true);
    for k in 1..n {
        let a_from_b =
            truth[k - 1].inverse() * truth[k] * bias * noisy(&mut rng, sigma_t_m, sigma_r_rad);
        let world_from_b = graph.poses()[k - 1] * a_from_b;
        graph.add_node(world_from_b, false);
        graph
            .add_edge(Edge {
                a: k - 1,
                b: k,
                a_from_b,
                information: information(sigma_t_m, sigma_r_rad),
                kind: EdgeKind::Odometry,
                kernel,
            })
            .unwrap();
    }
    for &(a, b) in loops {
        let a_from_b = truth[a].inverse() * truth[b] * noisy(&mut rng, sigma_t_m, sigma_r_rad);
        graph
            .add_edge(Edge {
                a,
                b,
                a_from_b,
                information: information(sigma_t_m, sigma_r_rad),
                kind: EdgeKind::Loop,
                kernel,
            })
            .unwrap();
    }
    Scenario { truth, graph }
}

#[test]
fn loop_closure_removes_drift() {
    let loops = [(0, 199), (0, 198), (1, 199), (50, 150)];
    let Scenario { truth, mut graph } = circle(200, &loops, 2, RobustKernel::None);
    let odometry_rmse = rmse_m(graph.poses(), &truth);
    let initial = graph.poses()[0];
    let report = graph.optimize(&LmOptions::default()).unwrap();
    let optimised_rmse = rmse_m(graph.poses(), &truth);
    assert!(
        report.converged && report.final_cost < report.initial_cost,
        "{report:?}"
    );
    assert!(
        optimised_rmse < 0.5 * odometry_rmse,
        "{optimised_rmse} vs {odometry_rmse}"
    );
    // Noise floor: at the optimum 2·cost ≈ χ² with (6·edges − 6·free) dof.
    let dof = 6.0 * (graph.edges().len() as f64 - 199.0);
    let chi2 = 2.0 * report.final_cost;
    assert!(
        chi2 > 0.3 * dof && chi2 < 3.0 * dof,
        "chi2 {chi2} dof {dof}"
    );
    // Gauge: the fixed node did not move.
    assert_eq!(graph.poses()[0], initial);
}

#[test]
fn robust_kernel_down_weights_an_outlier_loop() {
    let loops = [(0, 199), (0, 198), (1, 199), (50, 150)];
    let kernel = RobustKernel::Cauchy { c: 3.0 };
    let Scenario { truth, mut graph } = circle(200, &loops, 3, kernel);
    let mut clean = graph.clone();
    clean.optimize(&LmOptions::default()).unwrap();
    let clean_rmse = rmse_m(clean.poses(), &truth);
    // A wrong loop closure: 3 m and 40° off.
    let wrong = truth[40].inverse()
        * truth[120]
        * Isometry3::new(Vector3::new(3.0, 0.0, 0.0), Vector3::new(0.0, 0.0, 0.7));
    let outlier = Edge {
        a: 40,
        b: 120,
        a_from_b: wrong,
        information: information(0.01, 0.2f64.to_radians()),
        kind: EdgeKind::Loop,
        kernel,
    };
    let mut plain = graph.clone();
    plain
        .add_edge(Edge {
            kernel: RobustKernel::None,
            ..outlier.clone()
        })
        .unwrap();
    graph.add_edge(outlier).unwrap();
    // The robust solve needs a reasonable start: odometry.
    graph.optimize(&LmOptions::default()).unwrap();
    plain.optimize(&LmOptions::default()).unwrap();
    let robust_rmse = rmse_m(graph.poses(), &truth);
    let plain_rmse = rmse_m(plain.poses(), &truth);
    let weights = graph.edge_weights();
    assert!(
        weights[weights.len() - 1] < 1e-3,
        "outlier weight {}",
        weights[weights.len() - 1]
    );
    assert!(
        robust_rmse < 1.5 * clean_rmse + 0.01,
        "robust {robust_rmse} clean {clean_rmse}"
    );
    assert!(
        plain_rmse > 1.5 * robust_rmse,
        "plain {plain_rmse} robust {robust_rmse}"
    );
}

#[test]
fn huber_kernel_values_and_errors() {
    let k = RobustKernel::Huber { delta: 2.0 };
    assert_eq!(k.evaluate(1.0), (1.0, 1.0));
    let (rho, w) = k.evaluate(16.0);
    assert!((rho - 12.0).abs() < 1e-12 && (w - 0.5).abs() < 1e-12);
    let mut graph = PoseGraph::new();
    let a = graph.add_node(Isometry3::identity(), false);
    let b = graph.add_node(Isometry3::identity(), false);
    let edge = Edge {
        a,
        b,
        a_from_b: Isometry3::identity(),
        information: Matrix6::identity(),
        kind: EdgeKind::Odometry,
        kernel: k,
    };
    assert!(graph
        .add_edge(Edge {
            b: 7,
            ..edge.clone()
        })
        .is_err());
    assert!(graph
        .add_edge(Edge {
            b: a,
            ..edge.clone()
        })
        .is_err());
    assert!(graph
        .add_edge(Edge {
            kernel: RobustKernel::Cauchy { c: -1.0 },
            ..edge.clone()
        })
        .is_err());
    graph.add_edge(edge).unwrap();
    assert!(graph.optimize(&LmOptions::default()).is_err(), "no gauge");
    graph.set_fixed(a, true).unwrap();
    assert!(graph.set_fixed(9, true).is_err());
    let report = graph.optimize(&LmOptions::default()).unwrap();
    assert_eq!(report.final_cost, 0.0);
}

#[test]
fn two_thousand_nodes_solve() {
    let n = 2000;
    let loops: Vec<(usize, usize)> =
        vec![(0, n - 1), (0, n - 2), (1, n - 1), (500, 1500), (250, 1750)];
    let Scenario { truth, mut graph } = circle(n, &loops, 4, RobustKernel::Huber { delta: 3.0 });
    let odometry_rmse = rmse_m(graph.poses(), &truth);
    let report = graph.optimize(&LmOptions::default()).unwrap();
    let optimised_rmse = rmse_m(graph.poses(), &truth);
    assert!(report.converged, "{report:?}");
    assert!(
        optimised_rmse < 0.5 * odometry_rmse,
        "{optimised_rmse} vs {odometry_rmse}"
    );
}
