//! A map kept as a `Vec` of pairs sorted by key, for the delivery tracker's few thousand
//! entries: lookups by binary search, iteration in key order, ranges by two searches.
//! It replaces `BTreeMap`, whose node code came once per key and value type (11 KB of
//! the `mips_24kc` binary for two maps; docs/PACKAGING.md, "Size"); an insert shifts the
//! pairs after it, which at these sizes costs less than a tree's allocations.

/// Pairs sorted by key, each key once.
#[derive(Debug, Clone)]
pub struct SortedMap<K, V>(Vec<(K, V)>);

impl<K: Ord + Copy, V> SortedMap<K, V> {
    pub fn new() -> Self {
        SortedMap(Vec::new())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    fn find(&self, k: &K) -> Result<usize, usize> {
        self.0.binary_search_by(|(key, _)| key.cmp(k))
    }

    pub fn get(&self, k: &K) -> Option<&V> {
        self.find(k).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.find(k).ok().map(|i| &mut self.0[i].1)
    }

    pub fn contains_key(&self, k: &K) -> bool {
        self.find(k).is_ok()
    }

    /// Sets the value of `k`, replacing any it had.
    pub fn insert(&mut self, k: K, v: V) {
        match self.find(&k) {
            Ok(i) => self.0[i].1 = v,
            Err(i) => self.0.insert(i, (k, v)),
        }
    }

    pub fn remove(&mut self, k: &K) {
        if let Ok(i) = self.find(k) {
            self.0.remove(i);
        }
    }

    /// Keeps the pairs for which `f` is true.
    pub fn retain(&mut self, mut f: impl FnMut(&K, &mut V) -> bool) {
        self.0.retain_mut(|(k, v)| f(k, v));
    }

    /// The pairs in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.0.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, v)| v)
    }

    /// The pairs with `lo <= key`, and `key < hi` when `hi` is given, in key order.
    pub fn range(&self, lo: &K, hi: Option<&K>) -> impl Iterator<Item = (&K, &V)> {
        let start = self.0.partition_point(|(k, _)| k < lo);
        let end = hi.map_or(self.0.len(), |h| self.0.partition_point(|(k, _)| k < h));
        self.0[start..end.max(start)].iter().map(|(k, v)| (k, v))
    }
}

impl<K: Ord + Copy, V> std::ops::Index<&K> for SortedMap<K, V> {
    type Output = V;

    /// The value of `k`; panics when there is none (tests only).
    fn index(&self, k: &K) -> &V {
        self.get(k).expect("no such key")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order_replaces_removes_and_ranges() {
        let mut m = SortedMap::new();
        for k in [5, 1, 9, 3, 7] {
            m.insert(k, k * 10);
        }
        m.insert(3, 33);
        assert_eq!(m.len(), 5);
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), [1, 3, 5, 7, 9]);
        assert_eq!(m[&3], 33);
        assert_eq!(m.get(&4), None);
        m.remove(&5);
        m.remove(&4);
        assert!(!m.contains_key(&5));
        let r: Vec<i32> = m.range(&2, Some(&9)).map(|(k, _)| *k).collect();
        assert_eq!(r, [3, 7]);
        let r: Vec<i32> = m.range(&3, None).map(|(k, _)| *k).collect();
        assert_eq!(r, [3, 7, 9]);
        assert_eq!(m.range(&8, Some(&2)).count(), 0);
        m.retain(|k, v| {
            *v += 1;
            *k > 1
        });
        assert_eq!(m.values().copied().collect::<Vec<_>>(), [34, 71, 91]);
    }
}
