// Engine profiles for generation, chosen in one place (src/build/generation.ts) for
// buildEngine(), `tensorrt-node build` and createSession(): the ranges a decoder gets, how
// build.generation shapes them, their checks, and the two callers that can run without
// TensorRT (the CLI's option parsing and createSession's build call). buildEngine() itself
// needs TensorRT: test/standin/generation.test.ts runs it on the stand-ins.
import { describe, expect, it } from 'vitest';
import { deriveProfiles, type NetworkInput } from '../../../src/build/profiles.js';
import { BuildOptionsSchema } from '../../../src/build/options.js';
import { engineDimRanges, generationDimRanges, generationLimits } from '../../../src/build/generation.js';
import { decoderDimRoles } from '../../../src/generation/decoder-io.js';
import { createDecoderModel } from '../../../src/onnx/decoder.js';
import { encodeModel } from '../../../src/onnx/model.js';
import { dimsOf } from '../../../src/onnx/graph.js';
import { inspectModel } from '../../../src/onnx/inspect.js';
import { parseOptions } from '../../../src/options.js';
import { buildOptionsFrom } from '../../../src/cli/build.js';
import { createTensorRTSession, DEFAULT_BUILD_RANGES, readModelIo, type TensorRTOpeners } from '../../../src/backends/tensorrt.js';
import type { BuildOptions } from '../../../src/build/index.js';
import { type InvalidArgumentError } from '../../../src/errors.js';

function networkInputs(inputs: { name: string; dims: (number | string)[] }[]): NetworkInput[] {
  return inputs.map((i) => ({
    name: i.name,
    dims: i.dims.map((d) => (typeof d === 'number' ? d : -1)),
    dimNames: i.dims.map((d) => (typeof d === 'string' ? d : '')),
  }));
}

const decoderInputs = (options: Parameters<typeof createDecoderModel>[0] = { preset: 'tiny' }) =>
  createDecoderModel(options).graph!.input.map((i) => ({ name: i.name, dims: dimsOf(i.type) as (number | string)[] }));

const encoder = [
  { name: 'input_ids', dims: ['batch', 'sequence'] },
  { name: 'attention_mask', dims: ['batch', 'sequence'] },
];

const errorOf = (f: () => unknown): InvalidArgumentError => {
  try {
    f();
  } catch (e) {
    return e as InvalidArgumentError;
  }
  throw new Error('expected a throw');
};

