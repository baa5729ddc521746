import { describe, expect, it } from 'vitest';
import { LOADER_PATH, formatTrtVersion, tensorrtLibraryDirs } from '../../../src/backends/tensorrt-libs.js';

const fs: Record<string, string[]> = {
  '/usr/local': ['TensorRT-10.13.0.35', 'lib', 'bin'],
  '/opt': ['TensorRT-11.1.0'],
  '/home/u/.local/lib': ['python3.11', 'python3.12'],
  '/home/u/.local/lib/python3.12/site-packages': ['tensorrt_libs', 'numpy'],
  '/venv/lib': ['python3.10'],
  '/venv/lib/python3.10/site-packages': ['tensorrt_cu12_libs', 'tensorrt'],
};
const dirs = new Set(['/usr/lib/x86_64-linux-gnu', '/usr/local/tensorrt/lib', '/usr/local/TensorRT-10.13.0.35/lib', '/opt/TensorRT-11.1.0/lib']);

describe('tensorrtLibraryDirs', () => {
  it('searches TENSORRT_LIB_DIR, the loader path, install folders, then pip wheel folders', () => {
    const found = tensorrtLibraryDirs({
      env: { TENSORRT_LIB_DIR: '/custom/a:/custom/b', VIRTUAL_ENV: '/venv' },
      arch: 'x64',
      home: '/home/u',
      list: (d) => fs[d] ?? [],
      isDir: (d) => dirs.has(d),
    });
    expect(found).toEqual([
      '/custom/a',
      '/custom/b',
      LOADER_PATH,
      '/usr/lib/x86_64-linux-gnu',
      '/usr/local/tensorrt/lib',
      '/usr/local/TensorRT-10.13.0.35/lib',
      '/opt/TensorRT-11.1.0/lib',
      '/venv/lib/python3.10/site-packages/tensorrt_cu12_libs',
      '/home/u/.local/lib/python3.12/site-packages/tensorrt_libs',
    ]);
  });

  it('uses the aarch64 multiarch folder on arm64 and skips folders that do not exist', () => {
    const found = tensorrtLibraryDirs({ env: {}, arch: 'arm64', home: '/nohome', list: () => [], isDir: (d) => d === '/usr/lib/aarch64-linux-gnu' });
    expect(found).toEqual([LOADER_PATH, '/usr/lib/aarch64-linux-gnu']);
  });

  it('formats getInferLibVersion numbers', () => {
    expect(formatTrtVersion(101300)).toBe('10.13.0');
    expect(formatTrtVersion(110402)).toBe('11.4.2');
  });
});
