/**
 * Where a source build finds TensorRT's headers (CMakeLists.txt, configure step only: nothing
 * is compiled). TENSORRT_ROOT (a folder or a ':' list) comes first, then the usual install
 * folders, then ../shared/trt-sdk beside the checkout; one variant per major, the first set of
 * a major wins; an entry of TENSORRT_ROOT without headers fails the build with a clear message.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
const sdk = join(root, '..', 'shared', 'trt-sdk');
const sets = ['10.16.0', '11.1.0'].filter((v) => existsSync(join(sdk, v, 'include', 'NvInfer.h')));
const cmake = spawnSync('cmake', ['--version']).status === 0;
const tmp = mkdtempSync(join(tmpdir(), 'trtn-cmake-'));

function configure(name: string, trtRoot: string | undefined) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.TENSORRT_ROOT;
  if (trtRoot !== undefined) env.TENSORRT_ROOT = trtRoot;
  const r = spawnSync('cmake', ['-S', root, '-B', join(tmp, name), '-G', 'Ninja'], { env, encoding: 'utf8' });
  // CMake wraps long messages; compare them as one line.
  return { status: r.status, out: `${r.stdout}\n${r.stderr}`.replace(/\s+/g, ' ') };
}

describe.skipIf(!cmake || sets.length < 2)('TensorRT header discovery of the source build', () => {
  it('builds one variant per major from ../shared/trt-sdk when nothing else is set', () => {
    const r = configure('default', undefined);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain(
      `tensorrt-node: building tensorrt_node-trt11.node (TensorRT 11.1.0 headers at ${join(root, '..', 'shared', 'trt-sdk', '11.1.0', 'include')})`,
    );
    expect(r.out).toContain(
      `tensorrt-node: building tensorrt_node-trt10.node (TensorRT 10.16.0 headers at ${join(root, '..', 'shared', 'trt-sdk', '10.16.0', 'include')})`,
    );
  });

  it('takes TENSORRT_ROOT first (a ":" list), and the first header set of a major wins', () => {
    // A copy of the 10.x SDK elsewhere: it must win over ../shared's for major 10.
    const mine = join(tmp, 'my-sdk-10');
    mkdirSync(mine, { recursive: true });
    cpSync(join(sdk, '10.16.0', 'include'), join(mine, 'include'), { recursive: true });
    const r = configure('explicit', `${mine}:${join(sdk, '10.16.0')}`);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain(`building tensorrt_node-trt10.node (TensorRT 10.16.0 headers at ${mine}/include)`);
    expect(r.out).toMatch(/skipping TensorRT 10\.16\.0 headers at .*trt-sdk\/10\.16\.0\/include \(TensorRT 10 headers already found at .*my-sdk-10\/include\)/);
    expect(r.out).toContain('building tensorrt_node-trt11.node (TensorRT 11.1.0 headers at');
  });

  it('fails with a clear message when a TENSORRT_ROOT entry has no headers', () => {
    const empty = join(tmp, 'not-an-sdk');
    mkdirSync(empty, { recursive: true });
    const r = configure('bad-root', `${join(sdk, '11.1.0')}:${empty}`);
    expect(r.status).not.toBe(0);
    expect(r.out).toContain(`tensorrt-node: TENSORRT_ROOT entry ${empty} has no TensorRT headers (neither ${empty}/include/NvInfer.h nor ${empty}/NvInfer.h)`);
  });
});
