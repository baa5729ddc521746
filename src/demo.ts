/**
 * The demo, the README's main job: on the embedded encoder, with the best backend this
 * machine has, it converts the model to FP16, checks the conversion's accuracy against FP32,
 * serves a burst of concurrent requests of mixed lengths through the DynamicBatcher (and the
 * same requests directly, for comparison); then, on the embedded decoder, it generates text
 * for a burst of prompts one at a time and with the Generator's continuous batching, checks
 * that both give the same tokens, and returns one summary.
 */
import { z } from 'zod';
import { compare } from './accuracy/compare.js';
import { DynamicBatcher } from './batching/batcher.js';
import { requireTensorRT } from './backends/tensorrt-libs.js';
import { convertToFloat16 } from './fp16/convert.js';
import { createEncoderModel, encoderParameterCount, resolveEncoderConfig, type EncoderOptions } from './onnx/encoder.js';
import { encodeModel } from './onnx/model.js';
import { parseOptions } from './options.js';
import { InvalidArgumentError } from './errors.js';
import { createSession, type InferenceSession, type Outputs } from './session.js';
import { Tensor } from './tensor.js';
import { Random } from './random.js';
import { percentile as percentileOf } from './bench/stats.js';
import { Generator, type GenerationStream } from './generation/index.js';
import { createDecoderModel, decoderParameterCount, resolveDecoderConfig } from './onnx/decoder.js';

export const DemoOptionsSchema = z
  .object({
    /** Encoder size: a preset name or explicit options (see createEncoderModel). */
    encoder: z.union([z.enum(['tiny', 'small', 'bert-base']), z.record(z.string(), z.unknown())]).default('small'),
    /** Requests in the burst. */
    requests: z.number().int().min(1).max(100_000).default(256),
    /** Token lengths of the requests, uniformly drawn from [min, max]. */
    minSeq: z.number().int().min(1).max(512).default(8),
    maxSeq: z.number().int().min(1).max(512).default(128),
    maxBatchSize: z.number().int().min(1).max(1024).default(32),
    maxQueueDelayMs: z.number().min(0).max(1000).default(2),
    /** 'auto': TensorRT when found, else ONNX Runtime. */
    backend: z.enum(['auto', 'onnxruntime', 'tensorrt']).default('auto'),
    seed: z.number().int().min(0).default(7),
    /** Tolerances of the FP16-vs-FP32 check (see the README for why 1e-2). */
    atol: z.number().min(0).default(1e-2),
    rtol: z.number().min(0).default(1e-2),
    /** The embedded decoder preset of the generation part, or 'none' to skip it. */
    decoder: z.enum(['tiny', 'small', 'gpt2', 'none']).default('tiny'),
    /** Prompts in the generation burst (lengths 1..40 tokens). */
    generations: z.number().int().min(1).max(4096).default(16),
    /** New tokens per prompt: uniformly drawn from 8..maxNewTokens. */
    maxNewTokens: z.number().int().min(8).max(512).default(32),
    onStep: z.custom<(message: string) => void>((v) => v === undefined || typeof v === 'function').optional(),
  })
  .strict()
  .refine((o) => o.minSeq <= o.maxSeq, { message: 'minSeq must be <= maxSeq', path: ['minSeq'] });

export type DemoOptions = z.input<typeof DemoOptionsSchema>;

const SMALL: EncoderOptions = { layers: 4, hidden: 256, heads: 4, intermediate: 1024 };

export interface ServingFigures {
  requests: number;
  wallMs: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  meanBatchSize: number;
  paddingRatio: number;
}

export interface DemoSummary {
  backend: { name: 'onnxruntime' | 'tensorrt'; reason: string; servedPrecision: 'fp32' | 'fp16' };
  model: { layers: number; hidden: number; heads: number; parameters: number; bytesFp32: number };
  fp16: { convertedNodes: number; keptFp32: number; bytesBefore: number; bytesAfter: number; castsAdded: number };
  accuracy: {
    passed: boolean;
    atol: number;
    rtol: number;
    outputs: { name: string; maxAbsError: number; meanAbsError: number; cosineSimilarity: number; top1Agreement: number | null; passed: boolean }[];
  };
  batcher: ServingFigures;
  direct: ServingFigures;
  /** Absent with decoder: 'none'. */
  generation?: GenerationSummary;
  totalMs: number;
}

