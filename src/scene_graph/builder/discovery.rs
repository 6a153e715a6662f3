//! Object discovery inside furniture groups: objects resting on support
//! patches are split off their furniture, and thin floor-standing fragments
//! (chair legs, seat edges) are merged back into the furniture above them.

use std::collections::BTreeSet;

use nalgebra::Point3;

use crate::scene_graph::geometry::{
    box_iou, euclidean_clusters, gravity_aligned_box, HorizontalPlane,
};
use crate::scene_graph::GravityAlignedBox;

use super::SceneGraphBuilder;

/// An object candidate of one update, before association.
pub(super) struct Candidate {
    pub(super) points: Vec<usize>,
    pub(super) support_height_m: f64,
    pub(super) support_patch: Option<usize>,
    pub(super) children_volume_m3: f64,
}

impl SceneGraphBuilder {
    /// Splits a furniture group into the furniture itself and the objects
    /// resting on its horizontal patches.
    pub(super) fn split_group(
        &self,
        group: Vec<usize>,
        pts: &[Point3<f32>],
        patches: &[&HorizontalPlane],
        floor_z: f64,
        cluster_radius_m: f32,
        out: &mut Vec<Candidate>,
    ) {
        let cfg = &self.config;
        let tol = cfg.planes.distance_tolerance_m;
        let members: BTreeSet<usize> = group.iter().copied().collect();
        let mut remaining = members.clone();
        let mut parent_patch_children = 0.0;
        for (k, patch) in patches.iter().enumerate() {
            // The patch belongs to this group if most of its inliers do.
            let inside = patch.inliers.iter().filter(|i| members.contains(i)).count();
            if inside * 2 < patch.inliers.len() {
                continue;
            }
            let mut shrunk = patch.extent;
            shrunk.half_extents_m.x -= cfg.surface_margin_m;
            shrunk.half_extents_m.y -= cfg.surface_margin_m;
            if shrunk.half_extents_m.x <= 0.0 || shrunk.half_extents_m.y <= 0.0 {
                continue;
            }
            let patch_set: BTreeSet<usize> = patch.inliers.iter().copied().collect();
            // The space an object on this patch can occupy: above it, over
            // its footprint, and below the next board of the same furniture
            // over it (shelves) — that board's front edge and underside
            // (2 cm boards and thinner) are not objects on this one.
            let ceiling = patches
                .iter()
                .enumerate()
                .filter(|(j, other)| {
                    *j != k
                        && other.height_m > patch.height_m + 3.0 * tol
                        && footprint_overlap(&other.extent, &patch.extent) > 0.5
                        && other.inliers.iter().filter(|i| members.contains(i)).count() * 2
                            >= other.inliers.len()
                })
                .map(|(_, other)| other.height_m - 0.02 - 0.5 * tol)
                .fold(f64::INFINITY, f64::min);
            let above: Vec<usize> = remaining
                .iter()
                .copied()
                .filter(|i| {
                    let z = f64::from(pts[*i].z);
                    !patch_set.contains(i)
                        && z > patch.height_m + 0.5 * tol
                        && z < ceiling
                        && inside_footprint(&shrunk, &pts[*i])
                })
                .collect();
            let above_pts: Vec<Point3<f32>> = above.iter().map(|&i| pts[i]).collect();
            for comp in euclidean_clusters(&above_pts, cluster_radius_m, cfg.min_object_points) {
                let comp: Vec<usize> = comp.into_iter().map(|c| above[c]).collect();
                let z_min = comp
                    .iter()
                    .map(|&i| f64::from(pts[i].z))
                    .fold(f64::INFINITY, f64::min);
                let z_max = comp
                    .iter()
                    .map(|&i| f64::from(pts[i].z))
                    .fold(f64::NEG_INFINITY, f64::max);
                // Resting: starts near the patch and rises clearly above it.
                // A component no more than 1.5 tolerances high is the
                // patch's own rim (a seat's or board's edge, rounded off by
                // the TSDF) and stays with its furniture; objects that flat
                // are below the map's resolution anyway.
                let resting =
                    z_min < patch.height_m + 4.0 * tol && z_max > patch.height_m + 1.5 * tol;
                if resting {
                    for i in &comp {
                        remaining.remove(i);
                    }
                    let bbox = gravity_aligned_box(comp.iter().map(|&i| pts[i]));
                    let h = bbox.center_m.z + bbox.half_extents_m.z - patch.height_m;
                    parent_patch_children +=
                        4.0 * bbox.half_extents_m.x * bbox.half_extents_m.y * h.max(0.0);
                    out.push(Candidate {
                        points: comp,
                        support_height_m: patch.height_m,
                        support_patch: Some(k),
                        children_volume_m3: 0.0,
                    });
                }
            }
        }
        if remaining.len() >= cfg.min_object_points {
            out.push(Candidate {
                points: remaining.into_iter().collect(),
                support_height_m: floor_z,
                support_patch: None,
                children_volume_m3: parent_patch_children,
            });
        }
    }
}

