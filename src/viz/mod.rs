//! Live visualisation in [Rerun](https://rerun.io), behind the `rerun` cargo
//! feature.
//!
//! The [`Visualizer`] wraps a [`rerun::RecordingStream`] and takes plain
//! structure-of-arrays inputs ([`MeshSlices`], [`ObjectViz`], ...) so any
//! mesh or map type can hand its data over without a conversion layer here.
//! [`PipelineLogger`] streams a whole [`Pipeline`](crate::pipeline::Pipeline)
//! run through it, frame by frame (what `--rerun` in the `demo` and `tum`
//! examples uses).
//!
//! # Why `rerun` is not a default feature
//! `rerun 0.36.3` (`sdk` only) adds about 350 crates to the 177 of the core.
//! Measured on the shared 2-core machine (load 8–23, `nice -n 15`, dependency
//! opt-level 0): a cold `cargo check --features rerun` took 11 min 49 s and
//! the debug build of the test binary a further 15 min 47 s; a cold release
//! build is about 14 min on an idle machine (`../shared/CRATES.md`). The
//! core alone builds in well under two minutes. So the viewer is opt-in
//! (`--features rerun`); the top-down PNG ([`crate::viz_png`]) needs no
//! feature.
//!
//! Cost (debug build, same loaded machine): logging a 640x480 colour +
//! depth frame with its pose takes about 42 ms (1.5 MB raw; the `.rrd`
//! stores about 41 kB per frame of the synthetic scene after compression),
//! a changed mesh block 0.15 ms, an unchanged scene graph 0.1 ms. Use
//! [`VizOptions::image_every_n_frames`] to thin the images.
//!
//! # Entity layout (world z up)
//! | entity | archetype | logged |
//! |---|---|---|
//! | `world` | `ViewCoordinates::RIGHT_HAND_Z_UP` | once, static |
//! | `world/camera` | `Transform3D` (`world_from_camera`) | every frame |
//! | `world/camera/image` | `Pinhole` (distortion not shown) | when the intrinsics change |
//! | `world/camera/image/rgb` | `Image` RGB8 | every `image_every_n_frames` |
//! | `world/camera/image/depth` | `DepthImage` u16, [`DEPTH_UNITS_PER_M`] per m | with the colour image |
//! | `world/trajectory/<k>` | `LineStrips3D`, [`TRAJECTORY_CHUNK_POSES`] poses each | when the camera moved; only the last chunk is re-sent |
//! | `world/mesh/<bx>_<by>_<bz>` | `Mesh3D` of one block | when that block changed; `Clear` when removed |
//! | `world/objects/<id>` | `Boxes3D` with label | when the object changed; `Clear` (recursive) when gone |
//! | `world/objects/<id>/grasps` | `Arrows3D` | with the object |
//! | `world/surfaces/<id>` | `Boxes3D`, flat and solid | when changed; `Clear` when gone |
//!
//! Time: every entry is stamped on two timelines, `frame` (sequence index)
//! and `time` (the frame's [`Timestamp`] as a timestamp, ns since the epoch).
//!
//! # Quick start
//! ```no_run
//! use nalgebra::Isometry3;
//! use scenemap::viz::{MeshBlock, Visualizer, VizSink};
//! use scenemap::viz_png::MeshSlices;
//! use scenemap::{PinholeCamera, Timestamp};
//!
//! let mut viz = Visualizer::new(&"save=run.rrd".parse::<VizSink>()?)?;
//! let camera = PinholeCamera::tum_freiburg1();
//! let positions_m = [[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.1, 0.0]];
//! let triangles = [[0, 1, 2]];
//! for i in 0..10u64 {
//!     viz.begin_frame(i, Timestamp::from_secs_f64(1.0 + 0.033 * i as f64));
//!     viz.log_camera(&camera, &Isometry3::identity(), None)?;
//!     let block = MeshBlock { key: [0, 0, 0], mesh: MeshSlices::new(&positions_m, &triangles) };
//!     viz.log_mesh_blocks(&[block], &[])?;
//! }
//! viz.flush()?;
//! # Ok::<(), scenemap::Error>(())
//! ```

mod label;
mod pipeline_log;
mod sink;

use std::collections::{BTreeMap, BTreeSet};

use nalgebra::{Isometry3, Point3};
use rerun::{
    Arrows3D, Boxes3D, Clear, Color, DepthImage, FillMode, Image, LineStrips3D, Mesh3D, Pinhole,
    Quaternion, RecordingStream, RecordingStreamBuilder, TimeCell, Transform3D, ViewCoordinates,
};

