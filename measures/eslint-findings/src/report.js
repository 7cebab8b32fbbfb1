// Reading an ESLint report (`eslint -f json` or `-f json-with-metadata`)
// into the eslint-findings measurement. Pure: no host access, unit-tested
// under Node (test/report.test.js); src/index.js is the component.
//
// What is counted (see ../README.md):
// - value: the problems ESLint reported (messages of severity 2 "error" or
//   1 "warning"), over all files; fatal messages (a file that did not parse,
//   so no rule ran on it) are counted apart (`fatal`), suppressed messages
//   (`eslint-disable` comments) too (`suppressed`);
// - findings: one per counted message, for the engine's finding lifecycle,
//   listed only when no file had a fatal error (a file that was not linted
//   says nothing about which of its findings were fixed).

import { boundedFingerprint, sha256Prefix } from './fingerprint.js';

/** How many rules `by_rule` keeps (the largest counts), as the Rust measures. */
export const TOP = 20;

/** Severity of a finding, by ESLint severity (see ../README.md for why). */
export const FINDING_SEVERITY = Object.freeze({ 2: 'medium', 1: 'low' });

const LEVEL = Object.freeze({ 2: 'error', 1: 'warning' });

/** A malformed report: what is wrong and where (a JSON pointer). */
export class ReportError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ReportError';
  }
}

function fail(pointer, what) {
  throw new ReportError(`${pointer || '/'}: ${what}`);
}

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * The results of a report and where they are: `eslint -f json` writes an
 * array of results, `-f json-with-metadata` `{results, metadata: {cwd}}`.
 */
function resultsOf(doc) {
  if (Array.isArray(doc)) return { results: doc, base: '', cwd: undefined };
  if (doc !== null && typeof doc === 'object' && Array.isArray(doc.results)) {
    const cwd = doc.metadata && typeof doc.metadata.cwd === 'string' ? doc.metadata.cwd : undefined;
    return { results: doc.results, base: '/results', cwd };
  }
  throw new ReportError(
    `not an ESLint JSON report: expected an array of results (eslint -f json) or an object with \`results\` (-f json-with-metadata), found ${describe(doc)}`,
  );
}

/** `path` relative to `root` when under it. */
function relative(path, root) {
  if (!root) return path;
  const dir = root.endsWith('/') ? root : `${root}/`;
  return path.startsWith(dir) ? path.slice(dir.length) : path;
}

/** The largest `n` counts (ties broken by key), sorted by key. */
function top(counts, n) {
  const kept = [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, n)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return Object.fromEntries(kept);
}

/** Line `n` (1-based) of `source`, trimmed, or `undefined`. */
function lineOf(lines, n) {
  if (!lines || !Number.isInteger(n) || n < 1 || n > lines.length) return undefined;
  return lines[n - 1].trim();
}

/**
 * Summarise a parsed ESLint report. `root` (optional) is the directory
 * ESLint ran in, removed from the file paths; by default the report's
 * `metadata.cwd` (json-with-metadata), else the paths are kept as written.
 * Resolves to `{ value, details }`; rejects with a {@link ReportError}
 * naming where the report is malformed. Consumes the document: each result
 * is released once counted (memory follows what is kept).
 */
