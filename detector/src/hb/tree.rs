//! The shared part of a vector clock: a persistent radix tree of clock values, copied
//! on write and shared between clocks by reference counting.
//!
//! # Algorithm
//!
//! A fixed-shape radix tree over slot numbers, in the style of Bagwell's array-mapped
//! tries and Clojure's persistent vector: leaves hold the values of
//! `LEAF` (64) consecutive slots, inner nodes hold `FAN` (32) children, and a tree of height
//! `h` covers `LEAF · FAN^h` slots (height 3 covers 2M slots). Nodes are immutable
//! once shared: an update copies the path from the root to the leaf it changes and
//! shares everything else (path copying: Driscoll, Sarnak, Sleator & Tarjan, *Making
//! Data Structures Persistent*, JCSS 1989). So
//!
//! - **copying a clock is `O(1)`**: the copy shares the root ([`Arc`]);
//! - **a join costs what differs**: `Tree::join` skips every subtree the two trees
//!   share (pointer equality), keeps its own node where the other's is below it, and
//!   *adopts* the other's node (shares it) where its own is below. After `a ⊔= b` and
//!   `b ⊔= a` the two trees are one. This is the property Mathur, Pavlogiannis, Tunç &
//!   Viswanathan's tree clocks (*A Tree Clock Data Structure for Causal Orderings in
//!   Concurrent Executions*, ASPLOS 2022) give joins — time proportional to what
//!   changed, not to the number of slots — obtained here from sharing rather than
//!   from a per-thread causality tree, which also makes the fork (a copy) constant.
//!
//! # Invariants
//!
//! - Every node below an inner node at height `h` has height `h - 1`; leaves have
//!   height 0. A missing child means "all zero".
//! - A node reachable from more than one [`Arc`] is never mutated
//!   (`make_mut` copies it first).
//! - No [`std::sync::Weak`] to a node is ever made (the type is private), so a
//!   strong count of 1 means "unique".
//! - [`live_nodes`] counts the nodes allocated and not yet freed on this thread (the
//!   memory a run's clocks really hold, shared nodes once).

use super::clock::Time;
use std::cell::Cell;
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

/// log2 of [`LEAF`].
const LEAF_BITS: u32 = 6;
/// Slots per leaf: 64 values of 4 bytes, the size of an inner node.
pub(crate) const LEAF: usize = 1 << LEAF_BITS;
/// log2 of [`FAN`].
const FAN_BITS: u32 = 5;
/// Children per inner node: 32 pointers of 8 bytes.
const FAN: usize = 1 << FAN_BITS;

