//! Replays the committed fuzz seed corpus (`fuzz/corpus/<target>/`) through
//! the same entry points as the cargo-fuzz targets, on stable Rust.
//! Any panic (including a broken invariant asserted by the entry point) fails.
//!
//! `cargo test --test fuzz_corpus -- --ignored regenerate_seed_corpus`
//! rewrites the generated seed files.

mod common;

use common::{corpus_dir, replay_corpus as replay};

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)] // each replay test uses some of the entry points
mod fuzz_entry;

use std::fs;
use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, RgbImage};

#[test]
fn tum_text_corpus_never_panics() {
    assert!(replay("tum_text", fuzz_entry::tum_text) >= 8);
}

#[test]
fn depth_png_corpus_never_panics() {
    assert!(replay("depth_png", fuzz_entry::depth_png) >= 8);
}

/// Some seeds must decode and some must fail, or the corpus tests nothing.
#[test]
fn depth_png_corpus_has_valid_and_invalid_seeds() {
    use scenemap::sensor::image_io::{decode_color, decode_depth_png};
    let dir = corpus_dir("depth_png");
    let path = Path::new("seed");
    let read = |name: &str| fs::read(dir.join(name)).unwrap();
    let depth = decode_depth_png(&read("depth16_4x3.png"), path, 5000.0).unwrap();
    assert_eq!((depth.width, depth.height), (4, 3));
    assert_eq!(depth.depth_m[5], 5101.0 / 5000.0, "pixel (1, 1)");
    assert!(decode_color(&read("rgb_4x3.jpg"), path).is_ok());
    for bad in [
        "depth8_4x3.png",
        "depth16_truncated.png",
        "huge_header.png",
        "garbage.bin",
    ] {
        assert!(decode_depth_png(&read(bad), path, 5000.0).is_err(), "{bad}");
    }
    assert!(decode_color(&read("rgb_truncated.jpg"), path).is_err());
}

fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// CRC-32 as used by PNG chunks.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffff_u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
#[ignore = "writes the seed corpus into fuzz/corpus; run by hand"]
fn regenerate_seed_corpus() {
    let text = corpus_dir("tum_text");
    let png = corpus_dir("depth_png");
    fs::create_dir_all(&text).unwrap();
    fs::create_dir_all(&png).unwrap();
    let texts: [(&str, &str); 10] = [
        ("rgb_valid.txt", "# color images\n# timestamp filename\n1305031229.528748 rgb/1305031229.528748.jpg\n1305031229.564425 rgb/1305031229.564425.jpg\n\n1305031229.596287 rgb/1305031229.596287.jpg\n"),
        ("depth_valid.txt", "# depth maps\n1305031229.528784 depth/1305031229.528784.png\n1305031229.564442 depth/1305031229.564442.png\n"),
        ("groundtruth_valid.txt", "# ground truth trajectory\n# timestamp tx ty tz qx qy qz qw\n1305031225.9334 1.3357 0.6698 1.6180 0.6504 0.6012 -0.3056 -0.3496\n1305031225.9434 1.3352 0.6704 1.6175 0.6509 0.5999 -0.3026 -0.3535\n"),
        ("accelerometer_valid.txt", "# accelerometer data\n1305031225.727159 0.682514 7.818977 -5.603800\n1305031225.730643 0.778306 7.818977 -5.603800\n"),
        ("wrong_field_count.txt", "1305031229.528748 rgb/a.jpg extra\n1305031229.6\n"),
        ("bad_timestamp.txt", "1305031229.5x8748 rgb/a.jpg\n1e9 b\n-.5 c\n"),
        ("backwards.txt", "2.0 a.png\n1.0 b.png\n1.0 0 0 0\n"),
        ("bad_numbers.txt", "1.0 nan inf -inf\n2.0 1 2 3 0 0 0 2\n3.0 1e400 0 0\n"),
        ("comments_only.txt", "# only\n\n   \n#\n"),
        ("huge_timestamp.txt", "99999999999999999999.5 a\n9223372036.854775807 b\n-9223372036.854775808 c\n"),
    ];
    for (name, body) in texts {
        fs::write(text.join(name), body).unwrap();
    }
    fs::write(
        text.join("not_utf8.bin"),
        [0xff, 0xfe, b'1', b' ', 0xc3, b'\n'],
    )
    .unwrap();

    let depth: ImageBuffer<Luma<u16>, Vec<u16>> =
        ImageBuffer::from_fn(4, 3, |u, v| Luma([(5000 + 100 * u + v) as u16]));
    let depth16 = encode(DynamicImage::ImageLuma16(depth), ImageFormat::Png);
    let gray8 = encode(
        DynamicImage::ImageLuma8(image::GrayImage::new(4, 3)),
        ImageFormat::Png,
    );
    let rgb = RgbImage::from_fn(4, 3, |u, v| image::Rgb([u as u8 * 60, v as u8 * 80, 7]));
    let rgb_png = encode(DynamicImage::ImageRgb8(rgb.clone()), ImageFormat::Png);
    let rgb_jpg = encode(DynamicImage::ImageRgb8(rgb), ImageFormat::Jpeg);
    let mut huge = depth16.clone();
    huge[16..20].copy_from_slice(&60_000_u32.to_be_bytes());
    huge[20..24].copy_from_slice(&60_000_u32.to_be_bytes());
    let crc = crc32(&huge[12..29]);
    huge[29..33].copy_from_slice(&crc.to_be_bytes());
    let seeds: [(&str, &[u8]); 8] = [
        ("depth16_4x3.png", &depth16),
        ("depth16_truncated.png", &depth16[..depth16.len() - 20]),
        ("depth8_4x3.png", &gray8),
        ("rgb_4x3.png", &rgb_png),
        ("rgb_4x3.jpg", &rgb_jpg),
        ("rgb_truncated.jpg", &rgb_jpg[..rgb_jpg.len() / 2]),
        ("huge_header.png", &huge),
        ("garbage.bin", b"\x89PNG\r\n\x1a\nnot really a png"),
    ];
    for (name, bytes) in seeds {
        fs::write(png.join(name), bytes).unwrap();
    }
}
