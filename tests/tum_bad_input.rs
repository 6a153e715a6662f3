//! Broken TUM sequences built in temporary folders: every defect must give a
//! typed `scenemap::Error` naming the file and line (or image and frame),
//! never a panic.

mod common;

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, RgbImage};
use scenemap::sensor::tum::TumSequence;
use scenemap::{Error, PinholeCamera};
use tempfile::TempDir;

const WIDTH: u32 = 8;
const HEIGHT: u32 = 6;

/// A camera matching the small generated images.
fn small_camera() -> PinholeCamera {
    PinholeCamera::new(WIDTH, HEIGHT, 10.0, 10.0, 4.0, 3.0).unwrap()
}

fn colour_png(w: u32, h: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |u, v| image::Rgb([u as u8 * 20, v as u8 * 30, 99]));
    encode(DynamicImage::ImageRgb8(img), ImageFormat::Png)
}

fn depth_png(w: u32, h: u32) -> Vec<u8> {
    let img: ImageBuffer<Luma<u16>, Vec<u16>> =
        ImageBuffer::from_fn(w, h, |u, v| Luma([(5000 + 100 * u + v) as u16]));
    encode(DynamicImage::ImageLuma16(img), ImageFormat::Png)
}

fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// Colour timestamp of frame `i` (depth is 5 ms later).
fn colour_time(i: usize) -> String {
    format!("1305031229.{:06}", 100_000 + 33_000 * i)
}

fn depth_time(i: usize) -> String {
    format!("1305031229.{:06}", 105_000 + 33_000 * i)
}

/// A valid 4-frame sequence of 8x6 images in a temporary folder.
struct Fixture {
    tmp: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let fixture = Self {
            tmp: tempfile::tempdir().unwrap(),
        };
        fs::create_dir(fixture.path("rgb")).unwrap();
        fs::create_dir(fixture.path("depth")).unwrap();
        let mut rgb = String::from("# color images\n# timestamp filename\n");
        let mut depth = String::from("# depth maps\n# timestamp filename\n");
        for i in 0..4 {
            rgb.push_str(&format!("{} rgb/{}.png\n", colour_time(i), colour_time(i)));
            depth.push_str(&format!("{} depth/{}.png\n", depth_time(i), depth_time(i)));
            fixture.write(
                &format!("rgb/{}.png", colour_time(i)),
                &colour_png(WIDTH, HEIGHT),
            );
            fixture.write(
                &format!("depth/{}.png", depth_time(i)),
                &depth_png(WIDTH, HEIGHT),
            );
        }
        fixture.write("rgb.txt", rgb.as_bytes());
        fixture.write("depth.txt", depth.as_bytes());
        fixture
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        fs::write(self.path(name), bytes).unwrap();
    }

    fn colour_image(&self, i: usize) -> PathBuf {
        self.path(&format!("rgb/{}.png", colour_time(i)))
    }

    fn depth_image(&self, i: usize) -> PathBuf {
        self.path(&format!("depth/{}.png", depth_time(i)))
    }

    /// Replaces line `line` (1-based) of a text file.
    fn replace_line(&self, name: &str, line: usize, text: &str) {
        let old = fs::read_to_string(self.path(name)).unwrap();
        let mut lines: Vec<&str> = old.lines().collect();
        lines[line - 1] = text;
        self.write(name, (lines.join("\n") + "\n").as_bytes());
    }

    fn open(&self) -> scenemap::Result<TumSequence> {
        TumSequence::open(self.dir()).map(|s| s.with_camera(small_camera()))
    }
}

/// Asserts the message starts with the file (and `:line` if given).
fn assert_names(err: &Error, path: &Path, line: Option<usize>) {
    let prefix = match line {
        Some(line) => format!("{}:{line}: ", path.display()),
        None => format!("{}: ", path.display()),
    };
    assert!(err.to_string().starts_with(&prefix), "{err}");
}

#[test]
fn valid_fixture_opens_and_decodes() {
    let fixture = Fixture::new();
    let sequence = fixture.open().unwrap();
    assert_eq!(sequence.len(), 4);
    assert!(sequence.groundtruth().is_none() && sequence.accelerometer().is_none());
    for frame in &sequence {
        let frame = frame.unwrap();
        assert_eq!(frame.depth_at(1, 0), Some(5100.0 / 5000.0));
        assert_eq!(frame.color_at(2, 1), Some([40, 30, 99]));
    }
}

