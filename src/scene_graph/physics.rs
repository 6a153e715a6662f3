//! Physical priors and push physics: mass with uncertainty, friction, and the
//! force needed to slide or tip an object.
//!
//! Every uncertain quantity is a [`LogNormal`]: masses, densities and friction
//! coefficients are positive and their uncertainty is multiplicative, so
//! products (volume × fill × density, μ × m × g) stay log-normal and their
//! intervals are exact, not linearised.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Standard gravity, m/s².
pub const GRAVITY_M_S2: f64 = 9.80665;

/// z-score of the 95th percentile: a 90 % central interval is `median·exp(±Z90·σ)`.
const Z90: f64 = 1.644_853_626_951_472_2;

/// A log-normal distribution: `ln X ~ N(ln median, sigma_log²)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogNormal {
    /// Median (= geometric mean).
    pub median: f64,
    /// Standard deviation of `ln X`.
    pub sigma_log: f64,
}

impl LogNormal {
    /// A log-normal whose 90 % central interval is `[low, high]`.
    pub fn from_interval90(low: f64, high: f64) -> Result<Self> {
        if !(low > 0.0 && high >= low && high.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "interval [{low}, {high}] is not a positive range"
            )));
        }
        Ok(Self {
            median: (low * high).sqrt(),
            sigma_log: (high / low).ln() / (2.0 * Z90),
        })
    }

    /// An exactly known value.
    pub fn exact(value: f64) -> Self {
        Self {
            median: value,
            sigma_log: 0.0,
        }
    }

    /// The 90 % central interval `(5th, 95th percentile)`.
    pub fn interval90(&self) -> (f64, f64) {
        let k = (Z90 * self.sigma_log).exp();
        (self.median / k, self.median * k)
    }

    /// Product of independent log-normals (log-variances add).
    pub fn mul(&self, other: &LogNormal) -> LogNormal {
        LogNormal {
            median: self.median * other.median,
            sigma_log: self.sigma_log.hypot(other.sigma_log),
        }
    }

    /// Scales by a positive constant.
    pub fn scale(&self, k: f64) -> LogNormal {
        LogNormal {
            median: self.median * k,
            sigma_log: self.sigma_log,
        }
    }

    /// Mean `median · exp(σ²/2)`.
    pub fn mean(&self) -> f64 {
        self.median * (0.5 * self.sigma_log * self.sigma_log).exp()
    }

    /// Whether `value` lies inside the 90 % interval.
    pub fn contains90(&self, value: f64) -> bool {
        let (lo, hi) = self.interval90();
        value >= lo && value <= hi
    }
}

/// Material prior of an object class, read from `data/material_priors.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaterialPrior {
    /// Class name (`unknown` is the broad fallback).
    pub class_name: String,
    /// Material density, kg/m³.
    pub density_kg_m3: LogNormal,
    /// Fraction of the enclosed volume that is material.
    pub fill_fraction: LogNormal,
    /// Static friction coefficient against a typical support.
    pub friction: LogNormal,
    /// Thickness of the panels a thin-walled object is built from (shelf
    /// boards, table tops), m; `None` for solid or compact objects. Bounds
    /// the material volume of panels too thin for the TSDF's voxels from
    /// below (surface area / 2 × thickness).
    #[serde(default)]
    pub panel_thickness_m: Option<LogNormal>,
    /// Where the numbers come from.
    pub source: String,
}

/// The table of class priors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaterialPriors {
    priors: Vec<MaterialPrior>,
}

/// The priors file shipped with the crate.
const EMBEDDED_PRIORS: &str = include_str!("../../data/material_priors.csv");

impl MaterialPriors {
    /// The priors shipped in `data/material_priors.csv`.
    pub fn embedded() -> Result<Self> {
        Self::parse(EMBEDDED_PRIORS, "data/material_priors.csv")
    }

