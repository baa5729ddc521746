import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  BusyError,
  CudaError,
  CudaOutOfMemoryError,
  ERROR_CLASSES,
  ERROR_CODES,
  InternalError,
  QueueFullError,
  ShuttingDownError,
  TensorRTNodeError,
  TensorRTVersionError,
  TimeoutError,
  WorkerError,
  errorFromCode,
  describe as describeValue,
} from '../../src/errors.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : /\.(cc|h|ts)$/.test(n) ? [p] : [];
  });
}
import { parseOptions } from '../../src/options.js';

describe('errors', () => {
  it('maps native codes to classes with stable codes and details', () => {
    const e = errorFromCode('ERR_CUDA_OOM', 'cudaMallocAsync failed', { cudaError: 'cudaErrorMemoryAllocation', sticky: false });
    expect(e).toBeInstanceOf(CudaError);
    expect(e).toBeInstanceOf(TensorRTNodeError);
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('ERR_CUDA_OOM');
    expect((e as CudaError).cudaError).toBe('cudaErrorMemoryAllocation');
    expect(e).toBeInstanceOf(CudaOutOfMemoryError);
    expect(e.name).toBe('CudaOutOfMemoryError');
    expect(errorFromCode('ERR_CUDA', 'x').code).toBe('ERR_CUDA');
    expect(errorFromCode('ERR_TENSORRT_VERSION', 'x')).toBeInstanceOf(TensorRTVersionError);
    expect(errorFromCode('ERR_INTERNAL', 'x')).toBeInstanceOf(InternalError);
  });

  it('gives every code its own class, built the same way from the code and directly', () => {
    expect(new Set(Object.values(ERROR_CLASSES)).size).toBe(ERROR_CODES.length);
    for (const code of ERROR_CODES) {
      const Class = ERROR_CLASSES[code];
      const fromCode = errorFromCode(code, `a ${code} error`, { detail: 1 });
      expect(fromCode).toBeInstanceOf(Class);
      expect(fromCode).toBeInstanceOf(TensorRTNodeError);
      expect(fromCode.code).toBe(code);
      expect(fromCode.name).toBe(Class.name);
      expect(fromCode.message).toBe(`a ${code} error`);
      expect((fromCode as unknown as { detail: number }).detail).toBe(1);
      expect(new Class('direct').code).toBe(code);
    }
    // The codes the batcher, the worker pools and native code raise arrive as their classes.
    expect(errorFromCode('ERR_BUSY', 'x')).toBeInstanceOf(BusyError);
    expect(errorFromCode('ERR_QUEUE_FULL', 'x')).toBeInstanceOf(QueueFullError);
    expect(errorFromCode('ERR_TIMEOUT', 'x')).toBeInstanceOf(TimeoutError);
    expect(errorFromCode('ERR_SHUTTING_DOWN', 'x')).toBeInstanceOf(ShuttingDownError);
    expect(errorFromCode('ERR_WORKER', 'x')).toBeInstanceOf(WorkerError);
    expect(new CudaOutOfMemoryError('x')).toBeInstanceOf(CudaError);
  });

  it('makes an unknown code an InternalError that keeps the code', () => {
    const e = errorFromCode('ERR_NOPE', 'something');
    expect(e).toBeInstanceOf(InternalError);
    expect(e.message).toBe('something (unknown error code "ERR_NOPE")');
    expect((e as unknown as { unknownCode: string }).unknownCode).toBe('ERR_NOPE');
  });

  it('knows every code the native code and the TypeScript layer raise', () => {
    const root = join(import.meta.dirname, '../..');
    const raised = new Set<string>();
    for (const file of [...sources(join(root, 'native')), ...sources(join(root, 'src'))]) {
      for (const m of readFileSync(file, 'utf8').matchAll(/['"](ERR_[A-Z0-9_]+)['"]/g)) raised.add(m[1]!);
    }
    // Node's own codes, which the library reads from Node's errors and never raises.
    const nodeCodes = new Set(['ERR_WORKER_OUT_OF_MEMORY']);
    expect(raised.size).toBeGreaterThan(10);
    expect([...raised].filter((c) => !nodeCodes.has(c) && !(ERROR_CODES as readonly string[]).includes(c))).toEqual([]);
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
    expect(() => parseOptions(schema, { size: 0, mode: 'c' }, 'test options')).toThrow(/invalid test options: size: .*\(got 0\); mode: .*\(got "c"\)/);
    expect(() => parseOptions(schema, { size: 1, sise: 2 }, 'test options')).toThrow(/unknown option\(s\) "sise"/);
    try {
      parseOptions(schema, { size: 'x' }, 'test options');
    } catch (e) {
      expect((e as TensorRTNodeError).code).toBe('ERR_INVALID_ARG');
    }
  });
});
