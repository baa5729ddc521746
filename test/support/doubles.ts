/**
 * Test doubles for the batcher's unit tests: a session with the input/output layout of a
 * Hugging Face encoder whose outputs are a simple, padding-independent function of each
 * row, so a test can tell exactly which request every output row came from.
 */
import { Tensor } from '../../src/tensor.js';
import type { Feeds, InferenceSession, Outputs, RunOptions, TensorInfo } from '../../src/session.js';

export interface Call {
  batch: number;
  seq: number;
  /** Per row of the batch, the real (mask = 1) token ids. */
  rows: number[][];
}

interface Pending {
  resolve: (o: Outputs) => void;
  reject: (e: unknown) => void;
  result: Outputs;
}

/**
 * inputs  input_ids, attention_mask: int64 [batch, sequence]
 * outputs hidden: float32 [batch, sequence, 2] = (id * mask, row sum of id * mask)
 *         pooled: float32 [batch, 1]           = row sum of id * mask
 * mode 'auto' resolves on a microtask; 'manual' waits for release().
 */
export class EncoderDouble implements InferenceSession {
  readonly backend = 'onnxruntime' as const;
  readonly inputs: readonly TensorInfo[] = [
    { name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'] },
    { name: 'attention_mask', dtype: 'int64', dims: ['batch', 'sequence'] },
  ];
  readonly outputs: readonly TensorInfo[] = [
    { name: 'hidden', dtype: 'float32', dims: ['batch', 'sequence', 2] },
    { name: 'pooled', dtype: 'float32', dims: ['batch', 1] },
  ];
  disposed = false;
  contexts: number | undefined;
  calls: Call[] = [];
  pending: Pending[] = [];
  /** Batches (by call index) that reject with this error. */
  failures = new Map<number, Error>();
  /** Makes the session return outputs with a wrong batch dim on these calls. */
  badShapeOn = new Set<number>();

  constructor(public mode: 'auto' | 'manual' = 'auto') {}

  run(feeds: Feeds, _options?: RunOptions): Promise<Outputs> {
    const ids = feeds.input_ids!;
    const mask = feeds.attention_mask!;
    const [batch, seq] = ids.dims as [number, number];
    const idData = ids.data as BigInt64Array;
    const maskData = mask.data as BigInt64Array;
    const hidden = new Float32Array(batch * seq * 2);
    const pooled = new Float32Array(batch);
    const rows: number[][] = [];
    for (let b = 0; b < batch; b++) {
      let sum = 0;
      const row: number[] = [];
      for (let s = 0; s < seq; s++) {
        const m = Number(maskData[b * seq + s]!);
        const v = Number(idData[b * seq + s]!) * m;
        if (m === 1) row.push(Number(idData[b * seq + s]!));
        sum += v;
        hidden[(b * seq + s) * 2] = v;
      }
      for (let s = 0; s < seq; s++) hidden[(b * seq + s) * 2 + 1] = sum;
      pooled[b] = sum;
      rows.push(row);
    }
    const index = this.calls.length;
    this.calls.push({ batch, seq, rows });
    const outBatch = this.badShapeOn.has(index) ? batch + 1 : batch;
    const result: Outputs = {
      hidden: new Tensor('float32', this.badShapeOn.has(index) ? new Float32Array(outBatch * seq * 2) : hidden, [outBatch, seq, 2]),
      pooled: new Tensor('float32', this.badShapeOn.has(index) ? new Float32Array(outBatch) : pooled, [outBatch, 1]),
    };
    const failure = this.failures.get(index);
    if (this.mode === 'auto') return failure ? Promise.reject(failure) : Promise.resolve(result);
    return new Promise<Outputs>((resolve, reject) => {
      this.pending.push({ resolve: failure ? () => reject(failure) : resolve, reject, result });
    });
  }

  /** Completes the pending call at `index` (default: the oldest). */
  release(index = 0): void {
    const [p] = this.pending.splice(index, 1);
    if (!p) throw new Error('no pending call to release');
    p.resolve(p.result);
  }

  releaseAll(): void {
    while (this.pending.length > 0) this.release();
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/** Feeds of one request: `rows` lists the token ids of each row (equal lengths). */
export function request(...rows: number[][]): Feeds {
  const seq = rows[0]!.length;
  const ids = new BigInt64Array(rows.length * seq);
  rows.forEach((r, b) => r.forEach((v, s) => (ids[b * seq + s] = BigInt(v))));
  return {
    input_ids: new Tensor('int64', ids, [rows.length, seq]),
    attention_mask: new Tensor('int64', new BigInt64Array(rows.length * seq).fill(1n), [rows.length, seq]),
  };
}

/** Token ids unique to request `k`: k * 1000 + 1 .. k * 1000 + len. */
export function idsFor(k: number, len: number): number[] {
  return Array.from({ length: len }, (_, s) => k * 1000 + s + 1);
}

/** Checks `out` is exactly what the double computes for these rows alone. */
export function expectOutputsFor(out: Outputs, rows: number[][]): void {
  const seq = rows[0]!.length;
  const hidden = out.hidden!;
  const pooled = out.pooled!;
  if (hidden.dims.join() !== [rows.length, seq, 2].join()) throw new Error(`hidden dims ${hidden.dims} != ${[rows.length, seq, 2]}`);
  if (pooled.dims.join() !== [rows.length, 1].join()) throw new Error(`pooled dims ${pooled.dims} != ${[rows.length, 1]}`);
  rows.forEach((r, b) => {
    const sum = r.reduce((a, v) => a + v, 0);
    if ((pooled.data as Float32Array)[b] !== Math.fround(sum)) throw new Error(`pooled[${b}] ${(pooled.data as Float32Array)[b]} != ${sum}`);
    r.forEach((v, s) => {
      const h = hidden.data as Float32Array;
      if (h[(b * seq + s) * 2] !== Math.fround(v) || h[(b * seq + s) * 2 + 1] !== Math.fround(sum)) {
        throw new Error(`hidden[${b},${s}] = (${h[(b * seq + s) * 2]}, ${h[(b * seq + s) * 2 + 1]}), expected (${v}, ${sum})`);
      }
    });
  });
}

/** Lets queued microtasks and one macrotask turn run. */
export function tick(ms = 0): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * EncoderDouble whose runs take `cost(rows, seq)` ms of (fake) time: 'serial' runs one batch
 * at a time in arrival order (one execution queue, like one GPU stream), 'parallel' runs
 * each batch as soon as it arrives (separate cores or devices).
 */
export class TimedEncoder extends EncoderDouble {
  #freeAt = 0;
  constructor(
    readonly cost: (rows: number, seq: number) => number,
    readonly execution: 'serial' | 'parallel' = 'serial',
    contexts?: number,
  ) {
    super('auto');
    this.contexts = contexts;
  }

  override run(feeds: Feeds, options?: RunOptions): Promise<Outputs> {
    const [rows, seq] = feeds.input_ids!.dims as [number, number];
    const result = super.run(feeds, options);
    const now = performance.now();
    const start = this.execution === 'serial' ? Math.max(now, this.#freeAt) : now;
    const end = start + this.cost(rows, seq);
    if (this.execution === 'serial') this.#freeAt = end;
    return new Promise((resolve, reject) => {
      // Settle only at the end time, but take the outcome now (a rejection left unhandled
      // until then would be reported).
      result.then(
        (v) => setTimeout(() => resolve(v), end - now),
        (e: unknown) => setTimeout(() => reject(e), end - now),
      );
    });
  }
}
