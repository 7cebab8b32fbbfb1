// eslint-findings: the problems in an ESLint JSON report, as a standard
// counting measure written in JavaScript (see ../README.md).
//
// Build: node sdk/js/build.mjs measures/eslint-findings/src/index.js -o eslint-findings.wasm

import { defineMeasure, measurement, readJson, reportConfigSchema, InputError } from 'smm-sdk';
import { summarize, ReportError, TOP } from './report.js';

export const { metadata, collect } = defineMeasure({
  metadata: {
    id: 'eslint-findings',
    version: '1.0.0',
    name: 'ESLint findings',
    description:
      'Number of problems (errors and warnings) in an ESLint JSON report (`eslint -f json` or `-f json-with-metadata`), over all files.',
    kind: 'counting',
    unit: 'findings',
    scale: 'ratio',
    output: `value: problems reported (errors + warnings; fatal parse errors and suppressed messages apart); details: {files, files_with_problems, by_level: {error, warning}, fixable: {error, warning}, by_rule (largest ${TOP}), rules, suppressed, fatal, fatal_files}; findings: one per problem (rule + file + SHA-256 prefix of the message and the line's text; error → medium, warning → low), tracked by the engine's finding lifecycle unless a file did not parse`,
  },
  configSchema: {
    ...reportConfigSchema,
    title: 'EslintConfig',
    description: 'Where the ESLint report is, and the directory ESLint ran in.',
    properties: {
      ...reportConfigSchema.properties,
      path: {
        ...reportConfigSchema.properties.path,
        description:
          'Path of the ESLint JSON report, inside a directory granted to the instance.\nRelative paths are taken from the first granted directory.',
      },
      root: {
        description:
          "Directory ESLint ran in (e.g. the CI checkout), removed from the report's absolute file paths so that fingerprints do not depend on where the code was checked out. Default: the report's `metadata.cwd` (json-with-metadata), else paths are kept as written.",
        type: 'string',
        minLength: 1,
      },
    },
  },
  async collect(config) {
    const doc = readJson(config.path);
    try {
      const { value, details } = await summarize(doc, { root: config.root });
      return measurement({ value, details });
    } catch (e) {
      if (e instanceof ReportError) throw new InputError(`${config.path}: ${e.message}`);
      throw e;
    }
  },
});
