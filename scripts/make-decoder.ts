/**
 * Writes the embedded GPT-2-style decoder (KV cache, seeded random weights, Hugging Face
 * Optimum's I/O names) to an ONNX file.
 *
 *   node scripts/run-ts.mjs scripts/make-decoder.ts -o decoder.onnx [--preset tiny|small|gpt2]
 *     [--layers N] [--hidden N] [--heads N] [--intermediate N] [--vocab N] [--max-positions N]
 *     [--seed N] [--opset N] [--kv-dtype float32|float16] [--no-position-ids] [--use-cache-branch]
 *     [--external-data]
 */
import { createDecoderModel, decoderKvBytesPerToken, decoderParameterCount, resolveDecoderConfig, type DecoderOptions } from '../src/onnx/decoder.js';
import { writeModel } from '../src/onnx/model.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name.length === 1 ? `-${name}` : `--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const num = (name: string): number | undefined => (arg(name) === undefined ? undefined : Number(arg(name)));

const out = arg('o') ?? arg('output');
if (!out) {
  console.error(
    'usage: make-decoder.ts -o FILE [--preset tiny|small|gpt2] [--layers N] ... [--kv-dtype float16] [--no-position-ids] [--use-cache-branch] [--external-data]',
  );
  process.exit(2);
}
const options: DecoderOptions = Object.fromEntries(
  Object.entries({
    preset: arg('preset') as DecoderOptions['preset'],
    layers: num('layers'),
    hidden: num('hidden'),
    heads: num('heads'),
    intermediate: num('intermediate'),
    vocabSize: num('vocab'),
    maxPositions: num('max-positions'),
    seed: num('seed'),
    opset: num('opset'),
    kvDtype: arg('kv-dtype') as DecoderOptions['kvDtype'],
    positionIds: process.argv.includes('--no-position-ids') ? false : undefined,
    useCacheBranch: process.argv.includes('--use-cache-branch') ? true : undefined,
  }).filter(([, v]) => v !== undefined),
);
const t0 = performance.now();
const cfg = resolveDecoderConfig(options);
const model = createDecoderModel(options);
await writeModel(model, out, { externalData: process.argv.includes('--external-data') });
console.log(
  `wrote ${out}: ${cfg.layers} layers, hidden ${cfg.hidden}, ${cfg.heads} heads, vocabulary ${cfg.vocabSize}, ` +
    `${decoderParameterCount(cfg)} parameters, ${decoderKvBytesPerToken(cfg)} bytes of KV cache per token, seed ${cfg.seed} ` +
    `(${((performance.now() - t0) / 1000).toFixed(1)} s)`,
);
