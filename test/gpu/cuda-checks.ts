/**
 * GPU checks of the CUDA layer, shared by the vitest GPU suite (test/gpu/cuda.test.ts,
 * skipped without a GPU) and the device script (scripts/gpu-check.ts), which prints them as
 * a table on a machine with a GPU but without Node tooling.
 */
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import * as cuda from '../../src/cuda.js';
import { addonStatus } from '../../src/native.js';

export interface CheckRow {
  check: string;
  ok: boolean;
  detail: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;

function fillPattern(bytes: Uint8Array, seed: number): void {
  // xorshift32: cheap, seeded, and not periodic at any power-of-two stride.
  let x = seed >>> 0 || 1;
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 4));
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  for (let i = words.length * 4; i < bytes.byteLength; i++) bytes[i] = (i * 31 + seed) & 0xff;
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.byteLength !== b.byteLength) return Math.min(a.byteLength, b.byteLength);
  if (Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))) return -1;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return i;
  return -1;
}

export const ROUND_TRIP_SIZES = [KiB, 64 * KiB, MiB + 3, 16 * MiB, 64 * MiB, 256 * MiB];

/**
 * Host → device → device → host round trips through pinned buffers on two streams at once,
 * plus a pageable round trip, each checked byte for byte.
 */
export async function roundTrips(sizes = ROUND_TRIP_SIZES): Promise<CheckRow[]> {
  const streams = [new cuda.Stream(0), new cuda.Stream(0)];
  const pool = new cuda.PinnedPool({ maxCachedBytes: 2 * 1024 * MiB });
  const rows: CheckRow[] = [];
  try {
    for (const size of sizes) {
      const results = await Promise.all(
        streams.map(async (stream, s) => {
          const src = pool.acquire(size);
          const dst = pool.acquire(size);
          fillPattern(src.array, size + s * 7919);
          dst.array.fill(0);
          const a = new cuda.DeviceBuffer(size, { stream });
          const b = new cuda.DeviceBuffer(size, { stream });
          const t0 = performance.now();
          await cuda.copy(a, src, { stream });
          await cuda.copy(b, a, { stream });
          await cuda.copy(dst, b, { stream });
          const ms = performance.now() - t0;
          const diff = firstDifference(src.array, dst.array);
          a.free();
          b.free();
          src.release();
          dst.release();
          return { s, ms, diff };
        }),
      );
      for (const r of results) {
        rows.push({
          check: `round trip ${formatBytes(size)} stream ${r.s}`,
          ok: r.diff === -1,
          detail: r.diff === -1 ? `H2D+D2D+D2H ${r.ms.toFixed(2)} ms, identical` : `first difference at byte ${r.diff}`,
        });
      }
    }
    // Pageable JS memory takes the libuv-worker path.
    const size = 8 * MiB + 5;
    const src = new Uint8Array(size);
    fillPattern(src, 42);
    const dst = new Uint8Array(size);
    const d = new cuda.DeviceBuffer(size, { stream: streams[0]! });
    await cuda.copy(d, src, { stream: streams[0]! });
    await cuda.copy(dst, d, { stream: streams[0]! });
    d.free();
    const diff = firstDifference(src, dst);
    rows.push({ check: `round trip ${formatBytes(size)} pageable`, ok: diff === -1, detail: diff === -1 ? 'identical' : `first difference at byte ${diff}` });
  } finally {
    for (const s of streams) s.dispose();
    pool.trim();
  }
  return rows;
}

