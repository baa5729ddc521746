/**
 * The feed validator (src/backends/feeds.ts): names, foreign tensors, dtype, rank, fixed and
 * symbolic dims, limits, and what check() returns.
 */
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { FeedValidator, feedValidator, validateFeeds } from '../../../src/backends/feeds.js';
import { Tensor } from '../../../src/tensor.js';
import type { TensorInfo } from '../../../src/session.js';
import { DTypeError, InvalidArgumentError, ShapeError, type TensorRTNodeError } from '../../../src/errors.js';

const inputs: TensorInfo[] = [
  { name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'] },
  { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'sequence'] },
  { name: 'scale', dtype: 'float32', dims: [1] },
];
const ids = (b: number, s: number) => Tensor.zeros('int64', [b, s]);
const ok = () => ({ input_ids: ids(2, 8), attention_mask: ids(2, 8), scale: new Tensor('float32', [1]) });

function thrown(f: () => unknown): TensorRTNodeError {
  try {
    f();
  } catch (e) {
    return e as TensorRTNodeError;
  }
  throw new Error('expected a throw');
}

describe('FeedValidator.check', () => {
  it('returns the tensors in input order and the bound symbolic dims', () => {
    const v = new FeedValidator(inputs);
    const f = ok();
    // Keys in another order than the inputs: the result follows the inputs.
    const checked = v.check({ scale: f.scale, attention_mask: f.attention_mask, input_ids: f.input_ids });
    expect(checked.tensors).toEqual([f.input_ids, f.attention_mask, f.scale]);
    expect(checked.tensors[0]).toBe(f.input_ids);
    expect(v.symbols).toEqual(['batch', 'sequence']);
    expect(checked.symbolSizes).toEqual([2, 8]);
    expect(v.symbolSize(checked, 'sequence')).toBe(8);
    expect(v.symbolSize(checked, 'nope')).toBeUndefined();
    expect(v.boundDims(checked)).toEqual(
      new Map([
        ['batch', 2],
        ['sequence', 8],
      ]),
    );
    expect(Object.keys(v.feedsOf(checked))).toEqual(['input_ids', 'attention_mask', 'scale']);
    expect(validateFeeds(inputs, f).symbolSizes).toEqual([2, 8]);
    expect(feedValidator(inputs)).toBe(feedValidator(inputs));
  });

  it('names unknown and missing inputs, together when both', () => {
    expect(() => validateFeeds(inputs, { ...ok(), token_type_ids: ids(2, 8) })).toThrow(
      'feeds has an unknown input "token_type_ids"; the model\'s inputs are "input_ids", "attention_mask", "scale"',
    );
    const { attention_mask: _, ...missing } = ok();
    expect(() => validateFeeds(inputs, missing)).toThrow('feeds is missing input "attention_mask" (int64 [batch, sequence])');
    const e = thrown(() => validateFeeds(inputs, { ...missing, attention_masks: ids(2, 8) }));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(e.message).toBe(
      'feeds is missing input "attention_mask" (int64 [batch, sequence]) and has an unknown input "attention_masks"; ' +
        'the model\'s inputs are "input_ids", "attention_mask", "scale"',
    );
    expect(e).toMatchObject({ missing: ['attention_mask'], unknown: ['attention_masks'] });
    // An undefined value is a missing input, not a bad tensor.
    expect(() => validateFeeds(inputs, { ...ok(), scale: undefined })).toThrow('feeds is missing input "scale" (float32 [1])');
  });

  it('does not take inherited properties for inputs', () => {
    const v = new FeedValidator([{ name: 'constructor', dtype: 'float32', dims: [1] }]);
    expect(() => v.check({ other: new Tensor('float32', [1]) })).toThrow(/feeds is missing input "constructor".*unknown input "other"/);
  });

  it('refuses what is not a feeds object, and values that are not tensors', () => {
    for (const bad of [
      null,
      undefined,
      3,
      'x',
      [ids(1, 1)],
      new Map([['input_ids', ids(1, 1)]]),
      ids(1, 1),
      { type: 'int64', data: new BigInt64Array(1), dims: [1] },
    ]) {
      const e = thrown(() => validateFeeds(inputs, bad));
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect(e.message).toMatch(/^feeds must be an object mapping input names to Tensors \(inputs: "input_ids", "attention_mask", "scale"\), got /);
    }
    expect(() => validateFeeds(inputs, { ...ok(), scale: new Float32Array(1) })).toThrow(
      'feeds["scale"] must be a Tensor (or a tensor with type, data and dims, such as onnxruntime-node\'s), got a Float32Array of length 1',
    );
    expect(() => validateFeeds(inputs, { ...ok(), scale: { data: new Float32Array(1) } })).toThrow(/got an object without type, dims$/);
  });

  it('checks dtype, rank and fixed dims, with the details in the error', () => {
    const e = thrown(() => validateFeeds(inputs, { ...ok(), input_ids: Tensor.zeros('int32', [2, 8]) }));
    expect(e).toBeInstanceOf(DTypeError);
    expect(e.message).toBe('input "input_ids" must be int64, got int32');
    expect(e).toMatchObject({ code: 'ERR_DTYPE', input: 'input_ids', expected: 'int64', got: 'int32' });
    expect(() => validateFeeds(inputs, { ...ok(), input_ids: ids(2, 8).reshape([16]) })).toThrow(
      'input "input_ids" must have rank 2 [batch, sequence], got rank 1 [16]',
    );
    const f = thrown(() => validateFeeds(inputs, { ...ok(), scale: new Tensor('float32', [1, 2]) }));
    expect(f.message).toBe('input "scale" dim 0 must be 1 [1], got [2]');
    expect(f).toMatchObject({ code: 'ERR_SHAPE', input: 'scale', axis: 0, expected: 1, got: 2 });
  });

  it('requires inputs sharing a symbolic dim to agree', () => {
    const e = thrown(() => validateFeeds(inputs, { ...ok(), attention_mask: ids(2, 7) }));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toBe('input "attention_mask" dim 1 (sequence) is 7 but input "input_ids" gave sequence = 8; inputs that share a symbolic dim must agree');
    expect(e).toMatchObject({ input: 'attention_mask', axis: 1, expected: 8, got: 7, symbol: 'sequence' });
    // The same symbol twice in one input.
    const square = new FeedValidator([{ name: 'm', dtype: 'float32', dims: ['n', 'n'] }]);
    expect(() => square.check({ m: Tensor.zeros('float32', [2, 2]) })).not.toThrow();
    expect(() => square.check({ m: Tensor.zeros('float32', [2, 3]) })).toThrow('input "m" dim 1 (n) is 3 but input "m" gave n = 2');
  });

  it('treats -1 and unnamed dims as unconstrained', () => {
    expect(() => validateFeeds([{ name: 'x', dtype: 'float32', dims: [-1, 3] }], { x: Tensor.zeros('float32', [5, 3]) })).not.toThrow();
    expect(() => validateFeeds([{ name: 'x', dtype: 'float32', dims: ['', 3] }], { x: Tensor.zeros('float32', [0, 3]) })).not.toThrow();
  });
});

