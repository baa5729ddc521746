/**
 * The GPU check, for a machine with an NVIDIA GPU:
 *
 *   node scripts/run-ts.mjs scripts/gpu-check.ts [model.onnx ...] [--preset tiny|bert-base]
 *        [--batch 8] [--seq 128] [--max-batch 32] [--max-seq 512] [--duration 2] [--warmup 0.5]
 *        [--no-cuda-graphs] [--cache DIR] [--fp32-tol 5e-3] [--fp16-tol 2e-2] [--skip-cuda]
 *
 * 1. The CUDA layer (on the driver API, libcuda.so.1 loaded at run time): round trips of 1 KiB to 256 MiB on two streams checked byte for byte,
 *    pinned-pool reuse, event timing, 1000 alloc/free cycles against free memory, the
 *    completion path's latency, workers terminated mid-call; then the pinned-pool bandwidth
 *    benchmark (64 MiB through the pool and the JS API against plain cuMemcpyAsync from
 *    cuMemHostAlloc memory, side by side in one run).
 * 2. With TensorRT present, the engine check (scripts/gpu-check-trt.ts): FP32 and FP16 engines
 *    of the embedded encoder and of each ONNX file given, compared with ONNX Runtime, timed
 *    trtexec-style. Without TensorRT it says why and where it looked.
 *
 * For a machine with a GPU but no node_modules (no npm there), bundle it first:
 *   node scripts/run-ts.mjs --self-contained --out .device/gpu-check.mjs --no-run scripts/gpu-check.ts
 *   cp build/Release/tensorrt_node-trt*.node .device/
 *   (there) TENSORRT_NODE_ADDON=.device/tensorrt_node-trt11.node node .device/gpu-check.mjs
 * (either variant runs the CUDA checks; the TensorRT check needs the variant of the TensorRT
 * major installed there, or drop TENSORRT_NODE_ADDON and put the files in prebuilds/linux-x64/
 * beside the bundle's package root to let it choose).
 *
 * Exit code 0 when every check passed, 1 otherwise, 2 when there is no usable GPU.
 */
import { join, dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { runtimeInfo } from '../src/info.js';
import { formatInfo } from '../src/cli/info.js';
import {
  allocFreeCycles,
  completionLatency,
  eventTiming,
  pinnedBandwidth,
  pinnedPoolReuse,
  roundTrips,
  workerTermination,
  type CheckRow,
} from '../test/gpu/cuda-checks.js';
import { TRT_CHECK_OPTIONS, runTrtCheck } from './gpu-check-trt.js';
import { probeTensorRT, requireTensorRT } from '../src/backends/tensorrt-libs.js';

const here = dirname(fileURLToPath(import.meta.url));
const hammer = process.env.HAMMER_WORKER ?? join(here, '..', 'test', 'native', 'fixtures', 'hammer-worker.cjs');

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

const { values: args, positionals: models } = parseArgs({
  allowPositionals: true,
  options: { ...TRT_CHECK_OPTIONS, 'skip-cuda': { type: 'boolean', default: false } },
});

async function main(): Promise<number> {
  const info = runtimeInfo();
  console.log(formatInfo(info));
  console.log('');
  if (process.env.GPU_CHECK_INFO_ONLY === '1') return 0;
  if (!info.cuda.devices || info.cuda.devices.length === 0) {
    console.log('no usable GPU: nothing to check');
    return 2;
  }
  const cuda = args['skip-cuda'] ? 0 : await cudaChecks(info);
  try {
    requireTensorRT();
  } catch (e) {
    const why = probeTensorRT().result === null ? (e as Error).message : (e as Error).message.split('\n')[0];
    console.log(`\nTensorRT engine check skipped: ${(e as { code?: string }).code ?? 'error'}: ${why}`);
    return cuda;
  }
  console.log('');
  return Math.max(cuda, await runTrtCheck(args, models));
}

async function cudaChecks(info: ReturnType<typeof runtimeInfo>): Promise<number> {
  const device = info.cuda.devices![0]!;
  const rows: CheckRow[] = [];
  const run = async (name: string, f: () => Promise<CheckRow[]>) => {
    const t0 = performance.now();
    try {
      rows.push(...(await f()));
    } catch (e) {
      rows.push({ check: name, ok: false, detail: `threw ${(e as { code?: string }).code ?? ''} ${(e as Error).message}` });
    }
    console.error(`[gpu-check] ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  };
  await run('round trips', () => roundTrips());
  await run('pinned pool', () => pinnedPoolReuse());
  await run('event timing', () => eventTiming());
  await run('alloc/free', () => allocFreeCycles());
  await run('completion latency', () => completionLatency());
  await run('workers', () => workerTermination(hammer));

  const bw = await pinnedBandwidth();
  const out = process.env.OUT;
  if (out) writeFileSync(join(out, 'gpu-check.json'), JSON.stringify({ info, rows, bandwidth: bw }, null, 2));

  console.log(
    `GPU checks on ${device.name} (driver for CUDA ${info.cuda.driverVersion}; addon built with CUDA ${info.addon.builtWith.cuda} headers, no CUDA runtime linked)`,
  );
  console.log(table([['check', 'result', 'detail'], ...rows.map((r) => [r.check, r.ok ? 'pass' : 'FAIL', r.detail])]));
  console.log('');
  console.log('Pinned pool vs plain cuMemcpyAsync, 64 MiB, median of 20 copies each, same run');
  console.log(
    table([
      ['direction', 'pool + JS API, wall (GB/s)', 'same copies, GPU events (GB/s)', 'plain cuMemcpyAsync, GPU events (GB/s)', 'ratio (wall / plain)'],
      ...bw.map((b) => [b.direction.toUpperCase(), b.poolGBps.toFixed(1), b.poolGpuGBps.toFixed(1), b.plainGBps.toFixed(1), `${(b.ratio * 100).toFixed(1)}%`]),
    ]),
  );
  return rows.every((r) => r.ok) ? 0 : 1;
}

process.exitCode = await main();
