/**
 * The CUDA layer as seen from TypeScript: devices, streams, events, stream-ordered device
 * memory, a pinned host memory pool and async copies. Arguments are validated here; the
 * addon does the work on the CUDA driver (libcuda.so.1, loaded on first use; CUDA 12.0 or
 * newer). Every promise resolves from the completion thread, so awaiting GPU work never
 * blocks the event loop. Without a driver or a GPU every call throws or rejects with a
 * CudaError (ERR_CUDA) whose `cudaError` is the driver's error name (CUDA_ERROR_NO_DEVICE, ...;
 * CUDA_ERROR_NO_DRIVER where libcuda.so.1 is missing, CUDA_ERROR_INSUFFICIENT_DRIVER where it
 * is older than CUDA 12.0). deviceCount() is 0 where the driver sees no GPU.
 */
import { InvalidArgumentError, describe } from './errors.js';
import {
  loadAddon,
  type CopyEndpoint,
  type NativeDeviceBuffer,
  type NativeDeviceProperties,
  type NativeEvent,
  type NativePinnedBuffer,
  type NativePinnedPool,
  type NativeStream,
  type PinnedPoolStats,
} from './native.js';

export type { PinnedPoolStats } from './native.js';
export type DeviceProperties = NativeDeviceProperties;

/** Handle of the native object behind a wrapper; internal to the library. */
export const nativeHandle = Symbol('tensorrt-node.native');

function checkDevice(device: unknown, what = 'device'): number {
  if (typeof device !== 'number' || !Number.isInteger(device) || device < 0 || device > 65535) {
    throw new InvalidArgumentError(`${what} must be a device index (an integer >= 0), got ${describe(device)}`);
  }
  return device;
}

function checkBytes(bytes: unknown, what: string): number {
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) {
    throw new InvalidArgumentError(`${what} must be a non-negative integer number of bytes, got ${describe(bytes)}`);
  }
  return bytes;
}

/** CUDA versions are reported as 1000 * major + 10 * minor. */
export function formatCudaVersion(v: number): string {
  return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
}

/** The CUDA version the installed driver supports (cuDriverGetVersion), e.g. 12040 for 12.4. */
export function cudaDriverVersion(): number {
  return loadAddon().cudaDriverVersion();
}

/** The CUDA version of the headers the addon was compiled with (no CUDA runtime is linked). */
export function cudaHeaderVersion(): number {
  return loadAddon().cudaHeaderVersion();
}

export function deviceCount(): number {
  return loadAddon().cudaDeviceCount();
}

export function deviceProperties(device = 0): DeviceProperties {
  return loadAddon().cudaDeviceProperties(checkDevice(device));
}

/** Every visible device with its properties. */
export function devices(): DeviceProperties[] {
  const n = deviceCount();
  return Array.from({ length: n }, (_, i) => deviceProperties(i));
}

export function memoryInfo(device = 0): { free: number; total: number } {
  return loadAddon().cudaMemGetInfo(checkDevice(device));
}

/**
 * Returns unused memory of the device's stream-ordered pool (where DeviceBuffers come from)
 * to the driver, keeping `keepBytes` for reuse. Freed buffers otherwise stay reserved until
 * the next synchronization.
 */
export function trimMemoryPool(device = 0, keepBytes = 0): void {
  loadAddon().trimMemoryPool(checkDevice(device), checkBytes(keepBytes, 'keepBytes'));
}

/** A non-blocking CUDA stream. */
export class Stream {
  readonly [nativeHandle]: NativeStream;

  constructor(device = 0) {
    this[nativeHandle] = new (loadAddon().Stream)(checkDevice(device));
  }

  get device(): number {
    return this[nativeHandle].device;
  }

  get disposed(): boolean {
    return this[nativeHandle].disposed;
  }

  /** True when all work enqueued so far has completed. */
  query(): boolean {
    return this[nativeHandle].query();
  }

