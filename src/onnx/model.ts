/**
 * Reading and writing ONNX models: decode/encode with unknown fields preserved, external data
 * (load and save, with the location checks), and a clone that shares tensor bytes.
 */
import { clearField, clone, create, fromBinary, isFieldSet, toBinary } from '@bufbuild/protobuf';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { writeFileAtomicWith } from '../files.js';
import { FileError, InvalidArgumentError, OnnxError, OnnxParseError, describe } from '../errors.js';
import type { DescMessage } from '@bufbuild/protobuf';
import {
  DATA_LOCATION,
  GraphProtoSchema,
  ModelProtoSchema,
  StringStringEntryProtoSchema,
  TensorProtoSchema,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type TensorProto,
} from './schema.js';
import { isExternal, onnxTypeName, tensorProtoByteSize } from './tensor-proto.js';

/** Protobuf messages cannot exceed 2 GiB; larger models must keep their weights in external data. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

export interface ReadModelOptions {
  /**
   * Load tensors stored in external data files into the model (default true). Their
   * locations must be relative paths inside the model's folder.
   */
  loadExternalData?: boolean;
  /** Folder external data locations are relative to when `source` is bytes (default: none, data not loaded). */
  baseDir?: string;
}

/**
 * Decodes an ONNX model. Unknown fields (fields our schema lacks) are kept and written back by
 * encodeModel. External data is not loaded (see loadExternalData). Throws OnnxParseError when
 * the bytes are not an ONNX ModelProto.
 */
export function decodeModel(bytes: Uint8Array, what = 'model'): ModelProto {
  if (!(bytes instanceof Uint8Array)) {
    throw new InvalidArgumentError(`${what} must be the bytes of an ONNX model (a Uint8Array), got ${describe(bytes)}`);
  }
  if (bytes.byteLength === 0) throw new OnnxParseError(`${what} is empty (0 bytes), not an ONNX model`);
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes);
  } catch (e) {
    throw new OnnxParseError(
      `${what} (${bytes.byteLength} bytes) could not be decoded as an ONNX ModelProto: ${(e as Error).message}` +
        ` (is the file truncated or not an ONNX model?)`,
      { cause: e },
    );
  }
  if (!model.graph) {
    throw new OnnxParseError(`${what} (${bytes.byteLength} bytes) decodes to no ONNX graph; it is not an ONNX model`);
  }
  if (!isFieldSet(model, ModelProtoSchema.field.irVersion) || model.irVersion <= 0n) {
    throw new OnnxParseError(`${what} has no ir_version; it is not a valid ONNX model`);
  }
  return model;
}

/**
 * Reads a model from a path (its external data resolved against the model's folder) or from
 * bytes. Errors: FileError (ERR_IO) when the file cannot be read, OnnxParseError
 * (ERR_ONNX_PARSE) when it is not an ONNX model, OnnxError (ERR_ONNX) for unsafe or missing
 * external data.
 */
export async function readModel(source: string | Uint8Array, options: ReadModelOptions = {}): Promise<ModelProto> {
  const load = options.loadExternalData ?? true;
  if (typeof source === 'string') {
    let bytes: Uint8Array;
    try {
      bytes = await fsp.readFile(source);
    } catch (e) {
      throw new FileError(`cannot read ONNX model ${JSON.stringify(source)}: ${(e as Error).message}`, { cause: e });
    }
    const model = decodeModel(bytes, `ONNX model ${JSON.stringify(source)}`);
    if (load) await loadExternalData(model, options.baseDir ?? path.dirname(path.resolve(source)));
    return model;
  }
  const model = decodeModel(source);
  if (load && options.baseDir !== undefined) await loadExternalData(model, options.baseDir);
  return model;
}

/** Every TensorProto of the model: initializers and attribute tensors of all graphs, sparse values and indices. */
export function* allTensors(model: ModelProto): Generator<TensorProto> {
  if (model.graph) yield* graphTensors(model.graph);
  for (const fn of model.functions) for (const node of fn.node) for (const a of node.attribute) yield* attributeTensors(a);
  for (const ti of model.trainingInfo) {
    if (ti.initialization) yield* graphTensors(ti.initialization);
    if (ti.algorithm) yield* graphTensors(ti.algorithm);
  }
}

