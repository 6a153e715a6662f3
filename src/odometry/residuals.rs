//! Per-pixel residuals, their analytic Jacobians and the parallel
//! accumulation of the Gauss–Newton normal equations.
//!
//! Unknown: `T = reference_from_current`, perturbed on the right,
//! `T ← T · exp(δ)`, `δ = (v, ω)` (see [`crate::geometry::exp_se3`]).
//!
//! * Photometric (Kerl et al. 2013, eq. 5–7), per reference pixel `x` with
//!   vertex `q`: `p = T⁻¹ q` (current frame),
//!   `r_I = I_cur(π(p)) − I_ref(x)`. Since `(T exp(δ))⁻¹ = exp(−δ) T⁻¹`,
//!   `∂p/∂δ = [−I, p^]`, and with `g = ∇I_cur · ∂π/∂p`
//!   (`∂π/∂p = [[fx/z, 0, −fx x/z²], [0, fy/z, −fy y/z²]]`):
//!   `J_I = [−g, g × p]`.
//! * Point-to-plane (Newcombe et al. 2011, eq. 16), projective association:
//!   the current vertex `s` at pixel `round(π(p))` with
//!   `r_G = n_refᵀ (T s − q)`; `∂(T exp(δ) s)/∂δ = R [I, −s^]`, so with
//!   `m = Rᵀ n_ref`: `J_G = [m, s × m]`. The association is held fixed
//!   within an iteration (standard projective ICP).

use rayon::prelude::*;

use super::config::{OdometryConfig, RobustLoss};
pub(crate) use super::normal_equations::NormalEquations;
use super::normal_equations::RowSums4;
use super::normal_equations::TermStats;
use super::pyramid::PyramidLevel;

/// Analytic Jacobian of the photometric residual w.r.t. the right
/// perturbation of `reference_from_current`, given the point `p` in the
/// current camera frame and the current image gradient `(∂I/∂u, ∂I/∂v)` at
/// its projection.
#[inline(always)]
pub(crate) fn photometric_jacobian(p: [f32; 3], gradient: [f32; 2], fx: f32, fy: f32) -> [f32; 6] {
    let inv_z = 1.0 / p[2];
    let gx = gradient[0] * fx * inv_z;
    let gy = gradient[1] * fy * inv_z;
    let gz = -(gx * p[0] + gy * p[1]) * inv_z;
    [
        -gx,
        -gy,
        -gz,
        gy * p[2] - gz * p[1],
        gz * p[0] - gx * p[2],
        gx * p[1] - gy * p[0],
    ]
}

/// Analytic Jacobian of the point-to-plane residual, given the reference
/// normal rotated into the current frame `m = Rᵀ n_ref` and the current
/// vertex `s`.
#[inline(always)]
pub(crate) fn point_to_plane_jacobian(m: [f32; 3], s: [f32; 3]) -> [f32; 6] {
    [
        m[0],
        m[1],
        m[2],
        s[1] * m[2] - s[2] * m[1],
        s[2] * m[0] - s[0] * m[2],
        s[0] * m[1] - s[1] * m[0],
    ]
}

/// Robust scales σ of both terms.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scales {
    pub photometric: f64,
    pub point_to_plane_m: f64,
}

/// Pose and level data for one evaluation, converted to f32 for the
/// per-pixel loop.
pub(crate) struct Problem<'a> {
    pub reference: &'a PyramidLevel,
    pub current: &'a PyramidLevel,
    /// `R, t` of `current_from_reference` (row-major R).
    pub current_from_reference: ([f32; 9], [f32; 3]),
    /// `R, t` of `reference_from_current`.
    pub reference_from_current: ([f32; 9], [f32; 3]),
    pub use_photometric: bool,
    pub use_point_to_plane: bool,
    pub max_distance_m: f32,
    pub min_normal_cos: f32,
    pub stride: usize,
}

/// Residuals and Jacobians at one reference pixel.
#[derive(Default)]
pub(crate) struct PixelResiduals {
    pub photometric: Option<(f32, [f32; 6])>,
    pub point_to_plane: Option<(f32, [f32; 6])>,
    pub photometric_candidate: bool,
    pub point_to_plane_candidate: bool,
}

/// `x > 0`, false for NaN.
#[inline(always)]
pub(crate) fn is_positive(x: f32) -> bool {
    x > 0.0
}