/// Largest share of its host's footprint area a fragment may cover.
const MAX_FRAGMENT_AREA_SHARE: f64 = 0.15;

/// Gravity-aligned box of a candidate's samples (the minimum-area
/// footprint of all of them; see `geometry::gravity_aligned_box`).
pub(super) fn candidate_box(points: &[usize], pts: &[Point3<f32>]) -> GravityAlignedBox {
    gravity_aligned_box(points.iter().map(|&i| pts[i]))
}

/// Fragments standing on the floor under a larger piece of furniture (a
/// chair leg, or a strip of a seat's edge, whose mesh does not connect to
/// the rest at the voxel size) belong to that furniture: a floor-standing
/// candidate whose footprint is at most 15 % of a taller floor-standing
/// candidate's, with its centre inside that candidate's footprint, is
/// merged into it (into the largest such host). Relative, not absolute,
/// size: a leg's footprint grows with TSDF blur, a chair's with it.
pub(super) fn merge_fragments(candidates: &mut Vec<Candidate>, pts: &[Point3<f32>]) {
    let boxes: Vec<GravityAlignedBox> = candidates
        .iter()
        .map(|c| candidate_box(&c.points, pts))
        .collect();
    let top = |b: &GravityAlignedBox| b.center_m.z + b.half_extents_m.z;
    let area = |b: &GravityAlignedBox| 4.0 * b.half_extents_m.x * b.half_extents_m.y;
    let mut target = vec![None; candidates.len()];
    for (f, fragment) in boxes.iter().enumerate() {
        if candidates[f].support_patch.is_some() {
            continue;
        }
        let centre = Point3::new(fragment.center_m.x as f32, fragment.center_m.y as f32, 0.0);
        target[f] = boxes
            .iter()
            .enumerate()
            .filter(|&(o, host)| {
                o != f
                    && candidates[o].support_patch.is_none()
                    && area(fragment) <= MAX_FRAGMENT_AREA_SHARE * area(host)
                    && top(host) > top(fragment)
                    && inside_footprint(host, &centre)
            })
            .max_by(|a, b| area(a.1).total_cmp(&area(b.1)))
            .map(|(o, _)| o);
    }
    // A host is never itself a fragment (its area is over 6× the
    // fragment's, so it cannot be 15 % of anything the fragment hosts).
    let mut merged = vec![false; candidates.len()];
    for f in 0..candidates.len() {
        if let Some(o) = target[f] {
            if target[o].is_some() {
                continue;
            }
            let points = std::mem::take(&mut candidates[f].points);
            candidates[o].points.extend(points);
            merged[f] = true;
        }
    }
    let mut k = 0;
    candidates.retain(|_| {
        let keep = !merged[k];
        k += 1;
        keep
    });
}

/// Whether the horizontal position of `p` lies inside the box footprint.
pub(super) fn inside_footprint(b: &GravityAlignedBox, p: &Point3<f32>) -> bool {
    let (s, c) = b.yaw_rad.sin_cos();
    let dx = f64::from(p.x) - b.center_m.x;
    let dy = f64::from(p.y) - b.center_m.y;
    let u = c * dx + s * dy;
    let v = -s * dx + c * dy;
    u.abs() <= b.half_extents_m.x && v.abs() <= b.half_extents_m.y
}

/// Share of the smaller footprint covered by the other.
pub(super) fn footprint_overlap(a: &GravityAlignedBox, b: &GravityAlignedBox) -> f64 {
    let mut a2 = *a;
    let mut b2 = *b;
    a2.center_m.z = 0.0;
    b2.center_m.z = 0.0;
    a2.half_extents_m.z = 0.5;
    b2.half_extents_m.z = 0.5;
    let iou = box_iou(&a2, &b2);
    let (va, vb) = (a2.volume_m3(), b2.volume_m3());
    let inter = iou * (va + vb) / (1.0 + iou);
    inter / va.min(vb).max(1e-12)
}
