// wireFeeds: the feeds of a run as posted to an ONNX Runtime worker, made at each posting.
import { describe, expect, it } from 'vitest';
import { wireFeeds } from '../../../src/backends/ort-execution.js';

describe('wireFeeds', () => {
  it('refuses a feed whose buffer was moved away after run() checked it, naming it (a dropped message would never settle)', () => {
    const data = new Float32Array([1, 2, 3]);
    structuredClone(data.buffer, { transfer: [data.buffer] });
    expect(() => wireFeeds([{ name: 'x', type: 'float32', dims: [1, 3], data }], true)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG', message: expect.stringContaining('input "x"\'s data was detached') }),
    );
  });

  it('accepts an empty feed, moves whole buffers only with transfer and move, and copies part of a buffer', () => {
    const empty = { name: 'e', type: 'float32', dims: [0, 3], data: new Float32Array(0) };
    const whole = new Float32Array([1, 2]);
    const part = new Float32Array([1, 2, 3, 4]).subarray(1, 3);
    const moved = wireFeeds([empty, { name: 'w', type: 'float32', dims: [2], data: whole }, { name: 'p', type: 'float32', dims: [2], data: part }], true, true);
    expect(moved.transfer).toContain(whole.buffer);
    expect(moved.once).toBe(true);
    expect(Array.from(moved.wire[2]!.data as Float32Array)).toEqual([2, 3]);
    expect(moved.wire[2]!.data.buffer).not.toBe(part.buffer);
    const cloned = wireFeeds([{ name: 'w', type: 'float32', dims: [2], data: whole }], true, false);
    expect(cloned.transfer).toEqual([]);
    expect(cloned.once).toBe(false);
  });
});