export interface GenerationFigures {
  tokens: number;
  wallMs: number;
  tokensPerSecond: number;
  ttftP50Ms: number;
  itlP50Ms: number;
}

export interface GenerationSummary {
  /** Generation runs on ONNX Runtime (a TensorRT decoder engine needs profiles over the past length; not built yet). */
  backend: 'onnxruntime';
  model: { preset: string; layers: number; hidden: number; vocabSize: number; parameters: number };
  prompts: number;
  newTokens: { min: number; max: number };
  oneAtATime: GenerationFigures;
  continuous: GenerationFigures & { meanBatch: number };
  /** Prompts whose tokens were the same both ways (greedy decoding). */
  identical: number;
}

/** The project's one percentile definition (bench/stats.ts), q in [0, 1]; 0 for no samples. */
function percentile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? 0 : percentileOf(sorted, q * 100);
}

/** Seeded requests of one row each: token ids in [1, vocab) and a full attention mask. */
function makeRequests(n: number, minSeq: number, maxSeq: number, vocab: number, seed: number): Record<string, Tensor>[] {
  const rng = new Random(seed);
  return Array.from({ length: n }, () => {
    const seq = rng.nextInt(minSeq, maxSeq + 1);
    const ids = new BigInt64Array(seq);
    for (let i = 0; i < seq; i++) ids[i] = BigInt(rng.nextInt(1, vocab));
    return {
      input_ids: new Tensor('int64', ids, [1, seq]),
      attention_mask: new Tensor('int64', new BigInt64Array(seq).fill(1n), [1, seq]),
    };
  });
}

async function serve(
  run: (feeds: Record<string, Tensor>) => Promise<Outputs>,
  requests: Record<string, Tensor>[],
  concurrent: boolean,
): Promise<{ wallMs: number; latencies: number[] }> {
  const latencies: number[] = [];
  const t0 = performance.now();
  const one = async (feeds: Record<string, Tensor>): Promise<void> => {
    const s = performance.now();
    await run(feeds);
    latencies.push(performance.now() - s);
  };
  if (concurrent) await Promise.all(requests.map(one));
  else for (const r of requests) await one(r);
  return { wallMs: performance.now() - t0, latencies: latencies.sort((a, b) => a - b) };
}

function figures(n: number, r: { wallMs: number; latencies: number[] }, meanBatchSize: number, paddingRatio: number): ServingFigures {
  return {
    requests: n,
    wallMs: r.wallMs,
    throughput: n / (r.wallMs / 1000),
    p50Ms: percentile(r.latencies, 0.5),
    p99Ms: percentile(r.latencies, 0.99),
    meanBatchSize,
    paddingRatio,
  };
}

