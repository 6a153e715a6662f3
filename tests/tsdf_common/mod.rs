//! Analytic scenes for the TSDF tests: a sphere and an axis-aligned box,
//! rendered into exact depth images from known poses.
#![allow(dead_code)]

use nalgebra::{Isometry3, Matrix3, Point3, Rotation3, Translation3, UnitQuaternion, Vector3};
use scenemap::{PinholeCamera, RgbdFrame, Timestamp};

/// A solid in the scene.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// Centre and radius, metres.
    Sphere(Point3<f64>, f64),
    /// Centre and half extents, metres (axis-aligned).
    Box(Point3<f64>, Vector3<f64>),
    /// The inside of a sphere (a background that every ray hits, so free
    /// space is carved around the objects as in a real room).
    Room(Point3<f64>, f64),
}

impl Shape {
    /// Exact signed distance (negative inside).
    pub fn sdf(&self, p: &Point3<f64>) -> f64 {
        match *self {
            Shape::Sphere(c, r) => (p - c).norm() - r,
            Shape::Box(c, h) => {
                let q = (p - c).abs() - h;
                let outside = Vector3::new(q.x.max(0.0), q.y.max(0.0), q.z.max(0.0)).norm();
                outside + q.x.max(q.y).max(q.z).min(0.0)
            }
            Shape::Room(c, r) => r - (p - c).norm(),
        }
    }

    /// Nearest positive ray parameter of `origin + t dir`.
    pub fn intersect(&self, origin: &Point3<f64>, dir: &Vector3<f64>) -> Option<f64> {
        match *self {
            Shape::Sphere(c, r) => {
                let oc = origin - c;
                let a = dir.norm_squared();
                let b = oc.dot(dir);
                let disc = b * b - a * (oc.norm_squared() - r * r);
                if disc < 0.0 {
                    return None;
                }
                let t = (-b - disc.sqrt()) / a;
                (t > 0.0).then_some(t)
            }
            Shape::Box(c, h) => {
                let (mut t0, mut t1) = (f64::NEG_INFINITY, f64::INFINITY);
                for k in 0..3 {
                    let lo = c[k] - h[k] - origin[k];
                    let hi = c[k] + h[k] - origin[k];
                    if dir[k].abs() < 1e-15 {
                        if lo > 0.0 || hi < 0.0 {
                            return None;
                        }
                        continue;
                    }
                    let (a, b) = (lo / dir[k], hi / dir[k]);
                    t0 = t0.max(a.min(b));
                    t1 = t1.min(a.max(b));
                }
                (t0 <= t1 && t0 > 0.0).then_some(t0)
            }
            Shape::Room(c, r) => {
                let oc = origin - c;
                let a = dir.norm_squared();
                let b = oc.dot(dir);
                let disc = b * b - a * (oc.norm_squared() - r * r);
                (disc >= 0.0)
                    .then(|| (-b + disc.sqrt()) / a)
                    .filter(|&t| t > 0.0)
            }
        }
    }

    /// A colour that varies over the surface.
    pub fn color(&self, p: &Point3<f64>) -> [u8; 3] {
        let f = |v: f64| ((v * 4.0).sin() * 100.0 + 128.0) as u8;
        match self {
            Shape::Sphere(..) => [200, f(p.z), f(p.x)],
            Shape::Box(..) => [f(p.y), 60, 220],
            Shape::Room(..) => [f(p.x), f(p.y), 90],
        }
    }
}

/// Signed distance of a scene (union of shapes).
pub fn scene_sdf(shapes: &[Shape], p: &Point3<f64>) -> f64 {
    shapes
        .iter()
        .map(|s| s.sdf(p))
        .fold(f64::INFINITY, f64::min)
}

/// A small undistorted camera (fast in debug builds).
pub fn small_camera(width: u32, height: u32) -> PinholeCamera {
    let f = 0.8 * f64::from(width);
    PinholeCamera::new(
        width,
        height,
        f,
        f,
        0.5 * f64::from(width) - 0.5,
        0.5 * f64::from(height) - 0.5,
    )
    .unwrap()
}

/// `world_from_camera` of a camera at `eye` looking at `target` (camera z
/// forward, y down, world z up).
pub fn look_at(eye: Point3<f64>, target: Point3<f64>) -> Isometry3<f64> {
    let z = (target - eye).normalize();
    let up = if z.z.abs() > 0.99 {
        Vector3::y()
    } else {
        Vector3::z()
    };
    let x = z.cross(&up).normalize();
    let y = z.cross(&x);
    let rotation = Rotation3::from_matrix_unchecked(Matrix3::from_columns(&[x, y, z]));
    Isometry3::from_parts(
        Translation3::from(eye.coords),
        UnitQuaternion::from_rotation_matrix(&rotation),
    )
}

/// `n` views on a Fibonacci sphere of radius `distance_m` around `target`.
pub fn views_around(target: Point3<f64>, distance_m: f64, n: usize) -> Vec<Isometry3<f64>> {
    let golden = std::f64::consts::PI * (3.0 - 5.0_f64.sqrt());
    (0..n)
        .map(|i| {
            let z = 1.0 - 2.0 * (i as f64 + 0.5) / n as f64;
            let r = (1.0 - z * z).sqrt();
            let phi = golden * i as f64;
            let eye = target + Vector3::new(r * phi.cos(), r * phi.sin(), z) * distance_m;
            look_at(eye, target)
        })
        .collect()
}

/// Renders exact depth (along the optical axis) and colour; misses get 0.
pub fn render(
    shapes: &[Shape],
    camera: &PinholeCamera,
    world_from_camera: &Isometry3<f64>,
) -> RgbdFrame {
    let (w, h) = (camera.width, camera.height);
    let mut depth = vec![0.0_f32; (w * h) as usize];
    let mut color = vec![[0_u8; 3]; (w * h) as usize];
    let origin = Point3::from(world_from_camera.translation.vector);
    for v in 0..h {
        for u in 0..w {
            let xy = camera
                .pixel_to_normalized(nalgebra::Point2::new(f64::from(u), f64::from(v)))
                .unwrap();
            // Direction per unit of camera z, so t is the depth.
            let dir = world_from_camera.rotation * Vector3::new(xy.x, xy.y, 1.0);
            let mut best: Option<(f64, &Shape)> = None;
            for s in shapes {
                if let Some(t) = s.intersect(&origin, &dir) {
                    if best.is_none_or(|(b, _)| t < b) {
                        best = Some((t, s));
                    }
                }
            }
            if let Some((t, s)) = best {
                let i = (v * w + u) as usize;
                depth[i] = t as f32;
                color[i] = s.color(&(origin + dir * t));
            }
        }
    }
    RgbdFrame::new(Timestamp(0), w, h, color, depth).unwrap()
}
