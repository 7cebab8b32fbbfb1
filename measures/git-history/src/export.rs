//! Reading the export: `history.txt` (one commit a line) and `tags.txt`
//! (one tag a line), written by [`HISTORY_COMMAND`] and [`TAGS_COMMAND`].
//!
//! Fields are separated by the ASCII unit separator U+001F (`%x1f` in
//! `git log`'s format, `%1f` in `git for-each-ref`'s: the two commands
//! spell hexadecimal escapes differently), which git never writes in a
//! hash, a date or a ref name; a subject holding one keeps it (the subject
//! is the last field). Lines end with `\n` (a `\r`
//! before it is dropped); empty lines are skipped. Text that is not UTF-8
//! (a subject in another encoding) is read lossily.
//!
//! Reading is bounded: at most `max` lines of each file are read (the
//! newest commits, as `git log` lists them first; the newest tags, as
//! `--sort=-creatordate` lists them first), and a line is at most
//! [`MAX_LINE`] bytes. What does not fit is left unread, not an error.
//!
//! Memory per commit kept is small (a binary id, two times, flags, parent
//! links), so 100 000 commits fit in a few tens of MiB.

use std::collections::HashMap;
use std::io::{BufRead, Read};

use chrono::{DateTime, Utc};

/// The file of commits, in the directory configured as `repository`.
pub const HISTORY_FILE: &str = "history.txt";
/// The file of tags, in the same directory.
pub const TAGS_FILE: &str = "tags.txt";
/// The command writing [`HISTORY_FILE`], run in the clone: hash, parent
/// hashes (space-separated), author date, committer date (strict ISO
/// 8601), subject. `--all` works too (it adds stashes and notes, whose
/// stash "merges" would then count as merges).
pub const HISTORY_COMMAND: &str =
    "git log --branches --remotes --tags --format='%H%x1f%P%x1f%aI%x1f%cI%x1f%s' > history.txt";
/// The command writing [`TAGS_FILE`], run in the clone: full ref name,
/// object (the tag object of an annotated tag, the commit of a lightweight
/// one), peeled object (the commit an annotated tag points at; empty for a
/// lightweight one), creator date (the tagger's date of an annotated tag,
/// the committer date of a lightweight tag's commit).
pub const TAGS_COMMAND: &str = "git for-each-ref --sort=-creatordate --format='%(refname)%1f%(objectname)%1f%(*objectname)%1f%(creatordate:iso-strict)' refs/tags > tags.txt";

/// The longest line read, in bytes (a commit subject is the whole first
/// paragraph of its message).
pub const MAX_LINE: usize = 1 << 20;

const SEPARATOR: char = '\u{1f}';

/// An object id (SHA-1, 20 bytes, or SHA-256, 32 bytes), zero-padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Oid([u8; 32]);

impl Oid {
    /// From 40 or 64 hexadecimal digits.
    pub fn from_hex(hex: &str) -> Option<Oid> {
        let bytes = hex.as_bytes();
        if bytes.len() != 40 && bytes.len() != 64 {
            return None;
        }
        let mut id = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let digit = |b: u8| (b as char).to_digit(16);
            id[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Some(Oid(id))
    }
}

/// A commit as kept: its parents are indices into [`History::commits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    /// The author date: when the change was written.
    pub authored_at: DateTime<Utc>,
    /// The committer date: when it was last committed (merged, rebased).
    pub committed_at: DateTime<Utc>,
    /// Whether the export listed two parents or more (whether or not they
    /// were read).
    pub merge: bool,
    /// Whether the subject starts with a rework prefix.
    pub rework: bool,
    parents_start: u32,
    parents_len: u32,
}

/// The commits read from [`HISTORY_FILE`].
#[derive(Debug, Default)]
pub struct History {
    index: HashMap<Oid, u32>,
    /// The commits, in the order the file lists them.
    pub commits: Vec<Commit>,
    parents: Vec<u32>,
    /// Whether lines were left unread (more than `max` commits).
    pub truncated: bool,
}

impl History {
    /// The commit with id `oid`, by index, when it was read.
    pub fn find(&self, oid: &Oid) -> Option<u32> {
        self.index.get(oid).copied()
    }

