//! Online self-calibration of the accelerometer's mounting rotation
//! `camera_from_accel` from the visual odometry's own orientations.
//!
//! At low dynamics an accelerometer measures the specific force
//! `f ≈ accel_from_camera · camera_from_world(t) · u · |g|`, with `u` the
//! world's unit "up" vector (see [`crate::imu::gravity`]). Given camera
//! orientations `world_from_camera(t)` (any world frame, e.g. the first
//! camera's) and unit specific-force directions `f̂(t)`, we solve
//!
//! ```text
//! min over R ∈ SO(3), u ∈ S²   Σ_t ρ( ‖ world_from_camera(t) · R · f̂(t) − u ‖² )
//! ```
//!
//! for `R = camera_from_accel` and `u` with a Huber kernel `ρ`. This is the
//! gravity form of the hand–eye calibration problem `AX = XB` (Tsai & Lenz,
//! IEEE T-RA 1989; the accelerometer/vision variant is Lobo & Dias,
//! "Relative Pose Calibration Between Visual and Inertial Sensors", IJRR
//! 2007, which observes the vertical in both sensors). We run Gauss–Newton on
//! SO(3) × S² (left perturbation `R ← Exp(φ) R` in the camera frame,
//! `u ← normalize(u + B ψ)` with `B` a tangent basis of `u`), starting from a
//! documented convention such as [`crate::imu::kinect`]. Residuals are
//! chordal distances, i.e. angles in radians for small errors.
//!
//! **Observability.** Rotations of the camera about one axis `a` alone leave
//! a one-parameter family of solutions (`R' = Exp(θ a_c) R`, `u' = Exp(θ a) u`);
//! with no rotation three directions are free. The smallest eigenvalue of the
//! rotation block of the normalised information matrix after eliminating the
//! up vector(s) (Schur complement, 3 × 3, divided by Σw) measures the
//! excitation; its square root, in degrees, is roughly the spread of the
//! rotations in the weakest direction. Below [`MountCalibrationOptions::min_excitation_deg`]
//! the estimator returns [`MountCalibrationError::Unobservable`] instead of
//! an answer.
//!
//! **Drifting orientations.** Visual odometry drifts in tilt (frame-to-frame
//! dense odometry on TUM fr1_rpy: ≈13° median over 24 s). With
//! [`MountCalibrationOptions::up_segment_s`] each time segment gets its own
//! `u_k` (eliminated by a Schur complement), so only the rotation within a
//! segment constrains `R`; the segment length trades drift against
//! excitation and the result is sensitive to it (see `tests/imu_tum_calibration.rs`).
//!
//! **What it cannot fix.** An error that is constant in the *camera* frame
//! (chip mounting) is recovered; an error constant in the *world* frame (a
//! tilted reference world) is absorbed into `u`, which is the point: `u` is
//! the true vertical of whatever world the orientations live in.

use nalgebra::{Matrix3, Matrix3x2, Rotation3, Unit, Vector2, Vector3};
use thiserror::Error;

use crate::geometry::StampedPose;
use crate::imu::so3;
use crate::sensor::{ImuSample, Timestamp};

/// Why the mounting rotation could not be estimated.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum MountCalibrationError {
    /// Inputs not usable (unsorted timestamps, non-finite values, bad options).
    #[error("mount calibration: {0}")]
    InvalidInput(String),
    /// Too few low-dynamics observations survived the gates.
    #[error("mount calibration: {used} low-dynamics observations, at least {required} needed")]
    TooFewObservations {
        /// Observations that passed the gates.
        used: usize,
        /// [`MountCalibrationOptions::min_observations`].
        required: usize,
    },
    /// The orientations do not excite all directions of `camera_from_accel`
    /// (e.g. rotation about one axis only).
    #[error(
        "mount calibration: unobservable, excitation {excitation_deg:.3}° < {required_deg}° \
         (weakest rotation axis in the camera frame {weakest_axis_camera:?}); rotate about at least two axes"
    )]
    Unobservable {
        /// √λ_min of the normalised reduced information matrix, degrees.
        excitation_deg: f64,
        /// [`MountCalibrationOptions::min_excitation_deg`].
        required_deg: f64,
        /// Rotation part of the weakest eigenvector (camera frame, unit).
        weakest_axis_camera: [f64; 3],
    },
}

impl From<MountCalibrationError> for crate::Error {
    fn from(error: MountCalibrationError) -> Self {
        crate::Error::InvalidArgument(error.to_string())
    }
}