    /// Parses a priors CSV (`#` comments, one header line, then
    /// `class,density_min,density_max,fill_min,fill_max,friction_min,friction_max,panel_min,panel_max,"source"`;
    /// the two panel-thickness fields may be empty, or left out).
    /// Must contain an `unknown` row.
    pub fn parse(text: &str, path: &str) -> Result<Self> {
        let mut priors = Vec::new();
        let mut header_seen = false;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if !header_seen {
                header_seen = true;
                continue;
            }
            priors.push(parse_prior_row(line, path, i + 1)?);
        }
        if !priors.iter().any(|p| p.class_name == "unknown") {
            return Err(Error::parse(
                path,
                0,
                "no `unknown` row (the fallback prior)",
            ));
        }
        Ok(Self { priors })
    }

    /// The prior for `class_name`, or the `unknown` prior.
    pub fn get(&self, class_name: &str) -> &MaterialPrior {
        self.priors
            .iter()
            .find(|p| p.class_name == class_name)
            .or_else(|| self.priors.iter().find(|p| p.class_name == "unknown"))
            .unwrap_or(&self.priors[0]) // parse() guarantees an `unknown` row
    }

    /// All rows.
    pub fn iter(&self) -> impl Iterator<Item = &MaterialPrior> {
        self.priors.iter()
    }
}

fn parse_prior_row(line: &str, path: &str, line_no: usize) -> Result<MaterialPrior> {
    let (numbers, source) = match line.split_once(",\"") {
        Some((head, tail)) => (head, tail.trim_end_matches('"').to_owned()),
        None => (line, String::new()),
    };
    let fields: Vec<&str> = numbers.split(',').map(str::trim).collect();
    if fields.len() != 7 && fields.len() != 9 {
        return Err(Error::parse(
            path,
            line_no,
            format!(
                "expected 7 or 9 fields before the source, found {}",
                fields.len()
            ),
        ));
    }
    let mut values = [0.0; 6];
    for (k, v) in values.iter_mut().enumerate() {
        *v = fields[k + 1].parse::<f64>().map_err(|_| {
            Error::parse(path, line_no, format!("invalid number {:?}", fields[k + 1]))
        })?;
    }
    let range = |lo: f64, hi: f64| {
        LogNormal::from_interval90(lo, hi).map_err(|e| Error::parse(path, line_no, e.to_string()))
    };
    let panel_thickness_m = match fields.get(7..9) {
        Some(["", ""]) | None => None,
        Some([lo, hi]) => {
            let parse = |text: &str| {
                text.parse::<f64>().map_err(|_| {
                    Error::parse(path, line_no, format!("invalid panel thickness {text:?}"))
                })
            };
            Some(range(parse(lo)?, parse(hi)?)?)
        }
        Some(_) => None, // a 2-element slice always matches the arm above
    };
    Ok(MaterialPrior {
        class_name: fields[0].to_owned(),
        density_kg_m3: range(values[0], values[1])?,
        fill_fraction: range(values[2], values[3])?,
        friction: range(values[4], values[5])?,
        panel_thickness_m,
        source,
    })
}

/// Mass from enclosed volume × fill fraction × density.
///
/// `volume_sigma_log` is the relative uncertainty of the measured volume
/// (e.g. half a voxel of surface error over the object's size).
pub fn estimate_mass(volume_m3: f64, volume_sigma_log: f64, prior: &MaterialPrior) -> LogNormal {
    let volume = LogNormal {
        median: volume_m3.max(0.0),
        sigma_log: volume_sigma_log.max(0.0),
    };
    volume.mul(&prior.fill_fraction).mul(&prior.density_kg_m3)
}

/// Force to slide an object on its support, `F = μ m g` (N).
pub fn slide_force(mass_kg: &LogNormal, friction: &LogNormal) -> LogNormal {
    mass_kg.mul(friction).scale(GRAVITY_M_S2)
}

