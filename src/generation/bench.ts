/**
 * The generation benchmark: tokens/s, time to first token and inter-token latency against
 * concurrency, for three ways of serving the same requests side by side:
 *   - sequential: one generation at a time (a Generator with maxBatchSize 1);
 *   - static: static batches (StaticBatchServer: a batch runs until its longest request is
 *     done, newcomers wait for the next batch);
 *   - continuous: the Generator's continuous batching.
 * Load is a closed loop: `concurrency` clients, each sending its next request when the last one
 * is done. Requests are seeded (prompt lengths, token ids, new-token counts), the same for every
 * mode; greedy decoding, no stop tokens, so every request makes exactly its new-token count.
 * Times are from the client's side: TTFT from the request to its first token, ITL between a
 * request's consecutive tokens as they arrive.
 */
import { z } from 'zod';
import { parseOptions } from '../options.js';
import { summarize, type LatencySummary } from '../bench/stats.js';
import { Random } from '../random.js';
import type { InferenceSession } from '../session.js';
import { detectDecoder } from './decoder-io.js';
import { Generator } from './generator.js';
import { StaticBatchServer } from './static-batch.js';

export const GENERATION_MODES = ['sequential', 'static', 'continuous'] as const;
export type GenerationMode = (typeof GENERATION_MODES)[number];

const Range = z
  .object({ min: z.number().int().min(1), max: z.number().int().min(1) })
  .strict()
  .refine((r) => r.min <= r.max, { message: 'min must be <= max' });

export const GenerationBenchOptionsSchema = z
  .object({
    concurrency: z.array(z.number().int().min(1).max(4096)).min(1).default([1, 4, 16]),
    /** Requests each client sends (closed loop). */
    requestsPerClient: z.number().int().min(1).max(100_000).default(2),
    /** Prompt lengths, uniform per request. */
    promptLength: Range.default({ min: 1, max: 40 }),
    /** New tokens per request, uniform per request. */
    newTokens: Range.default({ min: 32, max: 32 }),
    modes: z
      .array(z.enum(GENERATION_MODES))
      .min(1)
      .default([...GENERATION_MODES]),
    /** Rows of a static batch and of the continuous batch. Default: the largest concurrency. */
    maxBatchSize: z.number().int().min(1).max(4096).optional(),
    /** Continuous batching's maxBatchTokens. */
    maxBatchTokens: z.number().int().min(1).optional(),
    /** Continuous batching's maxQueueDelayMs: newcomers wait this long to be prefilled together. */
    maxQueueDelayMs: z.number().finite().min(0).max(60_000).optional(),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(1),
    /**
     * Runs of every mode at each concurrency, interleaved (the mode order rotates each round),
     * so a slow patch of a shared machine hits every mode alike; each mode reports its median
     * run by tokens/s.
     */
    repeats: z.number().int().min(1).max(100).default(1),
    /** A short run of each mode before measuring (JIT, ONNX Runtime's first-run allocations). */
    warmup: z.boolean().default(true),
    onProgress: z.custom<(message: string) => void>((v) => v === undefined || typeof v === 'function').optional(),
  })
  .strict();

export type GenerationBenchOptions = z.input<typeof GenerationBenchOptionsSchema>;

export interface GenerationBenchRow {
  readonly mode: GenerationMode;
  readonly concurrency: number;
  readonly requests: number;
  readonly generatedTokens: number;
  readonly wallMs: number;
  readonly tokensPerSecond: number;
  readonly ttftMs: LatencySummary;
  readonly itlMs: LatencySummary;
  readonly requestMs: LatencySummary;
  /** Continuous and sequential: mean sequences per decode step. */
  readonly meanDecodeRows: number | null;
  /** Continuous and sequential: host work per step (cache assembly, feeds, token choice), ms. */
  readonly hostMsPerStep: number | null;
  readonly sessionMsPerStep: number | null;
  /** Static: batches run. */
  readonly batches: number | null;
  /** Tokens/s of every repeat, in round order (the row is the median one). */
  readonly runsTokensPerSecond?: readonly number[];
}

export interface GenerationBenchReport {
  readonly options: {
    readonly concurrency: readonly number[];
    readonly requestsPerClient: number;
    readonly promptLength: { readonly min: number; readonly max: number };
    readonly newTokens: { readonly min: number; readonly max: number };
    readonly maxBatchSize: number;
    readonly seed: number;
    readonly repeats: number;
  };
  readonly rows: readonly GenerationBenchRow[];
}

interface BenchRequest {
  readonly prompt: Int32Array;
  readonly maxNewTokens: number;
}

