//! Line (and branch) coverage reports, the format told from the content:
//! - **Cobertura XML** (root `<coverage>`; coverage.py's `coverage xml`,
//!   gcovr, Cobertura, ...): the root's `lines-covered`/`lines-valid` and
//!   `branches-covered`/`branches-valid`; a root without them (older
//!   Cobertura) falls back to counting the `<line>` elements of each
//!   `<class>`'s `<lines>` (those under `<methods>` repeat them), a line
//!   being covered when `hits` > 0, its branches the `(a/b)` of its
//!   `condition-coverage`. `files`: distinct `filename`s of the classes.
//! - **LCOV** tracefiles (`lcov`, `coverage lcov`, ...): the sum of `LH`
//!   over the sum of `LF` across records, as genhtml reports it; a record
//!   lacking `LF`/`LH` (lcov 1.16 with gcc 12 writes none) counts its `DA:`
//!   lines (covered: count > 0). Branches likewise from `BRH`/`BRF`, else
//!   the record's `BRDA:` lines (taken: a count > 0, `-` is not). `files`:
//!   distinct `SF:` names (records of one file are added, not merged).
//! - **JaCoCo XML** (root `<report>`): the report-level counters, i.e. the
//!   `<counter type="LINE">` and `type="BRANCH"` that are direct children of
//!   `<report>` (not those of groups, packages, classes...), `covered` over
//!   `missed + covered`; a counter JaCoCo left out (it writes none for
//!   empty totals) is 0 of 0. `files`: the `<sourcefile>` elements.
//!
//! A UTF-8 byte-order mark, leading blank lines and a DOCTYPE are accepted.
//!
//! Value: `line_percent`, the percent (0–100) of valid lines covered. A
//! report with no valid line (nothing instrumented) is valid and its
//! percent is **0**, as every other number of an empty report: nothing was
//! shown to be tested. The same holds for `branch_percent`. The branch
//! fields are present when the report has branch data (always for JaCoCo;
//! for Cobertura when the root has the attributes or a line has a
//! `condition-coverage`; for LCOV when a record has `BRF`/`BRH`/`BRDA`).
//!
//! No finding or fingerprint: coverage is a number, not a list of issues.
//!
//! Memory follows the number of distinct file names, not the report's
//! size: XML is read as a stream of events, LCOV line by line.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde::Serialize;

use crate::ReportError;

/// The formats read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Cobertura,
    Lcov,
    Jacoco,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Cobertura => "cobertura",
            Format::Lcov => "lcov",
            Format::Jacoco => "jacoco",
        }
    }
}

/// What a coverage report says: see the module's documentation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// `cobertura`, `lcov` or `jacoco`.
    pub format: Format,
    pub lines_covered: u64,
    pub lines_valid: u64,
    /// `lines_covered` / `lines_valid` × 100; 0 when no line is valid.
    pub line_percent: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branches_covered: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branches_valid: Option<u64>,
    /// `branches_covered` / `branches_valid` × 100; 0 when no branch is valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch_percent: Option<f64>,
    /// Source files (Cobertura: distinct class `filename`s; LCOV: distinct
    /// `SF:`; JaCoCo: `<sourcefile>` elements).
    pub files: u64,
}

impl crate::Report for Summary {
    /// The percent of lines covered (0–100).
    fn value(&self) -> f64 {
        self.line_percent
    }
}

impl Summary {
    fn new(format: Format, lines: (u64, u64), branches: Option<(u64, u64)>, files: u64) -> Self {
        Summary {
            format,
            lines_covered: lines.0,
            lines_valid: lines.1,
            line_percent: percent(lines.0, lines.1),
            branches_covered: branches.map(|b| b.0),
            branches_valid: branches.map(|b| b.1),
            branch_percent: branches.map(|b| percent(b.0, b.1)),
            files,
        }
    }
}

/// 0–100: a report claiming more covered than valid lines (a broken
/// tool, a hostile file) is capped, not 140 %.
fn percent(covered: u64, valid: u64) -> f64 {
    if valid == 0 {
        0.0
    } else {
        covered.min(valid) as f64 * 100.0 / valid as f64
    }
}

const EXPECTED: &str = "expected Cobertura XML, JaCoCo XML or LCOV";

/// Read a coverage report, Cobertura XML, JaCoCo XML or LCOV, told from its
/// content. Errors name the byte offset (XML) or the line (LCOV).
pub fn read(input: impl Read) -> Result<Summary, ReportError> {
    let mut input = BufReader::new(input);
    // Skip a UTF-8 BOM and blank space, counting what was skipped so that
    // positions in errors stay those of the file.
    let mut skipped_bytes = 0u64;
    let mut skipped_lines = 0u64;
    const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];
    let mut bom = 0u64; // bytes of a BOM seen at the very start
    let first = loop {
        let buf = input
            .fill_buf()
            .map_err(|e| ReportError::new(format!("cannot read the report: {e}")))?;
        let Some(&b) = buf.first() else {
            break None;
        };
        if skipped_bytes == bom && bom < 3 && b == BOM[bom as usize] {
            bom += 1;
        } else if bom > 0 && bom < 3 {
            return Err(ReportError::new(format!(
                "format not recognised: the document starts with a truncated byte-order mark \
                 ({EXPECTED})"
            )));
        } else if b.is_ascii_whitespace() {
            skipped_lines += u64::from(b == b'\n');
        } else {
            break Some(b);
        }
        input.consume(1);
        skipped_bytes += 1;
    };
    match first {
        None => Err(ReportError::new(format!(
            "empty document: not a coverage report ({EXPECTED})"
        ))),
        Some(b'<') => read_xml(input, skipped_bytes),
        Some(_) => read_lcov(input, skipped_lines),
    }
}

