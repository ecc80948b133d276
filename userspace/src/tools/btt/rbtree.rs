//! A red-black tree shaped exactly as the kernel-style rbtree btt uses (`lib/rbtree.c`).
//!
//! btt's results depend on the shape of its trees, not only on their contents: it finds the
//! queued I/O covering a sector by walking down from the root and taking the first node whose
//! range covers it (with overlapping I/Os, which one depends on the shape); it gathers the
//! I/Os an issue or completion covers with a walk that prunes subtrees; its seek median is
//! the first bucket in pre-order holding half the seeks and its modes are gathered in
//! post-order. Reproducing its output means reproducing the shapes: the same insertion and
//! erasure with the same rebalancing. Nodes live in an arena (freed slots are reused) and are
//! named by index.

pub const NIL: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node<T> {
    value: T,
    left: u32,
    right: u32,
    parent: u32,
    red: bool,
}

/// Where a new node goes: under `parent` (NIL for the root), on its left or right.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub parent: u32,
    pub left: bool,
}

#[derive(Debug, Clone)]
pub struct RbTree<T> {
    nodes: Vec<Option<Node<T>>>,
    free: Vec<u32>,
    root: u32,
}

impl<T> Default for RbTree<T> {
    fn default() -> RbTree<T> {
        RbTree {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
        }
    }
}

impl<T> RbTree<T> {
    pub fn root(&self) -> u32 {
        self.root
    }

    fn node(&self, at: u32) -> &Node<T> {
        self.nodes[at as usize]
            .as_ref()
            .expect("rbtree: index of a live node")
    }

    fn node_mut(&mut self, at: u32) -> &mut Node<T> {
        self.nodes[at as usize]
            .as_mut()
            .expect("rbtree: index of a live node")
    }

    pub fn get(&self, at: u32) -> &T {
        &self.node(at).value
    }

    pub fn get_mut(&mut self, at: u32) -> &mut T {
        &mut self.node_mut(at).value
    }

    pub fn left(&self, at: u32) -> u32 {
        self.node(at).left
    }

    pub fn right(&self, at: u32) -> u32 {
        self.node(at).right
    }

    fn parent(&self, at: u32) -> u32 {
        self.node(at).parent
    }

    fn is_red(&self, at: u32) -> bool {
        at != NIL && self.node(at).red
    }

    /// Links a new node at `slot` (found by the caller's search) and rebalances.
    pub fn insert(&mut self, slot: Slot, value: T) -> u32 {
        let node = Node {
            value,
            left: NIL,
            right: NIL,
            parent: slot.parent,
            red: true,
        };
        let at = match self.free.pop() {
            Some(at) => {
                self.nodes[at as usize] = Some(node);
                at
            }
            None => {
                self.nodes.push(Some(node));
                (self.nodes.len() - 1) as u32
            }
        };
        if slot.parent == NIL {
            self.root = at;
        } else if slot.left {
            self.node_mut(slot.parent).left = at;
        } else {
            self.node_mut(slot.parent).right = at;
        }
        self.insert_color(at);
        at
    }

    /// Unlinks and returns the node at `at`, rebalancing as the kernel's `rb_erase` does.
    pub fn remove(&mut self, at: u32) -> T {
        let rebalance = self.unlink(at);
        if rebalance != NIL {
            self.erase_color(rebalance);
        }
        self.free.push(at);
        let node = self.nodes[at as usize]
            .take()
            .expect("rbtree: index of a live node");
        node.value
    }

    /// Values in pre-order (node, left, right).
    pub fn pre_order(&self) -> Vec<&T> {
        self.node_first(|n| (n.left, n.right))
    }

    /// Values in post-order (left, right, node).
    pub fn post_order(&self) -> Vec<&T> {
        // Node-right-left pre-order, reversed.
        let mut out = self.node_first(|n| (n.right, n.left));
        out.reverse();
        out
    }

    /// Values node first, then the subtrees in the order `children` gives.
    fn node_first(&self, children: impl Fn(&Node<T>) -> (u32, u32)) -> Vec<&T> {
        let mut out = Vec::new();
        let mut stack = vec![self.root];
        while let Some(at) = stack.pop() {
            if at == NIL {
                continue;
            }
            let n = self.node(at);
            out.push(&n.value);
            let (first, second) = children(n);
            stack.push(second);
            stack.push(first);
        }
        out
    }

    fn set_child(&mut self, parent: u32, old: u32, new: u32) {
        if parent == NIL {
            self.root = new;
        } else if self.node(parent).left == old {
            self.node_mut(parent).left = new;
        } else {
            self.node_mut(parent).right = new;
        }
    }

    fn set_parent(&mut self, at: u32, parent: u32) {
        if at != NIL {
            self.node_mut(at).parent = parent;
        }
    }

    /// `new` takes `old`'s place and colour under `old`'s parent; `old` hangs under `new`
    /// with `color_red`.
    fn rotate_set_parents(&mut self, old: u32, new: u32, color_red: bool) {
        let parent = self.parent(old);
        let red = self.node(old).red;
        {
            let n = self.node_mut(new);
            n.parent = parent;
            n.red = red;
        }
        {
            let o = self.node_mut(old);
            o.parent = new;
            o.red = color_red;
        }
        self.set_child(parent, old, new);
    }

