/**
 * Scheduling: which group sends a batch now, with how many of its requests, or when to look
 * again. Pure functions over the queued groups: they read the queues and return a decision;
 * the lifecycle (batcher.ts) carries it out.
 */
import type { Group } from './request.js';

/** Triton's batch-forming options, normalised. */
export interface TritonRules {
  readonly maxBatch: number;
  /** preferred[n] === 1 when n is a preferred batch size. */
  readonly preferred: Uint8Array;
  /** The largest preferred size, else maxBatch. */
  readonly maxPreferred: number;
  readonly delayMs: number;
  /** Most padded tokens (rows x the longest padded row length) in a batch; a lone request may exceed it. */
  readonly maxTokens: number;
}

/** What one group can do now. */
export interface GroupPlan {
  /** Requests to send now (the first `n` in priority, then arrival, order); 0 = wait. */
  readonly n: number;
  /** Their rows. */
  readonly rows: number;
  /** With n = 0: when the group's oldest request has waited the queue delay (Infinity: never by itself). */
  readonly wake: number;
  /** Index (0 = highest) of the highest priority level queued in the group. */
  readonly level: number;
  /** Arrival time of the group's oldest queued request. */
  readonly oldest: number;
}

/** The decision over all groups: send `n` requests of `group`, or (group null) look again at `wake`. */
export interface Decision {
  readonly group: Group | null;
  readonly n: number;
  readonly rows: number;
  readonly wake: number;
}

/**
 * Triton's batch-forming rule on one group: walk the queue in priority order while the
 * batch fits maxBatchSize; send the largest preferred size reached unless the delay has
 * expired; else send everything that fits if the batch is full, the delay is 0 or
 * expired, or the batcher is draining; else wait until the oldest request's delay ends.
 */
export function planTriton(g: Group, now: number, rules: TritonRules, draining: boolean): GroupPlan {
  const max = rules.maxBatch;
  const maxPref = rules.maxPreferred;
  const pref = rules.preferred;
  let sum = 0;
  let n = 0;
  let bestPref = 0;
  let bestPrefRows = 0;
  let capN = 0;
  let capRows = 0;
  let stopped = false;
  let oldest = Infinity;
  let level = -1;
  let longest = 0;
  const maxTokens = rules.maxTokens;
  const queues = g.queues;
  for (let q = 0; q < queues.length; q++) {
    const queue = queues[q]!;
    if (queue.live === 0) continue;
    const head = queue.peek()!;
    if (head.enqueuedAt < oldest) oldest = head.enqueuedAt;
    if (level < 0) level = q >> 1;
    if (stopped) continue;
    const span = queue.span;
    for (let i = 0; i < span; i++) {
      const r = queue.at(i);
      if (r === undefined) continue;
      const l = r.padRowLen > longest ? r.padRowLen : longest;
      if (sum + r.batch > max || (n > 0 && (sum + r.batch) * l > maxTokens)) {
        stopped = true;
        break;
      }
      longest = l;
      sum += r.batch;
      n++;
      if (pref[sum] === 1) {
        bestPref = n;
        bestPrefRows = sum;
      }
      if (sum <= maxPref) {
        capN = n;
        capRows = sum;
      }
    }
  }
  const delay = rules.delayMs;
  const expired = delay > 0 && now - oldest >= delay;
  if (bestPref === 0 && sum > maxPref && capN > 0) {
    bestPref = capN;
    bestPrefRows = capRows;
  }
  if (bestPref > 0 && !expired && !draining) return { n: bestPref, rows: bestPrefRows, wake: Infinity, level, oldest };
  if (stopped || sum >= maxPref || delay === 0 || expired || draining) return { n, rows: sum, wake: Infinity, level, oldest };
  return { n: 0, rows: 0, wake: oldest + delay, level, oldest };
}

/**
 * Picks the group to send now: of the groups that can send, the one whose best request has
 * the highest priority, then the oldest. When none can, the earliest time one will.
 */
export function chooseTriton(active: readonly Group[], now: number, rules: TritonRules, draining: boolean): Decision {
  let best: Group | null = null;
  let bestN = 0;
  let bestRows = 0;
  let bestLevel = Infinity;
  let bestOldest = Infinity;
  let wake = Infinity;
  for (let i = 0; i < active.length; i++) {
    const g = active[i]!;
    const plan = planTriton(g, now, rules, draining);
    if (plan.n === 0) {
      if (plan.wake < wake) wake = plan.wake;
      continue;
    }
    if (plan.level < bestLevel || (plan.level === bestLevel && plan.oldest < bestOldest)) {
      best = g;
      bestN = plan.n;
      bestRows = plan.rows;
      bestLevel = plan.level;
      bestOldest = plan.oldest;
    }
  }
  return { group: best, n: bestN, rows: bestRows, wake: best === null ? wake : Infinity };
}