pub use label::{
    format_2sig, grasp_label, object_label, ObjectViz, SurfaceViz, MIN_SURFACE_HALF_THICKNESS_M,
};
pub use pipeline_log::PipelineLogger;
pub use sink::{VizSink, VIZ_SINK_SYNTAX};

use crate::error::{Error, Result};
use crate::geometry::PinholeCamera;
use crate::scene_graph::{GraspCandidate, GravityAlignedBox, SceneGraph};
use crate::sensor::{RgbdFrame, Timestamp};
use crate::viz_png::MeshSlices;

/// Depth images are sent as u16 with this many units per metre (the TUM
/// convention: 0.2 mm steps, up to 13.1 m). Deeper or invalid pixels are 0.
pub const DEPTH_UNITS_PER_M: f32 = 5000.0;

/// Poses per trajectory line-strip entity: bounds what a frame re-sends.
pub const TRAJECTORY_CHUNK_POSES: usize = 256;

/// Length of a grasp approach arrow, m.
pub const GRASP_ARROW_LENGTH_M: f64 = 0.10;

/// Index of a map block (voxel-block coordinates).
pub type BlockKey = [i32; 3];

/// The sub-mesh of one map block.
#[derive(Clone, Copy, Debug)]
pub struct MeshBlock<'a> {
    /// Block coordinates (entity `world/mesh/<x>_<y>_<z>`).
    pub key: BlockKey,
    /// The block's triangles in world coordinates.
    pub mesh: MeshSlices<'a>,
}

/// Options of a [`Visualizer`].
#[derive(Clone, Debug, PartialEq)]
pub struct VizOptions {
    /// Rerun application id (groups recordings in the viewer).
    pub application_id: String,
    /// Log colour and depth images every n-th [`Visualizer::log_camera`]
    /// call that carries a frame (1 = all, 0 = never).
    pub image_every_n_frames: u32,
    /// A new trajectory point is added when the camera moved at least this
    /// far from the last one, m.
    pub trajectory_min_step_m: f64,
}

impl Default for VizOptions {
    fn default() -> Self {
        Self {
            application_id: "scenemap".to_owned(),
            image_every_n_frames: 1,
            trajectory_min_step_m: 0.005,
        }
    }
}

/// Counters of what a [`Visualizer`] sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VizStats {
    /// Camera poses logged.
    pub camera_poses: u64,
    /// Colour+depth image pairs logged.
    pub images: u64,
    /// Depth pixels beyond the u16 range, sent as invalid.
    pub depth_pixels_clipped: u64,
    /// Mesh block entries sent.
    pub blocks_logged: u64,
    /// Mesh blocks cleared.
    pub blocks_cleared: u64,
    /// Object boxes sent (unchanged objects are not re-sent).
    pub objects_logged: u64,
    /// Objects cleared.
    pub objects_cleared: u64,
    /// Surfaces sent.
    pub surfaces_logged: u64,
    /// Surfaces cleared.
    pub surfaces_cleared: u64,
}

/// Logs a mapping session to Rerun; see the [module docs](self) for the
/// entity layout.
pub struct Visualizer {
    rec: RecordingStream,
    options: VizOptions,
    frame_index: Option<i64>,
    timestamp: Option<Timestamp>,
    camera_calls: u64,
    last_pinhole: Option<PinholeCamera>,
    trajectory: Vec<[f32; 3]>,
    blocks: BTreeSet<BlockKey>,
    objects: BTreeMap<u64, ObjectViz>,
    surfaces: BTreeMap<u64, SurfaceViz>,
    stats: VizStats,
}

/// Maps a Rerun error into [`Error::Viz`] with context.
fn viz_error(context: impl std::fmt::Display, error: impl std::fmt::Display) -> Error {
    Error::Viz(format!("{context}: {error}"))
}

fn to_f32(p: &Point3<f64>) -> [f32; 3] {
    [p.x as f32, p.y as f32, p.z as f32]
}

/// `(centre, half size, rotation about z)` of a box for `Boxes3D`.
fn box_parts(b: &GravityAlignedBox, min_half_z_m: f64) -> ([f32; 3], [f32; 3], Quaternion) {
    let h = b.half_extents_m;
    let (s, c) = (0.5 * b.yaw_rad).sin_cos();
    (
        to_f32(&b.center_m),
        [h.x as f32, h.y as f32, h.z.max(min_half_z_m) as f32],
        Quaternion::from_xyzw([0.0, 0.0, s as f32, c as f32]),
    )
}