describe('tensors of other libraries', () => {
  const one: TensorInfo[] = [{ name: 'x', dtype: 'float32', dims: ['batch', 2] }];

  it('wraps a { type, data, dims } tensor without copying its data', () => {
    const data = new Float32Array([1, 2, 3, 4]);
    class OtherLibraryTensor {
      constructor(
        readonly type: string,
        readonly data: Float32Array,
        readonly dims: number[],
      ) {}
    }
    for (const foreign of [{ type: 'float32', data, dims: [2, 2] }, new OtherLibraryTensor('float32', data, [2, 2])]) {
      const [t] = validateFeeds(one, { x: foreign }).tensors;
      expect(t).toBeInstanceOf(Tensor);
      expect(t!.data).toBe(data);
      expect(t!.dims).toEqual([2, 2]);
    }
  });

  it('views a typed array of another realm instead of refusing it', () => {
    const data = runInNewContext('new Float32Array([5, 6])') as Float32Array;
    expect(data instanceof Float32Array).toBe(false);
    const [t] = validateFeeds(one, { x: { type: 'float32', data, dims: [1, 2] } }).tensors;
    expect(t!.data).toBeInstanceOf(Float32Array);
    expect(Array.from(t!.data as Float32Array)).toEqual([5, 6]);
    expect(t!.data.buffer).toBe(data.buffer);
  });

  it('refuses data of the wrong class or length, unsupported types and tensors on a GPU', () => {
    const x = (v: unknown) => () => validateFeeds(one, { x: v });
    expect(x({ type: 'float32', data: new Float64Array(2), dims: [1, 2] })).toThrow(
      new DTypeError('feeds["x"] is a float32 tensor, so its data must be a Float32Array, got a Float64Array of length 2'),
    );
    expect(x({ type: 'float32', data: new Float32Array(3), dims: [1, 2] })).toThrow(
      new ShapeError('feeds["x"]: dims [1, 2] describe 2 elements but data has 3'),
    );
    expect(x({ type: 'string', data: ['a', 'b'], dims: [1, 2] })).toThrow(/feeds\["x"\] has element type "string".*string tensors are not supported/);
    expect(x({ type: 'int4', data: new Int8Array(1), dims: [1, 2] })).toThrow(DTypeError);
    expect(x({ type: 'float32', location: 'gpu-buffer', data: undefined, dims: [1, 2] })).toThrow(/data lives on "gpu-buffer"/);
    // cpu-pinned data is host memory: taken.
    expect(x({ type: 'float32', location: 'cpu-pinned', data: new Float32Array(2), dims: [1, 2] })).not.toThrow();
    // A foreign tensor of the wrong dtype for the input.
    expect(x({ type: 'float64', data: new Float64Array(2), dims: [1, 2] })).toThrow('input "x" must be float32, got float64');
  });
});