#[test]
fn missing_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no_such_sequence");
    let err = TumSequence::open(&missing).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, source } if path == &missing
        && source.kind() == std::io::ErrorKind::NotFound),
        "{err}"
    );
    assert_names(&err, &missing, None);
    // A file is not a folder.
    let file = tmp.path().join("file");
    fs::write(&file, "x").unwrap();
    let err = TumSequence::open(&file).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path == &file),
        "{err}"
    );
}

#[test]
fn empty_folder_names_rgb_txt() {
    let tmp = tempfile::tempdir().unwrap();
    let err = TumSequence::open(tmp.path()).unwrap_err();
    let rgb = tmp.path().join("rgb.txt");
    assert!(
        matches!(&err, Error::Io { path, source } if path == &rgb
        && source.kind() == std::io::ErrorKind::NotFound),
        "{err}"
    );
    assert_names(&err, &rgb, None);
}

#[test]
fn missing_depth_list() {
    let fixture = Fixture::new();
    fs::remove_file(fixture.path("depth.txt")).unwrap();
    let err = fixture.open().unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path == &fixture.path("depth.txt")),
        "{err}"
    );
}

#[test]
fn empty_lists() {
    for name in ["rgb.txt", "depth.txt"] {
        let fixture = Fixture::new();
        fixture.write(name, b"# only a header\n\n");
        let err = fixture.open().unwrap_err();
        assert!(
            matches!(&err, Error::Format { path, .. } if path == &fixture.path(name)),
            "{err}"
        );
        assert_names(&err, &fixture.path(name), None);
        fixture.write(name, b"");
        assert!(matches!(fixture.open().unwrap_err(), Error::Format { .. }));
    }
}

