/**
 * Shared by the stand-in tests: builds the stand-ins when missing or stale (a no-op when they
 * are current), says why tests are skipped, and runs the probe programs with the stand-ins on
 * the loader path (LD_LIBRARY_PATH=build/standin, as the addon's tests will run Node).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The stand-ins under test: build/standin, or a sanitizer build named by TRTN_STANDIN_DIR. */
export const standinDir = process.env.TRTN_STANDIN_DIR ? resolve(process.env.TRTN_STANDIN_DIR) : join(repoRoot, 'build', 'standin');
const sdkRoot = resolve(repoRoot, '..', 'shared', 'trt-sdk');

/** TensorRT header sets beside the checkout, by major: { 10: '10.16.0', 11: '11.1.0' }. */
export function sdkVersions(): Record<number, string> {
  const out: Record<number, string> = {};
  const list = (process.env.TRTN_STANDIN_SDKS ?? '').split(':').filter((d) => d !== '');
  const dirs =
    list.length > 0
      ? list
      : existsSync(sdkRoot)
        ? execFileSync('ls', [sdkRoot], { encoding: 'utf8' })
            .split('\n')
            .filter((v) => /^\d+\.\d+\.\d+$/.test(v))
            .map((v) => join(sdkRoot, v))
        : [];
  for (const d of dirs) {
    const v = d.split('/').pop()!;
    if (existsSync(join(d, 'include', 'NvInfer.h')) && /^\d+\.\d+\.\d+$/.test(v)) out[Number(v.split('.')[0])] = v;
  }
  return out;
}

let built: string | undefined;

/** Builds the stand-ins once per test process; returns why they cannot be used, or ''. */
export function ensureStandins(): string {
  if (built !== undefined) return built;
  if (process.env.TRTN_STANDIN_DIR) {
    // A build made elsewhere (e.g. node scripts/build-standin.mjs --sanitize address,undefined).
    built = existsSync(join(standinDir, 'libcuda.so.1')) ? '' : `TRTN_STANDIN_DIR=${standinDir} has no stand-ins`;
    return built;
  }
  const r = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'build-standin.mjs'), '--quiet'], { encoding: 'utf8' });
  const skipped = join(standinDir, 'SKIPPED');
  if (r.status === 0 && existsSync(skipped)) built = `the stand-ins cannot be built here: ${readFileSync(skipped, 'utf8').trim()}`;
  else built = r.status === 0 ? '' : `the stand-ins did not build: ${(r.stderr || r.stdout || String(r.error)).trim().split('\n').slice(-5).join(' | ')}`;
  return built;
}

export const trtSkipReason = (): string =>
  Object.keys(sdkVersions()).length === 0 ? `no TensorRT headers in ${sdkRoot} (the TensorRT stand-ins need them)` : '';

const sanitizerOptions = (): Record<string, string> =>
  Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => /^[A-Z]+SAN_OPTIONS$/.test(e[0]) && e[1] !== undefined));

/** A probe's output: free-form JSON that the tests check field by field. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = Record<string, any>;

export interface ProbeResult {
  status: number | null;
  stdout: string;
  stderr: string;
  json: Json;
}

/** Runs a probe from build/standin/bin with the stand-ins on LD_LIBRARY_PATH. */
export function runProbe(program: string, args: string[], env: Record<string, string> = {}, libraryPath = standinDir): ProbeResult {
  const r = spawnSync(join(standinDir, 'bin', program), args, {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...sanitizerOptions(), ...(libraryPath ? { LD_LIBRARY_PATH: libraryPath } : {}), ...env },
    timeout: 60_000,
  });
  let json: Json = {};
  try {
    json = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
  } catch {
    // left empty; the test shows stdout/stderr
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, json };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `trtn-standin-${prefix}-`));
}

export function writeTemp(dir: string, name: string, bytes: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** The addon variants under test: build/Release, or a sanitizer build named by TRTN_STANDIN_ADDON_DIR. */
export const addonDir = process.env.TRTN_STANDIN_ADDON_DIR ? resolve(process.env.TRTN_STANDIN_ADDON_DIR) : join(repoRoot, 'build', 'Release');
export const addonOf = (major: number): string => join(addonDir, `tensorrt_node-trt${major}.node`);

/** Why the stand-in suites cannot run the addon here ('' when they can): no stand-ins, no headers, or an addon variant missing. */
export function addonSkipReason(): string {
  const s = ensureStandins() || trtSkipReason();
  if (s) return s;
  const missing = Object.keys(sdkVersions()).filter((m) => !existsSync(addonOf(Number(m))));
  return missing.length > 0 ? `no addon for TensorRT ${missing.join(', ')} in ${addonDir} (npm run build:addon)` : '';
}

/**
 * The environment of a scenario child for TensorRT `major`: only PATH, HOME and sanitizer
 * options from ours, the stand-ins on the loader path and as TensorRT, that major's addon, and
 * `extra`.
 */
export function standinChildEnv(major: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    ...sanitizerOptions(),
    ...(process.env.TRTN_STANDIN_PRELOAD ? { LD_PRELOAD: process.env.TRTN_STANDIN_PRELOAD } : {}),
    LD_LIBRARY_PATH: standinDir,
    TENSORRT_LIB_DIR: standinDir,
    TENSORRT_NODE_ADDON: addonOf(major),
    TENSORRT_NODE_TRT_MAJOR: String(major),
    ...extra,
  };
}

/** Bundles a scenario program into a new folder under tmp/ in the checkout (so its packages resolve). */
export async function bundleScenarios(entry: string, prefix: string): Promise<{ dir: string; bundle: string }> {
  const { build } = await import('esbuild');
  mkdirSync(join(repoRoot, 'tmp'), { recursive: true });
  const dir = mkdtempSync(join(repoRoot, 'tmp', `${prefix}-`));
  const bundle = join(dir, 'main.mjs');
  await build({
    entryPoints: [entry],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    logLevel: 'error',
  });
  return { dir, bundle };
}

/** One JSON line a scenario printed. */
export interface ScenarioLine {
  scenario: string;
  ok: boolean;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  value?: any;
  error?: { name: string; code?: string; message: string; stack?: string };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [key: string]: any;
}

export interface ScenarioChild {
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  lines: Map<string, ScenarioLine>;
}

/** Runs `node [nodeArgs] bundle [args]` with `env`, killed after 240 s; collects its scenario lines by name. */
export function runScenarioChild(bundle: string, nodeArgs: string[], args: string[], env: Record<string, string>): Promise<ScenarioChild> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--enable-source-maps', ...nodeArgs, bundle, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      const lines = new Map<string, ScenarioLine>();
      for (const text of stdout.split('\n')) {
        if (!text.startsWith('{')) continue;
        try {
          const l = JSON.parse(text) as ScenarioLine;
          lines.set(l.scenario, l);
        } catch {
          // not a result line
        }
      }
      done({ status, signal, stderr, lines });
    });
  });
}
