/**
 * `tensorrt-node bench [MODEL.onnx]`: the benchmark suite on the command line, in the spirit
 * of trtexec's performance summary and perf_analyzer's concurrency and request-rate sweeps.
 * Without a model it runs the embedded encoder (--encoder, default "tiny"). Every backend
 * asked for runs side by side; TensorRT where its libraries are absent is skipped with the
 * reason (never a number). Progress goes to stderr (a bar on a terminal, lines otherwise),
 * the report to stdout, and --json/--markdown/--html to files.
 *
 * Exit codes: 0 measured; 1 a configuration served nothing in its window or more of its
 * requests failed than --max-error-rate allows (default 0; see bench/checks.ts): the reports
 * are still written, and the errors are summarised by message; 2 usage or input error, or no
 * backend could run at all (nothing is written then).
 */
import type { Command } from 'commander';
import { basename } from 'node:path';
import cliProgress from 'cli-progress';
import { InvalidArgumentError, describe } from '../errors.js';
import { createEncoderModel, encodeModel, encoderParameterCount, resolveEncoderConfig, type EncoderOptions } from '../onnx/index.js';
import { ENCODER_PRESETS } from '../onnx/encoder.js';
import { writeFileAtomic } from '../files.js';
import { runBench, type BenchModel, type BenchOptions, type BenchProgress, type RateSpec } from '../bench/runner.js';
import { benchHtml, benchJson, benchMarkdown, formatBenchText } from '../bench/report.js';
import type { BenchReport } from '../bench/report-schema.js';
import { benchProblems, DEFAULT_MAX_ERROR_RATE } from '../bench/checks.js';
import { CliExit, EXIT_FAIL, EXIT_USAGE } from './index.js';
import { dimSizesArg, intArg, listArg, numberArg } from './args.js';
import { readOnnxInput } from './input-files.js';

export interface BenchCliOptions {
  encoder?: string;
  backend?: string;
  batcher?: string;
  concurrency?: string;
  rate?: string;
  distribution?: string;
  duration?: string;
  warmup?: string;
  timeLimit?: string;
  batch?: string;
  seq?: string;
  dim?: string[];
  pool?: string;
  seed?: string;
  maxBatch?: string;
  queueDelay?: string;
  buckets?: string;
  maxOutstanding?: string;
  threads?: string;
  fp16?: boolean;
  contexts?: string;
  cudaGraphs?: boolean;
  spinWait?: boolean;
  json?: string;
  markdown?: string;
  html?: string;
  quiet?: boolean;
  maxErrorRate?: string;
}

export function parseConcurrency(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  if (text.trim() === 'none') return [];
  return [...new Set(listArg(text, '--concurrency').map((p) => intArg(p, '--concurrency entries', 1, 4096)!))];
}

/** `100,250.5,50%`: requests/s, or a percentage of the backend's best closed-loop throughput. */
export function parseRates(text: string | undefined): RateSpec[] | undefined {
  if (text === undefined) return undefined;
  if (text.trim() === 'none') return [];
  return listArg(text, '--rate').map((p) => {
    const pct = p.endsWith('%');
    const v = Number(pct ? p.slice(0, -1) : p);
    if (!Number.isFinite(v) || v <= 0 || (pct && v > 1000)) {
      throw new InvalidArgumentError(`--rate entries must be requests/s > 0 or a percentage like 50% (of the best closed-loop throughput), got ${describe(p)}`);
    }
    return pct ? { percent: v } : { rate: v };
  });
}

/** `128` or `32:128` (uniform per request). */
export function parseSeq(text: string | undefined): { min: number; max: number } | undefined {
  if (text === undefined) return undefined;
  const m = /^\s*(\d+)\s*(?::\s*(\d+)\s*)?$/.exec(text);
  const min = m ? Number(m[1]) : NaN;
  const max = m ? Number(m[2] ?? m[1]) : NaN;
  if (!m || min < 1 || max < min || max > 1 << 20) {
    throw new InvalidArgumentError(`--seq must be a length N or a range MIN:MAX with 1 <= MIN <= MAX, got ${describe(text)}`);
  }
  return { min, max };
}

