// Test plugin: the JavaScript twin of tests/plugins/probe (Rust), a measure
// that behaves well or badly on demand. The engine must turn each bad
// behaviour into an error measurement with a clear reason, within the
// deadline, and go on. Never register it outside tests.
//
// Build: node sdk/js/build.mjs tests/plugins/probe-js/src/probe.js -o probe-js.wasm

import {
  defineMeasure,
  measurement,
  ConfigError,
  InputError,
  InternalError,
  readBytes,
} from 'smm-sdk';
import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';

const BEHAVIOURS = {
  constant: 'Return `value` (a trivial, well-behaved measure).',
  loop: 'Spin forever.',
  alloc: 'Allocate without bound (1 MiB typed arrays, kept).',
  'alloc-strings': 'Allocate without bound (strings in an array, kept).',
  recurse: 'Recurse without bound.',
  panic: 'Throw an ordinary Error (a bug): the SDK reports it as internal.',
  'raw-panic': 'Throw an ordinary Error past the SDK, out of the export.',
  'big-output': 'Return `bytes` bytes of details.',
  garbage: 'Return a measurement with neither value nor text (past the SDK).',
  'not-a-number': 'Return NaN.',
  read: 'Read `path` and return its length; fails unless granted.',
  sleep: 'Wait `value` seconds in a timer (a wait in a host call).',
  'chatty-panic': 'Write `bytes` bytes to stderr, then throw.',
  hoard: 'Open the file at `path` as many times as possible.',
  write: 'Try to create `path` (granted directories are read-only).',
  ambient: 'Report what the plugin can reach: grants, environment, network.',
  'config-error': 'Throw a ConfigError with `text`.',
  'input-error': 'Throw an InputError with `text`.',
  'internal-error': 'Throw an InternalError with `text`.',
};

const measure = defineMeasure({
  metadata: {
    id: 'probe-js',
    version: '1.0.0',
    name: 'Probe (JavaScript)',
    description: 'Test plugin that misbehaves on demand, written in JavaScript.',
    kind: 'direct',
    unit: '1',
    scale: 'ratio',
    output: 'whatever the behaviour asks',
  },
  configSchema: {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Config',
    type: 'object',
    properties: {
      behaviour: { enum: Object.keys(BEHAVIOURS), description: 'What to do.' },
      value: { type: 'number', default: 0 },
      bytes: { type: 'integer', minimum: 0, default: 0 },
      path: { type: 'string', default: '' },
      text: { type: 'string', default: '' },
      token: { type: 'string', default: '', writeOnly: true },
    },
    required: ['behaviour'],
    additionalProperties: false,
  },
  collect(config) {
    const value = config.value ?? 0;
    const bytes = config.bytes ?? 0;
    const text = config.text ?? '';
    switch (config.behaviour) {
      case 'constant':
        return measurement({ value });
      case 'loop': {
        let i = 0;
        for (;;) i = (i + 1) | 0;
      }
      case 'alloc': {
        const hoard = [];
        for (;;) hoard.push(new Uint8Array(1 << 20).fill(1));
      }
      case 'alloc-strings': {
        const hoard = [];
        for (let i = 0; ; i++) hoard.push(`${i}`.padEnd(1 << 16, 'x'));
      }
      case 'recurse':
        return measurement({ value: recurse(0) });
      case 'panic':
        throw new Error('probe asked to panic');
      case 'big-output':
        return measurement({ value: 1, details: { blob: 'x'.repeat(bytes) } });
      case 'not-a-number':
        return measurement({ value: NaN });
      case 'read':
        return measurement({ value: readBytes(config.path).length });
      case 'sleep':
        return new Promise((done) => setTimeout(() => done(measurement({ value })), value * 1000));
      case 'chatty-panic': {
        const line = 'noise '.repeat(10);
        for (let i = 0; i < bytes / 64; i++) console.error(line);
        throw new Error('the last words of a chatty plugin');
      }
      case 'hoard':
        return measurement({ value: hoard(config.path) });
      case 'write':
        return write(config.path);
      case 'ambient':
        return ambient();
      case 'config-error':
        throw new ConfigError(text);
      case 'input-error':
        throw new InputError(text);
      case 'internal-error':
        throw new InternalError(text);
      default:
        throw new ConfigError(`unknown behaviour ${config.behaviour}`);
    }
  },
});

function recurse(n) {
  return recurse(n + 1) + 1;
}

/** Open `path` again and again, keeping every handle. */
function hoard(path) {
  const [dir, name] = grantOf(path);
  const files = [];
  for (;;) {
    try {
      files.push(dir.openAt({ symlinkFollow: true }, name, {}, { read: true }));
    } catch {
      break;
    }
    if (files.length >= 100000) break;
  }
  return files.length;
}

/** Try to create `path` in a grant. */
function write(path) {
  const [dir, name] = grantOf(path);
  try {
    const file = dir.openAt({}, name, { create: true }, { read: true, write: true });
    file.write(new TextEncoder().encode('written by a plugin'), 0n);
    return measurement({ value: 1 });
  } catch (e) {
    throw new InputError(`cannot write ${path}: ${e.payload ?? e}`);
  }
}

function grantOf(path) {
  for (const [dir, name] of getDirectories()) {
    if (path.startsWith(`${name}/`)) return [dir, path.slice(name.length + 1)];
  }
  throw new InputError(`${path} is not in a grant`);
}

async function ambient() {
  const grants = getDirectories().length;
  const env = typeof process === 'object' && process.env ? Object.keys(process.env).length : 0;
  let connected;
  try {
    await fetch('http://127.0.0.1:9/');
    connected = true;
  } catch {
    connected = false;
  }
  let rootRead;
  try {
    readBytes('/etc/hostname');
    rootRead = true;
  } catch {
    rootRead = false;
  }
  return measurement({
    value: env,
    details: { env, grants, http_connected: connected, root_read: rootRead },
  });
}

export const metadata = measure.metadata;

/** `collect`, with two behaviours that bypass the SDK's checks on purpose. */
export function collect(configJson) {
  const { behaviour } = JSON.parse(configJson);
  if (behaviour === 'garbage') return {};
  if (behaviour === 'raw-panic') throw new Error('probe asked to panic past the SDK');
  return measure.collect(configJson);
}