impl Visualizer {
    /// Opens `sink` with default options.
    pub fn new(sink: &VizSink) -> Result<Self> {
        Self::with_options(sink, VizOptions::default())
    }

    /// Opens `sink` with `options`.
    pub fn with_options(sink: &VizSink, options: VizOptions) -> Result<Self> {
        let application_id = rerun::ApplicationId::try_new(options.application_id.clone())
            .map_err(|e| viz_error(format!("application id {:?}", options.application_id), e))?;
        let builder = RecordingStreamBuilder::new(application_id);
        let rec = match sink {
            VizSink::Spawn => builder
                .spawn()
                .map_err(|e| viz_error("cannot spawn a Rerun viewer (is `rerun` on PATH?)", e))?,
            VizSink::Connect(address) => {
                let url = VizSink::grpc_url(address.as_deref());
                builder
                    .connect_grpc_opts(url.clone())
                    .map_err(|e| viz_error(format!("cannot connect to {url}"), e))?
            }
            VizSink::Save(path) => builder.save(path).map_err(|e| {
                viz_error(format!("{}: cannot create .rrd file", path.display()), e)
            })?,
        };
        Self::from_stream(rec, options)
    }

    /// Wraps an existing recording stream (e.g. a memory sink in tests).
    pub fn from_stream(rec: RecordingStream, options: VizOptions) -> Result<Self> {
        rec.log_static("world", &ViewCoordinates::RIGHT_HAND_Z_UP())
            .map_err(|e| viz_error("world view coordinates", e))?;
        Ok(Self {
            rec,
            options,
            frame_index: None,
            timestamp: None,
            camera_calls: 0,
            last_pinhole: None,
            trajectory: Vec::new(),
            blocks: BTreeSet::new(),
            objects: BTreeMap::new(),
            surfaces: BTreeMap::new(),
            stats: VizStats::default(),
        })
    }

    /// The underlying stream, for logging extra entities.
    pub fn stream(&self) -> &RecordingStream {
        &self.rec
    }

    /// What has been sent so far.
    pub fn stats(&self) -> VizStats {
        self.stats
    }

    /// Sets the time of everything logged next: `frame` = `frame_index`,
    /// `time` = `timestamp`.
    pub fn begin_frame(&mut self, frame_index: u64, timestamp: Timestamp) {
        self.frame_index = Some(i64::try_from(frame_index).unwrap_or(i64::MAX));
        self.timestamp = Some(timestamp);
        self.apply_time();
    }

    /// Rerun keeps the time per thread; re-applying it before each log makes
    /// the visualiser usable from whichever thread owns it.
    fn apply_time(&self) {
        if let Some(frame) = self.frame_index {
            self.rec.set_time("frame", TimeCell::from_sequence(frame));
        }
        if let Some(t) = self.timestamp {
            self.rec
                .set_time("time", TimeCell::from_timestamp_nanos_since_epoch(t.0));
        }
    }

    fn log(&self, path: &str, what: &impl rerun::AsComponents) -> Result<()> {
        self.rec.log(path, what).map_err(|e| viz_error(path, e))
    }

    /// Logs the camera pose, its intrinsics (when changed), the colour and
    /// depth images of `frame` (every `image_every_n_frames`) and extends the
    /// trajectory. Fails if the frame's size differs from the camera's.
    pub fn log_camera(
        &mut self,
        camera: &PinholeCamera,
        world_from_camera: &Isometry3<f64>,
        frame: Option<&RgbdFrame>,
    ) -> Result<()> {
        if let Some(f) = frame {
            if (f.width, f.height) != (camera.width, camera.height) {
                return Err(Error::InvalidFrame {
                    frame: f.timestamp,
                    message: format!(
                        "image is {}x{} but the camera is {}x{}",
                        f.width, f.height, camera.width, camera.height
                    ),
                });
            }
        }
        self.apply_time();
        let t = world_from_camera.translation.vector;
        let q = world_from_camera.rotation.coords; // [x, y, z, w]
        self.log(
            "world/camera",
            &Transform3D::from_translation_rotation(
                [t.x as f32, t.y as f32, t.z as f32],
                Quaternion::from_xyzw([q.x as f32, q.y as f32, q.z as f32, q.w as f32]),
            ),
        )?;
        self.stats.camera_poses += 1;
        if self.last_pinhole != Some(*camera) {
            self.log(
                "world/camera/image",
                &Pinhole::from_focal_length_and_resolution(
                    [camera.fx as f32, camera.fy as f32],
                    [camera.width as f32, camera.height as f32],
                )
                .with_principal_point([camera.cx as f32, camera.cy as f32]),
            )?;
            self.last_pinhole = Some(*camera);
        }
        if let Some(f) = frame {
            let n = u64::from(self.options.image_every_n_frames);
            if n > 0 && self.camera_calls.is_multiple_of(n) {
                self.log_images(f)?;
            }
            self.camera_calls += 1;
        }
        self.extend_trajectory([t.x as f32, t.y as f32, t.z as f32])
    }

