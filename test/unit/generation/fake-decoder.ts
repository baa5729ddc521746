// A test double of a decoder session, in plain JS: Optimum's I/O names, one layer, a KV cache
// that stores each position's (token, position). The next token is a hash of the visible
// (mask = 1) tokens and their positions, so any mix-up of rows, padding, positions or cache
// changes it, while the same sequence gives the same tokens in any batch (exactly: integer
// arithmetic). It checks what a real model cannot: position ids must count the mask's ones.
import { Tensor } from '../../../src/tensor.js';
import type { Feeds, InferenceSession, Outputs, TensorInfo } from '../../../src/session.js';

export interface FakeDecoderOptions {
  vocab?: number;
  /** Makes run() take this long (a timer), so steps interleave with the event loop. */
  delayMs?: number;
  /** Called with each run's feeds before it computes; throw to fail the step. */
  onRun?: (feeds: Feeds, call: number) => void;
  /** Takes the feeds' buffers away after each run (as a session posting them to a worker may). */
  detachInputs?: boolean;
}

/** The token a sequence of (token, position) pairs predicts next. */
export function fakeNext(pairs: readonly (readonly [number, number])[], vocab: number): number {
  let h = 17;
  for (const [t, p] of pairs) h = (Math.imul(h, 31) + t * 7 + p * 13) >>> 0;
  return h % vocab;
}

/** What the fake predicts for `prompt` followed by greedy generation of `n` tokens. */
export function fakeGenerate(prompt: readonly number[], n: number, vocab = 101): number[] {
  const pairs: [number, number][] = prompt.map((t, i) => [t, i]);
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    const t = fakeNext(pairs, vocab);
    out.push(t);
    pairs.push([t, pairs.length]);
  }
  return out;
}

export class FakeDecoderSession implements InferenceSession {
  readonly backend = 'onnxruntime' as const;
  readonly inputs: TensorInfo[];
  readonly outputs: TensorInfo[];
  disposed = false;
  calls = 0;
  readonly vocab: number;
  /** Per run: [rows, past width, new positions]. */
  readonly shapes: [number, number, number][] = [];
  readonly #o: FakeDecoderOptions;

  constructor(o: FakeDecoderOptions = {}) {
    this.#o = o;
    this.vocab = o.vocab ?? 101;
    this.inputs = [
      { name: 'input_ids', dtype: 'int64', dims: ['batch_size', 'sequence_length'] },
      { name: 'attention_mask', dtype: 'int64', dims: ['batch_size', 'total_sequence_length'] },
      { name: 'position_ids', dtype: 'int64', dims: ['batch_size', 'sequence_length'] },
      { name: 'past_key_values.0.key', dtype: 'float32', dims: ['batch_size', 1, 'past_sequence_length', 2] },
      { name: 'past_key_values.0.value', dtype: 'float32', dims: ['batch_size', 1, 'past_sequence_length', 2] },
    ];
    this.outputs = [
      { name: 'logits', dtype: 'float32', dims: ['batch_size', 'sequence_length', this.vocab] },
      { name: 'present.0.key', dtype: 'float32', dims: ['batch_size', 1, 'total_sequence_length', 2] },
      { name: 'present.0.value', dtype: 'float32', dims: ['batch_size', 1, 'total_sequence_length', 2] },
    ];
  }

  async run(feeds: Feeds): Promise<Outputs> {
    const call = this.calls++;
    this.#o.onRun?.(feeds, call);
    if (this.#o.delayMs) await new Promise((r) => setTimeout(r, this.#o.delayMs));
    const ids = feeds.input_ids!;
    const mask = feeds.attention_mask!.data as BigInt64Array;
    const pos = feeds.position_ids!.data as BigInt64Array;
    const pk = feeds['past_key_values.0.key']!;
    const [B, S] = ids.dims as [number, number];
    const P = pk.dims[2]!;
    const T = P + S;
    if (feeds.attention_mask!.dims[1] !== T) throw new Error(`attention_mask is ${feeds.attention_mask!.dims[1]} long, past + current is ${T}`);
    this.shapes.push([B, P, S]);
    const V = this.vocab;
    const logits = new Float32Array(B * S * V);
    const present = new Float32Array(B * T * 2);
    const pastData = pk.data as Float32Array;
    const idData = ids.data as BigInt64Array;
    for (let b = 0; b < B; b++) {
      const pairs: [number, number][] = [];
      for (let j = 0; j < P; j++) {
        present[(b * T + j) * 2] = pastData[(b * P + j) * 2]!;
        present[(b * T + j) * 2 + 1] = pastData[(b * P + j) * 2 + 1]!;
        if (mask[b * T + j] === 1n) pairs.push([pastData[(b * P + j) * 2]!, pastData[(b * P + j) * 2 + 1]!]);
      }
      for (let i = 0; i < S; i++) {
        const t = Number(idData[b * S + i]);
        const p = Number(pos[b * S + i]);
        present[(b * T + P + i) * 2] = t;
        present[(b * T + P + i) * 2 + 1] = p;
        if (mask[b * T + P + i] === 1n) {
          if (p !== pairs.length) throw new Error(`row ${b} position ${i}: position id ${p}, but ${pairs.length} real tokens come before it`);
          pairs.push([t, p]);
        }
        const next = fakeNext(pairs, V);
        for (let v = 0; v < V; v++) logits[(b * S + i) * V + v] = v === next ? 1 : 0;
      }
    }
    if (this.#o.detachInputs) {
      const buffers = new Set(Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer));
      structuredClone([...buffers], { transfer: [...buffers] });
    }
    return {
      logits: new Tensor('float32', logits, [B, S, V]),
      'present.0.key': new Tensor('float32', present, [B, 1, T, 2]),
      'present.0.value': new Tensor('float32', present.slice(), [B, 1, T, 2]),
    };
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