/// Force to tip an object over when pushed horizontally at `push_height_m`
/// above its support: moments about the tipping edge balance when
/// `F h = m g b`, so `F = m g b / h` (N), with `b` the horizontal distance
/// from the centre of mass to the tipping edge in the push direction.
pub fn tip_force(mass_kg: &LogNormal, lever_arm_m: f64, push_height_m: f64) -> Result<LogNormal> {
    if !(push_height_m > 0.0 && lever_arm_m >= 0.0) {
        return Err(Error::InvalidArgument(format!(
            "tip force needs push height > 0 and lever arm ≥ 0 (got h = {push_height_m} m, b = {lever_arm_m} m)"
        )));
    }
    Ok(mass_kg.scale(GRAVITY_M_S2 * lever_arm_m / push_height_m))
}

/// What a horizontal push does first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PushOutcome {
    /// The object slides before it tips (μ < b / h).
    Slides,
    /// The object tips before it slides (μ > b / h).
    Tips,
}

/// Push analysis: slide and tip forces and which comes first.
///
/// Sliding needs `μ m g`, tipping `m g b / h`: the mass cancels, so the
/// outcome depends only on `μ` against `b / h`. `probability_tip` is
/// `P(μ > b/h)` under the log-normal friction prior.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PushEstimate {
    /// Force to slide, N.
    pub slide_force_n: LogNormal,
    /// Force to tip, N.
    pub tip_force_n: LogNormal,
    /// Most likely outcome (at the median friction).
    pub first: PushOutcome,
    /// Probability that the object tips first.
    pub probability_tip: f64,
    /// Force needed to move the object at all (median of the smaller), N.
    pub required_force_n: f64,
}

/// Analyses a horizontal push at `push_height_m` with lever arm `lever_arm_m`.
pub fn push_estimate(
    mass_kg: &LogNormal,
    friction: &LogNormal,
    lever_arm_m: f64,
    push_height_m: f64,
) -> Result<PushEstimate> {
    let slide = slide_force(mass_kg, friction);
    let tip = tip_force(mass_kg, lever_arm_m, push_height_m)?;
    let ratio = lever_arm_m / push_height_m;
    let probability_tip = if friction.sigma_log > 0.0 {
        let z = (ratio.ln() - friction.median.ln()) / friction.sigma_log;
        1.0 - standard_normal_cdf(z)
    } else if friction.median > ratio {
        1.0
    } else {
        0.0
    };
    let first = if friction.median > ratio {
        PushOutcome::Tips
    } else {
        PushOutcome::Slides
    };
    Ok(PushEstimate {
        slide_force_n: slide,
        tip_force_n: tip,
        first,
        probability_tip,
        required_force_n: slide.median.min(tip.median),
    })
}