#[test]
fn wrong_field_count() {
    let fixture = Fixture::new();
    fixture.replace_line("rgb.txt", 4, "1305031229.133000 rgb/a.png extra");
    let err = fixture.open().unwrap_err();
    assert!(matches!(&err, Error::Parse { line: 4, .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:4: expected 2 fields, found 3",
            fixture.path("rgb.txt").display()
        )
    );
    let fixture = Fixture::new();
    fixture.replace_line("depth.txt", 3, "1305031229.105000");
    let err = fixture.open().unwrap_err();
    assert!(matches!(&err, Error::Parse { line: 3, .. }), "{err}");
    assert_names(&err, &fixture.path("depth.txt"), Some(3));
}

#[test]
fn bad_timestamp() {
    for bad in ["1305031229.1x", "nan", "1e9", "-"] {
        let fixture = Fixture::new();
        fixture.replace_line("depth.txt", 5, &format!("{bad} depth/x.png"));
        let err = fixture.open().unwrap_err();
        assert!(matches!(&err, Error::Parse { line: 5, .. }), "{bad}: {err}");
        assert_eq!(
            err.to_string(),
            format!(
                "{}:5: invalid timestamp {bad:?}",
                fixture.path("depth.txt").display()
            )
        );
    }
}

#[test]
fn timestamps_backwards_or_duplicated() {
    // Line 4 holds frame 1; give it frame 0's time (duplicate) or an earlier one.
    for (name, stamp) in [
        ("rgb.txt", colour_time(0)),
        ("rgb.txt", "1305031228.000000".to_owned()),
        ("depth.txt", depth_time(0)),
        ("depth.txt", "1.0".to_owned()),
    ] {
        let fixture = Fixture::new();
        let file = if name == "rgb.txt" {
            format!("rgb/{}.png", colour_time(1))
        } else {
            format!("depth/{}.png", depth_time(1))
        };
        fixture.replace_line(name, 4, &format!("{stamp} {file}"));
        let err = fixture.open().unwrap_err();
        assert!(
            matches!(&err, Error::NonMonotonicTimestamp { path, line: 4, .. } if path == &fixture.path(name)),
            "{name} {stamp}: {err}"
        );
        assert_names(&err, &fixture.path(name), Some(4));
    }
}

/// A predicate on the error variant.
type ErrorCheck = fn(&Error) -> bool;

#[test]
fn accelerometer_errors() {
    let good = "# accelerometer data\n1.0 0.1 9.8 0.2\n1.1 0.1 9.8 0.2\n";
    let fixture = Fixture::new();
    fixture.write("accelerometer.txt", good.as_bytes());
    let sequence = fixture.open().unwrap();
    assert_eq!(sequence.accelerometer().map(<[_]>::len), Some(2));
    let path = fixture.path("accelerometer.txt");
    let cases: [(&str, ErrorCheck, &str); 4] = [
        (
            "1.0 0.1 9.8\n",
            |e| matches!(e, Error::Parse { line: 1, .. }),
            "expected 4 fields, found 3",
        ),
        (
            "1.0 0.1 9.8 z\n",
            |e| matches!(e, Error::Parse { line: 1, .. }),
            "invalid number \"z\"",
        ),
        (
            "1.0 0 0 0\n1.0 0 0 0\n",
            |e| matches!(e, Error::NonMonotonicTimestamp { line: 2, .. }),
            "is not after",
        ),
        (
            "# h\n2.0 0 0 0\n\n1.0 0 0 0\n",
            |e| matches!(e, Error::NonMonotonicTimestamp { line: 4, .. }),
            "is not after",
        ),
    ];
    for (text, is_expected, message) in cases {
        fixture.write("accelerometer.txt", text.as_bytes());
        let err = fixture.open().unwrap_err();
        assert!(is_expected(&err), "{text:?}: {err}");
        assert!(
            err.to_string().starts_with(&format!("{}:", path.display())),
            "{err}"
        );
        assert!(err.to_string().contains(message), "{err}");
        let err = scenemap::sensor::read_tum_accelerometer(&path).unwrap_err();
        assert!(is_expected(&err), "{text:?}: {err}");
    }
}

#[test]
fn groundtruth_errors_name_the_line() {
    let fixture = Fixture::new();
    fixture.write(
        "groundtruth.txt",
        b"# ground truth\n1.0 0 0 0 0 0 0 1\n1.1 0 0 0 0 0 1\n",
    );
    let err = fixture.open().unwrap_err();
    assert!(matches!(&err, Error::Parse { line: 3, .. }), "{err}");
    assert_names(&err, &fixture.path("groundtruth.txt"), Some(3));
}

#[test]
fn listed_image_missing() {
    let fixture = Fixture::new();
    fs::remove_file(fixture.colour_image(2)).unwrap();
    let err = fixture.open().unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, source } if path == &fixture.colour_image(2)
            && source.kind() == std::io::ErrorKind::NotFound),
        "{err}"
    );
    // rgb.txt line 5 lists frame 2.
    let list_line = format!("listed at {}:5", fixture.path("rgb.txt").display());
    assert!(err.to_string().contains(&list_line), "{err}");

    // A depth image deleted after opening: the frame error names it and the frame.
    let fixture = Fixture::new();
    let sequence = fixture.open().unwrap();
    fs::remove_file(fixture.depth_image(1)).unwrap();
    let err = sequence.frame(1).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path == &fixture.depth_image(1)),
        "{err}"
    );
    assert!(err.to_string().contains("frame 1 (t = "), "{err}");
    assert!(sequence.frame(0).is_ok() && sequence.frame(2).is_ok());
}

/// Opens the fixture, decodes frame `index`, expects an image error naming `image`.
fn expect_image_error(fixture: &Fixture, index: usize, image: &Path, message: &str) {
    let sequence = fixture.open().unwrap();
    let err = sequence.frame(index).unwrap_err();
    assert!(
        matches!(&err, Error::Image { path, .. } if path == image),
        "{err}"
    );
    assert_names(&err, image, None);
    let text = err.to_string();
    assert!(
        text.contains(&format!("frame {index} (t = {}", colour_time(index))),
        "{text}"
    );
    assert!(text.contains(message), "{text}");
    // The iterator reports the same error at that position and goes on.
    let results: Vec<_> = sequence.frames().collect();
    assert_eq!(results.len(), 4);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.is_err(), i == index, "frame {i}");
    }
}

#[test]
fn corrupt_png() {
    let fixture = Fixture::new();
    let mut bytes = colour_png(WIDTH, HEIGHT);
    let middle = bytes.len() / 2;
    bytes[middle..middle + 8].copy_from_slice(b"garbage!");
    fs::write(fixture.colour_image(1), &bytes).unwrap();
    expect_image_error(&fixture, 1, &fixture.colour_image(1), "cannot decode Png");
    fs::write(fixture.colour_image(1), b"not an image at all").unwrap();
    expect_image_error(&fixture, 1, &fixture.colour_image(1), "not a PNG or JPEG");
}

