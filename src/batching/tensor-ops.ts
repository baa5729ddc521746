/**
 * Copies between request tensors and batch tensors: concatenation along the batch axis with
 * padding of sequence axes, and the reverse split with trimming. Row-major, any rank; the
 * innermost run that is contiguous in both source and destination is copied in one go.
 */
import { DATA_TYPES, Tensor, type DataType, type TensorData } from '../tensor.js';

type Indexable = { [i: number]: number | bigint };

// Below this run length an element loop beats subarray()+set(), which allocate a view.
const SET_THRESHOLD = 24;

const MAX_SCRATCH_RANK = 32;
const counter = new Int32Array(MAX_SCRATCH_RANK);
const sStride = new Float64Array(MAX_SCRATCH_RANK);
const dStride = new Float64Array(MAX_SCRATCH_RANK);

/**
 * Copies the box `box` (dims) from `src` (dims `sDims`) into `dst` (dims `dDims`). The box
 * starts at index `sOff` / `dOff` along `axis` and at 0 along every other axis.
 */
export function copyBox(
  src: TensorData,
  sDims: readonly number[],
  dst: TensorData,
  dDims: readonly number[],
  box: readonly number[],
  axis: number,
  sOff: number,
  dOff: number,
): void {
  const rank = box.length;
  if (rank > MAX_SCRATCH_RANK) {
    copyBoxSlow(src, sDims, dst, dDims, box, axis, sOff, dOff);
    return;
  }
  let s = 1;
  let d = 1;
  for (let i = rank - 1; i >= 0; i--) {
    sStride[i] = s;
    dStride[i] = d;
    s *= sDims[i]!;
    d *= dDims[i]!;
  }
  for (let i = 0; i < rank; i++) if (box[i] === 0) return;
  // Innermost axes that are whole in box, source and destination form one contiguous run,
  // together with the next axis out (which the box covers from its start).
  let inner = rank - 1;
  let run = 1;
  while (inner >= 0 && box[inner] === sDims[inner] && box[inner] === dDims[inner]) {
    run *= box[inner]!;
    inner--;
  }
  if (inner >= 0) run *= box[inner]!;
  const sBase = rank === 0 ? 0 : sOff * sStride[axis]!;
  const dBase = rank === 0 ? 0 : dOff * dStride[axis]!;
  if (inner <= 0) {
    copyRun(src, sBase, dst, dBase, run);
    return;
  }
  // Odometer over axes 0 .. inner-1.
  for (let i = 0; i < inner; i++) counter[i] = 0;
  let so = sBase;
  let dp = dBase;
  for (;;) {
    copyRun(src, so, dst, dp, run);
    let i = inner - 1;
    for (; i >= 0; i--) {
      const c = ++counter[i]!;
      so += sStride[i]!;
      dp += dStride[i]!;
      if (c < box[i]!) break;
      counter[i] = 0;
      so -= c * sStride[i]!;
      dp -= c * dStride[i]!;
    }
    if (i < 0) return;
  }
}

function copyRun(src: TensorData, s: number, dst: TensorData, d: number, n: number): void {
  if (n >= SET_THRESHOLD) {
    (dst as Float32Array).set((src as Float32Array).subarray(s, s + n), d);
  } else {
    const a = src as unknown as Indexable;
    const b = dst as unknown as Indexable;
    for (let k = 0; k < n; k++) b[d + k] = a[s + k]!;
  }
}

function copyBoxSlow(
  src: TensorData,
  sDims: readonly number[],
  dst: TensorData,
  dDims: readonly number[],
  box: readonly number[],
  axis: number,
  sOff: number,
  dOff: number,
): void {
  const rank = box.length;
  const idx = new Array<number>(rank).fill(0);
  const total = box.reduce((a, b) => a * b, 1);
  const a = src as unknown as Indexable;
  const b = dst as unknown as Indexable;
  for (let n = 0; n < total; n++) {
    let si = 0;
    let di = 0;
    for (let i = 0; i < rank; i++) {
      si = si * sDims[i]! + idx[i]! + (i === axis ? sOff : 0);
      di = di * dDims[i]! + idx[i]! + (i === axis ? dOff : 0);
    }
    b[di] = a[si]!;
    for (let i = rank - 1; i >= 0; i--) {
      if (++idx[i]! < box[i]!) break;
      idx[i] = 0;
    }
  }
}

/** A zero-filled (or `fill`-filled) typed array of `dtype` with `n` elements. */
export function allocate(dtype: DataType, n: number, fill: number | bigint): TensorData {
  const data = new DATA_TYPES[dtype].array(n) as TensorData;
  if (fill !== 0 && fill !== 0n) (data as unknown as { fill(v: number | bigint): void }).fill(fill);
  return data;
}

export function product(dims: readonly number[]): number {
  let n = 1;
  for (let i = 0; i < dims.length; i++) n *= dims[i]!;
  return n;
}

/**
 * Concatenates `parts` along `axis` into a tensor of dims `dims` (whose other axes are at
 * least the parts'), filling what no part covers with `fill`.
 */
export function concatPadded(dtype: DataType, parts: readonly Tensor[], dims: readonly number[], axis: number, fill: number | bigint): Tensor {
  const data = allocate(dtype, product(dims), fill);
  let off = 0;
  for (let k = 0; k < parts.length; k++) {
    const t = parts[k]!;
    copyBox(t.data, t.dims, data, dims, t.dims, axis, 0, off);
    off += t.dims[axis]!;
  }
  return new Tensor(dtype, data as never, dims);
}

/** The box `dims` of `t` starting at `offset` along `axis`, as a new tensor with its own buffer. */
export function sliceBox(t: Tensor, dims: readonly number[], axis: number, offset: number): Tensor {
  const data = allocate(t.type, product(dims), 0);
  copyBox(t.data, t.dims, data, dims, dims, axis, offset, 0);
  return new Tensor(t.type, data as never, dims);
}