thread_local! {
    /// Nodes allocated minus nodes freed on this thread (see [`live_nodes`]).
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

/// Tree nodes alive that were allocated on this thread, minus those freed on it: the
/// shared clock storage a run holds (a deterministic run is one thread). Each node is
/// about 280 bytes.
#[inline]
pub fn live_nodes() -> usize {
    LIVE.with(|l| l.get().max(0) as usize)
}

#[inline]
fn count(delta: isize) {
    LIVE.with(|l| l.set(l.get() + delta));
}

/// A tree node (see the module invariants).
enum Node {
    Leaf([Time; LEAF]),
    /// Its height (at least 1) and its children.
    Inner(u32, [Option<Arc<Node>>; FAN]),
}

const _: () = assert!(std::mem::size_of::<Node>() <= 8 + 256);

impl Node {
    fn empty(height: u32) -> Arc<Node> {
        count(1);
        Arc::new(if height == 0 {
            Node::Leaf([0; LEAF])
        } else {
            Node::Inner(height, std::array::from_fn(|_| None))
        })
    }

    /// An inner node whose first child is `child`.
    fn above(child: Arc<Node>) -> Arc<Node> {
        count(1);
        let height = child.height() + 1;
        let mut children: [Option<Arc<Node>>; FAN] = std::array::from_fn(|_| None);
        children[0] = Some(child);
        Arc::new(Node::Inner(height, children))
    }

    #[inline]
    fn height(&self) -> u32 {
        match self {
            Node::Leaf(_) => 0,
            Node::Inner(h, _) => *h,
        }
    }

    fn children(&self) -> &[Option<Arc<Node>>; FAN] {
        match self {
            Node::Inner(_, c) => c,
            Node::Leaf(_) => unreachable!("hb: tree: a leaf above height 0"),
        }
    }

    fn children_mut(&mut self) -> &mut [Option<Arc<Node>>; FAN] {
        match self {
            Node::Inner(_, c) => c,
            Node::Leaf(_) => unreachable!("hb: tree: a leaf above height 0"),
        }
    }

    fn values_mut(&mut self) -> &mut [Time; LEAF] {
        match self {
            Node::Leaf(v) => v,
            Node::Inner(..) => unreachable!("hb: tree: an inner node at height 0"),
        }
    }
}

/// A copy is a new node (counted): what [`Arc::make_mut`] makes of a shared node.
impl Clone for Node {
    fn clone(&self) -> Self {
        count(1);
        match self {
            Node::Leaf(v) => Node::Leaf(*v),
            Node::Inner(h, c) => Node::Inner(*h, c.clone()),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        count(-1);
    }
}

/// [`Arc::make_mut`] without its compare-and-swap when the node is unique (the
/// common case on a clock's own path; the CAS, which guards against `Weak` upgrades
/// this module never makes, cost more than the rest of a write).
#[inline]
fn make_mut(node: &mut Arc<Node>) -> &mut Node {
    if Arc::strong_count(node) == 1 {
        // Synchronizes with the `Release` decrement of the last other owner's drop,
        // as `Arc::get_mut`'s `Acquire` does: its reads of the node happen before
        // our writes.
        fence(Ordering::Acquire);
        // SAFETY: `node` is the only `Arc` to the allocation (strong count 1, and no
        // `Weak` exists: module invariant), and we hold it mutably, so no other
        // reference to the node can exist or be made while the returned borrow lives;
        // `Arc::as_ptr` points to the live node, valid for writes like
        // `Arc::get_mut`'s result.
        unsafe { &mut *Arc::as_ptr(node).cast_mut() }
    } else {
        Arc::make_mut(node)
    }
}

/// Index of `slot`'s child in an inner node at `height` (>= 1).
#[inline]
fn child_index(slot: usize, height: u32) -> usize {
    (slot >> (LEAF_BITS + FAN_BITS * (height - 1))) & (FAN - 1)
}

/// Slots covered by a tree of `height`.
#[inline]
fn capacity(height: u32) -> usize {
    LEAF.checked_shl(FAN_BITS * height)
        .filter(|&c| c != 0)
        .unwrap_or(usize::MAX)
}

/// A persistent array of clock values indexed by slot, zero beyond what was set.
#[derive(Clone)]
pub(crate) struct Tree {
    /// Its height is the tree's.
    root: Arc<Node>,
}

impl Tree {
    /// An all-zero tree covering at least `slot`.
    pub(crate) fn covering(slot: usize) -> Tree {
        let mut height = 0;
        while slot >= capacity(height) {
            height += 1;
        }
        Tree {
            root: Node::empty(height),
        }
    }

    /// Its height: it covers `LEAF · FAN^height` slots.
    #[inline]
    fn height(&self) -> u32 {
        self.root.height()
    }

    /// Whether no other tree shares the root (then [`Tree::set`] copies only the
    /// inner nodes it reaches that are shared).
    #[inline]
    pub(crate) fn is_unique(&self) -> bool {
        Arc::strong_count(&self.root) == 1
    }

    /// Whether both are the same tree (not just equal values).
    #[inline]
    pub(crate) fn same(&self, other: &Tree) -> bool {
        Arc::ptr_eq(&self.root, &other.root)
    }

    /// The value of `slot`.
    #[inline]
    pub(crate) fn get(&self, slot: usize) -> Time {
        if slot >= capacity(self.height()) {
            return 0;
        }
        let mut node = &*self.root;
        for h in (1..=self.height()).rev() {
            match &node.children()[child_index(slot, h)] {
                Some(c) => node = c,
                None => return 0,
            }
        }
        match node {
            Node::Leaf(v) => v[slot & (LEAF - 1)],
            Node::Inner(..) => unreachable!("hb: tree: an inner node at height 0"),
        }
    }

    /// Grows the tree until it covers `slot` (the old root becomes child 0).
    fn grow_to(&mut self, slot: usize) {
        while slot >= capacity(self.height()) {
            self.root = Node::above(self.root.clone());
        }
    }

    /// Sets `slot` to `value`, copying the path to it where it is shared.
    pub(crate) fn set(&mut self, slot: usize, value: Time) {
        self.grow_to(slot);
        let height = self.height();
        let mut node = make_mut(&mut self.root);
        for h in (1..=height).rev() {
            let child =
                node.children_mut()[child_index(slot, h)].get_or_insert_with(|| Node::empty(h - 1));
            node = make_mut(child);
        }
        node.values_mut()[slot & (LEAF - 1)] = value;
    }

    /// `self ⊔= other` (pointwise maximum). Costs the nodes on which the two differ;
    /// shares `other`'s nodes wherever `self`'s were below them. Returns whether
    /// `self` changed.
    pub(crate) fn join(&mut self, other: &Tree) -> bool {
        if self.same(other) {
            return false;
        }
        if other.height() > self.height() {
            self.grow_to(capacity(other.height()) - 1);
        }
        let depth = self.height() - other.height();
        join_below(&mut self.root, depth, &other.root)
    }

    /// Calls `f(slot, value)` for every non-zero value, in slot order.
    pub(crate) fn for_each(&self, mut f: impl FnMut(usize, Time)) {
        walk(&self.root, self.height(), 0, &mut f);
    }
}

fn walk(node: &Node, height: u32, first: usize, f: &mut impl FnMut(usize, Time)) {
    match node {
        Node::Leaf(values) => {
            for (i, &v) in values.iter().enumerate() {
                if v != 0 {
                    f(first + i, v);
                }
            }
        }
        Node::Inner(_, children) => {
            let span = capacity(height - 1);
            for (i, c) in children.iter().enumerate() {
                if let Some(c) = c {
                    walk(c, height - 1, first + i * span, f);
                }
            }
        }
    }
}

/// Joins `other` into the subtree `depth` levels below `node` along child 0 (where a
/// shorter tree's root sits in a taller one).
fn join_below(node: &mut Arc<Node>, depth: u32, other: &Arc<Node>) -> bool {
    if depth == 0 {
        return join_node(node, other);
    }
    let mut child = match &node.children()[0] {
        Some(c) => c.clone(),
        None => {
            make_mut(node).children_mut()[0] = Some(chain(depth - 1, other));
            return true;
        }
    };
    if join_below(&mut child, depth - 1, other) {
        make_mut(node).children_mut()[0] = Some(child);
        true
    } else {
        false
    }
}

/// `node` wrapped in `depth` inner nodes along child 0.
fn chain(depth: u32, node: &Arc<Node>) -> Arc<Node> {
    let mut n = node.clone();
    for _ in 0..depth {
        n = Node::above(n);
    }
    n
}

/// `a ⊔= b` for two nodes of the same height; returns whether `a` changed.
fn join_node(a: &mut Arc<Node>, b: &Arc<Node>) -> bool {
    if Arc::ptr_eq(a, b) {
        return false;
    }
    match (&**a, &**b) {
        (Node::Leaf(x), Node::Leaf(y)) => {
            let (mut a_below, mut b_below) = (true, true);
            for (p, q) in x.iter().zip(y) {
                a_below &= p <= q;
                b_below &= q <= p;
            }
            if b_below {
                return false;
            }
            if a_below {
                *a = b.clone();
                return true;
            }
            for (p, q) in make_mut(a).values_mut().iter_mut().zip(y) {
                *p = (*p).max(*q);
            }
            true
        }
        (Node::Inner(_, x), Node::Inner(_, y)) => {
            let mut new: [Option<Arc<Node>>; FAN] = std::array::from_fn(|_| None);
            let (mut changed, mut all_theirs) = (false, true);
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                match (p, q) {
                    (None, None) => {}
                    (Some(_), None) => all_theirs = false,
                    (None, Some(q)) => {
                        new[i] = Some(q.clone());
                        changed = true;
                    }
                    (Some(p), Some(q)) if Arc::ptr_eq(p, q) => {}
                    (Some(p), Some(q)) => {
                        let mut c = p.clone();
                        if join_node(&mut c, q) {
                            all_theirs &= Arc::ptr_eq(&c, q);
                            new[i] = Some(c);
                            changed = true;
                        } else {
                            all_theirs = false;
                        }
                    }
                }
            }
            if !changed {
                return false;
            }
            if all_theirs {
                *a = b.clone();
                return true;
            }
            let children = make_mut(a).children_mut();
            for (slot, c) in children.iter_mut().zip(new) {
                if c.is_some() {
                    *slot = c;
                }
            }
            true
        }
        _ => unreachable!("hb: tree: joining nodes of different heights"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(t: &Tree) -> Vec<(usize, Time)> {
        let mut v = Vec::new();
        t.for_each(|s, x| v.push((s, x)));
        v
    }

    #[test]
    fn set_get_and_growth() {
        let mut t = Tree::covering(3);
        assert_eq!(t.height(), 0);
        t.set(3, 7);
        t.set(1_000_000, 9);
        assert_eq!(t.height(), 3);
        assert_eq!((t.get(3), t.get(1_000_000), t.get(999_999)), (7, 9, 0));
        assert_eq!(t.get(usize::MAX), 0);
        assert_eq!(model(&t), vec![(3, 7), (1_000_000, 9)]);
    }

    #[test]
    fn copies_share_until_written() {
        let mut a = Tree::covering(5000);
        for s in (0..5000).step_by(7) {
            a.set(s, 1);
        }
        let before = live_nodes();
        let mut b = a.clone();
        assert_eq!(live_nodes(), before, "a copy allocates nothing");
        b.set(14, 5);
        assert_eq!(
            live_nodes(),
            before + 1 + a.height() as usize,
            "one path copied"
        );
        assert_eq!((a.get(14), b.get(14)), (1, 5));
    }

    #[test]
    fn join_adopts_dominating_nodes_and_converges() {
        let mut a = Tree::covering(0);
        for s in 0..3000 {
            a.set(s, 2);
        }
        let mut b = a.clone();
        b.set(10, 3); // b above a in one leaf
        a.set(2000, 4); // a above b in another
        assert!(b.join(&a));
        assert_eq!((b.get(10), b.get(2000), b.get(11)), (3, 4, 2));
        // a ⊔= b: a takes b's nodes, and the two are one tree again.
        assert!(a.join(&b));
        assert!(a.same(&b));
        assert!(!a.join(&b));
    }

    #[test]
    fn join_of_different_heights_and_incomparable_leaves() {
        let mut small = Tree::covering(0);
        small.set(1, 5);
        small.set(2, 1);
        let mut big = Tree::covering(0);
        big.set(2, 3);
        big.set(100_000, 1);
        let mut s = small.clone();
        assert!(s.join(&big));
        assert_eq!(model(&s), vec![(1, 5), (2, 3), (100_000, 1)]);
        let mut b = big.clone();
        assert!(b.join(&small));
        assert_eq!(model(&b), model(&s));
        assert!(!b.join(&small) && !s.join(&big));
    }
}
