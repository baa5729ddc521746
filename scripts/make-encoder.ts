/**
 * Writes the embedded BERT-style encoder (seeded random weights) to an ONNX file.
 *
 *   node scripts/run-ts.mjs scripts/make-encoder.ts -o encoder.onnx [--preset tiny|bert-base]
 *     [--layers N] [--hidden N] [--heads N] [--intermediate N] [--vocab N] [--max-positions N]
 *     [--classes N] [--type-vocab N] [--seed N] [--opset N] [--external-data]
 */
import { createEncoderModel, encoderParameterCount, resolveEncoderConfig, writeModel, type EncoderOptions } from '../src/onnx/index.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name.length === 1 ? `-${name}` : `--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const num = (name: string): number | undefined => (arg(name) === undefined ? undefined : Number(arg(name)));

const out = arg('o') ?? arg('output');
if (!out) {
  console.error('usage: make-encoder.ts -o FILE [--preset tiny|bert-base] [--layers N] ... [--external-data]');
  process.exit(2);
}
const options: EncoderOptions = Object.fromEntries(
  Object.entries({
    preset: arg('preset') as EncoderOptions['preset'],
    layers: num('layers'),
    hidden: num('hidden'),
    heads: num('heads'),
    intermediate: num('intermediate'),
    vocabSize: num('vocab'),
    maxPositions: num('max-positions'),
    classes: num('classes'),
    typeVocabSize: num('type-vocab'),
    seed: num('seed'),
    opset: num('opset'),
  }).filter(([, v]) => v !== undefined),
);
const t0 = performance.now();
const model = createEncoderModel(options);
await writeModel(model, out, { externalData: process.argv.includes('--external-data') });
const cfg = resolveEncoderConfig(options);
console.log(
  `wrote ${out}: ${cfg.layers} layers, hidden ${cfg.hidden}, ${cfg.heads} heads, ${encoderParameterCount(cfg)} parameters, ` +
    `seed ${cfg.seed} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
);
