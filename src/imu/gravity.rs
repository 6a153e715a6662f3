//! Gravity direction from a static start, and an accelerometer(+gyro)
//! roll/pitch tracker used to level the map.
//!
//! At rest an accelerometer measures the specific force `f = Rᵀ(a - g) = -Rᵀ g`
//! (the accelerometer model `ã = Rᵀ(a - g) + b_a + η_a` with `a = 0`): it points *up*. Gravity in the IMU frame is
//! therefore `-f / |f|` times 9.81 m/s².

use nalgebra::{Rotation3, Unit, Vector3};

use crate::error::{Error, Result};
use crate::imu::so3;
use crate::sensor::{ImuSample, Timestamp};

/// Thresholds for detecting a static (or slow) stretch of IMU data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StaticDetector {
    /// Window length, s.
    pub window_s: f64,
    /// Largest accepted accelerometer standard deviation (root of the summed
    /// per-axis variances), m/s².
    pub max_accel_std_m_s2: f64,
    /// Largest accepted |gyro| inside the window, rad/s (ignored for
    /// accelerometer-only samples).
    pub max_gyro_rad_s: f64,
    /// Largest accepted deviation of |mean accel| from gravity, m/s².
    pub max_gravity_deviation_m_s2: f64,
    /// Gravity magnitude, m/s².
    pub gravity_m_s2: f64,
}

impl Default for StaticDetector {
    fn default() -> Self {
        Self {
            window_s: 1.0,
            max_accel_std_m_s2: 0.3,
            max_gyro_rad_s: 0.1,
            max_gravity_deviation_m_s2: 1.0,
            gravity_m_s2: crate::imu::config::STANDARD_GRAVITY_M_S2,
        }
    }
}

/// A static stretch found by [`StaticDetector::find_first`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StaticWindow {
    /// First sample time.
    pub start: Timestamp,
    /// Last sample time.
    pub end: Timestamp,
    /// Number of accelerometer samples averaged.
    pub sample_count: usize,
    /// Mean specific force in the IMU frame, m/s².
    pub mean_accel_m_s2: Vector3<f64>,
    /// Accelerometer standard deviation (see [`StaticDetector`]), m/s².
    pub accel_std_m_s2: f64,
}

impl StaticWindow {
    /// Unit gravity direction in the IMU frame, `-mean_f / |mean_f|`.
    pub fn gravity_direction_imu(&self) -> Unit<Vector3<f64>> {
        Unit::new_normalize(-self.mean_accel_m_s2)
    }
}

impl StaticDetector {
    /// Finds the earliest window of `window_s` whose accelerometer samples
    /// have a small spread, small |gyro| (when present) and a mean magnitude
    /// close to gravity. Samples without an accelerometer are ignored. Runs in
    /// O(n) with prefix sums. `None` when no window qualifies.
    pub fn find_first(&self, samples: &[ImuSample]) -> Option<StaticWindow> {
        let acc: Vec<(Timestamp, Vector3<f64>, bool)> = samples
            .iter()
            .filter_map(|s| {
                let moving = s.gyro_rad_s.is_some_and(|g| g.norm() > self.max_gyro_rad_s);
                s.accel_m_s2.map(|a| (s.timestamp, a, moving))
            })
            .collect();
        let n = acc.len();
        // Prefix sums of f, f∘f and of the "gyro too fast" flag.
        let mut sum = vec![Vector3::zeros(); n + 1];
        let mut sum_sq = vec![Vector3::zeros(); n + 1];
        let mut moving = vec![0usize; n + 1];
        for (k, (_, a, m)) in acc.iter().enumerate() {
            sum[k + 1] = sum[k] + a;
            sum_sq[k + 1] = sum_sq[k] + a.component_mul(a);
            moving[k + 1] = moving[k] + usize::from(*m);
        }
        let mut end = 0;
        for start in 0..n {
            while end < n && acc[end].0.secs_since(acc[start].0) <= self.window_s {
                end += 1;
            }
            // Window = [start, end); require it to span the full length.
            if end >= n && acc[n - 1].0.secs_since(acc[start].0) < self.window_s * 0.95 {
                return None;
            }
            let count = end - start;
            if count < 2 {
                continue;
            }
            let mean = (sum[end] - sum[start]) / count as f64;
            let var = (sum_sq[end] - sum_sq[start]) / count as f64 - mean.component_mul(&mean);
            let std = var.map(|v| v.max(0.0)).sum().sqrt();
            let quiet = moving[end] - moving[start] == 0;
            if quiet
                && std <= self.max_accel_std_m_s2
                && (mean.norm() - self.gravity_m_s2).abs() <= self.max_gravity_deviation_m_s2
            {
                return Some(StaticWindow {
                    start: acc[start].0,
                    end: acc[end - 1].0,
                    sample_count: count,
                    mean_accel_m_s2: mean,
                    accel_std_m_s2: std,
                });
            }
        }
        None
    }
}

/// Gravity-aligned attitude from a gravity direction in the IMU frame:
/// the rotation `world_from_imu` with `world_from_imu * g_imu = -z` and zero
/// yaw (`R = Ry(pitch) Rx(roll)` in the ZYX convention; yaw is unobservable
/// from gravity and fixed to 0).
pub fn world_from_imu_from_gravity(gravity_dir_imu: &Unit<Vector3<f64>>) -> Rotation3<f64> {
    let down = -Vector3::z();
    let aligned = Rotation3::rotation_between(gravity_dir_imu.as_ref(), &down)
        // Antiparallel (IMU upside down): half turn about x.
        .unwrap_or_else(|| Rotation3::from_axis_angle(&Vector3::x_axis(), std::f64::consts::PI));
    let (_, _, yaw) = aligned.euler_angles();
    Rotation3::from_axis_angle(&Vector3::z_axis(), -yaw) * aligned
}

