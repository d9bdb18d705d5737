//! One sort for every element type. std's slice sorts are generic: every element type
//! and key gets its own copy of the sort (15 copies, 6.5 KB of `mips_24kc`). Here one
//! stable merge sort of indices serves every caller, comparing through a `&dyn Fn`, and
//! one loop puts the elements in that order through a `&dyn FnMut` swap; what is left per
//! type is the comparison and the swap (docs/PACKAGING.md, "Size").
//!
//! Every sort here is stable, so it also stands in for `sort_unstable`.

use std::cmp::Ordering;

/// Sorts `v` stably by `cmp`, as `slice::sort_by` does.
pub fn sort_by<T>(v: &mut [T], cmp: impl Fn(&T, &T) -> Ordering) {
    let order = {
        let v = &*v;
        sorted_order(v.len(), &|a, b| cmp(&v[a], &v[b]))
    };
    permute(order, &mut |a, b| v.swap(a, b));
}

/// Sorts `v` stably by the key `key` gives, as `slice::sort_by_key` does.
pub fn sort_by_key<T, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `v` in ascending order, as `slice::sort` does.
pub fn sort<T: Ord>(v: &mut [T]) {
    sort_by(v, T::cmp);
}

/// The positions of `len` elements in sorted order, compared through `cmp`: the one
/// instance of std's sort.
#[inline(never)]
fn sorted_order(len: usize, cmp: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.sort_by(|&a, &b| cmp(a, b));
    order
}

/// Puts a slice in `order` with `swap`: afterwards element `i` is the one that was at
/// `order[i]`. Each cycle of the permutation is followed once.
#[inline(never)]
fn permute(mut order: Vec<usize>, swap: &mut dyn FnMut(usize, usize)) {
    for i in 0..order.len() {
        let mut j = i;
        loop {
            let k = order[j];
            order[j] = j;
            if k == i {
                break;
            }
            swap(j, k);
            j = k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (no dependency for tests of a sort).
    fn numbers(n: usize, seed: u64) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % 50
            })
            .collect()
    }

    #[test]
    fn sorts_as_std_does_and_keeps_equal_keys_in_order() {
        for n in [0, 1, 2, 3, 7, 20, 21, 100, 1000] {
            for seed in 1..4 {
                // (key, original position): stability shows in the positions.
                let v: Vec<(u64, usize)> = numbers(n, seed).into_iter().zip(0..).collect();
                let mut ours = v.clone();
                sort_by_key(&mut ours, |p| p.0);
                let mut std = v.clone();
                std.sort_by_key(|p| p.0);
                assert_eq!(ours, std, "n={n} seed={seed}");
                let mut rev = v.clone();
                sort_by(&mut rev, |a, b| b.0.cmp(&a.0));
                let mut std_rev = v;
                std_rev.sort_by_key(|p| std::cmp::Reverse(p.0));
                assert_eq!(rev, std_rev, "n={n} seed={seed}");
            }
        }
    }

    #[test]
    fn sorts_owned_values() {
        let mut v: Vec<String> = ["delta", "alpha", "charlie", "bravo", "alpha"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        sort(&mut v);
        assert_eq!(v, ["alpha", "alpha", "bravo", "charlie", "delta"]);
    }
}
