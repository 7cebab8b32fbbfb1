// smm-sdk for JavaScript measures: see README.md.
export {
  defineMeasure,
  measurement,
  Measurement,
  MeasureError,
  ConfigError,
  InputError,
  InternalError,
  reportConfigSchema,
  KINDS,
  SCALES,
} from './measure.js';
export { readBytes, readText, readJson } from './fs.js';
