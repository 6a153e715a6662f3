//! Distance from a point to the true surface of a synthetic scene, from the
//! scene's exact occupancy: the oracle of the mesh-accuracy tests
//! (`tsdf_room`, `slam_relocalise`, `pipeline_loop_correction`).
#![allow(dead_code)]

use nalgebra::{Point3, Vector3};
use scenemap::sensor::synthetic::SyntheticScene;

/// How [`distance_along_m`] searches: march in `step_m` steps up to
/// `search_m` each way, then bisect the crossing to `tolerance_m`.
#[derive(Clone, Copy, Debug)]
pub struct LineSearch {
    /// March step, m.
    pub step_m: f64,
    /// Bisection stops when the bracket is this narrow, m.
    pub tolerance_m: f64,
    /// Largest distance searched each way, m.
    pub search_m: f64,
}

/// The fine search of `tsdf_room` and `slam_relocalise` (2 cm voxels): step
/// 2 mm, bisect to 0.05 mm, up to ±8 cm.
pub const FINE: LineSearch = LineSearch {
    step_m: 0.002,
    tolerance_m: 5e-5,
    search_m: 0.08,
};

/// Distance from `p` to the true surface measured along the line `p + t n`
/// (both ways): march until the occupancy differs from that at `p`, then
/// bisect. The distance along a line is an upper bound of the Euclidean
/// distance to the surface, so the oracle is conservative. `None` if no
/// surface lies within ±`search.search_m`.
pub fn distance_along_m(
    scene: &SyntheticScene,
    p: &Point3<f64>,
    n: &Vector3<f64>,
    search: &LineSearch,
) -> Option<f64> {
    let inside = scene.is_occupied(p);
    let mut best: Option<f64> = None;
    for sign in [1.0, -1.0] {
        let dir = n * sign;
        let (mut t0, mut t) = (0.0, search.step_m);
        while t <= search.search_m + 1e-12 {
            if scene.is_occupied(&(p + dir * t)) != inside {
                let (mut lo, mut hi) = (t0, t);
                while hi - lo > search.tolerance_m {
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
            t += search.step_m;
        }
    }
    best
}

/// The smallest [`distance_along_m`] along the unit `normal` and the three
/// axes: the normal first; the axes catch points whose normal is poor
/// (edges, thin parts). Each is an upper bound of the Euclidean distance.
pub fn surface_distance_m(
    scene: &SyntheticScene,
    p: &Point3<f64>,
    normal: &Vector3<f64>,
    search: &LineSearch,
) -> Option<f64> {
    [*normal, Vector3::x(), Vector3::y(), Vector3::z()]
        .iter()
        .filter_map(|d| distance_along_m(scene, p, d, search))
        .min_by(f64::total_cmp)
}
