/**
 * Report formats on a hand-made report (the figures are fixture values, not measurements):
 * the JSON schema, the trtexec-style summary, markdown and the self-contained HTML page.
 */
import { describe, expect, it } from 'vitest';
import { BENCH_FORMAT, BenchReportSchema, type BenchRecord, type BenchReport } from '../../../src/bench/report-schema.js';
import { benchHtml, benchJson, benchMarkdown, formatBenchText, formatRecordSummary, latencyThroughputSvg, throughputAxis } from '../../../src/bench/report.js';
import { benchProblems } from '../../../src/bench/checks.js';

const lat = (base: number) => ({ count: 100, min: base * 0.5, mean: base, median: base * 0.9, p90: base * 1.5, p95: base * 2, p99: base * 3, max: base * 4 });

function record(over: Partial<BenchRecord>): BenchRecord {
  return {
    backend: 'onnxruntime',
    batcher: false,
    mode: 'closed-loop',
    concurrency: 1,
    rate: null,
    rateSpec: null,
    distribution: null,
    rowsPerRequest: 2,
    warmupSeconds: 0.5,
    durationSeconds: 2,
    requests: 400,
    throughput: 200,
    samplesPerSecond: 400,
    offeredRate: null,
    p50: 0.9,
    p90: 1.5,
    p99: 3,
    latencyMs: lat(1),
    enqueueMs: lat(0.01),
    sendLagMs: null,
    meanBatchSize: 2,
    queueMs: null,
    computeMs: null,
    batches: null,
    paddingRatio: null,
    stages: null,
    errors: 0,
    firstError: null,
    errorSummary: [],
    dropped: 0,
    incomplete: 0,
    ...over,
  };
}