/** What the cost search needs of a queued request. */
export interface CostCandidate {
  /** Rows (the request's batch dim). */
  readonly batch: number;
  /** Elements of one row along the padded dims (1 when nothing is padded). */
  readonly rowLen: number;
  /** Per padded dim, the request's length. */
  readonly lens: readonly number[];
  readonly enqueuedAt: number;
}

/** Batch limits of the cost search. */
export interface CostLimits {
  /** Most rows in a batch. */
  readonly maxRows: number;
  /** Most padded tokens (rows x padded row length) in a batch; a lone request may exceed it. */
  readonly maxTokens: number;
}

/** The predicted ms of a batch of `rows` rows padded to row length `len`; NaN when unknown. */
export type CostFn = (rows: number, len: number) => number;

/** The batch the cost search picked. */
export interface Selection {
  /** Indices into the candidate list, the anchor first. */
  readonly picked: readonly number[];
  readonly rows: number;
  /** Padded row length of the batch (the product of its padded lengths). */
  readonly paddedLen: number;
  /** Predicted ms (NaN while the model knows nothing: then the batch was formed greedily). */
  readonly predictedMs: number;
  /** The requests' own tokens, and what running each of them alone would cost (predicted ms). */
  readonly realTokens: number;
  readonly apartMs: number;
  /** Whether no further request could join (rows or token budget reached). */
  readonly full: boolean;
}

/** Most padded lengths tried as the batch's longest per decision; more are thinned out geometrically. */
const MAX_LENGTH_CHOICES = 16;
const GAIN_MARGIN = 1.05;
const STEP_MARGIN = 1.01;
/** Most candidates one decision looks at (the oldest ones of the queue). */
export const MAX_CANDIDATES = 4096;

/**
 * The cost rule: of the batches that hold the anchor (the request that has waited longest at
 * the highest priority) and fit the limits, the one with the greatest speed-up over running
 * its requests one by one: the sum of their predicted costs alone over the predicted cost of
 * the batch. That is the most work served per ms, with each request's work weighed by what it
 * costs alone (a short request's share of a run's fixed cost counts, not only its tokens), and
 * it is never below 1: no batch costs more than running its requests apart. Serving every
 * queued request for the least total time favours batches that waste the least of what they
 * share; maximising real tokens per ms instead would pad short requests into long batches.
 *
 * For a given longest padded length, the best companions are the longest requests that are
 * not longer (they waste the least padding), so the search sorts the candidates by row
 * length and, for each choice of longest length, adds requests from that length down while
 * tracking the predicted costs. The anchor makes the batcher fair: every request is the
 * anchor once it is the oldest, so none waits behind a stream of better-fitting ones.
 *
 * Before the model has measured anything, the batch is formed greedily in arrival order (as
 * Triton does with no delay), which also gives the model its first, largest sample.
 */