// ---------------------------------------------------------------- XML ----

/// Elements whose position matters, as the stack of open elements holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Class,
    Methods,
    Lines,
    Package,
    Other,
}

impl Tag {
    fn of(local_name: &str) -> Tag {
        match local_name {
            "class" => Tag::Class,
            "methods" => Tag::Methods,
            "lines" => Tag::Lines,
            "package" => Tag::Package,
            _ => Tag::Other,
        }
    }
}

enum Xml {
    /// Root not seen yet.
    Unknown,
    Cobertura(Cobertura),
    Jacoco(Jacoco),
}

#[derive(Default)]
struct Cobertura {
    /// The root's `lines-covered`, `lines-valid`.
    root_lines: (Option<u64>, Option<u64>),
    root_branches: (Option<u64>, Option<u64>),
    /// Counted from the classes' `<line>` elements.
    lines: (u64, u64),
    branches: (u64, u64),
    branch_lines: bool,
    files: HashSet<String>,
}

#[derive(Default)]
struct Jacoco {
    lines: (u64, u64),
    branches: (u64, u64),
    files: u64,
}

fn at(position: u64) -> String {
    format!("(byte {position})")
}

fn xml_error(message: impl std::fmt::Display, position: u64) -> ReportError {
    ReportError::new(format!("malformed XML {}: {message}", at(position)))
}

/// An attribute's value, if the element has it.
fn attr(e: &BytesStart, name: &str, position: u64) -> Result<Option<String>, ReportError> {
    e.try_get_attribute(name)
        .map(|a| a.map(|a| a.value.into_owned()))
        .map_err(|err| xml_error(err, position))
}

/// A whole-number attribute, if the element has it.
fn count_attr(e: &BytesStart, name: &str, position: u64) -> Result<Option<u64>, ReportError> {
    let Some(value) = attr(e, name, position)? else {
        return Ok(None);
    };
    let v = value.trim();
    v.parse::<u64>()
        .ok()
        // Tolerate "24.0": some writers print counts as decimals.
        .or_else(|| {
            v.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        })
        .map(Some)
        .ok_or_else(|| {
            ReportError::new(format!(
                "<{}> attribute {name}=\"{}\" is not a count {}",
                e.local_name().as_ref(),
                shorten(&value),
                at(position)
            ))
        })
}

/// A hit count (possibly a decimal, or negative from a buggy gcov): hit
/// when > 0.
fn is_hit(value: &str) -> Option<bool> {
    let v = value.trim();
    if let Ok(n) = v.parse::<i64>() {
        return Some(n > 0);
    }
    v.parse::<f64>()
        .ok()
        .filter(|f| !f.is_nan())
        .map(|f| f > 0.0)
}

