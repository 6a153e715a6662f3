//! Decoding of colour (PNG/JPEG) and depth (16-bit PNG) images from bytes.
//!
//! These functions take the bytes and the path they came from (used in error
//! messages only), so they double as fuzz entry points: they never panic and
//! refuse images larger than [`MAX_IMAGE_SIDE`] before allocating pixels.

use std::io::Cursor;
use std::path::Path;

use image::codecs::png::PngDecoder;
use image::{ColorType, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::error::{Error, Result};

/// Largest accepted image width or height in pixels. A corrupt header that
/// declares a larger image is rejected before any pixel buffer is allocated.
pub const MAX_IMAGE_SIDE: u32 = 8192;

/// Depth scale of TUM RGB-D depth PNGs: raw value 5000 = 1 m.
pub const TUM_DEPTH_SCALE: f32 = 5000.0;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_SOI: [u8; 3] = [0xff, 0xd8, 0xff];
const JPEG_EOI: [u8; 2] = [0xff, 0xd9];
/// The complete (always identical) PNG end chunk: length 0, `IEND`, CRC.
const PNG_IEND: [u8; 12] = [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82];

/// A decoded RGB8 colour image, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct ColorImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height` RGB8 pixels.
    pub pixels: Vec<[u8; 3]>,
}

/// A decoded depth image in metres, row-major, `0.0` = no measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height` depths in metres.
    pub depth_m: Vec<f32>,
}

/// Decoder limits: at most [`MAX_IMAGE_SIDE`] per side and enough memory for
/// an RGBA16 image of that size (the largest output either decoder makes).
fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(u64::from(MAX_IMAGE_SIDE) * u64::from(MAX_IMAGE_SIDE) * 8);
    limits
}

/// Fails unless `width x height` is non-empty and within [`MAX_IMAGE_SIDE`].
fn check_dimensions(path: &Path, width: u32, height: u32) -> Result<()> {
    if width == 0 || height == 0 || width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(Error::image(
            path,
            format!("image size {width}x{height} is outside 1..={MAX_IMAGE_SIDE} per side"),
        ));
    }
    Ok(())
}

/// Human-readable pixel format, e.g. `8-bit grayscale` or `16-bit RGB`.
fn describe(color: ColorType) -> String {
    let channels = match color.channel_count() {
        1 => "grayscale",
        2 => "grayscale+alpha",
        3 => "RGB",
        _ => "RGBA",
    };
    let bits = u32::from(color.bits_per_pixel()) / u32::from(color.channel_count().max(1));
    format!("{bits}-bit {channels}")
}

/// Decodes a TUM depth image: a 16-bit single-channel PNG whose raw values
/// divided by `depth_scale` give metres (TUM: 5000, see [`TUM_DEPTH_SCALE`]);
/// raw `0` stays `0.0` (no measurement).
///
/// `path` is used in error messages only. Errors ([`Error::Image`]): not a
/// PNG, corrupt or truncated data, a pixel format other than 16-bit
/// grayscale (`expected 16-bit PNG, found 8-bit grayscale`), a size outside
/// [`MAX_IMAGE_SIDE`]; [`Error::InvalidArgument`] if `depth_scale` is not
/// finite and positive.
pub fn decode_depth_png(bytes: &[u8], path: &Path, depth_scale: f32) -> Result<DepthImage> {
    check_depth_scale(depth_scale)?;
    if !bytes.starts_with(&PNG_SIGNATURE) {
        return Err(Error::image(path, "not a PNG file (bad signature)"));
    }
    check_png_complete(bytes, path)?;
    let decoder = PngDecoder::with_limits(Cursor::new(bytes), limits())
        .map_err(|e| Error::image(path, format!("cannot decode PNG: {e}")))?;
    let (width, height) = decoder.dimensions();
    check_dimensions(path, width, height)?;
    let color = decoder.color_type();
    if color != ColorType::L16 {
        return Err(Error::image(
            path,
            format!(
                "expected 16-bit PNG, found {} (depth must be 16-bit single-channel)",
                describe(color)
            ),
        ));
    }
    let raw = read_pixels(decoder, path)?;
    let depth_m = raw
        .chunks_exact(2)
        .map(|c| f32::from(u16::from_ne_bytes([c[0], c[1]])) / depth_scale)
        .collect();
    Ok(DepthImage {
        width,
        height,
        depth_m,
    })
}

