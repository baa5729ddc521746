import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { create, toBinary } from '@bufbuild/protobuf';
import {
  createEncoderModel,
  decodeModel,
  encodeModel,
  readModel,
  writeModel,
  inspectModel,
  tensorFromProto,
  cloneModel,
  encodeTensorProto,
} from '../../../src/onnx/index.js';
import { ModelProtoSchema, StringStringEntryProtoSchema } from '../../../src/onnx/schema.js';
import { Tensor } from '../../../src/tensor.js';
import { FileError, OnnxError, OnnxParseError } from '../../../src/errors.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trtn-onnx-io-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A hand-written ModelProto (an Identity graph) with fields our schema does not declare at three levels. */
function modelWithUnknownFields(): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.Varint).int64(8n); // ir_version
  w.tag(7, WireType.LengthDelimited).fork(); // graph
  {
    w.tag(1, WireType.LengthDelimited).fork(); // node
    w.tag(1, WireType.LengthDelimited).string('x');
    w.tag(2, WireType.LengthDelimited).string('y');
    w.tag(3, WireType.LengthDelimited).string('id');
    w.tag(4, WireType.LengthDelimited).string('Identity');
    w.tag(50, WireType.LengthDelimited).string('node-level unknown'); // unknown in NodeProto
    w.join();
    w.tag(2, WireType.LengthDelimited).string('g');
    for (const [field, name] of [
      [11, 'x'],
      [12, 'y'],
    ] as const) {
      w.tag(field, WireType.LengthDelimited).fork(); // ValueInfoProto
      w.tag(1, WireType.LengthDelimited).string(name);
      w.tag(2, WireType.LengthDelimited).fork(); // TypeProto
      w.tag(1, WireType.LengthDelimited).fork(); // tensor_type
      w.tag(1, WireType.Varint).int32(1);
      w.tag(2, WireType.LengthDelimited).fork(); // shape
      w.tag(1, WireType.LengthDelimited).fork();
      w.tag(1, WireType.Varint).int64(3n);
      w.join();
      w.join();
      w.join();
      w.join();
      w.join();
    }
    w.tag(40, WireType.Varint).int32(7); // unknown in GraphProto
    w.join();
  }
  w.tag(8, WireType.LengthDelimited).fork(); // opset_import
  w.tag(1, WireType.LengthDelimited).string('');
  w.tag(2, WireType.Varint).int64(17n);
  w.join();
  w.tag(99, WireType.LengthDelimited).bytes(new Uint8Array([1, 2, 3, 250])); // unknown in ModelProto
  w.tag(100, WireType.Bit32).fixed32(0xdeadbeef);
  return w.finish();
}