function* graphTensors(graph: GraphProto): Generator<TensorProto> {
  yield* graph.initializer;
  for (const s of graph.sparseInitializer) {
    if (s.values) yield s.values;
    if (s.indices) yield s.indices;
  }
  for (const node of graph.node) for (const a of node.attribute) yield* attributeTensors(a);
}

function* attributeTensors(a: AttributeProto): Generator<TensorProto> {
  if (a.t) yield a.t;
  yield* a.tensors;
  if (a.sparseTensor?.values) yield a.sparseTensor.values;
  if (a.sparseTensor?.indices) yield a.sparseTensor.indices;
  if (a.g) yield* graphTensors(a.g);
  for (const g of a.graphs) yield* graphTensors(g);
}

export interface ExternalDataInfo {
  location: string;
  offset: number;
  length: number | undefined;
}

/** The parsed external_data entries of a tensor (location, offset, length). */
export function externalDataInfo(tp: TensorProto): ExternalDataInfo {
  const label = `tensor ${JSON.stringify(tp.name)}`;
  let location: string | undefined;
  let offset = 0;
  let length: number | undefined;
  for (const e of tp.externalData) {
    const num = (): number => {
      const n = Number(e.value);
      if (!/^\d+$/.test(e.value) || !Number.isSafeInteger(n)) {
        throw new OnnxError(`${label}: external_data ${e.key} must be a non-negative integer, got ${JSON.stringify(e.value)}`, {
          reason: 'external-data-entry',
        });
      }
      return n;
    };
    if (e.key === 'location') location = e.value;
    else if (e.key === 'offset') offset = num();
    else if (e.key === 'length') length = num();
  }
  if (location === undefined || location === '') {
    throw new OnnxError(`${label} is marked EXTERNAL but its external_data has no location`, { reason: 'external-data-entry' });
  }
  return { location, offset, length };
}

/**
 * Resolves an external data location against `baseDir`, refusing absolute paths and paths that
 * leave the folder (through `..` or a symbolic link): a model must not make its reader open
 * arbitrary files.
 */
export function resolveExternalLocation(location: string, baseDir: string, tensorName = ''): string {
  const label = tensorName ? `tensor ${JSON.stringify(tensorName)}` : 'external data';
  if (location.includes('\0')) {
    throw new OnnxError(`${label}: external data location contains a NUL byte`, { reason: 'external-data-location' });
  }
  if (path.isAbsolute(location) || path.win32.isAbsolute(location) || /^[a-zA-Z]:/.test(location)) {
    throw new OnnxError(
      `${label}: external data location ${JSON.stringify(location)} is an absolute path; ONNX external data must be ` + `a path relative to the model's folder`,
      { reason: 'external-data-location', location },
    );
  }
  const base = path.resolve(baseDir);
  const resolved = path.resolve(base, location.replace(/\\/g, '/'));
  const rel = path.relative(base, resolved);
  if (escapes(rel)) {
    throw new OnnxError(`${label}: external data location ${JSON.stringify(location)} leaves the model's folder ${JSON.stringify(base)}`, {
      reason: 'external-data-location',
      location,
    });
  }
  return resolved;
}

/** Whether a path relative to the model's folder leaves it (or is the folder itself); "..x" is a name, not a way up. */
function escapes(rel: string): boolean {
  return rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel);
}

function checkRealPathInside(file: string, baseDir: string, location: string, tensorName: string): void {
  let real: string;
  let realBase: string;
  try {
    real = fs.realpathSync(file);
    realBase = fs.realpathSync(baseDir);
  } catch (e) {
    throw new OnnxError(
      `tensor ${JSON.stringify(tensorName)}: external data file ${JSON.stringify(location)} not found in ${JSON.stringify(baseDir)}: ${(e as Error).message}`,
      { reason: 'external-data-missing', location, cause: e },
    );
  }
  const rel = path.relative(realBase, real);
  if (escapes(rel)) {
    throw new OnnxError(
      `tensor ${JSON.stringify(tensorName)}: external data location ${JSON.stringify(location)} resolves (through a ` +
        `symbolic link) to ${JSON.stringify(real)}, outside the model's folder`,
      { reason: 'external-data-location', location },
    );
  }
}

/**
 * Loads every externally stored tensor of `model` into its raw_data (in place), reading the
 * files relative to `baseDir`. Throws OnnxError for unsafe locations, missing files and
 * ranges past the end of a file.
 */
