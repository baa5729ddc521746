/**
 * The reference run for the dataMax rule: every float32 intermediate tensor of the main graph
 * becomes a graph output of a copy of the model, ONNX Runtime (CPU, FP32) runs the calibration
 * inputs, and each tensor's largest magnitude and dims are recorded.
 */
import { OnnxRuntimeSession } from '../backends/onnxruntime.js';
import type { Feeds } from '../session.js';
import { encodeModel } from '../onnx/model.js';
import { exposeTensors } from '../onnx/graph.js';
import { TENSOR_TYPE, type ModelProto } from '../onnx/schema.js';

export interface TensorStats {
  /** Largest |x| over finite values, or Infinity when a value was ±Inf. */
  maxAbs: number;
  nanCount: number;
  /** Dims seen in the last run. */
  dims: number[];
}

export async function measureActivations(
  model: ModelProto,
  feedsList: readonly Feeds[],
  options: { threads?: number } = {},
): Promise<{ stats: Map<string, TensorStats>; runs: number }> {
  const { model: exposed } = exposeTensors(model, { elemTypes: [TENSOR_TYPE.FLOAT] });
  const session = await OnnxRuntimeSession.create(encodeModel(exposed), {
    intraOpNumThreads: options.threads ?? 0,
  });
  const stats = new Map<string, TensorStats>();
  const record = (name: string, type: string, dims: readonly number[], data: ArrayLike<number>): void => {
    if (type !== 'float32') return;
    let s = stats.get(name);
    if (!s) stats.set(name, (s = { maxAbs: 0, nanCount: 0, dims: [] }));
    let m = s.maxAbs;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v !== v) s.nanCount++;
      else if (v > m) m = v;
      else if (-v > m) m = -v;
    }
    s.maxAbs = m;
    s.dims = [...dims];
  };
  try {
    for (const feeds of feedsList) {
      for (const [name, t] of Object.entries(feeds)) record(name, t.type, t.dims, t.data as Float32Array);
      const out = await session.run(feeds);
      for (const [name, t] of Object.entries(out)) record(name, t.type, t.dims, t.data as Float32Array);
    }
  } finally {
    await session.dispose();
  }
  return { stats, runs: feedsList.length };
}
