//! Least-squares alignment of two point sets: Umeyama (1991) SE(3) / Sim(3).

use nalgebra::{Isometry3, Matrix3, Point3, Rotation3, Translation3, UnitQuaternion, Vector3, SVD};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which transform aligns the estimate to groundtruth before ATE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlignmentKind {
    /// No alignment (the estimate is already in the groundtruth frame).
    None,
    /// Rigid SE(3) (Horn 1987 / Umeyama 1991 without scale) — `evo_ape -a`.
    #[default]
    Se3,
    /// Similarity Sim(3) (Umeyama 1991 with scale) — `evo_ape -as`; for
    /// monocular estimates whose scale is unknown.
    Sim3,
}

/// A similarity transform taking estimate coordinates to groundtruth
/// coordinates: `p_gt = groundtruth_from_estimate * (scale * p_est)`, i.e.
/// `p_gt = scale * R * p_est + t`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Alignment {
    /// Rotation and translation part.
    pub groundtruth_from_estimate: Isometry3<f64>,
    /// Scale applied to estimate points before the isometry (1 for SE(3)).
    pub scale: f64,
}

impl Alignment {
    /// The identity (no alignment).
    pub fn identity() -> Self {
        Self {
            groundtruth_from_estimate: Isometry3::identity(),
            scale: 1.0,
        }
    }

    /// Maps an estimate point into the groundtruth frame.
    pub fn apply(&self, estimate_point: &Point3<f64>) -> Point3<f64> {
        self.groundtruth_from_estimate * Point3::from(estimate_point.coords * self.scale)
    }
}

