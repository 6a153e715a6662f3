//! Association of this update's objects with the previous ones: persistent
//! ids across updates, merges and splits.

use std::collections::BTreeMap;

use crate::scene_graph::geometry::box_iou;
use crate::scene_graph::{GravityAlignedBox, NodeId};

/// Greedy association of new boxes with previous objects by IoU. Returns,
/// per new box index, the previous ids it takes over, the oldest (smallest
/// id) first. A previous object overlapping two new boxes (a split) goes to
/// the one with the higher IoU; the other gets a new id.
pub(super) fn associate_boxes(
    previous: &[(NodeId, GravityAlignedBox)],
    new: &[GravityAlignedBox],
    min_iou: f64,
) -> BTreeMap<usize, Vec<NodeId>> {
    let mut pairs = Vec::new();
    for (p, (_, old)) in previous.iter().enumerate() {
        for (c, b) in new.iter().enumerate() {
            let iou = box_iou(old, b);
            if iou >= min_iou {
                pairs.push((iou, p, c));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut used_previous = vec![false; previous.len()];
    let mut result: BTreeMap<usize, Vec<NodeId>> = BTreeMap::new();
    for (_, p, c) in pairs {
        if used_previous[p] {
            continue;
        }
        used_previous[p] = true;
        result.entry(c).or_default().push(previous[p].0);
    }
    // Second pass for what IoU left unmatched (small or thin objects whose
    // box jitters by a voxel): the nearest unused previous object whose
    // centre lies within half the smaller box diagonal (+ 5 cm).
    for (c, b) in new.iter().enumerate() {
        if result.contains_key(&c) {
            continue;
        }
        let nearest = previous
            .iter()
            .enumerate()
            .filter(|(p, _)| !used_previous[*p])
            .map(|(p, (_, old))| {
                let d = (old.center_m - b.center_m).norm();
                let reach =
                    0.5 * 2.0 * old.half_extents_m.norm().min(b.half_extents_m.norm()) + 0.05;
                (p, d, reach)
            })
            .filter(|(_, d, reach)| d <= reach)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((p, _, _)) = nearest {
            used_previous[p] = true;
            result.entry(c).or_default().push(previous[p].0);
        }
    }
    for ids in result.values_mut() {
        ids.sort();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Point3, Vector3};

    fn b(x: f64, y: f64, h: f64) -> GravityAlignedBox {
        GravityAlignedBox {
            center_m: Point3::new(x, y, h),
            half_extents_m: Vector3::new(0.2, 0.2, h),
            yaw_rad: 0.0,
        }
    }

    #[test]
    fn association_keeps_ids_merges_and_splits() {
        let previous = vec![
            (NodeId(1), b(0.0, 0.0, 0.4)),
            (NodeId(2), b(0.35, 0.0, 0.4)),
            (NodeId(3), b(5.0, 0.0, 0.4)),
        ];
        // New: one box covering 1 and 2 (merge), one near 3, one brand new.
        let mut merged = b(0.175, 0.0, 0.4);
        merged.half_extents_m.x = 0.375;
        let new = vec![merged, b(5.02, 0.0, 0.4), b(9.0, 9.0, 0.4)];
        let a = associate_boxes(&previous, &new, 0.2);
        assert_eq!(a.get(&0), Some(&vec![NodeId(1), NodeId(2)]));
        assert_eq!(a.get(&1), Some(&vec![NodeId(3)]));
        assert!(!a.contains_key(&2));
        // Split: one previous, two new halves: only the better one keeps it.
        let halves = vec![b(-0.1, 0.0, 0.4), b(0.3, 0.0, 0.4)];
        let a = associate_boxes(&previous[..1], &halves, 0.2);
        assert_eq!(a.len(), 1);
        assert_eq!(a.get(&0), Some(&vec![NodeId(1)]));
    }
}
