/**
 * NumPy's .npy format (versions 1-3), the array encoding inside Polygraphy's JSON files
 * (`polygraphy run --save-inputs`, `--load-inputs`). Only what maps onto our Tensor dtypes,
 * little-endian, C order.
 */
import { DTypeError, InvalidArgumentError } from '../errors.js';
import { DATA_TYPES, Tensor, elementCount, type DataType, type TensorData } from '../tensor.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const DESCR_TO_TYPE: Record<string, DataType> = {
  '<f4': 'float32',
  '<f2': 'float16',
  '<f8': 'float64',
  '<i8': 'int64',
  '<u8': 'uint64',
  '<i4': 'int32',
  '<u4': 'uint32',
  '<i2': 'int16',
  '<u2': 'uint16',
  '|i1': 'int8',
  '<i1': 'int8',
  '|u1': 'uint8',
  '<u1': 'uint8',
  '|b1': 'bool',
  '<b1': 'bool',
};

/** NumPy has no bfloat16: such tensors cannot be saved in .npy. */
const TYPE_TO_DESCR: Partial<Record<DataType, string>> = {
  float32: '<f4',
  float16: '<f2',
  float64: '<f8',
  int64: '<i8',
  uint64: '<u8',
  int32: '<i4',
  uint32: '<u4',
  int16: '<i2',
  uint16: '<u2',
  int8: '|i1',
  uint8: '|u1',
  bool: '|b1',
};

/** Decodes one .npy file into a Tensor. `what` names it in error messages. */
export function parseNpy(bytes: Uint8Array, what: string): Tensor {
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new InvalidArgumentError(`${what} is not a NumPy .npy array (bad magic bytes)`);
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new InvalidArgumentError(`${what}: truncated .npy header`);
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new InvalidArgumentError(`${what}: unsupported .npy version ${major}`);
  }
  if (headerStart + headerLen > bytes.length) throw new InvalidArgumentError(`${what}: truncated .npy header`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, headerStart + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new InvalidArgumentError(`${what}: unreadable .npy header ${JSON.stringify(header.trim())}`);
  }
  const type = DESCR_TO_TYPE[descr];
  if (type === undefined) {
    throw new DTypeError(
      `${what} holds a NumPy array of dtype ${JSON.stringify(descr)}, which has no tensorrt-node dtype ` +
        `(supported: ${Object.keys(DESCR_TO_TYPE).join(', ')}); cast it before saving`,
    );
  }
  if (fortran === 'True') {
    throw new InvalidArgumentError(`${what} is a Fortran-order array; save it in C order (np.ascontiguousarray)`);
  }
  const dims = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number(s.replace(/L$/, '')));
  const count = elementCount(dims, `${what} shape`);
  const start = headerStart + headerLen;
  const info = DATA_TYPES[type];
  const byteLength = count * info.bytesPerElement;
  if (bytes.length - start < byteLength) {
    throw new InvalidArgumentError(`${what}: .npy data holds ${bytes.length - start} bytes, shape ${JSON.stringify(dims)} needs ${byteLength}`);
  }
  // Copy into a fresh, aligned buffer: the data offset is rarely a multiple of 8.
  const copy = bytes.slice(start, start + byteLength);
  const data = new info.array(copy.buffer, 0, count) as TensorData;
  if (type === 'bool') {
    for (let i = 0; i < count; i++) if ((data as Uint8Array)[i]! > 1) (data as Uint8Array)[i] = 1;
  }
  return new Tensor(type, data, dims);
}

/** Encodes a Tensor as a version 1.0 .npy file. */
export function toNpy(tensor: Tensor): Uint8Array {
  const descr = TYPE_TO_DESCR[tensor.type];
  if (descr === undefined) throw new DTypeError(`a ${tensor.type} tensor has no NumPy dtype to save as`);
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // NumPy pads the header with spaces and a newline so the data starts 64-byte aligned.
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const data = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  const out = new Uint8Array(10 + header.length + data.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(data, 10 + header.length);
  return out;
}
