//! Lines of code of a source tree, by language (what densities per KLOC
//! divide by).
//!
//! A file's language comes from its extension (see [`LANGUAGES`]); files of
//! other extensions are counted apart (`other_files`) and not read. In a
//! file of a known language every line is one of:
//! - **blank**: only whitespace;
//! - **comment**: starts (after whitespace) with the language's line
//!   comment marker (`//`, `#`, `--`, ...), or lies inside a block comment
//!   that opens at the start of a line (`/* ... */`, `<!-- ... -->`,
//!   Python's docstrings are code);
//! - **code**: anything else. The value is the code lines of all files.
//!
//! Directories that hold dependencies or build output (`.git`,
//! `node_modules`, `target`, `vendor`, `build`, `dist`, `__pycache__`,
//! `.venv`, `venv`) are not entered, nor are symbolic links followed. A
//! file that is not UTF-8 is counted as `unreadable`, not read further.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Serialize;

use crate::ReportError;

/// A language: its name, extensions, line comment markers and block
/// comment delimiters.
pub struct Language {
    pub name: &'static str,
    pub extensions: &'static [&'static str],
    pub line: &'static [&'static str],
    pub block: Option<(&'static str, &'static str)>,
}

const C_LIKE: Option<(&str, &str)> = Some(("/*", "*/"));

/// The languages counted.
pub const LANGUAGES: &[Language] = &[
    Language {
        name: "Rust",
        extensions: &["rs"],
        line: &["//"],
        block: C_LIKE,
    },
    Language {
        name: "C",
        extensions: &["c", "h"],
        line: &["//"],
        block: C_LIKE,
    },
    Language {
        name: "C++",
        extensions: &["cc", "cpp", "cxx", "hpp", "hh", "hxx"],
        line: &["//"],
        block: C_LIKE,
    },
    Language {
        name: "C#",
        extensions: &["cs"],
        line: &["//"],
        block: C_LIKE,
    },
    Language {
        name: "Go",
        extensions: &["go"],
        line: &["//"],
        block: C_LIKE,
    },
    Language {
        name: "Java",
        extensions: &["java"],
        line: &["//"],
        block: C_LIKE,
    },
    Language {
        name: "Kotlin",
        extensions: &["kt", "kts"],
        line: &["//"],
        block: C_LIKE,
    },
    Language {
        name: "Scala",
        extensions: &["scala"],
        line: &["//"],
        block: C_LIKE,
    },
    Language {
        name: "Swift",
        extensions: &["swift"],
        line: &["//"],
        block: C_LIKE,
    },
    Language {
        name: "JavaScript",
        extensions: &["js", "mjs", "cjs", "jsx"],
        line: &["//"],
        block: C_LIKE,
    },
    Language {
        name: "TypeScript",
        extensions: &["ts", "tsx", "mts", "cts"],
        line: &["//"],
        block: C_LIKE,
    },
    Language {
        name: "PHP",
        extensions: &["php"],
        line: &["//", "#"],
        block: C_LIKE,
    },
    Language {
        name: "Python",
        extensions: &["py", "pyi"],
        line: &["#"],
        block: None,
    },
    Language {
        name: "Ruby",
        extensions: &["rb"],
        line: &["#"],
        block: None,
    },
    Language {
        name: "Shell",
        extensions: &["sh", "bash", "zsh"],
        line: &["#"],
        block: None,
    },
    Language {
        name: "Perl",
        extensions: &["pl", "pm"],
        line: &["#"],
        block: None,
    },
    Language {
        name: "R",
        extensions: &["r", "R"],
        line: &["#"],
        block: None,
    },
    Language {
        name: "SQL",
        extensions: &["sql"],
        line: &["--"],
        block: C_LIKE,
    },
    Language {
        name: "Lua",
        extensions: &["lua"],
        line: &["--"],
        block: None,
    },
    Language {
        name: "Haskell",
        extensions: &["hs"],
        line: &["--"],
        block: Some(("{-", "-}")),
    },
    Language {
        name: "HTML",
        extensions: &["html", "htm"],
        line: &[],
        block: Some(("<!--", "-->")),
    },
    Language {
        name: "CSS",
        extensions: &["css", "scss"],
        line: &[],
        block: C_LIKE,
    },
    Language {
        name: "YAML",
        extensions: &["yml", "yaml"],
        line: &["#"],
        block: None,
    },
    Language {
        name: "TOML",
        extensions: &["toml"],
        line: &["#"],
        block: None,
    },
    Language {
        name: "Terraform",
        extensions: &["tf", "hcl"],
        line: &["#", "//"],
        block: C_LIKE,
    },
];

