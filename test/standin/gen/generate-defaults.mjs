#!/usr/bin/env node
/**
 * Writes a header of "default" subclasses for the TensorRT interfaces the stand-ins implement:
 * for every class of nvinfer1::apiv (the implementation side of TensorRT's public classes) and
 * of nvonnxparser with pure virtual methods, a class `<Name>Defaults` that overrides each of
 * them with a body that reports the call as not implemented (standin::unimplemented) and
 * aborts. The stand-ins derive from these and implement by hand only what the addon uses.
 *
 * The input is the preprocessed text of TensorRT's own headers (so macros, attributes and
 * conditional declarations read exactly as the compiler sees them); the output goes to the
 * build folder and is never committed: no header text enters the project.
 *
 *   node generate-defaults.mjs --cxx g++ -I <trt include> -I <cuda include> --out FILE
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const NAMESPACES = ['nvinfer1::apiv', 'nvonnxparser'];

function parseArgs(argv) {
  const out = { cxx: 'c++', includes: [], out: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--cxx') out.cxx = argv[++i];
    else if (a === '-I') out.includes.push(argv[++i]);
    else if (a.startsWith('-I')) out.includes.push(a.slice(2));
    else if (a === '--out') out.out = argv[++i];
    else throw new Error(`unknown argument ${a}`);
  }
  if (!out.out || out.includes.length === 0) throw new Error('usage: generate-defaults.mjs --cxx CXX -I DIR... --out FILE');
  return out;
}

function preprocess(cxx, includes) {
  const source = '#include <NvInferRuntime.h>\n#include <NvInfer.h>\n#include <NvOnnxParser.h>\n';
  const args = ['-std=c++17', '-E', '-P', '-x', 'c++', ...includes.flatMap((d) => ['-I', d]), '-'];
  return execFileSync(cxx, args, { input: source, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
}

/** C++ tokens: identifiers, numbers, literals and punctuators (the few multi-character ones that matter). */
function tokenize(text) {
  const tokens = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') {
      i++;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_]/.test(text[j])) j++;
      tokens.push(text.slice(i, j));
      i = j;
    } else if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_.']/.test(text[j])) j++;
      tokens.push(text.slice(i, j));
      i = j;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < n && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      tokens.push(text.slice(i, j + 1));
      i = j + 1;
    } else {
      const two = text.slice(i, i + 2);
      if (two === '::' || two === '->' || two === '[[' || two === ']]' || two === '&&') {
        tokens.push(two);
        i += 2;
      } else {
        tokens.push(c);
        i++;
      }
    }
  }
  return tokens;
}

const OPEN = { '(': ')', '[': ']', '{': '}', '[[': ']]' };

/** Index just past the bracket group that opens at `i`. */
function skipGroup(tokens, i) {
  const stack = [OPEN[tokens[i]]];
  i++;
  while (i < tokens.length && stack.length > 0) {
    const t = tokens[i];
    if (OPEN[t]) stack.push(OPEN[t]);
    else if (t === stack[stack.length - 1]) stack.pop();
    i++;
  }
  return i;
}

function stripAttributes(decl) {
  const out = [];
  for (let i = 0; i < decl.length;) {
    if (decl[i] === '[[') {
      i = skipGroup(decl, i);
    } else if (decl[i] === '__attribute__' && decl[i + 1] === '(') {
      i = skipGroup(decl, i + 1);
    } else {
      out.push(decl[i]);
      i++;
    }
  }
  return out;
}

/** Splits tokens at top-level commas (inside (), [], {}, <>). */
function splitTopLevel(tokens) {
  const parts = [[]];
  let depth = 0;
  for (const t of tokens) {
    if (t === '(' || t === '[' || t === '{' || t === '<') depth++;
    else if (t === ')' || t === ']' || t === '}' || t === '>') depth--;
    if (t === ',' && depth === 0) parts.push([]);
    else parts[parts.length - 1].push(t);
  }
  return parts.filter((p) => p.length > 0);
}

