import { describe, expect, it } from 'vitest';
import { create, toBinary } from '@bufbuild/protobuf';
import { TENSOR_TYPE, TensorProtoSchema, encodeTensorProto, onnxTypeName, readTensorProto, tensorFromProto, tensorToProto } from '../../../src/onnx/index.js';
import { Tensor, float32ToFloat16Bits, type DataType } from '../../../src/tensor.js';
import { DTypeError, OnnxParseError } from '../../../src/errors.js';

describe('tensorToProto / tensorFromProto', () => {
  const samples: [DataType, unknown[], number[]][] = [
    ['float32', [1.5, -2, 3.25, 0, -0, 1e-30], [2, 3]],
    ['float16', [1, -2, 65504, 0.0001], [4]],
    ['bfloat16', [1, -2, 3e38, 0.5], [2, 2]],
    ['int8', [-128, 0, 127], [3]],
    ['uint8', [0, 255, 7], [3]],
    ['int32', [-(2 ** 31), 2 ** 31 - 1, 0], [3]],
    ['int64', [-(2n ** 63n), 2n ** 63n - 1n, 5n], [3]],
    ['bool', [true, false, true, true], [2, 2]],
    ['float32', [42], []],
  ];
  for (const [type, values, dims] of samples) {
    it(`round-trips ${type} ${JSON.stringify(dims)} through raw_data and the wire`, () => {
      const t = new Tensor(type, values, dims);
      const proto = tensorToProto(t, 'x');
      expect(onnxTypeName(proto.dataType)).toBe(type);
      const back = readTensorProto(toBinary(TensorProtoSchema, proto));
      expect(back.name).toBe('x');
      expect(back.tensor.type).toBe(type);
      expect(back.tensor.dims).toEqual(dims);
      expect(Array.from(back.tensor.data as ArrayLike<unknown>)).toEqual(Array.from(t.data as ArrayLike<unknown>));
    });
  }

  it('reads the typed data fields as the spec assigns them', () => {
    const f = tensorFromProto(create(TensorProtoSchema, { dataType: TENSOR_TYPE.FLOAT, dims: [2n], floatData: [1.5, -3] }));
    expect(Array.from(f.data as Float32Array)).toEqual([1.5, -3]);
    // FLOAT16 elements travel as their bit patterns in int32_data.
    const bits = [float32ToFloat16Bits(1), float32ToFloat16Bits(-0.5), float32ToFloat16Bits(65504)];
    const h = tensorFromProto(create(TensorProtoSchema, { dataType: TENSOR_TYPE.FLOAT16, dims: [3n], int32Data: bits }));
    expect(h.type).toBe('float16');
    expect(Array.from(h.toFloat32())).toEqual([1, -0.5, 65504]);
    const b = tensorFromProto(create(TensorProtoSchema, { dataType: TENSOR_TYPE.BOOL, dims: [3n], int32Data: [1, 0, 1] }));
    expect(Array.from(b.data as Uint8Array)).toEqual([1, 0, 1]);
    const l = tensorFromProto(create(TensorProtoSchema, { dataType: TENSOR_TYPE.INT64, dims: [1n, 2n], int64Data: [9007199254740993n, -1n] }));
    expect(Array.from(l.data as BigInt64Array)).toEqual([9007199254740993n, -1n]);
    const i8 = tensorFromProto(create(TensorProtoSchema, { dataType: TENSOR_TYPE.INT8, dims: [2n], int32Data: [-5, 100] }));
    expect(Array.from(i8.data as Int8Array)).toEqual([-5, 100]);
  });

  it('copies unaligned raw_data into an aligned array', () => {
    const backing = new Uint8Array(9);
    new DataView(backing.buffer).setFloat32(1, 2.5, true);
    new DataView(backing.buffer).setFloat32(5, -1, true);
    const t = tensorFromProto(create(TensorProtoSchema, { dataType: TENSOR_TYPE.FLOAT, dims: [2n], rawData: backing.subarray(1) }));
    expect(Array.from(t.data as Float32Array)).toEqual([2.5, -1]);
  });

  it('refuses element counts that do not match the dims', () => {
    expect(() => tensorFromProto(create(TensorProtoSchema, { name: 'w', dataType: TENSOR_TYPE.FLOAT, dims: [3n], floatData: [1, 2] }))).toThrow(
      /tensor "w" \(float32 \[3\]\) has 3 elements but stores 2/,
    );
    expect(() => tensorFromProto(create(TensorProtoSchema, { dataType: TENSOR_TYPE.FLOAT, dims: [3n], rawData: new Uint8Array(8) }))).toThrow(OnnxParseError);
  });

  it('names unsupported element types', () => {
    const err = (() => {
      try {
        tensorFromProto(create(TensorProtoSchema, { name: 'd', dataType: TENSOR_TYPE.STRING, dims: [1n], stringData: [new Uint8Array([104])] }));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DTypeError);
    expect((err as Error).message).toMatch(/tensor "d" has element type string, which tensorrt-node does not support \(supported: float32, .*uint64, bool\)/);
  });
});

describe('readTensorProto', () => {
  it('reads an ONNX backend-test style .pb file', () => {
    const bytes = encodeTensorProto(new Tensor('int64', [1n, 2n, 3n, 4n], [2, 2]), 'input_ids');
    const { name, tensor } = readTensorProto(bytes);
    expect(name).toBe('input_ids');
    expect(tensor.dims).toEqual([2, 2]);
    expect(Array.from(tensor.data as BigInt64Array)).toEqual([1n, 2n, 3n, 4n]);
  });

  it('refuses bytes that are not a TensorProto', () => {
    expect(() => readTensorProto(new Uint8Array([0xff, 0xff, 0xff, 0xff]), 'input_0.pb')).toThrow(/input_0\.pb: the 4 bytes are not a valid TensorProto/);
    expect(() => readTensorProto(new Uint8Array([0x42, 0x01, 0x61]), 'x.pb')).toThrow(/data_type missing/);
    const err = (() => {
      try {
        readTensorProto(new Uint8Array([0xff]));
      } catch (e) {
        return e;
      }
    })();
    expect((err as OnnxParseError).code).toBe('ERR_ONNX_PARSE');
  });
});

describe('onnxTypeName', () => {
  it('uses our names where supported, ONNX names otherwise', () => {
    expect(onnxTypeName(TENSOR_TYPE.FLOAT)).toBe('float32');
    expect(onnxTypeName(TENSOR_TYPE.FLOAT16)).toBe('float16');
    expect(onnxTypeName(TENSOR_TYPE.DOUBLE)).toBe('float64');
    expect(onnxTypeName(TENSOR_TYPE.COMPLEX64)).toBe('complex64');
    expect(onnxTypeName(TENSOR_TYPE.STRING)).toBe('string');
    expect(onnxTypeName(TENSOR_TYPE.FLOAT8E4M3FN)).toBe('float8e4m3fn');
    expect(onnxTypeName(999)).toBe('type(999)');
  });
});
