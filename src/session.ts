/**
 * The InferenceSession contract that both backends implement (the batcher, the accuracy
 * harness and the benchmarks take any session), its option types, and createSession().
 */
import { InvalidArgumentError, describe } from './errors.js';
import type { Tensor, DataType, TensorLike } from './tensor.js';
import type { OrtSessionOptions, OnnxRuntimeSession } from './backends/onnxruntime.js';
import type { TensorRTSessionOptions, TensorRTSession } from './backends/tensorrt.js';

export type BackendName = 'onnxruntime' | 'tensorrt';

/** What createSession() can be asked for: a backend, or 'auto' (TensorRT where it loads, else ONNX Runtime). */
export type BackendChoice = BackendName | 'auto';

/** A dim: a fixed size, a symbolic name (e.g. "batch"), or -1 when unknown and unnamed. */
export type Dim = number | string;

/** One optimization profile's range for an input (TensorRT engines). */
export interface ProfileRange {
  readonly min: readonly number[];
  readonly opt: readonly number[];
  readonly max: readonly number[];
}

/**
 * A bound on one dim of an input that the model's metadata or the backend knows, with the
 * reason, which error messages repeat: e.g. `{ axis: 1, max: 512, reason: "the model's
 * position embedding has 512 rows" }`, or `{ axis: 1, min: 1, reason: "..." }`. Inclusive.
 */
export interface DimLimit {
  readonly axis: number;
  readonly min?: number;
  readonly max?: number;
  readonly reason: string;
}

export interface TensorInfo {
  readonly name: string;
  readonly dtype: DataType;
  readonly dims: readonly Dim[];
  /** TensorRT only: per optimization profile, the allowed dims of this input. */
  readonly profiles?: readonly ProfileRange[];
  /** Inputs: limits on dims beyond what `dims` says; run() refuses feeds outside them (ERR_SHAPE). */
  readonly limits?: readonly DimLimit[];
  /**
   * Inputs: the range its values must lie in, when the model makes it knowable (a table the
   * input indexes: position_ids into a position table of N rows gives max N - 1, input_ids
   * into the vocabulary). ONNX Runtime refuses values outside it (ERR_INVALID_ARG); TensorRT
   * only reports it (from the build's sidecar). The Generator reads position_ids' as the most
   * positions a sequence can hold.
   */
  readonly valueRange?: ValueRange;
}

/** Inclusive bounds on an input's values, with the reason (e.g. the table and its rows). */
export interface ValueRange {
  readonly min: number;
  readonly max: number;
  readonly reason: string;
}

export interface RunOptions {
  /** Aborting rejects the run with ERR_ABORTED; work already on the device completes and is dropped. */
  signal?: AbortSignal;
  /**
   * Which outputs to return: an array of names (all outputs when omitted), or, by output name,
   * tensors to fill in place (onnxruntime-node's preallocated fetches). Each given tensor must
   * have the output's dtype and the dims this run produces (checked before anything runs where
   * the model's dims tell them: ERR_DTYPE, ERR_SHAPE); run() returns those same tensors, and
   * only the outputs named.
   */
  outputs?: readonly string[] | OutputTargets;
}

/**
 * Caller-provided output tensors by output name (RunOptions.outputs): our Tensors or tensor-likes
 * (an onnxruntime-node Tensor, say), whose data is filled in place.
 */
export type OutputTargets = Readonly<Record<string, Tensor | TensorLike>>;

/** Feeds of our Tensors, by input name: what the harness generates and returns. */
export type Feeds = Readonly<Record<string, Tensor>>;

/**
 * What run() takes: by input name, our Tensors or tensors of other libraries in
 * onnxruntime-node's shape (onnxruntime-node's and transformers.js's Tensor, `{ type, data, dims }`),
 * which are wrapped without copying.
 */
export type FeedsLike = Readonly<Record<string, Tensor | TensorLike>>;

