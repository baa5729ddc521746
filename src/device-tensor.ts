/**
 * DeviceTensor: a tensor whose data lives in GPU memory (`location: 'gpu-buffer'`, as
 * onnxruntime-node names it). TensorRT sessions take it as a feed and fill it as a
 * caller-provided output (RunOptions.outputs), copying device to device on the run's stream,
 * so the output of one session feeds another without a host round trip. Reading it on the host
 * is an explicit copy: `await t.toHost()` (a Tensor) or `await t.getData()` (its typed array).
 *
 * It is made by `session.allocDevice(type, dims)` (memory from the session device's
 * stream-ordered pool), wraps a DeviceBuffer the caller owns with `DeviceTensor.fromBuffer()`
 * (the tensor keeps the buffer alive; dispose() of the tensor frees it only when it owns it), or
 * wraps a device pointer of another library with its owner (`DeviceTensor.fromPointer()`).
 * After dispose(), every use is refused with ERR_DISPOSED. The ONNX Runtime backend refuses
 * DeviceTensors (ERR_INVALID_ARG: copy them to the host first), and a TensorRT session of another
 * device refuses them naming both devices.
 */
import { DisposedError, InvalidArgumentError, ShapeError, describe } from './errors.js';
import { DeviceBuffer, Stream, copy, nativeHandle } from './cuda.js';
import type { NativeDeviceBuffer } from './native.js';
import { DATA_TYPES, Tensor, elementCount, formatDims, isDataType, type DataType, type TypedArrayFor } from './tensor.js';

export class DeviceTensor<T extends DataType = DataType> {
  readonly type: T;
  readonly dims: readonly number[];
  /** Number of elements. */
  readonly size: number;
  readonly byteLength: number;
  readonly location = 'gpu-buffer' as const;
  readonly #buffer: DeviceBuffer;
  readonly #owned: boolean;
  /** fromPointer(): what owns the memory, kept alive as long as this tensor is. */
  readonly #owner: unknown;
  #disposed = false;

  private constructor(type: T, dims: readonly number[], buffer: DeviceBuffer, owned: boolean, owner?: unknown) {
    this.#owner = owner;
    this.type = type;
    this.dims = Object.freeze([...dims]);
    this.size = elementCount(dims, 'dims');
    this.byteLength = this.size * DATA_TYPES[type].bytesPerElement;
    this.#buffer = buffer;
    this.#owned = owned;
  }

  /**
   * A tensor over `buffer` (a DeviceBuffer of `tensorrt-node/cuda`), which must hold exactly
   * the bytes `type` and `dims` describe. The buffer stays the caller's: dispose() of the tensor
   * does not free it. Write it (e.g. with cuda's copy()) before it is fed, and synchronize.
   */
  static fromBuffer<T extends DataType>(buffer: DeviceBuffer, type: T, dims: readonly number[]): DeviceTensor<T> {
    if (!(buffer instanceof DeviceBuffer)) throw new InvalidArgumentError(`DeviceTensor.fromBuffer() takes a DeviceBuffer, got ${describe(buffer)}`);
    if (buffer.freed) throw new DisposedError('DeviceTensor.fromBuffer(): the DeviceBuffer was freed');
    return DeviceTensor.#make(buffer, type, dims, false);
  }

  /**
   * A tensor over device memory another library allocated: `address` (a bigint device
   * pointer) on GPU `options.device`, holding exactly the bytes `type` and `dims` describe
   * (checked with the driver: ERR_INVALID_ARG for memory it does not know as that GPU's, or a
   * range past the allocation). `options.owner`, the object that frees the memory, is kept
   * alive as long as this tensor, so it is not collected while the tensor is in use; the memory
   * itself is never freed here.
   */
  static fromPointer<T extends DataType>(
    address: bigint,
    type: T,
    dims: readonly number[],
    options: { device?: number; owner?: unknown } = {},
  ): DeviceTensor<T> {
    if (!isDataType(type)) throw new InvalidArgumentError(`DeviceTensor type must be a data type, got ${describe(type)}`);
    const bytes = elementCount(dims, 'dims') * DATA_TYPES[type].bytesPerElement;
    const buffer = DeviceBuffer.fromAddress(address, bytes, options.device ?? 0);
    return new DeviceTensor(type, dims, buffer, false, options.owner);
  }

  /** @internal session.allocDevice(): a tensor that owns its buffer. */
  static owning<T extends DataType>(buffer: DeviceBuffer, type: T, dims: readonly number[]): DeviceTensor<T> {
    return DeviceTensor.#make(buffer, type, dims, true);
  }

  static #make<T extends DataType>(buffer: DeviceBuffer, type: T, dims: readonly number[], owned: boolean): DeviceTensor<T> {
    if (!isDataType(type)) throw new InvalidArgumentError(`DeviceTensor type must be a data type, got ${describe(type)}`);
    const count = elementCount(dims, 'dims');
    const bytes = count * DATA_TYPES[type].bytesPerElement;
    if (bytes !== buffer.byteLength) {
      throw new ShapeError(`a ${type} DeviceTensor of dims ${formatDims(dims)} needs ${bytes} bytes, but the DeviceBuffer holds ${buffer.byteLength}`);
    }
    return new DeviceTensor(type, dims, buffer, owned);
  }

  /** Alias of `type`, matching TensorInfo.dtype. */
  get dtype(): T {
    return this.type;
  }

  /** The CUDA device index the memory is on. */
  get device(): number {
    return this.#buffer.device;
  }

  get disposed(): boolean {
    return this.#disposed || this.#buffer.freed;
  }

  /** The owner given to fromPointer(), if any. */
  get owner(): unknown {
    return this.#owner;
  }

  /** @internal The native buffer, for the addon; throws ERR_DISPOSED once disposed. */
  nativeBuffer(what = 'the DeviceTensor'): NativeDeviceBuffer {
    if (this.disposed) throw new DisposedError(`${what} was disposed (DeviceTensor.dispose(), or its DeviceBuffer was freed)`);
    return this.#buffer[nativeHandle];
  }

  /** Copies the data to the host: a new Tensor (the copy runs off the event loop). */
  async toHost(): Promise<Tensor<T>> {
    this.nativeBuffer();
    const data = new DATA_TYPES[this.type].array(this.size) as TypedArrayFor<T>;
    if (this.byteLength > 0) {
      const stream = new Stream(this.device);
      try {
        await copy(data, this.#buffer, { stream, bytes: this.byteLength });
      } finally {
        stream.dispose();
      }
    }
    return new Tensor(this.type, data, this.dims);
  }

  /** The data copied to the host, as the typed array of `type` (onnxruntime-node's getData()). */
  async getData(): Promise<TypedArrayFor<T>> {
    return (await this.toHost()).data;
  }

  /** Frees the memory when the tensor owns it (allocDevice); idempotent. Runs in flight keep it until they end. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#owned) this.#buffer.free();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** True for a DeviceTensor of this library. */
export function isDeviceTensor(value: unknown): value is DeviceTensor {
  return value instanceof DeviceTensor;
}
