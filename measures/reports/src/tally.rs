//! Counts per key (package, rule, file...), of which a measurement's
//! details keep the largest: a report with 100 000 packages must not make
//! details larger than the output limit.

use std::collections::{BTreeMap, HashMap};

/// How many keys details keep, by default.
pub const TOP: usize = 20;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally(HashMap<String, u64>);

impl Tally {
    pub fn add(&mut self, key: &str) {
        self.add_n(key, 1);
    }

    pub fn add_n(&mut self, key: &str, n: u64) {
        match self.0.get_mut(key) {
            Some(count) => *count += n,
            None => {
                self.0.insert(key.to_string(), n);
            }
        }
    }

    /// How many distinct keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, key: &str) -> u64 {
        self.0.get(key).copied().unwrap_or(0)
    }

    /// The `n` largest counts (ties broken by key), sorted by key.
    pub fn top(&self, n: usize) -> BTreeMap<String, u64> {
        let mut all: Vec<(&String, &u64)> = self.0.iter().collect();
        all.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        all.into_iter()
            .take(n)
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}

/// `serialize_with` of a summary field: the [`TOP`] largest counts.
pub(crate) fn serialize_top<S: serde::Serializer>(tally: &Tally, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&tally.top(TOP), s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_are_kept() {
        let mut t = Tally::default();
        for k in ["a", "b", "b", "c", "c", "c", "d"] {
            t.add(k);
        }
        assert_eq!(t.len(), 4);
        let top = t.top(2);
        assert_eq!(
            top.into_iter().collect::<Vec<_>>(),
            vec![("b".into(), 2), ("c".into(), 3)]
        );
        assert_eq!(t.top(3).keys().collect::<Vec<_>>(), vec!["a", "b", "c"]);
    }
}