/** Outputs by name; always our Tensors. */
export type Outputs = Record<string, Tensor>;

/** Which backend createSession() chose and why. */
export interface BackendSelection {
  /** What was asked for. */
  readonly requested: BackendChoice;
  /** Why this backend, in words (e.g. "TensorRT is not available: ..."). */
  readonly reason: string;
  /** With 'auto', when ONNX Runtime was chosen because TensorRT failed: TensorRT's error. */
  readonly tensorrtError?: { readonly code: string; readonly message: string };
  /** TensorRT sessions opened from an ONNX model: where the engine came from. */
  readonly engine?: { readonly fromCache: boolean; readonly cachePath: string | null };
}

export interface InferenceSession extends AsyncDisposable {
  readonly backend: BackendName;
  /** Set by createSession(): what was asked for and why this backend runs it. */
  readonly selection?: BackendSelection;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** True once dispose() has been called. */
  readonly disposed: boolean;
  /**
   * How many runs the session executes at once (TensorRT: its execution contexts); absent
   * when runs execute one at a time. The DynamicBatcher keeps this many batches in flight.
   */
  readonly contexts?: number;
  run(feeds: FeedsLike, options?: RunOptions): Promise<Outputs>;
  /** Idempotent; waits for runs in flight, then frees the session's resources. */
  dispose(): Promise<void>;
}

/** createSession() with ONNX Runtime's CPU provider: an ONNX file path or its bytes. */
export type OnnxRuntimeCreateOptions = Omit<OrtSessionOptions, 'backend'> & { backend: 'onnxruntime' };

/**
 * createSession() with TensorRT: a plan (path or bytes) is deserialized; an ONNX model (path
 * or bytes) is first built into an engine through the engine cache (buildEngine with
 * `options.build`, whose `cache` defaults to true: the default cache folder; dynamic dims
 * that `build.dims` leaves out range 1..64 when leading, else 1..512, unless `build.profiles`).
 */
export type TensorRTCreateOptions = Omit<TensorRTSessionOptions, 'backend'> & { backend: 'tensorrt' };

/**
 * createSession() with 'auto': TensorRT where its libraries and the addon load and a GPU is
 * present, else ONNX Runtime; also ONNX Runtime when TensorRT cannot take the model (a dtype
 * it lacks, a parser or build failure). Each backend's options go under its name.
 */
export interface AutoCreateOptions {
  backend: 'auto';
  onnxruntime?: Omit<OrtSessionOptions, 'backend'>;
  tensorrt?: Omit<TensorRTSessionOptions, 'backend'>;
}

/** createSession()'s options: one shape per backend, told apart by `backend`. */
export type CreateSessionOptions = OnnxRuntimeCreateOptions | TensorRTCreateOptions | AutoCreateOptions;

/**
 * Opens `model` (a file path or its bytes) with the backend `options.backend` names:
 * 'onnxruntime' (an ONNX model), 'tensorrt' (a TensorRT plan, or an ONNX model built into
 * one through the engine cache) or 'auto'. `session.selection` says what was chosen and why.
 */
export function createSession(model: string | Uint8Array, options: OnnxRuntimeCreateOptions): Promise<OnnxRuntimeSession>;
export function createSession(model: string | Uint8Array, options: TensorRTCreateOptions): Promise<TensorRTSession>;
export function createSession(model: string | Uint8Array, options: CreateSessionOptions): Promise<InferenceSession>;
export async function createSession(model: string | Uint8Array, options: CreateSessionOptions): Promise<InferenceSession> {
  const backend = (options as { backend?: unknown } | undefined)?.backend;
  if (backend !== 'onnxruntime' && backend !== 'tensorrt' && backend !== 'auto') {
    throw new InvalidArgumentError(`options.backend must be 'onnxruntime', 'tensorrt' or 'auto', got ${describe(backend)}`);
  }
  const { openSession } = await import('./backends/open.js');
  return openSession(model, options);
}
