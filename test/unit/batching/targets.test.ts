// Caller-provided outputs through the DynamicBatcher: each request's rows copied into its own
// tensors when the batch returns, checked at submit time.
import { describe, expect, it } from 'vitest';
import { DynamicBatcher } from '../../../src/batching/index.js';
import { Tensor } from '../../../src/index.js';
import { DTypeError, InvalidArgumentError, ShapeError } from '../../../src/errors.js';
import { EncoderDouble, expectOutputsFor, idsFor, request } from '../../support/doubles.js';

const hiddenFor = (rows: number[][]) => Tensor.zeros('float32', [rows.length, rows[0]!.length, 2]);
const pooledFor = (rows: number[][]) => Tensor.zeros('float32', [rows.length, 1]);

describe('DynamicBatcher: caller-provided outputs', () => {
  it('copies each request its own trimmed rows into its tensors, returning those objects, in shared and lone batches', async () => {
    const s = new EncoderDouble();
    const b = new DynamicBatcher(s);
    const reqs = [[idsFor(1, 3)], [idsFor(2, 7), idsFor(3, 7)], [idsFor(4, 1)]];
    const targets = reqs.map((rows) => ({ hidden: hiddenFor(rows), pooled: pooledFor(rows) }));
    const outs = await Promise.all(reqs.map((rows, i) => b.run(request(...rows), { outputs: targets[i]! })));
    // One batch of 4 rows padded to 7: each share trimmed back into the request's own tensors.
    expect(s.calls.map((c) => [c.batch, c.seq])).toEqual([[4, 7]]);
    outs.forEach((o, i) => {
      expect(o.hidden).toBe(targets[i]!.hidden);
      expect(o.pooled).toBe(targets[i]!.pooled);
      expectOutputsFor(o, reqs[i]!);
    });
    // A lone request (the session's outputs passed through) is copied into its tensors too.
    const lone = { pooled: pooledFor([idsFor(9, 4)]) };
    const out = await b.run(request(idsFor(9, 4)), { outputs: lone });
    expect(Object.keys(out)).toEqual(['pooled']);
    expect(out.pooled).toBe(lone.pooled);
    const plain = await b.run(request(idsFor(9, 4)));
    expect(Array.from(lone.pooled.toFloat64())).toEqual(Array.from(plain.pooled!.toFloat64()));
    await b.close();
  });

  it('returns only the outputs an array names', async () => {
    const b = new DynamicBatcher(new EncoderDouble());
    const [x, y] = await Promise.all([b.run(request(idsFor(1, 3)), { outputs: ['pooled'] }), b.run(request(idsFor(2, 5)))]);
    expect(Object.keys(x!)).toEqual(['pooled']);
    expect(Object.keys(y!).sort()).toEqual(['hidden', 'pooled']);
    await b.close();
  });

  it('refuses at submit time what cannot fit the request, and keeps serving the others', async () => {
    const s = new EncoderDouble();
    const b = new DynamicBatcher(s);
    const rows = [idsFor(1, 3), idsFor(2, 3)];
    const feeds = request(...rows);
    const cases: [unknown, new (...a: never[]) => Error, RegExp][] = [
      [{ pooled: Tensor.zeros('float64', [2, 1]) }, DTypeError, /is a float64 tensor but output "pooled" is float32/],
      [{ pooled: Tensor.zeros('float32', [3, 1]) }, ShapeError, /has 2 at axis 0 \(the request's batch\)/],
      [{ hidden: Tensor.zeros('float32', [2, 4, 2]) }, ShapeError, /has 3 at axis 1 \(its "sequence" length\)/],
      [{ hidden: Tensor.zeros('float32', [2, 3, 3]) }, ShapeError, /has 2 at axis 2/],
      [{ logits: Tensor.zeros('float32', [2, 1]) }, InvalidArgumentError, /unknown output "logits"/],
      [
        { pooled: new Tensor('float32', new Float32Array((feeds.input_ids!.data as BigInt64Array).buffer, 0, 2), [2, 1]) },
        InvalidArgumentError,
        /shares memory with feeds\["input_ids"\]/,
      ],
    ];
    for (const [outputs, kind, message] of cases) {
      const err = await b.run(feeds, { outputs: outputs as never }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(kind);
      expect((err as Error).message).toMatch(message);
    }
    expect(s.calls).toHaveLength(0);
    expect(b.stats().requests).toMatchObject({ accepted: 0, rejected: { invalid: cases.length } });
    expectOutputsFor(await b.run(feeds), rows);
    await b.close();
  });

  it('fails only the request whose target a batch-decided dim does not fit', async () => {
    // hidden is not trimmed back: its sequence axis is the batch's padded length, which only the batch decides.
    const b = new DynamicBatcher(new EncoderDouble(), { padding: { outputs: { hidden: { axes: [] } } } });
    const short = Tensor.zeros('float32', [1, 3, 2]);
    const long = Tensor.zeros('float32', [1, 6, 2]);
    const [a, c] = await Promise.all([
      b.run(request(idsFor(1, 3)), { outputs: { hidden: short } }).catch((e: unknown) => e),
      b.run(request(idsFor(2, 6)), { outputs: { hidden: long } }),
    ]);
    expect(a).toBeInstanceOf(ShapeError);
    expect((a as Error).message).toMatch(
      /options\.outputs\["hidden"\] has dims \[1, 3, 2\] but this request's share of the batch output "hidden" has dims \[1, 6, 2\]/,
    );
    expect((c as { hidden: Tensor }).hidden).toBe(long);
    expect(short.data.every((v) => v === 0)).toBe(true);
    await b.close();
  });
});
