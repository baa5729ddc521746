/**
 * What a batch costs the session, learned from the batcher's own runs: the time of a batch
 * as a function of its rows and its padded row length (tokens per row along the padded dims;
 * 1 when nothing is padded).
 *
 * The model has two layers, both shown by `snapshot()`:
 *
 * - a base line, `fixedMs + perTokenMs x rows x length`, fitted to every stored run (least
 *   squares on relative error, so short and long batches count alike). It says what batching
 *   saves in principle (the fixed cost shared by the rows) and is what the model extrapolates
 *   with where it has not measured.
 * - a grid of measured corrections over rows x length (nodes 1, 2, 3, 4, 6, 8, 12, 16, ...).
 *   Each run lands in its nearest cell; a cell keeps its last 8 runs and takes the lower
 *   quartile of their ratios to the base line: on a shared machine noise only ever slows a
 *   run down, so the faster runs are the better measure and one run slowed by a busy
 *   machine moves nothing. A cell with fewer than 3 runs is not trusted to be slower than
 *   its trusted neighbours suggest (so one unlucky run does not bar a batch size for good).
 *   Predictions interpolate the log ratio between the four cells around a point; cells
 *   never measured borrow the ratio of the nearest measured cell along rows, then along
 *   lengths.
 *
 * Curves the base line cannot draw come out of the grid: a GPU's flat cost up to the batch
 * that fills it, a CPU's rising cost per row once a batch outgrows its caches. Where the base
 * line extrapolates, it is optimistic about larger batches (it shares the fixed cost among
 * more rows), so the scheduler tries one, measures it, and keeps it only if it paid.
 */

const RING = 8;
/** Runs a cell needs before it may say a shape is slower than its neighbours suggest. */
const TRUSTED = 3;

/** Grid node k: 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, ... (powers of two and 1.5 x powers of two). */
export function gridNode(k: number): number {
  if (k <= 0) return 1;
  return k % 2 === 1 ? 2 ** ((k + 1) / 2) : 3 * 2 ** (k / 2 - 1);
}

// Predictions run in the scheduler's inner loop: the nodes, their logs and the log steps
// between them are tables.
const NODES = 100;
const NODE = Float64Array.from({ length: NODES }, (_, k) => gridNode(k));
const LOG_NODE = NODE.map(Math.log);
const INV_LOG_STEP = Float64Array.from({ length: NODES - 1 }, (_, k) => 1 / (LOG_NODE[k + 1]! - LOG_NODE[k]!));

/** The index k of the largest grid node <= x (x >= 1). */
export function gridIndex(x: number): number {
  if (x < 2) return 0;
  // p = floor(log2 x): by the leading zeros for integers that fit 32 bits.
  const p = x < 2147483648 ? 31 - Math.clz32(x) : Math.floor(Math.log2(x));
  // Nodes between 2^p and 2^(p+1): 2^p (index 2p - 1) and 3 x 2^(p-1) (index 2p).
  return x >= NODE[2 * p]! ? 2 * p : 2 * p - 1;
}

/** The index of the grid node nearest to x in log scale. */
function nearestIndex(x: number): number {
  const k = gridIndex(x);
  const lo = gridNode(k);
  const hi = gridNode(k + 1);
  return Math.log(x / lo) <= Math.log(hi / x) ? k : k + 1;
}

class Cell {
  readonly rows = new Float64Array(RING);
  readonly lens = new Float64Array(RING);
  readonly ms = new Float64Array(RING);
  count = 0;
  next = 0;
  /** Lower-quartile ratio of the stored runs to the base line (valid after refresh). */
  ratio = 1;
  /** Runs seen in all (not only those stored). */
  seen = 0;

  push(rows: number, len: number, ms: number): void {
    this.rows[this.next] = rows;
    this.lens[this.next] = len;
    this.ms[this.next] = ms;
    this.next = (this.next + 1) % RING;
    if (this.count < RING) this.count++;
    this.seen++;
  }
}