/// Gates and solver settings of [`calibrate_mount_rotation`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MountCalibrationOptions {
    /// Gravity magnitude, m/s².
    pub gravity_m_s2: f64,
    /// Accelerometer samples within ±half this window around a camera time
    /// are averaged into one observation (low-pass + interpolation), s.
    pub accel_window_s: f64,
    /// Fewest accelerometer samples in a window.
    pub min_window_samples: usize,
    /// Largest `||mean f| − g|` of a window, m/s².
    pub max_gravity_deviation_m_s2: f64,
    /// Largest accelerometer standard deviation in a window (root of the
    /// summed per-axis variances), m/s².
    pub max_accel_std_m_s2: f64,
    /// Largest camera angular rate (from neighbouring orientations), rad/s.
    pub max_angular_rate_rad_s: f64,
    /// Huber threshold on the residual angle, degrees.
    pub huber_threshold_deg: f64,
    /// Gauss–Newton iterations at most.
    pub max_iterations: usize,
    /// Fewest observations accepted.
    pub min_observations: usize,
    /// Smallest accepted excitation (see module docs), degrees.
    pub min_excitation_deg: f64,
    /// `Some(T)`: a separate world up per `T`-second segment, which absorbs
    /// a slow tilt drift of visual-odometry orientations (the mounting
    /// rotation stays one constant); `None`: one world up.
    pub up_segment_s: Option<f64>,
}

impl Default for MountCalibrationOptions {
    /// Gates for a hand-held RGB-D camera with a noisy MEMS accelerometer
    /// (Kinect v1: ~1 m/s² per-sample noise at 500 Hz).
    fn default() -> Self {
        Self {
            gravity_m_s2: crate::imu::config::STANDARD_GRAVITY_M_S2,
            accel_window_s: 0.1,
            min_window_samples: 5,
            max_gravity_deviation_m_s2: 0.5,
            max_accel_std_m_s2: 1.0,
            max_angular_rate_rad_s: 1.0,
            huber_threshold_deg: 2.0,
            max_iterations: 30,
            min_observations: 20,
            min_excitation_deg: 3.0,
            up_segment_s: None,
        }
    }
}

/// One low-dynamics observation: a camera orientation and the mean specific
/// force direction measured around the same time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GravityObservation {
    /// Camera time.
    pub timestamp: Timestamp,
    /// Camera orientation in the world.
    pub world_from_camera: Rotation3<f64>,
    /// Unit specific-force direction in the accelerometer frame (points up
    /// at rest).
    pub up_accel: Unit<Vector3<f64>>,
}

/// World up of one time segment (see [`MountCalibrationOptions::up_segment_s`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpSegment {
    /// Start of the segment.
    pub start: Timestamp,
    /// Unit "up" in the orientations' world during the segment.
    pub up_world: Unit<Vector3<f64>>,
}

/// Result of [`calibrate_mount_rotation`].
#[derive(Clone, Debug, PartialEq)]
pub struct MountCalibration {
    /// Estimated rotation from the accelerometer frame to the camera frame.
    pub camera_from_accel: Rotation3<f64>,
    /// Estimated unit "up" (opposite to gravity) in the orientations'
    /// world, one per segment (one in total without
    /// [`MountCalibrationOptions::up_segment_s`]), time-sorted.
    pub up_segments: Vec<UpSegment>,
    /// Observations used.
    pub observations_used: usize,
    /// Camera times rejected by the low-dynamics gates.
    pub observations_rejected: usize,
    /// Median residual angle, degrees.
    pub residual_median_deg: f64,
    /// RMS residual angle, degrees.
    pub residual_rms_deg: f64,
    /// 90th-percentile residual angle, degrees.
    pub residual_p90_deg: f64,
    /// √λ_min of the normalised reduced information matrix, degrees.
    pub excitation_deg: f64,
    /// Angle between the estimate and the initial `camera_from_accel`, degrees.
    pub correction_deg: f64,
    /// Gauss–Newton iterations run.
    pub iterations: usize,
}

impl MountCalibration {
    /// World up at `timestamp`: the segment holding it (the first or last
    /// segment outside their span).
    pub fn up_world_at(&self, timestamp: Timestamp) -> Unit<Vector3<f64>> {
        let k = self.up_segments.partition_point(|s| s.start <= timestamp);
        self.up_segments
            .get(k.saturating_sub(1))
            .map_or(Vector3::z_axis(), |s| s.up_world)
    }

    /// Gravity vector in the world at `timestamp`, m/s² (`−u · g`).
    pub fn gravity_world_m_s2(&self, timestamp: Timestamp, gravity_m_s2: f64) -> Vector3<f64> {
        -self.up_world_at(timestamp).into_inner() * gravity_m_s2
    }