export async function loadExternalData(model: ModelProto, baseDir: string): Promise<void> {
  const handles = new Map<string, fsp.FileHandle>();
  try {
    for (const tp of allTensors(model)) {
      if (!isExternal(tp)) continue;
      const { location, offset, length } = externalDataInfo(tp);
      const file = resolveExternalLocation(location, baseDir, tp.name);
      let handle = handles.get(file);
      if (!handle) {
        checkRealPathInside(file, baseDir, location, tp.name);
        try {
          handle = await fsp.open(file, 'r');
        } catch (e) {
          throw new OnnxError(`tensor ${JSON.stringify(tp.name)}: cannot open external data ${JSON.stringify(location)}: ${(e as Error).message}`, {
            reason: 'external-data-missing',
            cause: e,
          });
        }
        handles.set(file, handle);
      }
      const size = (await handle.stat()).size;
      const expected = tensorProtoByteSize(tp);
      if (offset > size) {
        throw new OnnxError(
          `tensor ${JSON.stringify(tp.name)}: external data offset ${offset} is past the end of ${JSON.stringify(location)} (${size} bytes)`,
          { reason: 'external-data-range' },
        );
      }
      const n = length ?? expected ?? size - offset;
      if (expected !== undefined && n !== expected) {
        throw new OnnxError(`tensor ${JSON.stringify(tp.name)} (${onnxTypeName(tp.dataType)}) needs ${expected} bytes but its external_data length is ${n}`, {
          reason: 'external-data-range',
        });
      }
      if (offset + n > size) {
        throw new OnnxError(
          `tensor ${JSON.stringify(tp.name)}: external data ${JSON.stringify(location)} is ${size} bytes, too short for ` + `offset ${offset} + length ${n}`,
          { reason: 'external-data-range' },
        );
      }
      const bytes = new Uint8Array(n);
      let done = 0;
      while (done < n) {
        const { bytesRead } = await handle.read(bytes, done, n - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      tp.rawData = bytes;
      tp.externalData = [];
      clearField(tp, TensorProtoSchema.field.dataLocation);
    }
  } finally {
    await Promise.all([...handles.values()].map((h) => h.close()));
  }
}

export interface ExternalDataOptions {
  /** File name of the data, relative to the model's folder (default `<model file name>.data`). */
  location?: string;
  /** Tensors of at least this many bytes go to the data file (default 1024). */
  threshold?: number;
  /** Offsets in the data file are multiples of this (default 64). */
  alignment?: number;
}

export interface WriteModelOptions {
  /** Store large initializers in a separate file next to the model (true for the defaults). */
  externalData?: boolean | ExternalDataOptions;
}

function checkInlineSize(model: ModelProto): void {
  let total = 0;
  for (const tp of allTensors(model)) total += isExternal(tp) ? 0 : tp.rawData.byteLength;
  if (total > PROTOBUF_LIMIT) {
    throw new OnnxError(
      `the model's tensors take ${total} bytes, more than protobuf's 2 GiB limit for one message; ` +
        `write it with { externalData: true } to keep the weights in a separate file`,
      { reason: 'too-large' },
    );
  }
}

type AnyMessage = Record<string, unknown> & { $typeName: string; $unknown?: unknown };

/**
 * A shallow copy of `msg` holding only the fields numbered below `split` (`part` "before") or
 * above it plus the unknown fields (`part` "after"): encoding "before", then field `split`,
 * then "after" gives the bytes protobuf-es writes for the whole message (it writes fields in
 * number order, unknown fields last).
 */
function splitMessage(schema: DescMessage, msg: object, split: number, part: 'before' | 'after'): AnyMessage {
  const copy: AnyMessage = { ...(msg as AnyMessage) };
  for (const field of schema.fields) {
    const keep = part === 'before' ? field.number < split : field.number > split;
    if (keep) continue;
    if (field.fieldKind === 'list') copy[field.localName] = [];
    else if (field.oneof) copy[field.oneof.localName] = { case: undefined };
    else delete copy[field.localName];
  }
  if (part === 'before') delete copy.$unknown;
  return copy;
}

function varint(n: number): Uint8Array {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Uint8Array.from(out);
}

const TAG_GRAPH = 0x3a; // ModelProto.graph, field 7, length-delimited
const TAG_INITIALIZER = 0x2a; // GraphProto.initializer, field 5
const TAG_RAW_DATA = 0x4a; // TensorProto.raw_data, field 9

/**
 * The serialized model as a list of chunks (their concatenation is exactly
 * toBinary(ModelProtoSchema, model)): the main graph's initializers are framed by hand so their
 * raw_data goes out as the arrays the model already holds, with no copy and no growing buffer.
 */
export function encodeModelChunks(model: ModelProto): Uint8Array[] {
  const graph = model.graph;
  if (!graph) return [toBinary(ModelProtoSchema, model)];
  const chunks: Uint8Array[] = [];
  const graphChunks: Uint8Array[] = [toBinary(GraphProtoSchema, splitMessage(GraphProtoSchema, graph, 5, 'before') as unknown as GraphProto)];
  for (const tp of graph.initializer) {
    const head = toBinary(TensorProtoSchema, splitMessage(TensorProtoSchema, tp, 9, 'before') as unknown as TensorProto);
    const tail = toBinary(TensorProtoSchema, splitMessage(TensorProtoSchema, tp, 9, 'after') as unknown as TensorProto);
    const hasRaw = Object.prototype.hasOwnProperty.call(tp, 'rawData') && tp.rawData !== undefined;
    const rawFrame = hasRaw ? [Uint8Array.of(TAG_RAW_DATA), varint(tp.rawData.byteLength), tp.rawData] : [];
    const len = head.byteLength + tail.byteLength + rawFrame.reduce((a, c) => a + c.byteLength, 0);
    graphChunks.push(Uint8Array.of(TAG_INITIALIZER), varint(len), head, ...rawFrame, tail);
  }
  graphChunks.push(toBinary(GraphProtoSchema, splitMessage(GraphProtoSchema, graph, 5, 'after') as unknown as GraphProto));
  const graphLen = graphChunks.reduce((a, c) => a + c.byteLength, 0);
  chunks.push(toBinary(ModelProtoSchema, splitMessage(ModelProtoSchema, model, 7, 'before') as unknown as ModelProto));
  chunks.push(Uint8Array.of(TAG_GRAPH), varint(graphLen), ...graphChunks);
  chunks.push(toBinary(ModelProtoSchema, splitMessage(ModelProtoSchema, model, 7, 'after') as unknown as ModelProto));
  return chunks.filter((c) => c.byteLength > 0);
}

function chunkedSize(chunks: readonly Uint8Array[]): number {
  let total = 0;
  for (const c of chunks) total += c.byteLength;
  if (total > PROTOBUF_LIMIT) {
    throw new OnnxError(`the serialized model is ${total} bytes, more than protobuf's 2 GiB limit; write it with { externalData: true }`, {
      reason: 'too-large',
    });
  }
  return total;
}

/**
 * Serializes a model (unknown fields included) into one exactly sized buffer. Throws
 * OnnxError past protobuf's 2 GiB limit.
 */
export function encodeModel(model: ModelProto): Uint8Array {
  checkInlineSize(model);
  const chunks = encodeModelChunks(model);
  const out = new Uint8Array(chunkedSize(chunks));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

async function writeAll(handle: fsp.FileHandle, bytes: Uint8Array, position?: number): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done, position === undefined ? null : position + done);
    done += bytesWritten;
  }
}

