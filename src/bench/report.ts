/**
 * The benchmark's reports: a trtexec-style summary per configuration and a table for the
 * terminal, markdown, JSON, and a self-contained HTML page (inline CSS and SVG, no scripts
 * or external assets) with a latency-vs-throughput chart per backend.
 */
import type { BenchRecord, BenchReport, LatencySummaryJson } from './report-schema.js';

const NOT_MEASURED = 'n/a';

/** Milliseconds with 3 significant digits (at least 2 decimals below 10 ms). */
export function fmtMs(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return NOT_MEASURED;
  if (v >= 100) return v.toFixed(1);
  if (v >= 10) return v.toFixed(2);
  if (v >= 0.1) return v.toFixed(3);
  return v.toPrecision(2);
}

function fmtRate(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return NOT_MEASURED;
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function fmtNum(v: number | null | undefined, digits = 2): string {
  return v === null || v === undefined || !Number.isFinite(v) ? NOT_MEASURED : v.toFixed(digits);
}

export function pathName(r: Pick<BenchRecord, 'batcher'>): string {
  return r.batcher ? 'batcher' : 'direct';
}

/** "concurrency 8" or "rate 720/s (50%)". */
export function loadName(r: BenchRecord): string {
  if (r.mode === 'closed-loop') return `concurrency ${r.concurrency}`;
  const spec = r.rateSpec !== null && r.rateSpec.endsWith('%') ? ` (${r.rateSpec})` : '';
  return `rate ${fmtRate(r.rate)}/s${spec}`;
}

/** "465 × ERR_SHAPE: ...; 3 × ..." (the summary's messages, most frequent first). */
export function formatErrorSummary(r: Pick<BenchRecord, 'errors' | 'errorSummary' | 'firstError'>): string {
  if (r.errors === 0) return 'no errors';
  const kinds = r.errorSummary.length > 0 ? r.errorSummary : r.firstError ? [{ message: r.firstError, count: r.errors }] : [];
  return kinds.map((k) => `${k.count} × ${k.message}`).join('; ');
}

function latencyLine(label: string, s: LatencySummaryJson): string {
  if (s.count === 0) return `${label}: not measured (no request completed in the window)`;
  return (
    `${label}: min = ${fmtMs(s.min)} ms, max = ${fmtMs(s.max)} ms, mean = ${fmtMs(s.mean)} ms, median = ${fmtMs(s.median)} ms, ` +
    `percentile(90%) = ${fmtMs(s.p90)} ms, percentile(95%) = ${fmtMs(s.p95)} ms, percentile(99%) = ${fmtMs(s.p99)} ms`
  );
}

/** One configuration's summary, in the shape of trtexec's "Performance summary". */
export function formatRecordSummary(r: BenchRecord): string {
  const lines: string[] = [];
  lines.push(`=== ${r.backend} | ${pathName(r)} | ${r.mode}, ${loadName(r)} | ${r.rowsPerRequest} row(s) per request ===`);
  lines.push(
    `Throughput: ${fmtRate(r.throughput)} inferences/s, ${fmtRate(r.samplesPerSecond)} samples/s ` +
      `(${r.requests} requests completed in the ${r.durationSeconds.toFixed(2)} s window, after ${r.warmupSeconds.toFixed(2)} s of warm-up)`,
  );
  if (r.mode === 'open-loop') {
    lines.push(
      `Offered: ${fmtRate(r.offeredRate)} requests/s (${r.distribution} arrivals, target ${fmtRate(r.rate)}/s), achieved ${fmtRate(r.throughput)}/s; ` +
        `sent late by mean ${fmtMs(r.sendLagMs?.mean)} ms, p99 ${fmtMs(r.sendLagMs?.p99)} ms, max ${fmtMs(r.sendLagMs?.max)} ms (counted in latency)`,
    );
  }
  lines.push(latencyLine(r.mode === 'open-loop' ? 'Latency (from scheduled arrival)' : 'Latency', r.latencyMs));
  lines.push(latencyLine('Enqueue Time (host time in run())', r.enqueueMs));
  if (r.batcher) {
    lines.push(
      `Batcher: queue time ${fmtMs(r.queueMs)} ms mean per request, compute time ${fmtMs(r.computeMs)} ms mean per batch ` +
        `(session.run), mean batch size ${fmtNum(r.meanBatchSize)} samples over ${r.batches ?? NOT_MEASURED} batches, padding ${fmtNum(r.paddingRatio)} padded/real elements`,
    );
  } else {
    lines.push(`Direct session.run(): one call per request (${r.rowsPerRequest} sample(s) per call); no queue`);
  }
  lines.push(
    r.stages === null || r.stages.runs === 0
      ? `H2D Latency, GPU Compute Time, D2H Latency: not reported (the ${r.backend} session does not time device stages)`
      : `H2D Latency: ${fmtMs(r.stages.h2dMs)} ms, GPU Compute Time: ${fmtMs(r.stages.computeMs)} ms, D2H Latency: ${fmtMs(r.stages.d2hMs)} ms ` +
          `(means per session.run() over ${r.stages.runs} runs, CUDA events on each run's stream)`,
  );
  const problems = [`Errors: ${r.errors}${r.errors > 0 ? ` (${formatErrorSummary(r)})` : ''}`];
  if (r.mode === 'open-loop') {
    problems.push(`dropped: ${r.dropped} (more than the outstanding limit)`);
    problems.push(`incomplete: ${r.incomplete}${r.incomplete > 0 ? ' (latency counted up to the drain deadline: a lower bound)' : ''}`);
  }
  lines.push(problems.join(', '));
  return lines.join('\n');
}

export const TABLE_HEADER = [
  'backend',
  'path',
  'load',
  'inferences/s',
  'samples/s',
  'p50 ms',
  'p90 ms',
  'p99 ms',
  'mean batch',
  'queue ms',
  'compute ms',
  'errors',
  'dropped',
] as const;

export function tableRows(report: BenchReport): string[][] {
  return report.records.map((r) => [
    r.backend,
    pathName(r),
    r.mode === 'open-loop' ? `${loadName(r)} offered ${fmtRate(r.offeredRate)}` : loadName(r),
    fmtRate(r.throughput),
    fmtRate(r.samplesPerSecond),
    fmtMs(r.p50),
    fmtMs(r.p90),
    fmtMs(r.p99),
    fmtNum(r.meanBatchSize, 1),
    r.batcher ? fmtMs(r.queueMs) : '-',
    r.batcher ? fmtMs(r.computeMs) : '-',
    String(r.errors),
    r.mode === 'open-loop' ? String(r.dropped + r.incomplete) : '-',
  ]);
}

function alignedTable(header: readonly string[], rows: string[][]): string {
  const all = [header as string[], ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => i >= 3);
  const line = (r: string[]): string => r.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [line(all[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function settingsLines(report: BenchReport): string[] {
  const s = report.settings;
  const m = report.machine;
  const versions = Object.entries(report.versions)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const seq = s.seq.min === s.seq.max ? `${s.seq.min}` : `${s.seq.min}..${s.seq.max} (uniform per request)`;
  return [
    `model: ${report.model.label}; inputs ${report.model.inputs.map((i) => `${i.name} ${i.dtype} [${i.dims.join(', ')}]`).join(', ')}`,
    `machine: ${m.cpus} x ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.platform}/${m.arch}, Node ${m.node}${versions ? `; ${versions}` : ''}`,
    `requests: ${s.rowsPerRequest} row(s) x sequence ${seq}, pool of ${s.poolSize} (seed ${s.seed}); warm-up ${s.warmupSeconds} s, window ${s.durationSeconds} s per point`,
    `closed loop at concurrency ${s.concurrency.join(', ') || 'none'}; open loop (${s.distribution}) at ${s.rates.join(', ') || 'none'}` +
      `${s.rates.some((x) => x.endsWith('%')) ? ' (% of the best closed-loop throughput of the backend)' : ''}; ` +
      `ONNX Runtime intra-op threads ${s.onnxruntime.intraOpNumThreads === 0 ? 'default' : s.onnxruntime.intraOpNumThreads}` +
      `${Object.keys(s.batcherOptions).length > 0 ? `; batcher ${JSON.stringify(s.batcherOptions)}` : ''}`,
  ];
}

const TABLE_KEY =
  'inferences/s: requests completed per second of window (open loop: achieved); latency: closed loop from send, open loop from the ' +
  'scheduled arrival; mean batch: samples per session.run() call; queue ms: mean per request, compute ms: mean session.run() per batch ' +
  '(batcher only); dropped: open-loop arrivals over the outstanding limit plus requests unfinished at the drain deadline.';

/** The terminal report: settings, every configuration's summary, then the table. */
export function formatBenchText(report: BenchReport): string {
  const out: string[] = [...settingsLines(report), ''];
  for (const s of report.skipped) out.push(`${s.backend}: skipped, not measured. ${s.reason}`, '');
  for (const r of report.records) out.push(formatRecordSummary(r), '');
  if (report.records.length > 0) out.push(alignedTable(TABLE_HEADER, tableRows(report)), '', TABLE_KEY);
  else out.push('no configuration was measured');
  if (report.notes.length > 0) out.push('', ...report.notes.map((n) => `note: ${n}`));
  out.push('', `total ${report.totalSeconds.toFixed(1)} s`);
  return out.join('\n');
}

function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function benchMarkdown(report: BenchReport): string {
  const out: string[] = ['# tensorrt-node bench', ''];
  if (report.command) out.push('```', report.command, '```', '');
  out.push(...settingsLines(report).map((l) => `- ${mdCell(l)}`), '');
  for (const s of report.skipped) out.push(`- **${s.backend}: skipped, not measured.** ${mdCell(s.reason)}`);
  if (report.skipped.length > 0) out.push('');
  const row = (cells: readonly string[]): string => `| ${cells.map(mdCell).join(' | ')} |`;
  out.push(row(TABLE_HEADER), `|${TABLE_HEADER.map((_, i) => (i >= 3 ? '---:' : '---')).join('|')}|`);
  for (const r of tableRows(report)) out.push(row(r));
  out.push('', TABLE_KEY, '', '## Latency detail (ms)', '');
  const detail = ['backend', 'path', 'load', 'min', 'mean', 'median', 'p90', 'p95', 'p99', 'max', 'enqueue mean', 'H2D / compute / D2H'];
  out.push(row(detail), `|${detail.map((_, i) => (i >= 3 ? '---:' : '---')).join('|')}|`);
  for (const r of report.records) {
    const l = r.latencyMs;
    out.push(
      row([
        r.backend,
        pathName(r),
        loadName(r),
        fmtMs(l.min),
        fmtMs(l.mean),
        fmtMs(l.median),
        fmtMs(l.p90),
        fmtMs(l.p95),
        fmtMs(l.p99),
        fmtMs(l.max),
        fmtMs(r.enqueueMs.mean),
        r.stages === null || r.stages.runs === 0 ? 'not reported' : `${fmtMs(r.stages.h2dMs)} / ${fmtMs(r.stages.computeMs)} / ${fmtMs(r.stages.d2hMs)}`,
      ]),
    );
  }
  if (report.notes.length > 0) out.push('', ...report.notes.map((n) => `- note: ${mdCell(n)}`));
  out.push('', `Open-loop latency counts from each request's scheduled arrival. Total ${report.totalSeconds.toFixed(1)} s; ${report.createdAt}.`, '');
  return out.join('\n');
}

export function benchJson(report: BenchReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

// ---------------------------------------------------------------- HTML

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1, 2, 5 x 10^k steps giving about `count` ticks over [min, max]. */
function linearTicks(min: number, max: number, count = 6): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max * 1.0001; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/**
 * The throughput axis fitted to the points: 5% of their spread (at least 2% of the largest
 * value) beyond them on each side, and 0 only when the points come within a quarter of the
 * axis of it. An axis from 0 bunches points of, say, 480-580 inferences/s at its right end.
 * The ticks (linearTicks) fall on 1-2-5 steps inside it.
 */
export function throughputAxis(values: readonly number[]): { min: number; max: number } {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const pad = Math.max((hi - lo) * 0.05, hi * 0.02);
  const max = hi + pad;
  const min = lo - pad;
  return { min: min <= (max - min) * 0.25 ? 0 : min, max };
}

function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= min * 0.999 && v <= max * 1.001) ticks.push(Number(v.toPrecision(12)));
    }
  }
  return ticks;
}

function tickLabel(v: number): string {
  if (v >= 1000) return `${Number((v / 1000).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
}

const SERIES_COLORS: Record<string, string> = { direct: '#1f6fb4', batcher: '#c8372d' };

/**
 * Latency (p50 solid, p99 dashed; log scale) against throughput for one backend's records:
 * closed-loop points as circles joined in concurrency order, open-loop points as squares
 * joined in rate order; each marker's tooltip gives its numbers.
 */
export function latencyThroughputSvg(records: readonly BenchRecord[], title: string): string {
  const W = 720;
  const H = 400;
  const m = { l: 64, r: 160, t: 34, b: 48 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const usable = records.filter((r) => r.p50 !== null && r.p99 !== null && r.throughput > 0);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">`,
    `<text x="${m.l}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  if (usable.length === 0) {
    parts.push(`<text x="${m.l}" y="${m.t + 40}" font-size="13">no measured point to plot</text></svg>`);
    return parts.join('');
  }
  const { min: xMin, max: xMax } = throughputAxis(usable.map((r) => r.throughput));
  const lat = usable.flatMap((r) => [r.p50!, r.p99!]).filter((v) => v > 0);
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...lat)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...lat)) + 1e-9);
  const x = (v: number): number => m.l + ((v - xMin) / (xMax - xMin)) * pw;
  const y = (v: number): number => m.t + ph - ((Math.log10(Math.max(v, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph;
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="#fff" stroke="#999"/>`);
  for (const t of linearTicks(xMin, xMax)) {
    if (t > xMax || t < xMin) continue;
    parts.push(`<line x1="${x(t).toFixed(1)}" y1="${m.t}" x2="${x(t).toFixed(1)}" y2="${m.t + ph}" stroke="#eee"/>`);
    parts.push(`<text x="${x(t).toFixed(1)}" y="${m.t + ph + 16}" font-size="11" text-anchor="middle">${tickLabel(t)}</text>`);
  }
  for (const t of logTicks(yMin, yMax)) {
    parts.push(`<line x1="${m.l}" y1="${y(t).toFixed(1)}" x2="${m.l + pw}" y2="${y(t).toFixed(1)}" stroke="#eee"/>`);
    parts.push(`<text x="${m.l - 6}" y="${(y(t) + 4).toFixed(1)}" font-size="11" text-anchor="end">${tickLabel(t)}</text>`);
  }
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 10}" font-size="12" text-anchor="middle">throughput (inferences/s)</text>`);
  parts.push(`<text x="16" y="${m.t + ph / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 16 ${m.t + ph / 2})">latency (ms, log scale)</text>`);

  const groups = new Map<string, BenchRecord[]>();
  for (const r of usable) {
    const key = `${pathName(r)}|${r.mode}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const [key, rs] of groups) {
    const [path, mode] = key.split('|') as [string, string];
    const color = SERIES_COLORS[path] ?? '#333';
    const ordered = [...rs].sort((a, b) => (a.concurrency ?? a.rate ?? 0) - (b.concurrency ?? b.rate ?? 0));
    for (const [pct, dash] of [
      ['p50', ''],
      ['p99', ' stroke-dasharray="6 4"'],
    ] as const) {
      const pts = ordered.map((r) => `${x(r.throughput).toFixed(1)},${y(r[pct]!).toFixed(1)}`).join(' ');
      parts.push(`<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="1.8"${dash}/>`);
      for (const r of ordered) {
        const cx = x(r.throughput);
        const cy = y(r[pct]!);
        const tip = esc(
          `${r.backend} ${path}, ${loadName(r)}: ${fmtRate(r.throughput)} inferences/s, p50 ${fmtMs(r.p50)} ms, p99 ${fmtMs(r.p99)} ms` +
            (r.meanBatchSize !== null ? `, mean batch ${fmtNum(r.meanBatchSize, 1)}` : ''),
        );
        const fill = pct === 'p50' ? color : '#fff';
        parts.push(
          mode === 'closed-loop'
            ? `<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="4" fill="${fill}" stroke="${color}" stroke-width="1.5"><title>${tip}</title></circle>`
            : `<rect x="${(cx - 4).toFixed(1)}" y="${(cy - 4).toFixed(1)}" width="8" height="8" fill="${fill}" stroke="${color}" stroke-width="1.5"><title>${tip}</title></rect>`,
        );
      }
    }
  }
  // Legend.
  let ly = m.t + 8;
  const lx = m.l + pw + 14;
  const legend = (draw: string, text: string): void => {
    parts.push(draw.replace(/\{y\}/g, String(ly)), `<text x="${lx + 28}" y="${ly + 4}" font-size="11">${esc(text)}</text>`);
    ly += 18;
  };
  for (const path of new Set(usable.map((r) => pathName(r)))) {
    legend(`<line x1="${lx}" y1="{y}" x2="${lx + 22}" y2="{y}" stroke="${SERIES_COLORS[path]}" stroke-width="3"/>`, path);
  }
  legend(`<line x1="${lx}" y1="{y}" x2="${lx + 22}" y2="{y}" stroke="#555" stroke-width="1.8"/>`, 'p50 (filled)');
  legend(`<line x1="${lx}" y1="{y}" x2="${lx + 22}" y2="{y}" stroke="#555" stroke-width="1.8" stroke-dasharray="6 4"/>`, 'p99 (hollow)');
  legend(`<circle cx="${lx + 11}" cy="{y}" r="4" fill="#555"/>`, 'closed loop');
  legend(`<rect x="${lx + 7}" y="${ly - 4}" width="8" height="8" fill="#555"/>`, 'open loop');
  parts.push('</svg>');
  return parts.join('');
}

export function benchHtml(report: BenchReport): string {
  const backends = [...new Set(report.records.map((r) => r.backend))];
  const charts = backends.map((b) =>
    latencyThroughputSvg(
      report.records.filter((r) => r.backend === b),
      `${b}: latency vs throughput`,
    ),
  );
  const th = TABLE_HEADER.map((h) => `<th>${esc(h)}</th>`).join('');
  const rows = tableRows(report)
    .map((r) => `<tr>${r.map((c, i) => `<td${i >= 3 ? ' class="n"' : ''}>${esc(c)}</td>`).join('')}</tr>`)
    .join('\n');
  const summaries = report.records.map((r) => `<pre>${esc(formatRecordSummary(r))}</pre>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tensorrt-node bench: ${esc(report.model.label)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #ccc;padding:3px 8px}th{background:#f3f3f3}
td.n{text-align:right;font-variant-numeric:tabular-nums}pre{background:#f7f7f7;padding:8px;overflow-x:auto;font-size:12px}
.skip{color:#8a4b00}svg{margin:8px 0;display:block}
</style></head><body>
<h1>tensorrt-node bench</h1>
${report.command ? `<pre>${esc(report.command)}</pre>` : ''}
<ul>${settingsLines(report)
    .map((l) => `<li>${esc(l)}</li>`)
    .join('')}</ul>
${report.skipped.map((s) => `<p class="skip"><b>${esc(s.backend)}: skipped, not measured.</b> ${esc(s.reason)}</p>`).join('\n')}
${charts.join('\n')}
<table><thead><tr>${th}</tr></thead><tbody>
${rows}
</tbody></table>
<p>${esc(TABLE_KEY)}</p>
${report.notes.map((n) => `<p class="skip">note: ${esc(n)}</p>`).join('\n')}
<h2>Per configuration</h2>
${summaries}
<p>Open-loop latency counts from each request's scheduled arrival. Total ${report.totalSeconds.toFixed(1)} s; ${esc(report.createdAt)}.</p>
</body></html>
`;
}
