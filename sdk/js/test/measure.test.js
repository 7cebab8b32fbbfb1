// Unit tests of the SDK's pure part, under Node: `node --test test/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  defineMeasure,
  measurement,
  ConfigError,
  InputError,
  InternalError,
  reportConfigSchema,
  toWitError,
  frames,
} from '../measure.js';

const metadata = {
  id: 'dependency-age',
  version: '1.0.0',
  name: 'Dependency age',
  description: 'Median age of the direct dependencies.',
  kind: 'direct',
  unit: 'days',
  scale: 'ratio',
  output: 'value: median age in days',
};

test('metadata becomes the WIT record, the schema its JSON text', () => {
  const m = defineMeasure({ metadata, configSchema: reportConfigSchema, collect: () => 1 });
  const wit = m.metadata();
  assert.equal(wit.id, 'dependency-age');
  assert.equal(wit.kind, 'direct');
  assert.equal(wit.scale, 'ratio');
  assert.deepEqual(JSON.parse(wit.configSchema), reportConfigSchema);
  assert.equal(JSON.parse(wit.configSchema).properties.path.format, 'path');
});

test('mistakes in the metadata are refused when the measure is defined', () => {
  const define = (patch) => () =>
    defineMeasure({ metadata: { ...metadata, ...patch }, configSchema: {}, collect: () => 1 });
  assert.throws(define({ id: 'Dependency_Age' }), /kebab-case/);
  assert.throws(define({ version: '1.0' }), /semantic version/);
  assert.throws(define({ kind: 'derived' }), /metadata.kind must be one of direct, counting/);
  assert.throws(define({ scale: 'absolute' }), /metadata.scale/);
  assert.throws(define({ name: '' }), /metadata.name/);
  assert.throws(() => defineMeasure({ metadata, configSchema: {}, collect: 3 }), /collect is a function/);
});

test('collect receives the parsed configuration and returns the WIT measurement', () => {
  let seen;
  const m = defineMeasure({
    metadata,
    configSchema: {},
    collect(config) {
      seen = config;
      return measurement({ value: 3, details: { a: 1 }, observedAt: new Date(1700000000000) });
    },
  });
  const out = m.collect('{"path": "/srv/r.json", "n": [1, 2]}');
  assert.deepEqual(seen, { path: '/srv/r.json', n: [1, 2] });
  assert.deepEqual(out, { value: 3, details: '{"a":1}', observedAt: 1700000000000n });
  // A plain object with the same fields, details already serialized, a text value.
  const plain = defineMeasure({ metadata, configSchema: {}, collect: () => ({ text: 'B', details: '{"x":2}' }) });
  assert.deepEqual(plain.collect('{}'), { text: 'B', details: '{"x":2}' });
});

test('errors become the WIT error variants', () => {
  const failing = (e) =>
    defineMeasure({
      metadata,
      configSchema: {},
      collect() {
        throw e;
      },
    });
  const thrown = (m, config = '{}') => {
    try {
      m.collect(config);
    } catch (e) {
      return e;
    }
    assert.fail('collect should have thrown');
  };
  assert.deepEqual(thrown(failing(new ConfigError('no such team'))), { tag: 'config', val: 'no such team' });
  assert.deepEqual(thrown(failing(new InputError('r.json: not JSON'))), { tag: 'input', val: 'r.json: not JSON' });
  assert.deepEqual(thrown(failing(new InternalError('oops'))), { tag: 'internal', val: 'oops' });
  const bug = thrown(failing(new TypeError('x is undefined')));
  assert.equal(bug.tag, 'internal');
  assert.match(bug.val, /^uncaught TypeError: x is undefined/);
  assert.deepEqual(thrown(failing('a string')), { tag: 'internal', val: 'uncaught exception: a string' });
  // The configuration is parsed before collect: a broken one is a config error.
  const config = thrown(failing(new Error('not reached')), '{"path": ');
  assert.equal(config.tag, 'config');
  assert.match(config.val, /not JSON/);
  // A result that is no measurement is an internal error, not a trap.
  const empty = defineMeasure({ metadata, configSchema: {}, collect: () => ({}) });
  assert.match(thrown(empty).val, /needs a value or a text/);
});

test('an async collect resolves to the WIT measurement or rejects with the variant', async () => {
  const later = defineMeasure({ metadata, configSchema: {}, collect: async () => measurement({ value: 2 }) });
  assert.deepEqual(await later.collect('{}'), { value: 2 });
  const refused = defineMeasure({
    metadata,
    configSchema: {},
    collect: async () => {
      throw new InputError('gone');
    },
  });
  await assert.rejects(refused.collect('{}'), (e) => e.tag === 'input' && e.val === 'gone');
});

test('measurements need a value or a text, details an object', () => {
  assert.throws(() => measurement({}), /value or a text/);
  assert.throws(() => measurement({ value: '3' }), /number/);
  assert.throws(() => measurement({ value: 1, details: [1] }), /object/);
  assert.throws(() => measurement({ value: 1, observedAt: 1.5 }), /integer milliseconds/);
  // NaN is a number: the engine refuses it (invalid-output), as with Rust.
  assert.ok(Number.isNaN(measurement({ value: NaN }).value));
});

test('uncaught errors keep a short stack, a runaway recursion in one line', () => {
  const stack = ['f@a.js:1:1', ...Array(5000).fill('recurse@a.js:2:3'), 'g@/tmp/x/sources/initializer.js:9:9'].join('\n');
  assert.equal(frames(stack), 'f@a.js:1:1\nrecurse@a.js:2:3 (5000 times)');
  const e = new RangeError('deep');
  e.stack = stack;
  assert.equal(toWitError(e).val, 'uncaught RangeError: deep\nf@a.js:1:1\nrecurse@a.js:2:3 (5000 times)');
});
