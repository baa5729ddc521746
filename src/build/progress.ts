/**
 * Turns TensorRT's progress callbacks (phase start, step, phase finish) into events that
 * carry each phase's nesting depth, so a progress bar can show the top-level phases and
 * indent the rest. Phase names are TensorRT's own and may change between versions.
 */
import type { NativeBuildEvent } from '../native.js';
import type { BuildProgressEvent } from './options.js';

export class BuildProgressTracker {
  readonly #depth = new Map<string, number>();

  /** The event for `e`, or null for log events (which are not progress). */
  event(e: NativeBuildEvent): BuildProgressEvent | null {
    switch (e.kind) {
      case 'phaseStart': {
        const parentDepth = e.parent === null ? undefined : this.#depth.get(e.parent);
        const depth = parentDepth === undefined ? 0 : parentDepth + 1;
        this.#depth.set(e.phase, depth);
        return { kind: 'phaseStart', phase: e.phase, parent: e.parent, steps: e.steps, depth };
      }
      case 'step':
        return { kind: 'step', phase: e.phase, step: e.step, steps: e.steps, depth: this.#depth.get(e.phase) ?? 0 };
      case 'phaseFinish': {
        const depth = this.#depth.get(e.phase) ?? 0;
        this.#depth.delete(e.phase);
        return { kind: 'phaseFinish', phase: e.phase, steps: e.steps, depth };
      }
      default:
        return null;
    }
  }

  /** Phases started and not finished. */
  get open(): string[] {
    return [...this.#depth.keys()];
  }
}