export async function summarize(doc, { root } = {}) {
  const { results, base, cwd } = resultsOf(doc);
  const from = root || cwd;
  const byRule = new Map();
  const byLevel = { error: 0, warning: 0 };
  const fixable = { error: 0, warning: 0 };
  const fatalFiles = [];
  const findings = [];
  const seen = new Map();
  let suppressed = 0;
  let fatal = 0;
  let withProblems = 0;
  for (let i = 0; i < results.length; i++) {
    const result = results[i];
    const at = `${base}/${i}`;
    if (result === null || typeof result !== 'object' || Array.isArray(result)) {
      fail(at, `a result is an object, found ${describe(result)}`);
    }
    if (typeof result.filePath !== 'string') {
      fail(`${at}/filePath`, `expected a string, found ${describe(result.filePath)}`);
    }
    if (!Array.isArray(result.messages)) {
      fail(`${at}/messages`, `expected an array, found ${describe(result.messages)}`);
    }
    if (result.suppressedMessages !== undefined) {
      if (!Array.isArray(result.suppressedMessages)) {
        fail(`${at}/suppressedMessages`, `expected an array, found ${describe(result.suppressedMessages)}`);
      }
      suppressed += result.suppressedMessages.length;
    }
    const file = relative(result.filePath, from);
    const lines = typeof result.source === 'string' ? result.source.split(/\r?\n/) : undefined;
    const mine = [];
    const hashed = [];
    let fileFatal = false;
    for (let j = 0; j < result.messages.length; j++) {
      const message = result.messages[j];
      const mat = `${at}/messages/${j}`;
      if (message === null || typeof message !== 'object' || Array.isArray(message)) {
        fail(mat, `a message is an object, found ${describe(message)}`);
      }
      const level = LEVEL[message.severity];
      if (level === undefined) {
        fail(`${mat}/severity`, `expected 1 (warning) or 2 (error), found ${describe(message.severity)}`);
      }
      if (message.ruleId !== undefined && message.ruleId !== null && typeof message.ruleId !== 'string') {
        fail(`${mat}/ruleId`, `expected a string or null, found ${describe(message.ruleId)}`);
      }
      if (typeof message.message !== 'string') {
        fail(`${mat}/message`, `expected a string, found ${describe(message.message)}`);
      }
      if (message.line !== undefined && !Number.isInteger(message.line)) {
        fail(`${mat}/line`, `expected an integer, found ${describe(message.line)}`);
      }
      if (message.fatal === true) {
        fatal += 1;
        fileFatal = true;
        continue;
      }
      byLevel[level] += 1;
      const canFix = message.fix !== undefined && message.fix !== null;
      if (canFix) fixable[level] += 1;
      const rule = message.ruleId ?? '(no rule)';
      byRule.set(rule, (byRule.get(rule) ?? 0) + 1);
      const finding = { fingerprint: `eslint|${rule}|${file}|`, severity: FINDING_SEVERITY[message.severity] };
      if (canFix) finding.fixable = true;
      mine.push(finding);
      hashed.push(`${message.message}\n${lineOf(lines, message.line) ?? `line ${message.line ?? 0}`}`);
    }
    if (mine.length > 0) withProblems += 1;
    if (fileFatal) fatalFiles.push(file);
    // A report with a fatal error lists no findings (below): no need to hash.
    if (fatal === 0) {
      // Hashed natively (WebCrypto), a file at a time: a hash written in
      // JavaScript costs ~0.5 µs a character in the component's interpreter.
      const hashes = await Promise.all(hashed.map(sha256Prefix));
      for (let k = 0; k < mine.length; k++) {
        const fingerprint = mine[k].fingerprint + hashes[k];
        const n = (seen.get(fingerprint) ?? 0) + 1;
        seen.set(fingerprint, n);
        mine[k].fingerprint = boundedFingerprint(n === 1 ? fingerprint : `${fingerprint}#${n}`);
        findings.push(mine[k]);
      }
    }
    // Done with this result: its messages and source may be collected.
    results[i] = undefined;
  }
  const details = {
    files: results.length,
    files_with_problems: withProblems,
    by_level: byLevel,
    fixable,
    by_rule: top(byRule, TOP),
    rules: byRule.size,
    suppressed,
    fatal,
    fatal_files: fatalFiles.slice(0, TOP),
  };
  // The findings go to the engine's finding lifecycle (first seen, fixed,
  // reopened), not into the stored details; unless a file did not parse,
  // when the absence of its findings would wrongly read as fixed.
  if (fatal === 0) details.findings = findings;
  return { value: byLevel.error + byLevel.warning, details };
}
