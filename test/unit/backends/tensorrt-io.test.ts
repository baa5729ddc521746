import { describe, expect, it } from 'vitest';
import { engineMeta, firstViolation, matchingProfiles, profileInputBytes, selectProfiles, tensorBytes, tensorInfo } from '../../../src/backends/tensorrt-io.js';
import { DTypeError, ProfileRangeError } from '../../../src/errors.js';
import type { NativeEngineDescription, NativeEngineTensor } from '../../../src/native.js';

function input(name: string, dims: number[], profiles: { min: number[]; opt: number[]; max: number[] }[], dtype = 'int64'): NativeEngineTensor {
  return { name, mode: 'input', dtype, dims, isShapeTensor: false, onHost: false, linear: true, profiles };
}
function output(name: string, dims: number[], dtype = 'float32'): NativeEngineTensor {
  return { name, mode: 'output', dtype, dims, isShapeTensor: false, onHost: false, linear: true, profiles: [] };
}

const small = { min: [1, 1], opt: [4, 64], max: [8, 128] };
const large = { min: [1, 129], opt: [8, 256], max: [16, 512] };
const desc: NativeEngineDescription = {
  profiles: 2,
  deviceMemoryBytes: 0,
  tensors: [
    input('input_ids', [-1, -1], [small, large]),
    output('logits', [-1, 2]),
    input('attention_mask', [-1, -1], [small, large]),
    output('last_hidden_state', [-1, -1, 768], 'float16'),
  ],
};

describe('engineMeta', () => {
  it('splits inputs and outputs, keeping engine order within each', () => {
    const meta = engineMeta(desc);
    expect(meta.profiles).toBe(2);
    expect(meta.inputs.map((t) => [t.name, t.index])).toEqual([
      ['input_ids', 0],
      ['attention_mask', 1],
    ]);
    expect(meta.outputs.map((t) => [t.name, t.index, t.dtype])).toEqual([
      ['logits', 0, 'float32'],
      ['last_hidden_state', 1, 'float16'],
    ]);
    expect(meta.inputs[1]!.profiles[1]).toEqual(large);
  });

  it('refuses I/O JavaScript cannot exchange, saying which and why', () => {
    const bad = (t: NativeEngineTensor) => () => engineMeta({ profiles: 1, deviceMemoryBytes: 0, tensors: [t] });
    expect(bad(output('y', [4], 'unsupported:kFP8'))).toThrow(DTypeError);
    expect(bad(output('y', [4], 'unsupported:kFP8'))).toThrow(/output "y" has element type kFP8/);
    expect(bad({ ...input('shape', [2], [{ min: [2], opt: [2], max: [2] }]), isShapeTensor: true })).toThrow(/input "shape" is a shape tensor/);
    expect(bad({ ...output('y', [4]), onHost: true })).toThrow(/lives in host memory/);
    expect(bad({ ...output('y', [4]), linear: false })).toThrow(/vectorized layout/);
  });
});

describe('tensorInfo', () => {
  it('names dynamic dims from the sidecar and attaches profiles to inputs', () => {
    const meta = engineMeta(desc);
    const info = tensorInfo(meta.inputs[0]!, ['batch', 'seq']);
    expect(info).toEqual({ name: 'input_ids', dtype: 'int64', dims: ['batch', 'seq'], profiles: [small, large] });
    expect(tensorInfo(meta.outputs[1]!, ['batch', 'seq', 768]).dims).toEqual(['batch', 'seq', 768]);
    expect(tensorInfo(meta.outputs[0]!)).toEqual({ name: 'logits', dtype: 'float32', dims: [-1, 2] });
    // A name for a fixed dim is ignored: the engine's size is what counts.
    expect(tensorInfo(meta.outputs[0]!, ['batch', 'classes']).dims).toEqual(['batch', 2]);
  });
});

describe('buffer sizing', () => {
  it('sizes tensors by dtype', () => {
    expect(tensorBytes([2, 128], 'int64')).toBe(2048);
    expect(tensorBytes([2, 128, 768], 'float32')).toBe(786432);
    expect(tensorBytes([3], 'float16')).toBe(6);
    expect(tensorBytes([], 'bool')).toBe(1);
    expect(tensorBytes([0, 5], 'float32')).toBe(0);
    expect(() => tensorBytes([-1, 5], 'float32')).toThrow(RangeError);
  });

  it("gives each input the bytes of its profile's max shape", () => {
    const meta = engineMeta(desc);
    expect(profileInputBytes(meta, 0)).toEqual([8 * 128 * 8, 8 * 128 * 8]);
    expect(profileInputBytes(meta, 1)).toEqual([16 * 512 * 8, 16 * 512 * 8]);
    expect(() => profileInputBytes(meta, 2)).toThrow(/no optimization profile 2/);
  });
});

describe('profile selection', () => {
  const meta = engineMeta(desc);

  it('finds the first axis outside a range', () => {
    expect(firstViolation([4, 64], small)).toBe(-1);
    expect(firstViolation([9, 64], small)).toBe(0);
    expect(firstViolation([4, 129], small)).toBe(1);
    expect(firstViolation([4], small)).toBe(0);
  });

  it('lists every profile the feeds fit, in order', () => {
    expect(
      matchingProfiles(meta, [
        [2, 100],
        [2, 100],
      ]),
    ).toEqual([0]);
    expect(
      matchingProfiles(meta, [
        [2, 200],
        [2, 200],
      ]),
    ).toEqual([1]);
    expect(
      selectProfiles(meta, [
        [8, 128],
        [8, 128],
      ]),
    ).toEqual([0]);
    expect(
      selectProfiles(meta, [
        [1, 129],
        [1, 129],
      ]),
    ).toEqual([1]);
  });

  it('throws ERR_PROFILE_RANGE naming the input, its dims and each allowed range', () => {
    let err: unknown;
    try {
      selectProfiles(meta, [
        [2, 64],
        [32, 64],
      ]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProfileRangeError);
    const e = err as ProfileRangeError & { input: string; dims: number[] };
    expect(e.code).toBe('ERR_PROFILE_RANGE');
    expect(e.message).toBe(
      "the feeds fit none of the engine's 2 optimization profiles: " +
        'profile 0: input "attention_mask" dims [32, 64]: dim 0 is 32, allowed 1..8 (min [1, 1], opt [4, 64], max [8, 128]); ' +
        'profile 1: input "input_ids" dims [2, 64]: dim 1 is 64, allowed 129..512 (min [1, 129], opt [8, 256], max [16, 512])',
    );
    expect(e.input).toBe('attention_mask');
    expect(e.dims).toEqual([32, 64]);
  });

  it('words the single-profile case plainly', () => {
    const one = engineMeta({ profiles: 1, deviceMemoryBytes: 0, tensors: [input('input_ids', [-1, -1], [small]), output('y', [-1])] });
    expect(() => selectProfiles(one, [[2, 600]])).toThrow(
      'input "input_ids" dims [2, 600] are outside the engine\'s optimization profile: dim 1 is 600, allowed 1..128 ' +
        '(min [1, 1], opt [4, 64], max [8, 128])',
    );
  });
});
