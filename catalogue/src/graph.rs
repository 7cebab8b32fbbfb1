//! The dependency graph of derived measures, built in one place: the
//! registry checks it for cycles before a derived measure is stored, and
//! the engine orders event-driven recomputation by it.
//!
//! Nodes are measure ids (all versions of a measure are one node: an
//! instance may be pinned to any of them); an edge `a -> b` means a version
//! of derived measure `a` reads measure `b`. Direct measures have no
//! outgoing edges.
//!
//! Invariant: a graph the registry has stored is acyclic, so [`DependencyGraph::depth`]
//! is finite; it still guards against a cyclic graph (a damaged store) by
//! bounding the walk.

use std::collections::{BTreeMap, BTreeSet};

use crate::store::{Implementation, MeasureRecord};

#[derive(Debug, Clone, Default)]
pub struct DependencyGraph {
    reads: BTreeMap<String, BTreeSet<String>>,
}

/// Deepest chain [`DependencyGraph::depth`] follows.
const MAX_DEPTH: usize = 64;

impl DependencyGraph {
    /// The graph of every derived measure version in `records`.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a MeasureRecord>) -> Self {
        let mut graph = DependencyGraph::default();
        for record in records {
            if let Implementation::Derived { definition } = &record.implementation {
                graph.add(
                    &record.metadata.id,
                    definition.inputs().iter().map(|(_, i)| i.measure.as_str()),
                );
            }
        }
        graph
    }

    /// Add the edges `id -> input` for each input.
    pub fn add<'a>(&mut self, id: &str, inputs: impl IntoIterator<Item = &'a str>) {
        self.reads
            .entry(id.to_string())
            .or_default()
            .extend(inputs.into_iter().map(str::to_string));
    }

    /// A dependency cycle through `start`, printed `a -> b -> a`.
    pub fn cycle_through(&self, start: &str) -> Option<String> {
        fn walk(
            node: &str,
            start: &str,
            reads: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            seen: &mut BTreeSet<String>,
        ) -> bool {
            for next in reads.get(node).into_iter().flatten() {
                path.push(next.clone());
                if next == start {
                    return true;
                }
                if seen.insert(next.clone()) && walk(next, start, reads, path, seen) {
                    return true;
                }
                path.pop();
            }
            false
        }
        let mut path = vec![start.to_string()];
        let mut seen = BTreeSet::new();
        walk(start, start, &self.reads, &mut path, &mut seen).then(|| path.join(" -> "))
    }

    /// 0 for a direct measure, else 1 + the depth of its deepest input: a
    /// measure comes after everything it reads when sorted by depth.
    pub fn depth(&self, id: &str) -> usize {
        fn depth<'a>(
            id: &'a str,
            reads: &'a BTreeMap<String, BTreeSet<String>>,
            memo: &mut BTreeMap<&'a str, usize>,
            budget: usize,
        ) -> usize {
            if let Some(&d) = memo.get(id) {
                return d;
            }
            let d = match reads.get(id) {
                None => 0,
                Some(_) if budget == 0 => 0,
                Some(inputs) => {
                    1 + inputs
                        .iter()
                        .map(|i| depth(i, reads, memo, budget - 1))
                        .max()
                        .unwrap_or(0)
                }
            };
            memo.insert(id, d);
            d
        }
        depth(id, &self.reads, &mut BTreeMap::new(), MAX_DEPTH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> DependencyGraph {
        let mut g = DependencyGraph::default();
        for (id, inputs) in edges {
            g.add(id, inputs.iter().copied());
        }
        g
    }

    #[test]
    fn cycles_are_found_and_printed() {
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a", "x"])]);
        assert_eq!(g.cycle_through("a").as_deref(), Some("a -> b -> c -> a"));
        let g = graph(&[("a", &["b"]), ("b", &["c"])]);
        assert_eq!(g.cycle_through("a"), None);
        let g = graph(&[("s", &["s"])]);
        assert_eq!(g.cycle_through("s").as_deref(), Some("s -> s"));
    }

    #[test]
    fn depth_orders_a_measure_after_what_it_reads() {
        // rate reads two direct measures; grade reads rate and a direct one.
        let g = graph(&[("rate", &["failed", "deployed"]), ("grade", &["rate", "x"])]);
        assert_eq!(g.depth("failed"), 0);
        assert_eq!(g.depth("rate"), 1);
        assert_eq!(g.depth("grade"), 2);
        // A damaged, cyclic graph still gives an answer.
        let g = graph(&[("a", &["b"]), ("b", &["a"])]);
        assert!(g.depth("a") <= MAX_DEPTH + 1);
    }
}