/// Φ(z) via the complementary error function (Abramowitz & Stegun 7.1.26,
/// |error| < 1.5e-7).
fn standard_normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    if z >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn interval_round_trip() {
        let d = LogNormal::from_interval90(450.0, 900.0).unwrap();
        let (lo, hi) = d.interval90();
        assert_relative_eq!(lo, 450.0, epsilon = 1e-9);
        assert_relative_eq!(hi, 900.0, epsilon = 1e-9);
        assert!(LogNormal::from_interval90(0.0, 1.0).is_err());
        assert!(LogNormal::from_interval90(2.0, 1.0).is_err());
    }

    #[test]
    fn lognormal_interval_has_90_percent_coverage() {
        // Monte Carlo with a deterministic normal sequence (inverse CDF on a grid).
        let d = LogNormal {
            median: 3.0,
            sigma_log: 0.4,
        };
        let n = 20_000;
        let inside = (0..n)
            .filter(|i| {
                let p = (*i as f64 + 0.5) / n as f64;
                // bisection inverse of Φ
                let (mut lo, mut hi) = (-10.0, 10.0);
                for _ in 0..60 {
                    let mid = 0.5 * (lo + hi);
                    if standard_normal_cdf(mid) < p {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                d.contains90(d.median * (d.sigma_log * lo).exp())
            })
            .count();
        assert_relative_eq!(inside as f64 / n as f64, 0.90, epsilon = 2e-3);
    }

    #[test]
    fn embedded_priors_parse_and_fallback() {
        let priors = MaterialPriors::embedded().unwrap();
        assert!(priors.iter().count() >= 8);
        assert_eq!(priors.get("chair").class_name, "chair");
        assert_eq!(priors.get("spaceship").class_name, "unknown");
        for p in priors.iter() {
            assert!(!p.source.is_empty(), "{} has no source", p.class_name);
        }
        assert!(MaterialPriors::parse("h\nchair,1,2,1,1,0.3,0.5,\"x\"\n", "p.csv").is_err());
        let err = MaterialPriors::parse("h\nunknown,1,x,1,1,0.3,0.5,\"x\"\n", "p.csv").unwrap_err();
        assert!(err.to_string().starts_with("p.csv:2:"), "{err}");
        // Panel thickness: optional columns, empty for solid classes.
        let shelf = priors.get("shelf").panel_thickness_m.unwrap();
        let (lo, hi) = shelf.interval90();
        assert!((lo - 0.01).abs() < 1e-9 && (hi - 0.025).abs() < 1e-9);
        assert!(priors.get("box").panel_thickness_m.is_none());
        let text = "h\nunknown,1,2,0.5,1,0.3,0.5,0.01,0.02,\"x\"\nbox,1,2,0.5,1,0.3,0.5,,,\"y\"\n";
        let parsed = MaterialPriors::parse(text, "p.csv").unwrap();
        assert!(parsed.get("unknown").panel_thickness_m.is_some());
        assert!(parsed.get("box").panel_thickness_m.is_none());
        let err = MaterialPriors::parse("h\nunknown,1,2,0.5,1,0.3,0.5,0.01,mm,\"x\"\n", "p.csv")
            .unwrap_err();
        assert!(err.to_string().starts_with("p.csv:2:"), "{err}");
    }

    #[test]
    fn solid_box_forces_match_statics() {
        // A 0.4 x 0.4 x 0.8 m solid box of 500 kg/m³ (exact), μ = 0.4 (exact).
        let mass = LogNormal::exact(0.4 * 0.4 * 0.8 * 500.0); // 64 kg
        let mu = LogNormal::exact(0.4);
        let push = push_estimate(&mass, &mu, 0.2, 0.6).unwrap();
        assert_relative_eq!(
            push.slide_force_n.median,
            0.4 * 64.0 * GRAVITY_M_S2,
            epsilon = 1e-9
        );
        assert_relative_eq!(
            push.tip_force_n.median,
            64.0 * GRAVITY_M_S2 * 0.2 / 0.6,
            epsilon = 1e-9
        );
        // b/h = 1/3 < μ: it tips first, at the lower force.
        assert_eq!(push.first, PushOutcome::Tips);
        assert_eq!(push.probability_tip, 1.0);
        assert_relative_eq!(push.required_force_n, push.tip_force_n.median);
        // Pushed low (h = 0.1): b/h = 2 > μ: it slides.
        let low = push_estimate(&mass, &mu, 0.2, 0.1).unwrap();
        assert_eq!(low.first, PushOutcome::Slides);
        assert!(tip_force(&mass, 0.2, 0.0).is_err());
    }

    #[test]
    fn tip_probability_is_half_at_the_median() {
        let mass = LogNormal::exact(10.0);
        let mu = LogNormal::from_interval90(0.25, 0.6).unwrap();
        let h = 0.3 / mu.median;
        let push = push_estimate(&mass, &mu, 0.3, h).unwrap();
        assert_relative_eq!(push.probability_tip, 0.5, epsilon = 1e-6);
    }

    #[test]
    fn mass_uncertainty_combines_in_log_space() {
        let prior = MaterialPriors::embedded().unwrap().get("table").clone();
        let m = estimate_mass(0.05, 0.1, &prior);
        let expected_sigma =
            (0.01 + prior.fill_fraction.sigma_log.powi(2) + prior.density_kg_m3.sigma_log.powi(2))
                .sqrt();
        assert_relative_eq!(m.sigma_log, expected_sigma, epsilon = 1e-12);
        assert_relative_eq!(
            m.median,
            0.05 * prior.fill_fraction.median * prior.density_kg_m3.median,
            epsilon = 1e-12
        );
    }
}
