import { describe, expect, it } from 'vitest';
import { selectOutputs, RunTracker, raceAbort } from '../../../src/backends/common.js';
import type { TensorInfo } from '../../../src/session.js';
import { AbortError, InvalidArgumentError } from '../../../src/errors.js';

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
