//! Writes a synthetic furnished-room sequence in the TUM RGB-D layout.
//!
//! ```text
//! cargo run --release --example synth -- --out /tmp/synth [--frames 300] \
//!     [--preset gentle|aggressive] [--seed 7] [--noise]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use scenemap::sensor::synthetic::{
    write_tum_sequence_with_progress, DepthNoise, ImuNoise, ImuSimulator, SequenceConfig,
    SyntheticSequence, TrajectoryPreset,
};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Preset {
    Gentle,
    Aggressive,
}

/// Synthetic RGB-D-inertial sequence generator.
#[derive(Parser, Debug)]
struct Args {
    /// Output folder (created).
    #[arg(long)]
    out: PathBuf,
    /// Number of frames at 30 Hz.
    #[arg(long, default_value_t = 300)]
    frames: usize,
    /// Camera motion.
    #[arg(long, value_enum, default_value_t = Preset::Gentle)]
    preset: Preset,
    /// Scene, trajectory and noise seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Kinect-like depth noise and MEMS IMU noise.
    #[arg(long)]
    noise: bool,
}

fn main() -> scenemap::Result<()> {
    let args = Args::parse();
    let fps = 30.0;
    let mut config = SequenceConfig {
        fps,
        // Half a frame past the last one so exactly `frames` frames fit.
        duration_s: (args.frames as f64 - 0.5) / fps,
        ..SequenceConfig::default()
    };
    if args.noise {
        config.noise = DepthNoise::kinect(args.seed);
        config.imu = ImuSimulator::default().with_noise(ImuNoise::mems(), args.seed);
    }
    let preset = match args.preset {
        Preset::Gentle => TrajectoryPreset::Gentle,
        Preset::Aggressive => TrajectoryPreset::Aggressive,
    };
    let sequence = SyntheticSequence::furnished(args.seed, preset, config)?;
    let bar = ProgressBar::new(sequence.frame_count() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} frames [{elapsed} < {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let summary = write_tum_sequence_with_progress(&args.out, &sequence, |done, _| {
        bar.set_position(done as u64)
    })?;
    bar.finish();
    let total_s = start.elapsed().as_secs_f64();
    let camera = sequence.camera();
    let frames = summary.frames.max(1) as f64;
    println!("wrote {} to {}", args.preset_name(), args.out.display());
    println!("| item | value |\n|---|---|");
    println!(
        "| scene seed | {} ({} objects) |",
        args.seed,
        sequence.scene().objects().len()
    );
    println!(
        "| frames | {} at {fps} Hz, {}x{} |",
        summary.frames, camera.width, camera.height
    );
    println!(
        "| IMU samples | {} at {} Hz |",
        summary.imu_samples,
        sequence.config().imu.rate_hz
    );
    println!(
        "| render per frame | {:.1} ms |",
        1e3 * summary.render_time_s / frames
    );
    println!(
        "| PNG encode+write per frame | {:.1} ms |",
        1e3 * summary.write_time_s / frames
    );
    println!("| total | {total_s:.1} s |");
    println!("| rayon threads | {} |", rayon::current_num_threads());
    Ok(())
}

impl Args {
    fn preset_name(&self) -> String {
        format!(
            "{:?} sequence (noise {})",
            self.preset,
            if self.noise { "on" } else { "off" }
        )
    }
}