    fn log_images(&mut self, frame: &RgbdFrame) -> Result<()> {
        let size = [frame.width, frame.height];
        let rgb: Vec<u8> = frame.color.as_flattened().to_vec();
        self.log("world/camera/image/rgb", &Image::from_rgb24(rgb, size))?;
        let mut depth = Vec::with_capacity(frame.depth_m.len() * 2);
        for &d in &frame.depth_m {
            let units = if RgbdFrame::is_valid_depth(d) {
                let u = (d * DEPTH_UNITS_PER_M).round();
                if u > f32::from(u16::MAX) {
                    self.stats.depth_pixels_clipped += 1;
                    0
                } else {
                    u as u16
                }
            } else {
                0
            };
            depth.extend_from_slice(&units.to_ne_bytes());
        }
        self.log(
            "world/camera/image/depth",
            &DepthImage::from_gray16(depth, size).with_meter(DEPTH_UNITS_PER_M),
        )?;
        self.stats.images += 1;
        Ok(())
    }

    fn extend_trajectory(&mut self, position_m: [f32; 3]) -> Result<()> {
        if let Some(last) = self.trajectory.last() {
            let d2: f32 = (0..3).map(|i| (position_m[i] - last[i]).powi(2)).sum();
            if f64::from(d2.sqrt()) < self.options.trajectory_min_step_m {
                return Ok(());
            }
        }
        self.trajectory.push(position_m);
        let last = self.trajectory.len() - 1;
        let chunk = last / TRAJECTORY_CHUNK_POSES;
        // Start one pose early so consecutive chunks join up.
        let start = (chunk * TRAJECTORY_CHUNK_POSES).saturating_sub(1);
        let strip = self.trajectory[start..].to_vec();
        self.log(
            &format!("world/trajectory/{chunk}"),
            &LineStrips3D::new([strip]).with_colors([[255u8, 200, 0]]),
        )
    }

