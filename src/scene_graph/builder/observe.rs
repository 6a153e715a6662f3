//! Observations: per frame, which objects are visible, and class votes from
//! an optional instance segmentation.

use std::collections::BTreeMap;

use nalgebra::Isometry3;

use crate::error::{Error, Result};
use crate::geometry::PinholeCamera;
use crate::scene_graph::segmentation::InstanceSegmentation;
use crate::scene_graph::{NodeId, ObjectNode};

use crate::sensor::RgbdFrame;

use rayon::prelude::*;

use super::evidence::{record_evidence, PointGrid};
use super::SceneGraphBuilder;

impl SceneGraphBuilder {
    /// Counts an observation of every object visible in `frame` and, with a
    /// segmentation, adds class votes: an object's visible samples are
    /// projected into the mask and the majority instance's label is voted.
    /// The frame's depth points near each object's box are kept as the
    /// object's observed surface evidence, which the next
    /// [`update`](Self::update) clips the box to (the TSDF surface sticks
    /// out past edges no view sees face-on).
    pub fn observe_frame(
        &mut self,
        frame: &RgbdFrame,
        camera: &PinholeCamera,
        world_from_camera: &Isometry3<f64>,
        segmentation: Option<&InstanceSegmentation>,
    ) -> Result<Vec<NodeId>> {
        // Pixels are looked up by the camera's projection: the frame must
        // be the camera's size with full buffers.
        let n = frame.width as usize * frame.height as usize;
        if frame.width != camera.width
            || frame.height != camera.height
            || frame.depth_m.len() != n
            || frame.color.len() != n
        {
            return Err(Error::InvalidFrame {
                frame: frame.timestamp,
                message: format!(
                    "frame is {}x{} with {} depth and {} colour pixels; the camera is {}x{}",
                    frame.width,
                    frame.height,
                    frame.depth_m.len(),
                    frame.color.len(),
                    camera.width,
                    camera.height
                ),
            });
        }
        if let Some(seg) = segmentation {
            seg.validate_for(frame)?;
        }
        // Track samples live in the gravity frame.
        let gravity_from_camera = self.gravity_from_world * world_from_camera;
        let camera_from_gravity = gravity_from_camera.inverse();
        let depth_tol = 0.05_f32;
        let mut visible_ids = Vec::new();
        // Observed surface points near each object (see `evidence`): one
        // back-projected grid per frame, objects in parallel.
        if !self.tracks.is_empty() {
            let grid = PointGrid::new(frame, &self.ray_cache.tables(camera).rays);
            let graph = &self.graph;
            self.tracks.par_iter_mut().for_each(|(id, track)| {
                if let Some(node) = graph.object(*id) {
                    record_evidence(
                        &mut track.evidence,
                        &node.bounding_box,
                        &grid,
                        camera,
                        &gravity_from_camera,
                    );
                }
            });
        }
        for (id, track) in &mut self.tracks {
            let mut visible = 0_usize;
            let mut instance_counts: BTreeMap<u32, usize> = BTreeMap::new();
            for p in &track.samples {
                let pc = camera_from_gravity * p.cast::<f64>();
                let Some(px) = camera.project(&pc) else {
                    continue;
                };
                if !camera.contains(&px) {
                    continue;
                }
                let (u, v) = (px.x.round() as u32, px.y.round() as u32);
                let Some(d) = frame.depth_at(u, v) else {
                    continue;
                };
                if !RgbdFrame::is_valid_depth(d) || (d - pc.z as f32).abs() > depth_tol {
                    continue;
                }
                visible += 1;
                if let Some(seg) = segmentation {
                    let inst = seg.instance_ids[(v * seg.width + u) as usize];
                    *instance_counts.entry(inst).or_insert(0) += 1;
                }
            }
            if visible < 5.max(track.samples.len() / 5) {
                continue;
            }
            visible_ids.push(*id);
            if let Some(seg) = segmentation {
                if let Some((&inst, &count)) = instance_counts.iter().max_by_key(|(_, c)| **c) {
                    if inst != 0 && count * 2 >= visible {
                        if let Some(label) = seg.labels.get(&inst) {
                            track.votes.add(&label.class_name, label.confidence);
                        }
                    }
                }
            }
        }
        for id in &visible_ids {
            if let Some(o) = self.graph.object(*id).cloned() {
                let votes = self.tracks.get(id).and_then(|t| t.votes.best());
                let (class_name, class_confidence) = votes
                    .map_or((o.class_name.clone(), o.class_confidence), |(c, s)| {
                        (c.to_owned(), s)
                    });
                let relabelled = class_name != o.class_name;
                let prior = self.priors.get(&class_name).clone();
                let mut node = ObjectNode {
                    observation_count: o.observation_count + 1,
                    first_seen: if o.observation_count == 0 {
                        frame.timestamp
                    } else {
                        o.first_seen
                    },
                    last_seen: frame.timestamp,
                    class_name,
                    class_confidence,
                    ..o
                };
                if relabelled {
                    // Re-derive volume, mass and friction from the new class
                    // prior and the measurement kept with the track.
                    if let Some(track) = self.tracks.get(id) {
                        let (volume_m3, mass_kg) = track.measurement.volume_and_mass(&prior);
                        node.volume_m3 = volume_m3;
                        node.mass_kg = mass_kg;
                    }
                    node.friction = prior.friction;
                }
                self.graph.upsert_object(node);
            }
        }
        Ok(visible_ids)
    }
}