#[test]
fn truncated_real_depth_png() {
    let Some(real) = common::tum_sequence("fr1_desk_9f") else {
        return;
    };
    let fixture = Fixture::new();
    let bytes = fs::read(real.join("depth/1305031453.374112.png")).unwrap();
    for cut in [bytes.len() / 3, bytes.len() - 5] {
        fs::write(fixture.depth_image(2), &bytes[..cut]).unwrap();
        expect_image_error(&fixture, 2, &fixture.depth_image(2), "truncated");
    }
}

#[test]
fn truncated_real_jpeg() {
    let Some(real) = common::tum_sequence("fr1_rpy") else {
        return;
    };
    let fixture = Fixture::new();
    let bytes = fs::read(real.join("rgb/1305031229.528748.jpg")).unwrap();
    // The real image decodes (and is 640x480, not the fixture's 8x6).
    fs::write(fixture.colour_image(3), &bytes).unwrap();
    expect_image_error(
        &fixture,
        3,
        &fixture.depth_image(3),
        "depth image is 8x6 but colour image",
    );
    for cut in [600, bytes.len() / 2, bytes.len() - 1] {
        fs::write(fixture.colour_image(3), &bytes[..cut]).unwrap();
        expect_image_error(&fixture, 3, &fixture.colour_image(3), "truncated JPEG");
    }
}

#[test]
fn eight_bit_depth_png() {
    let fixture = Fixture::new();
    let gray = DynamicImage::ImageLuma8(image::GrayImage::new(WIDTH, HEIGHT));
    fs::write(fixture.depth_image(0), encode(gray, ImageFormat::Png)).unwrap();
    expect_image_error(
        &fixture,
        0,
        &fixture.depth_image(0),
        "expected 16-bit PNG, found 8-bit grayscale",
    );
    // A colour PNG in the depth folder.
    fs::write(fixture.depth_image(0), colour_png(WIDTH, HEIGHT)).unwrap();
    expect_image_error(
        &fixture,
        0,
        &fixture.depth_image(0),
        "expected 16-bit PNG, found 8-bit RGB",
    );
}

#[test]
fn depth_size_differs_from_colour() {
    let fixture = Fixture::new();
    fs::write(fixture.depth_image(2), depth_png(WIDTH / 2, HEIGHT / 2)).unwrap();
    let message = format!(
        "depth image is 4x3 but colour image {} is 8x6",
        fixture.colour_image(2).display()
    );
    expect_image_error(&fixture, 2, &fixture.depth_image(2), &message);
}

#[test]
fn image_size_differs_from_camera() {
    let fixture = Fixture::new();
    // The temp folder name has no fr1/2/3: Freiburg 1, 640x480.
    let sequence = TumSequence::open(fixture.dir()).unwrap();
    assert_eq!(sequence.camera(), &PinholeCamera::tum_freiburg1());
    let err = sequence.frame(0).unwrap_err();
    assert!(
        matches!(&err, Error::Image { path, .. } if path == &fixture.colour_image(0)),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("image is 8x6 but the camera is 640x480"),
        "{err}"
    );
}

#[test]
fn nothing_to_associate() {
    let fixture = Fixture::new();
    // Shift every depth timestamp by 1 s: no pair within 0.02 s.
    let text = fs::read_to_string(fixture.path("depth.txt")).unwrap();
    fixture.write(
        "depth.txt",
        text.replace("1305031229.", "1305031230.")
            .replace("depth/1305031230.", "depth/1305031229.")
            .as_bytes(),
    );
    let err = fixture.open().unwrap_err();
    assert!(
        matches!(&err, Error::Format { path, .. } if path == fixture.dir()),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("no colour/depth pair within 0.02 s"),
        "{err}"
    );
}

#[test]
fn invalid_builder_arguments() {
    let fixture = Fixture::new();
    for scale in [0.0, -5000.0, f32::NAN] {
        let err = fixture.open().unwrap().with_depth_scale(scale).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
    }
    for max_s in [0.0, f64::INFINITY, -0.02] {
        let err = fixture
            .open()
            .unwrap()
            .with_max_difference_s(max_s)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
    }
    let err = fixture.open().unwrap().frame(4).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
}

#[test]
fn non_utf8_list_is_an_io_error() {
    let fixture = Fixture::new();
    fixture.write("rgb.txt", &[0xff, 0xfe, b'1', b' ', b'a']);
    let err = fixture.open().unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path == &fixture.path("rgb.txt")),
        "{err}"
    );
}
