import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { inputFileJson, parseInputJson, readInputFile, writeInputFile } from '../../../src/accuracy/input-file.js';
import { parseNpy, toNpy } from '../../../src/accuracy/npy.js';
import { Tensor } from '../../../src/tensor.js';
import { DTypeError, FileError, InvalidArgumentError } from '../../../src/errors.js';

const fixture = fileURLToPath(new URL('../../fixtures/accuracy/polygraphy-inputs.json', import.meta.url));
const dir = await mkdtemp(join(tmpdir(), 'trtn-inputs-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('Polygraphy input files', () => {
  it('reads the JSON Polygraphy writes (np.save arrays in base64), every iteration', async () => {
    const its = await readInputFile(fixture);
    expect(its).toHaveLength(2);
    const f = its[0]!;
    expect(Object.keys(f)).toEqual(['input_ids', 'attention_mask', 'scale', 'half', 'flag']);
    expect(f.input_ids!.type).toBe('int64');
    expect(f.input_ids!.dims).toEqual([2, 4]);
    expect([...(f.input_ids!.data as BigInt64Array)]).toEqual([101n, 7592n, 102n, 0n, 101n, 2088n, 999n, 102n]);
    expect([...(f.attention_mask!.data as BigInt64Array)].map(Number)).toEqual([1, 1, 1, 0, 1, 1, 1, 1]);
    expect([...f.scale!.toFloat32()]).toEqual([0.5, -1.25, 3, Math.fround(1e-3), 65504, -0]);
    expect(f.half!.type).toBe('float16');
    expect([...f.half!.toFloat32()]).toEqual([1.5, -2, 0.333251953125]);
    expect(f.flag!.type).toBe('bool');
    expect([...(f.flag!.data as Uint8Array)]).toEqual([1, 0]);
    expect([...(its[1]!.input_ids!.data as BigInt64Array)].map(Number)).toEqual([101, 1, 2, 102, 101, 3, 4, 102]);
  });

  it('writes files its own reader (and NumPy) reads back bit-identical', async () => {
    const its = await readInputFile(fixture);
    const path = join(dir, 'poly.json');
    await writeInputFile(path, its, 'polygraphy');
    const json = JSON.parse(await readFile(path, 'utf8'));
    expect(json[0].scale.polygraphy_class).toBe('ndarray');
    const back = await readInputFile(path);
    for (const [name, t] of Object.entries(its[0]!)) {
      expect(back[0]![name]!.type).toBe(t.type);
      expect(back[0]![name]!.dims).toEqual(t.dims);
      expect(back[0]![name]!.data).toEqual(t.data);
    }
  });
});

