#!/usr/bin/env node
// Build a JavaScript measure into a WebAssembly component of the
// `smm:measure/measure` world.
//
//     node sdk/js/build.mjs <entry.js> -o <out.wasm> [--bundle <bundle.js>]
//
// 1. bundles the entry and what it imports (relative modules, `smm-sdk`,
//    npm packages) into one ES module with rolldown; `wasi:*` imports stay
//    imports of the component;
// 2. lays out the SDK's world (wit/world.wit: the `measure` world of
//    sdk/wit, included, plus the WASI filesystem imports) with its
//    dependencies in a temporary folder;
// 3. runs componentize-js (exactly 0.23.0, see package.json), which embeds
//    StarlingMonkey and pre-initialises the module (its top level runs now:
//    a mistake in `defineMeasure` fails the build).
//
// Needs `npm ci` in sdk/js first (node_modules is not committed).

import { mkdtemp, mkdir, readFile, writeFile, copyFile, realpath, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SDK = dirname(fileURLToPath(import.meta.url));
const COMPONENTIZE_VERSION = '0.23.0';
/** WASI version of the WIT the world imports (that of componentize-js's engine). */
const WASI_VERSION = '0.2.12';

function usage(message) {
  if (message) console.error(`build.mjs: ${message}`);
  console.error('usage: node sdk/js/build.mjs <entry.js> -o <out.wasm> [--bundle <bundle.js>]');
  process.exit(2);
}

function parseArgs(argv) {
  const args = { entry: null, out: null, bundle: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-o' || a === '--out') args.out = argv[++i];
    else if (a === '--bundle') args.bundle = argv[++i];
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else if (args.entry === null) args.entry = a;
    else usage(`one entry only (got ${args.entry} and ${a})`);
  }
  if (!args.entry || !args.out) usage('an entry and -o <out.wasm> are required');
  return args;
}

async function toolchain() {
  const pkg = join(SDK, 'node_modules/@bytecodealliance/componentize-js/package.json');
  if (!existsSync(pkg)) {
    throw new Error(`componentize-js is not installed: run \`npm ci\` in ${SDK}`);
  }
  const { version } = JSON.parse(await readFile(pkg, 'utf8'));
  if (version !== COMPONENTIZE_VERSION) {
    throw new Error(
      `componentize-js ${version} is installed, ${COMPONENTIZE_VERSION} is required: run \`npm ci\` in ${SDK}`,
    );
  }
  const wasiWit = join(SDK, 'node_modules/@bytecodealliance/jco/lib/wit/builtin', WASI_VERSION);
  if (!existsSync(wasiWit)) {
    throw new Error(`the WASI ${WASI_VERSION} WIT is missing (${wasiWit}): run \`npm ci\` in ${SDK}`);
  }
  for (const file of ['wit/world.wit', 'fs.js']) {
    const text = await readFile(join(SDK, file), 'utf8');
    const versions = [...text.matchAll(/wasi:filesystem\/\w+@([0-9.]+)/g)].map((m) => m[1]);
    if (versions.some((v) => v !== WASI_VERSION)) {
      throw new Error(`${file} names WASI ${versions.join(', ')}; the toolchain's is ${WASI_VERSION}`);
    }
  }
  const { componentize } = await import('@bytecodealliance/componentize-js');
  const { rolldown } = await import('rolldown');
  // componentize-js runs its WIT splicer as a component in Node through
  // preview2-shim, whose filesystem no longer preopens `/` by default
  // (0.26.1): the splicer is given the build's folder, and nothing else.
  const shim = await import('@bytecodealliance/preview2-shim/filesystem');
  const grant = (dir) => shim._setPreopens({ [dir]: dir });
  return { componentize, rolldown, wasiWit, grant };
}

/** The SDK's world and its dependencies, laid out for the WIT resolver. */
async function layOutWit(dir, wasiWit) {
  const wit = join(dir, 'wit');
  await mkdir(join(wit, 'deps/smm-measure'), { recursive: true });
  await copyFile(join(SDK, 'wit/world.wit'), join(wit, 'world.wit'));
  await copyFile(join(SDK, '../wit/measure.wit'), join(wit, 'deps/smm-measure/measure.wit'));
  for (const pkg of ['wasi-filesystem', 'wasi-io', 'wasi-clocks']) {
    await mkdir(join(wit, 'deps', pkg));
    await copyFile(join(wasiWit, pkg, 'package.wit'), join(wit, 'deps', pkg, 'package.wit'));
  }
  return wit;
}

async function bundle(rolldown, entry, file) {
  const build = await rolldown({
    input: entry,
    platform: 'neutral',
    external: (id) => id.startsWith('wasi:'),
    resolve: {
      alias: {
        'smm-sdk/measure': join(SDK, 'measure.js'),
        'smm-sdk/fs': join(SDK, 'fs.js'),
        'smm-sdk': join(SDK, 'index.js'),
      },
    },
    logLevel: 'warn',
  });
  await build.write({ file, format: 'es', codeSplitting: false });
  await build.close();
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const entry = resolve(args.entry);
  if (!existsSync(entry)) usage(`${args.entry} does not exist`);
  const started = Date.now();
  const { componentize, rolldown, wasiWit, grant } = await toolchain();
  const work = await realpath(await mkdtemp(join(tmpdir(), 'smm-js-build-')));
  grant(work);
  try {
    const source = join(work, 'src', basename(entry).replace(/\.[mc]?js$/, '') + '.bundle.js');
    await bundle(rolldown, entry, source);
    if (args.bundle) await copyFile(source, args.bundle);
    const witPath = await layOutWit(work, wasiWit);
    const { component } = await componentize({
      sourcePath: source,
      witPath,
      worldName: 'measure-js',
    });
    await mkdir(dirname(resolve(args.out)), { recursive: true });
    await writeFile(args.out, component);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.error(
      `built ${args.out} (${(component.length / (1 << 20)).toFixed(1)} MiB) from ${args.entry} in ${seconds} s`,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`build.mjs: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
