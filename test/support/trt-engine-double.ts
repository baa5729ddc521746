/**
 * A test double of the addon's TensorRT engine and execution contexts (no TensorRT here):
 * an engine with inputs input_ids and attention_mask (int64 [-1, -1], two profiles) and
 * outputs logits (float32 [-1, 2]: per row the sum of input_ids and the profile) and hidden
 * (float16 [-1, -1], ones). Runs finish when the test calls `finish()` on them.
 */
import { errorFromCode } from '../../src/errors.js';
import type { NativeContextSpec, NativeContextStats, NativeEngineDescription, NativeRunOutput, NativeTrtContext, NativeTrtEngine } from '../../src/native.js';

export interface Call {
  context: FakeContext;
  inputs: ArrayBufferView[];
  dims: number[];
  wanted: number[] | undefined;
  finish: (error?: Error) => void;
}

export class FakeContext implements NativeTrtContext {
  disposed = false;
  /** The targetDims of the last run that finished. */
  targetDims: number[] | undefined;
  /** Outputs come back flagged as blocks of the pinned output pool (as the addon's above 64 KiB). */
  pinnedOutputs = false;
  constructor(
    readonly profile: number,
    readonly spec: NativeContextSpec,
    private readonly calls: Call[],
  ) {}
  run(
    inputs: ArrayBufferView[],
    dims: number[],
    wanted?: number[],
    targets?: (ArrayBufferView | undefined)[],
    targetDims?: number[],
  ): Promise<NativeRunOutput[] | undefined> {
    if (this.disposed) throw errorFromCode('ERR_DISPOSED', 'the execution context was disposed');
    return new Promise((resolve, reject) => {
      this.calls.push({
        context: this,
        inputs,
        dims,
        wanted,
        finish: (error) => {
          if (error) return reject(error);
          // logits[b] = [sum of row b of input_ids, profile]; hidden = ids as float16 bits.
          const ids = inputs[0] as BigInt64Array;
          const [batch, seq] = [dims[0]!, dims[1]!];
          const logits = new Float32Array(batch * 2);
          for (let b = 0; b < batch; b++) {
            let s = 0;
            for (let t = 0; t < seq; t++) s += Number(ids[b * seq + t]!);
            logits[b * 2] = s;
            logits[b * 2 + 1] = this.profile;
          }
          const all: NativeRunOutput[] = [
            { index: 0, dims: [batch, 2], data: logits.buffer },
            { index: 1, dims: [batch, seq], data: new Uint16Array(batch * seq).fill(0x3c00).buffer },
          ];
          if (this.pinnedOutputs) for (const o of all) o.pinned = true;
          const picked = (wanted ?? [0, 1]).map((i) => all[i]!);
          this.targetDims = targetDims;
          if (targets === undefined) return resolve(picked);
          // As the addon: each given target is filled in place; all given resolves undefined.
          picked.forEach((o, k) => {
            const t = targets[k];
            if (t !== undefined) new Uint8Array(t.buffer, t.byteOffset, t.byteLength).set(new Uint8Array(o.data!));
          });
          resolve(targets.every((t) => t !== undefined) ? undefined : picked.map((o, k) => (targets[k] === undefined ? o : { index: o.index, dims: o.dims })));
        },
      });
    });
  }
  stats(): NativeContextStats {
    return { graphs: 0, graphFailures: 0, outputCapacity: [0, 0] };
  }
  dispose(): void {
    this.disposed = true;
  }
}

export const small = { min: [1, 1], opt: [4, 8], max: [4, 16] };
export const large = { min: [1, 17], opt: [4, 64], max: [8, 64] };

export class FakeEngine implements NativeTrtEngine {
  lost = false;
  disposed = false;
  calls: Call[] = [];
  contexts: FakeContext[] = [];
  failContexts = false;
  describe(): NativeEngineDescription {
    const input = (name: string) => ({
      name,
      mode: 'input' as const,
      dtype: 'int64',
      dims: [-1, -1],
      isShapeTensor: false,
      onHost: false,
      linear: true,
      profiles: [small, large],
    });
    const output = (name: string, dtype: string, dims: number[]) => ({
      name,
      mode: 'output' as const,
      dtype,
      dims,
      isShapeTensor: false,
      onHost: false,
      linear: true,
      profiles: [],
    });
    return {
      profiles: 2,
      deviceMemoryBytes: 1024,
      tensors: [input('input_ids'), input('attention_mask'), output('logits', 'float32', [-1, 2]), output('hidden', 'float16', [-1, -1])],
    };
  }
  async createContexts(specs: NativeContextSpec[]): Promise<NativeTrtContext[]> {
    if (this.failContexts) throw errorFromCode('ERR_CUDA_OOM', 'cudaMallocAsync failed: cudaErrorMemoryAllocation');
    this.contexts = specs.map((s) => new FakeContext(s.profile, s, this.calls));
    return this.contexts;
  }
  allocPinned(bytes: number): ArrayBuffer {
    // A test double: ordinary memory (the addon's is page-locked).
    return new ArrayBuffer(bytes);
  }
  dispose(): void {
    this.disposed = true;
  }
}