describe('limits', () => {
  const encoder: TensorInfo[] = [
    {
      name: 'input_ids',
      dtype: 'int64',
      dims: ['batch', 'sequence'],
      limits: [{ axis: 1, min: 1, reason: 'the model cannot take an empty sequence' }],
    },
    { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'sequence'] },
  ];
  const embedding = { input_ids: [{ axis: 1, max: 512, reason: "the model's position embedding has 512 rows" }] };

  it('refuses dims outside the TensorInfo limits and the ones a backend adds, naming why', () => {
    const v = new FeedValidator(encoder, { limits: embedding });
    expect(() => v.check({ input_ids: ids(1, 512), attention_mask: ids(1, 512) })).not.toThrow();
    const long = thrown(() => v.check({ input_ids: ids(2, 600), attention_mask: ids(2, 600) }));
    expect(long).toBeInstanceOf(ShapeError);
    expect(long.message).toBe('input "input_ids" dim 1 (sequence) must be at most 512, got 600 (dims [2, 600]): the model\'s position embedding has 512 rows');
    expect(long).toMatchObject({ input: 'input_ids', axis: 1, expected: { max: 512 }, got: 600 });
    expect(() => v.check({ input_ids: ids(2, 0), attention_mask: ids(2, 0) })).toThrow(
      'input "input_ids" dim 1 (sequence) must be at least 1, got 0 (dims [2, 0]): the model cannot take an empty sequence',
    );
    // Without the backend's limit, only the TensorInfo's own applies.
    expect(() => new FeedValidator(encoder).check({ input_ids: ids(2, 600), attention_mask: ids(2, 600) })).not.toThrow();
  });

  it('applies the tightest of several limits on one dim', () => {
    const v = new FeedValidator(encoder, {
      limits: { input_ids: [...embedding.input_ids, { axis: 1, max: 128, reason: 'the engine was built for 128 tokens' }] },
    });
    expect(() => v.check({ input_ids: ids(1, 200), attention_mask: ids(1, 200) })).toThrow(/at most 128, got 200 .*built for 128 tokens/);
  });

  it('refuses limits that cannot apply', () => {
    const make = (limits: unknown) => () => new FeedValidator(encoder, { limits: limits as never });
    expect(make({ nope: [{ axis: 0, max: 1, reason: 'x' }] })).toThrow('limits name an unknown input "nope"; the inputs are "input_ids", "attention_mask"');
    expect(make({ input_ids: [{ axis: 2, max: 1, reason: 'x' }] })).toThrow(/axis must be 0..1 \(the input has rank 2\), got 2/);
    expect(make({ input_ids: [{ axis: 1, reason: 'x' }] })).toThrow(/give min, max or both/);
    expect(make({ input_ids: [{ axis: 1, max: -1, reason: 'x' }] })).toThrow(/max must be a non-negative integer/);
    expect(make({ input_ids: [{ axis: 1, max: 4 }] })).toThrow(/reason must say why/);
  });
});

describe('detached feeds (P0-3)', () => {
  /** Detaches `t`'s buffer the way postMessage(..., [buffer]) does. */
  const detach = (t: Tensor): void => {
    structuredClone(t.data.buffer, { transfer: [t.data.buffer as ArrayBuffer] });
  };

  it('refuses a tensor whose ArrayBuffer was transferred after it was made, naming the input, before reading it', () => {
    const v = new FeedValidator(inputs);
    const f = ok();
    detach(f.attention_mask);
    expect(f.attention_mask.data.length).toBe(0);
    const e = thrown(() => v.check(f));
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(e.code).toBe('ERR_INVALID_ARG');
    expect(e.message).toMatch(/input "attention_mask"'s data was detached \(its ArrayBuffer was transferred/);
    expect(e.message).toMatch(/holds 0 of the 16 elements its dims \[2, 8\] need/);
    // The same through the shared validator of validateFeeds().
    expect(() => validateFeeds(inputs, f)).toThrow(/input "attention_mask"'s data was detached/);
  });

  it('the other feeds stay usable, and a fresh tensor for the input passes', () => {
    const v = new FeedValidator(inputs);
    const f = ok();
    detach(f.input_ids);
    expect(() => v.check(f)).toThrow(/input "input_ids"'s data was detached/);
    expect(f.attention_mask.data.length).toBe(16);
    const checked = v.check({ ...f, input_ids: ids(2, 8) });
    expect(checked.tensors[1]).toBe(f.attention_mask);
    expect(checked.symbolSizes).toEqual([2, 8]);
  });

  it('an empty tensor whose buffer was transferred holds nothing to read and is accepted', () => {
    const v = new FeedValidator([{ name: 'x', dtype: 'float32', dims: ['n'] }]);
    const t = new Tensor('float32', new Float32Array(4).subarray(0, 0), [0]);
    detach(t);
    expect(v.check({ x: t }).symbolSizes).toEqual([0]);
  });
});