/**
 * Writes `model` to `file` atomically (writeFileAtomicWith: temp file, fsync, rename). With `externalData`,
 * initializers of at least `threshold` bytes go to one data file next to the model, and the
 * model records their location, offset and length; `model` itself is left unchanged.
 */
export async function writeModel(model: ModelProto, file: string, options: WriteModelOptions = {}): Promise<void> {
  if (typeof file !== 'string' || file === '') {
    throw new InvalidArgumentError(`writeModel: file must be a non-empty path, got ${describe(file)}`);
  }
  const ext = options.externalData;
  if (!ext) {
    checkInlineSize(model);
    const chunks = encodeModelChunks(model);
    chunkedSize(chunks);
    await writeFileAtomicWith(file, async (h) => {
      for (const c of chunks) await writeAll(h, c);
    });
    return;
  }
  const opts: ExternalDataOptions = ext === true ? {} : ext;
  const location = opts.location ?? `${path.basename(file)}.data`;
  const threshold = opts.threshold ?? 1024;
  const alignment = opts.alignment ?? 64;
  if (!Number.isInteger(threshold) || threshold < 0) {
    throw new InvalidArgumentError(`externalData.threshold must be a non-negative integer, got ${describe(threshold)}`);
  }
  if (!Number.isInteger(alignment) || alignment < 1) {
    throw new InvalidArgumentError(`externalData.alignment must be a positive integer, got ${describe(alignment)}`);
  }
  const dir = path.dirname(path.resolve(file));
  let dataFile: string;
  try {
    dataFile = resolveExternalLocation(location, dir);
  } catch (e) {
    throw new InvalidArgumentError(`externalData.location: ${(e as Error).message}`, { cause: e });
  }

  // Move qualifying initializers out for the encode, then put everything back.
  const moved: { tp: TensorProto; raw: Uint8Array; offset: number; hadLocation: boolean; location: number }[] = [];
  let offset = 0;
  const initializers: TensorProto[] = [];
  const collect = (g: GraphProto): void => {
    initializers.push(...g.initializer);
    for (const n of g.node)
      for (const a of n.attribute) {
        if (a.g) collect(a.g);
        for (const sg of a.graphs) collect(sg);
      }
  };
  if (model.graph) collect(model.graph);
  for (const tp of initializers) {
    if (isExternal(tp)) {
      throw new OnnxError(`tensor ${JSON.stringify(tp.name)} still refers to external data that was not loaded; load it before writing`, {
        reason: 'external-data-missing',
      });
    }
    const raw = tp.rawData;
    if (raw.byteLength === 0 || raw.byteLength < threshold) continue;
    offset = Math.ceil(offset / alignment) * alignment;
    moved.push({ tp, raw, offset, hadLocation: isFieldSet(tp, TensorProtoSchema.field.dataLocation), location: tp.dataLocation });
    offset += raw.byteLength;
  }
  let chunks: Uint8Array[];
  try {
    for (const m of moved) {
      m.tp.rawData = new Uint8Array(0);
      clearField(m.tp, TensorProtoSchema.field.rawData);
      m.tp.dataLocation = DATA_LOCATION.EXTERNAL;
      m.tp.externalData = [
        create(StringStringEntryProtoSchema, { key: 'location', value: location }),
        create(StringStringEntryProtoSchema, { key: 'offset', value: String(m.offset) }),
        create(StringStringEntryProtoSchema, { key: 'length', value: String(m.raw.byteLength) }),
      ];
    }
    checkInlineSize(model);
    chunks = encodeModelChunks(model);
    chunkedSize(chunks);
  } finally {
    for (const m of moved) {
      m.tp.rawData = m.raw;
      m.tp.externalData = [];
      if (m.hadLocation) m.tp.dataLocation = m.location;
      else clearField(m.tp, TensorProtoSchema.field.dataLocation);
    }
  }
  await writeFileAtomicWith(dataFile, async (h) => {
    for (const m of moved) await writeAll(h, m.raw, m.offset);
  });
  await writeFileAtomicWith(file, async (h) => {
    for (const c of chunks) await writeAll(h, c);
  });
}

/**
 * A deep copy of `model` whose tensors share their raw_data bytes with the original (tensor
 * bytes are treated as immutable throughout this library; replace them, never write into them).
 */
export function cloneModel(model: ModelProto): ModelProto {
  const originals = [...allTensors(model)];
  const raws = originals.map((tp) => tp.rawData);
  for (const tp of originals) if (tp.rawData.byteLength > 0) tp.rawData = EMPTY;
  let copy: ModelProto;
  try {
    copy = clone(ModelProtoSchema, model);
  } finally {
    originals.forEach((tp, i) => {
      tp.rawData = raws[i]!;
    });
  }
  // allTensors visits in a fixed order, so the copy's tensors pair up with the originals.
  const copies = [...allTensors(copy)];
  if (copies.length !== originals.length) {
    throw new OnnxError(`internal: cloneModel found ${copies.length} tensors in the copy, ${originals.length} in the model`);
  }
  copies.forEach((tp, i) => {
    if (raws[i]!.byteLength > 0) tp.rawData = raws[i]!;
  });
  return copy;
}

const EMPTY = new Uint8Array(0);
