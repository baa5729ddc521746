/**
 * The TensorRT backend. Engines (build, deserialize, execution contexts) arrive with the
 * engine issue; until then createSession({ backend: 'tensorrt' }) checks that TensorRT can
 * be loaded and reports ERR_TENSORRT_NOT_FOUND either way, saying why.
 */
import { TensorRTNotFoundError } from '../errors.js';
import type { InferenceSession } from '../session.js';
import { requireTensorRT } from './tensorrt-libs.js';

export async function createTensorRTSession(_model: string | Uint8Array, _options: unknown): Promise<InferenceSession> {
  const trt = requireTensorRT();
  throw new TensorRTNotFoundError(
    `TensorRT ${trt.version} was found at ${trt.libraryPath}, but this version of tensorrt-node cannot run engines yet ` +
      '(the TensorRT session is not implemented); use backend: "onnxruntime"',
  );
}
