/**
 * The child process of ../api.test.ts: runs one group of public-API scenarios with the
 * stand-ins active and prints one JSON line per scenario ({ scenario, ok, value | error }),
 * then the promise accounting. Bundled by the test with esbuild; also the entry of the worker
 * threads some scenarios start.
 *
 *   node main.mjs build|run|sticky|io|exit
 */
import { rmSync, writeSync } from 'node:fs';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { buildScenarios } from './build-scenarios.js';
import { errorData, promiseAccounting, workDir } from './harness.js';
import { exitWithWorkInFlight, stickyScenarios } from './lifecycle-scenarios.js';
import { ioScenarios } from './io-scenarios.js';
import { hammer, runScenarios } from './run-scenarios.js';

const groups: Record<string, Record<string, () => Promise<unknown>>> = { build: buildScenarios, run: runScenarios, sticky: stickyScenarios, io: ioScenarios };

const say = (o: unknown): void => {
  writeSync(1, `${JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
};

async function main(group: string, only: string[]): Promise<void> {
  if (group === 'exit') {
    await exitWithWorkInFlight();
    return;
  }
  const scenarios = groups[group];
  if (scenarios === undefined) throw new Error(`unknown group ${group}`);
  for (const [name, run] of Object.entries(scenarios)) {
    if (only.length > 0 && !only.includes(name)) continue;
    const t0 = performance.now();
    try {
      say({ scenario: name, ok: true, value: await run(), ms: Math.round(performance.now() - t0) });
    } catch (e) {
      say({ scenario: name, ok: false, error: { ...errorData(e), stack: (e as Error).stack }, ms: Math.round(performance.now() - t0) });
    }
  }
  say({ scenario: '__promises', ok: true, value: promiseAccounting() });
  rmSync(workDir(), { recursive: true, force: true });
}

if (isMainThread) {
  main(process.argv[2] ?? '', process.argv.slice(3)).catch((e: unknown) => {
    say({ scenario: '__main', ok: false, error: errorData(e) });
    process.exitCode = 1;
  });
} else if ((workerData as { role?: string } | null)?.role === 'hammer') {
  void hammer((workerData as { plan: string }).plan, (m) => parentPort?.postMessage(m));
}
