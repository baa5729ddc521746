/**
 * Is a model an ONNX file or a TensorRT plan? createSession() needs to know before it picks
 * what to do with it. A path ending in .onnx is ONNX, one ending in .plan, .engine or .trt a
 * plan; anything else is told by its first bytes: an ONNX file is a protobuf ModelProto, so
 * it starts with the tag of one of ModelProto's fields; a TensorRT plan starts with
 * TensorRT's own header ("ftrt"), which is no such tag.
 */
import { open } from 'node:fs/promises';
import { FileError } from '../errors.js';

export type ModelKind = 'onnx' | 'plan';

/** First bytes of ModelProto's field tags (field number << 3 | wire type). */
const ONE_BYTE_TAGS = new Set([
  0x08, // 1 ir_version, varint
  0x12, // 2 producer_name
  0x1a, // 3 producer_version
  0x22, // 4 domain
  0x28, // 5 model_version, varint
  0x32, // 6 doc_string
  0x3a, // 7 graph
  0x42, // 8 opset_import
  0x72, // 14 metadata_props
]);
/** Two-byte tags (fields >= 16): 20 training_info, 25 functions, 26 configuration. */
const TWO_BYTE_TAGS = new Set([0xa2, 0xca, 0xd2]);

/** True when `head` (the first bytes of a file) can start an ONNX ModelProto; an empty model counts as ONNX. */
export function looksLikeOnnx(head: Uint8Array): boolean {
  if (head.byteLength === 0) return true;
  const b = head[0]!;
  if (ONE_BYTE_TAGS.has(b)) return true;
  return TWO_BYTE_TAGS.has(b) && head.byteLength > 1 && head[1] === 0x01;
}

export async function modelKind(model: string | Uint8Array): Promise<ModelKind> {
  if (model instanceof Uint8Array) return looksLikeOnnx(model) ? 'onnx' : 'plan';
  if (/\.onnx$/i.test(model)) return 'onnx';
  if (/\.(plan|engine|trt)$/i.test(model)) return 'plan';
  let head: Uint8Array;
  try {
    const file = await open(model, 'r');
    try {
      const buf = new Uint8Array(2);
      const { bytesRead } = await file.read(buf, 0, 2, 0);
      head = buf.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  } catch (e) {
    throw new FileError(`cannot read the model ${JSON.stringify(model)}: ${(e as Error).message}`, { cause: e });
  }
  return looksLikeOnnx(head) ? 'onnx' : 'plan';
}
