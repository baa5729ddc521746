/**
 * The requests a benchmark sends: a pool of seeded feeds made by the accuracy harness's
 * input generator (token ids inside the model's vocabulary, attention masks with padding
 * rows), each request `batch` rows of one sequence length, lengths fixed or drawn uniformly
 * from [min, max] per request. The pool is made once and shared by every backend and
 * configuration of a run, so they all see the same requests.
 */
import { InvalidArgumentError } from '../errors.js';
import { generateInputs } from '../accuracy/inputs.js';
import { inferValueRanges } from '../accuracy/model-hints.js';
import { Random } from '../random.js';
import { inspectModel, type ModelProto } from '../onnx/index.js';
import { DATA_TYPE_NAMES, type DataType } from '../tensor.js';
import type { Feeds, TensorInfo } from '../session.js';

export interface SeqRange {
  readonly min: number;
  readonly max: number;
}

export interface WorkloadOptions {
  /** Rows per request (the batch dim of each request). */
  batch: number;
  seq: SeqRange;
  poolSize: number;
  seed: number;
  /** Sizes of other symbolic dims, by name. */
  dims?: Record<string, number>;
  /** Value ranges by input name (defaults: the model's embedding-table sizes). */
  valueRanges?: Record<string, [number, number]>;
}

/** The model's graph inputs as TensorInfo, refusing what the sessions cannot feed. */
export function modelInputs(model: ModelProto): TensorInfo[] {
  const info = inspectModel(model);
  return info.inputs.map((i) => {
    if (!i.supported || i.dims === null) {
      throw new InvalidArgumentError(
        `model input ${JSON.stringify(i.name)} is ${i.kind === 'tensor' ? `a ${i.dtype || 'untyped'} tensor` : `a ${i.kind}`}` +
          (i.dims === null ? ' of unknown rank' : '') +
          `; the benchmark generates tensors of known rank of ${DATA_TYPE_NAMES.join(', ')}`,
      );
    }
    return { name: i.name, dtype: i.dtype as DataType, dims: i.dims };
  });
}

/** A pool of `poolSize` requests for `inputs`. */
export function requestPool(inputs: readonly TensorInfo[], model: ModelProto | null, o: WorkloadOptions): Feeds[] {
  if (o.seq.min > o.seq.max) throw new InvalidArgumentError(`sequence range min ${o.seq.min} > max ${o.seq.max}`);
  const valueRanges = { ...(model ? inferValueRanges(model) : {}), ...o.valueRanges };
  const base = { batch: o.batch, dims: o.dims ?? {}, valueRanges };
  if (o.seq.min === o.seq.max) {
    return generateInputs(inputs, { ...base, seq: o.seq.min, seed: o.seed, iterations: o.poolSize });
  }
  // Lengths from a stream of their own, so they do not shift when the inputs' use of the seed changes.
  const rng = Random.forStream(o.seed, 'bench request lengths');
  const pool: Feeds[] = [];
  for (let k = 0; k < o.poolSize; k++) {
    const seq = rng.nextInt(o.seq.min, o.seq.max + 1);
    pool.push(generateInputs(inputs, { ...base, seq, seed: o.seed + k, iterations: 1 })[0]!);
  }
  return pool;
}