  /** Resolves once all work enqueued so far has completed. */
  synchronize(): Promise<void> {
    try {
      return this[nativeHandle].synchronize();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Idempotent; pending work still completes (and pending promises still settle). */
  dispose(): void {
    this[nativeHandle].dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** A CUDA event; `timing: true` makes it usable with CudaEvent.elapsedMs. */
export class CudaEvent {
  readonly [nativeHandle]: NativeEvent;

  constructor(device = 0, options: { timing?: boolean } = {}) {
    this[nativeHandle] = new (loadAddon().Event)(checkDevice(device), options.timing === true);
  }

  /** Milliseconds between two recorded, completed timing events. */
  static elapsedMs(start: CudaEvent, end: CudaEvent): number {
    if (!(start instanceof CudaEvent) || !(end instanceof CudaEvent)) {
      throw new InvalidArgumentError(`elapsedMs(start, end) takes two CudaEvents, got ${describe(start)} and ${describe(end)}`);
    }
    return loadAddon().Event.elapsedMs(start[nativeHandle], end[nativeHandle]);
  }

  record(stream: Stream): void {
    this[nativeHandle].record(streamHandle(stream, 'stream'));
  }

  query(): boolean {
    return this[nativeHandle].query();
  }

  synchronize(): Promise<void> {
    try {
      return this[nativeHandle].synchronize();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  dispose(): void {
    this[nativeHandle].dispose();
  }
}

/**
 * Device memory allocated in stream order on `stream`. free() releases it in stream order
 * once no enqueued copy uses it; a buffer that is only dropped is freed on garbage collection.
 */
export class DeviceBuffer {
  readonly [nativeHandle]: NativeDeviceBuffer;

  constructor(bytes: number, options: { stream: Stream }) {
    const stream = streamHandle(options?.stream, 'options.stream');
    this[nativeHandle] = new (loadAddon().DeviceBuffer)(stream, checkBytes(bytes, 'bytes'));
  }

  /**
   * A DeviceBuffer over `bytes` of device memory at `address` that another library allocated
   * and frees (e.g. a CUDA array of another addon): checked with the driver (device memory of
   * `device`, and the range inside one allocation; ERR_INVALID_ARG otherwise), never freed by
   * free() or collection. Keep the owner alive as long as the buffer is used.
   */
  static fromAddress(address: bigint, bytes: number, device = 0): DeviceBuffer {
    if (typeof address !== 'bigint' || address <= 0n) throw new InvalidArgumentError(`address must be a device pointer as a bigint, got ${describe(address)}`);
    const b = Object.create(DeviceBuffer.prototype) as DeviceBuffer;
    Object.defineProperty(b, nativeHandle, { value: new (loadAddon().DeviceBuffer)(address, checkBytes(bytes, 'bytes'), checkDevice(device)) });
    return b;
  }

  get byteLength(): number {
    return this[nativeHandle].byteLength;
  }

  /** The device pointer, as a bigint (for another library; ERR_DISPOSED once freed). */
  get address(): bigint {
    return this[nativeHandle].address;
  }

  get device(): number {
    return this[nativeHandle].device;
  }

  get freed(): boolean {
    return this[nativeHandle].freed;
  }

  free(): void {
    this[nativeHandle].free();
  }

  /** Enqueues a byte fill on `stream` (await stream.synchronize() to wait for it). */
  fill(value: number, options: { stream: Stream; offset?: number; bytes?: number }): void {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 255) {
      throw new InvalidArgumentError(`value must be a byte (0..255), got ${describe(value)}`);
    }
    const offset = checkBytes(options?.offset ?? 0, 'options.offset');
    const bytes = checkBytes(options?.bytes ?? this.byteLength - offset, 'options.bytes');
    loadAddon().memsetAsync(this[nativeHandle], offset, value, bytes, streamHandle(options.stream, 'options.stream'));
  }
}

/**
 * Page-locked host memory, reused across requests. `acquire(bytes)` returns a PinnedBuffer
 * whose `array` is a Uint8Array over the pinned bytes; `release()` hands it back (and
 * detaches `array`). Up to `maxCachedBytes` of released blocks are kept for reuse.
 */
export class PinnedPool {
  readonly #pool: NativePinnedPool;

  constructor(options: { maxCachedBytes?: number } = {}) {
    const max = checkBytes(options.maxCachedBytes ?? 1024 * 1024 * 1024, 'options.maxCachedBytes');
    this.#pool = new (loadAddon().PinnedPool)(max);
  }

  acquire(bytes: number): PinnedBuffer {
    return this.#pool.acquire(checkBytes(bytes, 'bytes'));
  }

  stats(): PinnedPoolStats {
    return this.#pool.stats();
  }

  /** Frees every cached block. */
  trim(): void {
    this.#pool.trim();
  }
}

export type PinnedBuffer = NativePinnedBuffer;

export type CopySource = DeviceBuffer | PinnedBuffer | ArrayBufferView | ArrayBuffer;

export interface CopyOptions {
  stream: Stream;
  /** Bytes to copy; defaults to the smaller of what remains in dst and src. */
  bytes?: number;
  dstOffset?: number;
  srcOffset?: number;
}

function endpoint(v: unknown, what: string): CopyEndpoint {
  if (v instanceof DeviceBuffer) return v[nativeHandle];
  const addon = loadAddon();
  if (v instanceof addon.PinnedBuffer || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return v as CopyEndpoint;
  throw new InvalidArgumentError(`${what} must be a DeviceBuffer, a PinnedBuffer, a typed array or an ArrayBuffer, got ${describe(v)}`);
}

function byteLengthOf(v: CopySource): number {
  return v.byteLength;
}

/**
 * Copies bytes between device memory, pinned memory and JS memory in either direction,
 * ordered on `options.stream`. Resolves when the copy has completed. Copies between device
 * and pinned memory are enqueued from the JS thread; those that touch ordinary (pageable) JS
 * memory run on a libuv worker, because CUDA blocks the calling thread for them.
 */
export function copy(dst: CopySource, src: CopySource, options: CopyOptions): Promise<void> {
  try {
    const d = endpoint(dst, 'dst');
    const s = endpoint(src, 'src');
    const stream = streamHandle(options?.stream, 'options.stream');
    const dstOffset = checkBytes(options.dstOffset ?? 0, 'options.dstOffset');
    const srcOffset = checkBytes(options.srcOffset ?? 0, 'options.srcOffset');
    const bytes = checkBytes(options.bytes ?? Math.min(byteLengthOf(dst) - dstOffset, byteLengthOf(src) - srcOffset), 'options.bytes');
    return loadAddon().copyAsync(d, dstOffset, s, srcOffset, bytes, stream);
  } catch (e) {
    return Promise.reject(e);
  }
}

function streamHandle(stream: unknown, what: string): NativeStream {
  if (!(stream instanceof Stream)) throw new InvalidArgumentError(`${what} must be a Stream, got ${describe(stream)}`);
  return stream[nativeHandle];
}

/**
 * Plain cuMemcpyAsync between a cuMemHostAlloc buffer and device memory in a native loop,
 * timed with CUDA events: the baseline the pinned-pool benchmark compares against.
 * Resolves with the milliseconds of each copy.
 */
export function bandwidthProbe(options: { device?: number; bytes: number; iterations?: number; direction: 'h2d' | 'd2h' }): Promise<number[]> {
  try {
    const direction = options.direction;
    if (direction !== 'h2d' && direction !== 'd2h') {
      throw new InvalidArgumentError(`options.direction must be 'h2d' or 'd2h', got ${describe(direction)}`);
    }
    const iterations = options.iterations ?? 10;
    if (!Number.isInteger(iterations) || iterations < 1) {
      throw new InvalidArgumentError(`options.iterations must be an integer >= 1, got ${describe(iterations)}`);
    }
    return loadAddon().bandwidthProbe(checkDevice(options.device ?? 0), checkBytes(options.bytes, 'options.bytes'), iterations, direction);
  } catch (e) {
    return Promise.reject(e);
  }
}