export async function runDemo(options: DemoOptions = {}): Promise<DemoSummary> {
  const o = parseOptions(DemoOptionsSchema, options, 'demo options');
  const step = o.onStep ?? (() => undefined);
  const t0 = performance.now();

  const encoderOptions: EncoderOptions = o.encoder === 'small' ? SMALL : typeof o.encoder === 'string' ? { preset: o.encoder } : (o.encoder as EncoderOptions);
  const cfg = resolveEncoderConfig(encoderOptions);
  if (o.maxSeq > cfg.maxPositions) {
    throw new InvalidArgumentError(`maxSeq ${o.maxSeq} exceeds the encoder's ${cfg.maxPositions} positions`);
  }
  step(`building the embedded encoder (${cfg.layers} layers, hidden ${cfg.hidden})`);
  const fp32 = createEncoderModel(encoderOptions);
  const fp32Bytes = encodeModel(fp32);

  step('converting to FP16 (mixed precision)');
  const { model: fp16, report } = await convertToFloat16(fp32);
  const fp16Bytes = encodeModel(fp16);

  // Backend: TensorRT when its libraries load, else ONNX Runtime, saying why.
  let backend: 'onnxruntime' | 'tensorrt';
  let reason: string;
  if (o.backend === 'onnxruntime') {
    backend = 'onnxruntime';
    reason = 'chosen with --backend onnxruntime';
  } else {
    try {
      const trt = requireTensorRT();
      backend = 'tensorrt';
      reason = `TensorRT ${trt.version} found at ${trt.libraryPath}`;
    } catch (e) {
      if (o.backend === 'tensorrt') throw e;
      backend = 'onnxruntime';
      reason = `TensorRT not available (${(e as { code?: string }).code ?? 'error'}: ${shortReason((e as Error).message)}), so ONNX Runtime's CPU provider`;
    }
  }

  let ref: InferenceSession;
  let half: InferenceSession;
  let served: InferenceSession;
  let servedPrecision: 'fp32' | 'fp16';
  if (backend === 'tensorrt') {
    const { buildEngine } = await import('./build/build-engine.js');
    const dims = { batch: { min: 1, opt: o.maxBatchSize, max: o.maxBatchSize }, sequence: { min: 1, opt: o.maxSeq, max: o.maxSeq } };
    step('building TensorRT engines (FP32 and FP16)');
    const e32 = await buildEngine(fp32Bytes, { precision: 'fp32', dims });
    const e16 = await buildEngine(fp32Bytes, { precision: 'fp16', dims });
    ref = await createSession(e32.plan, { backend: 'tensorrt' });
    half = await createSession(e16.plan, { backend: 'tensorrt' });
    served = half;
    servedPrecision = 'fp16';
  } else {
    ref = await createSession(fp32Bytes, { backend: 'onnxruntime' });
    half = await createSession(fp16Bytes, { backend: 'onnxruntime' });
    // ONNX Runtime's CPU provider has no FP16 arithmetic (it casts around FP16 nodes), so
    // FP32 serves faster there; the FP16 model is still checked for accuracy.
    served = ref;
    servedPrecision = 'fp32';
  }

  try {
    step('checking FP16 against FP32 (accuracy harness)');
    const acc = await compare(half, ref, {
      atol: o.atol,
      rtol: o.rtol,
      generate: { seed: o.seed, batch: 4, seq: Math.min(o.maxSeq, 64), iterations: 2 },
      labels: { a: 'fp16', b: 'fp32' },
    });

    const requests = makeRequests(o.requests, o.minSeq, o.maxSeq, cfg.vocabSize, o.seed);
    step(`serving a burst of ${o.requests} requests with direct session.run() calls`);
    const direct = await serve((f) => served.run(f), requests, true);

    step(`serving the same burst through the DynamicBatcher`);
    // Length buckets keep short requests out of long requests' batches (less padding).
    const buckets = [16, 32, 64, 128, 256, 512].filter((b) => b < o.maxSeq).concat(o.maxSeq);
    const batcher = new DynamicBatcher(served, { maxBatchSize: o.maxBatchSize, maxQueueDelayMs: o.maxQueueDelayMs, buckets });
    const batched = await serve((f) => batcher.run(f), requests, true);
    const stats = batcher.stats();
    await batcher.close({ drain: true });

    return {
      backend: { name: backend, reason, servedPrecision },
      model: {
        layers: cfg.layers,
        hidden: cfg.hidden,
        heads: cfg.heads,
        parameters: encoderParameterCount(cfg),
        bytesFp32: fp32Bytes.byteLength,
      },
      fp16: {
        convertedNodes: Object.values(report.convertedNodes).reduce((a, b) => a + b, 0),
        keptFp32: report.keptFp32.length,
        bytesBefore: report.bytesBefore,
        bytesAfter: report.bytesAfter,
        castsAdded: report.castsAdded,
      },
      accuracy: {
        passed: acc.passed,
        atol: o.atol,
        rtol: o.rtol,
        outputs: acc.outputs.map((r) => ({
          name: r.name,
          maxAbsError: r.maxAbsError ?? NaN,
          meanAbsError: r.meanAbsError ?? NaN,
          cosineSimilarity: r.cosineSimilarity ?? NaN,
          top1Agreement: r.topK ? r.topK.top1Agreement : null,
          passed: r.passed,
        })),
      },
      batcher: figures(o.requests, batched, stats.batches.meanSize, stats.padding.ratio),
      direct: figures(o.requests, direct, 1, 0),
      ...(o.decoder === 'none' ? {} : { generation: await demoGeneration(o.decoder, o.generations, o.maxNewTokens, o.seed, step) }),
      totalMs: performance.now() - t0,
    };
  } finally {
    await Promise.all([ref.dispose(), half.dispose()]);
  }
}

/** Consumes a stream, noting when each token came. */
async function timed(stream: GenerationStream, start: number, ttft: number[], itl: number[]): Promise<number[]> {
  const tokens: number[] = [];
  let prev = start;
  for await (const t of stream) {
    const now = performance.now();
    (tokens.length === 0 ? ttft : itl).push(now - prev);
    prev = now;
    tokens.push(t);
  }
  return tokens;
}

