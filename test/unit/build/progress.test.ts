import { describe, expect, it } from 'vitest';
import { BuildProgressTracker } from '../../../src/build/progress.js';

describe('BuildProgressTracker', () => {
  it('adds each phase nesting depth and forgets finished phases', () => {
    const t = new BuildProgressTracker();
    expect(t.event({ kind: 'phaseStart', phase: 'Building engine', parent: null, steps: 3 })).toEqual({
      kind: 'phaseStart',
      phase: 'Building engine',
      parent: null,
      steps: 3,
      depth: 0,
    });
    expect(t.event({ kind: 'phaseStart', phase: 'Tactic timing', parent: 'Building engine', steps: 40 })?.depth).toBe(1);
    expect(t.event({ kind: 'phaseStart', phase: 'Layer 7', parent: 'Tactic timing', steps: 5 })?.depth).toBe(2);
    expect(t.event({ kind: 'step', phase: 'Tactic timing', step: 12, steps: 40 })).toEqual({
      kind: 'step',
      phase: 'Tactic timing',
      step: 12,
      steps: 40,
      depth: 1,
    });
    expect(t.open).toEqual(['Building engine', 'Tactic timing', 'Layer 7']);
    expect(t.event({ kind: 'phaseFinish', phase: 'Layer 7', steps: 5 })?.depth).toBe(2);
    expect(t.open).toEqual(['Building engine', 'Tactic timing']);
    // A parent TensorRT never announced counts as top level.
    expect(t.event({ kind: 'phaseStart', phase: 'orphan', parent: 'unknown', steps: 1 })?.depth).toBe(0);
    expect(t.event({ kind: 'log', severity: 'warning', message: 'x' })).toBeNull();
  });
});
