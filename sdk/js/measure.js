// smm-sdk (JavaScript): defining a measure, without host imports.
//
// Mirrors the Rust SDK (sdk/src/lib.rs): metadata is checked and turned into
// the WIT record of `smm:measure/measure`, the configuration JSON is parsed
// before `collect` is called, and results and errors become the WIT
// `result<measurement, error>`. Plain JavaScript: this module runs under
// Node as well (unit tests), and inside the component (StarlingMonkey).

/** SMM kinds a plugin may implement (WIT `measure-kind`). */
export const KINDS = Object.freeze(['direct', 'counting', 'grade', 'ranking']);
/** Measurement scales (WIT `scale`). */
export const SCALES = Object.freeze(['nominal', 'ordinal', 'interval', 'ratio']);

/** Base class of the errors a measure throws on purpose. */
export class MeasureError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/** The configuration does not fit the measure (WIT `error.config`). */
export class ConfigError extends MeasureError {
  get tag() {
    return 'config';
  }
}

/** The input (a report, a repository) is missing or malformed (WIT `error.input`). */
export class InputError extends MeasureError {
  get tag() {
    return 'input';
  }
}

/** Anything else (WIT `error.internal`; the engine stores it as `plugin`). */
export class InternalError extends MeasureError {
  get tag() {
    return 'internal';
  }
}

/**
 * The configuration of a measure that reads one report file: the JSON
 * Schema the Rust SDK's `ReportConfig` generates. `format: "path"` makes the
 * host resolve the path (a relative one from the first granted directory)
 * and refuse one outside every grant.
 */
export const reportConfigSchema = Object.freeze({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'ReportConfig',
  description: 'The configuration of a measure that reads one report file.',
  type: 'object',
  properties: {
    path: {
      description:
        'Path of the report, inside a directory granted to the instance.\nRelative paths are taken from the first granted directory.',
      type: 'string',
      minLength: 1,
      format: 'path',
    },
  },
  required: ['path'],
  additionalProperties: false,
});

const KEBAB = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;

/** A measurement, as `collect` returns it. Built by {@link measurement}. */
export class Measurement {
  constructor({ value, text, details, observedAt } = {}) {
    if (value === undefined && text === undefined) {
      throw new TypeError('a measurement needs a value or a text');
    }
    if (value !== undefined && typeof value !== 'number') {
      throw new TypeError(`a measurement's value is a number, not ${typeof value}`);
    }
    if (text !== undefined && typeof text !== 'string') {
      throw new TypeError(`a measurement's text is a string, not ${typeof text}`);
    }
    if (
      details !== undefined &&
      typeof details !== 'string' &&
      (details === null || typeof details !== 'object' || Array.isArray(details))
    ) {
      throw new TypeError("a measurement's details are an object (or its JSON text)");
    }
    this.value = value;
    this.text = text;
    this.details = details;
    this.observedAt = observedAt === undefined ? undefined : toMillis(observedAt);
  }
}

/**
 * A measurement: `value` (a number) and/or `text` (a grade, a label),
 * `details` (an object, or its JSON text when already serialized),
 * `observedAt` (a `Date`, or milliseconds since the Unix epoch).
 */
export function measurement(fields) {
  return new Measurement(fields);
}

function toMillis(at) {
  const ms = at instanceof Date ? at.getTime() : Number(at);
  if (!Number.isSafeInteger(ms)) {
    throw new TypeError(`observedAt must be a Date or integer milliseconds, not ${at}`);
  }
  return ms;
}

function required(metadata, key) {
  const value = metadata[key];
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`metadata.${key} must be a non-empty string`);
  }
  return value;
}

/**
 * Define a measure. Returns `{ metadata, collect }`, the two functions the
 * `measure` world exports: the entry module of a component does
 *
 *     export const { metadata, collect } = defineMeasure({ ... });
 *
 * - `metadata`: `{ id, version, name, description, kind, unit, scale, output }`
 *   (`kind` one of {@link KINDS}, `scale` one of {@link SCALES}); checked
 *   here, so a mistake fails the build (the top level runs at build time).
 * - `configSchema`: the JSON Schema (an object) of the configuration; the
 *   host validates each configuration against it before `collect` sees it.
 * - `collect(config)`: receives the parsed configuration and returns a
 *   {@link measurement} (or the same fields as a plain object), sync or
 *   async; throws {@link ConfigError}, {@link InputError} or
 *   {@link InternalError}. Any other exception becomes an `internal` error
 *   naming it (`uncaught TypeError: ...`), so the engine stores it as a
 *   `plugin` error.
 */