/** Released blocks are reused; an early release cannot hand out memory a copy still uses. */
export async function pinnedPoolReuse(): Promise<CheckRow[]> {
  const pool = new cuda.PinnedPool({ maxCachedBytes: 512 * MiB });
  const stream = new cuda.Stream(0);
  const rows: CheckRow[] = [];
  const first = pool.acquire(64 * MiB);
  const cap = first.capacity;
  const view = first.array;
  first.release();
  // A view taken before release() is detached by it, so it can never reach a reused block.
  const detached = view.byteLength === 0 && first.array === view;
  const second = pool.acquire(60 * MiB);
  const s1 = pool.stats();
  rows.push({
    check: 'pinned pool reuse',
    ok: s1.allocations === 1 && s1.reuses === 1 && second.capacity === cap && detached && second.array.byteLength === 60 * MiB,
    detail: `allocations ${s1.allocations}, reuses ${s1.reuses}, capacity ${formatBytes(second.capacity)}, released array detached: ${detached}`,
  });
  // Release while a copy is in flight: the block must not be reused before the copy completes.
  fillPattern(second.array, 5);
  const expected = Uint8Array.from(second.array.subarray(0, 4096));
  const dev = new cuda.DeviceBuffer(60 * MiB, { stream });
  const copying = cuda.copy(dev, second, { stream });
  second.release();
  const third = pool.acquire(60 * MiB);
  third.array.fill(0xee);
  await copying;
  const back = new Uint8Array(4096);
  await cuda.copy(back, dev, { stream, bytes: 4096 });
  const s2 = pool.stats();
  rows.push({
    check: 'pinned release during copy',
    ok: firstDifference(back, expected) === -1 && s2.allocations === 2,
    detail: `copy saw the original bytes; the in-flight block was not reused (allocations ${s2.allocations})`,
  });
  third.release();
  // write()/read() move bytes between JS memory and pinned memory without a JS view of it.
  const payload = new Uint8Array(MiB + 17);
  fillPattern(payload, 99);
  const up = pool.acquire(payload.byteLength);
  const down = pool.acquire(payload.byteLength);
  up.write(payload);
  await cuda.copy(dev, up, { stream });
  await cuda.copy(down, dev, { stream, bytes: payload.byteLength });
  const result = new Uint8Array(payload.byteLength);
  down.read(result);
  up.release();
  down.release();
  let afterRelease = '';
  try {
    up.write(payload);
  } catch (e) {
    afterRelease = (e as { code?: string }).code ?? '';
  }
  rows.push({
    check: 'pinned write()/read()',
    ok: firstDifference(payload, result) === -1 && afterRelease === 'ERR_DISPOSED',
    detail: `${formatBytes(payload.byteLength)} through write, H2D, D2H, read: ${firstDifference(payload, result) === -1 ? 'identical' : 'differs'}; write after release: ${afterRelease}`,
  });
  dev.free();
  pool.trim();
  const s3 = pool.stats();
  rows.push({
    check: 'pinned pool trim',
    ok: s3.cachedBytes === 0 && s3.inUseBytes === 0,
    detail: `cached ${s3.cachedBytes}, in use ${s3.inUseBytes}, frees ${s3.frees}`,
  });
  stream.dispose();
  return rows;
}

/** Event timing of a 64 MiB H2D copy is positive and plausible. */
export async function eventTiming(): Promise<CheckRow[]> {
  const stream = new cuda.Stream(0);
  const pool = new cuda.PinnedPool();
  const host = pool.acquire(64 * MiB);
  const dev = new cuda.DeviceBuffer(64 * MiB, { stream });
  const start = new cuda.CudaEvent(0, { timing: true });
  const end = new cuda.CudaEvent(0, { timing: true });
  start.record(stream);
  const copied = cuda.copy(dev, host, { stream });
  end.record(stream);
  await end.synchronize();
  await copied;
  const ms = cuda.CudaEvent.elapsedMs(start, end);
  const gbps = (64 * MiB) / (ms / 1000) / 1e9;
  let untimed = '';
  try {
    const e = new cuda.CudaEvent(0);
    e.record(stream);
    await e.synchronize();
    cuda.CudaEvent.elapsedMs(e, end);
  } catch (err) {
    untimed = (err as { code?: string }).code ?? '';
  }
  dev.free();
  host.release();
  stream.dispose();
  return [
    { check: 'event timing', ok: ms > 0 && gbps > 1 && gbps < 2000, detail: `64 MiB H2D ${ms.toFixed(3)} ms = ${gbps.toFixed(1)} GB/s` },
    { check: 'untimed event refused', ok: untimed === 'ERR_INVALID_ARG', detail: `elapsedMs on an untimed event: ${untimed || 'no error'}` },
  ];
}