    /// Logs changed mesh blocks and clears removed ones; blocks not listed
    /// are not re-sent. A changed block with an empty mesh is cleared.
    /// Every block is validated before anything is sent.
    pub fn log_mesh_blocks(
        &mut self,
        changed: &[MeshBlock<'_>],
        removed: &[BlockKey],
    ) -> Result<()> {
        for block in changed {
            block
                .mesh
                .validate()
                .map_err(|e| Error::InvalidArgument(format!("mesh block {:?}: {e}", block.key)))?;
        }
        self.apply_time();
        for block in changed {
            if block.mesh.is_empty() {
                self.clear_block(block.key)?;
                continue;
            }
            let m = &block.mesh;
            let mut mesh3d = Mesh3D::new(m.positions_m.iter().copied())
                .with_triangle_indices(m.triangles.iter().copied());
            if !m.colors.is_empty() {
                mesh3d = mesh3d.with_vertex_colors(m.colors.iter().map(|&c| Color::from(c)));
            }
            if let Some(normals) = m.normals {
                mesh3d = mesh3d.with_vertex_normals(normals.iter().copied());
            }
            self.log(&block_path(block.key), &mesh3d)?;
            self.blocks.insert(block.key);
            self.stats.blocks_logged += 1;
        }
        for &key in removed {
            self.clear_block(key)?;
        }
        Ok(())
    }

    fn clear_block(&mut self, key: BlockKey) -> Result<()> {
        if self.blocks.remove(&key) {
            self.log(&block_path(key), &Clear::flat())?;
            self.stats.blocks_cleared += 1;
        }
        Ok(())
    }

    /// Makes the viewer show exactly `objects`: new or changed ones are sent,
    /// unchanged ones are not, and previously logged objects missing from
    /// the list are cleared (with their grasps).
    pub fn log_objects(&mut self, objects: &[ObjectViz]) -> Result<()> {
        self.apply_time();
        let present: BTreeSet<u64> = objects.iter().map(|o| o.id).collect();
        let gone: Vec<u64> = self
            .objects
            .keys()
            .filter(|id| !present.contains(id))
            .copied()
            .collect();
        for id in gone {
            self.log(&format!("world/objects/{id}"), &Clear::recursive())?;
            self.objects.remove(&id);
            self.stats.objects_cleared += 1;
        }
        for object in objects {
            let previous = self.objects.get(&object.id);
            if previous == Some(object) {
                continue;
            }
            let had_grasps = previous.is_some_and(|p| !p.grasps.is_empty());
            let path = format!("world/objects/{}", object.id);
            let (center, half, rotation) = box_parts(&object.bounding_box, 0.0);
            self.log(
                &path,
                &Boxes3D::from_centers_and_half_sizes([center], [half])
                    .with_quaternions([rotation])
                    .with_colors([object.color])
                    .with_labels([object.label.as_str()]),
            )?;
            if !object.grasps.is_empty() {
                self.log(&format!("{path}/grasps"), &grasp_arrows(&object.grasps))?;
            } else if had_grasps {
                self.log(&format!("{path}/grasps"), &Clear::flat())?;
            }
            self.objects.insert(object.id, object.clone());
            self.stats.objects_logged += 1;
        }
        Ok(())
    }

    /// Makes the viewer show exactly `surfaces` (same change tracking as
    /// [`Self::log_objects`]).
    pub fn log_surfaces(&mut self, surfaces: &[SurfaceViz]) -> Result<()> {
        self.apply_time();
        let present: BTreeSet<u64> = surfaces.iter().map(|s| s.id).collect();
        let gone: Vec<u64> = self
            .surfaces
            .keys()
            .filter(|id| !present.contains(id))
            .copied()
            .collect();
        for id in gone {
            self.log(&format!("world/surfaces/{id}"), &Clear::recursive())?;
            self.surfaces.remove(&id);
            self.stats.surfaces_cleared += 1;
        }
        for surface in surfaces {
            if self.surfaces.get(&surface.id) == Some(surface) {
                continue;
            }
            let (center, half, rotation) =
                box_parts(&surface.bounding_box, MIN_SURFACE_HALF_THICKNESS_M);
            self.log(
                &format!("world/surfaces/{}", surface.id),
                &Boxes3D::from_centers_and_half_sizes([center], [half])
                    .with_quaternions([rotation])
                    .with_fill_mode(FillMode::Solid)
                    .with_colors([[90u8, 140, 200, 90]])
                    .with_labels([surface.label.as_str()]),
            )?;
            self.surfaces.insert(surface.id, surface.clone());
            self.stats.surfaces_logged += 1;
        }
        Ok(())
    }

    /// Logs the objects (labels with forces for a push at `push_height_m`,
    /// see [`object_label`]) and support surfaces of a scene graph.
    pub fn log_scene_graph(&mut self, graph: &SceneGraph, push_height_m: f64) -> Result<()> {
        let objects: Vec<ObjectViz> = graph
            .objects()
            .map(|o| ObjectViz::from_node(o, push_height_m))
            .collect();
        let surfaces: Vec<SurfaceViz> = graph.surfaces().map(SurfaceViz::from_node).collect();
        self.log_objects(&objects)?;
        self.log_surfaces(&surfaces)
    }

    /// Blocks until everything logged so far reached the sink (file written,
    /// viewer received).
    pub fn flush(&self) -> Result<()> {
        self.rec
            .flush_blocking()
            .map_err(|e| viz_error("flushing the Rerun stream", e))
    }
}

/// Entity path of a mesh block: `world/mesh/<x>_<y>_<z>`.
pub fn block_path(key: BlockKey) -> String {
    format!("world/mesh/{}_{}_{}", key[0], key[1], key[2])
}

/// Approach arrows ending at the midpoint between the fingers, coloured from
/// red (score 0) to green (score 1).
fn grasp_arrows(grasps: &[GraspCandidate]) -> Arrows3D {
    let mut origins = Vec::with_capacity(grasps.len());
    let mut vectors = Vec::with_capacity(grasps.len());
    let mut colors = Vec::with_capacity(grasps.len());
    let mut labels = Vec::with_capacity(grasps.len());
    for g in grasps {
        let mid = nalgebra::center(&g.contact_a_m, &g.contact_b_m);
        let v = g.approach * GRASP_ARROW_LENGTH_M;
        origins.push(to_f32(&(mid - v)));
        vectors.push([v.x as f32, v.y as f32, v.z as f32]);
        let s = g.score.clamp(0.0, 1.0);
        colors.push([(255.0 * (1.0 - s)) as u8, (255.0 * s) as u8, 40]);
        labels.push(grasp_label(g));
    }
    Arrows3D::from_vectors(vectors)
        .with_origins(origins)
        .with_colors(colors)
        .with_labels(labels)
}