function generationFigures(tokens: number, wallMs: number, ttft: number[], itl: number[]): GenerationFigures {
  return {
    tokens,
    wallMs,
    tokensPerSecond: tokens / (wallMs / 1000),
    ttftP50Ms: percentile(
      ttft.sort((a, b) => a - b),
      0.5,
    ),
    itlP50Ms: percentile(
      itl.sort((a, b) => a - b),
      0.5,
    ),
  };
}

/** A burst of prompts through the embedded decoder: one at a time, then continuously batched. */
async function demoGeneration(
  preset: 'tiny' | 'small' | 'gpt2',
  n: number,
  maxNewTokens: number,
  seed: number,
  step: (message: string) => void,
): Promise<GenerationSummary> {
  const cfg = resolveDecoderConfig({ preset });
  step(`building the embedded decoder (${cfg.layers} layers, hidden ${cfg.hidden}) for generation on ONNX Runtime`);
  const session = await createSession(encodeModel(createDecoderModel({ preset })), { backend: 'onnxruntime' });
  try {
    const rng = Random.forStream(seed, 'demo-generation');
    const prompts = Array.from({ length: n }, () => Array.from({ length: rng.nextInt(1, 41) }, () => rng.nextInt(1, cfg.vocabSize)));
    const lengths = prompts.map(() => rng.nextInt(8, maxNewTokens + 1));

    step(`generating for ${n} prompts one at a time`);
    const alone = new Generator(session, { maxBatchSize: 1, metrics: false });
    const ttft1: number[] = [];
    const itl1: number[] = [];
    const t1 = performance.now();
    const first: number[][] = [];
    // All prompts arrive at once in both runs: time to first token counts from the burst's start.
    for (let i = 0; i < n; i++) first.push(await timed(alone.stream(prompts[i]!, { maxNewTokens: lengths[i] }), t1, ttft1, itl1));
    const wall1 = performance.now() - t1;
    await alone.close();

    step(`generating for the same ${n} prompts at once, continuously batched`);
    const gen = new Generator(session, { maxBatchSize: n, metrics: false });
    const ttft2: number[] = [];
    const itl2: number[] = [];
    const t2 = performance.now();
    const batched = await Promise.all(prompts.map((p, i) => timed(gen.stream(p, { maxNewTokens: lengths[i] }), t2, ttft2, itl2)));
    const wall2 = performance.now() - t2;
    const stats = gen.stats();
    await gen.close();

    const total = lengths.reduce((a, b) => a + b, 0);
    return {
      backend: 'onnxruntime',
      model: { preset, layers: cfg.layers, hidden: cfg.hidden, vocabSize: cfg.vocabSize, parameters: decoderParameterCount(cfg) },
      prompts: n,
      newTokens: { min: 8, max: maxNewTokens },
      oneAtATime: generationFigures(total, wall1, ttft1, itl1),
      continuous: { ...generationFigures(total, wall2, ttft2, itl2), meanBatch: stats.steps.meanDecodeRows },
      identical: batched.filter((t, i) => t.length === first[i]!.length && t.every((x, j) => x === first[i]![j])).length,
    };
  } finally {
    await session.dispose();
  }
}

/** The first clause of a TensorRT-not-found message, which can run to many lines. */
function shortReason(message: string): string {
  if (/built without TensorRT headers/.test(message)) return 'this build of the addon has no TensorRT support';
  const notFound = /(libnvinfer\.so\.\d+) was not found/.exec(message);
  if (notFound) return `${notFound[1]} was not found`;
  return message.split(/[;\n]/)[0]!.slice(0, 120);
}

/** Wraps `text` at spaces into lines of at most `width` characters (a longer word stays whole). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line === '') line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  lines.push(line);
  return lines;
}

/** The widest line formatDemo writes. */
export const DEMO_TABLE_WIDTH = 100;