/// `(a/b)` in Cobertura's `condition-coverage="50% (1/2)"`.
fn condition_coverage(value: &str) -> Option<(u64, u64)> {
    let inner = value.split_once('(')?.1.split_once(')')?.0;
    let (a, b) = inner.split_once('/')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

impl Cobertura {
    fn start(&mut self, e: &BytesStart, parents: &[Tag], position: u64) -> Result<(), ReportError> {
        match e.local_name().as_ref() {
            "coverage" if parents.is_empty() => {
                self.root_lines = (
                    count_attr(e, "lines-covered", position)?,
                    count_attr(e, "lines-valid", position)?,
                );
                self.root_branches = (
                    count_attr(e, "branches-covered", position)?,
                    count_attr(e, "branches-valid", position)?,
                );
            }
            "project" if parents.len() == 1 => {
                // Clover's XML also has a <coverage> root, with <project>s.
                return Err(ReportError::new(format!(
                    "format not recognised: a <coverage> root with a <project> child is \
                     Clover XML, not Cobertura ({EXPECTED})"
                )));
            }
            "class" => {
                let name = match attr(e, "filename", position)? {
                    Some(f) => f,
                    None => attr(e, "name", position)?.unwrap_or_default(),
                };
                self.files.insert(name);
            }
            "line" if parents.ends_with(&[Tag::Class, Tag::Lines]) => {
                let hits = attr(e, "hits", position)?.unwrap_or_default();
                let hit = is_hit(&hits).ok_or_else(|| {
                    ReportError::new(format!(
                        "<line> attribute hits=\"{}\" is not a count {}",
                        shorten(&hits),
                        at(position)
                    ))
                })?;
                self.lines.1 += 1;
                self.lines.0 += u64::from(hit);
                if attr(e, "branch", position)?.as_deref() == Some("true")
                    && let Some(cc) = attr(e, "condition-coverage", position)?
                {
                    let (a, b) = condition_coverage(&cc).ok_or_else(|| {
                        ReportError::new(format!(
                            "<line> attribute condition-coverage=\"{}\" is not \"N% (a/b)\" {}",
                            shorten(&cc),
                            at(position)
                        ))
                    })?;
                    self.branches.0 = self.branches.0.saturating_add(a);
                    self.branches.1 = self.branches.1.saturating_add(b);
                    self.branch_lines = true;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn summary(self) -> Summary {
        let lines = match self.root_lines {
            (Some(covered), Some(valid)) => (covered, valid),
            _ => self.lines,
        };
        let branches = match self.root_branches {
            (Some(covered), Some(valid)) => Some((covered, valid)),
            _ if self.branch_lines => Some(self.branches),
            _ => None,
        };
        Summary::new(Format::Cobertura, lines, branches, self.files.len() as u64)
    }
}

impl Jacoco {
    fn start(&mut self, e: &BytesStart, parents: &[Tag], position: u64) -> Result<(), ReportError> {
        match e.local_name().as_ref() {
            // Direct children of <report>: the report's totals.
            "counter" if parents.len() == 1 => {
                let kind = attr(e, "type", position)?.unwrap_or_default();
                let target = match kind.as_str() {
                    "LINE" => &mut self.lines,
                    "BRANCH" => &mut self.branches,
                    _ => return Ok(()),
                };
                let missed = count_attr(e, "missed", position)?.unwrap_or(0);
                let covered = count_attr(e, "covered", position)?.unwrap_or(0);
                *target = (covered, missed.saturating_add(covered));
            }
            "sourcefile" if parents.last() == Some(&Tag::Package) => self.files += 1,
            _ => {}
        }
        Ok(())
    }

    fn summary(self) -> Summary {
        Summary::new(Format::Jacoco, self.lines, Some(self.branches), self.files)
    }
}

fn read_xml(input: impl BufRead, offset: u64) -> Result<Summary, ReportError> {
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::new();
    let mut stack: Vec<Tag> = Vec::new();
    let mut state = Xml::Unknown;
    let mut root_closed = false;
    loop {
        buf.clear();
        // Where the event starts: what errors about an element point at.
        let position = offset + reader.buffer_position();
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_error(e, offset + reader.error_position()))?;
        let (e, empty) = match event {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                stack.pop();
                if stack.is_empty() {
                    root_closed = true;
                }
                continue;
            }
            Event::Text(t) if stack.is_empty() && !t.trim_ascii().is_empty() => {
                return Err(xml_error("text outside the root element", position));
            }
            Event::Eof => break,
            _ => continue,
        };
        if root_closed {
            return Err(xml_error(
                format!("a second root element <{}>", e.local_name().as_ref()),
                position,
            ));
        }
        if let Xml::Unknown = state {
            state = match e.local_name().as_ref() {
                "coverage" => Xml::Cobertura(Cobertura::default()),
                "report" => Xml::Jacoco(Jacoco::default()),
                other => {
                    return Err(ReportError::new(format!(
                        "format not recognised: the XML root element <{}> is neither \
                         Cobertura's <coverage> nor JaCoCo's <report> ({EXPECTED})",
                        other
                    )));
                }
            };
        }
        match &mut state {
            Xml::Cobertura(c) => c.start(&e, &stack, position)?,
            Xml::Jacoco(j) => j.start(&e, &stack, position)?,
            Xml::Unknown => unreachable!("set above"),
        }
        if empty {
            if stack.is_empty() {
                root_closed = true;
            }
        } else {
            stack.push(Tag::of(e.local_name().as_ref()));
        }
    }
    if !stack.is_empty() {
        return Err(xml_error(
            format!(
                "the document ends with {} element(s) still open",
                stack.len()
            ),
            offset + reader.buffer_position(),
        ));
    }
    match state {
        Xml::Unknown => Err(xml_error(
            format!("no root element ({EXPECTED})"),
            offset + reader.buffer_position(),
        )),
        Xml::Cobertura(c) => Ok(c.summary()),
        Xml::Jacoco(j) => Ok(j.summary()),
    }
}

// --------------------------------------------------------------- LCOV ----

/// The keys of LCOV tracefiles (geninfo(1)'s format and lcov 2's
/// additions); the first line must start with one of them.
const LCOV_KEYS: &[&str] = &[
    "TN", "SF", "VER", "FN", "FNDA", "FNF", "FNH", "FNL", "FNA", "DA", "LF", "LH", "BRDA", "BRF",
    "BRH", "MCDC", "MCF", "MCH",
];

#[derive(Default)]
struct Record {
    lf: Option<u64>,
    lh: Option<u64>,
    da: (u64, u64),
    brf: Option<u64>,
    brh: Option<u64>,
    brda: (u64, u64),
    branch_data: bool,
    open: bool,
}

#[derive(Default)]
struct Lcov {
    lines: (u64, u64),
    branches: (u64, u64),
    branch_data: bool,
    files: HashSet<String>,
    record: Record,
}

impl Lcov {
    fn close_record(&mut self) {
        let r = std::mem::take(&mut self.record);
        if !r.open {
            return;
        }
        let (hit, found) = match (r.lh, r.lf) {
            (Some(h), Some(f)) => (h, f),
            _ => r.da,
        };
        self.lines.0 = self.lines.0.saturating_add(hit);
        self.lines.1 = self.lines.1.saturating_add(found);
        let (hit, found) = match (r.brh, r.brf) {
            (Some(h), Some(f)) => (h, f),
            _ => r.brda,
        };
        self.branches.0 = self.branches.0.saturating_add(hit);
        self.branches.1 = self.branches.1.saturating_add(found);
        self.branch_data |= r.branch_data;
    }
}

fn lcov_error(line: u64, message: impl std::fmt::Display) -> ReportError {
    ReportError::new(format!("malformed LCOV at line {line}: {message}"))
}

fn lcov_count(line: u64, key: &str, value: &str) -> Result<u64, ReportError> {
    value
        .trim()
        .parse()
        .map_err(|_| lcov_error(line, format!("{key}:{} is not a count", shorten(value))))
}

fn read_lcov(mut input: impl BufRead, offset: u64) -> Result<Summary, ReportError> {
    // LCOV lines are short (the longest is a source path): a longer one is
    // no LCOV, and is not read whole (a binary file has no line ends).
    const MAX_LINE: u64 = 64 * 1024;
    let mut lcov = Lcov::default();
    let mut bytes = Vec::new();
    let mut number = offset;
    let mut seen_record_line = false;
    loop {
        bytes.clear();
        let read = (&mut input)
            .take(MAX_LINE)
            .read_until(b'\n', &mut bytes)
            .map_err(|e| lcov_error(number + 1, format!("cannot read the line ({e})")))?;
        if read == 0 {
            break;
        }
        number += 1;
        if read as u64 == MAX_LINE && bytes.last() != Some(&b'\n') {
            return Err(if seen_record_line {
                lcov_error(number, "a line longer than 64 KiB is not LCOV")
            } else {
                ReportError::new(format!(
                    "format not recognised ({EXPECTED}): line {number} is longer than 64 KiB"
                ))
            });
        }
        // Paths that are not UTF-8 are kept, lossily, as names.
        let text = String::from_utf8_lossy(&bytes);
        let line = text.trim();
        if line.is_empty() {
            continue;
        }
        if line == "end_of_record" {
            lcov.close_record();
            seen_record_line = true;
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(if seen_record_line {
                lcov_error(number, "not an LCOV line (no `KEY:`)")
            } else {
                not_recognised(number, line)
            });
        };
        if !seen_record_line && !LCOV_KEYS.contains(&key) {
            return Err(not_recognised(number, line));
        }
        seen_record_line = true;
        let r = &mut lcov.record;
        match key {
            "SF" => {
                if r.open {
                    // A record without end_of_record: close it.
                    lcov.close_record();
                }
                lcov.record.open = true;
                if !lcov.files.contains(value) {
                    lcov.files.insert(value.to_string());
                }
                continue;
            }
            "TN" | "VER" => continue,
            _ => {}
        }
        r.open = true;
        match key {
            "LF" => r.lf = Some(lcov_count(number, key, value)?),
            "LH" => r.lh = Some(lcov_count(number, key, value)?),
            "BRF" => {
                r.brf = Some(lcov_count(number, key, value)?);
                r.branch_data = true;
            }
            "BRH" => {
                r.brh = Some(lcov_count(number, key, value)?);
                r.branch_data = true;
            }
            "DA" => {
                // DA:<line>,<count>[,<checksum>]
                let mut fields = value.split(',');
                let (Some(_), Some(count)) = (fields.next(), fields.next()) else {
                    return Err(lcov_error(
                        number,
                        format!("DA:{} is not DA:line,count", shorten(value)),
                    ));
                };
                let hit = is_hit(count).ok_or_else(|| {
                    lcov_error(
                        number,
                        format!("DA:{}: the count is not a number", shorten(value)),
                    )
                })?;
                r.da.1 += 1;
                r.da.0 += u64::from(hit);
            }
            "BRDA" => {
                // BRDA:<line>,[<exception>]<block>,<branch>,<taken>; the
                // branch may be an expression, so take the last field.
                let Some((_, taken)) = value.rsplit_once(',') else {
                    return Err(lcov_error(
                        number,
                        format!(
                            "BRDA:{} is not BRDA:line,block,branch,taken",
                            shorten(value)
                        ),
                    ));
                };
                let hit = match taken.trim() {
                    "-" => false,
                    t => is_hit(t).ok_or_else(|| {
                        lcov_error(
                            number,
                            format!("BRDA:{}: taken is not a number or -", shorten(value)),
                        )
                    })?,
                };
                r.brda.1 += 1;
                r.brda.0 += u64::from(hit);
                r.branch_data = true;
            }
            // Functions, MC/DC, and keys of later lcov versions: not counted.
            _ if key.bytes().all(|b| b.is_ascii_uppercase()) => {}
            _ => {
                return Err(lcov_error(
                    number,
                    format!("not an LCOV line (`{}:` is no key)", describe_key(key)),
                ));
            }
        }
    }
    lcov.close_record();
    if !seen_record_line {
        return Err(ReportError::new(format!(
            "empty document: not a coverage report ({EXPECTED})"
        )));
    }
    let branches = lcov.branch_data.then_some(lcov.branches);
    Ok(Summary::new(
        Format::Lcov,
        lcov.lines,
        branches,
        lcov.files.len() as u64,
    ))
}

/// A value quoted in an error, cut short: errors end up in logs and
/// dashboards, so a long value is not repeated whole.
fn shorten(value: &str) -> String {
    const MAX: usize = 40;
    match value.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &value[..i]),
        None => value.to_string(),
    }
}

/// What stands before the first `:` of a line that is not LCOV, quoted only
/// when it looks like a key: the text of a file given by mistake (a `.env`,
/// a config) must not end up in an error.
fn describe_key(key: &str) -> String {
    if !key.is_empty()
        && key.len() <= 16
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        key.to_string()
    } else {
        "...".to_string()
    }
}