function report(records: BenchRecord[]): BenchReport {
  return {
    format: BENCH_FORMAT,
    createdAt: '2025-01-01T00:00:00.000Z',
    command: 'tensorrt-node bench --duration 2',
    machine: { cpus: 2, cpuModel: 'Test CPU <x>', memoryGiB: 8, platform: 'linux', arch: 'x64', node: 'v20.20.0' },
    model: { label: 'embedded encoder "tiny"', inputs: [{ name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'] }] },
    settings: {
      backends: ['onnxruntime', 'tensorrt'],
      batcher: 'both',
      concurrency: [1, 8],
      rates: ['50%'],
      distribution: 'poisson',
      warmupSeconds: 0.5,
      durationSeconds: 2,
      rowsPerRequest: 2,
      seq: { min: 16, max: 128 },
      poolSize: 128,
      seed: 1,
      maxOutstanding: 512,
      batcherOptions: {},
      onnxruntime: { intraOpNumThreads: 0 },
      tensorrt: { precision: 'fp32' },
    },
    versions: { 'onnxruntime-node': '1.30.0' },
    skipped: [{ backend: 'tensorrt', reason: 'ERR_TENSORRT_NOT_FOUND: TensorRT is not available' }],
    notes: ['time limit reached: <late> points not measured'],
    records,
    totalSeconds: 12.5,
  };
}

const RECORDS = [
  record({}),
  record({ concurrency: 8, throughput: 800, samplesPerSecond: 1600, p50: 9, p90: 12, p99: 20, latencyMs: lat(10) }),
  record({ batcher: true, throughput: 210, samplesPerSecond: 420, meanBatchSize: 2, queueMs: 0.01, computeMs: 0.8, batches: 420, paddingRatio: 0.3 }),
  record({
    batcher: true,
    concurrency: 8,
    throughput: 1500,
    samplesPerSecond: 3000,
    p50: 4,
    p90: 5,
    p99: 7,
    meanBatchSize: 14,
    queueMs: 0.5,
    computeMs: 3,
    batches: 214,
    paddingRatio: 0.4,
  }),
  record({
    batcher: true,
    mode: 'open-loop',
    concurrency: null,
    rate: 750,
    rateSpec: '50%',
    distribution: 'poisson',
    offeredRate: 748,
    throughput: 745,
    samplesPerSecond: 1490,
    sendLagMs: { mean: 0.2, p99: 2, max: 5 },
    dropped: 3,
    incomplete: 1,
    errors: 2,
    firstError: 'ERR_QUEUE_FULL: the queue is full',
    errorSummary: [{ message: 'ERR_QUEUE_FULL: the queue is full', count: 2 }],
    queueMs: 0.3,
    computeMs: 2,
    batches: 300,
    meanBatchSize: 5,
    paddingRatio: 0.2,
  }),
  record({ backend: 'tensorrt' }),
];

describe('JSON', () => {
  it('matches the schema, with one record per configuration and the fields the issue names', () => {
    const r = report(RECORDS);
    const parsed = BenchReportSchema.parse(JSON.parse(benchJson(r)));
    expect(parsed.records).toHaveLength(RECORDS.length);
    for (const rec of parsed.records) {
      for (const key of ['backend', 'batcher', 'mode', 'concurrency', 'rate', 'throughput', 'p50', 'p90', 'p99', 'meanBatchSize'] as const) {
        expect(rec).toHaveProperty(key);
      }
    }
  });

  it('rejects a record without throughput or with an unknown backend', () => {
    const bad = JSON.parse(benchJson(report([record({})])));
    delete bad.records[0].throughput;
    expect(BenchReportSchema.safeParse(bad).success).toBe(false);
    const bad2 = JSON.parse(benchJson(report([record({})])));
    bad2.records[0].backend = 'cuda';
    expect(BenchReportSchema.safeParse(bad2).success).toBe(false);
  });
});

describe('text', () => {
  it('gives a trtexec-style summary per configuration', () => {
    const s = formatRecordSummary(RECORDS[0]!);
    expect(s).toContain('Throughput: 200 inferences/s, 400 samples/s');
    expect(s).toContain(
      'Latency: min = 0.500 ms, max = 4.000 ms, mean = 1.000 ms, median = 0.900 ms, percentile(90%) = 1.500 ms, percentile(95%) = 2.000 ms, percentile(99%) = 3.000 ms',
    );
    expect(s).toContain('Enqueue Time');
    expect(s).toContain('H2D Latency, GPU Compute Time, D2H Latency: not reported (the onnxruntime session does not time device stages)');
  });

  it('shows the batcher split and the open-loop rates, and device stages as not reported', () => {
    const open = formatRecordSummary(RECORDS[4]!);
    expect(open).toContain('Offered: 748 requests/s (poisson arrivals, target 750/s), achieved 745/s');
    expect(open).toContain('Latency (from scheduled arrival)');
    expect(open).toContain('queue time 0.300 ms mean per request, compute time 2.000 ms mean per batch');
    expect(open).toContain('Errors: 2 (2 × ERR_QUEUE_FULL: the queue is full), dropped: 3');
    expect(open).toContain('incomplete: 1 (latency counted up to the drain deadline: a lower bound)');
    expect(formatRecordSummary(RECORDS[5]!)).toContain(
      'H2D Latency, GPU Compute Time, D2H Latency: not reported (the tensorrt session does not time device stages)',
    );
  });

  it('shows the device stages a TensorRT session timed (means per run), in the text and the markdown detail', () => {
    const timed = { ...RECORDS[5]!, stages: { runs: 400, h2dMs: 0.012, computeMs: 1.5, d2hMs: 0.03 } };
    expect(formatRecordSummary(timed)).toContain(
      "H2D Latency: 0.012 ms, GPU Compute Time: 1.500 ms, D2H Latency: 0.030 ms (means per session.run() over 400 runs, CUDA events on each run's stream)",
    );
    expect(benchMarkdown(report([timed]))).toContain('| 0.012 / 1.500 / 0.030 |');
    // A window without timed runs says not reported, as a session that does not time them.
    expect(formatRecordSummary({ ...timed, stages: { runs: 0, h2dMs: 0, computeMs: 0, d2hMs: 0 } })).toContain('not reported');
  });

  it('prints skipped backends with the reason, a table row per record, and the notes', () => {
    const t = formatBenchText(report(RECORDS));
    expect(t).toContain('tensorrt: skipped, not measured. ERR_TENSORRT_NOT_FOUND');
    expect(t).toMatch(/onnxruntime +batcher +rate 750\/s \(50%\) offered 748 +745 +1490/);
    expect(t).toContain('note: time limit reached');
    expect(t.split('\n').filter((l) => l.startsWith('onnxruntime ') || l.startsWith('tensorrt ')).length).toBe(RECORDS.length);
  });

  it('says when nothing was measured', () => {
    expect(formatBenchText(report([]))).toContain('no configuration was measured');
  });
});

describe('markdown', () => {
  it('has the command, the table and the latency detail', () => {
    const md = benchMarkdown(report(RECORDS));
    expect(md).toContain('```\ntensorrt-node bench --duration 2\n```');
    expect(md).toContain(
      '| backend | path | load | inferences/s | samples/s | p50 ms | p90 ms | p99 ms | mean batch | queue ms | compute ms | errors | dropped |',
    );
    expect(md).toContain('| onnxruntime | batcher | concurrency 8 | 1500 | 3000 | 4.000 | 5.000 | 7.000 | 14.0 | 0.500 | 3.000 | 0 | - |');
    expect(md).toContain('## Latency detail (ms)');
    expect(md).toContain('not reported');
    expect(md).toContain('**tensorrt: skipped, not measured.**');
  });
});

describe('HTML', () => {
  const html = benchHtml(report(RECORDS));

  it('is one self-contained page: inline SVG charts, no scripts or external assets', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|<link|<img|src=|url\(/i);
    // The only URL is the SVG namespace.
    expect(html.match(/https?:\/\/[^"\s]+/g)?.every((u) => u === 'http://www.w3.org/2000/svg')).toBe(true);
  });

  it('has a chart per backend and escapes text', () => {
    expect(html.match(/<svg/g)).toHaveLength(2);
    expect(html).toContain('onnxruntime: latency vs throughput');
    expect(html).toContain('tensorrt: latency vs throughput');
    expect(html).toContain('Test CPU &lt;x&gt;');
    expect(html).not.toContain('<x>');
    expect(html).toContain('&lt;late&gt;');
  });

  it('draws a marker with a tooltip per point and p50 and p99 lines per series', () => {
    const svg = latencyThroughputSvg(RECORDS.slice(0, 5), 'chart');
    // 4 closed-loop points x (p50, p99) circles, 1 open-loop point x 2 squares (+1 legend square).
    expect(svg.match(/<circle [^>]*><title>/g)).toHaveLength(8);
    expect(svg.match(/<rect [^>]*><title>/g)).toHaveLength(2);
    expect(svg.match(/<polyline /g)).toHaveLength(6); // (direct, batcher closed, batcher open) x (p50, p99)
    expect(svg).toContain('onnxruntime batcher, concurrency 8: 1500 inferences/s, p50 4.000 ms, p99 7.000 ms, mean batch 14.0');
  });

  it('fits the throughput axis to the points instead of starting at 0', () => {
    // 490-575 inferences/s (the figures): the axis spans about them, not 0..620.
    const axis = throughputAxis([490, 508, 575]);
    expect(axis.min).toBeGreaterThan(470);
    expect(axis.min).toBeLessThan(490);
    expect(axis.max).toBeGreaterThan(575);
    expect(axis.max).toBeLessThan(590);
    // Points that reach near 0 keep 0 on the axis; one point gets a narrow band around it.
    expect(throughputAxis([20, 500, 1500]).min).toBe(0);
    const one = throughputAxis([1000]);
    expect(one.min).toBeCloseTo(980, 9);
    expect(one.max).toBeCloseTo(1020, 9);
    const svg = latencyThroughputSvg([record({ throughput: 490, p50: 2, p99: 3 }), record({ concurrency: 8, throughput: 575, p50: 14, p99: 20 })], 'fitted');
    const ticks = [...svg.matchAll(/text-anchor="middle">([\d.k]+)<\/text>/g)].map((m) => Number(m[1]));
    expect(Math.min(...ticks)).toBeGreaterThanOrEqual(480);
    expect(ticks.length).toBeGreaterThanOrEqual(3);
  });

  it('says so when there is nothing to plot', () => {
    expect(latencyThroughputSvg([], 'empty')).toContain('no measured point to plot');
  });
});

describe('benchProblems (what makes bench exit 1)', () => {
  it('fails a configuration that served nothing, with its errors summarised by message', () => {
    const r = report([
      record({ requests: 0, throughput: 0, errors: 465, firstError: 'ERR_SHAPE: too long', errorSummary: [{ message: 'ERR_SHAPE: too long', count: 465 }] }),
      record({ concurrency: 8 }),
    ]);
    const problems = benchProblems(r);
    expect(problems).toEqual([
      {
        configuration: 'onnxruntime direct concurrency 1',
        reason: 'served nothing: no request completed in the 2.00 s window, 465 failed; errors: 465 × ERR_SHAPE: too long',
      },
    ]);
    const idle = benchProblems(report([record({ requests: 0, throughput: 0 })]));
    expect(idle[0]!.reason).toContain('served nothing: no request completed in the 2.00 s window (give a longer --duration?)');
  });

  it('fails any failed request by default, and a share above --max-error-rate when it is given', () => {
    const some = report([record({ requests: 990, errors: 10, errorSummary: [{ message: 'ERR_QUEUE_FULL: full', count: 10 }] })]);
    expect(benchProblems(some)[0]!.reason).toBe('10 of 1000 requests failed (1.0%, more than --max-error-rate 0); errors: 10 × ERR_QUEUE_FULL: full');
    expect(benchProblems(some, 0.02)).toEqual([]);
    expect(benchProblems(some, 0.005)).toHaveLength(1);
    expect(benchProblems(report([record({})]))).toEqual([]);
  });
});
