// ONNX Runtime's failure texts (as onnxruntime-node 1.30 gives them) in our words.
import { describe, expect, it } from 'vitest';
import { cleanOrtMessage, ortLoadError, ortRunError } from '../../../src/backends/ort-errors.js';
import { OnnxRuntimeError, ShapeError } from '../../../src/errors.js';

const BROADCAST =
  "Non-zero status code returned while running Add node. Name:'/embeddings/Add' Status Message: " +
  '/onnxruntime_src/onnxruntime/core/providers/cpu/math/element_wise_ops.h:583 void onnxruntime::BroadcastIterator::Append(ptrdiff_t, ptrdiff_t) ' +
  'axis == 1 || axis == largest was false. Attempting to broadcast an axis by a dimension other than 1. 512 by 600\n';
const RESHAPE =
  "Non-zero status code returned while running Reshape node. Name:'/attn/Reshape' Status Message: " +
  '/onnxruntime_src/onnxruntime/core/providers/cpu/tensor/reshape_helper.h:47 onnxruntime::ReshapeHelper::ReshapeHelper(const onnxruntime::TensorShape&, ' +
  'onnxruntime::TensorShapeVector&, bool) input_shape_size == size was false. The input tensor cannot be reshaped to the requested shape. ' +
  'Input shape:{1,7,64}, requested shape:{1,8,4,16}\n';
const feeds = [
  { name: 'input_ids', dims: [1, 600] },
  { name: 'attention_mask', dims: [1, 600] },
];

describe('ONNX Runtime errors', () => {
  it('drops colours, C++ source locations, signatures and failed conditions', () => {
    expect(cleanOrtMessage(BROADCAST)).toBe(
      "Non-zero status code returned while running Add node. Name:'/embeddings/Add' Status Message: Attempting to broadcast an axis by a dimension other than 1. 512 by 600",
    );
    expect(cleanOrtMessage('\u001b[1;31mplain text\u001b[m')).toBe('plain text');
    expect(cleanOrtMessage(RESHAPE)).not.toMatch(/reshape_helper|ReshapeHelper|was false/);
  });

  it('makes shape failures ERR_SHAPE naming the feeds, the node and the reason, with the original as cause', () => {
    const e = ortRunError(BROADCAST, feeds);
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toBe(
      'the feeds do not fit the model ("input_ids" [1, 600], "attention_mask" [1, 600]): its Add node "/embeddings/Add" failed: ' +
        'Attempting to broadcast an axis by a dimension other than 1. 512 by 600',
    );
    expect(e).toMatchObject({ node: '/embeddings/Add', opType: 'Add' });
    expect((e.cause as Error).message).toBe(BROADCAST.trim());
    expect(ortRunError(RESHAPE, feeds).message).toMatch(
      /its Reshape node "\/attn\/Reshape" failed: The input tensor cannot be reshaped to the requested shape. Input shape:\{1,7,64\}, requested shape:\{1,8,4,16\}$/,
    );
    const gather =
      "Non-zero status code returned while running Gather node. Name:'/pooler/Gather' Status Message: indices element out of data bounds, idx=0 must be within the inclusive range [0,-1]";
    expect(ortRunError(gather, feeds)).toBeInstanceOf(ShapeError);
  });

  it('keeps other failures ERR_ONNXRUNTIME, in the same clean words', () => {
    const text = "Non-zero status code returned while running Cast node. Name:'c' Status Message: /src/cast_op.cc:12 void f() x was false. Unsupported cast";
    const e = ortRunError(text, feeds);
    expect(e).toBeInstanceOf(OnnxRuntimeError);
    expect(e.message).toBe('ONNX Runtime run failed in Cast node "c": Unsupported cast');
    const load = ortLoadError(
      '/onnxruntime_src/onnxruntime/core/graph/model.cc:187 onnxruntime::Model::Model(ModelProto&&) ModelProto does not have a graph.',
      '"m.onnx"',
    );
    expect(load.message).toBe('ONNX Runtime could not load the model ("m.onnx"): ModelProto does not have a graph.');
  });
});
