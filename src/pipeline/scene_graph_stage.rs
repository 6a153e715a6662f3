//! The scene-graph stage: runs [`SceneGraphBuilder::update`] inline or on a
//! background thread working on a snapshot of the map.
//!
//! The snapshot is an `Arc<TsdfVolume>` shared with the pipeline plus the
//! mesh's surface samples. The pipeline writes the volume through
//! [`Arc::make_mut`], so the volume is copied only if the worker still
//! holds it when the next frame is fused (copy-on-write); a finished worker
//! has dropped its reference and no copy happens. Results are picked up by
//! [`SceneGraphStage::poll`] at the start of a later frame.

use std::sync::Arc;
use std::thread::JoinHandle;

use nalgebra::Isometry3;

use super::reader::{has_readers, MapSnapshot, Published};
use crate::error::{Error, Result};
use crate::geometry::PinholeCamera;
use crate::scene_graph::map_query::SurfaceSamples;
use crate::scene_graph::segmentation::Segmenter;
use crate::scene_graph::{SceneGraph, SceneGraphBuilder, SceneGraphConfig, SceneGraphUpdateStats};
use crate::sensor::{RgbdFrame, Timestamp};
use crate::tsdf::TsdfVolume;

type WorkerOutput = (SceneGraphBuilder, Result<SceneGraphUpdateStats>);

/// Where the builder is.
enum Builder {
    Idle(Box<SceneGraphBuilder>),
    Busy(JoinHandle<WorkerOutput>),
    /// Only transiently during a hand-over, or after a worker panicked.
    Gone,
}

/// Owns the scene-graph builder and the latest completed graph.
pub(crate) struct SceneGraphStage {
    builder: Builder,
    config: SceneGraphConfig,
    /// The latest completed graph (what `Pipeline::scene_graph` returns).
    pub(crate) graph: SceneGraph,
    pub(crate) updates: usize,
    pub(crate) last_stats: Option<SceneGraphUpdateStats>,
    /// Where completed updates are published for
    /// [`PipelineReader`](super::PipelineReader)s (the stage holds the only
    /// non-reader handle).
    pub(crate) published: Arc<Published>,
    /// The map (and its timestamp) the running update reads, kept for
    /// readers only while any exist.
    for_readers: Option<(Arc<TsdfVolume>, Timestamp)>,
    /// Labels the observed frames (none: objects stay unlabelled).
    pub(crate) segmenter: Option<Box<dyn Segmenter + Send>>,
}

impl SceneGraphStage {
    pub(crate) fn new(config: &SceneGraphConfig) -> Result<Self> {
        Ok(Self {
            builder: Builder::Idle(Box::new(SceneGraphBuilder::new(config.clone())?)),
            config: config.clone(),
            graph: SceneGraph::new(),
            updates: 0,
            last_stats: None,
            published: Arc::new(Published::default()),
            for_readers: None,
            segmenter: None,
        })
    }

    /// Feeds a tracked frame to the builder (with the segmenter's instance
    /// mask, if one is plugged in); skipped while the worker runs, and then
    /// the segmenter is not asked either.
    pub(crate) fn observe(
        &mut self,
        frame: &RgbdFrame,
        camera: &PinholeCamera,
        world_from_camera: &Isometry3<f64>,
    ) -> Result<()> {
        let Builder::Idle(builder) = &mut self.builder else {
            return Ok(());
        };
        let segmentation = match self.segmenter.as_mut() {
            Some(segmenter) => segmenter.segment(frame)?,
            None => None,
        };
        builder.observe_frame(frame, camera, world_from_camera, segmentation.as_ref())?;
        Ok(())
    }

    /// Whether a worker is running.
    pub(crate) fn is_busy(&self) -> bool {
        matches!(self.builder, Builder::Busy(_))
    }

    /// Picks up the worker's result if it finished (`wait`: block until it
    /// does). A failed update keeps the previous graph and returns its error.
    pub(crate) fn poll(&mut self, wait: bool) -> Result<()> {
        let finished = match &self.builder {
            Builder::Busy(handle) => wait || handle.is_finished(),
            Builder::Idle(_) => false,
            Builder::Gone => {
                // The previous worker panicked: start afresh (identity of
                // objects restarts; the last graph is kept until then).
                self.builder =
                    Builder::Idle(Box::new(SceneGraphBuilder::new(self.config.clone())?));
                false
            }
        };
        if !finished {
            return Ok(());
        }
        let Builder::Busy(handle) = std::mem::replace(&mut self.builder, Builder::Gone) else {
            return Ok(());
        };
        match handle.join() {
            Ok((builder, stats)) => {
                self.builder = Builder::Idle(Box::new(builder));
                self.finish_update(stats)
            }
            Err(_) => Err(Error::InvalidArgument(
                "scene-graph worker thread panicked; the builder was restarted".into(),
            )),
        }
    }

    fn finish_update(&mut self, stats: Result<SceneGraphUpdateStats>) -> Result<()> {
        let for_readers = self.for_readers.take();
        let stats = stats?;
        if let Builder::Idle(builder) = &self.builder {
            self.graph = builder.graph().clone();
        }
        self.updates += 1;
        self.last_stats = Some(stats);
        if let Some((map, timestamp)) = for_readers {
            self.published.set_snapshot(MapSnapshot {
                timestamp,
                update: self.updates,
                map,
                scene_graph: Arc::new(self.graph.clone()),
            });
        }
        Ok(())
    }

    /// Starts an update on `samples` and the map snapshot `volume`: on a
    /// worker thread when `background`, else inline. Returns `false` (and
    /// does nothing) while a previous worker is still running.
    pub(crate) fn start(
        &mut self,
        samples: SurfaceSamples,
        volume: Arc<TsdfVolume>,
        timestamp: Timestamp,
        background: bool,
    ) -> Result<bool> {
        if !matches!(self.builder, Builder::Idle(_)) {
            return Ok(false);
        }
        let Builder::Idle(mut builder) = std::mem::replace(&mut self.builder, Builder::Gone) else {
            return Ok(false);
        };
        self.for_readers =
            has_readers(&self.published, 1).then(|| (Arc::clone(&volume), timestamp));
        if !background {
            let stats = builder.update(&samples, volume.as_ref(), timestamp);
            self.builder = Builder::Idle(builder);
            self.finish_update(stats)?;
            return Ok(true);
        }
        let handle = std::thread::Builder::new()
            .name("scenemap-scene-graph".into())
            .spawn(move || {
                // A private one-thread pool for the update's parallel loops:
                // on the shared global pool they would queue the tracking
                // thread's per-frame jobs behind a whole update's worth of
                // work; this way the OS time-slices one update thread
                // against the tracker. (Without a pool, the global one.)
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .thread_name(|_| "scenemap-scene-graph-pool".into())
                    .build();
                let mut update = || builder.update(&samples, volume.as_ref(), timestamp);
                let stats = match pool {
                    Ok(pool) => pool.install(&mut update),
                    Err(_) => update(),
                };
                (*builder, stats)
            })
            .map_err(|e| Error::io("<scene-graph thread>", e))?;
        self.builder = Builder::Busy(handle);
        Ok(true)
    }

    /// Replaces the latest graph (session loading; the builder's own object
    /// tracks restart with the next update).
    pub(crate) fn set_graph(&mut self, graph: SceneGraph) {
        self.graph = graph;
    }
}
