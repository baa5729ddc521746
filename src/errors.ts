/**
 * Error classes. Every error the library throws or rejects with is a `TensorRTNodeError`
 * with a stable `code`; messages name the input or option and show what was expected and
 * what was got. Native code creates these same classes through `errorFromCode` (see
 * native.ts), so a CUDA failure is a `CudaError` whether it was thrown synchronously or
 * rejected from the completion thread.
 */

export type ErrorCode =
  | 'ERR_INVALID_ARG'
  | 'ERR_SHAPE'
  | 'ERR_DTYPE'
  | 'ERR_PROFILE_RANGE'
  | 'ERR_QUEUE_FULL'
  | 'ERR_TIMEOUT'
  | 'ERR_ABORTED'
  | 'ERR_DISPOSED'
  | 'ERR_SHUTTING_DOWN'
  | 'ERR_BUSY'
  | 'ERR_CUDA'
  | 'ERR_CUDA_OOM'
  | 'ERR_TENSORRT'
  | 'ERR_TENSORRT_NOT_FOUND'
  | 'ERR_TENSORRT_VERSION'
  | 'ERR_ONNX_PARSE'
  | 'ERR_ONNX'
  | 'ERR_ONNXRUNTIME'
  | 'ERR_ADDON_LOAD'
  | 'ERR_IO'
  | 'ERR_WORKER'
  | 'ERR_INTERNAL';

export interface ErrorDetails {
  cause?: unknown;
  [key: string]: unknown;
}

export class TensorRTNodeError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    const { cause, ...rest } = details;
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    Object.assign(this, rest);
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** An argument or option had the wrong type, range or form. */
export class InvalidArgumentError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_INVALID_ARG', message, details);
  }
}

/** Dims that do not fit: element counts, ranks, fixed dims of a model input. */
export class ShapeError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_SHAPE', message, details);
  }
}

/** A tensor of the wrong element type. */
export class DTypeError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_DTYPE', message, details);
  }
}

/** Input dims outside every optimization profile of a TensorRT engine. */
export class ProfileRangeError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_PROFILE_RANGE', message, details);
  }
}

export class QueueFullError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_QUEUE_FULL', message, details);
  }
}

export class TimeoutError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_TIMEOUT', message, details);
  }
}

/** The caller's AbortSignal fired; `cause` holds the signal's reason. */
export class AbortError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_ABORTED', message, details);
  }
}

/** The object was disposed (or is being disposed) and takes no more work. */
export class DisposedError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_DISPOSED', message, details);
  }
}

/** A batcher or server that is closing and takes no new requests. */
export class ShuttingDownError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_SHUTTING_DOWN', message, details);
  }
}

/** The resource is in use and the operation refuses to wait. */
export class BusyError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_BUSY', message, details);
  }
}

/**
 * A CUDA call failed. `cudaError` is the CUDA error's name (e.g. `cudaErrorNoDevice`);
 * `sticky` is true for errors that leave the CUDA context unusable. Out-of-memory is the
 * subclass CudaOutOfMemoryError (code `ERR_CUDA_OOM`), so `instanceof CudaError` holds for both.
 */
export class CudaError extends TensorRTNodeError {
  declare readonly cudaError: string | undefined;
  declare readonly sticky: boolean | undefined;
  constructor(message: string, details?: ErrorDetails & { cudaError?: string; sticky?: boolean }, code: 'ERR_CUDA' | 'ERR_CUDA_OOM' = 'ERR_CUDA') {
    super(code, message, details);
  }
}

/** A CUDA allocation failed: the device (or its memory pool) is out of memory. */
export class CudaOutOfMemoryError extends CudaError {
  constructor(message: string, details?: ErrorDetails & { cudaError?: string; sticky?: boolean }) {
    super(message, details, 'ERR_CUDA_OOM');
  }
}

/** TensorRT reported an error (build, deserialize, enqueue). */
export class TensorRTError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_TENSORRT', message, details);
  }
}

/** TensorRT's libraries (or support for them in this build) were not found. */
export class TensorRTNotFoundError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_TENSORRT_NOT_FOUND', message, details);
  }
}

/** The TensorRT library found is of another major version than the addon was built for. */
export class TensorRTVersionError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_TENSORRT_VERSION', message, details);
  }
}