#[inline(always)]
fn transform(rt: &([f32; 9], [f32; 3]), p: [f32; 3]) -> [f32; 3] {
    let (r, t) = rt;
    [
        r[0] * p[0] + r[1] * p[1] + r[2] * p[2] + t[0],
        r[3] * p[0] + r[4] * p[1] + r[5] * p[2] + t[1],
        r[6] * p[0] + r[7] * p[1] + r[8] * p[2] + t[2],
    ]
}

#[inline(always)]
fn rotate(r: &[f32; 9], p: [f32; 3]) -> [f32; 3] {
    [
        r[0] * p[0] + r[1] * p[1] + r[2] * p[2],
        r[3] * p[0] + r[4] * p[1] + r[5] * p[2],
        r[6] * p[0] + r[7] * p[1] + r[8] * p[2],
    ]
}

#[inline(always)]
fn rotate_transposed(r: &[f32; 9], p: [f32; 3]) -> [f32; 3] {
    [
        r[0] * p[0] + r[3] * p[1] + r[6] * p[2],
        r[1] * p[0] + r[4] * p[1] + r[7] * p[2],
        r[2] * p[0] + r[5] * p[1] + r[8] * p[2],
    ]
}

/// Per-level constants of [`Problem::pixel`], hoisted out of the pixel loop.
#[derive(Clone, Copy)]
struct Projection {
    fx: f32,
    fy: f32,
    cx: f32,
    cy: f32,
    /// Current image width.
    w: usize,
    /// Bilinear footprint bounds: `u < u_end`, `v < v_end`.
    u_end: f32,
    v_end: f32,
}