/// Directories not entered.
pub const SKIPPED_DIRS: &[&str] = &[
    ".git",
    "node_modules",
    "target",
    "vendor",
    "build",
    "dist",
    "__pycache__",
    ".venv",
    "venv",
];

/// Counts of one language.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Lines {
    pub files: u64,
    pub code: u64,
    pub comment: u64,
    pub blank: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Code lines over every language.
    pub code: u64,
    pub by_language: BTreeMap<&'static str, Lines>,
    /// Files of no known language (not read).
    pub other_files: u64,
    /// Files of a known language that are not UTF-8 text.
    pub unreadable: u64,
}

impl crate::Report for Summary {
    fn value(&self) -> f64 {
        self.code as f64
    }
}

fn language_of(path: &Path) -> Option<&'static Language> {
    let ext = path.extension()?.to_str()?;
    LANGUAGES.iter().find(|l| l.extensions.contains(&ext))
}

/// Count the tree under `root`. Errors name the path that could not be
/// listed.
pub fn count(root: &Path) -> Result<Summary, ReportError> {
    let mut summary = Summary::default();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| ReportError::new(format!("cannot list {}: {e}", dir.display())))?;
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                let name = entry.file_name();
                if !SKIPPED_DIRS.iter().any(|s| name == *s) {
                    pending.push(path);
                }
            } else if kind.is_file() {
                match language_of(&path) {
                    Some(language) => match count_file(&path, language) {
                        Some(lines) => {
                            summary.code += lines.code;
                            let total = summary.by_language.entry(language.name).or_default();
                            total.files += 1;
                            total.code += lines.code;
                            total.comment += lines.comment;
                            total.blank += lines.blank;
                        }
                        None => summary.unreadable += 1,
                    },
                    None => summary.other_files += 1,
                }
            }
        }
    }
    Ok(summary)
}

/// The lines of one file, or `None` when it is not UTF-8 text.
fn count_file(path: &Path, language: &Language) -> Option<Lines> {
    let file = std::fs::File::open(path).ok()?;
    count_lines(BufReader::new(file), language)
}

/// Longest line read whole; the rest of a longer one (minified code) is
/// skipped, the line still counted once.
const MAX_LINE: usize = 64 << 10;

/// The next line of `input` (without its newline), at most [`MAX_LINE`]
/// bytes of it; `None` at the end. `Err` when it is not UTF-8 text.
fn next_line(input: &mut impl BufRead, buf: &mut Vec<u8>) -> Result<Option<()>, ()> {
    buf.clear();
    let n = input
        .by_ref()
        .take(MAX_LINE as u64)
        .read_until(b'\n', buf)
        .map_err(|_| ())?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if n == MAX_LINE {
        // A longer line: skip to its end without keeping it.
        let mut rest = Vec::new();
        loop {
            rest.clear();
            let m = input
                .by_ref()
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut rest)
                .map_err(|_| ())?;
            if m == 0 || rest.last() == Some(&b'\n') {
                break;
            }
        }
        // The cut may split a character: keep the whole ones.
        let whole = match std::str::from_utf8(buf) {
            Ok(_) => buf.len(),
            Err(e) => e.valid_up_to(),
        };
        buf.truncate(whole);
    }
    Ok(Some(()))
}