/** An ONNX model that could not be decoded or that TensorRT's parser refused. */
export class OnnxParseError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_ONNX_PARSE', message, details);
  }
}

/** A well-formed ONNX model that cannot be used for the requested operation. */
export class OnnxError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_ONNX', message, details);
  }
}

/** ONNX Runtime failed to load or run a model. */
export class OnnxRuntimeError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_ONNXRUNTIME', message, details);
  }
}

/** The native addon could not be loaded; the message lists every cause and the remedy. */
export class AddonLoadError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_ADDON_LOAD', message, details);
  }
}

/** A file could not be read or written. */
export class FileError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_IO', message, details);
  }
}

/**
 * A worker thread (e.g. of the ONNX Runtime worker pool) failed or exited while it held runs;
 * `exitCode` is the thread's exit code when it exited, `worker` its place in the pool,
 * `reason` how it ended ('exit', 'error', 'oom', 'load'), and `lost: true` when the session
 * cannot run any more.
 */
export class WorkerError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_WORKER', message, details);
  }
}

/** A bug or an unexpected failure inside the library (never the caller's fault). */
export class InternalError extends TensorRTNodeError {
  constructor(message: string, details?: ErrorDetails) {
    super('ERR_INTERNAL', message, details);
  }
}

/** The constructor of the error class of one code. */
export type ErrorClass = new (message: string, details?: ErrorDetails) => TensorRTNodeError;

/**
 * Every error code and its class: the one place a code meets its class. Native code and
 * errorFromCode() build errors through it, so an error has the same class whichever layer
 * raised it. A code in ErrorCode without a class here fails typechecking.
 */
export const ERROR_CLASSES: Readonly<Record<ErrorCode, ErrorClass>> = Object.freeze({
  ERR_INVALID_ARG: InvalidArgumentError,
  ERR_SHAPE: ShapeError,
  ERR_DTYPE: DTypeError,
  ERR_PROFILE_RANGE: ProfileRangeError,
  ERR_QUEUE_FULL: QueueFullError,
  ERR_TIMEOUT: TimeoutError,
  ERR_ABORTED: AbortError,
  ERR_DISPOSED: DisposedError,
  ERR_SHUTTING_DOWN: ShuttingDownError,
  ERR_BUSY: BusyError,
  ERR_CUDA: CudaError,
  ERR_CUDA_OOM: CudaOutOfMemoryError,
  ERR_TENSORRT: TensorRTError,
  ERR_TENSORRT_NOT_FOUND: TensorRTNotFoundError,
  ERR_TENSORRT_VERSION: TensorRTVersionError,
  ERR_ONNX_PARSE: OnnxParseError,
  ERR_ONNX: OnnxError,
  ERR_ONNXRUNTIME: OnnxRuntimeError,
  ERR_ADDON_LOAD: AddonLoadError,
  ERR_IO: FileError,
  ERR_WORKER: WorkerError,
  ERR_INTERNAL: InternalError,
});

/** Every error code, in the table's order. */
export const ERROR_CODES = Object.freeze(Object.keys(ERROR_CLASSES) as ErrorCode[]);

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CLASSES, value);
}

/**
 * An error of the class that owns `code` (errors created in native code, and errors re-raised
 * with more context). A code the table does not know is a bug somewhere: it becomes an
 * InternalError that keeps the code as `unknownCode`.
 */
export function errorFromCode(code: string, message: string, details: ErrorDetails = {}): TensorRTNodeError {
  if (isErrorCode(code)) return new ERROR_CLASSES[code](message, details);
  return new InternalError(`${message} (unknown error code ${JSON.stringify(code)})`, { ...details, unknownCode: code });
}

/** The error to reject with when `signal` has fired. */
export function abortErrorFrom(signal: AbortSignal, what: string): AbortError {
  return new AbortError(`${what} was aborted`, { cause: signal.reason });
}

/** Short, safe description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as { length?: number }).length ?? value.byteLength}`;
  if (value instanceof ArrayBuffer) return `an ArrayBuffer of ${value.byteLength} bytes`;
  const ctor = (value as object).constructor?.name;
  return ctor && ctor !== 'Object' ? `a ${ctor}` : 'an object';
}
