/**
 * createSession()'s routing: which backend opens the model, and why (`session.selection`).
 *
 * 'auto' takes TensorRT where it can run here: its libraries load (requireTensorRT), the
 * addon has TensorRT support and the CUDA device exists. Otherwise, and when TensorRT
 * cannot take the model (a dtype it lacks, a parser or build failure, CUDA errors), ONNX
 * Runtime opens an ONNX model, and the selection says what TensorRT reported. A TensorRT
 * plan has no fallback: it fails with TensorRT's error. Bad options and unreadable files
 * fail whichever backend would run, so they are thrown, not fallen back from.
 */
import { z } from 'zod';
import { InvalidArgumentError, TensorRTNodeError, TensorRTNotFoundError, errorFromCode } from '../errors.js';
import { parseOptions } from '../options.js';
import type { BackendSelection, CreateSessionOptions, InferenceSession } from '../session.js';
import { modelKind, type ModelKind } from './model-kind.js';

/** What openSession() calls; unit tests pass test doubles. @internal */
export interface SessionOpeners {
  onnxruntime(model: string | Uint8Array, options: Record<string, unknown>): Promise<InferenceSession>;
  tensorrt(model: string | Uint8Array, options: Record<string, unknown>): Promise<InferenceSession>;
  /** Whether TensorRT can run on `device` here, and in words why (not). */
  probe(device: number): Promise<TensorRTProbe>;
  modelKind(model: string | Uint8Array): Promise<ModelKind>;
}

export type TensorRTProbe = { ok: true; reason: string } | { ok: false; reason: string; error: TensorRTNodeError };

/** Codes with which 'auto' gives up on TensorRT for an ONNX model and uses ONNX Runtime. */
const FALLBACK_CODES = new Set([
  'ERR_DTYPE',
  'ERR_ONNX_PARSE',
  'ERR_TENSORRT',
  'ERR_TENSORRT_NOT_FOUND',
  'ERR_TENSORRT_VERSION',
  'ERR_CUDA',
  'ERR_CUDA_OOM',
  'ERR_PROFILE_RANGE',
]);

const objectOf = (what: string) =>
  z.custom<Record<string, unknown>>((v) => v !== null && typeof v === 'object' && !Array.isArray(v), { message: `expected an object of ${what} options` });

const AutoOptionsSchema = z
  .object({
    backend: z.literal('auto'),
    onnxruntime: objectOf('onnxruntime session').optional(),
    tensorrt: objectOf('tensorrt session').optional(),
  })
  .strict();

const firstLine = (text: string): string => text.split('\n', 1)[0]!;

async function defaultOnnxRuntime(model: string | Uint8Array, options: Record<string, unknown>): Promise<InferenceSession> {
  const { OnnxRuntimeSession } = await import('./onnxruntime.js');
  return OnnxRuntimeSession.create(model, options);
}

async function defaultTensorRT(model: string | Uint8Array, options: Record<string, unknown>): Promise<InferenceSession> {
  const { createTensorRTSession } = await import('./tensorrt.js');
  return createTensorRTSession(model, options);
}

/** requireTensorRT(), the addon's TensorRT support and the device, as one answer; never throws. */
export async function probeTensorRTDevice(device: number): Promise<TensorRTProbe> {
  try {
    const { requireTensorRT } = await import('./tensorrt-libs.js');
    const { loadAddon } = await import('../native.js');
    const runtime = requireTensorRT();
    const addon = loadAddon();
    if (addon.trtDeserialize === undefined) throw new TensorRTNotFoundError('this build of the addon has no TensorRT support');
    const count = addon.cudaDeviceCount();
    if (device >= count) {
      throw errorFromCode('ERR_CUDA', count === 0 ? 'no CUDA device is present' : `CUDA device ${device} does not exist (${count} device(s))`);
    }
    return { ok: true, reason: `TensorRT ${runtime.version} loaded (${runtime.libraryPath}) and CUDA device ${device} is present` };
  } catch (e) {
    const error = e instanceof TensorRTNodeError ? e : errorFromCode('ERR_INTERNAL', (e as Error).message, { cause: e });
    return { ok: false, reason: firstLine(error.message), error };
  }
}

const defaultOpeners: SessionOpeners = {
  onnxruntime: defaultOnnxRuntime,
  tensorrt: defaultTensorRT,
  probe: probeTensorRTDevice,
  modelKind,
};

function select(session: InferenceSession, selection: BackendSelection): InferenceSession {
  (session as { selection?: BackendSelection }).selection = selection;
  return session;
}

/** createSession() after its `backend` check; see the module comment. */
export async function openSession(
  model: string | Uint8Array,
  options: CreateSessionOptions,
  openers: SessionOpeners = defaultOpeners,
): Promise<InferenceSession> {
  if (options.backend === 'onnxruntime') {
    const session = await openers.onnxruntime(model, options as Record<string, unknown>);
    return select(session, { requested: 'onnxruntime', reason: 'requested' });
  }
  if (options.backend === 'tensorrt') {
    const session = await openers.tensorrt(model, options as Record<string, unknown>);
    return session.selection ? session : select(session, { requested: 'tensorrt', reason: 'requested' });
  }
  const opts = parseOptions(AutoOptionsSchema, options, "createSession options (backend 'auto')");
  if (typeof model !== 'string' && !(model instanceof Uint8Array)) {
    throw new InvalidArgumentError('model must be a file path or a Uint8Array (an ONNX model or a TensorRT plan)');
  }
  const kind = await openers.modelKind(model);
  const trtOptions: Record<string, unknown> = { ...(opts.tensorrt ?? {}), backend: 'tensorrt' };
  const ortOptions: Record<string, unknown> = { ...(opts.onnxruntime ?? {}), backend: 'onnxruntime' };
  const device = typeof trtOptions.device === 'number' ? trtOptions.device : 0;
  const probe = await openers.probe(device);
  const viaOnnxRuntime = async (reason: string, error?: TensorRTNodeError): Promise<InferenceSession> => {
    const session = await openers.onnxruntime(model, ortOptions);
    return select(session, { requested: 'auto', reason, ...(error ? { tensorrtError: { code: error.code, message: error.message } } : {}) });
  };
  if (!probe.ok) {
    if (kind === 'plan') {
      throw errorFromCode(probe.error.code, `the model is a TensorRT plan, which only TensorRT runs: ${probe.error.message}`, { cause: probe.error });
    }
    return viaOnnxRuntime(`TensorRT is not available: ${probe.reason}`, probe.error);
  }
  let session: InferenceSession;
  try {
    session = await openers.tensorrt(model, trtOptions);
  } catch (e) {
    if (kind === 'plan' || !(e instanceof TensorRTNodeError) || !FALLBACK_CODES.has(e.code)) throw e;
    return viaOnnxRuntime(`TensorRT could not take the model (${e.code}: ${firstLine(e.message)})`, e);
  }
  const engine = session.selection?.engine;
  const how =
    kind === 'plan'
      ? 'the model is a TensorRT plan'
      : engine
        ? `engine ${engine.fromCache ? 'from the engine cache' : 'built'}${engine.cachePath ? ` (${engine.cachePath})` : ''}`
        : 'engine built';
  return select(session, { requested: 'auto', reason: `${probe.reason}; ${how}`, ...(engine ? { engine } : {}) });
}
