// The default intra-op thread count of worker-mode ONNX Runtime sessions (ort-execution.ts).
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { describe, expect, it } from 'vitest';
import { intraOpThreadsFor, physicalCores } from '../../../src/backends/ort-execution.js';

describe('intraOpThreadsFor', () => {
  it('leaves one core to the event loop, stays within the physical cores, and shares the rest out over the contexts', () => {
    // (contexts, cores, physical) -> threads per session
    const cases: [number, number, number | null, number][] = [
      [1, 2, 2, 1], // the 2-core box: ONNX Runtime's own count would take both cores
      [2, 2, 2, 1],
      [1, 4, 4, 3],
      [1, 16, 8, 8], // hyperthreads: one per physical core, as ONNX Runtime picks
      [2, 16, 8, 4],
      [3, 16, null, 5], // no topology: the logical count stands in
      [4, 2, 2, 1], // never 0
      [1, 1, 1, 1],
      [64, 8, 8, 1],
    ];
    for (const [contexts, cores, physical, want] of cases) {
      expect({ contexts, cores, physical, threads: intraOpThreadsFor(contexts, 0, cores, physical) }).toEqual({ contexts, cores, physical, threads: want });
    }
  });

  it('takes an explicit count as it is', () => {
    expect(intraOpThreadsFor(1, 6, 2, 2)).toBe(6);
    expect(intraOpThreadsFor(8, 3, 64, 32)).toBe(3);
  });

  it('reads the physical cores once: a count between 1 and the logical CPUs where Linux shows the topology', async () => {
    const p = physicalCores();
    expect(physicalCores()).toBe(p);
    const n = await p;
    if (!existsSync('/sys/devices/system/cpu/cpu0/topology/thread_siblings_list')) return expect(n).toBeNull();
    expect(Number.isInteger(n)).toBe(true);
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThanOrEqual(cpus().length);
  });
});
