/**
 * Reports of a compare() result: a terminal table, a JSON document and a self-contained
 * HTML page (inline CSS and SVG, no external assets).
 *
 * JSON: numbers that are not finite (an infinite required tolerance, a NaN) are written as
 * null. Fields per output: name, passed, error (when not compared), dtypeA, dtypeB, dims,
 * atol, rtol, checkErrorStat, errorQuantile, elementCount, maxAbsError, meanAbsError,
 * medianAbsError, p90AbsError, p95AbsError, p99AbsError, quantileAbsError, maxRelError,
 * meanRelError, medianRelError, p90RelError, p95RelError, p99RelError, quantileRelError,
 * cosineSimilarity, relativeL2Error, nanCount (positions where A or B is NaN), nanCountA,
 * nanCountB, nanMismatchCount (NaN on one side only), infCount, infCountA, infCountB,
 * nanErrorCount, requiredAtol, requiredRtol, mismatchCount, top1Agreement, topKAgreement,
 * topK, worst, iterations, absErrorHistogram.
 */
import type { CompareResult, OutputReport } from './compare.js';
import type { BisectResult } from './bisect-types.js';

/** A number for humans: 3 significant digits, exponent form when small or large. */
export function fmt(v: number | undefined | null): string {
  if (v === undefined || v === null) return '-';
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e5) return Number(v.toPrecision(3)).toString();
  return v.toExponential(2);
}

function pct(v: number | undefined): string {
  return v === undefined ? '-' : `${(v * 100).toFixed(1)}%`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map((r, i) => {
      const line = r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
      return i === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
    })
    .join('\n');
}

function toleranceText(o: OutputReport): string {
  const t = o.tolerance;
  return `atol=${fmt(t.atol)} rtol=${fmt(t.rtol)} ${t.checkErrorStat}${t.checkErrorStat === 'quantile' ? `(${t.errorQuantile})` : ''}`;
}

/** The terminal report. */
export function formatCompareText(result: CompareResult): string {
  const lines: string[] = [];
  lines.push(`Comparing ${result.a.label} against ${result.b.label} (${result.iterations} iteration${result.iterations === 1 ? '' : 's'})`);
  const header = [
    'output',
    'result',
    'max abs',
    'mean abs',
    'median abs',
    'p99 abs',
    'max rel',
    'cosine',
    'rel L2',
    'NaN',
    'Inf',
    'req atol',
    'req rtol',
    'top-1',
  ];
  const rows = [header];
  for (const o of result.outputs) {
    if (o.error) {
      rows.push([o.name, 'ERROR', ...header.slice(2).map(() => '-')]);
      continue;
    }
    rows.push([
      o.name,
      o.passed ? 'PASS' : 'FAIL',
      fmt(o.maxAbsError),
      fmt(o.meanAbsError),
      fmt(o.medianAbsError),
      fmt(o.p99AbsError),
      fmt(o.maxRelError),
      o.cosineSimilarity === undefined ? '-' : o.cosineSimilarity.toFixed(8),
      fmt(o.relativeL2Error),
      String(o.nanCount ?? '-'),
      String(o.infCount ?? '-'),
      fmt(o.requiredAtol),
      fmt(o.requiredRtol),
      o.topK ? pct(o.topK.top1Agreement) : '-',
    ]);
  }
  lines.push(table(rows));
  lines.push('');
  for (const o of result.outputs) {
    if (o.error) {
      lines.push(`ERROR ${o.name}: ${o.error.code}: ${o.error.message}`);
      continue;
    }
    const parts = [`${o.passed ? 'PASS' : 'FAIL'} ${o.name}: ${toleranceText(o)}`];
    if (o.tolerance.checkErrorStat !== 'elemwise') {
      const s = o.tolerance.checkErrorStat;
      const abs = (o as unknown as Record<string, number>)[`${s}AbsError`];
      const rel = (o as unknown as Record<string, number>)[`${s}RelError`];
      parts.push(`${s} abs=${fmt(abs)} rel=${fmt(rel)}`);
    } else if (o.mismatchCount !== undefined) {
      parts.push(`${o.mismatchCount} of ${o.elementCount} elements beyond both tolerances`);
    }
    if (o.topK) parts.push(`top-${o.topK.k} agreement ${pct(o.topK.topKAgreement)} over ${o.topK.rows} rows`);
    if (o.nanMismatchCount) parts.push(`${o.nanMismatchCount} NaN on one side only`);
    if (!o.passed && o.worst) {
      parts.push(
        `worst at [${o.worst.index.join(', ')}]${result.iterations > 1 ? ` (iteration ${o.worst.iteration})` : ''}: A=${fmt(o.worst.a)} B=${fmt(o.worst.b)}`,
      );
    }
    lines.push(parts.join('; '));
  }
  for (const w of result.warnings) lines.push(`warning: ${w}`);
  const failed = result.outputs.filter((o) => !o.passed).map((o) => o.name);
  lines.push(result.passed ? `PASSED: all ${result.outputs.length} output(s) match` : `FAILED: mismatched output(s): ${failed.join(', ')}`);
  return lines.join('\n');
}

