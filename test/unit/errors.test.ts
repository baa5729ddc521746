import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  CudaError,
  InternalError,
  TensorRTNodeError,
  TensorRTVersionError,
  errorFromCode,
  describe as describeValue,
} from '../../src/errors.js';
import { parseOptions } from '../../src/options.js';

describe('errors', () => {
  it('maps native codes to classes with stable codes and details', () => {
    const e = errorFromCode('ERR_CUDA_OOM', 'cudaMallocAsync failed', { cudaError: 'cudaErrorMemoryAllocation', sticky: false });
    expect(e).toBeInstanceOf(CudaError);
    expect(e).toBeInstanceOf(TensorRTNodeError);
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('ERR_CUDA_OOM');
    expect((e as CudaError).cudaError).toBe('cudaErrorMemoryAllocation');
    expect(e.name).toBe('CudaError');
    expect(errorFromCode('ERR_CUDA', 'x').code).toBe('ERR_CUDA');
    expect(errorFromCode('ERR_TENSORRT_VERSION', 'x')).toBeInstanceOf(TensorRTVersionError);
    expect(errorFromCode('ERR_INTERNAL', 'x')).toBeInstanceOf(InternalError);
  });

  it('describes values briefly for messages', () => {
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue('x'.repeat(100))).toMatch(/^"x{57}\.\.\."$/);
    expect(describeValue([1, 2])).toBe('an array of length 2');
    expect(describeValue(new Uint8Array(3))).toBe('a Uint8Array of length 3');
    expect(describeValue(new Map())).toBe('a Map');
    expect(describeValue({})).toBe('an object');
  });
});

describe('parseOptions', () => {
  const schema = z.object({ size: z.number().int().min(1), mode: z.enum(['a', 'b']).default('a') }).strict();
  it('returns normalised options', () => {
    expect(parseOptions(schema, { size: 2 }, 'test options')).toEqual({ size: 2, mode: 'a' });
  });
  it('names each bad option with what it got', () => {
    expect(() => parseOptions(schema, { size: 0, mode: 'c' }, 'test options')).toThrow(
      /invalid test options: size: .*\(got 0\); mode: .*\(got "c"\)/,
    );
    expect(() => parseOptions(schema, { size: 1, sise: 2 }, 'test options')).toThrow(/unknown option\(s\) "sise"/);
    try {
      parseOptions(schema, { size: 'x' }, 'test options');
    } catch (e) {
      expect((e as TensorRTNodeError).code).toBe('ERR_INVALID_ARG');
    }
  });
});