describe('our input file format', () => {
  it('round-trips every dtype exactly, NaN, infinities and big int64 included', async () => {
    const feeds = {
      f32: new Tensor('float32', Float32Array.from([0.1, -3.4028234663852886e38, NaN, Infinity, -Infinity, 1e-45]), [2, 3]),
      f16: Tensor.fromFloat32('float16', Float32Array.from([0.1, 65504, -0.5])),
      bf16: Tensor.fromFloat32('bfloat16', Float32Array.from([0.1, 3e38])),
      i64: new Tensor('int64', BigInt64Array.from([0n, 9007199254740993n, -9223372036854775808n]), [3]),
      i32: new Tensor('int32', Int32Array.from([-2147483648, 7])),
      i8: new Tensor('int8', Int8Array.from([-128, 127])),
      u8: new Tensor('uint8', Uint8Array.from([0, 255])),
      b: new Tensor('bool', Uint8Array.from([1, 0, 1])),
      empty: new Tensor('float32', new Float32Array(0), [0, 4]),
    };
    const path = join(dir, 'ours.json');
    await writeInputFile(path, [feeds, feeds]);
    const json = JSON.parse(await readFile(path, 'utf8'));
    expect(json.format).toBe('tensorrt-node-inputs');
    expect(json.version).toBe(1);
    expect(json.iterations[0].i64.data).toEqual([0, '9007199254740993', '-9223372036854775808']);
    expect(json.iterations[0].f32.data.slice(2, 5)).toEqual(['NaN', 'Infinity', '-Infinity']);
    const back = await readInputFile(path);
    expect(back).toHaveLength(2);
    for (const [name, t] of Object.entries(feeds)) {
      expect(back[1]![name]!.type, name).toBe(t.type);
      expect(back[1]![name]!.dims, name).toEqual(t.dims);
      expect(back[1]![name]!.data, name).toEqual(t.data);
    }
    // No temporary files are left next to the output.
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('reads base64 data and a bare iteration object', () => {
    const bytes = Buffer.from(new Float32Array([1.5, -2]).buffer).toString('base64');
    const [f] = parseInputJson({ x: { dtype: 'float32', dims: [2], base64: bytes } });
    expect([...f!.x!.toFloat32()]).toEqual([1.5, -2]);
  });

  it('names the input and the problem in every error', async () => {
    expect(() => parseInputJson({ iterations: [{ x: { dtype: 'double', dims: [1], data: [1] } }] })).toThrow(
      'input file: iteration 0, input "x": dtype must be one of float32, float16, bfloat16, float64, int8, uint8, int16, uint16, int32, uint32, int64, uint64, bool, got "double"',
    );
    expect(() => parseInputJson({ iterations: [{ x: { dtype: 'float32', dims: [2], data: [1] } }] })).toThrow('data has 1 values, dims [2] need 2');
    expect(() => parseInputJson({ iterations: [{ x: { dtype: 'float32', dims: [1], data: [1], base64: '' } }] })).toThrow('exactly one of');
    expect(() => parseInputJson({ iterations: [{ x: { dtype: 'int32', dims: [1], data: [1.5] } }] })).toThrow(
      new DTypeError('input file: iteration 0, input "x": data[0] must be an integer for a int32 tensor, got 1.5'),
    );
    expect(() => parseInputJson({ iterations: [{ x: { dtype: 'float32', dims: [1], base64: 'AAA' } }] })).toThrow('base64 holds 2 bytes, float32 [1] needs 4');
    expect(() => parseInputJson({ format: 'other', iterations: [] })).toThrow('format must be "tensorrt-node-inputs"');
    expect(() => parseInputJson({ iterations: [] })).toThrow('"iterations" must be a non-empty array');
    expect(() => parseInputJson(3)).toThrow(InvalidArgumentError);
    await expect(readInputFile(join(dir, 'missing.json'))).rejects.toThrow(FileError);
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{ nope');
    await expect(readInputFile(bad)).rejects.toThrow(`the input file ${JSON.stringify(bad)} is not valid JSON`);
  });
});

describe('npy', () => {
  it('refuses dtypes we cannot hold and Fortran order', () => {
    const f64 = toNpy(new Tensor('float32', [1, 2]));
    // Patch '<f4' into '<c8' (same header length): a complex64 array header.
    const text = Buffer.from(f64).toString('latin1').replace("'<f4'", "'<c8'");
    expect(() => parseNpy(new Uint8Array(Buffer.from(text, 'latin1')), 'x')).toThrow(DTypeError);
    const fortran = Buffer.from(Buffer.from(f64).toString('latin1').replace('False', 'True '), 'latin1');
    expect(() => parseNpy(new Uint8Array(fortran), 'x')).toThrow('Fortran-order');
    expect(() => parseNpy(new Uint8Array([1, 2, 3]), 'x')).toThrow('not a NumPy .npy array');
    expect(() => parseNpy(f64.subarray(0, f64.length - 2), 'x')).toThrow('.npy data holds 6 bytes');
  });

  it('round-trips the dtypes onnxruntime-node runs, in both formats', () => {
    const feeds = {
      d: new Tensor('float64', [0.1, -1e300, Infinity], [3]),
      s: new Tensor('int16', [-32768, 7], [2]),
      us: new Tensor('uint16', [65535, 0], [2]),
      u: new Tensor('uint32', [4294967295], [1]),
      ul: new Tensor('uint64', [2n ** 64n - 1n, 5n], [2]),
    };
    for (const format of ['tensorrt-node', 'polygraphy'] as const) {
      const [back] = parseInputJson(JSON.parse(JSON.stringify(inputFileJson([feeds], format))));
      for (const [name, t] of Object.entries(feeds)) {
        expect(back![name]!.type).toBe(t.type);
        expect(back![name]!.dims).toEqual(t.dims);
        expect(Array.from(back![name]!.data as ArrayLike<unknown>)).toEqual(Array.from(t.data as ArrayLike<unknown>));
      }
    }
    expect(() => toNpy(new Tensor('bfloat16', new Uint16Array(1)))).toThrow(/bfloat16 tensor has no NumPy dtype/);
  });

  it('writes 64-byte aligned headers and scalars', () => {
    const bytes = toNpy(new Tensor('int32', Int32Array.from([7]), []));
    const headerLen = bytes[8]! | (bytes[9]! << 8);
    expect((10 + headerLen) % 64).toBe(0);
    const back = parseNpy(bytes, 'scalar');
    expect(back.dims).toEqual([]);
    expect([...(back.data as Int32Array)]).toEqual([7]);
  });
});