/** A pure virtual declaration as an override with a default body, or null if it is not one. */
function pureVirtual(declTokens) {
  let decl = stripAttributes(declTokens);
  if (decl[0] !== 'virtual') return null;
  if (decl.length < 3 || decl[decl.length - 1] !== '0' || decl[decl.length - 2] !== '=') return null;
  decl = decl.slice(1, -2);
  const open = decl.indexOf('(');
  if (open < 1) return null;
  const name = decl[open - 1];
  if (name.startsWith('~')) return null;
  const close = skipGroup(decl, open) - 1;
  const params = splitTopLevel(decl.slice(open + 1, close)).map((p) => {
    // Default arguments are not repeated on an override.
    let depth = 0;
    for (let k = 0; k < p.length; k++) {
      const t = p[k];
      if (t === '(' || t === '[' || t === '{' || t === '<') depth++;
      else if (t === ')' || t === ']' || t === '}' || t === '>') depth--;
      else if (t === '=' && depth === 0) return p.slice(0, k);
    }
    return p;
  });
  const head = decl.slice(0, open + 1).join(' ');
  const tail = decl.slice(close + 1).join(' ');
  const text = `${head}${params.map((p) => p.join(' ')).join(', ')}) ${tail}`.replace(/\s+/g, ' ').trim();
  return { name, text };
}

/** Classes with their bases and pure virtual methods, in the namespaces of interest. */
function collectClasses(tokens) {
  const classes = new Map();
  const scope = []; // namespace names; '' for other braces at namespace level we do not enter
  let i = 0;
  const ns = () => scope.filter((s) => s !== '').join('::');
  while (i < tokens.length) {
    const t = tokens[i];
    if (t === 'namespace') {
      let j = i + 1;
      const names = [];
      while (j < tokens.length && tokens[j] !== '{' && tokens[j] !== '=' && tokens[j] !== ';') {
        if (tokens[j] !== '::' && tokens[j] !== 'inline') names.push(tokens[j]);
        j++;
      }
      if (tokens[j] === '{') {
        scope.push(names.join('::') || '(anonymous)');
        i = j + 1;
      } else {
        while (j < tokens.length && tokens[j] !== ';') j++;
        i = j + 1;
      }
    } else if (t === 'extern' && tokens[i + 1]?.startsWith('"') && tokens[i + 2] === '{') {
      scope.push('');
      i += 3;
    } else if (t === '}') {
      scope.pop();
      i++;
    } else if ((t === 'class' || t === 'struct') && /^[A-Za-z_]/.test(tokens[i + 1] ?? '')) {
      // class NAME [final] [: bases] { ... };   (forward declarations end with ';')
      let j = i + 1;
      const head = [];
      while (j < tokens.length && tokens[j] !== '{' && tokens[j] !== ';' && tokens[j] !== '(' && tokens[j] !== '=') {
        head.push(tokens[j]);
        j++;
      }
      if (tokens[j] !== '{') {
        i = j + 1;
        continue;
      }
      const cleanHead = stripAttributes(head);
      const name = cleanHead[0];
      const colon = cleanHead.indexOf(':');
      const bases =
        colon < 0
          ? []
          : splitTopLevel(cleanHead.slice(colon + 1)).map((b) => b.filter((x) => !['public', 'protected', 'private', 'virtual'].includes(x)).join(''));
      const end = skipGroup(tokens, j);
      const body = tokens.slice(j + 1, end - 1);
      const space = ns();
      if (NAMESPACES.includes(space)) classes.set(`${space}::${name}`, { space, name, bases, pures: membersOf(body) });
      i = end;
    } else if (t === '{' || t === '(' || t === '[' || t === '[[') {
      i = skipGroup(tokens, i);
    } else {
      i++;
    }
  }
  return classes;
}