fn not_recognised(number: u64, line: &str) -> ReportError {
    let what = match line.split_once(':') {
        Some((key, _)) => format!("starts with `{}:`, not an LCOV key", describe_key(key)),
        None => "is neither an XML element nor an LCOV `KEY:` line".to_string(),
    };
    ReportError::new(format!(
        "format not recognised ({EXPECTED}): line {number} {what}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Report;

    const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/coverage/");

    fn fixture(name: &str) -> Option<String> {
        crate::testing::fixture(name).map(|b| String::from_utf8(b).unwrap())
    }

    /// A report generated by a real tool (see samples/coverage/generate.sh).
    fn sample(name: &str) -> String {
        std::fs::read_to_string(format!("{SAMPLES}{name}")).unwrap()
    }

    fn read_str(text: &str) -> Result<Summary, ReportError> {
        read(text.as_bytes())
    }

    // ---- independent counts, by plain string scans ----

    /// `name="value"` in a tag's text.
    fn attr_of<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(&tag[start..start + tag[start..].find('"')?])
    }

    fn num(tag: &str, name: &str) -> u64 {
        attr_of(tag, name).unwrap().parse().unwrap()
    }

    struct Independent {
        lines: (u64, u64),
        branches: (u64, u64),
        files: u64,
    }

    /// Cobertura: the `<line>`s of classes (not of methods), by a scan of
    /// the text between `<`s.
    fn cobertura_scan(text: &str) -> Independent {
        let mut in_methods = false;
        let (mut lines, mut branches) = ((0, 0), (0, 0));
        let mut files = std::collections::BTreeSet::new();
        for piece in text.split('<') {
            if piece.starts_with("methods>") {
                in_methods = true;
            } else if piece.starts_with("/methods>") {
                in_methods = false;
            } else if piece.starts_with("class ") {
                files.insert(attr_of(piece, "filename").unwrap().to_string());
            } else if piece.starts_with("line ") && !in_methods {
                lines.1 += 1;
                if num(piece, "hits") > 0 {
                    lines.0 += 1;
                }
                if let Some(cc) = attr_of(piece, "condition-coverage") {
                    let ab = &cc[cc.find('(').unwrap() + 1..cc.find(')').unwrap()];
                    let (a, b) = ab.split_once('/').unwrap();
                    branches.0 += a.parse::<u64>().unwrap();
                    branches.1 += b.parse::<u64>().unwrap();
                }
            }
        }
        Independent {
            lines,
            branches,
            files: files.len() as u64,
        }
    }

    /// LCOV: sums of LH/LF and BRH/BRF, and counts of DA/BRDA lines.
    struct LcovScan {
        lf_lh: (u64, u64),
        da: (u64, u64),
        brf_brh: (u64, u64),
        brda: (u64, u64),
        files: u64,
    }

    fn lcov_scan(text: &str) -> LcovScan {
        let mut s = LcovScan {
            lf_lh: (0, 0),
            da: (0, 0),
            brf_brh: (0, 0),
            brda: (0, 0),
            files: 0,
        };
        let mut files = std::collections::BTreeSet::new();
        for line in text.lines() {
            let (key, value) = line.split_once(':').unwrap_or((line, ""));
            match key {
                "LH" => s.lf_lh.0 += value.parse::<u64>().unwrap(),
                "LF" => s.lf_lh.1 += value.parse::<u64>().unwrap(),
                "BRH" => s.brf_brh.0 += value.parse::<u64>().unwrap(),
                "BRF" => s.brf_brh.1 += value.parse::<u64>().unwrap(),
                "DA" => {
                    s.da.1 += 1;
                    if value.split(',').nth(1).unwrap() != "0" {
                        s.da.0 += 1;
                    }
                }
                "BRDA" => {
                    s.brda.1 += 1;
                    let taken = value.rsplit(',').next().unwrap();
                    if taken != "-" && taken != "0" {
                        s.brda.0 += 1;
                    }
                }
                "SF" => {
                    files.insert(value.to_string());
                }
                _ => {}
            }
        }
        s.files = files.len() as u64;
        s
    }

    /// JaCoCo: the lines of every `<sourcefile>` (covered: `ci` > 0) and the
    /// sum of the sourcefiles' BRANCH counters.
    fn jacoco_scan(text: &str) -> Independent {
        let mut in_sourcefile = false;
        let (mut lines, mut branches, mut files) = ((0, 0), (0, 0), 0);
        for piece in text.split('<') {
            if piece.starts_with("sourcefile ") {
                in_sourcefile = true;
                files += 1;
            } else if piece.starts_with("/sourcefile>") {
                in_sourcefile = false;
            } else if in_sourcefile && piece.starts_with("line ") {
                lines.1 += 1;
                if num(piece, "ci") > 0 {
                    lines.0 += 1;
                }
            } else if in_sourcefile && piece.starts_with("counter type=\"BRANCH\"") {
                branches.0 += num(piece, "covered");
                branches.1 += num(piece, "covered") + num(piece, "missed");
            }
        }
        Independent {
            lines,
            branches,
            files,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    // ---- Cobertura ----

    #[test]
    fn cobertura_java_fixture() {
        let Some(text) = fixture("coverage/cobertura_java-2.1.1.xml") else {
            return;
        };
        let s = read_str(&text).unwrap();
        let root = &text[text.find("<coverage ").unwrap()..];
        let root = &root[..root.find('>').unwrap()];
        let scan = cobertura_scan(&text);
        assert_eq!(s.format, Format::Cobertura);
        assert_eq!(
            (s.lines_covered, s.lines_valid),
            (num(root, "lines-covered"), num(root, "lines-valid"))
        );
        assert_eq!((s.lines_covered, s.lines_valid), (24, 36));
        assert!(close(s.value(), 24.0 * 100.0 / 36.0), "{}", s.value());
        assert_eq!((s.branches_covered, s.branches_valid), (Some(1), Some(4)));
        assert_eq!(s.branch_percent, Some(25.0));
        assert_eq!(s.files, scan.files);
        assert_eq!(s.files, 7);
        // The class-level <line>s agree with the root's attributes (the
        // <line>s under <methods> repeat them: 72 <line> elements in all).
        assert_eq!(text.matches("<line ").count(), 72);
        assert_eq!(scan.lines, (24, 36));
        assert_eq!(scan.branches, (1, 4));

        // Without the root's counts, the reader counts the classes' lines.
        let bare = text
            .replace(" lines-covered=\"24\" lines-valid=\"36\"", "")
            .replace(" branches-covered=\"1\" branches-valid=\"4\"", "");
        assert!(!bare.contains("lines-valid") && !bare.contains("branches-valid"));
        let s2 = read_str(&bare).unwrap();
        assert_eq!((s2.lines_covered, s2.lines_valid), scan.lines);
        assert_eq!((s2.branches_covered, s2.branches_valid), (Some(1), Some(4)));
        assert_eq!(s2.value(), s.value());
    }

    #[test]
    fn cobertura_with_a_bom_and_a_doctype() {
        if let Some(text) = fixture("coverage/cobertura_java-2.1.1.xml") {
            assert!(text.contains("<!DOCTYPE coverage SYSTEM"));
            let plain = read_str(&text).unwrap();
            let with_bom = format!("\u{FEFF}{text}");
            assert_eq!(&with_bom.as_bytes()[..3], &[0xEF, 0xBB, 0xBF]);
            assert_eq!(read_str(&with_bom).unwrap(), plain);
        }
        let doc = "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
            <!DOCTYPE coverage SYSTEM \"http://cobertura.sourceforge.net/xml/coverage-04.dtd\">\n\
            <coverage line-rate=\"0.5\" branch-rate=\"0\" version=\"1.9\" timestamp=\"1\">\n\
            <packages><package name=\"p\"><classes>\n\
            <class name=\"p.A\" filename=\"p/A.java\"><methods/><lines>\n\
            <line number=\"1\" hits=\"3\" branch=\"false\"/>\n\
            <line number=\"2\" hits=\"0\" branch=\"true\" condition-coverage=\"50% (1/2)\"/>\n\
            </lines></class></classes></package></packages></coverage>\n";
        let s = read_str(doc).unwrap();
        assert_eq!((s.lines_covered, s.lines_valid, s.files), (1, 2, 1));
        assert_eq!(s.value(), 50.0);
        assert_eq!((s.branches_covered, s.branches_valid), (Some(1), Some(2)));
        // Leading blank lines too.
        assert_eq!(read_str(&format!("\n\n  {}", &doc[3..])).unwrap(), s);
    }

    #[test]
    fn coveragepy_cobertura_sample() {
        let text = sample("coveragepy-cobertura.xml");
        let s = read_str(&text).unwrap();
        let scan = cobertura_scan(&text);
        assert_eq!((s.lines_covered, s.lines_valid), scan.lines);
        assert_eq!((s.lines_covered, s.lines_valid), (22, 32));
        assert_eq!(
            (s.branches_covered, s.branches_valid),
            (Some(scan.branches.0), Some(scan.branches.1))
        );
        assert_eq!((s.branches_covered, s.branches_valid), (Some(11), Some(18)));
        assert!(close(s.value(), 68.75));
        assert!(close(s.branch_percent.unwrap(), 1100.0 / 18.0));
        assert_eq!(s.files, 1);
    }

    #[test]
    fn zero_valid_lines_is_zero_percent() {
        let s = read_str(
            "<coverage lines-covered=\"0\" lines-valid=\"0\" line-rate=\"1\"><packages/></coverage>",
        )
        .unwrap();
        assert_eq!((s.lines_covered, s.lines_valid, s.files), (0, 0, 0));
        assert_eq!(s.value(), 0.0);
        assert_eq!(s.branches_valid, None);
        let s = read_str("<coverage/>").unwrap();
        assert_eq!((s.value(), s.lines_valid), (0.0, 0));
        let s = read_str("SF:empty.py\nLF:0\nLH:0\nBRF:0\nBRH:0\nend_of_record\n").unwrap();
        assert_eq!((s.value(), s.lines_valid, s.files), (0.0, 0, 1));
        assert_eq!(s.branch_percent, Some(0.0));
        let s = read_str(
            "<?xml version=\"1.0\"?><!DOCTYPE report PUBLIC \"-//JACOCO//DTD Report 1.1//EN\" \
             \"report.dtd\"><report name=\"empty\"><sessioninfo id=\"x\" start=\"1\" dump=\"2\"/></report>",
        )
        .unwrap();
        assert_eq!(
            (s.format, s.value(), s.lines_valid, s.files),
            (Format::Jacoco, 0.0, 0, 0)
        );
        assert_eq!((s.branches_valid, s.branch_percent), (Some(0), Some(0.0)));
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["format"], "jacoco");
        assert_eq!(json["line_percent"], 0.0);
    }

    // ---- LCOV ----

    #[test]
    fn lcov_cpp_fixture() {
        let Some(text) = fixture("coverage/lcov_cpp.info") else {
            return;
        };
        let s = read_str(&text).unwrap();
        let scan = lcov_scan(&text);
        assert_eq!(s.format, Format::Lcov);
        assert_eq!((s.lines_covered, s.lines_valid), scan.lf_lh);
        assert_eq!((s.lines_covered, s.lines_valid), (17, 19));
        assert!(close(s.value(), 1700.0 / 19.0));
        assert_eq!(s.branches_valid, None, "no branch data in this report");
        assert_eq!(s.files, scan.files);
        assert_eq!(s.files, 3);
    }

    #[test]
    fn coveragepy_lcov_sample() {
        let text = sample("coveragepy.lcov");
        let s = read_str(&text).unwrap();
        let scan = lcov_scan(&text);
        assert_eq!((s.lines_covered, s.lines_valid), scan.lf_lh);
        assert_eq!(scan.lf_lh, scan.da);
        assert_eq!((s.lines_covered, s.lines_valid), (22, 32));
        assert_eq!(
            (s.branches_covered, s.branches_valid),
            (Some(scan.brf_brh.0), Some(scan.brf_brh.1))
        );
        assert_eq!(scan.brf_brh, scan.brda);
        assert_eq!((s.branches_covered, s.branches_valid), (Some(11), Some(18)));
        // The same numbers as coverage.py's Cobertura report of the same run.
        let cobertura = read_str(&sample("coveragepy-cobertura.xml")).unwrap();
        assert_eq!(s.value(), cobertura.value());
        assert_eq!(s.branch_percent, cobertura.branch_percent);
        assert_eq!(s.files, 1);
    }

    #[test]
    fn gcc_lcov_samples_with_and_without_summary_lines() {
        // lcov --capture (lcov 1.16, gcc 12): DA/BRDA only, no LF/LH/BRF/BRH.
        let capture = sample("gcc-lcov-capture.info");
        let scan = lcov_scan(&capture);
        assert_eq!((scan.lf_lh, scan.brf_brh), ((0, 0), (0, 0)));
        let s = read_str(&capture).unwrap();
        assert_eq!((s.lines_covered, s.lines_valid), scan.da);
        assert_eq!((s.lines_covered, s.lines_valid), (16, 24));
        assert_eq!(
            (s.branches_covered, s.branches_valid),
            (Some(scan.brda.0), Some(scan.brda.1))
        );
        assert_eq!((s.branches_covered, s.branches_valid), (Some(5), Some(10)));
        assert!(close(s.value(), 1600.0 / 24.0));
        assert_eq!(s.files, 1);
        // The same through lcov --add-tracefile, which writes the summaries.
        let added = sample("gcc-lcov.info");
        let scan = lcov_scan(&added);
        assert_eq!((scan.lf_lh, scan.brf_brh), ((16, 24), (5, 10)));
        assert_eq!(read_str(&added).unwrap(), s);
    }

    #[test]
    fn lcov_summary_lines_win_over_da_lines() {
        // As genhtml: a record's LF/LH, when present, are its numbers.
        let s = read_str(
            "TN:\nSF:a.c\nDA:1,1\nDA:2,0\nLF:10\nLH:7\nend_of_record\n\
                          SF:b.c\nDA:1,5\nDA:2,0\nDA:3,-1\nend_of_record\n",
        )
        .unwrap();
        assert_eq!((s.lines_covered, s.lines_valid, s.files), (8, 13, 2));
        assert_eq!(s.branches_valid, None);
        // A last record without end_of_record still counts.
        let s = read_str("SF:a.c\nDA:1,1\nDA:2,0").unwrap();
        assert_eq!((s.lines_covered, s.lines_valid), (1, 2));
    }

    #[test]
    fn malformed_lcov_says_which_line() {
        let e = read_str("TN:\nSF:a.c\nDA:1\nend_of_record\n").unwrap_err();
        assert!(e.0.contains("line 3"), "{e}");
        let e = read_str("\n\nSF:a.c\nLF:many\n").unwrap_err();
        assert!(e.0.contains("line 4"), "{e}");
        let e = read_str("SF:a.c\nDA:1,1\nthis is not lcov\n").unwrap_err();
        assert!(
            e.0.contains("line 3") && e.0.contains("not an LCOV line"),
            "{e}"
        );
        let e = read_str("SF:a.c\nBRDA:1,0,0,x\n").unwrap_err();
        assert!(e.0.contains("line 2"), "{e}");
    }

    // ---- JaCoCo ----

    #[test]
    fn jacoco_sample() {
        // Generated by JaCoCo 0.8.6 (agent + XMLFormatter), see generate.sh.
        let text = sample("jacoco.xml");
        let s = read_str(&text).unwrap();
        let scan = jacoco_scan(&text);
        assert_eq!(s.format, Format::Jacoco);
        assert_eq!((s.lines_covered, s.lines_valid), scan.lines);
        assert_eq!((s.lines_covered, s.lines_valid), (15, 24));
        assert_eq!(
            (s.branches_covered, s.branches_valid),
            (Some(scan.branches.0), Some(scan.branches.1))
        );
        assert_eq!((s.branches_covered, s.branches_valid), (Some(10), Some(16)));
        assert!(close(s.value(), 62.5));
        assert_eq!(s.files, scan.files);
        assert_eq!(s.files, 2);
        // The report-level counter, the last LINE counter of the document.
        let last = &text[text.rfind("<counter type=\"LINE\"").unwrap()..];
        assert_eq!(num(last, "covered"), 15);
        assert_eq!(num(last, "missed") + num(last, "covered"), 24);
    }

    #[test]
    fn jacoco_reads_only_the_report_level_counters() {
        // Hand-written after JaCoCo's report.dtd: nested counters differ
        // from the report's on purpose.
        let doc = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><!DOCTYPE report PUBLIC "-//JACOCO//DTD Report 1.1//EN" "report.dtd"><report name="r"><sessioninfo id="s" start="1" dump="2"/><group name="g"><package name="p"><class name="p/A" sourcefilename="A.java"><method name="m" desc="()V" line="3"><counter type="LINE" missed="100" covered="1"/></method><counter type="LINE" missed="100" covered="1"/></class><sourcefile name="A.java"><line nr="3" mi="0" ci="2" mb="0" cb="0"/><counter type="LINE" missed="100" covered="1"/></sourcefile><counter type="LINE" missed="100" covered="1"/></package><counter type="LINE" missed="100" covered="1"/></group><counter type="INSTRUCTION" missed="5" covered="5"/><counter type="LINE" missed="1" covered="3"/><counter type="METHOD" missed="0" covered="1"/></report>"#;
        let s = read_str(doc).unwrap();
        assert_eq!((s.lines_covered, s.lines_valid, s.files), (3, 4, 1));
        assert_eq!(s.value(), 75.0);
        assert_eq!((s.branches_covered, s.branches_valid), (Some(0), Some(0)));
    }

    // ---- errors ----

    #[test]
    fn malformed_xml_is_an_error_with_a_position() {
        for doc in [
            "<coverage lines-covered=\"1\" lines-valid=\"2\"><packages></coverage>",
            "<coverage><packages>",
            "<coverage lines-covered=\"1\" lines-valid=\"2\"",
            "<coverage lines-valid=\"lots\"/>",
            "<coverage/><coverage/>",
            "<report><counter type=\"LINE\" missed=\"-1\" covered=\"2\"/></report>",
            "<coverage><packages><package><classes><class filename=\"a\"><lines>\
             <line number=\"1\" hits=\"many\"/></lines></class></classes></package></packages></coverage>",
        ] {
            let e = read_str(doc).unwrap_err();
            assert!(e.0.contains("byte"), "{doc}: {e}");
        }
        let e = read_str("<coverage><packages>").unwrap_err();
        assert!(e.0.contains("still open"), "{e}");
        // Errors about an element point at its start.
        let e = read_str("\n<coverage lines-valid=\"lots\"/>").unwrap_err();
        assert!(
            e.0.contains("(byte 1)") && e.0.contains("lines-valid"),
            "{e}"
        );
    }

    #[test]
    fn other_formats_are_not_recognised() {
        if let Some(json) = fixture("gitleaks/gitleaks8_many.json") {
            let e = read_str(&json).unwrap_err();
            assert!(e.0.contains("format not recognised"), "{e}");
        }
        for doc in [
            "{\"coverage\": 80}",
            "<?xml version=\"1.0\"?><testsuites><testsuite name=\"t\"/></testsuites>",
            "mode: set\ngithub.com/x/y.go:1.1,2.2 1 1\n",
            "<coverage generated=\"1\" clover=\"4.4.1\"><project timestamp=\"1\"/></coverage>",
        ] {
            let e = read_str(doc).unwrap_err();
            assert!(e.0.contains("format not recognised"), "{doc}: {e}");
        }
        // A file given by mistake is not echoed in the error.
        for doc in [
            "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG\n",
            "password: wJalrXUtnFEMI/K7MDENG\n",
            "SF:a.c\nDA:1,1\ntoken = wJalrXUtnFEMI/K7MDENG\n",
            "SF:a.c\nDA:1,1\nsecret wJalrXUtnFEMI/K7MDENG: yes\n",
        ] {
            let e = read_str(doc).unwrap_err();
            assert!(!e.0.contains("wJalrXUtnFEMI"), "{doc}: {e}");
        }
        let binary = vec![b'x'; 100 * 1024];
        let e = read(&binary[..]).unwrap_err();
        assert!(
            e.0.contains("format not recognised") && e.0.contains("64 KiB"),
            "{e}"
        );
        for doc in ["", "\u{FEFF}", "  \n\n"] {
            let e = read_str(doc).unwrap_err();
            assert!(e.0.contains("empty document"), "{doc:?}: {e}");
        }
    }
}