describe('decoder engine profiles', () => {
  it('the embedded decoder: batch 1..32, sequence 1..512, past 0..2047, total 1..2048, with no configuration', () => {
    for (const options of [{ preset: 'tiny' as const }, { preset: 'tiny' as const, useCacheBranch: true, positionIds: false }]) {
      const inputs = decoderInputs(options);
      expect(decoderDimRoles(inputs)).toEqual({
        batch_size: 'batch',
        sequence_length: 'sequence',
        total_sequence_length: 'total',
        past_sequence_length: 'past',
      });
      const dims = generationDimRanges(inputs)!;
      const [profile] = deriveProfiles(networkInputs(inputs), { dims });
      const byName = Object.fromEntries(profile!.map((p) => [p.input, p]));
      expect(byName.input_ids).toEqual({ input: 'input_ids', min: [1, 1], opt: [32, 1], max: [32, 512] });
      expect(byName.attention_mask).toEqual({ input: 'attention_mask', min: [1, 1], opt: [32, 513], max: [32, 2048] });
      const past = byName['past_key_values.0.key']!;
      expect(past.min[0]).toBe(1);
      expect(past.min[2]).toBe(0); // the prefill's empty past
      expect(past.opt[2]).toBe(512);
      expect(past.max[2]).toBe(2047);
      // Past + current never exceeds what attention_mask (the total) allows.
      expect(past.max[2]! + 1).toBeLessThanOrEqual(byName.attention_mask!.max[1]!);
      if (options.useCacheBranch) expect(byName.use_cache_branch).toBeUndefined(); // fixed [1]: no profile entry
    }
  });

  it("generation limits shape the ranges (TensorRT-LLM's max_batch_size, max_seq_len, max_input_len); unnamed dims and Optimum's \"past_sequence_length + 1\"", () => {
    const inputs = [
      { name: 'input_ids', dims: [-1, -1] },
      { name: 'attention_mask', dims: ['batch_size', 'past_sequence_length + 1'] },
      { name: 'past_key_values.0.key', dims: ['batch_size', 4, 'past_sequence_length', 8] },
      { name: 'past_key_values.0.value', dims: ['batch_size', 4, 'past_sequence_length', 8] },
    ];
    expect(generationDimRanges(inputs, { maxBatchSize: 4, maxInputLen: 64, maxSeqLen: 256 })).toEqual({
      'input_ids:0': { min: 1, opt: 4, max: 4 },
      'input_ids:1': { min: 1, opt: 1, max: 64 },
      batch_size: { min: 1, opt: 4, max: 4 },
      'past_sequence_length + 1': { min: 1, opt: 256, max: 256 },
      past_sequence_length: { min: 0, opt: 255, max: 255 },
    });
    // maxInputLen defaults to min(512, maxSeqLen); a short maxSeqLen keeps the opt values inside the range.
    expect(generationDimRanges(inputs, { maxSeqLen: 100 })).toMatchObject({
      'input_ids:1': { min: 1, opt: 1, max: 100 },
      past_sequence_length: { min: 0, opt: 99, max: 99 },
      'past_sequence_length + 1': { min: 1, opt: 100, max: 100 },
    });
    expect(generationLimits({})).toEqual({ maxBatchSize: 32, maxSeqLen: 2048, maxInputLen: 512 });
  });

  it('checks the limits with codes, naming the option and what it needs', () => {
    const inputs = decoderInputs();
    const parse = (generation: unknown) => parseOptions(BuildOptionsSchema, { generation }, 'buildEngine options');
    for (const [generation, pattern] of [
      [{ maxBatchSize: 0 }, /generation\.maxBatchSize/],
      [{ maxSeqLen: 1 }, /generation\.maxSeqLen/],
      [{ maxInputLen: 1.5 }, /generation\.maxInputLen/],
      [{ maxSeqLength: 64 }, /maxSeqLength/],
    ] as const) {
      const e = errorOf(() => parse(generation));
      expect(e.code).toBe('ERR_INVALID_ARG');
      expect(e.message).toMatch(pattern);
    }
    const tooLong = errorOf(() => engineDimRanges(inputs, { generation: { maxInputLen: 300, maxSeqLen: 256 } }));
    expect(tooLong.code).toBe('ERR_INVALID_ARG');
    expect(tooLong.message).toBe(
      'options.generation.maxInputLen 300 is more than options.generation.maxSeqLen 256: a prompt is part of the sequence (maxSeqLen counts prompt + generated positions)',
    );
    expect(errorOf(() => generationLimits({ maxBatchSize: -1 })).message).toBe('generation.maxBatchSize must be an integer >= 1, got -1');
  });

  it('engineDimRanges: the caller\'s dims win, an encoder keeps the fallback, generation on a non-decoder is refused', () => {
    const inputs = decoderInputs();
    // Without a fallback (buildEngine, the CLI): exactly generation's ranges, with the caller's dims over them.
    const dims = engineDimRanges(inputs, { dims: { batch_size: [1, 8] }, generation: { maxSeqLen: 128 } });
    expect(dims).toEqual({
      batch_size: [1, 8],
      sequence_length: { min: 1, opt: 1, max: 128 },
      past_sequence_length: { min: 0, opt: 127, max: 127 },
      total_sequence_length: { min: 1, opt: 128, max: 128 },
    });
    // An encoder: the fallback (createSession's defaults) for what dims leaves out; nothing without one.
    expect(engineDimRanges(encoder, { dims: { sequence: [1, 64] } }, DEFAULT_BUILD_RANGES)).toEqual({
      batch: { min: 1, opt: 64, max: 64 },
      sequence: [1, 64],
    });
    expect(engineDimRanges(encoder, {})).toEqual({});
    const e = errorOf(() => engineDimRanges(encoder, { generation: { maxSeqLen: 64 } }));
    expect(e.code).toBe('ERR_INVALID_ARG');
    expect(e.message).toMatch(/^options\.generation sets a decoder's profile .* its inputs are "input_ids", "attention_mask"\. Give its ranges with options\.dims instead$/);
  });
});

describe('the callers: createSession and the CLI', () => {
  /** Openers whose buildEngine records its options and stops there (no TensorRT needed). */
  function recordingOpeners() {
    const builds: BuildOptions[] = [];
    const openers: TensorRTOpeners = {
      buildEngine: async (_model, options) => {
        builds.push(options);
        throw new Error('recorded');
      },
      deserialize: async () => {
        throw new Error('not reached');
      },
      modelIo: readModelIo,
    };
    return { openers, builds };
  }

  it("createSession's build of a decoder takes the ranges from build.generation, and passes it on to buildEngine", async () => {
    const model = encodeModel(createDecoderModel({ preset: 'tiny' }));
    const { openers, builds } = recordingOpeners();
    await expect(createTensorRTSession(model, { build: { generation: { maxBatchSize: 4, maxSeqLen: 96 }, dims: { sequence_length: [1, 16] } } }, openers)).rejects.toThrow(
      'recorded',
    );
    expect(builds[0]).toEqual({
      cache: true,
      device: 0,
      generation: { maxBatchSize: 4, maxSeqLen: 96 },
      dims: {
        batch_size: { min: 1, opt: 4, max: 4 },
        sequence_length: [1, 16],
        past_sequence_length: { min: 0, opt: 95, max: 95 },
        total_sequence_length: { min: 1, opt: 96, max: 96 },
      },
    });
    // The same dims as buildEngine derives itself from the model (one function for both).
    const inputs = inspectModel(createDecoderModel({ preset: 'tiny' })).inputs;
    expect(builds[0]!.dims).toEqual(engineDimRanges(inputs, builds[0]!));
    // No generation options: the defaults.
    await expect(createTensorRTSession(model, {}, openers)).rejects.toThrow('recorded');
    expect(builds[1]!.dims).toEqual(generationDimRanges(inputs));
    // Generation options for an encoder: refused before anything is built.
    const enc = recordingOpeners();
    const { GraphBuilder } = await import('../../../src/onnx/builder.js');
    const g = new GraphBuilder({ opset: 17 });
    const ids = g.input('input_ids', 'int64', ['batch', 'sequence']);
    g.op('Identity', [ids], {}, 'logits');
    g.output('logits', 'int64', ['batch', 'sequence']);
    const err = (await createTensorRTSession(encodeModel(g.build()), { build: { generation: { maxSeqLen: 64 } } }, enc.openers).catch((x: unknown) => x)) as InvalidArgumentError;
    expect(err.code).toBe('ERR_INVALID_ARG');
    expect(err.message).toMatch(/^options\.build\.generation sets a decoder's profile/);
    expect(enc.builds).toHaveLength(0);
  });

  const flags = {
    fp16Mode: 'convert' as const,
    shapes: [] as string[],
    dims: [] as string[],
    hardwareCompat: 'none' as const,
    device: '0',
    tritonVersion: '1',
    instances: '1',
    progress: false,
  };

  it('tensorrt-node build: --max-seq-len, --max-input-len, and --max-batch-size for a decoder', () => {
    const inputs = inspectModel(createDecoderModel({ preset: 'tiny' })).inputs;
    expect(buildOptionsFrom({ ...flags, maxSeqLen: '256', maxInputLen: '64', maxBatchSize: '8' }, inputs).generation).toEqual({
      maxSeqLen: 256,
      maxInputLen: 64,
      maxBatchSize: 8,
    });
    // --max-batch-size alone on an encoder stays the batcher's/Triton's.
    expect(buildOptionsFrom({ ...flags, maxBatchSize: '8' }, encoder).generation).toBeUndefined();
    expect(buildOptionsFrom({ ...flags }, inputs).generation).toBeUndefined();
    const bad = (f: Partial<typeof flags> & Record<string, string>, on: typeof encoder | typeof inputs = inputs) => errorOf(() => buildOptionsFrom({ ...flags, ...f }, on));
    expect(bad({ maxSeqLen: '1' })).toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(/--max-seq-len/) });
    expect(bad({ maxInputLen: '3000' })).toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: '--max-input-len 3000 is more than the default --max-seq-len 2048: a prompt is part of the sequence',
    });
    expect(bad({ maxInputLen: '300', maxSeqLen: '256' }).message).toBe('--max-input-len 300 is more than --max-seq-len 256: a prompt is part of the sequence');
    expect(bad({ maxSeqLen: '64' }, encoder)).toMatchObject({
      code: 'ERR_INVALID_ARG',
      message: expect.stringMatching(/^--max-seq-len applies to a decoder .* the model's inputs are "input_ids", "attention_mask"; give its ranges with --dims or --shapes$/),
    });
  });
});