    /// The parents of commit `i` that were read, by index.
    pub fn parents(&self, i: u32) -> &[u32] {
        let c = &self.commits[i as usize];
        let start = c.parents_start as usize;
        &self.parents[start..start + c.parents_len as usize]
    }
}

/// A tag read from [`TAGS_FILE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// Its name, without `refs/tags/`.
    pub name: String,
    /// The commit it designates (the peeled object of an annotated tag),
    /// in hexadecimal as the export wrote it.
    pub sha: String,
    /// The same, parsed.
    pub target: Oid,
    /// Its creator date; `None` when the export gave none (an annotated
    /// tag without a tagger).
    pub created_at: Option<DateTime<Utc>>,
}

/// Why the export cannot be read: a line (1-based) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportError {
    /// The line, 1-based; 0 when the file could not be read at all.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

fn error(line: usize, message: impl Into<String>) -> ExportError {
    ExportError {
        line,
        message: message.into(),
    }
}

/// Calls `each` with every non-empty line of `reader` (its 1-based number
/// and text) until `each` says stop (`Ok(false)`) or the input ends.
fn lines(
    mut reader: impl BufRead,
    mut each: impl FnMut(usize, &str) -> Result<bool, ExportError>,
) -> Result<(), ExportError> {
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        let read = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| error(number + 1, format!("cannot read: {e}")))?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
        } else if buf.len() > MAX_LINE {
            return Err(error(number, format!("longer than {MAX_LINE} bytes")));
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        if buf.is_empty() {
            continue;
        }
        if !each(number, &String::from_utf8_lossy(&buf))? {
            return Ok(());
        }
    }
}

fn oid(line: usize, what: &str, hex: &str) -> Result<Oid, ExportError> {
    Oid::from_hex(hex).ok_or_else(|| {
        error(
            line,
            format!("{what} {hex:?} is not a hash (40 or 64 hexadecimal digits)"),
        )
    })
}

fn date(line: usize, what: &str, text: &str) -> Result<DateTime<Utc>, ExportError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            error(
                line,
                format!("{what} {text:?} is not a strict ISO 8601 date ({e})"),
            )
        })
}

/// Read at most `max` commits (see the module's documentation);
/// `is_rework` tells rework from a subject.
pub fn read_history(
    reader: impl BufRead,
    max: usize,
    is_rework: impl Fn(&str) -> bool,
) -> Result<History, ExportError> {
    let mut history = History::default();
    // Parent ids, by commit, until every commit is read.
    let mut parent_ids: Vec<Oid> = Vec::new();
    lines(reader, |n, line| {
        if history.commits.len() == max {
            history.truncated = true;
            return Ok(false);
        }
        let fields: Vec<&str> = line.splitn(5, SEPARATOR).collect();
        let [sha, parents, authored, committed, subject] = fields[..] else {
            return Err(error(
                n,
                format!(
                    "{} fields where 5 are expected (hash, parents, author date, committer date, subject, separated by U+001F: %x1f in the format of git log)",
                    fields.len()
                ),
            ));
        };
        let id = oid(n, "hash", sha)?;
        let start = parent_ids.len();
        for parent in parents.split_whitespace() {
            parent_ids.push(oid(n, "parent", parent)?);
        }
        let count = parent_ids.len() - start;
        let i = history.commits.len() as u32;
        if history.index.insert(id, i).is_some() {
            return Err(error(n, format!("commit {sha} is listed twice")));
        }
        history.commits.push(Commit {
            authored_at: date(n, "author date", authored)?,
            committed_at: date(n, "committer date", committed)?,
            merge: count >= 2,
            rework: is_rework(subject),
            parents_start: start as u32,
            parents_len: count as u32,
        });
        Ok(true)
    })?;
    // Parents as indices, those not read left out.
    for i in 0..history.commits.len() {
        let c = history.commits[i];
        let start = history.parents.len();
        let ids = &parent_ids[c.parents_start as usize..(c.parents_start + c.parents_len) as usize];
        history
            .parents
            .extend(ids.iter().filter_map(|p| history.index.get(p).copied()));
        let c = &mut history.commits[i];
        c.parents_start = start as u32;
        c.parents_len = (history.parents.len() - start) as u32;
    }
    Ok(history)
}

