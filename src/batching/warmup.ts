/**
 * Warm-up: a few batch shapes of zeros run through the session before serving, so the cost
 * model starts from measurements (and the session from warm caches and allocated buffers).
 * Per length, rows grow 1, 2, 4, ... until a batch no longer costs less per row than the one
 * before, the token budget is reached, or the time is up.
 */
import { Tensor } from '../tensor.js';
import type { Feeds, InferenceSession, RunOptions } from '../session.js';
import type { BatchLayout } from './layout.js';
import type { WarmupPlan } from './config.js';
import type { CostModel } from './cost-model.js';
import { allocate, product } from './tensor-ops.js';

/** Inputs of `rows` rows with every padded dim at `len`, filled with each input's pad value. */
export function warmupFeeds(layout: BatchLayout, inputDims: (name: string) => readonly (number | string)[], rows: number, len: number): Feeds {
  const feeds: Record<string, Tensor> = {};
  for (const p of layout.inputs) {
    const dims = inputDims(p.name).map((d, a) => (a === p.batchAxis ? rows : p.padAxes.includes(a) ? len : (d as number)));
    feeds[p.name] = new Tensor(p.dtype, allocate(p.dtype, product(dims), p.padFill) as never, dims);
  }
  return feeds;
}

export interface WarmupResult {
  /** Shapes run (rows, padded row length, ms of the timed runs). */
  readonly shapes: readonly { readonly rows: number; readonly length: number; readonly ms: readonly number[] }[];
  readonly ms: number;
}

export async function runWarmup(
  session: InferenceSession,
  layout: BatchLayout,
  plan: WarmupPlan,
  limits: { maxRows: number; maxTokens: number },
  runOptions: RunOptions | undefined,
  model: CostModel,
): Promise<WarmupResult> {
  const start = performance.now();
  const inputDims = (name: string): readonly (number | string)[] => session.inputs.find((i) => i.name === name)!.dims;
  const nDims = layout.dims.length;
  const shapes: { rows: number; length: number; ms: number[] }[] = [];
  outer: for (const len of plan.lengths) {
    const rowLen = nDims === 0 ? 1 : len ** nDims;
    let lastPerRow = Infinity;
    for (const rows of plan.rows) {
      if (rows > limits.maxRows || (rows > 1 && rows * rowLen > limits.maxTokens)) break;
      if (performance.now() - start > plan.maxMs) break outer;
      const feeds = warmupFeeds(layout, inputDims, rows, len);
      await session.run(feeds, runOptions); // untimed: first runs of a shape allocate
      const ms: number[] = [];
      for (let k = 0; k < 2; k++) {
        const t0 = performance.now();
        await session.run(feeds, runOptions);
        const t = performance.now() - t0;
        ms.push(t);
        model.observe(rows, rowLen, t);
      }
      shapes.push({ rows, length: rowLen, ms });
      const perRow = Math.min(...ms) / rows;
      if (perRow > lastPerRow) break;
      lastPerRow = perRow;
    }
  }
  return { shapes, ms: performance.now() - start };
}