const ENCODER_KEYS: Record<string, keyof EncoderOptions> = {
  layers: 'layers',
  hidden: 'hidden',
  heads: 'heads',
  intermediate: 'intermediate',
  vocab: 'vocabSize',
  'max-positions': 'maxPositions',
  classes: 'classes',
  'type-vocab': 'typeVocabSize',
  seed: 'seed',
  opset: 'opset',
};

/** A preset (`tiny`, `small`, `bert-base`: every one the demo takes), `layers=4,hidden=128`, or `bert-base,layers=2`. */
export function parseEncoderSpec(text: string): EncoderOptions {
  const out: Record<string, unknown> = {};
  for (const part of listArg(text, '--encoder')) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (!Object.prototype.hasOwnProperty.call(ENCODER_PRESETS, part)) {
        throw new InvalidArgumentError(
          `--encoder preset must be one of ${Object.keys(ENCODER_PRESETS).join(', ')}, got ${describe(part)} (sizes go as KEY=VALUE: ${Object.keys(ENCODER_KEYS).join(', ')})`,
        );
      }
      if (out.preset !== undefined) throw new InvalidArgumentError(`--encoder names two presets: ${describe(text)}`);
      out.preset = part;
      continue;
    }
    const key = part.slice(0, eq).trim();
    const option = ENCODER_KEYS[key];
    if (option === undefined) throw new InvalidArgumentError(`--encoder key ${describe(key)} is unknown; keys: ${Object.keys(ENCODER_KEYS).join(', ')}`);
    out[option] = intArg(part.slice(eq + 1), `--encoder ${key}`, 0);
  }
  return out as EncoderOptions;
}

function parseBackends(text: string | undefined): ('onnxruntime' | 'tensorrt')[] | undefined {
  if (text === undefined) return undefined;
  return [
    ...new Set(
      listArg(text, '--backend').map((b) => {
        if (b !== 'onnxruntime' && b !== 'tensorrt') throw new InvalidArgumentError(`--backend entries must be onnxruntime or tensorrt, got ${describe(b)}`);
        return b;
      }),
    ),
  ];
}