    /// `at`'s child on the left (`left`) or right.
    fn child(&self, at: u32, left: bool) -> u32 {
        let n = self.node(at);
        if left { n.left } else { n.right }
    }

    fn set_child_on(&mut self, at: u32, left: bool, child: u32) {
        let n = self.node_mut(at);
        if left {
            n.left = child;
        } else {
            n.right = child;
        }
    }

    /// The kernel's `__rb_insert`, written once for both sides: `side` is the side of its
    /// parent the new node's parent hangs on (the kernel spells out the mirror image).
    fn insert_color(&mut self, mut node: u32) {
        loop {
            let mut parent = self.parent(node);
            if parent == NIL {
                self.node_mut(node).red = false;
                return;
            }
            if !self.node(parent).red {
                return;
            }
            let gparent = self.parent(parent);
            let side = self.node(gparent).left == parent;
            let uncle = self.child(gparent, !side);
            if self.is_red(uncle) {
                self.node_mut(uncle).red = false;
                self.node_mut(parent).red = false;
                self.node_mut(gparent).red = true;
                node = gparent;
                continue;
            }
            if self.child(parent, !side) == node {
                // Rotate at parent, towards `side`.
                let tmp = self.child(node, side);
                self.set_child_on(parent, !side, tmp);
                self.set_child_on(node, side, parent);
                self.set_parent(tmp, parent);
                self.node_mut(parent).parent = node;
                self.node_mut(node).parent = gparent;
                self.set_child_on(gparent, side, node);
                parent = node;
            }
            // Rotate at gparent, away from `side`.
            let tmp = self.child(parent, !side);
            self.set_child_on(gparent, side, tmp);
            self.set_child_on(parent, !side, gparent);
            self.set_parent(tmp, gparent);
            self.rotate_set_parents(gparent, parent, true);
            return;
        }
    }

    /// The kernel's `__rb_erase_augmented` (without augmentation): unlinks `node`; returns
    /// the parent to rebalance from, or NIL.
    fn unlink(&mut self, node: u32) -> u32 {
        let child = self.node(node).right;
        let left = self.node(node).left;
        let (parent, red) = (self.parent(node), self.node(node).red);
        if left == NIL {
            self.set_child(parent, node, child);
            if child != NIL {
                let c = self.node_mut(child);
                c.parent = parent;
                c.red = red;
                NIL
            } else if red {
                NIL
            } else {
                parent
            }
        } else if child == NIL {
            {
                let l = self.node_mut(left);
                l.parent = parent;
                l.red = red;
            }
            self.set_child(parent, node, left);
            NIL
        } else {
            let mut successor = child;
            let succ_parent;
            let child2;
            let mut tmp = self.node(child).left;
            if tmp == NIL {
                succ_parent = successor;
                child2 = self.node(successor).right;
            } else {
                let mut p;
                loop {
                    p = successor;
                    successor = tmp;
                    tmp = self.node(tmp).left;
                    if tmp == NIL {
                        break;
                    }
                }
                succ_parent = p;
                child2 = self.node(successor).right;
                self.node_mut(succ_parent).left = child2;
                self.node_mut(successor).right = child;
                self.node_mut(child).parent = successor;
            }
            self.node_mut(successor).left = left;
            self.node_mut(left).parent = successor;
            self.set_child(parent, node, successor);
            let rebalance = if child2 != NIL {
                let c = self.node_mut(child2);
                c.parent = succ_parent;
                c.red = false;
                NIL
            } else if self.node(successor).red {
                NIL
            } else {
                succ_parent
            };
            let s = self.node_mut(successor);
            s.parent = parent;
            s.red = red;
            rebalance
        }
    }

    /// The kernel's `____rb_erase_color`, written once for both sides: `side` is the side of
    /// `parent` the short (black-deficient) subtree `node` is on.
    fn erase_color(&mut self, mut parent: u32) {
        let mut node = NIL;
        loop {
            let side = self.node(parent).right != node;
            let mut sibling = self.child(parent, !side);
            if self.is_red(sibling) {
                let tmp1 = self.child(sibling, side);
                self.set_child_on(parent, !side, tmp1);
                self.set_child_on(sibling, side, parent);
                {
                    let t = self.node_mut(tmp1);
                    t.parent = parent;
                    t.red = false;
                }
                self.rotate_set_parents(parent, sibling, true);
                sibling = tmp1;
            }
            let mut tmp1 = self.child(sibling, !side);
            if !self.is_red(tmp1) {
                let tmp2 = self.child(sibling, side);
                if !self.is_red(tmp2) {
                    {
                        let s = self.node_mut(sibling);
                        s.parent = parent;
                        s.red = true;
                    }
                    if self.node(parent).red {
                        self.node_mut(parent).red = false;
                    } else {
                        node = parent;
                        parent = self.parent(node);
                        if parent != NIL {
                            continue;
                        }
                    }
                    return;
                }
                let t1 = self.child(tmp2, !side);
                self.set_child_on(sibling, side, t1);
                self.set_child_on(tmp2, !side, sibling);
                self.set_child_on(parent, !side, tmp2);
                if t1 != NIL {
                    let t = self.node_mut(t1);
                    t.parent = sibling;
                    t.red = false;
                }
                tmp1 = sibling;
                sibling = tmp2;
            }
            let tmp2 = self.child(sibling, side);
            self.set_child_on(parent, !side, tmp2);
            self.set_child_on(sibling, side, parent);
            {
                let t = self.node_mut(tmp1);
                t.parent = sibling;
                t.red = false;
            }
            self.set_parent(tmp2, parent);
            self.rotate_set_parents(parent, sibling, false);
            return;
        }
    }