/** 1000 allocate/fill/free cycles leave free device memory at its baseline. */
export async function allocFreeCycles(cycles = 1000, bytes = 16 * MiB): Promise<CheckRow[]> {
  const stream = new cuda.Stream(0);
  // Baseline after one warm-up cycle, so the pool's one-time set-up is not counted as growth.
  const warm = new cuda.DeviceBuffer(bytes, { stream });
  warm.free();
  await stream.synchronize();
  cuda.trimMemoryPool(0, 0);
  const before = cuda.memoryInfo(0).free;
  const readings: number[] = [];
  for (let i = 0; i < cycles; i++) {
    const b = new cuda.DeviceBuffer(bytes, { stream });
    b.fill(i & 0xff, { stream });
    b.free();
    if (i % 250 === 249) {
      await stream.synchronize();
      cuda.trimMemoryPool(0, 0);
      readings.push(before - cuda.memoryInfo(0).free);
    }
  }
  await stream.synchronize();
  cuda.trimMemoryPool(0, 0);
  const after = cuda.memoryInfo(0).free;
  stream.dispose();
  const drift = before - after;
  return [
    {
      check: `${cycles} alloc/free cycles of ${formatBytes(bytes)}`,
      ok: drift <= 2 * MiB,
      detail:
        `free ${formatBytes(before)} before, ${formatBytes(after)} after (drift ${formatBytes(Math.max(0, drift))}; ` +
        `in use after 250/500/750/1000 cycles: ${readings.map((r) => formatBytes(Math.max(0, r))).join(', ')})`,
    },
  ];
}

/** JS → native → promise latency of a 4 KiB H2D + D2H pair, sequential and pipelined. */
export async function completionLatency(calls = 5000): Promise<CheckRow[]> {
  const stream = new cuda.Stream(0);
  const pool = new cuda.PinnedPool();
  const host = pool.acquire(4 * KiB);
  const back = pool.acquire(4 * KiB);
  const dev = new cuda.DeviceBuffer(4 * KiB, { stream });
  // H2D and D2H enqueued back to back on one stream (ordered), both awaited: the shape of an
  // inference call's copies, as in the completion-path figures of DESIGN.md.
  const pair = () => Promise.all([cuda.copy(dev, host, { stream }), cuda.copy(back, dev, { stream })]);
  for (let i = 0; i < 200; i++) await pair();
  const samples: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await pair();
    samples.push((performance.now() - t0) * 1000);
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)]!;
  const p99 = samples[Math.floor(samples.length * 0.99)]!;
  // Pipelined: keep 64 copy pairs in flight on four streams.
  const streams = [stream, new cuda.Stream(0), new cuda.Stream(0), new cuda.Stream(0)];
  const devs = streams.map((s) => new cuda.DeviceBuffer(4 * KiB, { stream: s }));
  const t0 = performance.now();
  let done = 0;
  const lanes = Array.from({ length: 64 }, async (_, lane) => {
    const s = streams[lane % streams.length]!;
    const d = devs[lane % streams.length]!;
    while (done < calls) {
      done++;
      await Promise.all([cuda.copy(d, host, { stream: s }), cuda.copy(back, d, { stream: s })]);
    }
  });
  await Promise.all(lanes);
  const perSecond = (done * 2) / ((performance.now() - t0) / 1000);
  for (const d of devs) d.free();
  dev.free();
  host.release();
  back.release();
  for (const s of streams) s.dispose();
  return [
    {
      check: 'completion latency (4 KiB H2D+D2H)',
      ok: median > 0,
      detail: `median ${median.toFixed(1)} us, p99 ${p99.toFixed(1)} us per H2D+D2H pair, both awaited (${calls} pairs, one at a time)`,
    },
    { check: 'completion throughput', ok: perSecond > 0, detail: `${Math.round(perSecond).toLocaleString('en-US')} copies/s with 64 in flight on 4 streams` },
  ];
}

