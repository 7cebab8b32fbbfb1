//! What each deployment shipped.
//!
//! Deployments are taken in time order. A deployment ships the commits
//! reachable from its commit that no earlier deployment's commit reaches;
//! the first deployment ships nothing (it is the baseline: what it
//! contains counts as deployed before). On a linear history that is "the
//! commits reachable from its tag and not from the previous deployment's
//! tag" (DevLake's rule); after a rollback, or on a maintenance branch, a
//! commit shipped again counts once, with the deployment that shipped it
//! first (`smm_delivery::lead_time`'s rule).
//!
//! A deployment whose commit was not read (older than the `max_commits`
//! newest, or not a commit) ships nothing and reaches nothing; the first
//! deployment whose commit was read is the baseline.
//!
//! Each commit is visited once over all deployments: the commits deployed
//! so far are ancestor-closed, so a walk stops at the first one it meets.

use crate::export::History;

/// For each deployment commit, in deployment order (`None`: not read), the
/// commits it shipped, by index into [`History::commits`], nearest first.
pub fn shipped(history: &History, deployments: &[Option<u32>]) -> Vec<Vec<u32>> {
    let mut deployed = vec![false; history.commits.len()];
    let mut baseline_seen = false;
    let mut stack = Vec::new();
    deployments
        .iter()
        .map(|&commit| {
            let Some(commit) = commit else {
                return Vec::new();
            };
            let mut shipped = Vec::new();
            stack.push(commit);
            while let Some(c) = stack.pop() {
                if std::mem::replace(&mut deployed[c as usize], true) {
                    continue;
                }
                shipped.push(c);
                stack.extend(history.parents(c).iter().rev());
            }
            if std::mem::replace(&mut baseline_seen, true) {
                shipped
            } else {
                Vec::new()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{Oid, read_history};

    /// A history from `(name, parents)` pairs, newest first; names are one
    /// hexadecimal digit, repeated into a hash.
    fn history(commits: &[(char, &str)]) -> History {
        let text: String = commits
            .iter()
            .map(|(name, parents)| {
                let parents: Vec<String> = parents.chars().map(hash).collect();
                format!(
                    "{}\x1f{}\x1f2024-03-01T00:00:00Z\x1f2024-03-01T00:00:00Z\x1fs\n",
                    hash(*name),
                    parents.join(" ")
                )
            })
            .collect();
        read_history(text.as_bytes(), 1000, |_| false).unwrap()
    }

    fn hash(name: char) -> String {
        name.to_string().repeat(40)
    }

    fn at(h: &History, name: char) -> Option<u32> {
        h.find(&Oid::from_hex(&hash(name)).unwrap())
    }

    fn names(h: &History, shipped: &[u32]) -> String {
        let mut names: Vec<char> = shipped
            .iter()
            .map(|&i| {
                "0123456789abcdef"
                    .chars()
                    .find(|&n| at(h, n) == Some(i))
                    .unwrap()
            })
            .collect();
        names.sort();
        names.into_iter().collect()
    }

    /// main: 1-2-3-6-m(7)-8, branch 4-5 off 3 merged as 7.
    fn sample() -> History {
        history(&[
            ('8', "7"),
            ('7', "65"),
            ('6', "3"),
            ('5', "4"),
            ('4', "3"),
            ('3', "2"),
            ('2', "1"),
            ('1', ""),
        ])
    }

    #[test]
    fn each_ships_what_no_earlier_one_reached_and_the_first_nothing() {
        let h = sample();
        let s = shipped(&h, &[at(&h, '2'), at(&h, '7'), at(&h, '8')]);
        assert_eq!(s.len(), 3);
        assert!(s[0].is_empty());
        assert_eq!(names(&h, &s[1]), "34567");
        assert_eq!(names(&h, &s[2]), "8");
    }

    #[test]
    fn a_commit_shipped_again_after_a_rollback_counts_once() {
        let h = sample();
        let s = shipped(
            &h,
            &[
                at(&h, '1'),
                at(&h, '3'),
                at(&h, '2'),
                at(&h, '6'),
                at(&h, '8'),
            ],
        );
        assert_eq!(names(&h, &s[1]), "23");
        assert!(s[2].is_empty(), "rolled back to 2");
        assert_eq!(names(&h, &s[3]), "6");
        assert_eq!(names(&h, &s[4]), "4578");
    }

    #[test]
    fn a_maintenance_branch_ships_its_own_commits_only() {
        // 9 is a hotfix on top of 3, deployed after main's 6.
        let h = history(&[('9', "3"), ('6', "3"), ('3', "2"), ('2', "1"), ('1', "")]);
        let s = shipped(&h, &[at(&h, '2'), at(&h, '6'), at(&h, '9')]);
        assert_eq!(names(&h, &s[1]), "36");
        assert_eq!(names(&h, &s[2]), "9");
    }

    #[test]
    fn deployments_not_read_ship_nothing_and_the_first_read_is_the_baseline() {
        let h = sample();
        let s = shipped(&h, &[None, at(&h, '3'), None, at(&h, '8')]);
        assert!(s[0].is_empty() && s[1].is_empty() && s[2].is_empty());
        assert_eq!(names(&h, &s[3]), "45678");
        // A deployment of an already deployed commit ships nothing.
        let s = shipped(&h, &[at(&h, '8'), at(&h, '8')]);
        assert!(s[1].is_empty());
    }
}