describe('decodeModel / encodeModel', () => {
  it('round-trips the encoder byte for byte', () => {
    const bytes = encodeModel(createEncoderModel({ seed: 3 }));
    const again = encodeModel(decodeModel(bytes));
    expect(Buffer.compare(Buffer.from(again), Buffer.from(bytes))).toBe(0);
  });

  it('keeps fields the schema lacks, at model, graph and node level', () => {
    const bytes = modelWithUnknownFields();
    const model = decodeModel(bytes);
    expect(model.graph!.node[0]!.opType).toBe('Identity');
    expect(model.$unknown?.map((u) => u.no)).toEqual([99, 100]);
    expect(model.graph!.$unknown?.map((u) => u.no)).toEqual([40]);
    expect(model.graph!.node[0]!.$unknown?.map((u) => u.no)).toEqual([50]);
    const written = encodeModel(model);
    // Known fields are written in field-number order and unknown ones after them, as here.
    expect(Buffer.from(written).equals(Buffer.from(bytes))).toBe(true);
    // And again after an edit elsewhere in the model.
    model.producerName = 'edited';
    const edited = decodeModel(encodeModel(model));
    expect(edited.producerName).toBe('edited');
    expect(edited.graph!.node[0]!.$unknown?.[0]?.data).toEqual(model.graph!.node[0]!.$unknown?.[0]?.data);
    expect(edited.$unknown?.length).toBe(2);
  });

  it('frames initializers by hand yet writes exactly what protobuf-es writes', async () => {
    const model = createEncoderModel({ seed: 4 });
    const g = model.graph!;
    // Unknown fields on a tensor, the graph and the model, and a tensor with typed data.
    g.initializer[3]!.$unknown = [{ no: 60, wireType: WireType.Varint, data: Uint8Array.of(5) }];
    g.initializer[4]!.floatData = [1, 2];
    g.initializer[4]!.rawData = new Uint8Array(0);
    delete (g.initializer[4] as { rawData?: unknown }).rawData;
    g.initializer[4]!.dims = [2n];
    g.$unknown = [{ no: 41, wireType: WireType.Varint, data: Uint8Array.of(1) }];
    model.$unknown = [{ no: 99, wireType: WireType.Varint, data: Uint8Array.of(2) }];
    const bytes = encodeModel(model);
    expect(Buffer.from(bytes).equals(Buffer.from(toBinary(ModelProtoSchema, model)))).toBe(true);
    const file = path.join(dir, 'framed.onnx');
    await writeModel(model, file);
    expect(fs.readFileSync(file).equals(Buffer.from(bytes))).toBe(true);
    const back = decodeModel(bytes);
    expect(back.graph!.initializer[3]!.$unknown?.[0]?.no).toBe(60);
    expect(back.graph!.initializer[4]!.floatData).toEqual([1, 2]);
  });

  it('refuses garbage, truncated and empty bytes with OnnxParseError naming the problem', () => {
    const good = encodeModel(createEncoderModel());
    const truncated = good.subarray(0, Math.floor(good.byteLength / 2));
    const garbage = new Uint8Array(4096);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 2654435761) >>> 24;
    for (const bytes of [truncated, garbage, new Uint8Array(0)]) {
      let err: unknown;
      try {
        decodeModel(bytes, 'test model');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(OnnxParseError);
      expect((err as OnnxParseError).code).toBe('ERR_ONNX_PARSE');
      expect((err as Error).message).toMatch(/test model/);
    }
    expect(() => decodeModel(truncated)).toThrow(/could not be decoded as an ONNX ModelProto/);
    // Valid protobuf that is not a model: a TensorProto.
    expect(() => decodeModel(encodeTensorProto(new Tensor('float32', [1, 2, 3])))).toThrow(OnnxParseError);
  });

  it('readModel reports unreadable paths as FileError (ERR_IO)', async () => {
    await expect(readModel(path.join(dir, 'missing.onnx'))).rejects.toMatchObject({ code: 'ERR_IO' });
    await expect(readModel(path.join(dir, 'missing.onnx'))).rejects.toBeInstanceOf(FileError);
  });

  it('cloneModel copies structure and shares tensor bytes', () => {
    const model = createEncoderModel();
    const copy = cloneModel(model);
    const a = model.graph!.initializer[0]!;
    const b = copy.graph!.initializer[0]!;
    expect(b).not.toBe(a);
    expect(b.rawData).toBe(a.rawData);
    copy.graph!.node[0]!.name = 'changed';
    expect(model.graph!.node[0]!.name).not.toBe('changed');
    expect(Buffer.from(encodeModel(cloneModel(model))).equals(Buffer.from(encodeModel(model)))).toBe(true);
  });
});