/// Fails unless the depth scale is finite and positive.
pub(crate) fn check_depth_scale(depth_scale: f32) -> Result<()> {
    if !(depth_scale.is_finite() && depth_scale > 0.0) {
        return Err(Error::InvalidArgument(format!(
            "depth scale must be finite and positive, got {depth_scale}"
        )));
    }
    Ok(())
}

/// Reads the pixel bytes of a decoder whose dimensions were already checked.
fn read_pixels(decoder: impl ImageDecoder, path: &Path) -> Result<Vec<u8>> {
    let n = usize::try_from(decoder.total_bytes())
        .map_err(|_| Error::image(path, "image too large for this platform"))?;
    let mut buf = vec![0_u8; n];
    decoder
        .read_image(&mut buf)
        .map_err(|e| Error::image(path, format!("corrupt or truncated PNG: {e}")))?;
    Ok(buf)
}

/// Decodes a colour image (PNG or JPEG, recognised by content, not by file
/// name) to RGB8. Grayscale is replicated to three channels, alpha dropped,
/// 16-bit channels reduced to 8 bits.
///
/// `path` is used in error messages only. Errors ([`Error::Image`]): unknown
/// format, corrupt or truncated data (a JPEG must end with its EOI marker,
/// since the JPEG decoder silently fills truncated scans), a size outside
/// [`MAX_IMAGE_SIDE`].
pub fn decode_color(bytes: &[u8], path: &Path) -> Result<ColorImage> {
    let format = if bytes.starts_with(&PNG_SIGNATURE) {
        check_png_complete(bytes, path)?;
        ImageFormat::Png
    } else if bytes.starts_with(&JPEG_SOI) {
        check_jpeg_complete(bytes, path)?;
        ImageFormat::Jpeg
    } else {
        return Err(Error::image(
            path,
            "not a PNG or JPEG file (unrecognised signature)",
        ));
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits());
    let decoded = reader
        .decode()
        .map_err(|e| Error::image(path, format!("cannot decode {format:?} image: {e}")))?;
    check_dimensions(path, decoded.width(), decoded.height())?;
    let rgb = decoded.into_rgb8();
    let (width, height) = rgb.dimensions();
    let pixels = rgb
        .into_raw()
        .chunks_exact(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    Ok(ColorImage {
        width,
        height,
        pixels,
    })
}

/// A complete PNG holds its `IEND` chunk (the decoder stops after the image
/// data and would accept a file cut inside `IEND`).
fn check_png_complete(bytes: &[u8], path: &Path) -> Result<()> {
    if !bytes.windows(PNG_IEND.len()).rev().any(|w| w == PNG_IEND) {
        return Err(Error::image(path, "truncated PNG (no IEND chunk)"));
    }
    Ok(())
}

/// A complete JPEG ends with the EOI marker (`FF D9`), possibly followed by
/// zero padding some encoders add.
fn check_jpeg_complete(bytes: &[u8], path: &Path) -> Result<()> {
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    if !bytes[..end].ends_with(&JPEG_EOI) {
        return Err(Error::image(
            path,
            "truncated JPEG (no end-of-image marker)",
        ));
    }
    Ok(())
}

/// Reads a file into memory, naming it on error.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, ImageBuffer, Luma, RgbImage, RgbaImage};

    fn encode(img: image::DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn depth_png(w: u32, h: u32, f: impl Fn(u32, u32) -> u16) -> Vec<u8> {
        let img: ImageBuffer<Luma<u16>, Vec<u16>> =
            ImageBuffer::from_fn(w, h, |u, v| Luma([f(u, v)]));
        encode(image::DynamicImage::ImageLuma16(img), ImageFormat::Png)
    }

    #[test]
    fn depth_round_trip_scales_exactly() {
        let bytes = depth_png(5, 3, |u, v| (u * 1000 + v) as u16);
        let depth = decode_depth_png(&bytes, Path::new("d.png"), 5000.0).unwrap();
        assert_eq!((depth.width, depth.height), (5, 3));
        for v in 0..3 {
            for u in 0..5 {
                let expected = (u * 1000 + v) as f32 / 5000.0;
                assert_eq!(depth.depth_m[(v * 5 + u) as usize], expected);
            }
        }
        assert_eq!(depth.depth_m[0], 0.0, "raw 0 stays invalid");
        let halved = decode_depth_png(&bytes, Path::new("d.png"), 10000.0).unwrap();
        assert_eq!(halved.depth_m[1], depth.depth_m[1] / 2.0);
    }

    #[test]
    fn depth_rejects_8_bit_and_bad_scale() {
        let gray = encode(
            image::DynamicImage::ImageLuma8(GrayImage::new(4, 4)),
            ImageFormat::Png,
        );
        let err = decode_depth_png(&gray, Path::new("depth/1.png"), 5000.0).unwrap_err();
        assert!(matches!(err, Error::Image { .. }));
        assert!(
            err.to_string()
                .starts_with("depth/1.png: expected 16-bit PNG, found 8-bit grayscale"),
            "{err}"
        );
        let ok = depth_png(2, 2, |_, _| 1);
        for scale in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            let err = decode_depth_png(&ok, Path::new("d.png"), scale).unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)), "{scale}");
        }
    }

    #[test]
    fn huge_declared_size_is_refused_before_allocation() {
        let mut bytes = depth_png(1, 1, |_, _| 7);
        // IHDR data starts at byte 16: width then height, big-endian.
        bytes[16..20].copy_from_slice(&60_000_u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&60_000_u32.to_be_bytes());
        // The IHDR CRC is now wrong; the png crate checks it first, so both
        // paths (CRC or size) must end in a typed error.
        let err = decode_depth_png(&bytes, Path::new("big.png"), 5000.0).unwrap_err();
        assert!(matches!(err, Error::Image { .. }), "{err}");
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = decode_depth_png(&bytes, Path::new("big.png"), 5000.0).unwrap_err();
        assert!(matches!(err, Error::Image { .. }), "{err}");
        assert!(err.to_string().contains("limit"), "{err}");
        let err = decode_color(&bytes, Path::new("big.png")).unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
        assert!(matches!(err, Error::Image { .. }), "{err}");
    }

    /// CRC-32 (ISO 3309, as used by PNG), bitwise.
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
    fn colour_converts_gray_and_rgba_to_rgb() {
        let gray = GrayImage::from_fn(3, 2, |u, _| Luma([u as u8 * 100]));
        let bytes = encode(image::DynamicImage::ImageLuma8(gray), ImageFormat::Png);
        let img = decode_color(&bytes, Path::new("g.png")).unwrap();
        assert_eq!(img.pixels[2], [200, 200, 200]);
        let rgba = RgbaImage::from_pixel(2, 2, image::Rgba([10, 20, 30, 0]));
        let bytes = encode(image::DynamicImage::ImageRgba8(rgba), ImageFormat::Png);
        let img = decode_color(&bytes, Path::new("a.png")).unwrap();
        assert_eq!(img.pixels, vec![[10, 20, 30]; 4]);
    }

    #[test]
    fn colour_jpeg_decodes_and_truncation_is_detected() {
        let rgb = RgbImage::from_fn(32, 16, |u, v| image::Rgb([u as u8 * 8, v as u8 * 16, 128]));
        let bytes = encode(
            image::DynamicImage::ImageRgb8(rgb.clone()),
            ImageFormat::Jpeg,
        );
        let img = decode_color(&bytes, Path::new("c.jpg")).unwrap();
        assert_eq!((img.width, img.height), (32, 16));
        let max_err = img
            .pixels
            .iter()
            .zip(rgb.pixels())
            .flat_map(|(a, b)| (0..3).map(move |k| (i32::from(a[k]) - i32::from(b[k])).abs()))
            .max()
            .unwrap();
        assert!(max_err < 40, "JPEG error {max_err}");
        for cut in [3, 10, bytes.len() / 2, bytes.len() - 2] {
            let err = decode_color(&bytes[..cut], Path::new("c.jpg")).unwrap_err();
            assert!(matches!(err, Error::Image { .. }), "cut {cut}: {err}");
            assert!(err.to_string().starts_with("c.jpg: "), "{err}");
        }
    }

    #[test]
    fn truncated_png_is_an_error_at_every_cut() {
        let bytes = depth_png(16, 16, |u, v| (u * 37 + v * 101) as u16);
        for cut in 0..bytes.len() {
            assert!(
                decode_depth_png(&bytes[..cut], Path::new("t.png"), 5000.0).is_err(),
                "cut {cut} of {}",
                bytes.len()
            );
            assert!(decode_color(&bytes[..cut], Path::new("t.png")).is_err());
        }
    }
}
