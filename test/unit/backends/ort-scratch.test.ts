// The worker-mode scratch blocks caller-provided outputs cross in: reused, never shared by two
// runs at once, and a bounded number kept idle.
import { describe, expect, it } from 'vitest';
import { ScratchBlocks } from '../../../src/backends/ort-execution.js';

describe('ScratchBlocks', () => {
  it('reuses the smallest idle block that fits and makes one only when none does', () => {
    const s = new ScratchBlocks(4);
    const a = s.take(1000);
    expect(a.byteLength).toBe(1024);
    const b = s.take(100); // a is taken: a new block, at least 256 bytes
    expect(b.byteLength).toBe(256);
    expect(s.made).toBe(2);
    s.give(a);
    s.give(b);
    expect(s.take(200)).toBe(b);
    expect(s.take(200)).toBe(a);
    expect(s.take(0).byteLength).toBe(256);
    expect(s.made).toBe(3);
  });

  it('steady runs make no block after the first ones', () => {
    const s = new ScratchBlocks(4);
    for (let i = 0; i < 1000; i++) {
      const inFlight = [s.take(64 * 1024), s.take(64 * 1024)];
      for (const block of inFlight) s.give(block);
    }
    expect(s.made).toBe(2);
  });

  it('keeps at most `keep` idle blocks, dropping the smallest', () => {
    const s = new ScratchBlocks(2);
    const blocks = [s.take(300), s.take(5000), s.take(2000)];
    for (const block of blocks) s.give(block);
    expect(s.take(1)).toBe(blocks[2]); // the 512-byte block was dropped
    expect(s.take(1)).toBe(blocks[1]);
    expect(s.take(1)).not.toBe(blocks[0]);
  });
});
