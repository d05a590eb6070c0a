#!/usr/bin/env node
// Compile Solidity sources with the npm `solc` package (solcjs, pinned in package.json),
// so no compiler binary is downloaded at run time.
//
// Usage:
//   node compile.js <a.sol> [b.sol ...] -o <out.json> [--optimize] [--runs N] [--evm-version V]
//   node compile.js <input.sol> <out.json> [--optimize]          (short form, one source)
//
// Output JSON:
//   { "contracts": { "<ContractName>": { "bytecode": "0x..", "deployedBytecode": "0x..",
//                                        "immutableRanges": [[start, length], ..], "abi": [..] } },
//     "solcVersion": "0.8.19+commit....", "settings": { ...solc settings used... } }
// A contract name defined in several sources is keyed "<source path>:<ContractName>" instead.
//
// Defaults: optimizer OFF, evmVersion = the compiler's default (paris for 0.8.19).
// Compiler errors go to stderr and the exit status is 1; warnings go to stderr too.
//
// Compilation runs in a worker thread with a large stack (big assembly-heavy
// verifiers can recurse deeply inside solc); set SOLC_STACK_MB to change it.
'use strict';

const fs = require('fs');
const path = require('path');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');

function usage(msg) {
  if (msg) process.stderr.write(`compile.js: ${msg}\n`);
  process.stderr.write(
    'usage: node compile.js <a.sol> [b.sol ...] -o <out.json> [--optimize] [--runs N] [--evm-version V]\n' +
      '       node compile.js <input.sol> <out.json> [--optimize]\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { inputs: [], out: null, optimize: false, runs: 200, evmVersion: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '-o' || a === '--out') opts.out = next();
    else if (a === '--optimize') opts.optimize = true;
    else if (a === '--runs') {
      opts.runs = Number(next());
      if (!Number.isInteger(opts.runs) || opts.runs < 1) usage('--runs must be a positive integer');
    } else if (a === '--evm-version') opts.evmVersion = next();
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else opts.inputs.push(a);
  }
  // Short form: `compile.js in.sol out.json`.
  if (opts.out === null && opts.inputs.length === 2 && opts.inputs[1].endsWith('.json')) {
    opts.out = opts.inputs.pop();
  }
  if (opts.inputs.length === 0) usage('no input .sol files');
  if (opts.out === null) usage('no output file (-o out.json)');
  return opts;
}

// Source unit names: paths relative to the current directory (absolute when outside it),
// with '/' separators.
function unitName(p) {
  const abs = path.resolve(p);
  const rel = path.relative(process.cwd(), abs);
  return (rel.startsWith('..') || path.isAbsolute(rel) ? abs : rel).split(path.sep).join('/');
}

function buildInput(opts) {
  const sources = {};
  for (const f of opts.inputs) {
    let content;
    try {
      content = fs.readFileSync(f, 'utf8');
    } catch (e) {
      process.stderr.write(`compile.js: cannot read ${f}: ${e.message}\n`);
      process.exit(1);
    }
    sources[unitName(f)] = { content };
  }
  const settings = {
    optimizer: { enabled: opts.optimize, runs: opts.runs },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'evm.deployedBytecode.immutableReferences'] } },
  };
  if (opts.evmVersion) settings.evmVersion = opts.evmVersion;
  return { language: 'Solidity', sources, settings };
}

// ---- worker side: load solcjs and compile ----
function workerMain() {
  const solc = require('solc');
  const findImports = (p) => {
    try {
      return { contents: fs.readFileSync(path.resolve(workerData.cwd, p), 'utf8') };
    } catch (e) {
      return { error: `File not found: ${p}` };
    }
  };
  const output = solc.compile(workerData.input, { import: findImports });
  parentPort.postMessage({ output, version: solc.version() });
}

// ---- main side ----
function formatError(e) {
  return (e.formattedMessage || `${e.severity}: ${e.message}`).trimEnd();
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const input = buildInput(opts);
  const stackMb = Number(process.env.SOLC_STACK_MB || 64);
  const t0 = Date.now();

  const worker = new Worker(__filename, {
    workerData: { input: JSON.stringify(input), cwd: process.cwd() },
    resourceLimits: { stackSizeMb: stackMb },
  });
  let result = null;
  worker.on('message', (m) => {
    result = m;
  });
  worker.on('error', (e) => {
    process.stderr.write(`compile.js: solc failed: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  });
  worker.on('exit', (code) => {
    if (code !== 0 || result === null) {
      process.stderr.write(`compile.js: solc worker exited with code ${code}\n`);
      process.exit(1);
    }
    finish(opts, input, result, Date.now() - t0);
  });
}

function finish(opts, input, { output, version }, ms) {
  let out;
  try {
    out = JSON.parse(output);
  } catch (e) {
    process.stderr.write(`compile.js: cannot parse solc output: ${e.message}\n${output}\n`);
    process.exit(1);
  }
  const diagnostics = out.errors || [];
  const errors = diagnostics.filter((e) => e.severity === 'error');
  for (const w of diagnostics.filter((e) => e.severity !== 'error')) {
    process.stderr.write(formatError(w) + '\n');
  }
  if (errors.length > 0) {
    for (const e of errors) process.stderr.write(formatError(e) + '\n');
    process.stderr.write(`compile.js: ${errors.length} error(s), nothing written\n`);
    process.exit(1);
  }

  // Count names first so duplicates across sources get qualified keys.
  const seen = {};
  for (const src of Object.keys(out.contracts || {})) {
    for (const name of Object.keys(out.contracts[src])) seen[name] = (seen[name] || 0) + 1;
  }
  const contracts = {};
  for (const [src, byName] of Object.entries(out.contracts || {})) {
    for (const [name, c] of Object.entries(byName)) {
      const key = seen[name] > 1 ? `${src}:${name}` : name;
      const bytecode = (c.evm && c.evm.bytecode && c.evm.bytecode.object) || '';
      const deployed = (c.evm && c.evm.deployedBytecode && c.evm.deployedBytecode.object) || '';
      if (bytecode.includes('__$')) {
        process.stderr.write(`compile.js: warning: ${key} has unlinked library references\n`);
      }
      // byte ranges of the runtime code that the constructor fills with immutables (zero here)
      const refs = (c.evm && c.evm.deployedBytecode && c.evm.deployedBytecode.immutableReferences) || {};
      const immutableRanges = Object.values(refs).flat().map((r) => [r.start, r.length]);
      contracts[key] = { bytecode: '0x' + bytecode, deployedBytecode: '0x' + deployed, immutableRanges, abi: c.abi || [] };
    }
  }
  if (Object.keys(contracts).length === 0) {
    process.stderr.write('compile.js: no contracts in the sources\n');
    process.exit(1);
  }

  const settings = { ...input.settings };
  delete settings.outputSelection;
  const result = { contracts, solcVersion: version, settings };
  const outPath = path.resolve(opts.out);
  fs.mkdirSync(path.dirname(outPath), { recursive: true });
  const tmp = `${outPath}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(result, null, 2) + '\n');
  fs.renameSync(tmp, outPath);

  const sizes = Object.entries(contracts)
    .map(([k, c]) => `${k} (${(c.deployedBytecode.length - 2) / 2} bytes deployed)`)
    .join(', ');
  process.stderr.write(`compile.js: solc ${version}: ${sizes} -> ${opts.out} in ${(ms / 1000).toFixed(1)}s\n`);
}

if (isMainThread) main();
else workerMain();