/** Turns the command line into runBench options; every check that needs no model is done here. */
export function benchOptionsFromCli(o: BenchCliOptions): BenchOptions {
  const opts: BenchOptions = {};
  const backends = parseBackends(o.backend);
  if (backends) opts.backends = backends;
  if (o.batcher !== undefined) {
    if (o.batcher !== 'on' && o.batcher !== 'off' && o.batcher !== 'both')
      throw new InvalidArgumentError(`--batcher must be on, off or both, got ${describe(o.batcher)}`);
    opts.batcher = o.batcher;
  }
  const concurrency = parseConcurrency(o.concurrency);
  if (concurrency) opts.concurrency = concurrency;
  const rates = parseRates(o.rate);
  if (rates) opts.rates = rates;
  if (o.distribution !== undefined) {
    if (o.distribution !== 'poisson' && o.distribution !== 'constant')
      throw new InvalidArgumentError(`--distribution must be poisson or constant, got ${describe(o.distribution)}`);
    opts.distribution = o.distribution;
  }
  const duration = numberArg(o.duration, '--duration', 0.05, 3600, 'seconds');
  if (duration !== undefined) opts.durationMs = duration * 1000;
  const warmup = numberArg(o.warmup, '--warmup', 0, 600, 'seconds');
  if (warmup !== undefined) opts.warmupMs = warmup * 1000;
  const limit = numberArg(o.timeLimit, '--time-limit', 1, 86400, 'seconds');
  if (limit !== undefined) opts.timeLimitMs = limit * 1000;
  const batch = intArg(o.batch, '--batch', 1, 65536);
  if (batch !== undefined) opts.batch = batch;
  const seq = parseSeq(o.seq);
  if (seq) opts.seq = seq;
  if (o.dim) opts.dims = dimSizesArg(o.dim);
  const pool = intArg(o.pool, '--pool', 1, 100_000);
  if (pool !== undefined) opts.poolSize = pool;
  const seed = intArg(o.seed, '--seed', 0);
  if (seed !== undefined) opts.seed = seed;
  const maxOutstanding = intArg(o.maxOutstanding, '--max-outstanding', 1, 1_000_000);
  if (maxOutstanding !== undefined) opts.maxOutstanding = maxOutstanding;
  const threads = intArg(o.threads, '--threads', 0, 1024);
  if (threads !== undefined) opts.intraOpNumThreads = threads;
  const batcherOptions: Record<string, unknown> = {};
  const maxBatch = intArg(o.maxBatch, '--max-batch', 1, 1 << 20);
  if (maxBatch !== undefined) batcherOptions.maxBatchSize = maxBatch;
  else if (batch !== undefined && batch > 32) batcherOptions.maxBatchSize = batch;
  const delay = numberArg(o.queueDelay, '--queue-delay', 0, 60_000, 'milliseconds');
  if (delay !== undefined) batcherOptions.maxQueueDelayMs = delay;
  if (o.buckets !== undefined) batcherOptions.buckets = listArg(o.buckets, '--buckets').map((b) => intArg(b, '--buckets entries', 1)!);
  if (maxBatch !== undefined && batch !== undefined && batch > maxBatch) {
    throw new InvalidArgumentError(`--batch ${batch} rows per request do not fit the batcher's --max-batch ${maxBatch}`);
  }
  if (seq && o.buckets !== undefined) {
    const top = Math.max(...(batcherOptions.buckets as number[]));
    if (top < seq.max) throw new InvalidArgumentError(`--buckets must reach the longest sequence (--seq max ${seq.max}); the largest bucket is ${top}`);
  }
  opts.batcherOptions = batcherOptions;
  const contexts = intArg(o.contexts, '--contexts', 1, 64);
  opts.tensorrt = {
    precision: o.fp16 ? 'fp16' : 'fp32',
    cudaGraphs: o.cudaGraphs !== false,
    spinWait: o.spinWait === true,
    ...(contexts !== undefined ? { contexts } : {}),
  };
  return opts;
}

async function loadBenchModel(model: string | undefined, encoder: string | undefined): Promise<BenchModel> {
  if (model !== undefined && encoder !== undefined) throw new InvalidArgumentError('give a model file or --encoder, not both');
  if (model !== undefined) {
    const proto = await readOnnxInput(model, 'model');
    return { source: model, proto, label: basename(model) };
  }
  const options = parseEncoderSpec(encoder ?? 'tiny');
  const cfg = resolveEncoderConfig(options);
  const proto = createEncoderModel(options);
  const preset = options.preset ?? 'tiny';
  const custom = Object.keys(options).some((k) => k !== 'preset');
  return {
    source: encodeModel(proto),
    proto,
    label:
      `embedded encoder ${custom ? `${JSON.stringify(encoder)}` : `"${preset}"`} (${cfg.layers} layers, hidden ${cfg.hidden}, ${cfg.heads} heads, ` +
      `${(encoderParameterCount(cfg) / 1e6).toFixed(2)}M parameters, seed ${cfg.seed})`,
  };
}

/** Progress on stderr: a bar with an ETA on a terminal, one line per point otherwise. */
class Progress {
  readonly #tty: boolean;
  readonly #quiet: boolean;
  #bar: cliProgress.SingleBar | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #doneMs = 0;
  #pointStart = 0;
  #pointMs = 0;
  #label = '';
  readonly #held: string[] = [];

  constructor(quiet: boolean) {
    this.#quiet = quiet;
    this.#tty = process.stderr.isTTY === true;
  }

