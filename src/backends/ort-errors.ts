/**
 * ONNX Runtime's failures in our words. Its messages carry C++ source paths, function
 * signatures and failed conditions ("/onnxruntime_src/.../element_wise_ops.h:583 void
 * onnxruntime::BroadcastIterator::Append(ptrdiff_t, ptrdiff_t) axis == 1 || axis == largest
 * was false. Attempting to broadcast ..."): the message we give keeps the node and the
 * sentence that explains, and the original text stays in `cause`.
 */
import { OnnxRuntimeError, ShapeError, type TensorRTNodeError } from '../errors.js';
import { formatDims } from '../tensor.js';

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;
/** "path/file.cc:123 " with an optional C++ signature after it ("void ns::f(int, int) const "). */
const SOURCE_LOCATION = /(?:[A-Za-z]:)?[\w./\\-]*\.(?:cc|cpp|cxx|c|h|hpp|cu|cuh):\d+\s+(?:[\w:<>,*&~ ]+\([^()]*\)(?:\s*const)?\s+)?/g;
/** What ORT_ENFORCE prints before its explanation: "x == 1 || x == y was false. " */
const FAILED_CONDITION = /^[^.]*? was false\.\s*/;
const NODE = /running (\w+) node\. Name:'([^']*)'/;

/**
 * Shape failures: what ONNX Runtime says when the feeds' dims do not fit a node (broadcast,
 * reshape, matmul, concat and gather bounds, input checks). Anything else is ERR_ONNXRUNTIME.
 */
const SHAPE_FAILURES = [
  /broadcast/i,
  /cannot be reshaped|reshape/i,
  /indices element out of data bounds|out of bounds|out of range/i,
  /invalid (?:input )?(?:shape|dimensions|rank)|dimension mismatch|dimensions? (?:must|do not|don't) match|shape mismatch|incompatible (?:shape|dimensions)/i,
  /Got invalid dimensions for input/i,
  /MatMul dimension mismatch|left operand cannot broadcast|right operand cannot broadcast/i,
  /Non concat axis dimensions must match|must have the same shape/i,
];

/** ONNX Runtime's text without colours, source locations, signatures or failed conditions. */
export function cleanOrtMessage(text: string): string {
  const plain = text.replace(ANSI, '').trim();
  const status = plain.indexOf('Status Message: ');
  const head = status >= 0 ? plain.slice(0, status + 'Status Message: '.length) : '';
  const body = (status >= 0 ? plain.slice(status + 'Status Message: '.length) : plain).replace(SOURCE_LOCATION, '').replace(FAILED_CONDITION, '');
  return `${head}${body}`.replace(/\s+/g, ' ').trim();
}

export interface FeedSummary {
  readonly name: string;
  readonly dims: readonly number[];
}

/**
 * The error for a failed ONNX Runtime run: ERR_SHAPE naming the feeds' dims and the node when
 * the failure is about shapes, ERR_ONNXRUNTIME otherwise. `raw` is ONNX Runtime's message.
 */
export function ortRunError(raw: string, feeds: readonly FeedSummary[], cause?: unknown): TensorRTNodeError {
  const text = raw.replace(ANSI, '').trim();
  const node = NODE.exec(text);
  const clean = cleanOrtMessage(text);
  const explanation = clean.includes('Status Message: ') ? clean.slice(clean.indexOf('Status Message: ') + 'Status Message: '.length) : clean;
  const where = node ? `its ${node[1]} node ${JSON.stringify(node[2])}` : 'ONNX Runtime';
  const details = { cause: cause ?? new Error(text), ...(node ? { node: node[2], opType: node[1] } : {}) };
  if (SHAPE_FAILURES.some((re) => re.test(explanation))) {
    const dims = feeds.map((f) => `${JSON.stringify(f.name)} ${formatDims(f.dims)}`).join(', ');
    return new ShapeError(`the feeds do not fit the model (${dims || 'no inputs'}): ${where} failed: ${explanation}`, details);
  }
  return new OnnxRuntimeError(`ONNX Runtime run failed${node ? ` in ${where.slice(4)}` : ''}: ${explanation}`, details);
}

/** The error for a model ONNX Runtime could not load; `where` names the model. */
export function ortLoadError(raw: string, where: string, cause?: unknown): OnnxRuntimeError {
  return new OnnxRuntimeError(`ONNX Runtime could not load the model (${where}): ${cleanOrtMessage(raw)}`, { cause: cause ?? new Error(raw) });
}

const TARGET_SHAPE = /The output OrtValue provided for output '([^']*)'.*? has shape \{([^}]*)\} but the computed output shape for this run is \{([^}]*)\}/;

/**
 * ONNX Runtime's refusal of a caller-provided output whose dims are not the ones the run
 * computed (a data-dependent dim), as ERR_SHAPE in the words of checkTargetResult; undefined
 * for any other failure.
 */
export function ortTargetShapeError(raw: string, cause?: unknown): ShapeError | undefined {
  const m = TARGET_SHAPE.exec(raw.replace(ANSI, ''));
  if (!m) return undefined;
  const dims = (s: string): number[] => (s.trim() === '' ? [] : s.split(',').map((d) => Number(d.trim())));
  return new ShapeError(
    `options.outputs[${JSON.stringify(m[1])}] has dims ${formatDims(dims(m[2]!))} but this run produced output ${JSON.stringify(m[1])} ` +
      `with dims ${formatDims(dims(m[3]!))}`,
    { cause: cause ?? new Error(raw), output: m[1] },
  );
}
