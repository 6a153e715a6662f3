//! Logs a [`Pipeline`] run frame by frame: the glue between the pipeline
//! and the [`Visualizer`] that the examples (`demo`, `tum`) and the `.rrd`
//! test share.
//!
//! Per frame: the camera (pose, pinhole, colour and depth images), the
//! trajectory, the mesh blocks whose piece changed since the last frame
//! ([`Mesher::changed_since`](crate::mesh::Mesher::changed_since): never the
//! whole mesh), and the objects (labelled boxes with mass and push forces,
//! grasp arrows) and support surfaces of the latest scene graph, sent only
//! when they changed. Everything is stamped with the frame index and the
//! frame's timestamp.

use crate::error::Result;
use crate::mesh::BlockMesh;
use crate::pipeline::{FrameResult, Pipeline};
use crate::sensor::RgbdFrame;
use crate::viz_png::MeshSlices;

use super::{BlockKey, MeshBlock, Visualizer, VizOptions, VizSink, VizStats};

/// One changed block's piece with its vertices as plain arrays.
struct BlockArrays<'a> {
    key: BlockKey,
    positions: Vec<[f32; 3]>,
    normals: Vec<[f32; 3]>,
    piece: &'a BlockMesh,
}

/// Streams a pipeline run to a [`Visualizer`].
///
/// ```no_run
/// use scenemap::pipeline::Pipeline;
/// use scenemap::sensor::TumSequence;
/// use scenemap::viz::PipelineLogger;
///
/// let sequence = TumSequence::open("data/tum/fr1_desk")?;
/// let mut pipeline = Pipeline::new(Default::default(), *sequence.camera())?;
/// let mut viz = PipelineLogger::open("save=desk.rrd", 0.8)?;
/// for frame in &sequence {
///     let frame = frame?;
///     let result = pipeline.process(&frame)?;
///     viz.log_frame(&pipeline, &frame, &result)?;
/// }
/// pipeline.finish()?;
/// viz.finish(&pipeline)?;
/// # Ok::<(), scenemap::Error>(())
/// ```
pub struct PipelineLogger {
    viz: Visualizer,
    push_height_m: f64,
    /// Mesher generation already sent.
    mesh_generation: u64,
    /// Frames logged so far (the `frame` timeline).
    frames: u64,
    /// Mesh block updates sent, per `log_map` call that sent any.
    mesh_updates: Vec<usize>,
}

impl PipelineLogger {
    /// Wraps `viz`; object labels give the push forces at `push_height_m`
    /// above the support.
    pub fn new(viz: Visualizer, push_height_m: f64) -> Self {
        Self {
            viz,
            push_height_m,
            mesh_generation: 0,
            frames: 0,
            mesh_updates: Vec::new(),
        }
    }

    /// Opens the sink given as on the command line
    /// (`spawn | connect | connect=ADDR | save=FILE.rrd`) with default
    /// [`VizOptions`].
    pub fn open(sink: &str, push_height_m: f64) -> Result<Self> {
        Self::open_with(sink, VizOptions::default(), push_height_m)
    }

    /// [`Self::open`] with `options`.
    pub fn open_with(sink: &str, options: VizOptions, push_height_m: f64) -> Result<Self> {
        let sink: VizSink = sink.parse()?;
        Ok(Self::new(
            Visualizer::with_options(&sink, options)?,
            push_height_m,
        ))
    }

    /// `None` when `flag` is `None` (no `--rerun` given), else
    /// [`Self::open`].
    pub fn from_flag(flag: Option<&str>, push_height_m: f64) -> Result<Option<Self>> {
        flag.map(|sink| Self::open(sink, push_height_m)).transpose()
    }

    /// Logs `frame` (just given to the pipeline, which returned `result`)
    /// and whatever the map and scene graph changed since the last call.
    pub fn log_frame(
        &mut self,
        pipeline: &Pipeline,
        frame: &RgbdFrame,
        result: &FrameResult,
    ) -> Result<()> {
        self.viz.begin_frame(self.frames, result.timestamp);
        self.frames += 1;
        self.viz
            .log_camera(pipeline.camera(), &result.world_from_camera, Some(frame))?;
        self.log_map(pipeline)
    }

    /// Logs the mesh blocks changed since the last call and the scene graph
    /// (changed objects and surfaces only), at the time of the last frame.
    pub fn log_map(&mut self, pipeline: &Pipeline) -> Result<()> {
        let mesher = pipeline.mesher();
        let changed = mesher.changed_since(self.mesh_generation);
        self.mesh_generation = mesher.generation();
        if !changed.is_empty() {
            // Owned vertex arrays first: `MeshSlices` borrows them.
            let arrays: Vec<BlockArrays<'_>> = changed
                .iter()
                .filter_map(|(index, piece)| {
                    piece.map(|piece| BlockArrays {
                        key: [index.x, index.y, index.z],
                        positions: piece.vertices.iter().map(|v| [v.x, v.y, v.z]).collect(),
                        normals: piece.normals.iter().map(|n| [n.x, n.y, n.z]).collect(),
                        piece,
                    })
                })
                .collect();
            let blocks: Vec<MeshBlock<'_>> = arrays
                .iter()
                .map(|a| MeshBlock {
                    key: a.key,
                    mesh: MeshSlices::new(&a.positions, &a.piece.triangles)
                        .with_colors(&a.piece.colors)
                        .with_normals(&a.normals),
                })
                .collect();
            let removed: Vec<BlockKey> = changed
                .iter()
                .filter(|(_, piece)| piece.is_none())
                .map(|(index, _)| [index.x, index.y, index.z])
                .collect();
            self.viz.log_mesh_blocks(&blocks, &removed)?;
            self.mesh_updates.push(changed.len());
        }
        self.viz
            .log_scene_graph(pipeline.scene_graph(), self.push_height_m)
    }

    /// After [`Pipeline::finish`]: logs the last mesh and scene-graph
    /// changes and waits until everything reached the sink.
    pub fn finish(&mut self, pipeline: &Pipeline) -> Result<()> {
        self.log_map(pipeline)?;
        self.viz.flush()
    }

    /// Frames logged so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Number of changed mesh blocks sent by each update that sent any
    /// (the incremental mesh stream, for tests and cost reports).
    pub fn mesh_updates(&self) -> &[usize] {
        &self.mesh_updates
    }

    /// What has been sent so far.
    pub fn stats(&self) -> VizStats {
        self.viz.stats()
    }

    /// The visualiser, e.g. to log extra entities.
    pub fn visualizer(&mut self) -> &mut Visualizer {
        &mut self.viz
    }
}