    /// Unit "up" in the camera frame given the camera's orientation at
    /// `timestamp`.
    pub fn up_in_camera(
        &self,
        timestamp: Timestamp,
        world_from_camera: &Rotation3<f64>,
    ) -> Unit<Vector3<f64>> {
        Unit::new_normalize(world_from_camera.inverse() * self.up_world_at(timestamp).into_inner())
    }

    /// A specific-force measurement mapped into the camera frame with the
    /// calibrated rotation.
    pub fn accel_in_camera(&self, accel_m_s2: &Vector3<f64>) -> Vector3<f64> {
        self.camera_from_accel * accel_m_s2
    }
}

/// Builds low-dynamics observations: for every pose, the accelerometer
/// samples within ±`accel_window_s / 2` are averaged; the pose is kept when
/// the window has enough samples, a small spread, a magnitude close to `g`
/// and the camera turns slower than `max_angular_rate_rad_s` (rate from the
/// neighbouring poses; a pose without neighbours is not rate-gated).
/// Returns the observations and the number of rejected poses.
pub fn low_dynamics_observations(
    trajectory: &[StampedPose],
    samples: &[ImuSample],
    options: &MountCalibrationOptions,
) -> Result<(Vec<GravityObservation>, usize), MountCalibrationError> {
    validate(options)?;
    check_sorted(trajectory.iter().map(|p| p.timestamp), "poses")?;
    check_sorted(samples.iter().map(|s| s.timestamp), "accelerometer samples")?;
    let accel: Vec<(Timestamp, Vector3<f64>)> = samples
        .iter()
        .filter_map(|s| s.accel_m_s2.map(|a| (s.timestamp, a)))
        .filter(|(_, a)| a.iter().all(|v| v.is_finite()))
        .collect();
    let half_ns = (options.accel_window_s * 0.5 * 1e9).round() as i64;
    let mut observations = Vec::new();
    let mut rejected = 0;
    for (k, pose) in trajectory.iter().enumerate() {
        let t = pose.timestamp;
        let lo = accel.partition_point(|(s, _)| s.0 < t.0 - half_ns);
        let hi = accel.partition_point(|(s, _)| s.0 <= t.0 + half_ns);
        let window = &accel[lo..hi];
        let rate = angular_rate_rad_s(trajectory, k);
        let keep = window.len() >= options.min_window_samples
            && rate.is_none_or(|r| r <= options.max_angular_rate_rad_s);
        let mean = window.iter().map(|(_, a)| a).sum::<Vector3<f64>>() / window.len().max(1) as f64;
        let variance = window
            .iter()
            .map(|(_, a)| (a - mean).norm_squared())
            .sum::<f64>()
            / window.len().max(1) as f64;
        if !keep
            || variance.sqrt() > options.max_accel_std_m_s2
            || (mean.norm() - options.gravity_m_s2).abs() > options.max_gravity_deviation_m_s2
        {
            rejected += 1;
            continue;
        }
        observations.push(GravityObservation {
            timestamp: t,
            world_from_camera: pose.world_from_camera.rotation.to_rotation_matrix(),
            up_accel: Unit::new_normalize(mean),
        });
    }
    Ok((observations, rejected))
}

/// Estimates `camera_from_accel` and the world's up vector from a camera
/// trajectory and accelerometer samples (see the module docs), starting from
/// `initial_camera_from_accel` (e.g. [`crate::imu::kinect::camera_from_kinect_accel`]).
pub fn calibrate_mount_rotation(
    trajectory: &[StampedPose],
    samples: &[ImuSample],
    initial_camera_from_accel: &Rotation3<f64>,
    options: &MountCalibrationOptions,
) -> Result<MountCalibration, MountCalibrationError> {
    let (observations, rejected) = low_dynamics_observations(trajectory, samples, options)?;
    let mut calibration =
        calibrate_from_observations(&observations, initial_camera_from_accel, options)?;
    calibration.observations_rejected = rejected;
    Ok(calibration)
}