  #line(text: string): void {
    if (this.#quiet) return;
    if (this.#bar) this.#held.push(text);
    else process.stderr.write(`${text}\n`);
  }

  handle = (e: BenchProgress): void => {
    switch (e.kind) {
      case 'plan':
        this.#line(`[bench] ${e.points} configuration(s), about ${Math.ceil(e.estimateMs / 1000)} s of measurement`);
        if (this.#tty && !this.#quiet) {
          this.#bar = new cliProgress.SingleBar(
            // The total is the planned measurement time, so what is left is known: no ETA guess.
            { stream: process.stderr, format: '[bench] {bar} {percentage}% | about {left} s left | {label}', hideCursor: true, clearOnComplete: true },
            cliProgress.Presets.shades_classic,
          );
          this.#bar.start(Math.max(1, e.estimateMs), 0, { label: 'starting', left: Math.ceil(e.estimateMs / 1000) });
          this.#timer = setInterval(() => this.#tick(), 250);
          this.#timer.unref();
        }
        break;
      case 'setup':
        this.#line(`[bench] ${e.message}`);
        this.#bar?.update({ label: e.message });
        break;
      case 'note':
        this.#line(`[bench] note: ${e.message}`);
        break;
      case 'point':
        this.#pointStart = performance.now();
        this.#pointMs = e.ms;
        this.#label = `${e.index}/${e.points} ${e.label}`;
        if (!this.#bar) this.#line(`[bench ${e.index}/${e.points}] ${e.label}`);
        this.#tick();
        break;
      case 'point-done':
        this.#doneMs += e.record ? this.#pointMs : 0;
        this.#pointMs = 0;
        if (!this.#bar && e.record) {
          const r = e.record;
          this.#line(
            `[bench ${e.index}/${e.points}]   ${r.throughput.toFixed(1)} inferences/s, p50 ${r.p50?.toFixed(3) ?? 'n/a'} ms, p99 ${r.p99?.toFixed(3) ?? 'n/a'} ms, errors ${r.errors}`,
          );
        }
        this.#tick();
        break;
    }
  };