export interface CostModelCell {
  /** The cell's node: rows and padded row length. */
  readonly rows: number;
  readonly length: number;
  /** Predicted ms of a batch of exactly that shape. */
  readonly ms: number;
  /** Measured ratio to the base line (median of the cell's last runs). */
  readonly ratio: number;
  /** Runs measured in this cell. */
  readonly samples: number;
}

export interface CostModelSnapshot {
  /** Runs learned from (warm-up included). */
  readonly samples: number;
  /** The base line: fixedMs + perTokenMs x rows x length. */
  readonly fixedMs: number;
  readonly perTokenMs: number;
  /** The measured cells. */
  readonly cells: readonly CostModelCell[];
  /**
   * For each length with cells measured at least 3 times: of those row counts (and 1), the
   * one the model expects to serve the most rows per ms, with that batch's predicted ms and
   * its cost per row relative to a single row.
   */
  readonly bestRows: readonly { readonly length: number; readonly rows: number; readonly ms: number; readonly perRowVsSingle: number }[];
}

export class CostModel {
  readonly #cells = new Map<number, Cell>();
  /** Batches run per length node. */
  readonly #perLength = new Map<number, number>();
  /** Cells with runs added since their ratio was last computed. */
  readonly #changed = new Set<Cell>();
  #samples = 0;
  /** Runs since the field was last rebuilt. */
  #sinceRefresh = 0;
  /** Samples when the base line was last fitted. */
  #fittedAt = 0;
  #dirty = false;
  #fixed = 0;
  #perToken = 0;
  /** Dense log-ratio field over [0, #rowsK] x [0, #lenK], rebuilt when dirty. */
  #field: Float64Array = new Float64Array(0);
  readonly #scratch = new Float64Array(RING);
  #rowsK = 0;
  #lenK = 0;

  /** `maxRows` bounds the grid along rows and the search of snapshot().bestRows. */
  constructor(readonly maxRows: number) {}

  get samples(): number {
    return this.#samples;
  }

  /** Whether the model has measured anything (before that, predict() returns NaN). */
  get ready(): boolean {
    return this.#samples > 0;
  }

