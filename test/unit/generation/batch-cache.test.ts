// Left-padded feeds and cache assembly, element by element.
import { describe, expect, it } from 'vitest';
import { KvBufferPool, assembleCache, decodeFeeds, prefillFeeds, type BatchCache } from '../../../src/generation/batch-cache.js';
import { detectDecoder } from '../../../src/generation/decoder-io.js';
import { Tensor } from '../../../src/tensor.js';
import { FakeDecoderSession } from './fake-decoder.js';

const io = detectDecoder(new FakeDecoderSession());
const num = (t: Tensor | undefined): number[] => Array.from(t!.data as BigInt64Array, Number);

describe('batch feeds and cache', () => {
  it('prefill: prompts left-padded, mask 0 on padding, positions counting real tokens (1 on padding)', () => {
    const { feeds, width } = prefillFeeds(io, [Int32Array.of(5, 6, 7), Int32Array.of(9)]);
    expect(width).toBe(3);
    expect(num(feeds.input_ids)).toEqual([5, 6, 7, 0, 0, 9]);
    expect(num(feeds.attention_mask)).toEqual([1, 1, 1, 0, 0, 1]);
    expect(num(feeds.position_ids)).toEqual([0, 1, 2, 1, 1, 0]);
    expect(feeds['past_key_values.0.key']!.dims).toEqual([2, 1, 0, 2]);
  });

  it('decode: one token per row over the cache, mask over past + current', () => {
    const cache: BatchCache = { rows: 2, width: 3, tensors: [Tensor.zeros('float32', [2, 1, 3, 2]), Tensor.zeros('float32', [2, 1, 3, 2])] };
    const feeds = decodeFeeds(io, cache, [11, 12], [3, 1]);
    expect(num(feeds.input_ids)).toEqual([11, 12]);
    expect(feeds.attention_mask!.dims).toEqual([2, 4]);
    expect(num(feeds.attention_mask)).toEqual([1, 1, 1, 1, 0, 0, 1, 1]);
    expect(num(feeds.position_ids)).toEqual([3, 1]);
    expect(feeds['past_key_values.0.value']).toBe(cache.tensors[1]);
  });

  it('assembles rows from several caches right-aligned, trimming padding no row needs', () => {
    // Two caches of [rows, 1 head, width, 2]: values encode (cache, row, position, lane).
    const make = (id: number, rows: number, width: number): BatchCache => {
      const t = () =>
        new Tensor(
          'float32',
          Float32Array.from({ length: rows * width * 2 }, (_, i) => id * 1000 + i),
          [rows, 1, width, 2],
        );
      return { rows, width, tensors: [t(), t()] };
    };
    const a = make(1, 3, 4);
    const b = make(2, 1, 2);
    const out = assembleCache(
      io,
      [
        { cache: a, row: 2, len: 1 },
        { cache: b, row: 0, len: 2 },
        { cache: a, row: 0, len: 3 },
      ],
      3,
    );
    expect(out.rows).toBe(3);
    expect(out.width).toBe(3);
    expect(out.tensors[0]!.dims).toEqual([3, 1, 3, 2]);
    const v = Array.from(out.tensors[0]!.data as Float32Array);
    // row 0 <- a row 2, last position (index 3): elements 2*8 + 3*2 = 22, 23
    expect(v.slice(0, 6)).toEqual([0, 0, 0, 0, 1022, 1023]);
    // row 1 <- b row 0, positions 0..1
    expect(v.slice(6, 12)).toEqual([0, 0, 2000, 2001, 2002, 2003]);
    // row 2 <- a row 0, positions 1..3
    expect(v.slice(12, 18)).toEqual([1002, 1003, 1004, 1005, 1006, 1007]);
  });

  it('assembles into pooled memory of dead caches, zeroing the padding; detached buffers are not taken back', () => {
    const dead: BatchCache = { rows: 2, width: 8, tensors: [0, 1].map(() => new Tensor('float32', new Float32Array(32).fill(Number.NaN), [2, 1, 8, 2])) };
    const pool = new KvBufferPool(8);
    pool.release(dead);
    expect(pool.size).toBe(2);
    const src: BatchCache = { rows: 1, width: 2, tensors: [0, 1].map(() => new Tensor('float32', Float32Array.of(1, 2, 3, 4), [1, 1, 2, 2])) };
    const out = assembleCache(
      io,
      [
        { cache: src, row: 0, len: 2 },
        { cache: src, row: 0, len: 1 },
      ],
      3,
      pool,
    );
    expect(pool.size).toBe(0);
    expect(out.tensors[0]!.data.buffer).toBe(dead.tensors[0]!.data.buffer);
    expect(Array.from(out.tensors[1]!.data as Float32Array)).toEqual([0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 3, 4]);
    const capped = new KvBufferPool(8, 100);
    capped.release({
      rows: 1,
      width: 8,
      tensors: [new Tensor('float32', new Float32Array(16), [1, 1, 8, 2]), new Tensor('float32', new Float32Array(24), [1, 1, 12, 2])],
    });
    expect([capped.size, capped.bytes]).toEqual([1, 96]);
    const moved = new Float32Array(4);
    structuredClone(moved.buffer, { transfer: [moved.buffer] });
    pool.release({ rows: 1, width: 0, tensors: [new Tensor('float32', new Float32Array(0), [1, 1, 0, 2]), { data: moved } as unknown as Tensor] });
    expect(pool.size).toBe(0);
  });
});