    /// Checks the red-black rules and parent links; returns the black height (tests).
    #[cfg(test)]
    pub fn check(&self) -> usize {
        fn walk<T>(t: &RbTree<T>, at: u32, parent: u32) -> usize {
            if at == NIL {
                return 1;
            }
            let n = t.node(at);
            assert_eq!(n.parent, parent, "parent link");
            if n.red {
                assert!(
                    !t.is_red(n.left) && !t.is_red(n.right),
                    "red with red child"
                );
            }
            let l = walk(t, n.left, at);
            let r = walk(t, n.right, at);
            assert_eq!(l, r, "black heights");
            l + usize::from(!n.red)
        }
        assert!(!self.is_red(self.root), "red root");
        walk(self, self.root, NIL)
    }
}

/// Keys with how often each was added (btt's seek buckets).
#[derive(Debug, Clone, Default)]
pub struct CountTree {
    tree: RbTree<(i64, i32)>,
}

impl CountTree {
    pub fn add(&mut self, key: i64) {
        let mut slot = Slot {
            parent: NIL,
            left: false,
        };
        let mut at = self.tree.root();
        while at != NIL {
            let (k, _) = *self.tree.get(at);
            if key == k {
                self.tree.get_mut(at).1 += 1;
                return;
            }
            slot = Slot {
                parent: at,
                left: key < k,
            };
            at = if key < k {
                self.tree.left(at)
            } else {
                self.tree.right(at)
            };
        }
        self.tree.insert(slot, (key, 1));
    }

    /// `(key, count)` in pre-order.
    pub fn pre_order(&self) -> Vec<(i64, i32)> {
        self.tree.pre_order().into_iter().copied().collect()
    }

    /// `(key, count)` in post-order.
    pub fn post_order(&self) -> Vec<(i64, i32)> {
        self.tree.post_order().into_iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &[(i64, i32)]) -> Vec<i64> {
        v.iter().map(|&(k, _)| k).collect()
    }

    #[test]
    fn three_ascending_keys_rotate_the_middle_to_the_root() {
        let mut t = CountTree::default();
        for k in [1, 2, 3] {
            t.add(k);
        }
        assert_eq!(keys(&t.pre_order()), [2, 1, 3]);
        assert_eq!(keys(&t.post_order()), [1, 3, 2]);
    }

    #[test]
    fn two_keys_keep_the_first_at_the_root() {
        let mut t = CountTree::default();
        t.add(5);
        t.add(3);
        t.add(5);
        assert_eq!(t.pre_order(), [(5, 2), (3, 1)]);
    }

    /// A plain BST insert by key, for driving `RbTree` directly.
    fn insert(t: &mut RbTree<u64>, key: u64) -> u32 {
        let mut slot = Slot {
            parent: NIL,
            left: false,
        };
        let mut at = t.root();
        while at != NIL {
            let left = key < *t.get(at);
            slot = Slot { parent: at, left };
            at = if left { t.left(at) } else { t.right(at) };
        }
        t.insert(slot, key)
    }

    #[test]
    fn stays_valid_and_ordered_through_inserts_and_removals() {
        let mut t = RbTree::default();
        let mut ids = Vec::new();
        for k in 0..2000u64 {
            ids.push((k * 7919 % 2000, insert(&mut t, k * 7919 % 2000)));
            t.check();
        }
        // Remove every third, in a scrambled order.
        for (i, &(k, id)) in ids.iter().enumerate() {
            if i % 3 == 0 {
                assert_eq!(t.remove(id), k);
                t.check();
            }
        }
        let mut left: Vec<u64> = t.pre_order().into_iter().copied().collect();
        left.sort_unstable();
        let mut want: Vec<u64> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(_, &(k, _))| k)
            .collect();
        want.sort_unstable();
        assert_eq!(left, want);
        assert!(t.check() <= 12, "balanced");
    }

    #[test]
    fn erasing_a_node_with_two_children_promotes_its_successor() {
        let mut t = RbTree::default();
        let ids: Vec<u32> = [20u64, 10, 30, 25, 35]
            .iter()
            .map(|&k| insert(&mut t, k))
            .collect();
        t.remove(ids[0]);
        t.check();
        let order: Vec<u64> = t.pre_order().into_iter().copied().collect();
        assert_eq!(order, [25, 10, 30, 35]);
    }
}