/// Gauss–Newton on SO(3) × (S²)ᴷ over prepared observations (see the module
/// docs), one world up per [`MountCalibrationOptions::up_segment_s`] segment.
/// `observations_rejected` of the result is 0.
pub fn calibrate_from_observations(
    observations: &[GravityObservation],
    initial_camera_from_accel: &Rotation3<f64>,
    options: &MountCalibrationOptions,
) -> Result<MountCalibration, MountCalibrationError> {
    validate(options)?;
    if observations.len() < options.min_observations {
        return Err(MountCalibrationError::TooFewObservations {
            used: observations.len(),
            required: options.min_observations,
        });
    }
    check_sorted(observations.iter().map(|o| o.timestamp), "observations")?;
    // Segment of every observation (time-sorted, so indices are monotonic).
    let first = observations[0].timestamp;
    let segment_of = |t: Timestamp| match options.up_segment_s {
        Some(length_s) => (t.secs_since(first) / length_s).floor().max(0.0) as usize,
        None => 0,
    };
    let segment_count = observations
        .last()
        .map_or(1, |o| segment_of(o.timestamp) + 1);
    let mut camera_from_accel = *initial_camera_from_accel;
    let mut sums = vec![Vector3::zeros(); segment_count];
    for o in observations {
        sums[segment_of(o.timestamp)] +=
            o.world_from_camera * camera_from_accel * o.up_accel.into_inner();
    }
    if sums.iter().any(|s| !s.iter().all(|v| v.is_finite())) {
        return Err(MountCalibrationError::InvalidInput(
            "observed up directions are not finite".into(),
        ));
    }
    // A segment without observations keeps +z; it is never used.
    let mut ups: Vec<Unit<Vector3<f64>>> = sums
        .iter()
        .map(|s| Unit::try_new(*s, 1e-9).unwrap_or(Vector3::z_axis()))
        .collect();
    let huber = options.huber_threshold_deg.to_radians();
    let mut iterations = 0;
    let mut reduced = Matrix3::zeros();
    let mut weight_sum = 0.0;
    while iterations < options.max_iterations {
        iterations += 1;
        // Normal equations with the block structure [φ | ψ_1 … ψ_K]; the
        // ψ_k blocks are eliminated by the Schur complement.
        let bases: Vec<Matrix3x2<f64>> = ups.iter().map(tangent_basis).collect();
        let mut h_rr = Matrix3::zeros();
        let mut g_r = Vector3::zeros();
        let mut h_rk = vec![Matrix3x2::zeros(); segment_count];
        let mut h_kk = vec![0.0; segment_count]; // H_kk = (Σw) I₂ since BᵀB = I₂
        let mut g_k = vec![Vector2::zeros(); segment_count];
        weight_sum = 0.0;
        for o in observations {
            let k = segment_of(o.timestamp);
            let up_camera = camera_from_accel * o.up_accel.into_inner();
            let residual = o.world_from_camera * up_camera - ups[k].into_inner();
            let norm = residual.norm();
            // IRLS weight of the Huber kernel.
            let weight = if norm <= huber { 1.0 } else { huber / norm };
            // r ≈ r₀ + J_φ φ + J_ψ ψ with J_φ = −R_wc [R f̂]ₓ, J_ψ = −B_k.
            let j_phi = -(o.world_from_camera.matrix() * so3::hat(&up_camera));
            let j_psi = -bases[k];
            h_rr += j_phi.transpose() * j_phi * weight;
            g_r += j_phi.transpose() * residual * weight;
            h_rk[k] += j_phi.transpose() * j_psi * weight;
            h_kk[k] += weight;
            g_k[k] += j_psi.transpose() * residual * weight;
            weight_sum += weight;
        }
        reduced = h_rr;
        let mut reduced_gradient = g_r;
        for k in 0..segment_count {
            if h_kk[k] > 0.0 {
                reduced -= h_rk[k] * h_rk[k].transpose() / h_kk[k];
                reduced_gradient -= h_rk[k] * g_k[k] / h_kk[k];
            }
        }
        // Damped only enough to survive a degenerate problem; the
        // observability check below runs on the undamped matrix.
        let damped = reduced + Matrix3::identity() * (1e-12 * weight_sum);
        let Some(phi) = damped.cholesky().map(|c| c.solve(&-reduced_gradient)) else {
            break;
        };
        camera_from_accel = so3::exp(&phi) * camera_from_accel;
        let mut step_norm = phi.norm_squared();
        for k in 0..segment_count {
            if h_kk[k] > 0.0 {
                let psi = -(g_k[k] + h_rk[k].transpose() * phi) / h_kk[k];
                ups[k] = Unit::new_normalize(ups[k].into_inner() + bases[k] * psi);
                step_norm += psi.norm_squared();
            }
        }
        if step_norm.sqrt() < 1e-10 {
            break;
        }
    }
    let eigen = (reduced / weight_sum.max(f64::MIN_POSITIVE)).symmetric_eigen();
    let (min_index, min_value) =
        eigen
            .eigenvalues
            .iter()
            .enumerate()
            .fold(
                (0, f64::INFINITY),
                |best, (i, &v)| {
                    if v < best.1 {
                        (i, v)
                    } else {
                        best
                    }
                },
            );
    let excitation_deg = min_value.max(0.0).sqrt().to_degrees();
    if excitation_deg.is_nan() || excitation_deg < options.min_excitation_deg {
        let axis = eigen.eigenvectors.column(min_index).into_owned();
        return Err(MountCalibrationError::Unobservable {
            excitation_deg,
            required_deg: options.min_excitation_deg,
            weakest_axis_camera: [axis.x, axis.y, axis.z],
        });
    }
    let mut angles: Vec<f64> = observations
        .iter()
        .map(|o| {
            (o.world_from_camera * camera_from_accel * o.up_accel.into_inner())
                .angle(&ups[segment_of(o.timestamp)])
                .to_degrees()
        })
        .collect();
    angles.sort_by(f64::total_cmp);
    let n = angles.len();
    let up_segments = ups
        .iter()
        .enumerate()
        .map(|(k, up)| UpSegment {
            start: match options.up_segment_s {
                Some(length_s) => Timestamp(first.0 + (k as f64 * length_s * 1e9).round() as i64),
                None => first,
            },
            up_world: *up,
        })
        .collect();
    Ok(MountCalibration {
        camera_from_accel,
        up_segments,
        observations_used: n,
        observations_rejected: 0,
        residual_median_deg: angles[n / 2],
        residual_rms_deg: (angles.iter().map(|a| a * a).sum::<f64>() / n as f64).sqrt(),
        residual_p90_deg: angles[(n * 9 / 10).min(n - 1)],
        excitation_deg,
        correction_deg: so3::log(&(camera_from_accel * initial_camera_from_accel.inverse()))
            .norm()
            .to_degrees(),
        iterations,
    })
}