/** The pure virtual members of a class body. */
function membersOf(body) {
  const pures = [];
  let decl = [];
  for (let i = 0; i < body.length;) {
    const t = body[i];
    if ((t === 'public' || t === 'protected' || t === 'private') && body[i + 1] === ':') {
      decl = [];
      i += 2;
    } else if (t === '{') {
      // An inline body (or a nested type): the declaration ends here.
      i = skipGroup(body, i);
      if (body[i] === ';') i++;
      decl = [];
    } else if (t === '(' || t === '[' || t === '[[') {
      const end = skipGroup(body, i);
      decl.push(...body.slice(i, end));
      i = end;
    } else if (t === ';') {
      const p = pureVirtual(decl);
      if (p) pures.push(p);
      decl = [];
      i++;
    } else {
      decl.push(t);
      i++;
    }
  }
  return pures;
}

function resolveBase(classes, space, base) {
  if (classes.has(base)) return classes.get(base);
  return classes.get(`${space}::${base.split('::').pop()}`);
}

function allPures(classes, cls, seen = new Set()) {
  const out = [];
  for (const b of cls.bases) {
    const base = resolveBase(classes, cls.space, b);
    if (base && !seen.has(base)) {
      seen.add(base);
      out.push(...allPures(classes, base, seen));
    }
  }
  out.push(...cls.pures.map((p) => ({ ...p, owner: `${cls.space}::${cls.name}` })));
  return out;
}

function emit(classes, sources) {
  const lines = [
    '// Generated by test/standin/gen/generate-defaults.mjs from the TensorRT headers in',
    ...sources.map((s) => `//   ${s}`),
    '// Do not edit: every pure virtual method of the classes below has a body that aborts with',
    '// its name. The stand-ins override what they implement.',
    '#pragma once',
    '#include <NvInferRuntime.h>',
    '#include <NvInfer.h>',
    '#include <NvOnnxParser.h>',
    '#include "common/control.hpp"',
    '#pragma GCC diagnostic push',
    '#pragma GCC diagnostic ignored "-Wunused-parameter"',
    '#pragma GCC diagnostic ignored "-Wdeprecated-declarations"',
  ];
  let count = 0;
  const bySpace = new Map();
  for (const cls of classes.values()) {
    const pures = allPures(classes, cls);
    if (pures.length === 0) continue;
    if (!bySpace.has(cls.space)) bySpace.set(cls.space, []);
    bySpace.get(cls.space).push({ cls, pures });
  }
  for (const [space, list] of bySpace) {
    const parts = space.split('::');
    lines.push(parts.map((p) => `namespace ${p} {`).join(' '));
    for (const { cls, pures } of list) {
      lines.push(`class ${cls.name}Defaults : public ${cls.name} {`, ' public:');
      const seen = new Set();
      for (const p of pures) {
        if (seen.has(p.text)) continue;
        seen.add(p.text);
        lines.push(`  ${p.text} override { ::standin::unimplemented("${p.owner}::${p.name}"); }`);
        count++;
      }
      lines.push('};');
    }
    lines.push(parts.map(() => '}').join(' '));
  }
  lines.push('#pragma GCC diagnostic pop', '');
  return { text: lines.join('\n'), classes: [...bySpace.values()].reduce((n, l) => n + l.length, 0), methods: count };
}

const args = parseArgs(process.argv.slice(2));
const classes = collectClasses(tokenize(preprocess(args.cxx, args.includes)));
for (const required of ['nvinfer1::apiv::VBuilder', 'nvinfer1::apiv::VCudaEngine', 'nvonnxparser::IParser']) {
  if (!classes.has(required)) throw new Error(`${required} was not found in the headers under ${args.includes.join(', ')}`);
}
const out = emit(classes, args.includes);
mkdirSync(dirname(args.out), { recursive: true });
writeFileSync(args.out, out.text);
console.log(`generate-defaults: ${out.classes} classes, ${out.methods} default methods -> ${args.out}`);
