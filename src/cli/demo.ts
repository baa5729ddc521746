/** `tensorrt-node demo`: the library end to end on the embedded encoder (see src/demo.ts). */
import { Option, type Command } from 'commander';
import { formatDemo, runDemo } from '../demo.js';
import { InvalidArgumentError } from '../errors.js';
import { intArg } from './args.js';

const int =
  (name: string) =>
  (v: string): number =>
    intArg(v, name, 0)!;

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'convert the embedded encoder to FP16, check its accuracy, serve a burst of requests through the batcher, and generate text with continuous batching',
    )
    .addOption(new Option('--encoder <size>', 'encoder size').choices(['tiny', 'small', 'bert-base']).default('small'))
    .addOption(new Option('--backend <name>', 'backend').choices(['auto', 'onnxruntime', 'tensorrt']).default('auto'))
    .option('--requests <n>', 'requests in the burst', int('--requests'), 256)
    .option('--seq <min:max>', 'token lengths of the requests', '8:128')
    .option('--max-batch-size <n>', "the batcher's maxBatchSize", int('--max-batch-size'), 32)
    .option('--seed <n>', 'seed of the inputs', int('--seed'), 7)
    .addOption(
      new Option('--decoder <size>', 'embedded decoder of the generation part (none: skip it)').choices(['tiny', 'small', 'gpt2', 'none']).default('tiny'),
    )
    .option('--generations <n>', 'prompts in the generation burst', int('--generations'), 16)
    .option('--max-new-tokens <n>', 'new tokens per prompt: 8 to this many', int('--max-new-tokens'), 32)
    .option('--json', 'print the summary as JSON')
    .action(
      async (opts: {
        encoder: 'tiny' | 'small' | 'bert-base';
        backend: 'auto' | 'onnxruntime' | 'tensorrt';
        requests: number;
        seq: string;
        maxBatchSize: number;
        seed: number;
        decoder: 'tiny' | 'small' | 'gpt2' | 'none';
        generations: number;
        maxNewTokens: number;
        json?: boolean;
      }) => {
        const m = /^(\d+):(\d+)$/.exec(opts.seq) ?? /^(\d+)$/.exec(opts.seq);
        if (!m) throw new InvalidArgumentError(`--seq must be min:max or one length, got ${JSON.stringify(opts.seq)}`);
        const minSeq = Number(m[1]);
        const maxSeq = Number(m[2] ?? m[1]);
        const summary = await runDemo({
          encoder: opts.encoder,
          backend: opts.backend,
          requests: opts.requests,
          minSeq,
          maxSeq,
          maxBatchSize: opts.maxBatchSize,
          seed: opts.seed,
          decoder: opts.decoder,
          generations: opts.generations,
          maxNewTokens: opts.maxNewTokens,
          onStep: opts.json ? undefined : (msg) => process.stderr.write(`- ${msg}\n`),
        });
        process.stdout.write(opts.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatDemo(summary)}\n`);
        if (!summary.accuracy.passed) process.exitCode = 1;
      },
    );
}
