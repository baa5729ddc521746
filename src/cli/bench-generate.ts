/**
 * `tensorrt-node bench-generate [MODEL.onnx]`: text generation served one request at a time, in
 * static batches and with continuous batching, side by side, against concurrency (tokens/s,
 * time to first token, inter-token latency). Without a model it runs the embedded decoder
 * (--decoder, default "small"); a model must be a decoder with a KV cache in Hugging Face
 * Optimum's convention (e.g. its decoder_model_merged.onnx or decoder_with_past_model.onnx).
 * ONNX Runtime only for now (a TensorRT decoder engine needs profiles over the past length).
 *
 * Exit codes: 0 measured, 2 usage or input error.
 */
import { Option, type Command } from 'commander';
import { writeFileAtomic } from '../files.js';
import { InvalidArgumentError, describe } from '../errors.js';
import { formatGenerationBench, runGenerationBench, GENERATION_MODES, type GenerationMode } from '../generation/bench.js';
import { createDecoderModel, decoderParameterCount, resolveDecoderConfig, type DecoderPreset } from '../onnx/decoder.js';
import { encodeModel } from '../onnx/model.js';
import { createSession } from '../session.js';
import { intArg, listArg, numberArg } from './args.js';

function rangeArg(text: string, option: string): { min: number; max: number } {
  const m = /^\s*(\d+)\s*(?::\s*(\d+)\s*)?$/.exec(text);
  const min = m ? Number(m[1]) : NaN;
  const max = m ? Number(m[2] ?? m[1]) : NaN;
  if (!m || min < 1 || max < min || max > 1 << 20) {
    throw new InvalidArgumentError(`${option} must be N or MIN:MAX with 1 <= MIN <= MAX, got ${describe(text)}`);
  }
  return { min, max };
}

interface Options {
  decoder: DecoderPreset;
  concurrency: string;
  requestsPerClient: string;
  prompt: string;
  newTokens: string;
  modes: string;
  maxBatchSize?: string;
  maxBatchTokens?: string;
  maxQueueDelay?: string;
  threads?: string;
  seed: string;
  repeats: string;
  json?: string;
  quiet?: boolean;
}

export function registerBenchGenerate(program: Command): void {
  program
    .command('bench-generate')
    .description('text generation: one at a time vs static batches vs continuous batching, against concurrency')
    .argument('[model]', 'an ONNX decoder with a KV cache (default: the embedded decoder)')
    .addOption(new Option('--decoder <preset>', 'embedded decoder size (without MODEL)').choices(['tiny', 'small', 'gpt2']).default('small'))
    .option('--concurrency <list>', 'closed-loop clients, e.g. 1,4,16', '1,4,16')
    .option('--requests-per-client <n>', 'requests each client sends', '2')
    .option('--prompt <n|min:max>', 'prompt lengths in tokens', '1:40')
    .option('--new-tokens <n|min:max>', 'new tokens per request', '32')
    .option('--modes <list>', `which of ${GENERATION_MODES.join(',')}`, GENERATION_MODES.join(','))
    .option('--max-batch-size <n>', 'rows of a static and of the continuous batch (default: the largest concurrency)')
    .option('--max-batch-tokens <n>', "continuous batching's per-step token budget")
    .option('--max-queue-delay <ms>', "continuous batching's maxQueueDelayMs (newcomers wait this long to be prefilled together)")
    .option('--threads <n>', "ONNX Runtime's intra-op threads (default: its own choice)")
    .option('--seed <n>', 'seed of the prompts', '1')
    .option('--repeats <n>', 'interleaved runs of every mode (each reports its median)', '1')
    .option('--json <file>', 'write the report as JSON')
    .option('--quiet', 'no progress lines')
    .action(async (model: string | undefined, opts: Options) => {
      const concurrency = [...new Set(listArg(opts.concurrency, '--concurrency').map((c) => intArg(c, '--concurrency entries', 1, 4096)!))];
      const modes = listArg(opts.modes, '--modes');
      for (const m of modes) {
        if (!(GENERATION_MODES as readonly string[]).includes(m)) {
          throw new InvalidArgumentError(`--modes: unknown mode ${JSON.stringify(m)}; the modes are ${GENERATION_MODES.join(', ')}`);
        }
      }
      const requestsPerClient = intArg(opts.requestsPerClient, '--requests-per-client', 1, 100_000)!;
      const promptLength = rangeArg(opts.prompt, '--prompt');
      const newTokens = rangeArg(opts.newTokens, '--new-tokens');
      const maxBatchSize = intArg(opts.maxBatchSize, '--max-batch-size', 1, 4096);
      const maxBatchTokens = intArg(opts.maxBatchTokens, '--max-batch-tokens', 1);
      const maxQueueDelayMs = numberArg(opts.maxQueueDelay, '--max-queue-delay', 0, 60_000, 'milliseconds');
      const threads = intArg(opts.threads, '--threads', 1, 1024);
      const seed = intArg(opts.seed, '--seed', 0, 2 ** 32 - 1)!;
      const repeats = intArg(opts.repeats, '--repeats', 1, 100)!;
      const progress = opts.quiet ? undefined : (m: string) => process.stderr.write(`- ${m}\n`);

      let source: string | Uint8Array;
      let what: string;
      if (model === undefined) {
        const cfg = resolveDecoderConfig({ preset: opts.decoder });
        if (promptLength.max + newTokens.max > cfg.maxPositions) {
          throw new InvalidArgumentError(
            `--prompt and --new-tokens reach ${promptLength.max + newTokens.max} positions; the embedded decoder has ${cfg.maxPositions}`,
          );
        }
        source = encodeModel(createDecoderModel({ preset: opts.decoder }));
        what = `embedded decoder "${opts.decoder}" (${cfg.layers} layers, hidden ${cfg.hidden}, vocabulary ${cfg.vocabSize}, ${(decoderParameterCount(cfg) / 1e6).toFixed(1)}M parameters)`;
      } else {
        source = model;
        what = model;
      }
      const session = await createSession(source, { backend: 'onnxruntime', ...(threads !== undefined ? { intraOpNumThreads: threads } : {}) });
      try {
        progress?.(`${what} on onnxruntime`);
        const report = await runGenerationBench(session, {
          concurrency,
          requestsPerClient,
          promptLength,
          newTokens,
          modes: modes as GenerationMode[],
          seed,
          repeats,
          ...(maxBatchSize !== undefined ? { maxBatchSize } : {}),
          ...(maxBatchTokens !== undefined ? { maxBatchTokens } : {}),
          ...(maxQueueDelayMs !== undefined ? { maxQueueDelayMs } : {}),
          ...(progress ? { onProgress: progress } : {}),
        });
        process.stdout.write(`${what}, ONNX Runtime (CPU)\n${formatGenerationBench(report)}\n`);
        if (opts.json) {
          await writeFileAtomic(opts.json, `${JSON.stringify({ model: what, backend: 'onnxruntime', date: new Date().toISOString(), ...report }, null, 2)}\n`);
        }
      } finally {
        await session.dispose();
      }
    });
}
