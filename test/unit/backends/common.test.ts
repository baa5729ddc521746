import { describe, expect, it } from 'vitest';
import { selectOutputs, RunTracker, raceAbort, resolveOutputs, checkTargetDims, checkTargetResult } from '../../../src/backends/common.js';
import type { TensorInfo } from '../../../src/session.js';
import { AbortError, DTypeError, InvalidArgumentError, ShapeError } from '../../../src/errors.js';
import { Tensor } from '../../../src/tensor.js';

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

describe('resolveOutputs (caller-provided outputs)', () => {
  const outs: TensorInfo[] = [
    { name: 'logits', dtype: 'float32', dims: ['batch', 'seq', 4] },
    { name: 'ids', dtype: 'int64', dims: ['batch'] },
  ];
  it('passes names through and takes tensors by output name, in place', () => {
    expect(resolveOutputs(outs, undefined)).toEqual({ names: ['logits', 'ids'], targets: undefined });
    expect(resolveOutputs(outs, ['ids'])).toEqual({ names: ['ids'], targets: undefined });
    const t = Tensor.zeros('float32', [2, 3, 4]);
    const sel = resolveOutputs(outs, { logits: t });
    expect(sel.names).toEqual(['logits']);
    expect(sel.targets?.get('logits')).toBe(t);
    // A tensor-like of another library is wrapped over the same memory.
    const data = new BigInt64Array(2);
    const wrapped = resolveOutputs(outs, { ids: { type: 'int64', data, dims: [2] } }).targets!.get('ids')!;
    expect(wrapped.data).toBe(data);
  });
  it('refuses unknown names, wrong dtypes, ranks and fixed dims, and shared memory before any run', () => {
    expect(() => resolveOutputs(outs, {})).toThrow(InvalidArgumentError);
    expect(() => resolveOutputs(outs, 'logits')).toThrow(/array of output names or an object of tensors/);
    expect(() => resolveOutputs(outs, { nope: Tensor.zeros('float32', [1]) })).toThrow(/unknown output "nope"/);
    expect(() => resolveOutputs(outs, { logits: Tensor.zeros('float16', [2, 3, 4]) })).toThrow(DTypeError);
    expect(() => resolveOutputs(outs, { logits: Tensor.zeros('float32', [2, 12]) })).toThrow(ShapeError);
    expect(() => resolveOutputs(outs, { logits: Tensor.zeros('float32', [2, 3, 5]) })).toThrow(/has 4 at axis 2/);
    expect(() => resolveOutputs(outs, { logits: 42 })).toThrow(InvalidArgumentError);
    const buf = new ArrayBuffer(64);
    const a = new Tensor('float32', new Float32Array(buf, 0, 8), [1, 2, 4]);
    const b = new Tensor('int64', new BigInt64Array(buf, 24, 1), [1]);
    expect(() => resolveOutputs(outs, { logits: a, ids: b })).toThrow(/share memory/);
    const c = new Tensor('int64', new BigInt64Array(buf, 32, 1), [1]);
    expect(resolveOutputs(outs, { logits: a, ids: c }).names).toEqual(['logits', 'ids']);
  });
  it('checks symbolic dims the feeds bind, feeds sharing memory, and the dims a run produced', () => {
    const t = Tensor.zeros('float32', [2, 3, 4]);
    const sel = resolveOutputs(outs, { logits: t });
    const sizes = new Map([['batch', 2]]);
    expect(() => checkTargetDims(outs, sel.targets!, (n) => sizes.get(n))).not.toThrow();
    expect(() => checkTargetDims(outs, sel.targets!, (n) => (n === 'batch' ? 3 : undefined))).toThrow(/has 3 at axis 0 \("batch"/);
    const feed = new Tensor('float32', new Float32Array(t.data.buffer, 8, 2), [2]);
    expect(() => checkTargetDims(outs, sel.targets!, () => undefined, { x: feed })).toThrow(/shares memory with feeds\["x"\]/);
    expect(() => checkTargetResult('logits', t, [2, 3, 4])).not.toThrow();
    expect(() => checkTargetResult('logits', t, [2, 5, 4])).toThrow(ShapeError);
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