export interface BandwidthResult {
  direction: 'h2d' | 'd2h';
  /** Wall time of acquire + copy + await + release, per copy. */
  poolGBps: number;
  /** The same copies timed on the GPU with events (excludes the JS and completion path). */
  poolGpuGBps: number;
  plainGBps: number;
  ratio: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * 64 MiB copies through the pinned pool and the JS API (acquire from the pool, copy, await
 * the promise, release) against plain cuMemcpyAsync from cuMemHostAlloc memory in a native
 * loop timed with events, side by side in one run. Medians of `iterations` copies each.
 */
export async function pinnedBandwidth(bytes = 64 * MiB, iterations = 20): Promise<BandwidthResult[]> {
  const out: BandwidthResult[] = [];
  const stream = new cuda.Stream(0);
  const pool = new cuda.PinnedPool({ maxCachedBytes: 4 * bytes });
  const dev = new cuda.DeviceBuffer(bytes, { stream });
  const start = new cuda.CudaEvent(0, { timing: true });
  const end = new cuda.CudaEvent(0, { timing: true });
  for (const direction of ['h2d', 'd2h'] as const) {
    // Warm-up: the first acquire pays for cuMemHostAlloc; the timed loop reuses the block.
    const warm = pool.acquire(bytes);
    await (direction === 'h2d' ? cuda.copy(dev, warm, { stream }) : cuda.copy(warm, dev, { stream }));
    warm.release();
    const wallMs: number[] = [];
    const gpuMs: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now();
      const host = pool.acquire(bytes);
      start.record(stream);
      const copied = direction === 'h2d' ? cuda.copy(dev, host, { stream }) : cuda.copy(host, dev, { stream });
      end.record(stream);
      await copied;
      host.release();
      wallMs.push(performance.now() - t0);
      await end.synchronize();
      gpuMs.push(cuda.CudaEvent.elapsedMs(start, end));
    }
    const plainMs = await cuda.bandwidthProbe({ bytes, iterations, direction });
    const poolGBps = bytes / (median(wallMs) / 1000) / 1e9;
    const poolGpuGBps = bytes / (median(gpuMs) / 1000) / 1e9;
    const plainGBps = bytes / (median(plainMs) / 1000) / 1e9;
    out.push({ direction, poolGBps, poolGpuGBps, plainGBps, ratio: poolGBps / plainGBps });
  }
  start.dispose();
  end.dispose();
  dev.free();
  stream.dispose();
  pool.trim();
  return out;
}

/** Workers that load the addon and are terminated with GPU work in flight do not take the process down. */
export async function workerTermination(hammerPath: string, rounds = 4): Promise<CheckRow[]> {
  const addonPath = addonStatus().path!;
  const codes: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const worker = new Worker(hammerPath, { workerData: { addonPath } });
    await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await new Promise((r) => setTimeout(r, 10 + round * 20));
    codes.push(await worker.terminate());
  }
  const ok = codes.every((c) => c === 1);
  const exit = spawnSync(
    process.execPath,
    [
      '-e',
      `const a=require(${JSON.stringify(addonPath)});a.init({makeError:(c,m)=>Object.assign(new Error(m),{code:c})});` +
        `const s=new a.Stream(0);const p=new a.PinnedPool(1<<28);const h=p.acquire(1<<26);const d=new a.DeviceBuffer(s,1<<26);` +
        `for(let i=0;i<16;i++)a.copyAsync(d,0,h,0,1<<26,s);setImmediate(()=>process.exit(0));`,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  return [
    { check: 'worker terminated mid-call', ok, detail: `${rounds} workers with copies in flight terminated, exit codes ${codes.join(',')}` },
    {
      check: 'process.exit with copies in flight',
      ok: exit.status === 0 && exit.signal === null,
      detail: `status ${exit.status}, signal ${exit.signal}${exit.stderr ? `, stderr: ${exit.stderr.slice(0, 200)}` : ''}`,
    },
  ];
}

export function formatBytes(n: number): string {
  if (n >= 1024 * MiB) return `${(n / (1024 * MiB)).toFixed(2)} GiB`;
  if (n >= MiB) return Number.isInteger(n / MiB) ? `${n / MiB} MiB` : `${(n / MiB).toFixed(2)} MiB`;
  if (n >= KiB) return Number.isInteger(n / KiB) ? `${n / KiB} KiB` : `${(n / KiB).toFixed(2)} KiB`;
  return `${n} B`;
}