fn count_lines(mut input: impl BufRead, language: &Language) -> Option<Lines> {
    let mut lines = Lines::default();
    let mut in_block: Option<&str> = None;
    let mut buf = Vec::new();
    while next_line(&mut input, &mut buf).ok()?.is_some() {
        let line = std::str::from_utf8(&buf).ok()?;
        let text = line.trim();
        if let Some(close) = in_block {
            lines.comment += 1;
            if text.contains(close) {
                in_block = None;
            }
            continue;
        }
        if text.is_empty() {
            lines.blank += 1;
        } else if language.line.iter().any(|m| text.starts_with(m)) {
            lines.comment += 1;
        } else if let Some((open, close)) = language.block.filter(|(o, _)| text.starts_with(o)) {
            lines.comment += 1;
            if !text[open.len()..].contains(close) {
                in_block = Some(close);
            }
        } else {
            lines.code += 1;
        }
    }
    Some(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(name: &str) -> &'static Language {
        LANGUAGES.iter().find(|l| l.name == name).unwrap()
    }

    #[test]
    fn blank_comment_and_code_lines() {
        let rust = "// header\n\nfn main() {\n    /* one-line block */\n    /*\n     * more\n     */\n    let x = 1; // trailing comment is code\n}\n";
        let l = count_lines(rust.as_bytes(), lang("Rust")).unwrap();
        assert_eq!(
            l,
            Lines {
                files: 0,
                code: 3,
                comment: 5,
                blank: 1
            }
        );
        let python = "#!/usr/bin/env python3\n\"\"\"Docstring.\"\"\"\nimport os\n\n# comment\nprint(os.name)\n";
        let l = count_lines(python.as_bytes(), lang("Python")).unwrap();
        assert_eq!(
            l,
            Lines {
                files: 0,
                code: 3,
                comment: 2,
                blank: 1
            }
        );
    }

    #[test]
    fn a_tree_by_language_skipping_dependencies_and_other_files() {
        let dir = std::env::temp_dir().join(format!("smm-code-size-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let write = |rel: &str, text: &[u8]| {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write("src/main.rs", b"fn main() {\n    println!(\"hi\");\n}\n");
        write("src/lib/util.py", b"# util\ndef f():\n    return 1\n\n");
        write("web/app.ts", b"export const x = 1;\n");
        write("node_modules/dep/index.js", b"module.exports = 1;\n");
        write(".git/hooks/pre-commit.sh", b"echo hi\n");
        write("README.md", b"# readme\n");
        write("bin/blob.c", &[0xff, 0xfe, b'\n']);
        let s = count(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(s.code, 3 + 2 + 1);
        assert_eq!(
            s.by_language["Rust"],
            Lines {
                files: 1,
                code: 3,
                comment: 0,
                blank: 0
            }
        );
        assert_eq!(
            s.by_language["Python"],
            Lines {
                files: 1,
                code: 2,
                comment: 1,
                blank: 1
            }
        );
        assert_eq!(s.by_language["TypeScript"].code, 1);
        assert!(
            !s.by_language.contains_key("JavaScript"),
            "node_modules skipped"
        );
        assert!(!s.by_language.contains_key("Shell"), ".git skipped");
        assert_eq!((s.other_files, s.unreadable), (1, 1));
    }

    #[test]
    fn a_minified_line_is_one_line_of_code_read_in_bounded_memory() {
        let mut js = "x=1;".repeat(100_000); // 400 KB on one line
        js.push_str("\n// end\ny();\n");
        let l = count_lines(js.as_bytes(), lang("JavaScript")).unwrap();
        assert_eq!(
            l,
            Lines {
                files: 0,
                code: 2,
                comment: 1,
                blank: 0
            }
        );
        assert!(count_lines(&[0xffu8, b'\n'][..], lang("C")).is_none());
    }

    #[test]
    fn a_missing_directory_is_named() {
        let e = count(Path::new("/nonexistent/smm-code-size")).unwrap_err();
        assert!(e.0.contains("/nonexistent/smm-code-size"), "{e}");
    }
}