impl Problem<'_> {
    fn projection(&self) -> Projection {
        let cur = self.current;
        let cam = &cur.camera;
        let (w, h) = (cur.width(), cur.height());
        Projection {
            fx: cam.fx as f32,
            fy: cam.fy as f32,
            cx: cam.cx as f32,
            cy: cam.cy as f32,
            w,
            u_end: w.saturating_sub(2) as f32,
            v_end: h.saturating_sub(2) as f32,
        }
    }

    /// Evaluates both residuals at reference pixel index `i`.
    #[cfg(test)]
    pub fn pixel(&self, i: usize) -> PixelResiduals {
        self.pixel_at(&self.projection(), i)
    }

    /// [`Self::pixel`] with the level constants precomputed.
    #[inline(always)]
    fn pixel_at(&self, proj: &Projection, i: usize) -> PixelResiduals {
        let mut out = PixelResiduals::default();
        let q = self.reference.vertices[i];
        // `!(z > 0)` on purpose: also rejects NaN (invalid vertex).
        if !is_positive(q[2]) {
            return out;
        }
        let cur = self.current;
        let p = transform(&self.current_from_reference, q);
        if !is_positive(p[2]) {
            return out;
        }
        let (fx, fy, w) = (proj.fx, proj.fy, proj.w);
        let inv_z = 1.0 / p[2];
        let u = fx * p[0] * inv_z + proj.cx;
        let v = fy * p[1] * inv_z + proj.cy;
        // Bilinear footprint [u0, u0+1] must be inside and off the border
        // (gradients are zero on the outermost pixels).
        let inside = u >= 1.0 && v >= 1.0 && u < proj.u_end && v < proj.v_end;

        if self.use_photometric {
            let i_ref = self.reference.intensity[i];
            out.photometric_candidate = i_ref.is_finite();
            if inside && out.photometric_candidate {
                // `inside` bounds u, v to [1, w − 2): the i32 conversion is
                // exact and cheaper than the saturating one to usize.
                let (u0, v0) = (u as i32 as usize, v as i32 as usize);
                let (a, b) = (u - u0 as f32, v - v0 as f32);
                let k = v0 * w + u0;
                let img = &cur.intensity_gradient;
                let (c00, c01, c10, c11) = (img[k], img[k + 1], img[k + w], img[k + w + 1]);
                // All four lanes at once (the fourth is padding).
                let mut c = [0.0_f32; 4];
                for l in 0..4 {
                    let top = c00[l] + a * (c01[l] - c00[l]);
                    let bottom = c10[l] + a * (c11[l] - c10[l]);
                    c[l] = top + b * (bottom - top);
                }
                let r = c[0] - i_ref;
                let g = [c[1], c[2]];
                if r.is_finite() && g[0].is_finite() && g[1].is_finite() {
                    out.photometric = Some((r, photometric_jacobian(p, g, fx, fy)));
                }
            }
        }

        if self.use_point_to_plane {
            let n_ref = self.reference.normals[i];
            out.point_to_plane_candidate = n_ref[0].is_finite();
            if inside && out.point_to_plane_candidate {
                let j = (v + 0.5) as i32 as usize * w + (u + 0.5) as i32 as usize;
                let s = cur.vertices[j];
                let n_cur = cur.normals[j];
                if s[2] > 0.0 && n_cur[0].is_finite() {
                    let (rot, _) = &self.reference_from_current;
                    let s_ref = transform(&self.reference_from_current, s);
                    let d = [s_ref[0] - q[0], s_ref[1] - q[1], s_ref[2] - q[2]];
                    let dist_sq = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                    let n_cur_ref = rotate(rot, n_cur);
                    let cos =
                        n_cur_ref[0] * n_ref[0] + n_cur_ref[1] * n_ref[1] + n_cur_ref[2] * n_ref[2];
                    if dist_sq <= self.max_distance_m * self.max_distance_m
                        && cos >= self.min_normal_cos
                    {
                        let r = n_ref[0] * d[0] + n_ref[1] * d[1] + n_ref[2] * d[2];
                        let m = rotate_transposed(rot, n_ref);
                        out.point_to_plane = Some((r, point_to_plane_jacobian(m, s)));
                    }
                }
            }
        }
        out
    }

    /// Accumulates the normal equations over the (strided) reference image
    /// in parallel: each rayon task folds rows into its own 6×6 + 6 sums,
    /// which are then reduced.
    pub fn accumulate(&self, scales: Scales, config: &OdometryConfig) -> NormalEquations {
        // One monomorphised pixel loop per loss (no match per residual); the
        // constant variant folds `weight`/`loss` to one formula each.
        match config.robust_loss {
            RobustLoss::Squared => {
                self.accumulate_with(scales, config, |r: f64| (1.0, 0.5 * r * r))
            }
            RobustLoss::Huber { k } => {
                self.accumulate_with(scales, config, move |r: f64| huber(k, r))
            }
            RobustLoss::StudentT { nu } => self.accumulate_with(scales, config, move |r: f64| {
                let loss = RobustLoss::StudentT { nu };
                (loss.weight(r), loss.loss(r))
            }),
        }
    }

    /// [`Self::accumulate`] for one robust loss `r ↦ (w(r), ρ(r))`.
    fn accumulate_with(
        &self,
        scales: Scales,
        config: &OdometryConfig,
        loss: impl Fn(f64) -> (f64, f64) + Sync + Copy,
    ) -> NormalEquations {
        let lambda = config.photometric_weight;
        let inlier = config.inlier_threshold_sigma;
        let (w, h) = (self.reference.width(), self.reference.height());
        let stride = self.stride.max(1);
        let proj = self.projection();
        let photo = TermScale::new(scales.photometric, lambda, inlier);
        let icp = TermScale::new(scales.point_to_plane_m, 1.0, inlier);
        (0..h.div_ceil(stride))
            .into_par_iter()
            .with_min_len(4)
            .fold(NormalEquations::default, |mut acc, row| {
                let v = row * stride;
                let mut sums = RowSums4::default();
                let mut cost = acc.cost;
                for u in (0..w).step_by(stride) {
                    let px = self.pixel_at(&proj, v * w + u);
                    acc.photometric.candidates += usize::from(px.photometric_candidate);
                    acc.point_to_plane.candidates += usize::from(px.point_to_plane_candidate);
                    if let Some((r, j)) = px.photometric {
                        cost += photo.add(&mut acc.photometric, &mut sums, r, &j, loss);
                    }
                    if let Some((r, j)) = px.point_to_plane {
                        cost += icp.add(&mut acc.point_to_plane, &mut sums, r, &j, loss);
                    }
                }
                acc.cost = cost;
                acc.add_row(&sums.unpack());
                acc
            })
            .reduce(NormalEquations::default, NormalEquations::merge)
    }

    /// Robust scales σ = 1.4826 · median |r| from a sparse grid of about
    /// 4000 pixels, bounded below by the configured minima.
    pub fn estimate_scales(&self, config: &OdometryConfig) -> Scales {
        let (w, h) = (self.reference.width(), self.reference.height());
        let grid = ((w * h) as f64 / 4000.0).sqrt().floor().max(1.0) as usize;
        let proj = self.projection();
        // Rows in parallel (it runs on the critical path before every
        // level); the median does not depend on the samples' order.
        let rows: Vec<(Vec<f32>, Vec<f32>)> = (0..h.div_ceil(grid))
            .into_par_iter()
            .with_min_len(4)
            .map(|row| {
                let v = row * grid;
                let (mut photo, mut icp) = (Vec::new(), Vec::new());
                for u in (0..w).step_by(grid) {
                    let px = self.pixel_at(&proj, v * w + u);
                    if let Some((r, _)) = px.photometric {
                        photo.push(r.abs());
                    }
                    if let Some((r, _)) = px.point_to_plane {
                        icp.push(r.abs());
                    }
                }
                (photo, icp)
            })
            .collect();
        let mut photo: Vec<f32> = rows.iter().flat_map(|r| r.0.iter().copied()).collect();
        let mut icp: Vec<f32> = rows.iter().flat_map(|r| r.1.iter().copied()).collect();
        Scales {
            photometric: (1.4826 * median(&mut photo)).max(config.min_photometric_sigma),
            point_to_plane_m: (1.4826 * median(&mut icp)).max(config.min_point_to_plane_sigma_m),
        }
    }
}

