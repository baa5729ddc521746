/**
 * The Generator over a TensorRT session on the stand-in CUDA driver and TensorRT 10 and 11
 * (issue 12 item 4): a decoder built with generation's profile by buildEngine, createSession and
 * `tensorrt-node build`; prefill with an empty past; present fed back as past; sequences joining
 * and leaving; admission against the engine's profile; abort and close. The scenarios run in a
 * child process per major (generation-child.ts; the stand-ins must be on LD_LIBRARY_PATH at
 * process start) and print one JSON line each.
 *
 * The stand-in engine computes a hash of each row's inputs, not a decoder: this proves the glue
 * (profiles, shapes, bindings, zero-length tensors, rows kept apart, every output the stand-in's
 * function of its feeds), never TensorRT's numerics, and greedy batch == alone cannot hold here
 * (a row's hash covers its left padding). That is checked on ONNX Runtime (test/unit/generation).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addonSkipReason, bundleScenarios, repoRoot, runScenarioChild, sdkVersions, standinChildEnv, type ScenarioChild } from './helpers.js';

const versions = sdkVersions();

function skipReason(): string {
  const s = addonSkipReason();
  if (s) return s;
  if (!existsSync(join(repoRoot, 'dist', 'cli', 'index.js'))) return 'dist/ is missing (npm run build:ts): the CLI scenario runs bin/tensorrt-node.js';
  return '';
}
const skip = skipReason();
if (skip) console.warn(`generation stand-in tests skipped: ${skip}`);
const majors = skip ? [0] : Object.keys(versions).map(Number);

const results = new Map<number, ScenarioChild>();
let bundleDir = '';

async function runChild(major: number, bundle: string): Promise<void> {
  const work = mkdtempSync(join(bundleDir, `work-${major}-`));
  const env = standinChildEnv(major, { TENSORRT_NODE_CACHE: join(work, 'default-cache') });
  results.set(major, await runScenarioChild(bundle, [], [work, repoRoot], env));
}

beforeAll(async () => {
  if (skip) return;
  const { dir, bundle } = await bundleScenarios(join(repoRoot, 'test', 'standin', 'generation-child.ts'), 'standin-generation');
  bundleDir = dir;
  await Promise.all(majors.map((major) => runChild(major, bundle)));
}, 300_000);

afterAll(() => {
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function value(major: number, name: string): any {
  const r = results.get(major);
  if (r === undefined) throw new Error(`the child for TensorRT ${major} did not run`);
  const line = [...r.lines.values()].find((l) => l.scenario.startsWith(name));
  if (line === undefined) throw new Error(`scenario "${name}" printed nothing (exit ${r.status ?? r.signal}); stderr:\n${r.stderr.slice(-4000)}`);
  if (!line.ok) throw new Error(`scenario "${name}" failed: ${line.error?.stack ?? line.error?.message}`);
  return line.value;
}

const CRASH = /AddressSanitizer|LeakSanitizer|runtime error:|Segmentation fault|Aborted|terminate called|FATAL ERROR|is not implemented by the stand-in/;

// Generation's profile for { maxBatchSize: 4, maxSeqLen: 48, maxInputLen: 16 } on the embedded
// decoder ([batch, heads 2, time, 8] KV; input_ids/position_ids [batch, sequence]; attention_mask [batch, total]).
const ids = { min: [1, 1], opt: [4, 1], max: [4, 16] };
const mask = { min: [1, 1], opt: [4, 48], max: [4, 48] };
const kv = { min: [1, 2, 0, 8], opt: [4, 2, 47, 8], max: [4, 2, 47, 8] };
const expectedProfile = { input_ids: ids, attention_mask: mask, position_ids: ids, 'past_key_values.0.key': kv, 'past_key_values.0.value': kv };

for (const major of majors) {
  const version = versions[major] ?? '';
  describe.skipIf(skip !== '')(`the Generator on the TensorRT ${version || '(none)'} stand-ins${skip ? ` (skipped: ${skip})` : ''}`, () => {
    it("engines built by buildEngine, createSession and tensorrt-node build have generation's profile (past from 0, the prefill)", () => {
      const v = value(major, 'profiles');
      expect(v.built.profiles).toEqual([expectedProfile]);
      expect(v.built.generation).toEqual({ maxBatchSize: 4, maxSeqLen: 48, maxInputLen: 16 });
      // What the stand-in engine reports (getProfileShape), as the session's TensorInfo.
      for (const p of [v.createSession, v.cli.session]) {
        expect(p).toEqual(Object.fromEntries(Object.entries(expectedProfile).map(([k, r]) => [k, [r]])));
      }
      expect(v.cli.status, v.cli.stderr).toBe(0);
      expect(v.cli.profiles).toEqual([expectedProfile]);
      expect(v.cli.generation).toEqual({ maxBatchSize: 4, maxSeqLen: 48, maxInputLen: 16 });
      // No configuration: batch 1..32, sequence 1..512, past 0..2047, total 1..2048.
      expect(v.defaults.attention_mask).toEqual([{ min: [1, 1], opt: [32, 513], max: [32, 2048] }]);
      expect(v.defaults['past_key_values.0.key']).toEqual([{ min: [1, 2, 0, 8], opt: [32, 2, 512, 8], max: [32, 2, 2047, 8] }]);
      expect(v.defaults.input_ids).toEqual([{ min: [1, 1], opt: [32, 1], max: [32, 512] }]);
      // The position table's 64 rows, found in the ONNX graph at build time, kept in the sidecar
      // (also when the plan is opened from its file) and reported by the session.
      expect(v.valueRanges.createSession).toEqual({ input_ids: 63, position_ids: 63 });
      expect(v.valueRanges.fromPlanFile).toEqual({ input_ids: 63, position_ids: 63 });
      expect(v.positionLimit).toMatchObject({ max: 64, input: 'position_ids', kind: 'values' });
      expect(v.beyondTable).toMatchObject({
        code: 'ERR_INVALID_ARG',
        message: expect.stringMatching(/69 positions.*"position_ids" values at most 63, so at most 64 positions/),
      });
    });

    it('one sequence: prefill with an empty past, then present fed back as past, each token the argmax of its logits', () => {
      const v = value(major, 'one sequence');
      expect(v.result).toEqual({ tokens: v.argmaxes, finishReason: 'length' });
      expect(v.runs).toBe(6);
      expect(v.shapes[0]).toEqual({ batch: 1, sequence: 4, past: 0 });
      expect(v.shapes.slice(1)).toEqual([4, 5, 6, 7, 8].map((past) => ({ batch: 1, sequence: 1, past })));
      expect(v).toMatchObject({ referenceMismatches: 0, pastRows: 5, pastNotFound: 0, tokensChecked: 5, tokenMismatches: 0, positionMismatches: 0 });
      expect(v.decoder).toBe(48);
    });

    it('sequences join and leave the running batch; every row keeps its own cache and tokens', () => {
      const v = value(major, 'sequences join');
      expect(v.joins).toEqual([3, 5]);
      expect(v.results).toEqual([10, 3, 5, 8, 2].map((n) => ({ n, finishReason: 'length' })));
      const batches = v.shapes.map((s: { batch: number }) => s.batch);
      expect(Math.max(...batches)).toBeGreaterThan(2);
      expect(batches.at(-1)).toBe(1);
      // Rows were fed a past in every run but the prefills, none of them another row's or a stale one.
      expect(v.pastRows).toBeGreaterThan(20);
      expect(v).toMatchObject({ referenceMismatches: 0, pastNotFound: 0, tokenMismatches: 0, positionMismatches: 0, kvInUse: 0, running: 0 });
      expect(v.tokensChecked).toBeGreaterThan(15);
    });

    it("refuses at admission what the engine's profile cannot hold, with the limit in the message; the longest that fits runs", () => {
      const v = value(major, 'admission');
      expect(v.tooMany).toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(/48/) });
      expect(v.tooLong).toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(/16/) });
      expect(v.refusedRuns).toBe(0);
      expect(v.fits).toEqual({ n: 39, finishReason: 'length' });
      expect(v.maxPast).toBe(47);
      expect(v.maxTotal).toBe(48);
      expect(v).toMatchObject({ referenceMismatches: 0, pastNotFound: 0 });
    });

    it('abort mid-generation frees its cache and the next request runs; close drains, then refuses', () => {
      const v = value(major, 'abort');
      expect(v.aborted.finishReason).toBe('aborted');
      expect(v.aborted.n).toBeLessThan(30);
      expect(v.afterAbort).toMatchObject({ running: 0, kvInUse: 0 });
      expect(v.next).toEqual({ n: 4, finishReason: 'length' });
      expect(v.drained).toEqual({ n: 5, finishReason: 'length' });
      expect(v.late).toMatchObject({ code: 'ERR_SHUTTING_DOWN' });
      expect(v).toMatchObject({ closed: true, referenceMismatches: 0, pastNotFound: 0 });
    });

    it('the child exited cleanly', () => {
      const r = results.get(major)!;
      expect(r.stderr).not.toMatch(CRASH);
      expect(r.signal).toBeNull();
      expect(r.status).toBe(0);
    });
  });
}
