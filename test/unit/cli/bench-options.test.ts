import { describe, expect, it } from 'vitest';
import { resolveEncoderConfig } from '../../../src/onnx/encoder.js';
import { benchOptionsFromCli, parseConcurrency, parseEncoderSpec, parseRates, parseSeq } from '../../../src/cli/bench.js';
import { InvalidArgumentError } from '../../../src/errors.js';

describe('bench command-line parsing', () => {
  it('reads concurrency lists, deduplicated, and "none"', () => {
    expect(parseConcurrency('1,8,32')).toEqual([1, 8, 32]);
    expect(parseConcurrency('4, 4 ,2')).toEqual([4, 2]);
    expect(parseConcurrency('none')).toEqual([]);
    expect(() => parseConcurrency('0')).toThrow(/--concurrency entries must be an integer from 1 to 4096, got "0"/);
    expect(() => parseConcurrency('1,,2')).toThrow(/--concurrency must be a comma-separated list/);
    expect(() => parseConcurrency('1.5')).toThrow(InvalidArgumentError);
  });

  it('reads rates as requests/s or percentages of the best closed-loop throughput', () => {
    expect(parseRates('100,250.5,50%')).toEqual([{ rate: 100 }, { rate: 250.5 }, { percent: 50 }]);
    expect(parseRates('none')).toEqual([]);
    expect(() => parseRates('-5')).toThrow(/--rate entries must be requests\/s > 0 or a percentage/);
    expect(() => parseRates('fast')).toThrow(/got "fast"/);
    expect(() => parseRates('0%')).toThrow(InvalidArgumentError);
  });

  it('reads a sequence length or a MIN:MAX range', () => {
    expect(parseSeq('128')).toEqual({ min: 128, max: 128 });
    expect(parseSeq('16:128')).toEqual({ min: 16, max: 128 });
    expect(() => parseSeq('128:16')).toThrow(/--seq must be a length N or a range MIN:MAX with 1 <= MIN <= MAX, got "128:16"/);
    expect(() => parseSeq('0')).toThrow(InvalidArgumentError);
    expect(() => parseSeq('a:b')).toThrow(InvalidArgumentError);
  });

  it('reads encoder specs: a preset, sizes, or both', () => {
    expect(parseEncoderSpec('tiny')).toEqual({ preset: 'tiny' });
    // Every preset the demo takes, its default "small" included, is a bench preset too.
    for (const preset of ['tiny', 'small', 'bert-base']) expect(parseEncoderSpec(preset)).toEqual({ preset });
    const small = resolveEncoderConfig(parseEncoderSpec('small'));
    expect([small.layers, small.hidden, small.heads, small.intermediate]).toEqual([4, 256, 4, 1024]);
    expect(parseEncoderSpec('bert-base,layers=2')).toEqual({ preset: 'bert-base', layers: 2 });
    expect(parseEncoderSpec('layers=4,hidden=128,vocab=5000,max-positions=256')).toEqual({ layers: 4, hidden: 128, vocabSize: 5000, maxPositions: 256 });
    expect(() => parseEncoderSpec('huge')).toThrow(/--encoder preset must be one of tiny, small, bert-base, got "huge"/);
    expect(() => parseEncoderSpec('depth=3')).toThrow(/--encoder key "depth" is unknown; keys: layers, hidden/);
    expect(() => parseEncoderSpec('layers=x')).toThrow(/--encoder layers must be an integer/);
    expect(() => parseEncoderSpec('tiny,bert-base')).toThrow(/two presets/);
  });

  it('turns the flags into runBench options', () => {
    const o = benchOptionsFromCli({
      backend: 'onnxruntime',
      batcher: 'on',
      concurrency: '2,4',
      rate: '100',
      duration: '1.5',
      warmup: '0',
      batch: '4',
      seq: '8:64',
      maxBatch: '16',
      queueDelay: '0.5',
      buckets: '16,32,64',
      threads: '1',
      fp16: true,
    });
    expect(o).toMatchObject({
      backends: ['onnxruntime'],
      batcher: 'on',
      concurrency: [2, 4],
      rates: [{ rate: 100 }],
      durationMs: 1500,
      warmupMs: 0,
      batch: 4,
      seq: { min: 8, max: 64 },
      intraOpNumThreads: 1,
      batcherOptions: { maxBatchSize: 16, maxQueueDelayMs: 0.5, buckets: [16, 32, 64] },
      tensorrt: { precision: 'fp16', cudaGraphs: true, spinWait: false },
    });
    // --no-cuda-graphs (commander sets cudaGraphs false) turns trtexec 11's default off.
    expect(benchOptionsFromCli({ cudaGraphs: false }).tensorrt).toMatchObject({ cudaGraphs: false });
    expect(benchOptionsFromCli({ cudaGraphs: true }).tensorrt).toMatchObject({ cudaGraphs: true });
    expect(benchOptionsFromCli({ spinWait: true }).tensorrt).toMatchObject({ spinWait: true });
  });

  it('refuses flags that cannot work, naming them', () => {
    expect(() => benchOptionsFromCli({ backend: 'cuda' })).toThrow(/--backend entries must be onnxruntime or tensorrt, got "cuda"/);
    expect(() => benchOptionsFromCli({ batcher: 'maybe' })).toThrow(/--batcher must be on, off or both/);
    expect(() => benchOptionsFromCli({ duration: '0' })).toThrow(/--duration must be a number of seconds from 0.05/);
    expect(() => benchOptionsFromCli({ distribution: 'uniform' })).toThrow(/--distribution must be poisson or constant/);
    expect(() => benchOptionsFromCli({ batch: '64', maxBatch: '32' })).toThrow(/--batch 64 rows per request do not fit the batcher's --max-batch 32/);
    expect(() => benchOptionsFromCli({ seq: '128', buckets: '32,64' })).toThrow(/--buckets must reach the longest sequence/);
    expect(() => benchOptionsFromCli({ pool: '0' })).toThrow(/--pool must be an integer from 1/);
  });

  it('raises the batcher maxBatchSize to fit requests of more than 32 rows', () => {
    expect(benchOptionsFromCli({ batch: '48' }).batcherOptions).toEqual({ maxBatchSize: 48 });
  });
});
