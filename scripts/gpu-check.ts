/**
 * The CUDA-layer GPU check: runs the checks of test/gpu on device 0 and prints a table, then
 * the pinned-pool bandwidth benchmark (64 MiB through the pool and the JS API against plain
 * cudaMemcpyAsync from cudaHostAlloc memory, side by side in one run).
 *
 *   npx tsx scripts/gpu-check.ts           (on an NVIDIA host with Node tooling)
 *   npm run gpu-check:bundle               (bundles it for a machine without node_modules;
 *   bash .device/run.sh node .device/gpu-check.mjs   see README "GPU check")
 *
 * Exit code 0 when every check passed, 1 otherwise, 2 when there is no usable GPU.
 */
import { join, dirname } from 'node:path';
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

const here = dirname(fileURLToPath(import.meta.url));
const hammer = process.env.HAMMER_WORKER ?? join(here, '..', 'test', 'native', 'fixtures', 'hammer-worker.cjs');

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

async function main(): Promise<number> {
  const info = runtimeInfo();
  console.log(formatInfo(info));
  console.log('');
  if (process.env.GPU_CHECK_INFO_ONLY === '1') return 0;
  if (!info.cuda.devices || info.cuda.devices.length === 0) {
    console.log('no usable GPU: nothing to check');
    return 2;
  }
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

  console.log(`GPU checks on ${info.cuda.devices[0]!.name} (driver ${info.cuda.driverVersion}, CUDA runtime ${info.cuda.runtimeVersion})`);
  console.log(table([['check', 'result', 'detail'], ...rows.map((r) => [r.check, r.ok ? 'pass' : 'FAIL', r.detail])]));
  console.log('');
  console.log('Pinned pool vs plain cudaMemcpyAsync, 64 MiB, median of 20 copies each, same run');
  console.log(
    table([
      ['direction', 'pool + JS API, wall (GB/s)', 'same copies, GPU events (GB/s)', 'plain cudaMemcpyAsync, GPU events (GB/s)', 'ratio (wall / plain)'],
      ...bw.map((b) => [b.direction.toUpperCase(), b.poolGBps.toFixed(1), b.poolGpuGBps.toFixed(1), b.plainGBps.toFixed(1), `${(b.ratio * 100).toFixed(1)}%`]),
    ]),
  );
  return rows.every((r) => r.ok) ? 0 : 1;
}

process.exitCode = await main();