/// Least-squares similarity (`with_scale`) or rigid transform mapping `src`
/// onto `dst`: minimises `Σ ||dst_i - (c R src_i + t)||²`.
///
/// Implements Umeyama, "Least-squares estimation of transformation parameters
/// between two point patterns", PAMI 1991: with means μ, variance
/// σ²_src = (1/n) Σ ||src_i - μ_src||² and covariance
/// Σ = (1/n) Σ (dst_i - μ_dst)(src_i - μ_src)ᵀ = U D Vᵀ (Eq. 38),
/// R = U S Vᵀ with S = diag(1, 1, -1) when det(U) det(V) < 0 (the reflection
/// fix, Eq. 39–43), c = tr(D S) / σ²_src (Eq. 42), t = μ_dst - c R μ_src
/// (Eq. 41). Without scale c = 1 (this is Horn's / Kabsch's rotation).
///
/// When the points are collinear the rotation about that line is not unique;
/// one least-squares solution is returned.
///
/// Errors ([`Error::InvalidArgument`]): fewer than 3 points, different
/// lengths, non-finite coordinates, or (with scale) all `src` points equal.
pub fn align_umeyama(
    src: &[Point3<f64>],
    dst: &[Point3<f64>],
    with_scale: bool,
) -> Result<Alignment> {
    if src.len() != dst.len() {
        return Err(Error::InvalidArgument(format!(
            "alignment: {} source points but {} destination points",
            src.len(),
            dst.len()
        )));
    }
    if src.len() < 3 {
        return Err(Error::InvalidArgument(format!(
            "alignment needs at least 3 point pairs, got {}",
            src.len()
        )));
    }
    if let Some(i) = (0..src.len()).find(|&i| {
        !(src[i].coords.iter().all(|v| v.is_finite())
            && dst[i].coords.iter().all(|v| v.is_finite()))
    }) {
        return Err(Error::InvalidArgument(format!(
            "alignment: point pair {i} is not finite"
        )));
    }
    let n = src.len() as f64;
    let mean_src = src.iter().fold(Vector3::zeros(), |acc, p| acc + p.coords) / n;
    let mean_dst = dst.iter().fold(Vector3::zeros(), |acc, p| acc + p.coords) / n;
    let mut covariance = Matrix3::zeros();
    let mut variance_src = 0.0;
    for (s, d) in src.iter().zip(dst) {
        let s0 = s.coords - mean_src;
        let d0 = d.coords - mean_dst;
        covariance += d0 * s0.transpose();
        variance_src += s0.norm_squared();
    }
    covariance /= n;
    variance_src /= n;
    if with_scale && variance_src <= f64::MIN_POSITIVE {
        return Err(Error::InvalidArgument(
            "Sim(3) alignment: all source points coincide, scale undefined".into(),
        ));
    }

    let svd = SVD::try_new_unordered(covariance, true, true, 1e-15, 1000);
    let (u, v_t, d) = match svd {
        Some(SVD {
            u: Some(u),
            v_t: Some(v_t),
            singular_values,
        }) => (u, v_t, singular_values),
        _ => {
            return Err(Error::InvalidArgument(
                "alignment: SVD of the cross-covariance did not converge".into(),
            ))
        }
    };
    // Reflection fix (Umeyama Eq. 43): flip the axis of the smallest singular value.
    let mut s = Vector3::repeat(1.0);
    if u.determinant() * v_t.determinant() < 0.0 {
        s[d.imin()] = -1.0;
    }
    let rotation_matrix = u * Matrix3::from_diagonal(&s) * v_t;
    let scale = if with_scale {
        d.dot(&s) / variance_src
    } else {
        1.0
    };
    let rotation =
        UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(rotation_matrix));
    let translation = mean_dst - rotation * mean_src * scale;
    Ok(Alignment {
        groundtruth_from_estimate: Isometry3::from_parts(Translation3::from(translation), rotation),
        scale,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::test_util::SplitMix64;
    use approx::assert_relative_eq;
    use proptest::prelude::*;

    fn cost(a: &Alignment, src: &[Point3<f64>], dst: &[Point3<f64>]) -> f64 {
        src.iter()
            .zip(dst)
            .map(|(s, d)| (a.apply(s) - d).norm_squared())
            .sum()
    }

    #[test]
    fn recovers_known_sim3_exactly() {
        let mut rng = SplitMix64(42);
        for _ in 0..20 {
            let dst_from_src = rng.isometry(5.0);
            let scale = 0.2 + 3.0 * rng.uniform();
            let src: Vec<Point3<f64>> = (0..30).map(|_| Point3::from(rng.gauss3(2.0))).collect();
            let dst: Vec<Point3<f64>> = src
                .iter()
                .map(|p| dst_from_src * Point3::from(p.coords * scale))
                .collect();
            let a = align_umeyama(&src, &dst, true).unwrap();
            assert_relative_eq!(a.scale, scale, max_relative = 1e-12);
            assert_relative_eq!(
                a.groundtruth_from_estimate.to_homogeneous(),
                dst_from_src.to_homogeneous(),
                epsilon = 1e-10
            );
            let rigid = align_umeyama(&src, &dst, false).unwrap();
            assert_eq!(rigid.scale, 1.0);
            assert_relative_eq!(
                rigid
                    .groundtruth_from_estimate
                    .rotation
                    .angle_to(&dst_from_src.rotation),
                0.0,
                epsilon = 1e-10
            );
        }
    }

    #[test]
    fn never_returns_a_reflection() {
        // dst is a mirror image of src: the best proper rotation is not the mirror.
        let src: Vec<Point3<f64>> = [
            [1.0, 0.0, 0.0],
            [0.0, 2.0, 0.0],
            [0.0, 0.0, 3.0],
            [1.0, 1.0, 1.0],
        ]
        .iter()
        .map(|p| Point3::new(p[0], p[1], p[2]))
        .collect();
        let dst: Vec<Point3<f64>> = src.iter().map(|p| Point3::new(-p.x, p.y, p.z)).collect();
        for with_scale in [false, true] {
            let a = align_umeyama(&src, &dst, with_scale).unwrap();
            let r = a.groundtruth_from_estimate.rotation.to_rotation_matrix();
            assert_relative_eq!(r.matrix().determinant(), 1.0, epsilon = 1e-12);
            assert!(a.scale > 0.0);
        }
    }

    #[test]
    fn rejects_bad_input() {
        let p = Point3::new(1.0, 2.0, 3.0);
        assert!(align_umeyama(&[p, p], &[p, p], false).is_err());
        assert!(align_umeyama(&[p, p, p], &[p, p], false).is_err());
        assert!(align_umeyama(&[p, p, p], &[p, p, p], true).is_err());
        let nan = Point3::new(f64::NAN, 0.0, 0.0);
        assert!(align_umeyama(&[p, p, nan], &[p, p, p], false).is_err());
        // Rigid alignment of coincident points is fine (pure translation).
        let q = Point3::new(0.0, 0.0, 1.0);
        let a = align_umeyama(&[p, p, p], &[q, q, q], false).unwrap();
        assert_relative_eq!(a.apply(&p), q, epsilon = 1e-12);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The least-squares optimum is never worse than not aligning at all.
        #[test]
        fn never_worse_than_identity(seed in any::<u64>(), n in 3usize..40, noise in 0.0f64..2.0) {
            let mut rng = SplitMix64(seed);
            let dst_from_src = rng.isometry(3.0);
            let src: Vec<Point3<f64>> = (0..n).map(|_| Point3::from(rng.gauss3(1.0))).collect();
            let dst: Vec<Point3<f64>> = src
                .iter()
                .map(|p| dst_from_src * p + rng.gauss3(noise))
                .collect();
            let identity = cost(&Alignment::identity(), &src, &dst);
            for with_scale in [false, true] {
                let a = align_umeyama(&src, &dst, with_scale).unwrap();
                prop_assert!(cost(&a, &src, &dst) <= identity * (1.0 + 1e-12) + 1e-12);
            }
            // Sim(3) has one more degree of freedom than SE(3).
            let se3 = cost(&align_umeyama(&src, &dst, false).unwrap(), &src, &dst);
            let sim3 = cost(&align_umeyama(&src, &dst, true).unwrap(), &src, &dst);
            prop_assert!(sim3 <= se3 * (1.0 + 1e-12) + 1e-12);
        }
    }
}