  /** Learns that a batch of `rows` rows padded to `len` took `ms`. */
  observe(rows: number, len: number, ms: number): void {
    if (!(rows >= 1) || !(len >= 1) || !(ms > 0) || !Number.isFinite(ms)) return;
    const i = nearestIndex(rows);
    const j = nearestIndex(len);
    const key = i * 4096 + j;
    let cell = this.#cells.get(key);
    const fresh = cell === undefined;
    if (cell === undefined) this.#cells.set(key, (cell = new Cell()));
    cell.push(rows, len, ms);
    this.#changed.add(cell);
    this.#samples++;
    // Rebuilding the field after every run would cost more than the decisions it serves
    // (microseconds per batch of one): rebuild when a cell appears or becomes trusted, and
    // otherwise every 8th run.
    if (fresh || cell.count === TRUSTED || ++this.#sinceRefresh >= 8) this.#dirty = true;
  }

  /** Counts a batch run at padded length `len`, learned from or not. */
  countRun(len: number): void {
    if (!(len >= 1)) return;
    const j = nearestIndex(len);
    this.#perLength.set(j, (this.#perLength.get(j) ?? 0) + 1);
  }

  /** Batches run at the length node nearest to `len` (any rows; see countRun). */
  runsAtLength(len: number): number {
    return this.#perLength.get(nearestIndex(len)) ?? 0;
  }

  /** Runs measured in the cell nearest to (rows, len). */
  samplesNear(rows: number, len: number): number {
    return this.#cells.get(nearestIndex(rows) * 4096 + nearestIndex(len))?.seen ?? 0;
  }

  /** The predicted ms of a batch of `rows` rows padded to `len`; NaN before any run was measured. */
  predict(rows: number, len: number): number {
    if (this.#samples === 0) return NaN;
    if (this.#dirty) this.#refresh();
    const base = this.#fixed + this.#perToken * rows * len;
    return base * Math.exp(this.#logRatio(rows, len));
  }

  #logRatio(rows: number, len: number): number {
    const rk = this.#rowsK;
    const lk = this.#lenK;
    let i = gridIndex(rows);
    let j = gridIndex(len);
    let wr = 0;
    let wl = 0;
    if (i >= rk) i = rk;
    else wr = (Math.log(rows) - LOG_NODE[i]!) * INV_LOG_STEP[i]!;
    if (j >= lk) j = lk;
    else wl = (Math.log(len) - LOG_NODE[j]!) * INV_LOG_STEP[j]!;
    const f = this.#field;
    const w = lk + 1;
    const i1 = i < rk ? i + 1 : i;
    const j1 = j < lk ? j + 1 : j;
    const a = f[i * w + j]!;
    const b = f[i * w + j1]!;
    const c = f[i1 * w + j]!;
    const d = f[i1 * w + j1]!;
    return (1 - wr) * ((1 - wl) * a + wl * b) + wr * ((1 - wl) * c + wl * d);
  }

  /**
   * Recomputes the ratios of the cells that changed and rebuilds the dense field. The base
   * line is refitted (and with it every ratio) only as the runs grow by an eighth, so that a
   * prediction after each batch stays cheap.
   */
  #refresh(): void {
    this.#dirty = false;
    this.#sinceRefresh = 0;
    const refit = this.#samples - this.#fittedAt >= Math.max(4, this.#fittedAt / 8) || this.#fittedAt === 0;
    if (refit) {
      this.#fitBase();
      this.#fittedAt = this.#samples;
    }
    const fixed = this.#fixed;
    const perToken = this.#perToken;
    let rk = gridIndex(Math.max(1, this.maxRows));
    let lk = 0;
    const scratch = this.#scratch;
    for (const [key, cell] of this.#cells) {
      const i = Math.floor(key / 4096);
      const j = key % 4096;
      if (i > rk) rk = i;
      if (j > lk) lk = j;
      if (!refit && !this.#changed.has(cell)) continue;
      for (let s = 0; s < cell.count; s++) scratch[s] = cell.ms[s]! / (fixed + perToken * cell.rows[s]! * cell.lens[s]!);
      cell.ratio = lowerQuartile(scratch, cell.count);
    }
    this.#changed.clear();
    // Cells measured far from their node still describe it: extend the grid one node past
    // the largest measured so that points just beyond interpolate instead of clamping.
    rk += 1;
    lk += 1;
    this.#rowsK = rk;
    this.#lenK = lk;
    const w = lk + 1;
    const trusted = fillField(this.#cells, rk, lk, (c) => c.count >= TRUSTED);
    const field = fillField(this.#cells, rk, lk, () => true);
    if (trusted !== null && field !== null) {
      // Cells with few runs may be faster than their trusted neighbours suggest, not slower.
      for (const [key, cell] of this.#cells) {
        if (cell.count >= TRUSTED) continue;
        const at = Math.floor(key / 4096) * w + (key % 4096);
        field[at] = Math.min(field[at]!, trusted[at]!);
      }
    }
    this.#field = field!;
  }

  /**
   * Least squares of ms ~ fixed + perToken x tokens on relative error over the stored runs,
   * both coefficients kept >= 0, fitted twice: the second time without the runs more than
   * 1.5 x slower than the first fit (noise on a shared machine only slows runs down). With
   * a single batch shape the split is not identifiable; half of the cost is then taken to
   * be fixed, which makes a larger batch look worth trying.
   */
  #fitBase(): void {
    this.#fitPass(Infinity);
    if (this.#fixed + this.#perToken > 0) this.#fitPass(1.5);
  }

  #fitPass(maxRatio: number): void {
    const f0 = this.#fixed;
    const k0 = this.#perToken;
    let sw = 0;
    let st = 0;
    let stt = 0;
    let sc = 0;
    let stc = 0;
    let tMin = Infinity;
    let tMax = 0;
    let any = 0;
    for (const cell of this.#cells.values()) {
      for (let s = 0; s < cell.count; s++) {
        const t = cell.rows[s]! * cell.lens[s]!;
        const c = cell.ms[s]!;
        if (maxRatio < Infinity && c > maxRatio * (f0 + k0 * t)) continue;
        const w = 1 / (c * c);
        sw += w;
        st += w * t;
        stt += w * t * t;
        sc += w * c;
        stc += w * t * c;
        if (t < tMin) tMin = t;
        if (t > tMax) tMax = t;
        any = c;
      }
    }
    if (sw === 0) return;
    if (tMax < tMin * 1.2) {
      const meanC = sc / sw;
      const meanT = st / sw;
      this.#fixed = meanC / 2;
      this.#perToken = meanC / 2 / meanT;
      return;
    }
    const det = sw * stt - st * st;
    let fixed = (stt * sc - st * stc) / det;
    let perToken = (sw * stc - st * sc) / det;
    if (!(fixed >= 0)) {
      fixed = 0;
      perToken = stc / stt;
    }
    if (!(perToken >= 0)) {
      perToken = 0;
      fixed = sc / sw;
    }
    // Keep the base line positive so ratios stay finite.
    if (!(fixed + perToken > 0)) {
      fixed = any;
      perToken = 0;
    }
    this.#fixed = fixed;
    this.#perToken = perToken;
  }

  snapshot(): CostModelSnapshot {
    if (this.#samples === 0) return { samples: 0, fixedMs: 0, perTokenMs: 0, cells: [], bestRows: [] };
    if (this.#dirty || this.#sinceRefresh > 0) this.#refresh();
    const cells: CostModelCell[] = [];
    // Per length node, the row nodes measured often enough to trust.
    const trusted = new Map<number, number[]>();
    for (const [key, cell] of this.#cells) {
      const rows = gridNode(Math.floor(key / 4096));
      const length = gridNode(key % 4096);
      cells.push({ rows, length, ms: this.predict(rows, length), ratio: cell.ratio, samples: cell.seen });
      if (cell.count >= TRUSTED) {
        let list = trusted.get(length);
        if (list === undefined) trusted.set(length, (list = []));
        list.push(rows);
      }
    }
    cells.sort((a, b) => a.length - b.length || a.rows - b.rows);
    const bestRows = [...trusted.keys()]
      .sort((a, b) => a - b)
      .map((length) => {
        const single = this.predict(1, length);
        let rows = 1;
        let best = length / single;
        for (const n of trusted.get(length)!) {
          const eff = (n * length) / this.predict(n, length);
          if (eff > best) {
            best = eff;
            rows = n;
          }
        }
        const ms = this.predict(rows, length);
        return { length, rows, ms, perRowVsSingle: ms / rows / single };
      });
    return { samples: this.#samples, fixedMs: this.#fixed, perTokenMs: this.#perToken, cells, bestRows };
  }
}

function lowerQuartile(a: Float64Array, n: number): number {
  const v = a.subarray(0, n).sort();
  return v[(n - 1) >> 2]!;
}

/**
 * The dense log-ratio field over [0, rk] x [0, lk] from the cells that pass `use`: measured
 * cells as they are, the others from the nearest used cell along rows in their length
 * column, then whole columns from the nearest column with any. Null when no cell is used.
 */
function fillField(cells: Map<number, Cell>, rk: number, lk: number, use: (c: Cell) => boolean): Float64Array | null {
  const w = lk + 1;
  const field = new Float64Array((rk + 1) * w);
  const known = new Uint8Array((rk + 1) * w);
  let any = false;
  for (const [key, cell] of cells) {
    if (!use(cell)) continue;
    const at = Math.floor(key / 4096) * w + (key % 4096);
    field[at] = Math.log(cell.ratio);
    known[at] = 1;
    any = true;
  }
  if (!any) return null;
  const columnKnown = new Uint8Array(w);
  const nearest = new Int32Array(rk + 1);
  for (let j = 0; j < w; j++) {
    let last = -1;
    for (let i = 0; i <= rk; i++) {
      if (known[i * w + j]) last = i;
      nearest[i] = last;
    }
    let next = -1;
    for (let i = rk; i >= 0; i--) {
      if (known[i * w + j]) next = i;
      const p = nearest[i]!;
      if (p < 0 && next < 0) continue;
      const from = p < 0 ? next : next < 0 ? p : i - p <= next - i ? p : next;
      field[i * w + j] = field[from * w + j]!;
      columnKnown[j] = 1;
    }
  }
  for (let j = 0; j < w; j++) {
    if (columnKnown[j]) continue;
    let from = -1;
    for (let d = 1; d < w && from < 0; d++) {
      if (j - d >= 0 && columnKnown[j - d]) from = j - d;
      else if (j + d < w && columnKnown[j + d]) from = j + d;
    }
    if (from < 0) continue;
    for (let i = 0; i <= rk; i++) field[i * w + j] = field[i * w + from]!;
  }
  return field;
}

/**
 * How much the batches in flight hold up a new one, learned from overlapping runs: 0 when the
 * session runs them side by side (separate cores or devices), 1 when it runs them one after
 * another (one execution queue), in between when they share. A batch launched while others
 * run gives a sample: its latency beyond its own predicted cost (the excess), and how long
 * the earlier batches still ran after it was launched (the overlap). The estimate is the
 * ratio of the two sums, recent samples weighing most (over about 16 batches), so a long
 * overlap counts for more than a short one whose excess is mostly prediction error.
 */
export class OverlapEstimator {
  #excess = 0;
  #overlap = 0;
  #samples = 0;
  /** Batches finished since the last sample. */
  #since = 0;

  /** The estimate, within [0, 1]. */
  get value(): number {
    return this.#overlap > 0 ? Math.min(1, Math.max(0, this.#excess / this.#overlap)) : 0;
  }

  get samples(): number {
    return this.#samples;
  }

  /** Whether the estimate has seen enough and sits clearly at one end (below 0.15 or above 0.85). */
  get settled(): boolean {
    const v = this.value;
    return this.#samples >= 16 && (v < 0.15 || v > 0.85);
  }

  /**
   * The estimate as the hold rule uses it: below 0.7 it counts as 0. Holding a batch back
   * only pays on a session that runs batches one after another; where they share the
   * machine (two workers on shared cores: 0.3-0.5), two running at once still serve more
   * than one, and holding would idle a context.
   */
  get forHolds(): number {
    const v = this.value;
    return v < 0.7 ? 0 : v;
  }

  /** Batches finished since the estimate last learned something. */
  get staleness(): number {
    return this.#since;
  }

  tick(): void {
    this.#since++;
  }

  /** One overlapping batch: its latency, its predicted own cost, and how long earlier batches ran after its launch. */
  observe(latencyMs: number, ownMs: number, overlapMs: number): void {
    if (!(overlapMs > 0) || !Number.isFinite(ownMs)) return;
    // Not clamped to [0, overlap]: errors of the predicted own cost go both ways, and
    // clamping them would bias the estimate away from 0 and 1. Only wild samples are cut.
    const excess = Math.min(1.5 * overlapMs, Math.max(-0.5 * overlapMs, latencyMs - ownMs));
    const keep = this.#samples < 16 ? 1 : 15 / 16;
    this.#excess = this.#excess * keep + excess;
    this.#overlap = this.#overlap * keep + overlapMs;
    this.#samples++;
    this.#since = 0;
  }
}