describe('external data', () => {
  it('writes large initializers to a data file and reads them back', async () => {
    const model = createEncoderModel({ seed: 5 });
    const file = path.join(dir, 'ext', 'model.onnx');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const inline = encodeModel(model);
    await writeModel(model, file, { externalData: { threshold: 4096 } });
    // The caller's model is unchanged.
    expect(Buffer.from(encodeModel(model)).equals(Buffer.from(inline))).toBe(true);
    const dataFile = path.join(dir, 'ext', 'model.onnx.data');
    expect(fs.existsSync(dataFile)).toBe(true);
    expect(fs.statSync(file).size).toBeLessThan(inline.byteLength / 4);

    const lazy = await readModel(file, { loadExternalData: false });
    const info = inspectModel(lazy);
    const externals = info.initializers.filter((i) => i.external);
    expect(externals.length).toBeGreaterThan(0);
    expect(externals.every((i) => i.bytes >= 4096)).toBe(true);
    expect(() => tensorFromProto(lazy.graph!.initializer.find((t) => t.name === externals[0]!.name)!)).toThrow(OnnxError);

    const loaded = await readModel(file);
    expect(Buffer.from(encodeModel(loaded)).equals(Buffer.from(inline))).toBe(true);
  });

  async function modelPointingAt(location: string, name: string): Promise<string> {
    const model = createEncoderModel();
    const tp = model.graph!.initializer[0]!;
    tp.rawData = new Uint8Array(0);
    tp.dataLocation = 1;
    tp.externalData = [create(StringStringEntryProtoSchema, { key: 'location', value: location })];
    const sub = path.join(dir, name);
    fs.mkdirSync(sub, { recursive: true });
    const file = path.join(sub, 'model.onnx');
    fs.writeFileSync(file, toBinary(ModelProtoSchema, model));
    return file;
  }

  it('refuses absolute locations and locations that leave the model folder', async () => {
    fs.writeFileSync(path.join(dir, 'secret.bin'), Buffer.alloc(1 << 20));
    const cases: [string, RegExp][] = [
      ['../secret.bin', /leaves the model's folder/],
      ['sub/../../secret.bin', /leaves the model's folder/],
      [path.join(dir, 'secret.bin'), /absolute path/],
      ['C:\\secret.bin', /absolute path/],
    ];
    let k = 0;
    for (const [location, message] of cases) {
      const file = await modelPointingAt(location, `bad${k++}`);
      const err = await readModel(file).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, location).toBeInstanceOf(OnnxError);
      expect((err as OnnxError).code).toBe('ERR_ONNX');
      expect((err as Error).message).toMatch(message);
      expect((err as { reason?: string }).reason).toBe('external-data-location');
    }
  });

  it('takes a file whose name starts with two dots, and refuses an offset past the end', async () => {
    const file = await modelPointingAt('..weights.bin', 'dotdot');
    const tp = createEncoderModel().graph!.initializer[0]!;
    fs.writeFileSync(path.join(path.dirname(file), '..weights.bin'), tp.rawData);
    const model = await readModel(file);
    expect([...model.graph!.initializer[0]!.rawData]).toEqual([...tp.rawData]);

    const far = await modelPointingAt('far.bin', 'far');
    const m = await readModel(far, { loadExternalData: false });
    m.graph!.initializer[0]!.externalData.push(create(StringStringEntryProtoSchema, { key: 'offset', value: '99999999' }));
    fs.writeFileSync(far, toBinary(ModelProtoSchema, m));
    fs.writeFileSync(path.join(path.dirname(far), 'far.bin'), Buffer.alloc(16));
    await expect(readModel(far)).rejects.toMatchObject({ code: 'ERR_ONNX', reason: 'external-data-range' });
  });

  it('refuses a symbolic link that points outside the model folder, and missing files', async () => {
    const file = await modelPointingAt('link.bin', 'symlink');
    fs.symlinkSync(path.join(dir, 'secret.bin'), path.join(path.dirname(file), 'link.bin'));
    await expect(readModel(file)).rejects.toThrow(/symbolic link/);
    const missing = await modelPointingAt('nothing-here.bin', 'missing');
    await expect(readModel(missing)).rejects.toMatchObject({ code: 'ERR_ONNX', reason: 'external-data-missing' });
  });
});
