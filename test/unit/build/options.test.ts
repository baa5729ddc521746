import { describe, expect, it } from 'vitest';
import { BuildOptionsSchema, canonicalJson, dimRange, normaliseForKey } from '../../../src/build/options.js';
import { parseOptions } from '../../../src/options.js';
import { InvalidArgumentError } from '../../../src/errors.js';
import { Tensor } from '../../../src/tensor.js';

const parse = (o: unknown) => parseOptions(BuildOptionsSchema, o, 'buildEngine options');

describe('BuildOptionsSchema', () => {
  it('fills TensorRT-like defaults', () => {
    const o = parse({});
    expect(o).toMatchObject({
      precision: 'fp32',
      fp16Mode: 'convert',
      dims: {},
      optimizationLevel: 3,
      hardwareCompatibility: 'none',
      versionCompatible: false,
      refit: false,
      tf32: true,
      device: 0,
      cache: false,
      logLevel: 'warning',
    });
    expect(o.workspaceBytes).toBeUndefined();
    expect(o.profiles).toBeUndefined();
  });

  it('accepts the three spellings of a dim range and explicit profiles', () => {
    const o = parse({
      dims: { batch: [1, 64], seq: { min: 1, opt: 128, max: 512 }, heads: 12 },
      profiles: [{ shapes: { x: { min: [1, 1], opt: [4, 8], max: [8, 16] } } }, { dims: { batch: [1, 2] } }],
    });
    expect(o.profiles).toHaveLength(2);
    expect(dimRange(o.dims.batch!)).toEqual({ min: 1, opt: 64, max: 64 });
    expect(dimRange(o.dims.seq!)).toEqual({ min: 1, opt: 128, max: 512 });
    expect(dimRange(o.dims.heads!)).toEqual({ min: 12, opt: 12, max: 12 });
  });

  it('names each bad option with what was expected and what was got', () => {
    expect(() => parse({ optimizationLevel: 7 })).toThrow(InvalidArgumentError);
    expect(() => parse({ optimizationLevel: 7 })).toThrow(/optimizationLevel: .*\(got 7\)/);
    expect(() => parse({ precision: 'int8' })).toThrow(/precision: .*\(got "int8"\)/);
    expect(() => parse({ workspace: 1 })).toThrow(/unknown option\(s\) "workspace"/);
    expect(() => parse({ dims: { batch: [-1, 4] } })).toThrow(/dims\.batch/);
    expect(() => parse({ onProgress: 'no' })).toThrow(/onProgress: expected a function/);
    expect(() => parse({ signal: {} })).toThrow(/signal/);
    expect(() => parse({ profiles: [] })).toThrow(/profiles/);
  });

  it('takes callbacks and a signal', () => {
    const o = parse({ onProgress: () => undefined, onLog: () => undefined, signal: new AbortController().signal });
    expect(typeof o.onProgress).toBe('function');
    expect(o.signal).toBeInstanceOf(AbortSignal);
  });
});

describe('normaliseForKey', () => {
  it('gives one spelling for equivalent options', () => {
    const a = normaliseForKey(parse({ dims: { batch: [1, 64] }, cache: true, logLevel: 'verbose', device: 1, onLog: () => undefined }));
    const b = normaliseForKey(parse({ dims: { batch: { min: 1, max: 64, opt: 64 } }, timingCache: '/tmp/x.cache' }));
    expect(canonicalJson(a)).toBe(canonicalJson(b));
  });

  it('distinguishes what changes the engine', () => {
    const base = canonicalJson(normaliseForKey(parse({ dims: { batch: [1, 64] } })));
    for (const change of [
      { dims: { batch: [1, 32] } },
      { dims: { batch: [1, 64] }, precision: 'fp16' },
      { dims: { batch: [1, 64] }, optimizationLevel: 5 },
      { dims: { batch: [1, 64] }, workspaceBytes: 1 << 30 },
      { dims: { batch: [1, 64] }, hardwareCompatibility: 'ampere-plus' },
      { dims: { batch: [1, 64] }, versionCompatible: true },
      { dims: { batch: [1, 64] }, refit: true },
      { dims: { batch: [1, 64] }, tf32: false },
    ]) {
      expect(canonicalJson(normaliseForKey(parse(change)))).not.toBe(base);
    }
  });

  it('ignores fp16 settings for fp32 builds and keeps them for fp16', () => {
    const fp32 = normaliseForKey(parse({ fp16Mode: 'builder-flag', fp16: { keepIoTypes: false } }));
    expect(fp32.fp16Mode).toBe('convert');
    expect(fp32.fp16).toBeNull();
    const fp16 = normaliseForKey(parse({ precision: 'fp16', fp16: { keepIoTypes: false, blockNodes: [/attn/i] } }));
    expect(fp16.fp16).toEqual({ blockNodes: ['/attn/i'], keepIoTypes: false });
  });

  it('keys calibration tensors by content', () => {
    const t = (v: number) => new Tensor('float32', new Float32Array([v, 2, 3]), [3]);
    const key = (v: number) => canonicalJson(normaliseForKey(parse({ precision: 'fp16', fp16: { calibrationData: { x: t(v) } } })));
    expect(key(1)).toBe(key(1));
    expect(key(1)).not.toBe(key(9));
    expect(key(1)).toMatch(/Float32Array:sha256:[0-9a-f]{64}/);
  });

  it('refuses values that cannot be keyed', () => {
    expect(() => canonicalJson({ f: () => 1 })).toThrow(InvalidArgumentError);
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every level and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: undefined } })).toBe('{"a":{"d":[{"y":2,"z":1}]},"b":1}');
  });
});
