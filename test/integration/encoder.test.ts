import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OnnxRuntimeSession } from '../../src/backends/onnxruntime.js';
import { createEncoderModel, decodeModel, encodeModel, writeModel, Xoshiro128 } from '../../src/onnx/index.js';
import { Tensor } from '../../src/tensor.js';

const VOCAB = 1024;

function feeds(batch: number, seq: number, seed: number, lengths?: number[]) {
  const rng = Xoshiro128.forStream(seed, 'feeds');
  const ids = new BigInt64Array(batch * seq);
  const mask = new BigInt64Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    const len = lengths?.[b] ?? seq;
    for (let s = 0; s < seq; s++) {
      ids[b * seq + s] = BigInt(s < len ? rng.nextInt(1, VOCAB) : 0);
      mask[b * seq + s] = s < len ? 1n : 0n;
    }
  }
  return {
    input_ids: new Tensor('int64', ids, [batch, seq]),
    attention_mask: new Tensor('int64', mask, [batch, seq]),
  };
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

describe('embedded encoder under ONNX Runtime', () => {
  let session: OnnxRuntimeSession;
  let dir: string;
  beforeAll(async () => {
    session = await OnnxRuntimeSession.create(encodeModel(createEncoderModel({ seed: 1 })), { intraOpNumThreads: 2 });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trtn-encoder-'));
  });
  afterAll(async () => {
    await session.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('declares symbolic batch and sequence dims', () => {
    expect(session.inputs.map((i) => [i.name, i.dtype, i.dims])).toEqual([
      ['input_ids', 'int64', ['batch', 'sequence']],
      ['attention_mask', 'int64', ['batch', 'sequence']],
    ]);
    expect(session.outputs.map((o) => [o.name, o.dtype, o.dims])).toEqual([
      ['last_hidden_state', 'float32', ['batch', 'sequence', 64]],
      ['logits', 'float32', ['batch', 4]],
    ]);
  });

  it('runs any batch and sequence length up to maxPositions with finite outputs', async () => {
    for (const [batch, seq] of [
      [1, 1],
      [8, 128],
      [3, 7],
      [2, 512],
    ] as const) {
      const out = await session.run(feeds(batch, seq, batch * 1000 + seq));
      expect(out.last_hidden_state!.dims).toEqual([batch, seq, 64]);
      expect(out.logits!.dims).toEqual([batch, 4]);
      const h = out.last_hidden_state!.data as Float32Array;
      expect(h.every(Number.isFinite)).toBe(true);
      expect((out.logits!.data as Float32Array).every(Number.isFinite)).toBe(true);
      // Post-LN: each position's hidden vector is normalised (gamma close to 1, beta close to 0).
      let sq = 0;
      for (let i = 0; i < 64; i++) sq += h[i]! * h[i]!;
      expect(Math.sqrt(sq / 64)).toBeGreaterThan(0.8);
      expect(Math.sqrt(sq / 64)).toBeLessThan(1.2);
    }
  });

  it('gives distinct, non-degenerate logits for distinct inputs', async () => {
    const out = await session.run(feeds(8, 32, 5));
    const l = out.logits!.data as Float32Array;
    const rows = Array.from({ length: 8 }, (_, b) => Array.from(l.subarray(b * 4, b * 4 + 4)));
    expect(new Set(rows.map((r) => r.join(','))).size).toBe(8);
    const spread = Math.max(...l) - Math.min(...l);
    expect(spread).toBeGreaterThan(0.5);
  });

  it('ignores token ids at masked positions (padding invariance)', async () => {
    const lengths = [16, 9, 1, 12];
    const a = feeds(4, 16, 21, lengths);
    const ids = (a.input_ids.data as BigInt64Array).slice();
    for (let b = 0; b < 4; b++) for (let s = lengths[b]!; s < 16; s++) ids[b * 16 + s] = BigInt((b * 31 + s * 17) % VOCAB);
    const b2 = { input_ids: new Tensor('int64', ids, [4, 16]), attention_mask: a.attention_mask };
    const [x, y] = [await session.run(a), await session.run(b2)];
    expect(maxAbsDiff(x.logits!, y.logits!)).toBeLessThanOrEqual(1e-5);
    // Unmasked positions' hidden states are unchanged too.
    const hx = x.last_hidden_state!.data as Float32Array;
    const hy = y.last_hidden_state!.data as Float32Array;
    let m = 0;
    for (let b = 0; b < 4; b++)
      for (let s = 0; s < lengths[b]!; s++)
        for (let k = 0; k < 64; k++) {
          const i = (b * 16 + s) * 64 + k;
          m = Math.max(m, Math.abs(hx[i]! - hy[i]!));
        }
    expect(m).toBeLessThanOrEqual(1e-5);
    // And a shorter sequence without the padding gives the same logits for that row.
    const short = feeds(1, 9, 0);
    (short.input_ids.data as BigInt64Array).set((a.input_ids.data as BigInt64Array).subarray(16, 25));
    const z = await session.run(short);
    const l = x.logits!.data as Float32Array;
    for (let k = 0; k < 4; k++) expect(Math.abs((z.logits!.data as Float32Array)[k]! - l[4 + k]!)).toBeLessThanOrEqual(1e-5);
    // Sanity: changing an unmasked token does change the logits.
    const ids2 = (a.input_ids.data as BigInt64Array).slice();
    ids2[0] = ids2[0] === 5n ? 6n : 5n;
    const w = await session.run({ input_ids: new Tensor('int64', ids2, [4, 16]), attention_mask: a.attention_mask });
    expect(maxAbsDiff(w.logits!, x.logits!)).toBeGreaterThan(1e-4);
  });

  it('is deterministic for a seed, and reads back from disk with external data identically', async () => {
    const model = createEncoderModel({ seed: 1 });
    const file = path.join(dir, 'enc.onnx');
    await writeModel(model, file, { externalData: true });
    const fromDisk = await OnnxRuntimeSession.create(file);
    const other = await OnnxRuntimeSession.create(encodeModel(createEncoderModel({ seed: 2 })));
    try {
      const f = feeds(2, 24, 9);
      const [a, b, c] = [await session.run(f), await fromDisk.run(f), await other.run(f)];
      expect(Buffer.from((a.logits!.data as Float32Array).buffer).equals(Buffer.from((b.logits!.data as Float32Array).buffer))).toBe(true);
      expect(maxAbsDiff(a.logits!, c.logits!)).toBeGreaterThan(1e-3);
    } finally {
      await fromDisk.dispose();
      await other.dispose();
    }
  });

  it('keeps outputs bit-identical through a read/write round trip with unknown fields', async () => {
    const bytes = encodeModel(createEncoderModel({ seed: 1 }));
    // Append a ModelProto field no schema of ours declares (field 77, length-delimited).
    const extra = Uint8Array.from([(77 << 3) | 2, 0x01, 0x02, (77 << 3) | 2, 3, 0x61, 0x62, 0x63]);
    const withUnknown = new Uint8Array(bytes.byteLength + extra.byteLength);
    withUnknown.set(bytes);
    withUnknown.set(extra, bytes.byteLength);
    const roundTripped = encodeModel(decodeModel(withUnknown));
    expect(Buffer.from(roundTripped).equals(Buffer.from(withUnknown))).toBe(true);
    const s = await OnnxRuntimeSession.create(roundTripped);
    try {
      const f = feeds(3, 40, 4);
      const [a, b] = [await session.run(f), await s.run(f)];
      for (const name of ['logits', 'last_hidden_state']) {
        expect(Buffer.from((a[name]!.data as Float32Array).buffer).equals(Buffer.from((b[name]!.data as Float32Array).buffer))).toBe(true);
      }
    } finally {
      await s.dispose();
    }
  });

  it('rejects sequences longer than maxPositions', async () => {
    const small = await OnnxRuntimeSession.create(encodeModel(createEncoderModel({ maxPositions: 16 })));
    try {
      await expect(small.run(feeds(1, 16, 1))).resolves.toBeDefined();
      await expect(small.run(feeds(1, 17, 1))).rejects.toThrow(
        /^input "input_ids" dim 1 \(sequence\) must be at most 16, got 17 \(dims \[1, 17\]\): the model's Slice/,
      );
    } finally {
      await small.dispose();
    }
  });
});
