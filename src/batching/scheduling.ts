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
}

/** What one group can do now. */
export interface GroupPlan {
  /** Requests to send now (the first `n` in priority, then arrival, order); 0 = wait. */
  readonly n: number;
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
  let capN = 0;
  let stopped = false;
  let oldest = Infinity;
  let level = -1;
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
      if (sum + r.batch > max) {
        stopped = true;
        break;
      }
      sum += r.batch;
      n++;
      if (pref[sum] === 1) bestPref = n;
      if (sum <= maxPref) capN = n;
    }
  }
  const delay = rules.delayMs;
  const expired = delay > 0 && now - oldest >= delay;
  if (bestPref === 0 && sum > maxPref && capN > 0) bestPref = capN;
  if (bestPref > 0 && !expired && !draining) return { n: bestPref, wake: Infinity, level, oldest };
  if (stopped || sum >= maxPref || delay === 0 || expired || draining) return { n, wake: Infinity, level, oldest };
  return { n: 0, wake: oldest + delay, level, oldest };
}

/**
 * Picks the group to send now: of the groups that can send, the one whose best request has
 * the highest priority, then the oldest. When none can, the earliest time one will.
 */
export function chooseTriton(active: readonly Group[], now: number, rules: TritonRules, draining: boolean): Decision {
  let best: Group | null = null;
  let bestN = 0;
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
      bestLevel = plan.level;
      bestOldest = plan.oldest;
    }
  }
  return { group: best, n: bestN, wake: best === null ? wake : Infinity };
}
