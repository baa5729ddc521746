// A small model for the ONNX Runtime integration tests, and its reference in plain arithmetic.
import { GraphBuilder } from '../../src/onnx/builder.js';
import { encodeModel } from '../../src/onnx/model.js';
import { Tensor } from '../../src/tensor.js';

/** z = x · W + b, W = [[1, 2], [3, 4], [5, 6]], b = [0.5, -0.5]: float32 [batch, 3] -> [batch, 2]. */
export function affineModel(): Uint8Array {
  const g = new GraphBuilder({ opset: 17 });
  const x = g.input('x', 'float32', ['batch', 3]);
  const w = g.initializer('W', new Tensor('float32', [1, 2, 3, 4, 5, 6], [3, 2]));
  const b = g.initializer('b', new Tensor('float32', [0.5, -0.5], [2]));
  g.op('Add', [g.op('MatMul', [x, w]), b], {}, 'z');
  g.output('z', 'float32', ['batch', 2]);
  return encodeModel(g.build());
}

/** One row of affineModel's output, computed here. */
export const affine = (x: readonly number[]): number[] => [x[0]! + 3 * x[1]! + 5 * x[2]! + 0.5, 2 * x[0]! + 4 * x[1]! + 6 * x[2]! - 0.5];
