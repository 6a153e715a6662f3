//! Helpers of the `.rrd` tests: the python read-back (`read_rrd.py`) and
//! `rerun rrd verify`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn python() -> String {
    std::env::var("SCENEMAP_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `Some(())` if python with rerun-sdk 0.36.3 is available; `None` (skip)
/// outside CI; panics under CI or on a version mismatch.
pub fn rerun_python() -> Option<()> {
    let out = Command::new(python())
        .args(["-c", "import rerun; print(rerun.__version__)"])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let version = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            assert_eq!(
                version, "0.36.3",
                "python rerun-sdk {version} does not match the crate's rerun 0.36.3"
            );
            Some(())
        }
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
                Err(e) => e.to_string(),
            };
            let msg = format!(
                "python rerun-sdk not usable ({}: {why}); install with `pip install rerun-sdk==0.36.3`",
                python()
            );
            if under_ci() {
                panic!("{msg}");
            }
            eprintln!("skipping .rrd read-back: {msg}");
            None
        }
    }
}

pub fn read_rrd(path: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/viz/read_rrd.py");
    let out = Command::new(python())
        .arg(script)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "read_rrd.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Frames (sorted) at which `component` was logged on `entity`.
pub fn frames(summary: &Value, entity: &str, component: &str) -> Vec<u64> {
    let c = &summary["entities"][entity]["components"][component];
    assert!(
        c.is_object(),
        "{entity} has no {component}: {}",
        summary["entities"][entity]
    );
    c["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_u64().unwrap())
        .collect()
}

/// `rerun rrd verify FILE` (the pip package's CLI) accepts the file; skipped
/// with a message when the CLI is not on `PATH`.
pub fn rrd_verify(path: &Path) {
    match Command::new("rerun")
        .args(["rrd", "verify"])
        .arg(path)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "rerun rrd verify failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("skipping `rerun rrd verify`: {e}"),
    }
}

/// The camera was logged in frames `0..n`: pose and both images every
/// frame on the `frame` and `time` timelines, the intrinsics once.
pub fn assert_camera_every_frame(summary: &Value, n: u64) {
    let all: Vec<u64> = (0..n).collect();
    for (entity, component) in [
        ("/world/camera", "Transform3D:translation"),
        ("/world/camera/image/rgb", "Image:buffer"),
        ("/world/camera/image/depth", "DepthImage:buffer"),
    ] {
        assert_eq!(frames(summary, entity, component), all, "{entity}");
    }
    assert_eq!(
        frames(summary, "/world/camera/image", "Pinhole:image_from_camera"),
        vec![0]
    );
    let timelines = &summary["entities"]["/world/camera"]["timelines"];
    for timeline in ["frame", "time"] {
        assert!(
            timelines.as_array().unwrap().iter().any(|t| t == timeline),
            "missing timeline {timeline}: {timelines}"
        );
    }
}