/** The summary as one table, at most DEMO_TABLE_WIDTH columns wide (long values wrap). */
export function formatDemo(s: DemoSummary): string {
  const rows: [string, string][] = [];
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  rows.push(['backend', `${s.backend.name} (${s.backend.reason})`]);
  rows.push([
    'encoder',
    `embedded BERT-style encoder: ${s.model.layers} layers, hidden ${s.model.hidden}, ${s.model.heads} heads, ${(s.model.parameters / 1e6).toFixed(1)}M parameters, ${mib(s.model.bytesFp32)}`,
  ]);
  rows.push([
    'FP16 conversion',
    `${s.fp16.convertedNodes} nodes to FP16, ${s.fp16.keptFp32} kept FP32, ${s.fp16.castsAdded} casts; weights ${mib(s.fp16.bytesBefore)} -> ${mib(s.fp16.bytesAfter)}`,
  ]);
  for (const out of s.accuracy.outputs) {
    const top1 = out.top1Agreement === null ? '' : `, top-1 agreement ${(out.top1Agreement * 100).toFixed(1)}%`;
    rows.push([
      `FP16 vs FP32: ${out.name}`,
      `${out.passed ? 'pass' : 'FAIL'}: max abs ${out.maxAbsError.toExponential(2)}, mean abs ${out.meanAbsError.toExponential(2)}, cosine ${out.cosineSimilarity.toFixed(6)}${top1}`,
    ]);
  }
  rows.push(['accuracy check', `${s.accuracy.passed ? 'passed' : 'FAILED'} at atol ${s.accuracy.atol}, rtol ${s.accuracy.rtol} (Polygraphy's elemwise rule)`]);
  const serving = (f: ServingFigures, extra: string) => `${f.throughput.toFixed(0)} req/s, p50 ${f.p50Ms.toFixed(1)} ms, p99 ${f.p99Ms.toFixed(1)} ms${extra}`;
  rows.push([`${s.direct.requests} requests, direct (${s.backend.servedPrecision})`, serving(s.direct, '')]);
  rows.push([
    `the same, DynamicBatcher`,
    serving(s.batcher, `, mean batch ${s.batcher.meanBatchSize.toFixed(1)}, padding ${(s.batcher.paddingRatio * 100).toFixed(0)}% of real tokens`),
  ]);
  rows.push([
    'batcher vs direct',
    `throughput x${(s.batcher.throughput / s.direct.throughput).toFixed(2)}, p50 ${s.batcher.p50Ms.toFixed(1)} ms vs ${s.direct.p50Ms.toFixed(1)} ms` +
      (s.backend.name === 'onnxruntime'
        ? ' (on a CPU, batching saves little compute and padding costs some; on a GPU a batch of 32 costs about what one request does)'
        : ''),
  ]);
  const g = s.generation;
  if (g) {
    rows.push([
      'decoder',
      `embedded GPT-2-style decoder "${g.model.preset}": ${g.model.layers} layers, hidden ${g.model.hidden}, vocabulary ${g.model.vocabSize}, ` +
        `${(g.model.parameters / 1e6).toFixed(1)}M parameters, on ${g.backend}`,
    ]);
    const gen = (f: GenerationFigures, extra: string) =>
      `${f.tokensPerSecond.toFixed(0)} tokens/s, first token after p50 ${f.ttftP50Ms.toFixed(1)} ms, between tokens p50 ${f.itlP50Ms.toFixed(2)} ms${extra}`;
    rows.push([`${g.prompts} prompts at once, one by one`, gen(g.oneAtATime, `; ${g.oneAtATime.tokens} tokens (${g.newTokens.min}..${g.newTokens.max} each)`)]);
    rows.push(['the same, continuously batched', gen(g.continuous, `; mean batch ${g.continuous.meanBatch.toFixed(1)}`)]);
    rows.push([
      'continuous vs one by one',
      `tokens/s x${(g.continuous.tokensPerSecond / g.oneAtATime.tokensPerSecond).toFixed(2)}; greedy tokens identical for ${g.identical} of ${g.prompts} prompts`,
    ]);
  }
  rows.push(['total time', `${(s.totalMs / 1000).toFixed(1)} s`]);
  const w = Math.max(...rows.map((r) => r[0].length));
  const valueWidth = DEMO_TABLE_WIDTH - w - 4;
  const line = '-'.repeat(w + 2) + '+' + '-'.repeat(valueWidth + 1);
  const out = [line];
  for (const [k, v] of rows) {
    wrap(v, valueWidth).forEach((part, i) => out.push(` ${(i === 0 ? k : '').padEnd(w)} | ${part}`.trimEnd()));
  }
  out.push(line);
  return out.join('\n');
}
