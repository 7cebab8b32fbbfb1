// smm-sdk (JavaScript): reading files in the directories granted to the
// instance, through the WASI filesystem imports. StarlingMonkey has no
// `node:fs`; the granted directories are the component's WASI preopens,
// each named by its absolute host path, read-only.
//
// Importing this module makes the component import
// `wasi:filesystem/preopens` and `wasi:filesystem/types` (declared by the
// SDK's world, sdk/js/wit/world.wit; the engine links all of WASI 0.2).
// The version below is the one componentize-js's engine imports itself;
// it must be WASI_VERSION of build.mjs (which checks it).

import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';
import { InputError } from './measure.js';
import { locate } from './paths.js';

/** Bytes asked of the host per read call. */
const CHUNK = 1 << 20;

const REASONS = {
  access: 'permission denied',
  'not-permitted': 'operation not permitted',
  'no-entry': 'no such file or directory',
  'is-directory': 'is a directory',
  'not-directory': 'not a directory',
  loop: 'too many levels of symbolic links',
  'name-too-long': 'file name too long',
  'read-only': 'read-only file system',
  'would-block': 'would block (not a regular file)',
  'insufficient-memory': 'out of memory',
  'file-too-large': 'file too large',
};

/** A WASI error (its `payload` is the `error-code`) in words. */
function reason(e) {
  const code = e && typeof e === 'object' && 'payload' in e ? e.payload : undefined;
  if (typeof code === 'string') return REASONS[code] ?? code;
  return e instanceof Error ? e.message : String(e);
}

/**
 * The whole file at `path` (absolute, or relative to the first granted
 * directory) as a `Uint8Array`. Throws an {@link InputError} naming the
 * path when it is outside every grant, missing, not a regular file or
 * unreadable.
 */
export function readBytes(path) {
  const where = locate(path, getDirectories());
  if (where === null) {
    throw new InputError(`cannot read ${path}: not in a directory granted to the instance`);
  }
  let file;
  try {
    file = where.handle.openAt({ symlinkFollow: true }, where.relative, {}, { read: true });
  } catch (e) {
    throw new InputError(`cannot read ${path}: ${reason(e)}`);
  }
  try {
    const stat = file.stat();
    if (stat.type !== 'regular-file') {
      throw new InputError(`cannot read ${path}: not a regular file (${stat.type})`);
    }
    let buffer = new Uint8Array(Number(stat.size));
    let length = 0;
    for (;;) {
      const [chunk, end] = file.read(BigInt(CHUNK), BigInt(length));
      if (chunk.length > 0) {
        if (length + chunk.length > buffer.length) {
          // The file grew since `stat`.
          const grown = new Uint8Array(Math.max(buffer.length * 2, length + chunk.length));
          grown.set(buffer.subarray(0, length));
          buffer = grown;
        }
        buffer.set(chunk, length);
        length += chunk.length;
      }
      if (end || chunk.length === 0) break;
    }
    return length === buffer.length ? buffer : buffer.slice(0, length);
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`cannot read ${path}: ${reason(e)}`);
  }
}

/** The file at `path` as text (UTF-8, a leading BOM dropped). */
export function readText(path) {
  const bytes = readBytes(path);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new InputError(`${path}: not UTF-8 text`);
  }
}

/**
 * The file at `path` parsed as JSON. A malformed document is an
 * {@link InputError} naming the path and where (line and column).
 */
export function readJson(path) {
  const text = readText(path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(`${path}: not JSON: ${e.message}`);
  }
}
