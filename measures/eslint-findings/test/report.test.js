// Unit tests of the report reader under Node: `node --test test/`.
// Expected numbers are counted by hand from the reports (see comments), not
// by the reader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { summarize, ReportError } from '../src/report.js';
import { fnv1a, boundedFingerprint, sha256Prefix, MAX_FINGERPRINT } from '../src/fingerprint.js';

const sha16 = (text) => createHash('sha256').update(text).digest('hex').slice(0, 16);
const fnv = (text) => fnv1a(new TextEncoder().encode(text));

const samples = new URL('../../samples/eslint/', import.meta.url);
const sample = (name) => JSON.parse(readFileSync(new URL(name, samples), 'utf8'));

test('the generated report (eslint -f json)', async () => {
  const doc = sample('eslint.json');
  const root = doc[0].filePath.replace(/\/src\/clean\.js$/, '');
  const { value, details } = await summarize(doc, { root });
  // src/pricing.js: errors eqeqeq x3, no-unused-vars, no-eval (5); warnings
  // no-var, curly x4, no-extra-boolean-cast (6, all fixable); one no-eval
  // suppressed by a comment. src/report.js: errors no-implied-eval,
  // no-undef (2); warnings no-var, curly, no-console, prefer-const and an
  // unused disable directive (no rule) (5, of which 4 fixable).
  // src/clean.js: nothing.
  assert.equal(value, 18);
  assert.deepEqual(details.by_level, { error: 7, warning: 11 });
  assert.deepEqual(details.fixable, { error: 0, warning: 10 });
  assert.equal(details.files, 3);
  assert.equal(details.files_with_problems, 2);
  assert.equal(details.suppressed, 1);
  assert.equal(details.fatal, 0);
  assert.equal(details.rules, 11);
  assert.equal(details.by_rule.curly, 5);
  assert.equal(details.by_rule.eqeqeq, 3);
  assert.equal(details.by_rule['no-var'], 2);
  assert.equal(details.by_rule['(no rule)'], 1);
  assert.equal(details.findings.length, 18);
  assert.equal(details.findings.filter((f) => f.severity === 'medium').length, 7);
  assert.equal(details.findings.filter((f) => f.severity === 'low').length, 11);
  assert.equal(details.findings.filter((f) => f.fixable).length, 10);
  assert.equal(new Set(details.findings.map((f) => f.fingerprint)).size, 18);
  for (const f of details.findings) {
    assert.match(f.fingerprint, /^eslint\|[^|]+\|src\/(pricing|report)\.js\|[0-9a-f]{16}$/);
  }
});

test('json-with-metadata: paths relative to metadata.cwd; a fatal error keeps the findings back', async () => {
  const doc = sample('eslint-with-parse-error.json');
  const { value, details } = await summarize(doc);
  // The same 18 problems, and broken/syntax.js, which did not parse.
  assert.equal(value, 18);
  assert.equal(details.files, 4);
  assert.equal(details.fatal, 1);
  assert.deepEqual(details.fatal_files, ['broken/syntax.js']);
  assert.equal(details.findings, undefined);
});

test('fingerprints follow the line text, not the line number', async () => {
  const report = (source, line) => [
    {
      filePath: '/ci/app/a.js',
      source,
      messages: [
        { ruleId: 'eqeqeq', severity: 2, message: "Expected '==='.", line, column: 7 },
        { ruleId: 'eqeqeq', severity: 2, message: "Expected '===' .", line, column: 7 },
      ],
    },
  ];
  const before = (await summarize(report('if (a == b) go();\n', 1), { root: '/ci/app' })).details.findings;
  const after = (await summarize(report('// new first line\n\nif (a == b) go();\n', 3), { root: '/ci/app/' }))
    .details.findings;
  assert.deepEqual(before, after);
  assert.equal(before[0].fingerprint, `eslint|eqeqeq|a.js|${sha16("Expected '==='.\nif (a == b) go();")}`);
  // Identical problems on identical lines are told apart by their order.
  const repeated = [
    {
      filePath: 'a.js',
      source: 'x == y;\nx == y;\n',
      messages: [
        { ruleId: 'eqeqeq', severity: 2, message: 'm', line: 1 },
        { ruleId: 'eqeqeq', severity: 1, message: 'm', line: 2 },
      ],
    },
  ];
  const twice = (await summarize(repeated)).details.findings;
  assert.equal(twice[1].fingerprint, `${twice[0].fingerprint}#2`);
  assert.deepEqual(twice.map((f) => f.severity), ['medium', 'low']);
  // Without the source, the line number stands in for its text.
  const bare = await summarize([
    { filePath: 'a.js', messages: [{ ruleId: 'r', severity: 1, message: 'm', line: 4 }] },
  ]);
  assert.equal(bare.details.findings[0].fingerprint, `eslint|r|a.js|${sha16('m\nline 4')}`);
});

test('an empty report is zeros and an empty findings list', async () => {
  const { value, details } = await summarize([]);
  assert.equal(value, 0);
  assert.deepEqual(details.findings, []);
  assert.deepEqual(details.by_rule, {});
});

test('by_rule keeps the 20 largest, rules counts them all', async () => {
  const messages = [];
  for (let r = 0; r < 25; r++) {
    for (let k = 0; k <= r; k++) messages.push({ ruleId: `r${String(r).padStart(2, '0')}`, severity: 1, message: `${k}`, line: k + 1 });
  }
  const { details } = await summarize([{ filePath: 'a.js', messages }]);
  assert.equal(details.rules, 25);
  assert.equal(Object.keys(details.by_rule).length, 20);
  assert.equal(details.by_rule.r24, 25);
  assert.equal(details.by_rule.r04, undefined);
});

test('a malformed report names where', async () => {
  const where = async (doc) => {
    try {
      await summarize(doc);
    } catch (e) {
      assert.ok(e instanceof ReportError);
      return e.message;
    }
    assert.fail('should have been refused');
  };
  assert.match(await where({ version: 2 }), /not an ESLint JSON report/);
  assert.match(await where([{ filePath: 'a.js' }]), /^\/0\/messages: expected an array/);
  assert.match(await where([{ filePath: 3, messages: [] }]), /^\/0\/filePath/);
  assert.match(
    await where({ results: [{ filePath: 'a', messages: [] }, { filePath: 'b', messages: [{ severity: 3, message: 'm' }] }] }),
    /^\/results\/1\/messages\/0\/severity: expected 1 \(warning\) or 2 \(error\), found number 3/,
  );
  assert.match(await where([{ filePath: 'a', messages: [{ severity: 1 }] }]), /^\/0\/messages\/0\/message/);
});

test('hashes: SHA-256 prefixes, FNV-1a 64 and bounded fingerprints as smm_reports', async () => {
  assert.equal(await sha256Prefix('é\nx'), sha16('é\nx'));
  // Published FNV-1a 64 test vectors.
  assert.equal(fnv(''), 'cbf29ce484222325');
  assert.equal(fnv('a'), 'af63dc4c8601ec8c');
  assert.equal(fnv('foobar'), '85944171f73967e8');
  const long = `eslint|r|${'dir/'.repeat(200)}a.js|0`;
  const bounded = boundedFingerprint(long);
  assert.ok(new TextEncoder().encode(bounded).length <= MAX_FINGERPRINT);
  assert.equal(bounded, `${long.slice(0, 495)}#${fnv(long.slice(495))}`);
  assert.equal(boundedFingerprint('short'), 'short');
});