export function selectByCost(cands: readonly CostCandidate[], anchor: number, padTo: readonly number[] | null, cost: CostFn, limits: CostLimits): Selection {
  if (cands.length > MAX_CANDIDATES) cands = cands.slice(0, MAX_CANDIDATES);
  const a = cands[anchor]!;
  const nDims = a.lens.length;
  const maxRows = limits.maxRows;
  const maxTokens = limits.maxTokens;
  const maxLens = new Float64Array(nDims);
  const padded = (): number => {
    let p = 1;
    for (let d = 0; d < nDims; d++) p *= padTo !== null && padTo[d]! >= 0 ? padTo[d]! : maxLens[d]!;
    return p;
  };
  const resetLens = (): void => {
    for (let d = 0; d < nDims; d++) maxLens[d] = a.lens[d]!;
  };
  /** Whether `c` fits a batch of `rows` rows; updates maxLens when it does. */
  const tryAdd = (c: CostCandidate, rows: number): boolean => {
    if (rows + c.batch > maxRows) return false;
    let p = 1;
    for (let d = 0; d < nDims; d++) {
      const l = padTo !== null && padTo[d]! >= 0 ? padTo[d]! : Math.max(maxLens[d]!, c.lens[d]!);
      p *= l;
    }
    if ((rows + c.batch) * p > maxTokens) return false;
    for (let d = 0; d < nDims; d++) if (c.lens[d]! > maxLens[d]!) maxLens[d] = c.lens[d]!;
    return true;
  };

  resetLens();
  const aloneA = cost(a.batch, padded());
  if (cands.length === 1) {
    // One request queued (concurrency 1): nothing to choose.
    const len = padded();
    return {
      picked: [anchor],
      rows: a.batch,
      paddedLen: len,
      predictedMs: aloneA,
      realTokens: a.batch * a.rowLen,
      apartMs: aloneA,
      full: isFull(a.batch, len, limits),
    };
  }
  if (Number.isNaN(aloneA)) {
    // Nothing measured yet: arrival order, as much as fits.
    const picked = [anchor];
    let rows = a.batch;
    let real = a.batch * a.rowLen;
    for (let i = 0; i < cands.length; i++) {
      if (i === anchor) continue;
      const c = cands[i]!;
      if (!tryAdd(c, rows)) continue;
      picked.push(i);
      rows += c.batch;
      real += c.batch * c.rowLen;
    }
    return { picked, rows, paddedLen: padded(), predictedMs: NaN, realTokens: real, apartMs: NaN, full: isFull(rows, padded(), limits) };
  }

  // Candidates by row length, ties newest first (candidates come oldest first), so the
  // oldest of equals is taken first when walking down from the end. Packed into numbers so
  // that the sort is the typed array's own, without a comparator.
  const K = cands.length;
  const keys = new Float64Array(K);
  for (let i = 0; i < K; i++) keys[i] = cands[i]!.rowLen * MAX_CANDIDATES + (MAX_CANDIDATES - 1 - i);
  keys.sort();
  const order = new Int32Array(K);
  let p = 0;
  for (let k = 0; k < K; k++) {
    const i = MAX_CANDIDATES - 1 - (keys[k]! % MAX_CANDIDATES);
    order[k] = i;
    if (i === anchor) p = k;
  }
  // Each request's predicted cost alone (equal shapes are adjacent: predicted once).
  const alone = new Float64Array(K);
  for (let k = 0, lastRows = -1, lastLen = -1, last = 0; k < K; k++) {
    const i = order[k]!;
    const c = cands[i]!;
    const len = padTo === null ? c.rowLen : padRowLen(c, padTo);
    if (c.batch !== lastRows || len !== lastLen) {
      last = i === anchor ? aloneA : cost(c.batch, len);
      lastRows = c.batch;
      lastLen = len;
    }
    alone[i] = last;
  }
  alone[anchor] = aloneA;

  // Choices of the batch's longest request: the end of each run of equal lengths at or past
  // the anchor, thinned geometrically when there are many.
  const ends: number[] = [];
  for (let k = p; k < order.length; k++) {
    if (k === order.length - 1 || cands[order[k + 1]!]!.rowLen !== cands[order[k]!]!.rowLen) ends.push(k);
  }
  let choices = ends;
  if (ends.length > MAX_LENGTH_CHOICES) {
    const lo = cands[order[ends[0]!]!]!.rowLen;
    const hi = cands[order[ends[ends.length - 1]!]!]!.rowLen;
    const step = Math.pow(hi / lo, 1 / (MAX_LENGTH_CHOICES - 1));
    choices = [ends[0]!];
    let next = lo * step;
    for (let k = 1; k < ends.length - 1; k++) {
      const len = cands[order[ends[k]!]!]!.rowLen;
      if (len >= next) {
        choices.push(ends[k]!);
        next = len * step;
      }
    }
    choices.push(ends[ends.length - 1]!);
  }

  // Predicted costs carry noise (a shared machine, a model still learning): a batch must be
  // predicted 5% faster than running its requests apart, and a larger one 1% better than the
  // best so far, before the batcher pays for it in padding and waiting.
  let bestGain = GAIN_MARGIN;
  let bestEnd = -1;
  let bestSteps = 0;
  for (let ci = 0; ci < choices.length; ci++) {
    const e = choices[ci]!;
    resetLens();
    let rows = a.batch;
    let apart = aloneA;
    let steps = 0;
    let nextEval = 1;
    const lastK = p === 0 ? 1 : 0;
    for (let k = e; k >= 0; k--) {
      if (k === p) continue;
      const idx = order[k]!;
      const c = cands[idx]!;
      if (!tryAdd(c, rows)) {
        if (rows >= maxRows) break;
        continue;
      }
      rows += c.batch;
      apart += alone[idx]!;
      steps++;
      // Evaluate every size while batches are small, then at steps of 1/8.
      if (rows < nextEval && k > lastK && rows < maxRows) continue;
      nextEval = rows <= 16 ? rows + 1 : Math.ceil(rows * 1.125);
      const gain = apart / cost(rows, padded());
      if (gain >= (bestEnd < 0 ? bestGain : bestGain * STEP_MARGIN)) {
        bestGain = gain;
        bestEnd = ci;
        bestSteps = steps;
      }
    }
  }

  // Replay the winning walk.
  resetLens();
  const picked = [anchor];
  let rows = a.batch;
  let real = a.batch * a.rowLen;
  let apart = aloneA;
  if (bestEnd >= 0) {
    let steps = 0;
    for (let k = choices[bestEnd]!; k >= 0 && steps < bestSteps; k--) {
      if (k === p) continue;
      const idx = order[k]!;
      const c = cands[idx]!;
      if (!tryAdd(c, rows)) continue;
      picked.push(idx);
      rows += c.batch;
      real += c.batch * c.rowLen;
      apart += alone[idx]!;
      steps++;
    }
  }
  const len = padded();
  return { picked, rows, paddedLen: len, predictedMs: cost(rows, len), realTokens: real, apartMs: apart, full: isFull(rows, len, limits) };
}

