//! Concurrent readers of a running pipeline: a planner, a UI or a network
//! server reads the latest pose, map and scene graph from other threads
//! while the mapping thread keeps calling [`Pipeline::process`].
//!
//! # Design
//!
//! The pipeline *publishes* immutable snapshots; readers never lock the
//! map the mapping thread writes (the pattern of nvblox's and Voxblox's
//! "map snapshots", and of read-copy-update in general):
//!
//! - **Live state** ([`LiveState`]: frame count, timestamp, pose, tracking
//!   status) is replaced after every frame. It is a few hundred bytes.
//! - **Map snapshots** ([`MapSnapshot`]: an `Arc<TsdfVolume>` and the scene
//!   graph computed on exactly that map) are published when a scene-graph
//!   update completes. The map in a snapshot is the one the scene-graph
//!   update read; the pipeline already fuses into a copy-on-write `Arc`
//!   ([`Arc::make_mut`]), so publishing costs no extra copy when the update
//!   runs on the background worker (the worker's snapshot is copied away
//!   from anyway). With `scene_graph.background = false` the held snapshot
//!   makes the next fused frame copy the map once per update. Snapshots are
//!   only kept while at least one [`PipelineReader`] exists.
//!
//! Readers hold a snapshot for as long as they like: it never changes under
//! them, and the mapping thread never waits for them. The only lock is a
//! [`RwLock`] around the `Arc` pointers, held for the time it takes to clone
//! one. A reader that needs the map as of *this* frame (not the last
//! scene-graph update) lowers `scene_graph.every_n_frames`.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use nalgebra::Isometry3;

use crate::odometry::TrackingStatus;
use crate::scene_graph::SceneGraph;
use crate::sensor::Timestamp;
use crate::tsdf::TsdfVolume;

/// The pipeline's state after its latest frame.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveState {
    /// Frames processed so far (this frame included).
    pub frames: usize,
    /// The latest frame's timestamp.
    pub timestamp: Timestamp,
    /// Its estimated `world_from_camera`.
    pub world_from_camera: Isometry3<f64>,
    /// Its tracking status.
    pub status: TrackingStatus,
    /// Whether it was fused into the map.
    pub integrated: bool,
}

/// A consistent, immutable view of the map and the scene graph computed on
/// it.
#[derive(Clone, Debug)]
pub struct MapSnapshot {
    /// Timestamp of the last frame fused into `map` before the snapshot.
    pub timestamp: Timestamp,
    /// Scene-graph updates completed, this one included.
    pub update: usize,
    /// The TSDF map.
    pub map: Arc<TsdfVolume>,
    /// The scene graph computed on `map`.
    pub scene_graph: Arc<SceneGraph>,
}

/// The slots the pipeline writes and readers read.
#[derive(Debug, Default)]
pub(crate) struct Published {
    live: RwLock<Option<LiveState>>,
    snapshot: RwLock<Option<MapSnapshot>>,
}

/// A poisoned lock only means a reader panicked while cloning an `Arc`;
/// the slot's value is still a whole value, so it is used as is.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Published {
    pub(crate) fn set_live(&self, live: LiveState) {
        *write(&self.live) = Some(live);
    }

    pub(crate) fn set_snapshot(&self, snapshot: MapSnapshot) {
        *write(&self.snapshot) = Some(snapshot);
    }
}

/// Whether anyone besides the pipeline's `owners` handles holds `published`.
pub(crate) fn has_readers(published: &Arc<Published>, owners: usize) -> bool {
    Arc::strong_count(published) > owners
}

/// A handle for reading a running [`Pipeline`](super::Pipeline) from other
/// threads ([`Pipeline::reader`](super::Pipeline::reader)). Cheap to clone;
/// `Send + Sync`; outlives the pipeline (it then keeps the last values).
#[derive(Clone, Debug)]
pub struct PipelineReader {
    published: Arc<Published>,
}

impl PipelineReader {
    pub(crate) fn new(published: Arc<Published>) -> Self {
        Self { published }
    }

    /// The state after the latest processed frame (`None` before the first).
    pub fn live(&self) -> Option<LiveState> {
        read(&self.published.live).clone()
    }

    /// The latest map snapshot with its scene graph (`None` until the first
    /// scene-graph update after this reader was created completes).
    pub fn snapshot(&self) -> Option<MapSnapshot> {
        read(&self.published.snapshot).clone()
    }

    /// The latest scene graph (from [`Self::snapshot`]).
    pub fn scene_graph(&self) -> Option<Arc<SceneGraph>> {
        read(&self.published.snapshot)
            .as_ref()
            .map(|s| Arc::clone(&s.scene_graph))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_is_send_sync_and_sees_published_values() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<PipelineReader>();
        let published = Arc::new(Published::default());
        let reader = PipelineReader::new(Arc::clone(&published));
        assert!(has_readers(&published, 1));
        assert!(reader.live().is_none() && reader.snapshot().is_none());
        let live = LiveState {
            frames: 3,
            timestamp: Timestamp(7),
            world_from_camera: Isometry3::translation(1.0, 0.0, 0.0),
            status: TrackingStatus::Ok,
            integrated: true,
        };
        published.set_live(live.clone());
        assert_eq!(reader.live(), Some(live));
        drop(reader);
        assert!(!has_readers(&published, 1));
    }
}