function outputJson(o: OutputReport): Record<string, unknown> {
  const { tolerance, topK, iterations, ...rest } = o;
  return {
    ...rest,
    atol: tolerance.atol,
    rtol: tolerance.rtol,
    checkErrorStat: tolerance.checkErrorStat,
    errorQuantile: tolerance.errorQuantile,
    top1Agreement: topK?.top1Agreement ?? null,
    topKAgreement: topK?.topKAgreement ?? null,
    topK: topK?.k ?? null,
    iterations,
  };
}

/** The JSON document (a plain object; JSON.stringify turns non-finite numbers into null). */
export function compareJson(result: CompareResult, bisect?: BisectResult): Record<string, unknown> {
  return {
    passed: result.passed,
    a: result.a,
    b: result.b,
    iterations: result.iterations,
    outputs: result.outputs.map(outputJson),
    skipped: result.skipped,
    warnings: result.warnings,
    ...(bisect ? { bisect: bisectJson(bisect) } : {}),
  };
}

export function bisectJson(b: BisectResult): Record<string, unknown> {
  return {
    firstDivergence: b.firstDivergence ?? null,
    checkedTensors: b.checkedTensors,
    unmatchedTensors: b.unmatchedTensors,
    nodes: b.nodes,
  };
}

export function formatBisectText(b: BisectResult): string {
  const lines: string[] = [];
  lines.push(
    `Bisect: ${b.checkedTensors} intermediate tensor(s) matched by name and compared in topological order (${b.unmatchedTensors} had no counterpart in B)`,
  );
  const d = b.firstDivergence;
  if (d === undefined) {
    lines.push('No node output diverges beyond the tolerance.');
    return lines.join('\n');
  }
  lines.push(`First divergence: node ${JSON.stringify(d.node)} (op ${d.opType}, node #${d.nodeIndex}), tensor ${JSON.stringify(d.tensor)}`);
  lines.push(
    `  max abs ${fmt(d.maxAbsError)}, mean abs ${fmt(d.meanAbsError)}, max rel ${fmt(d.maxRelError)}, cosine ${d.cosineSimilarity.toFixed(8)}, ` +
      `rel L2 ${fmt(d.relativeL2Error)}, required atol ${fmt(d.requiredAtol)} / rtol ${fmt(d.requiredRtol)}`,
  );
  lines.push(
    `  non-finite of ${d.elementCount}: NaN ${d.nanCountA} in A, ${d.nanCountB} in B; Inf ${d.infCountA} in A, ${d.infCountB} in B` +
      (d.infCount > 0 ? ` (equal infinities ${b.infinitiesCompareEqual === false ? 'are NaN errors' : 'agree'})` : '') +
      (d.nanCount > 0 ? ' (a NaN is an error on either side)' : ''),
  );
  if (d.inputs.length > 0) {
    lines.push(
      `  its inputs: ${d.inputs.map((i) => `${i.name} (${i.status}${i.maxAbsError === undefined ? '' : `, max abs ${fmt(i.maxAbsError)}`})`).join(', ')}`,
    );
  }
  return lines.join('\n');
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function histogramSvg(o: OutputReport): string {
  const h = o.absErrorHistogram;
  if (!h) return '';
  const bars: { label: string; count: number; zero?: boolean }[] = [];
  bars.push({ label: '0', count: h.zeroCount, zero: true });
  h.counts.forEach((c, i) => bars.push({ label: `${fmt(h.edges[i]!)} – ${fmt(h.edges[i + 1]!)}`, count: c }));
  if (h.nanCount > 0) bars.push({ label: 'NaN', count: h.nanCount, zero: true });
  const W = 720;
  const H = 200;
  const pad = { l: 48, r: 8, t: 8, b: 44 };
  const maxCount = Math.max(1, ...bars.map((b) => b.count));
  const bw = (W - pad.l - pad.r) / bars.length;
  const y = (c: number): number => pad.t + (H - pad.t - pad.b) * (1 - Math.log10(1 + c) / Math.log10(1 + maxCount));
  const rects = bars
    .map((b, i) => {
      const x = pad.l + i * bw;
      const top = y(b.count);
      const fill = b.zero ? '#8a8f98' : o.passed ? '#3b82f6' : '#dc2626';
      return `<rect x="${(x + 1).toFixed(1)}" y="${top.toFixed(1)}" width="${Math.max(1, bw - 2).toFixed(1)}" height="${(H - pad.b - top).toFixed(1)}" fill="${fill}"><title>${esc(b.label)}: ${b.count}</title></rect>`;
    })
    .join('');
  const tickEvery = Math.max(1, Math.ceil(bars.length / 8));
  const ticks = bars
    .map((b, i) =>
      i % tickEvery === 0 || b.zero
        ? `<text x="${(pad.l + i * bw + bw / 2).toFixed(1)}" y="${H - pad.b + 14}" font-size="10" text-anchor="middle">${esc(b.zero ? b.label : fmt(h.edges[i - 1] ?? 0))}</text>`
        : '',
    )
    .join('');
  const tolX = (() => {
    const atol = o.tolerance.atol;
    if (!(atol > 0) || h.edges.length === 0 || atol < h.edges[0]! || atol > h.edges[h.edges.length - 1]!) return '';
    const l0 = Math.log10(h.edges[0]!);
    const l1 = Math.log10(h.edges[h.edges.length - 1]!);
    const frac = (Math.log10(atol) - l0) / (l1 - l0);
    const x = pad.l + bw + frac * (h.counts.length * bw);
    return `<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${pad.t}" y2="${H - pad.b}" stroke="#111" stroke-dasharray="4 3"/><text x="${(x + 3).toFixed(1)}" y="${pad.t + 10}" font-size="10">atol</text>`;
  })();
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="absolute error histogram of ${esc(o.name)}">` +
    `<line x1="${pad.l}" x2="${W - pad.r}" y1="${H - pad.b}" y2="${H - pad.b}" stroke="#444"/>` +
    `<text x="4" y="${pad.t + 10}" font-size="10">${maxCount}</text><text x="4" y="${H - pad.b}" font-size="10">0</text>` +
    rects +
    ticks +
    tolX +
    `<text x="${W / 2}" y="${H - 6}" font-size="11" text-anchor="middle">absolute error (log bins; bar height log scale)</text>` +
    `</svg>`
  );
}

/** A self-contained HTML page with the table and an error histogram per output. */
export function compareHtml(result: CompareResult, bisect?: BisectResult): string {
  const passed = result.passed;
  const rows = result.outputs
    .map((o) =>
      o.error
        ? `<tr class="fail"><td>${esc(o.name)}</td><td>ERROR</td><td colspan="11">${esc(o.error.code)}: ${esc(o.error.message)}</td></tr>`
        : `<tr class="${o.passed ? 'pass' : 'fail'}"><td>${esc(o.name)}</td><td>${o.passed ? 'PASS' : 'FAIL'}</td>` +
          [o.maxAbsError, o.meanAbsError, o.medianAbsError, o.p99AbsError, o.maxRelError].map((v) => `<td>${fmt(v)}</td>`).join('') +
          `<td>${o.cosineSimilarity?.toFixed(6) ?? '-'}</td><td>${fmt(o.relativeL2Error)}</td><td>${o.nanCount}</td><td>${o.infCount}</td>` +
          `<td>${fmt(o.requiredAtol)}</td><td>${fmt(o.requiredRtol)}</td></tr>`,
    )
    .join('\n');
  const sections = result.outputs
    .filter((o) => !o.error)
    .map(
      (o) =>
        `<section><h2>${esc(o.name)} <span class="${o.passed ? 'pass' : 'fail'}">${o.passed ? 'PASS' : 'FAIL'}</span></h2>` +
        `<p>${esc(o.dtypeA)} vs ${esc(o.dtypeB)} [${o.dims.join(', ')}], ${o.elementCount} elements; ${esc(toleranceText(o))}; ` +
        `p90/p95/p99 abs ${fmt(o.p90AbsError)} / ${fmt(o.p95AbsError)} / ${fmt(o.p99AbsError)}; ` +
        `median/p99 rel ${fmt(o.medianRelError)} / ${fmt(o.p99RelError)}` +
        (o.topK ? `; top-1 ${pct(o.topK.top1Agreement)}, top-${o.topK.k} ${pct(o.topK.topKAgreement)} over ${o.topK.rows} rows` : '') +
        (o.worst && !o.passed ? `; worst at [${o.worst.index.join(', ')}]: A=${fmt(o.worst.a)} B=${fmt(o.worst.b)}` : '') +
        `</p>${histogramSvg(o)}</section>`,
    )
    .join('\n');
  const bisectHtml = bisect ? `<section><h2>Bisection</h2><pre>${esc(formatBisectText(bisect))}</pre></section>` : '';
  const warnings = result.warnings.length ? `<ul>${result.warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tensorrt-node compare: ${passed ? 'PASSED' : 'FAILED'}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#111}
table{border-collapse:collapse}td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}.pass{color:#15803d}.fail{color:#b91c1c}
h1 .pass,h1 .fail,h2 span{font-size:.8em}section{margin-top:24px}pre{background:#f5f5f5;padding:8px}
</style></head><body>
<h1>Accuracy comparison <span class="${passed ? 'pass' : 'fail'}">${passed ? 'PASSED' : 'FAILED'}</span></h1>
<p>${esc(result.a.label)} against ${esc(result.b.label)}, ${result.iterations} iteration(s).</p>
<table><thead><tr><th>output</th><th>result</th><th>max abs</th><th>mean abs</th><th>median abs</th><th>p99 abs</th><th>max rel</th><th>cosine</th><th>rel L2</th><th>NaN</th><th>Inf</th><th>req atol</th><th>req rtol</th></tr></thead>
<tbody>
${rows}
</tbody></table>
${warnings}
${bisectHtml}
${sections}
</body></html>
`;
}
