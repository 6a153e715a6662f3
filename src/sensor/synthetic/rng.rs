//! Small deterministic PRNG: xoshiro256** seeded through SplitMix64.
//!
//! Blackman & Vigna, "Scrambled linear pseudorandom number generators",
//! ACM TOMS 2021. No external crate, so every synthetic scene, trajectory and
//! noise draw is bit-reproducible across platforms and dependency updates.

/// SplitMix64 step (Steele, Lea & Flood 2014): used to expand a seed into
/// xoshiro state and to hash stream identifiers.
#[inline]
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256** generator with uniform and Gaussian draws.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Seeds the generator (any seed, including 0, gives a valid state).
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Self { s }
    }

    /// An independent generator for a sub-stream (e.g. `(seed, frame, row)`),
    /// so parallel consumers draw reproducibly regardless of scheduling.
    pub fn for_stream(seed: u64, stream: &[u64]) -> Self {
        let mut h = seed ^ 0x5851_F42D_4C95_7F2D;
        for &k in stream {
            let mut st = h ^ k.wrapping_mul(0x2545_F491_4F6C_DD1D);
            h = splitmix64(&mut st);
        }
        Self::new(h)
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1_u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    #[inline]
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in `lo..=hi` (inclusive; `hi < lo` returns `lo`).
    pub fn int_range(&mut self, lo: u32, hi: u32) -> u32 {
        if hi <= lo {
            return lo;
        }
        let span = u64::from(hi - lo) + 1;
        lo + (self.next_u64() % span) as u32
    }

    /// Standard normal draw (Box–Muller transform, cosine branch).
    #[inline]
    pub fn gaussian(&mut self) -> f64 {
        // u1 in (0, 1] so ln(u1) is finite.
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproducible_and_seed_dependent() {
        let a: Vec<u64> = {
            let mut r = Rng::new(42);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::new(42);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rng::new(43);
            (0..8).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(
            Rng::for_stream(1, &[2, 3]).next_u64(),
            Rng::for_stream(1, &[3, 2]).next_u64()
        );
    }

    #[test]
    fn moments_of_uniform_and_gaussian() {
        let mut r = Rng::new(7);
        let n = 200_000;
        let (mut su, mut sg, mut sg2) = (0.0, 0.0, 0.0);
        for _ in 0..n {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
            su += u;
            let g = r.gaussian();
            sg += g;
            sg2 += g * g;
        }
        let n = n as f64;
        assert!((su / n - 0.5).abs() < 0.005);
        assert!((sg / n).abs() < 0.01);
        assert!((sg2 / n - 1.0).abs() < 0.01);
    }
}
