import { describe, expect, it } from 'vitest';
import { validateFeeds, selectOutputs, RunTracker, raceAbort } from '../../../src/backends/common.js';
import { Tensor } from '../../../src/tensor.js';
import type { TensorInfo } from '../../../src/session.js';
import { AbortError, DTypeError, InvalidArgumentError, ShapeError } from '../../../src/errors.js';

const inputs: TensorInfo[] = [
  { name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'] },
  { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'sequence'] },
  { name: 'scale', dtype: 'float32', dims: [1] },
];
const ids = (b: number, s: number) => Tensor.zeros('int64', [b, s]);
const ok = () => ({ input_ids: ids(2, 8), attention_mask: ids(2, 8), scale: new Tensor('float32', [1]) });

describe('validateFeeds', () => {
  it('accepts matching feeds and returns the bound symbolic dims', () => {
    expect(validateFeeds(inputs, ok())).toEqual(new Map([['batch', 2], ['sequence', 8]]));
  });

  it('names unknown and missing inputs', () => {
    expect(() => validateFeeds(inputs, { ...ok(), token_type_ids: ids(2, 8) })).toThrow(
      'feeds has an unknown input "token_type_ids"; the model\'s inputs are "input_ids", "attention_mask", "scale"',
    );
    const { attention_mask: _, ...missing } = ok();
    expect(() => validateFeeds(inputs, missing)).toThrow('feeds is missing input "attention_mask" (int64 [batch, sequence])');
  });

  it('refuses non-objects and non-Tensors', () => {
    expect(() => validateFeeds(inputs, null)).toThrow(InvalidArgumentError);
    expect(() => validateFeeds(inputs, [1])).toThrow(InvalidArgumentError);
    expect(() => validateFeeds(inputs, ids(1, 1))).toThrow(InvalidArgumentError);
    expect(() => validateFeeds(inputs, { ...ok(), scale: new Float32Array(1) })).toThrow(
      'feeds["scale"] must be a Tensor, got a Float32Array of length 1',
    );
  });

  it('checks dtype, rank and fixed dims', () => {
    expect(() => validateFeeds(inputs, { ...ok(), input_ids: Tensor.zeros('int32', [2, 8]) })).toThrow(
      new DTypeError('input "input_ids" must be int64, got int32'),
    );
    expect(() => validateFeeds(inputs, { ...ok(), input_ids: ids(2, 8).reshape([16]) })).toThrow(
      'input "input_ids" must have rank 2 [batch, sequence], got rank 1 [16]',
    );
    expect(() => validateFeeds(inputs, { ...ok(), scale: new Tensor('float32', [1, 2]) })).toThrow(
      'input "scale" dim 0 must be 1 [1], got [2]',
    );
  });

  it('requires inputs sharing a symbolic dim to agree', () => {
    expect(() => validateFeeds(inputs, { ...ok(), attention_mask: ids(2, 7) })).toThrow(ShapeError);
    expect(() => validateFeeds(inputs, { ...ok(), attention_mask: ids(2, 7) })).toThrow(
      'input "attention_mask" dim 1 (sequence) is 7 but input "input_ids" gave sequence = 8',
    );
  });

  it('treats -1 as unconstrained', () => {
    expect(() => validateFeeds([{ name: 'x', dtype: 'float32', dims: [-1, 3] }], { x: Tensor.zeros('float32', [5, 3]) })).not.toThrow();
  });
});

describe('selectOutputs', () => {
  const outs: TensorInfo[] = [
    { name: 'a', dtype: 'float32', dims: [1] },
    { name: 'b', dtype: 'float32', dims: [1] },
  ];
  it('defaults to all outputs and checks names', () => {
    expect(selectOutputs(outs, undefined)).toEqual(['a', 'b']);
    expect(selectOutputs(outs, ['b'])).toEqual(['b']);
    expect(() => selectOutputs(outs, ['c'])).toThrow(/unknown output "c"/);
    expect(() => selectOutputs(outs, [])).toThrow(InvalidArgumentError);
  });
});

describe('RunTracker', () => {
  it('waits for in-flight work before releasing, once', async () => {
    const tracker = new RunTracker();
    let release = 0;
    let finish!: () => void;
    const work = tracker.track(new Promise<void>((r) => (finish = r)));
    const d1 = tracker.dispose(() => {
      release++;
    });
    const d2 = tracker.dispose(() => {
      release++;
    });
    expect(d1).toBe(d2);
    expect(tracker.disposed).toBe(true);
    await new Promise((r) => setTimeout(r, 5));
    expect(release).toBe(0);
    finish();
    await work;
    await d1;
    expect(release).toBe(1);
    expect(tracker.inflight).toBe(0);
  });
});

describe('raceAbort', () => {
  it('rejects with ERR_ABORTED when the signal fires and passes results through otherwise', async () => {
    const ac = new AbortController();
    const slow = new Promise((r) => setTimeout(() => r('late'), 50));
    const raced = raceAbort(slow, ac.signal, 'run()');
    ac.abort(new Error('stop'));
    const err = await raced.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).code).toBe('ERR_ABORTED');
    expect(((err as AbortError).cause as Error).message).toBe('stop');
    await expect(raceAbort(Promise.resolve(3), new AbortController().signal, 'x')).resolves.toBe(3);
  });
});