/// Gravity direction from the first static window of `samples`; see
/// [`StaticDetector::find_first`]. Errors when no window qualifies.
pub fn initial_gravity(
    samples: &[ImuSample],
    detector: &StaticDetector,
) -> Result<(StaticWindow, Rotation3<f64>)> {
    let window = detector.find_first(samples).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "no static window of {} s (accel std <= {} m/s², |gyro| <= {} rad/s) in {} imu samples",
            detector.window_s,
            detector.max_accel_std_m_s2,
            detector.max_gyro_rad_s,
            samples.len()
        ))
    })?;
    let world_from_imu = world_from_imu_from_gravity(&window.gravity_direction_imu());
    Ok((window, world_from_imu))
}

/// Complementary roll/pitch filter (Mahony-style, first order):
/// propagate with the gyro when present, `R ← R Exp((ω - b_g) Δt)`, then pull
/// the measured "up" `R f/|f|` toward world `+z` by the fraction
/// `α = Δt / (τ + Δt)` of the angle between them. Accelerometer corrections
/// are skipped when `||f| - g|` exceeds `max_gravity_deviation_m_s2` (the
/// sensor is accelerating). Without a gyro this is a first-order low-pass of
/// the gravity direction with time constant τ. Yaw is never corrected.
#[derive(Clone, Debug)]
pub struct AttitudeFilter {
    world_from_imu: Rotation3<f64>,
    time_constant_s: f64,
    gravity_m_s2: f64,
    max_gravity_deviation_m_s2: f64,
    gyro_bias_rad_s: Vector3<f64>,
    last: Option<Timestamp>,
    initialised: bool,
}

impl AttitudeFilter {
    /// A filter with time constant `time_constant_s` (> 0).
    pub fn new(time_constant_s: f64) -> Result<Self> {
        if !(time_constant_s.is_finite() && time_constant_s > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "attitude filter time constant {time_constant_s} s must be > 0"
            )));
        }
        Ok(Self {
            world_from_imu: Rotation3::identity(),
            time_constant_s,
            gravity_m_s2: crate::imu::config::STANDARD_GRAVITY_M_S2,
            max_gravity_deviation_m_s2: 2.0,
            gyro_bias_rad_s: Vector3::zeros(),
            last: None,
            initialised: false,
        })
    }

    /// Sets the gyro bias subtracted before propagation.
    pub fn with_gyro_bias(mut self, gyro_bias_rad_s: Vector3<f64>) -> Self {
        self.gyro_bias_rad_s = gyro_bias_rad_s;
        self
    }

    /// Sets the accelerometer gate `||f| - g|` (m/s²).
    pub fn with_max_gravity_deviation(mut self, max_gravity_deviation_m_s2: f64) -> Self {
        self.max_gravity_deviation_m_s2 = max_gravity_deviation_m_s2;
        self
    }

    /// Feeds one sample (time-ordered). The first accelerometer sample
    /// initialises the attitude with zero yaw. Errors on a sample not after
    /// the previous one.
    pub fn update(&mut self, sample: &ImuSample) -> Result<()> {
        let dt_s = match self.last {
            Some(previous) if sample.timestamp <= previous => {
                return Err(Error::InvalidFrame {
                    frame: sample.timestamp,
                    message: format!("attitude filter: sample not after {previous}"),
                })
            }
            Some(previous) => sample.timestamp.secs_since(previous),
            None => 0.0,
        };
        self.last = Some(sample.timestamp);
        if let (true, Some(gyro)) = (self.initialised, sample.gyro_rad_s) {
            self.world_from_imu *= so3::exp(&((gyro - self.gyro_bias_rad_s) * dt_s));
        }
        let Some(f) = sample.accel_m_s2 else {
            return Ok(());
        };
        let norm = f.norm();
        if norm < 1e-6 {
            return Ok(());
        }
        if !self.initialised {
            self.world_from_imu = world_from_imu_from_gravity(&Unit::new_normalize(-f));
            self.initialised = true;
            return Ok(());
        }
        if (norm - self.gravity_m_s2).abs() > self.max_gravity_deviation_m_s2 {
            return Ok(());
        }
        let up_world = self.world_from_imu * (f / norm);
        let axis = up_world.cross(&Vector3::z());
        let angle = axis.norm().atan2(up_world.z);
        if axis.norm() > 1e-12 {
            let alpha = dt_s / (self.time_constant_s + dt_s);
            let correction = so3::exp(&(axis.normalize() * (alpha * angle)));
            self.world_from_imu = correction * self.world_from_imu;
        }
        Ok(())
    }

    /// True once an accelerometer sample has been seen.
    pub fn is_initialised(&self) -> bool {
        self.initialised
    }

    /// Current attitude estimate (yaw arbitrary).
    pub fn world_from_imu(&self) -> Rotation3<f64> {
        self.world_from_imu
    }

    /// Current gravity direction in the IMU frame (unit, pointing down).
    pub fn gravity_direction_imu(&self) -> Unit<Vector3<f64>> {
        Unit::new_normalize(self.world_from_imu.inverse() * -Vector3::z())
    }

    /// (roll, pitch) in rad of `R = Rz(yaw) Ry(pitch) Rx(roll)`.
    pub fn roll_pitch(&self) -> (f64, f64) {
        let (roll, pitch, _) = self.world_from_imu.euler_angles();
        (roll, pitch)
    }
}