function padRowLen(c: CostCandidate, padTo: readonly number[]): number {
  let p = 1;
  for (let d = 0; d < c.lens.length; d++) p *= padTo[d]! >= 0 ? padTo[d]! : c.lens[d]!;
  return p;
}

function isFull(rows: number, paddedLen: number, limits: CostLimits): boolean {
  return rows >= limits.maxRows || (rows + 1) * paddedLen > limits.maxTokens;
}

/** What the hold rule needs of the batches in flight and of the session. */
export interface InflightState {
  /** Batches running now. */
  readonly count: number;
  /** The latest predicted end of a running batch (-Infinity when none). */
  readonly busyUntil: number;
  /** How much running batches hold up a new one: 0 side by side .. 1 one after another. */
  readonly serial: number;
  /** Time from deciding on a batch to the session having it, ms. */
  readonly handoverMs: number;
  /** Launch this fraction of the batch's own predicted cost early (see launchAt). */
  readonly leadFraction: number;
}

/**
 * The in-flight rule: a free slot does not mean the session can start a batch now. When the
 * running batches are predicted to hold a new one up (serial > 0), launching it now only
 * queues it inside the session, while waiting until it could start lets more requests join
 * at no cost in latency. It is launched a little early, by the handover time and by
 * `leadFraction` of its own predicted cost: a batch launched well before the one ahead ends
 * shows whether the session really makes it wait, which keeps the estimate of `serial`
 * learning. Returns when to launch: `now` to launch at once, else the time to look again
 * (the completion of a running batch also wakes the batcher; Infinity: only that).
 */
export function launchAt(now: number, sel: Selection, inflight: InflightState): number {
  if (inflight.count === 0 || sel.full || !(inflight.serial > 0)) return now;
  const ahead = inflight.busyUntil - now;
  // Running later than predicted on a session that runs one batch after another: it is
  // still busy, so wait for the completion (which wakes the batcher).
  if (!(ahead > 0)) return inflight.serial > 0.85 && Number.isFinite(inflight.busyUntil) ? Infinity : now;
  const lead = 2 * inflight.handoverMs + 0.05 + (sel.predictedMs > 0 ? inflight.leadFraction * sel.predictedMs : 0);
  const at = now + inflight.serial * ahead - lead;
  return at > now ? at : now;
}

/**
 * The queue-delay rule of the cost scheduler (used only with a maxQueueDelayMs budget): waiting
 * for more requests pays only while they arrive faster than the session would serve batches
 * of the current size, because then a larger batch serves more per ms and the queue would grow
 * otherwise; when the session keeps up, waiting only adds latency. Returns when to launch.
 */
export function waitForCompany(now: number, sel: Selection, anchorAt: number, delayMs: number, arrivalsPerMs: number): number {
  if (delayMs <= 0 || sel.full || !(sel.predictedMs > 0)) return now;
  const until = anchorAt + delayMs;
  if (until <= now) return now;
  const load = (arrivalsPerMs * sel.predictedMs) / sel.rows;
  return load > 1 ? until : now;
}