export function defineMeasure({ metadata, configSchema, collect }) {
  if (metadata === null || typeof metadata !== 'object') {
    throw new TypeError('defineMeasure: metadata is an object');
  }
  const id = required(metadata, 'id');
  if (!KEBAB.test(id)) throw new TypeError(`metadata.id ${JSON.stringify(id)} is not kebab-case`);
  const version = required(metadata, 'version');
  if (!SEMVER.test(version)) {
    throw new TypeError(`metadata.version ${JSON.stringify(version)} is not a semantic version`);
  }
  if (!KINDS.includes(metadata.kind)) {
    throw new TypeError(`metadata.kind must be one of ${KINDS.join(', ')}`);
  }
  if (!SCALES.includes(metadata.scale)) {
    throw new TypeError(`metadata.scale must be one of ${SCALES.join(', ')}`);
  }
  if (configSchema === null || typeof configSchema !== 'object' || Array.isArray(configSchema)) {
    throw new TypeError('defineMeasure: configSchema is a JSON Schema object');
  }
  if (typeof collect !== 'function') {
    throw new TypeError('defineMeasure: collect is a function');
  }
  const wit = Object.freeze({
    id,
    version,
    name: required(metadata, 'name'),
    description: required(metadata, 'description'),
    kind: metadata.kind,
    unit: typeof metadata.unit === 'string' ? metadata.unit : '',
    scale: metadata.scale,
    configSchema: JSON.stringify(configSchema),
    output: required(metadata, 'output'),
  });
  return {
    metadata: () => wit,
    collect: (configJson) => collectWith(collect, configJson),
  };
}

/** Call `collect` on the parsed configuration; WIT result or thrown WIT error. */
export function collectWith(collect, configJson) {
  let config;
  try {
    config = JSON.parse(configJson);
  } catch (e) {
    throw toWitError(new ConfigError(`the configuration is not JSON: ${e.message}`));
  }
  let result;
  try {
    result = collect(config);
  } catch (e) {
    throw toWitError(e);
  }
  if (result && typeof result.then === 'function') {
    return result.then(toWitMeasurement, (e) => {
      throw toWitError(e);
    });
  }
  return toWitMeasurement(result);
}

/** A measurement (or its fields) as the WIT record. */
export function toWitMeasurement(m) {
  let checked;
  try {
    checked = m instanceof Measurement ? m : new Measurement(m ?? {});
  } catch (e) {
    throw toWitError(new InternalError(`collect returned no valid measurement: ${e.message}`));
  }
  const out = {};
  if (checked.value !== undefined) out.value = checked.value;
  if (checked.text !== undefined) out.text = checked.text;
  if (checked.details !== undefined) {
    out.details =
      typeof checked.details === 'string' ? checked.details : JSON.stringify(checked.details);
  }
  if (checked.observedAt !== undefined) out.observedAt = BigInt(checked.observedAt);
  return out;
}

/** An exception as the WIT `error` variant (`{ tag, val }`). */
export function toWitError(e) {
  if (e instanceof MeasureError) return { tag: e.tag, val: e.message };
  if (e instanceof Error) {
    const where = typeof e.stack === 'string' ? frames(e.stack) : '';
    return { tag: 'internal', val: `uncaught ${e.name}: ${e.message}${where ? `\n${where}` : ''}` };
  }
  if (e && typeof e === 'object' && ['config', 'input', 'internal'].includes(e.tag)) {
    return { tag: e.tag, val: String(e.val) };
  }
  return { tag: 'internal', val: `uncaught exception: ${String(e)}` };
}

/** Most stack frames an uncaught error's message keeps. */
const FRAMES = 8;

/**
 * The first {@link FRAMES} frames of a stack, repeated frames collapsed (a
 * runaway recursion is one line), the engine's own glue left out.
 */
export function frames(stack) {
  const kept = [];
  for (const raw of stack.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.includes('/sources/initializer.js')) continue;
    const last = kept[kept.length - 1];
    if (last && last.line === line) last.count += 1;
    else kept.push({ line, count: 1 });
  }
  return kept
    .slice(0, FRAMES)
    .map(({ line, count }) => (count > 1 ? `${line} (${count} times)` : line))
    .join('\n');
}
