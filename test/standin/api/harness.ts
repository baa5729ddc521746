/**
 * What the public-API scenarios share (they run in a child process with the stand-ins active,
 * see ../api.test.ts): the stand-ins' control addon (faults and counters while the process
 * runs), promise accounting, models on disk, and the check of outputs against the stand-in's
 * output function (../reference.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Outputs, Tensor, TensorData } from '../../../src/index.js';
import { standinModel, type ModelSpec, type TensorSpec } from '../models.js';
import { standinOutputs, toNumbers, type StandinDataType } from '../reference.js';

interface ControlAddon {
  setFaults(spec: string): void;
  counters(): string;
  counter(name: string): number;
}

let controlAddon: ControlAddon | undefined;

/** The stand-ins' control interface (build/standin/trtn_standin_control.node). */
export function control(): ControlAddon {
  if (controlAddon === undefined) {
    const path = process.env.TRTN_STANDIN_CONTROL;
    if (!path) throw new Error('TRTN_STANDIN_CONTROL must name trtn_standin_control.node');
    const mod = { exports: {} as ControlAddon };
    process.dlopen(mod, path);
    controlAddon = mod.exports;
  }
  return controlAddon;
}

export type Counters = Record<string, number>;

export function counters(): Counters {
  return (JSON.parse(control().counters()) as { counters: Counters }).counters;
}

/** `after - before` for every counter that changed. */
export function changed(before: Counters, after: Counters = counters()): Counters {
  const out: Counters = {};
  for (const [k, v] of Object.entries(after)) if (v !== (before[k] ?? 0)) out[k] = v - (before[k] ?? 0);
  return out;
}

/** Runs `body` with the stand-in faults `spec` set, clearing them afterwards. */
export async function withFaults<T>(spec: string, body: () => Promise<T>): Promise<T> {
  control().setFaults(spec);
  try {
    return await body();
  } finally {
    control().setFaults('');
  }
}

// ---- promise accounting -------------------------------------------------------------------

const accounting = { created: 0, settled: 0 };

/** Counts `p` among the promises the public API returned; every one must settle. */
export function track<T>(p: Promise<T>): Promise<T> {
  accounting.created++;
  const done = (): void => {
    accounting.settled++;
  };
  p.then(done, done);
  return p;
}

export function promiseAccounting(): { created: number; settled: number } {
  return { ...accounting };
}

/** The outcome of `p` as data: its value, or the error's class, code and message. */
export async function outcome<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: ErrorData }> {
  try {
    return { ok: true, value: await track(p) };
  } catch (e) {
    return { ok: false, error: errorData(e) };
  }
}

export interface ErrorData {
  name: string;
  code: string | undefined;
  message: string;
  cudaError?: string;
  sticky?: boolean;
}

export function errorData(e: unknown): ErrorData {
  const err = e as { name?: string; constructor?: { name?: string }; code?: string; message?: string; cudaError?: string; sticky?: boolean };
  return {
    name: err?.constructor?.name ?? err?.name ?? typeof e,
    code: err?.code,
    message: String(err?.message ?? e),
    ...(err?.cudaError === undefined ? {} : { cudaError: err.cudaError }),
    ...(err?.sticky === undefined ? {} : { sticky: err.sticky }),
  };
}

/** The error `p` rejects with (a resolved promise is reported as such). */
export async function rejection(p: Promise<unknown>): Promise<ErrorData> {
  const o = await outcome(p);
  return o.ok ? { name: 'resolved', code: undefined, message: 'the promise resolved' } : o.error;
}

// ---- files and models ---------------------------------------------------------------------

let work: string | undefined;
/** This process's scratch folder (made on first use; the main thread removes it at the end). */
export function workDir(): string {
  work ??= mkdtempSync(join(tmpdir(), 'trtn-api-'));
  return work;
}

let fileCount = 0;
export function tempPath(name: string): string {
  return join(workDir(), `${fileCount++}-${name}`);
}

export function writeModel(name: string, spec: ModelSpec): string {
  const path = tempPath(`${name}.onnx`);
  writeFileSync(path, standinModel(spec));
  return path;
}

export const require = createRequire(import.meta.url);

// ---- the reference ------------------------------------------------------------------------

const dimNames = (t: TensorSpec): string[] => t.dims.map((d) => (typeof d === 'string' ? d : ''));

/**
 * How many elements of `outputs` differ from the stand-in's output function of `feeds` (the
 * model's own I/O in `spec`; outputs missing from `outputs` are skipped, wrong dims count as
 * every element wrong).
 */
export function mismatches(spec: ModelSpec, feeds: Record<string, Tensor>, outputs: Outputs): number {
  const inputs = spec.inputs.map((t) => {
    const f = feeds[t.name];
    if (f === undefined) throw new Error(`no feed for ${t.name}`);
    return { name: t.name, dtype: t.dtype as StandinDataType, dims: [...f.dims], dimNames: dimNames(t), data: f.data as TensorData };
  });
  const wanted = spec.outputs.filter((t) => outputs[t.name] !== undefined);
  const ref = standinOutputs(
    inputs,
    wanted.map((t) => ({ name: t.name, dtype: t.dtype as StandinDataType, dims: [...outputs[t.name]!.dims], dimNames: dimNames(t) })),
  );
  let bad = 0;
  for (const t of wanted) {
    const got = toNumbers(t.dtype as StandinDataType, outputs[t.name]!.data as TensorData);
    const want = toNumbers(t.dtype as StandinDataType, ref[t.name]!);
    if (got.length !== want.length) {
      bad += Math.max(got.length, want.length);
      continue;
    }
    for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) bad++;
  }
  return bad;
}

/** Deterministic pseudo-random integers (a seeded LCG), so every run feeds the same data. */
export class Lcg {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    this.#s = (Math.imul(this.#s, 1664525) + 1013904223) >>> 0;
    return this.#s;
  }
  int(lo: number, hi: number): number {
    return lo + (this.next() % (hi - lo + 1));
  }
}

/** A promise that resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `cond()` holds (polling every millisecond), at most `ms`. */
export async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(1);
  }
  return true;
}