/// Angular rate at pose `k` from its neighbours, rad/s (`None` without one).
fn angular_rate_rad_s(trajectory: &[StampedPose], k: usize) -> Option<f64> {
    let a = &trajectory[k.saturating_sub(1)];
    let b = &trajectory[(k + 1).min(trajectory.len() - 1)];
    let dt_s = b.timestamp.secs_since(a.timestamp);
    (dt_s > 0.0).then(|| {
        a.world_from_camera
            .rotation
            .angle_to(&b.world_from_camera.rotation)
            / dt_s
    })
}

/// Orthonormal 3 × 2 basis of the plane orthogonal to `u`.
fn tangent_basis(u: &Unit<Vector3<f64>>) -> Matrix3x2<f64> {
    let helper = if u.x.abs() < 0.9 {
        Vector3::x()
    } else {
        Vector3::y()
    };
    let b1 = u.cross(&helper).normalize();
    let b2 = u.cross(&b1);
    Matrix3x2::from_columns(&[b1, b2])
}

fn check_sorted(
    times: impl Iterator<Item = Timestamp>,
    what: &str,
) -> Result<(), MountCalibrationError> {
    let mut previous: Option<Timestamp> = None;
    for (k, t) in times.enumerate() {
        if previous.is_some_and(|p| t < p) {
            return Err(MountCalibrationError::InvalidInput(format!(
                "{what} not time-sorted at index {k} ({t})"
            )));
        }
        previous = Some(t);
    }
    Ok(())
}

fn validate(options: &MountCalibrationOptions) -> Result<(), MountCalibrationError> {
    let positive = [
        ("gravity_m_s2", options.gravity_m_s2),
        ("accel_window_s", options.accel_window_s),
        (
            "max_gravity_deviation_m_s2",
            options.max_gravity_deviation_m_s2,
        ),
        ("max_accel_std_m_s2", options.max_accel_std_m_s2),
        ("max_angular_rate_rad_s", options.max_angular_rate_rad_s),
        ("huber_threshold_deg", options.huber_threshold_deg),
    ];
    for (name, value) in positive {
        if !(value.is_finite() && value > 0.0) {
            return Err(MountCalibrationError::InvalidInput(format!(
                "option {name} = {value} must be finite and > 0"
            )));
        }
    }
    if options
        .up_segment_s
        .is_some_and(|t| !(t.is_finite() && t > 0.0))
    {
        return Err(MountCalibrationError::InvalidInput(format!(
            "option up_segment_s = {:?} must be finite and > 0",
            options.up_segment_s
        )));
    }
    if options.min_observations < 3
        || options.min_excitation_deg.is_nan()
        || options.min_excitation_deg < 0.0
    {
        return Err(MountCalibrationError::InvalidInput(format!(
            "min_observations {} must be >= 3 and min_excitation_deg {} >= 0",
            options.min_observations, options.min_excitation_deg
        )));
    }
    Ok(())
}

#[cfg(test)]
#[path = "mount_calibration_tests.rs"]
mod tests;
