/**
 * No built or prebuilt addon links CUDA or TensorRT: libcuda.so.1 is dlopen'ed on first CUDA
 * use and TensorRT's libraries when TensorRT is looked for, so every binary loads where
 * neither is installed, and one binary serves every CUDA 12.x and 13.x driver.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PREBUILD_PLATFORM } from '../../src/native.js';

const root = join(__dirname, '..', '..');
const binaries = [join(root, 'build', 'Release'), join(root, 'prebuilds', PREBUILD_PLATFORM)].flatMap((dir) => {
  try {
    return readdirSync(dir)
      .filter((n) => n.endsWith('.node'))
      .map((n) => join(dir, n));
  } catch {
    return [];
  }
});

describe.skipIf(binaries.length === 0)('addon linkage', () => {
  it.each(binaries)('%s needs no CUDA or TensorRT library', (file) => {
    const ldd = execFileSync('ldd', [file], { encoding: 'utf8' });
    expect(ldd).toMatch(/libc\.so\.6/); // ldd did read it
    expect(ldd).not.toMatch(/libcudart|libnvinfer|libnvonnxparser|libcuda\.so/);
    const needed = execFileSync('readelf', ['-d', file], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes('(NEEDED)'))
      .map((l) => /\[(.+)\]/.exec(l)![1]);
    expect(needed.sort()).toEqual(expect.arrayContaining(['libc.so.6']));
    for (const lib of needed) expect(lib).toMatch(/^(libc|libm|libgcc_s|libstdc\+\+|libdl|libpthread|ld-linux-x86-64)\.so/);
  });
});