/// Scale, weight and inlier gate of one residual term.
#[derive(Clone, Copy)]
struct TermScale {
    inv_sigma: f64,
    lambda: f64,
    inlier: f64,
}

impl TermScale {
    fn new(sigma: f64, lambda: f64, inlier: f64) -> Self {
        Self {
            inv_sigma: 1.0 / sigma,
            lambda,
            inlier,
        }
    }

    /// Adds one residual, normalised by its scale, with IRLS weight
    /// `λ · w(r/σ)`; returns its robust cost `λ ρ(r/σ)`.
    #[inline(always)]
    fn add(
        &self,
        stats: &mut TermStats,
        sums: &mut RowSums4,
        r: f32,
        j: &[f32; 6],
        loss: impl Fn(f64) -> (f64, f64),
    ) -> f64 {
        let inv_sigma = self.inv_sigma;
        let r = f64::from(r);
        let rs = r * inv_sigma;
        let (w, rho) = loss(rs);
        let weight = self.lambda * w * inv_sigma * inv_sigma;
        // H += w J̃ᵀJ̃ with J̃ = J/σ, b += w J̃ᵀ r̃: fold 1/σ² into the weight and
        // use the raw J, r.
        sums.add(j, r as f32, weight as f32);
        stats.count += 1;
        stats.sum_sq += r * r;
        stats.inliers += usize::from(rs.abs() < self.inlier);
        self.lambda * rho
    }
}

/// `(w(r), ρ(r))` of [`RobustLoss::Huber`] without branches (the inlier
/// test is data dependent and mispredicts): `min(1, k/|r|)` equals the
/// weight bit for bit (`k/|r| ≥ 1` exactly when `|r| ≤ k`; `k/0 = ∞`).
#[inline(always)]
fn huber(k: f64, r: f64) -> (f64, f64) {
    let a = r.abs();
    let weight = (k / a).min(1.0);
    let quadratic = 0.5 * r * r;
    let linear = k * (a - 0.5 * k);
    (weight, if a <= k { quadratic } else { linear })
}

