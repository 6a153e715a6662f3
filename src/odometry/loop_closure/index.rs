//! k-d tree (kiddo) over global keyframe descriptors.

use std::num::NonZeroUsize;
use std::sync::Arc;

use kiddo::{ImmutableKdTree, SquaredEuclidean};

use super::descriptor::{GlobalDescriptor, DESCRIPTOR_LEN};
use crate::error::{Error, Result};

/// Exact nearest-neighbour index over descriptors, item = insertion index.
///
/// kiddo's immutable tree (Eytzinger stems, Sample et al.) is rebuilt when
/// descriptors are added: with one keyframe per second or so and a few
/// thousand keyframes this costs well under a millisecond per rebuild, and
/// queries stay exact. In 384 dimensions the tree prunes little; it is kept
/// because it returns exactly the linear-scan answer (see the oracle test)
/// and lets a smaller descriptor, or an approximate query, drop in later.
#[derive(Clone, Debug, Default)]
pub struct DescriptorIndex {
    descriptors: Vec<[f32; DESCRIPTOR_LEN]>,
    /// Shared so that clones of an index (and of a detector) are cheap.
    tree: Option<Arc<ImmutableKdTree<f32, DESCRIPTOR_LEN>>>,
}

impl DescriptorIndex {
    /// An index over `descriptors` (ids = positions).
    pub fn new(descriptors: impl IntoIterator<Item = GlobalDescriptor>) -> Result<Self> {
        let mut index = Self::default();
        index.extend(descriptors)?;
        Ok(index)
    }

    /// Adds descriptors (ids continue from [`Self::len`]) and rebuilds the tree.
    pub fn extend(
        &mut self,
        descriptors: impl IntoIterator<Item = GlobalDescriptor>,
    ) -> Result<()> {
        let before = self.descriptors.len();
        self.descriptors
            .extend(descriptors.into_iter().map(|d| d.0));
        if self.descriptors.len() == before && self.tree.is_some() {
            return Ok(());
        }
        if self.descriptors.is_empty() {
            self.tree = None;
            return Ok(());
        }
        let tree = ImmutableKdTree::new_from_slice(&self.descriptors).map_err(|e| {
            Error::InvalidArgument(format!(
                "descriptor index with {} items: {e}",
                self.descriptors.len()
            ))
        })?;
        self.tree = Some(Arc::new(tree));
        Ok(())
    }

    /// Number of descriptors.
    pub fn len(&self) -> usize {
        self.descriptors.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.descriptors.is_empty()
    }

    /// Up to `k` nearest descriptors as `(id, squared distance)`, nearest
    /// first; ties broken by the smaller id.
    pub fn nearest(&self, query: &GlobalDescriptor, k: usize) -> Vec<(usize, f32)> {
        let (Some(tree), Some(k)) = (&self.tree, NonZeroUsize::new(k.min(self.len()))) else {
            return Vec::new();
        };
        let mut found: Vec<(usize, f32)> = tree
            .query(&query.0)
            .nearest_n::<SquaredEuclidean<f32>>(k)
            .execute()
            .into_iter()
            .map(|r| (r.item as usize, r.distance))
            .collect();
        found.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        found
    }

    /// The same answer by linear scan (the oracle for [`Self::nearest`]).
    pub fn nearest_brute_force(&self, query: &GlobalDescriptor, k: usize) -> Vec<(usize, f32)> {
        let mut all: Vec<(usize, f32)> = self
            .descriptors
            .iter()
            .enumerate()
            .map(|(i, d)| (i, squared_distance(&query.0, d)))
            .collect();
        all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }
}

fn squared_distance(a: &[f32; DESCRIPTOR_LEN], b: &[f32; DESCRIPTOR_LEN]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}