  #tick(): void {
    if (!this.#bar) return;
    const inPoint = this.#pointMs > 0 ? Math.min(this.#pointMs, performance.now() - this.#pointStart) : 0;
    const total = this.#bar.getTotal();
    const value = Math.min(total, this.#doneMs + inPoint);
    this.#bar.update(value, { label: this.#label, left: Math.ceil((total - value) / 1000) });
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#bar) {
      this.#bar.stop();
      this.#bar = undefined;
    }
    for (const l of this.#held.splice(0)) process.stderr.write(`${l}\n`);
  }
}

export async function runBenchCli(model: string | undefined, o: BenchCliOptions, argv: readonly string[]): Promise<BenchReport> {
  const options = benchOptionsFromCli(o);
  const maxErrorRate = numberArg(o.maxErrorRate, '--max-error-rate', 0, 1, 'a fraction of the requests') ?? DEFAULT_MAX_ERROR_RATE;
  const benchModel = await loadBenchModel(model, o.encoder);
  const progress = new Progress(o.quiet === true);
  let report: BenchReport;
  try {
    report = await runBench(benchModel, { ...options, command: `tensorrt-node ${argv.join(' ')}`.trim(), onProgress: progress.handle });
  } finally {
    progress.stop();
  }
  if (report.records.length === 0 && report.skipped.length === report.settings.backends.length) {
    throw new CliExit(EXIT_USAGE, `error: no backend could run, nothing measured:\n${report.skipped.map((s) => `  ${s.backend}: ${s.reason}`).join('\n')}`);
  }
  if (o.json !== undefined) await writeFileAtomic(o.json, benchJson(report));
  if (o.markdown !== undefined) await writeFileAtomic(o.markdown, benchMarkdown(report));
  if (o.html !== undefined) await writeFileAtomic(o.html, benchHtml(report));
  process.stdout.write(`${formatBenchText(report)}\n`);
  const problems = benchProblems(report, maxErrorRate);
  if (problems.length > 0) {
    throw new CliExit(
      EXIT_FAIL,
      `error: ${problems.length} of ${report.records.length} configuration(s) failed (exit 1):\n${problems.map((p) => `  ${p.configuration}: ${p.reason}`).join('\n')}`,
    );
  }
  return report;
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description(
      'measure throughput and latency (trtexec-style summary) with closed-loop concurrency sweeps and open-loop Poisson rates, ' +
        'direct session.run() against the DynamicBatcher, on every available backend side by side',
    )
    .argument('[model]', 'ONNX model; without it the embedded encoder (--encoder)')
    .option(
      '--encoder <spec>',
      `embedded encoder: ${Object.keys(ENCODER_PRESETS).join(' | ')} (default tiny), optionally with KEY=VALUE sizes: layers, hidden, heads, intermediate, vocab, max-positions, classes, type-vocab, seed`,
    )
    .option(
      '--backend <list>',
      'backends, comma-separated: onnxruntime,tensorrt (default both; tensorrt is skipped with the reason where its libraries are absent)',
    )
    .option('--batcher <mode>', 'on | off | both (default both): requests through a DynamicBatcher, straight to session.run(), or each')
    .option('--concurrency <list>', 'closed-loop sweep: requests kept outstanding, e.g. 1,8,32 (default 1,8,32; none to skip)')
    .option('--rate <list>', 'open-loop rates: requests/s, or N% of the best closed-loop throughput of the backend (default 50%,90%; none to skip)')
    .option('--distribution <d>', 'open-loop arrivals: poisson (default) | constant')
    .option('--duration <s>', 'measurement window per configuration, seconds (default 2)')
    .option('--warmup <s>', 'warm-up before each window, seconds, not measured (default 0.5)')
    .option('--time-limit <s>', 'stop adding configurations after this many seconds in all (default 300)')
    .option('--batch <n>', 'rows per request (default 1)')
    .option('--seq <n|min:max>', 'sequence length, or a range drawn uniformly per request (default 128)')
    .option('--dim <dims...>', 'size of other symbolic dims: SYMBOL:SIZE')
    .option('--pool <n>', 'distinct requests generated and cycled through (default 128)')
    .option('--seed <n>', 'seed of the requests and of the arrival schedule (default 1)')
    .option('--max-batch <n>', 'batcher maxBatchSize (default 32)')
    .option('--queue-delay <ms>', 'batcher maxQueueDelayMs (default 0)')
    .option('--buckets <list>', 'batcher sequence-length buckets, e.g. 32,64,128')
    .option('--max-outstanding <n>', 'open loop: most requests out at once; later arrivals are dropped and counted (default 512)')
    .option('--threads <n>', 'ONNX Runtime intra-op threads per session (default in worker threads: max(1, floor(min(cores - 1, physical cores) / contexts)))')
    .option('--fp16', 'TensorRT: build an FP16 engine (ONNX Runtime still runs FP32)')
    .option('--contexts <n>', 'TensorRT execution contexts (default 2)')
    .option('--cuda-graphs', 'TensorRT: capture and replay CUDA graphs per input shape (the default)')
    .option('--no-cuda-graphs', 'TensorRT: no CUDA graphs, a plain enqueueV3 on every run')
    .option('--spin-wait', 'TensorRT: the completion thread spin-waits (200 us) before it blocks (lower latency, a busy core)')
    .option('--json <file>', 'write one record per configuration as JSON')
    .option('--markdown <file>', 'write the tables as markdown')
    .option('--html <file>', 'write a self-contained HTML page with latency-vs-throughput charts')
    .option('--quiet', 'no progress on stderr')
    .option(
      '--max-error-rate <fraction>',
      "exit 1 when more than this fraction of a configuration's requests fail (default 0: any failed request; a configuration that serves nothing always fails)",
    )
    .action(async (model: string | undefined, opts: BenchCliOptions, cmd: Command) => {
      // commander keeps the argv it parsed (untyped); it goes into the report as the command.
      const raw = (cmd.parent as unknown as { rawArgs?: string[] } | null)?.rawArgs?.slice(2) ?? ['bench'];
      await runBenchCli(model, opts, raw);
    });
}