/// Median of non-negative values (0 for an empty slice).
fn median(values: &mut [f32]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f32::total_cmp);
    f64::from(*m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{exp_se3, PinholeCamera};
    use crate::odometry::rgbd_odometry::make_problem;
    use crate::odometry::{OdometryConfig, PyramidConfig, RgbdPyramid};
    use nalgebra::{Isometry3, Point3, Vector3, Vector6};

    struct Rng(crate::eval::test_util::SplitMix64);
    impl Rng {
        fn new(seed: u64) -> Self {
            Self(crate::eval::test_util::SplitMix64(seed))
        }
        /// Uniform in (−1, 1).
        fn next(&mut self) -> f64 {
            2.0 * self.0.uniform() - 1.0
        }
        fn twist(&mut self, t: f64, r: f64) -> Vector6<f64> {
            Vector6::new(
                t * self.next(),
                t * self.next(),
                t * self.next(),
                r * self.next(),
                r * self.next(),
                r * self.next(),
            )
        }
    }

    fn relative_error(a: &Vector6<f64>, b: &Vector6<f64>) -> f64 {
        (a - b).norm() / b.norm().max(1e-12)
    }

    /// Smooth analytic image and its exact gradient (pixel units).
    fn image(u: f64, v: f64) -> (f64, [f64; 2]) {
        let value = 0.5 + 0.2 * (0.05 * u).sin() * (0.07 * v).cos() + 0.1 * (0.03 * (u + v)).sin();
        let du =
            0.2 * 0.05 * (0.05 * u).cos() * (0.07 * v).cos() + 0.1 * 0.03 * (0.03 * (u + v)).cos();
        let dv =
            -0.2 * 0.07 * (0.05 * u).sin() * (0.07 * v).sin() + 0.1 * 0.03 * (0.03 * (u + v)).cos();
        (value, [du, dv])
    }

    #[test]
    fn branchless_huber_equals_the_configured_loss_bit_for_bit() {
        let mut rng = Rng::new(3);
        for k in [0.5, 1.345, 3.0] {
            let loss = RobustLoss::Huber { k };
            let mut values = vec![0.0, -0.0, k, -k, f64::MIN_POSITIVE];
            values.extend((0..2000).map(|_| 4.0 * rng.next()));
            for r in values {
                let (w, rho) = huber(k, r);
                assert_eq!(w.to_bits(), loss.weight(r).to_bits(), "w({r})");
                assert_eq!(rho.to_bits(), loss.loss(r).to_bits(), "rho({r})");
            }
        }
    }

    #[test]
    fn photometric_jacobian_matches_finite_differences() {
        let (fx, fy, cx, cy) = (525.0, 520.0, 319.5, 239.5);
        let mut rng = Rng::new(42);
        let h = 1e-6;
        for _ in 0..50 {
            let reference_from_current = exp_se3(&rng.twist(0.1, 0.1));
            let q = Point3::new(0.8 * rng.next(), 0.6 * rng.next(), 1.5 + rng.next());
            // r(δ) = I(π((T exp δ)⁻¹ q)) − I_ref, I_ref constant.
            let residual = |delta: &Vector6<f64>| {
                let p = (reference_from_current * exp_se3(delta)).inverse() * q;
                image(fx * p.x / p.z + cx, fy * p.y / p.z + cy).0
            };
            let p = reference_from_current.inverse() * q;
            let (_, g) = image(fx * p.x / p.z + cx, fy * p.y / p.z + cy);
            let j = photometric_jacobian(
                [p.x as f32, p.y as f32, p.z as f32],
                [g[0] as f32, g[1] as f32],
                fx as f32,
                fy as f32,
            );
            let j = Vector6::from_iterator(j.iter().map(|&x| f64::from(x)));
            let fd = Vector6::from_fn(|k, _| {
                let mut d = Vector6::zeros();
                d[k] = h;
                (residual(&d) - residual(&(-d))) / (2.0 * h)
            });
            let err = relative_error(&j, &fd);
            assert!(err < 1e-4, "relative error {err}: {j:?} vs {fd:?}");
        }
    }

    /// A wavy surface seen from two poses, to exercise the tracker's own
    /// residual code (`Problem::pixel`).
    fn wavy_pyramid(camera: &PinholeCamera, world_from_camera: &Isometry3<f64>) -> RgbdPyramid {
        let (w, h) = (camera.width as usize, camera.height as usize);
        let camera_from_world = world_from_camera.inverse();
        let mut depth = vec![0.0f32; w * h];
        let mut intensity = vec![0.0f32; w * h];
        for v in 0..h {
            for u in 0..w {
                // Ray-cast the surface z_w = 2 + 0.1 sin(2 x_w) cos(3 y_w) by
                // fixed-point iteration along the ray.
                let dir_c = Vector3::new(
                    (u as f64 - camera.cx) / camera.fx,
                    (v as f64 - camera.cy) / camera.fy,
                    1.0,
                );
                let origin = world_from_camera.translation.vector;
                let dir = world_from_camera.rotation * dir_c;
                let mut s = 2.0;
                for _ in 0..60 {
                    let p = origin + dir * s;
                    let z = 2.0 + 0.1 * (2.0 * p.x).sin() * (3.0 * p.y).cos();
                    s += (z - p.z) / dir.z;
                }
                let p = Point3::from(origin + dir * s);
                let pc = camera_from_world * p;
                depth[v * w + u] = pc.z as f32;
                intensity[v * w + u] = image(200.0 * p.x, 200.0 * p.y).0 as f32;
            }
        }
        RgbdPyramid::from_depth_intensity(
            camera,
            intensity,
            depth,
            &PyramidConfig {
                levels: 2,
                ..PyramidConfig::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn point_to_plane_jacobian_matches_finite_differences() {
        let camera = PinholeCamera::new(160, 120, 130.0, 130.0, 79.5, 59.5).unwrap();
        let mut rng = Rng::new(9);
        let world_from_reference = Isometry3::identity();
        let reference_from_current = exp_se3(&rng.twist(0.03, 0.03));
        let reference = wavy_pyramid(&camera, &world_from_reference);
        let current = wavy_pyramid(&camera, &reference_from_current);
        let config = OdometryConfig::default();
        let guess = reference_from_current * exp_se3(&rng.twist(0.005, 0.005));
        let problem = make_problem(&reference, &current, 0, &guess, 1, &config);
        let level = &reference.levels[0];
        let mut tested = 0;
        let h = 1e-6;
        for i in (0..level.vertices.len()).step_by(37) {
            let px = problem.pixel(i);
            let Some((r, j)) = px.point_to_plane else {
                continue;
            };
            // Recover the association the tracker used.
            let q = level.vertices[i].map(f64::from);
            let q = Point3::new(q[0], q[1], q[2]);
            let n = level.normals[i].map(f64::from);
            let n = Vector3::new(n[0], n[1], n[2]);
            let p = guess.inverse() * q;
            let u = camera.fx * p.x / p.z + camera.cx;
            let v = camera.fy * p.y / p.z + camera.cy;
            let k = (v + 0.5) as usize * 160 + (u + 0.5) as usize;
            let s = current.levels[0].vertices[k].map(f64::from);
            let s = Point3::new(s[0], s[1], s[2]);
            let residual = |delta: &Vector6<f64>| n.dot(&((guess * exp_se3(delta)) * s - q));
            assert!((residual(&Vector6::zeros()) - f64::from(r)).abs() < 1e-5);
            let j = Vector6::from_iterator(j.iter().map(|&x| f64::from(x)));
            let fd = Vector6::from_fn(|k, _| {
                let mut d = Vector6::zeros();
                d[k] = h;
                (residual(&d) - residual(&(-d))) / (2.0 * h)
            });
            let err = relative_error(&j, &fd);
            assert!(err < 1e-4, "relative error {err}: {j:?} vs {fd:?}");
            tested += 1;
        }
        assert!(tested > 50, "only {tested} associations");
    }

    #[test]
    fn photometric_residual_of_problem_matches_bilinear_finite_differences() {
        // The tracker's photometric Jacobian uses central-difference
        // gradients; on a smooth, densely sampled image it must agree with
        // FD of the tracker's own (bilinear) residual to within the
        // discretisation error.
        let camera = PinholeCamera::new(160, 120, 130.0, 130.0, 79.5, 59.5).unwrap();
        let mut rng = Rng::new(5);
        let reference_from_current = exp_se3(&rng.twist(0.02, 0.02));
        let reference = wavy_pyramid(&camera, &Isometry3::identity());
        let current = wavy_pyramid(&camera, &reference_from_current);
        let config = OdometryConfig::default();
        let h = 1e-4;
        let mut errors = Vec::new();
        for i in (0..160 * 120).step_by(53) {
            let base = make_problem(&reference, &current, 0, &reference_from_current, 1, &config);
            let Some((_, j)) = base.pixel(i).photometric else {
                continue;
            };
            let r_at = |d: &Vector6<f64>| {
                make_problem(
                    &reference,
                    &current,
                    0,
                    &(reference_from_current * exp_se3(d)),
                    1,
                    &config,
                )
                .pixel(i)
                .photometric
                .map(|(r, _)| f64::from(r))
            };
            let fd: Option<Vec<f64>> = (0..6)
                .map(|k| {
                    let mut d = Vector6::zeros();
                    d[k] = h;
                    Some((r_at(&d)? - r_at(&(-d))?) / (2.0 * h))
                })
                .collect();
            let Some(fd) = fd else { continue };
            let fd = Vector6::from_column_slice(&fd);
            let j = Vector6::from_iterator(j.iter().map(|&x| f64::from(x)));
            if fd.norm() > 1e-3 {
                errors.push(relative_error(&j, &fd));
            }
        }
        assert!(errors.len() > 50);
        errors.sort_by(f64::total_cmp);
        let median = errors[errors.len() / 2];
        let p90 = errors[errors.len() * 9 / 10];
        // Discretisation error of central differences vs the piecewise-linear
        // interpolant at ~0.15 rad/pixel texture frequency; a wrong sign,
        // axis or scale would give errors ≥ 1.
        assert!(median < 0.1 && p90 < 0.3, "median {median}, p90 {p90}");
    }
}