function makeRequests(n: number, o: z.output<typeof GenerationBenchOptionsSchema>, vocab: number, salt: number): BenchRequest[] {
  const rng = Random.forStream(o.seed, `generation-bench-${salt}`);
  return Array.from({ length: n }, () => {
    const len = rng.nextInt(o.promptLength.min, o.promptLength.max + 1);
    const prompt = new Int32Array(len);
    for (let i = 0; i < len; i++) prompt[i] = rng.nextInt(1, vocab);
    return { prompt, maxNewTokens: rng.nextInt(o.newTokens.min, o.newTokens.max + 1) };
  });
}

interface Timings {
  ttft: number[];
  itl: number[];
  request: number[];
  tokens: number;
}

/** Runs `requests` through `serve` from `concurrency` closed-loop clients. */
async function closedLoop(
  requests: readonly BenchRequest[],
  concurrency: number,
  serve: (r: BenchRequest, onToken: () => void) => Promise<void>,
): Promise<Timings & { wallMs: number }> {
  const t: Timings = { ttft: [], itl: [], request: [], tokens: 0 };
  const t0 = performance.now();
  const client = async (c: number): Promise<void> => {
    for (let k = c; k < requests.length; k += concurrency) {
      const start = performance.now();
      let prev = start;
      let first = true;
      await serve(requests[k]!, () => {
        const now = performance.now();
        if (first) t.ttft.push(now - start);
        else t.itl.push(now - prev);
        first = false;
        prev = now;
        t.tokens++;
      });
      t.request.push(performance.now() - start);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, (_, c) => client(c)));
  return { ...t, wallMs: performance.now() - t0 };
}

async function runMode(
  session: InferenceSession,
  mode: GenerationMode,
  requests: readonly BenchRequest[],
  concurrency: number,
  maxBatchSize: number,
  continuous: { maxBatchTokens?: number | undefined; maxQueueDelayMs?: number | undefined },
): Promise<Omit<GenerationBenchRow, 'mode' | 'concurrency' | 'requests'>> {
  if (mode === 'static') {
    const server = new StaticBatchServer(session, maxBatchSize);
    const r = await closedLoop(requests, concurrency, async (req, onToken) => {
      await server.generate({ prompt: req.prompt, maxNewTokens: req.maxNewTokens, onToken });
    });
    return row(r, { meanDecodeRows: null, hostMsPerStep: null, sessionMsPerStep: null, batches: server.batches });
  }
  const gen = new Generator(session, {
    maxBatchSize: mode === 'sequential' ? 1 : maxBatchSize,
    ...(mode === 'continuous' && continuous.maxBatchTokens !== undefined ? { maxBatchTokens: continuous.maxBatchTokens } : {}),
    ...(mode === 'continuous' && continuous.maxQueueDelayMs !== undefined ? { maxQueueDelayMs: continuous.maxQueueDelayMs } : {}),
    maxKvTokens: 1 << 30,
    metrics: false,
  });
  try {
    const r = await closedLoop(requests, concurrency, async (req, onToken) => {
      for await (const _ of gen.stream(req.prompt, { maxNewTokens: req.maxNewTokens })) onToken();
    });
    const s = gen.stats();
    return row(r, { meanDecodeRows: s.steps.meanDecodeRows, hostMsPerStep: s.steps.hostMs.mean, sessionMsPerStep: s.steps.sessionMs.mean, batches: null });
  } finally {
    await gen.close();
  }
}

function row(
  r: Timings & { wallMs: number },
  extra: Pick<GenerationBenchRow, 'meanDecodeRows' | 'hostMsPerStep' | 'sessionMsPerStep' | 'batches'>,
): Omit<GenerationBenchRow, 'mode' | 'concurrency' | 'requests'> {
  return {
    generatedTokens: r.tokens,
    wallMs: r.wallMs,
    tokensPerSecond: r.tokens / (r.wallMs / 1000),
    ttftMs: summarize(r.ttft),
    itlMs: summarize(r.itl),
    requestMs: summarize(r.request),
    ...extra,
  };
}