/// Read the tags whose name `wanted` accepts, from at most `max` lines.
pub fn read_tags(
    reader: impl BufRead,
    max: usize,
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<Tag>, ExportError> {
    let mut tags = Vec::new();
    let mut read = 0;
    lines(reader, |n, line| {
        if read == max {
            return Ok(false);
        }
        read += 1;
        let fields: Vec<&str> = line.split(SEPARATOR).collect();
        let [name, object, peeled, created] = fields[..] else {
            return Err(error(
                n,
                format!(
                    "{} fields where 4 are expected (ref name, object, peeled object, creator date, separated by U+001F: %1f in the format of for-each-ref)",
                    fields.len()
                ),
            ));
        };
        let name = name.strip_prefix("refs/tags/").unwrap_or(name);
        if !wanted(name) {
            return Ok(true);
        }
        let sha = if peeled.is_empty() { object } else { peeled };
        tags.push(Tag {
            name: name.to_string(),
            sha: sha.to_string(),
            target: oid(n, "object", sha)?,
            created_at: if created.is_empty() {
                None
            } else {
                Some(date(n, "creator date", created)?)
            },
        });
        Ok(true)
    })?;
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccc";
    const D: &str = "dddddddddddddddddddddddddddddddddddddddd";

    fn line(sha: &str, parents: &str, authored: &str, committed: &str, subject: &str) -> String {
        format!("{sha}\x1f{parents}\x1f{authored}\x1f{committed}\x1f{subject}\n")
    }

    fn oid(hex: &str) -> Oid {
        Oid::from_hex(hex).unwrap()
    }

    #[test]
    fn commits_parents_dates_and_rework_are_read() {
        let text = [
            line(
                C,
                &format!("{B} {A}"),
                "2024-03-02T12:00:00+02:00",
                "2024-03-02T13:00:00+02:00",
                "Merge branch 'x'",
            ),
            line(
                B,
                A,
                "2024-03-01T10:00:00Z",
                "2024-03-01T11:00:00Z",
                "fix: with \x1f inside",
            ),
            "\r\n".into(),
            line(
                A,
                "",
                "2024-02-29T00:00:00-05:00",
                "2024-02-29T00:00:00-05:00",
                "root",
            )
            .replace('\n', "\r\n"),
        ]
        .concat();
        let h = read_history(text.as_bytes(), 100, |s| s.starts_with("fix")).unwrap();
        assert!(!h.truncated);
        assert_eq!(h.commits.len(), 3);
        let (a, b, c) = (
            h.find(&oid(A)).unwrap(),
            h.find(&oid(B)).unwrap(),
            h.find(&oid(C)).unwrap(),
        );
        assert_eq!((a, b, c), (2, 1, 0));
        assert_eq!(h.parents(c), [b, a]);
        assert_eq!(h.parents(b), [a]);
        assert!(h.parents(a).is_empty());
        let merge = h.commits[c as usize];
        assert!(merge.merge && !merge.rework);
        assert_eq!(merge.authored_at.to_rfc3339(), "2024-03-02T10:00:00+00:00");
        assert_eq!(merge.committed_at.to_rfc3339(), "2024-03-02T11:00:00+00:00");
        assert!(h.commits[b as usize].rework);
        assert_eq!(
            h.commits[a as usize].authored_at.to_rfc3339(),
            "2024-02-29T05:00:00+00:00"
        );
        assert_eq!(h.find(&oid(D)), None);
    }

    #[test]
    fn at_most_max_commits_are_read_and_missing_parents_are_dropped() {
        let text = [
            line(C, B, "2024-03-02T00:00:00Z", "2024-03-02T00:00:00Z", "c"),
            line(B, A, "2024-03-01T00:00:00Z", "2024-03-01T00:00:00Z", "b"),
            line(A, "", "2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "a"),
            "not even a commit\n".into(),
        ]
        .concat();
        let h = read_history(text.as_bytes(), 2, |_| false).unwrap();
        assert!(h.truncated);
        assert_eq!(h.commits.len(), 2);
        assert_eq!(h.find(&oid(A)), None);
        assert_eq!(h.parents(1), [] as [u32; 0]);
        // Still a merge when a parent was not read.
        let m = line(
            C,
            &format!("{B} {A}"),
            "2024-03-02T00:00:00Z",
            "2024-03-02T00:00:00Z",
            "m",
        );
        let h = read_history(m.as_bytes(), 10, |_| false).unwrap();
        assert!(h.commits[0].merge);
        assert!(h.parents(0).is_empty());
    }

    #[test]
    fn malformed_lines_are_named_by_number() {
        let bad = |text: &str| read_history(text.as_bytes(), 10, |_| false).unwrap_err();
        let ok = line(A, "", "2024-03-01T00:00:00Z", "2024-03-01T00:00:00Z", "a");
        let e = bad(&format!("{ok}{B}\x1f{A}\x1f2024-03-01T00:00:00Z\n"));
        assert_eq!(e.line, 2);
        assert!(e.to_string().starts_with("line 2: 3 fields where 5"), "{e}");
        let e = bad(&line(
            "xyz",
            "",
            "2024-03-01T00:00:00Z",
            "2024-03-01T00:00:00Z",
            "a",
        ));
        assert!(e.message.contains("hash \"xyz\" is not a hash"), "{e}");
        let e = bad(&line(
            A,
            "",
            "2024-03-01 00:00:00 +0000",
            "2024-03-01T00:00:00Z",
            "a",
        ));
        assert!(e.message.contains("author date"), "{e}");
        let e = bad(&line(
            B,
            "12",
            "2024-03-01T00:00:00Z",
            "2024-03-01T00:00:00Z",
            "a",
        ));
        assert!(e.message.contains("parent \"12\""), "{e}");
        let e = bad(&format!("{ok}{ok}"));
        assert_eq!(e.to_string(), format!("line 2: commit {A} is listed twice"));
        let long = format!("{A}\x1f\x1f{}", "x".repeat(MAX_LINE));
        assert!(bad(&long).message.contains("longer than"));
    }

    #[test]
    fn sha256_ids_are_read() {
        let long = "ab".repeat(32);
        let h = read_history(
            line(
                &long,
                "",
                "2024-03-01T00:00:00Z",
                "2024-03-01T00:00:00Z",
                "a",
            )
            .as_bytes(),
            10,
            |_| false,
        )
        .unwrap();
        assert_eq!(h.find(&oid(&long)), Some(0));
        assert_ne!(oid(&long), oid(&"ab".repeat(20)));
        assert_eq!(Oid::from_hex(&"g".repeat(40)), None);
    }

    #[test]
    fn annotated_tags_are_peeled_and_others_filtered() {
        let text = format!(
            "refs/tags/v2\x1f{D}\x1f{C}\x1f2024-03-03T12:00:00+01:00\n\
             refs/tags/v1\x1f{B}\x1f\x1f2024-03-01T00:00:00Z\n\
             refs/tags/build-7\x1fnot-read\x1f\x1f\n\
             refs/tags/v0\x1f{D}\x1f{A}\x1f\n"
        );
        let tags = read_tags(text.as_bytes(), 10, |n| n.starts_with('v')).unwrap();
        let names: Vec<&str> = tags.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["v2", "v1", "v0"]);
        assert_eq!(tags[0].sha, C);
        assert_eq!(tags[0].target, oid(C));
        assert_eq!(
            tags[0].created_at.unwrap().to_rfc3339(),
            "2024-03-03T11:00:00+00:00"
        );
        assert_eq!(tags[1].sha, B);
        assert_eq!(tags[2].created_at, None);
        // Bounded: the first line only.
        assert_eq!(read_tags(text.as_bytes(), 1, |_| true).unwrap().len(), 1);
        let e = read_tags("refs/tags/v1\x1fabc\n".as_bytes(), 10, |_| true).unwrap_err();
        assert!(e.to_string().starts_with("line 1: 2 fields where 4"), "{e}");
    }
}
