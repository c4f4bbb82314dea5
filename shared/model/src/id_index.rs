//! [`IdIndex`]: where in a list an object is, found by its identity without a second copy of
//! the identity. A map from `ObjectRef` to position holds each identity again (96 bytes, plus
//! the table's slack); at 10,000 apps the snapshot's and the graph's maps held 123,000 of them
//! each, and the Events' 200,000.

use crate::object::ObjectRef;
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// Positions in a list of items that each have an identity, by identity. The list is the
/// caller's: every call is given the identity at a position.
#[derive(Default)]
pub struct IdIndex {
    table: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl IdIndex {
    /// The position of `id`, if indexed.
    pub fn get<'a>(&self, id: &ObjectRef, id_at: impl Fn(usize) -> &'a ObjectRef) -> Option<usize> {
        let hash = self.hasher.hash_one(id);
        self.table.find(hash, |&i| id_at(i as usize) == id).map(|&i| i as usize)
    }

    /// Makes room for this many more identities, so indexing them does not grow the table (and
    /// hash every identity in it again) on the way.
    pub fn reserve<'a>(&mut self, additional: usize, id_at: impl Fn(usize) -> &'a ObjectRef) {
        let hasher = &self.hasher;
        self.table.reserve(additional, |&i| hasher.hash_one(id_at(i as usize)));
    }

    /// Indexes `id` at `position` (an identity not yet indexed).
    pub fn insert<'a>(&mut self, id: &ObjectRef, position: usize, id_at: impl Fn(usize) -> &'a ObjectRef) {
        let position = u32::try_from(position).expect("fewer than 4 billion objects");
        let hasher = &self.hasher;
        self.table.insert_unique(hasher.hash_one(id), position, |&i| hasher.hash_one(id_at(i as usize)));
    }
}

impl std::fmt::Debug for IdIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdIndex({} identities)", self.table.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_indexed_and_nothing_else() {
        let ids: Vec<ObjectRef> =
            (0..5000).map(|i| ObjectRef::new("apps", "Deployment", "ns", &format!("d{i}"))).collect();
        let mut index = IdIndex::default();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(index.get(id, |j| &ids[j]), None);
            index.insert(id, i, |j| &ids[j]);
        }
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(index.get(id, |j| &ids[j]), Some(i));
        }
        assert_eq!(index.get(&ObjectRef::new("", "Deployment", "ns", "d1"), |j| &ids[j]), None);
    }
}