/** Measures every mode at every concurrency on `session` (a decoder; see the module comment). */
export async function runGenerationBench(session: InferenceSession, options: GenerationBenchOptions = {}): Promise<GenerationBenchReport> {
  const o = parseOptions(GenerationBenchOptionsSchema, options, 'generation bench options');
  const io = detectDecoder(session);
  const vocab = io.vocabSize ?? 2;
  const maxBatchSize = o.maxBatchSize ?? Math.max(...o.concurrency);
  const progress = o.onProgress ?? (() => undefined);
  if (o.warmup) {
    progress('warming up');
    const warm = makeRequests(Math.min(4, maxBatchSize), { ...o, newTokens: { min: 4, max: 4 } }, vocab, -1);
    for (const mode of o.modes) await runMode(session, mode, warm, warm.length, maxBatchSize, o);
  }
  const rows: GenerationBenchRow[] = [];
  for (const concurrency of o.concurrency) {
    const requests = makeRequests(concurrency * o.requestsPerClient, o, vocab, concurrency);
    const runs = new Map<GenerationMode, Omit<GenerationBenchRow, 'mode' | 'concurrency' | 'requests'>[]>(o.modes.map((m) => [m, []]));
    for (let k = 0; k < o.repeats; k++) {
      for (let j = 0; j < o.modes.length; j++) {
        const mode = o.modes[(j + k) % o.modes.length]!;
        progress(`${mode}, concurrency ${concurrency}: ${requests.length} requests${o.repeats > 1 ? ` (round ${k + 1} of ${o.repeats})` : ''}`);
        runs.get(mode)!.push(await runMode(session, mode, requests, concurrency, maxBatchSize, o));
      }
    }
    for (const mode of o.modes) {
      const inOrder = runs.get(mode)!;
      const sorted = [...inOrder].sort((a, b) => a.tokensPerSecond - b.tokensPerSecond);
      rows.push({
        mode,
        concurrency,
        requests: requests.length,
        ...sorted[(sorted.length - 1) >> 1]!,
        runsTokensPerSecond: inOrder.map((r) => r.tokensPerSecond),
      });
    }
  }
  return {
    options: {
      concurrency: o.concurrency,
      requestsPerClient: o.requestsPerClient,
      promptLength: o.promptLength,
      newTokens: o.newTokens,
      maxBatchSize,
      seed: o.seed,
      repeats: o.repeats,
    },
    rows,
  };
}

const ms = (v: number): string => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) : 'n/a');

/**
 * The median over rounds of `mode`'s tokens/s divided by `base`'s in the same round: runs of
 * one round are back to back, so a machine that slows down or speeds up between rounds cancels
 * out of each ratio.
 */
export function pairedRatio(
  report: GenerationBenchReport,
  concurrency: number,
  mode: GenerationMode,
  base: GenerationMode,
): { median: number; ratios: number[] } {
  const of = (m: GenerationMode) => report.rows.find((r) => r.mode === m && r.concurrency === concurrency)?.runsTokensPerSecond ?? [];
  const a = of(mode);
  const b = of(base);
  const ratios = a.map((x, i) => x / b[i]!).filter((x) => Number.isFinite(x));
  const sorted = [...ratios].sort((x, y) => x - y);
  const n = sorted.length;
  const median = n === 0 ? Number.NaN : n % 2 === 1 ? sorted[n >> 1]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  return { median, ratios };
}

/** The report as a table (under 100 columns), each mode's tokens/s also as a ratio to the first mode measured. */
export function formatGenerationBench(report: GenerationBenchReport): string {
  const o = report.options;
  const lines = [
    `prompts ${o.promptLength.min}..${o.promptLength.max} tokens, ${o.newTokens.min === o.newTokens.max ? o.newTokens.min : `${o.newTokens.min}..${o.newTokens.max}`} new tokens, ` +
      `${o.requestsPerClient} requests per client, batches of up to ${o.maxBatchSize}, greedy, seed ${o.seed}` +
      (o.repeats > 1 ? `, median of ${o.repeats} interleaved runs` : ''),
  ];
  const head = ['conc', 'mode', 'tokens/s', 'ratio', 'TTFT p50', 'p99', 'ITL p50', 'p99', 'rows/step', 'host/step'];
  const table: string[][] = [head];
  for (const c of o.concurrency) {
    const rows = report.rows.filter((r) => r.concurrency === c);
    const base = rows[0]?.tokensPerSecond ?? NaN;
    for (const r of rows) {
      table.push([
        String(c),
        r.mode,
        r.tokensPerSecond.toFixed(0),
        `${(r.tokensPerSecond / base).toFixed(2)}x`,
        ms(r.ttftMs.median),
        ms(r.ttftMs.p99),
        ms(r.itlMs.median),
        ms(r.itlMs.p99),
        r.meanDecodeRows === null ? `${r.batches} batches` : r.meanDecodeRows.toFixed(1),
        r.hostMsPerStep === null ? '' : `${ms(r.hostMsPerStep)} ms`,
      ]);
    }
  }
  const widths = head.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const [i, row] of table.entries()) {
    lines.push(
      row
        .map((cell, j) => (j <= 1 ? cell.padEnd(widths[j]!) : cell.padStart(widths[j]!)))
        .join('  ')
        .trimEnd(),
    );
    if (i === 0) lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  lines.push('times in ms; ratio: tokens/s against the first mode at the same concurrency');
  return lines.join('\n');
}
