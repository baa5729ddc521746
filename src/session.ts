/**
 * The InferenceSession contract that both backends implement; the batcher, the accuracy
 * harness and the benchmarks take any session.
 */
import { InvalidArgumentError, describe } from './errors.js';
import type { Tensor, DataType } from './tensor.js';

export type BackendName = 'onnxruntime' | 'tensorrt';

/** A dim: a fixed size, a symbolic name (e.g. "batch"), or -1 when unknown and unnamed. */
export type Dim = number | string;

/** One optimization profile's range for an input (TensorRT engines). */
export interface ProfileRange {
  readonly min: readonly number[];
  readonly opt: readonly number[];
  readonly max: readonly number[];
}

export interface TensorInfo {
  readonly name: string;
  readonly dtype: DataType;
  readonly dims: readonly Dim[];
  /** TensorRT only: per optimization profile, the allowed dims of this input. */
  readonly profiles?: readonly ProfileRange[];
}

export interface RunOptions {
  /** Aborting rejects the run with ERR_ABORTED; work already on the device completes and is dropped. */
  signal?: AbortSignal;
  /** Names of the outputs to return; all outputs when omitted. */
  outputs?: readonly string[];
}

export type Feeds = Readonly<Record<string, Tensor>>;
export type Outputs = Record<string, Tensor>;

export interface InferenceSession extends AsyncDisposable {
  readonly backend: BackendName;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** True once dispose() has been called. */
  readonly disposed: boolean;
  /**
   * How many runs the session executes at once (TensorRT: its execution contexts); absent
   * when runs execute one at a time. The DynamicBatcher keeps this many batches in flight.
   */
  readonly contexts?: number;
  run(feeds: Feeds, options?: RunOptions): Promise<Outputs>;
  /** Idempotent; waits for runs in flight, then frees the session's resources. */
  dispose(): Promise<void>;
}

export interface CreateSessionOptions {
  backend: BackendName;
  [option: string]: unknown;
}

/**
 * Opens `model` with the named backend. For `onnxruntime`, `model` is an ONNX file path or
 * its bytes; for `tensorrt`, a serialized plan or its path (see the TensorRT backend).
 */
export async function createSession(model: string | Uint8Array, options: CreateSessionOptions): Promise<InferenceSession> {
  const backend = (options as { backend?: unknown } | undefined)?.backend;
  switch (backend) {
    case 'onnxruntime': {
      const { OnnxRuntimeSession } = await import('./backends/onnxruntime.js');
      return OnnxRuntimeSession.create(model, options as never);
    }
    case 'tensorrt': {
      const { createTensorRTSession } = await import('./backends/tensorrt.js');
      return createTensorRTSession(model, options as never);
    }
    default:
      throw new InvalidArgumentError(
        `options.backend must be 'onnxruntime' or 'tensorrt', got ${describe(backend)}`,
      );
  }
}
