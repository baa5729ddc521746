/**
 * The load generator: closed-loop (perf_analyzer's concurrency mode) and open-loop
 * (request-rate mode) runs of any `submit(feeds)`: a session's run(), a batcher's run().
 *
 * Both run a warm-up, then a measurement window of fixed length; the window's figures are
 * what is reported.
 *
 * Closed loop: `concurrency` workers each send a request, await it, send the next, until the
 * window ends. Requests that complete inside the window are counted: throughput is their
 * number over the window's length, latency is from send to completion. Requests still out
 * when the window ends are awaited (at most `concurrency` of them) and not counted.
 *
 * Open loop: requests are sent at the times of an arrival schedule, whether or not earlier
 * ones have completed. Latency is measured from each request's *scheduled* arrival, not from
 * when the generator got round to sending it, so a generator or event loop that falls
 * behind (onnxruntime-node runs the model on the JS thread) adds to the latency instead of
 * hiding it (coordinated omission). The measured requests are those scheduled inside the
 * window; they are awaited until `drainMs` after the window, and any still out then count
 * as incomplete, with the time they had waited as their latency (a lower bound). Achieved
 * throughput counts completions inside the window, so it is comparable with the offered rate.
 * At most `maxOutstanding` requests are out at once; arrivals beyond that are dropped and
 * counted, which bounds the backlog left when the window ends.
 */
import type { Feeds } from '../session.js';
import { Samples } from './stats.js';

export type Submit = (feeds: Feeds) => Promise<unknown>;

/** Called at the instants the measurement window opens and closes (e.g. to read counters). */
export interface WindowHooks {
  onWindowStart?: () => void;
  onWindowEnd?: () => void;
}

export interface ClosedLoopOptions extends WindowHooks {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
}

export interface OpenLoopOptions extends WindowHooks {
  /** Arrival times in ms from the start, ascending, covering warm-up and window. */
  arrivals: Float64Array;
  warmupMs: number;
  durationMs: number;
  /** How long after the window the measured requests are awaited. */
  drainMs: number;
  maxOutstanding: number;
}

export interface LoadResult {
  readonly mode: 'closed-loop' | 'open-loop';
  readonly windowMs: number;
  /** Measured requests that succeeded. */
  readonly completed: number;
  /** Successful completions inside the window (closed loop: = completed). */
  readonly completedInWindow: number;
  /** Latency of each successful (and, open loop, incomplete) measured request, ms. */
  readonly latencyMs: Float64Array;
  /** Host time spent inside submit() before it returned its promise, per measured request, ms. */
  readonly enqueueMs: Float64Array;
  readonly errors: number;
  readonly firstError: string | null;
  /** The errors by message, most frequent first: at most ERROR_KINDS distinct ones, the rest as one "other" entry. */
  readonly errorSummary: readonly ErrorCount[];
  /** Open loop: measured arrivals not sent because maxOutstanding requests were out. */
  readonly dropped: number;
  /** Open loop: measured requests still out `drainMs` after the window. */
  readonly incomplete: number;
  /** Open loop: measured arrivals (sent or dropped). */
  readonly offered: number | null;
  /** Open loop: how late each measured request was sent after its scheduled time, ms. */
  readonly sendLagMs: Float64Array | null;
}

export interface ErrorCount {
  readonly message: string;
  readonly count: number;
}

/** Distinct error messages kept per window; a failing run repeats one or two messages thousands of times. */
export const ERROR_KINDS = 5;

/** Counts errors by message, keeping the first ERROR_KINDS distinct messages. */
export class ErrorTally {
  readonly #counts = new Map<string, number>();
  #other = 0;
  #total = 0;
  #first: string | null = null;

  add(e: unknown): void {
    const m = describeError(e);
    this.#total++;
    this.#first ??= m;
    const n = this.#counts.get(m);
    if (n !== undefined) this.#counts.set(m, n + 1);
    else if (this.#counts.size < ERROR_KINDS) this.#counts.set(m, 1);
    else this.#other++;
  }

  get total(): number {
    return this.#total;
  }

  get first(): string | null {
    return this.#first;
  }

  summary(): ErrorCount[] {
    const out = [...this.#counts].map(([message, count]) => ({ message, count })).sort((a, b) => b.count - a.count);
    if (this.#other > 0) out.push({ message: `(other messages)`, count: this.#other });
    return out;
  }
}

function describeError(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown } | null;
  if (err !== null && typeof err === 'object' && typeof err.message === 'string') {
    return typeof err.code === 'string' ? `${err.code}: ${err.message}` : err.message;
  }
  return String(e);
}

function call(submit: Submit, feeds: Feeds): Promise<unknown> {
  try {
    return submit(feeds);
  } catch (e) {
    return Promise.reject(e);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Each hook once: from its timer, or from endWindow when the timer had not fired yet. */
function onceHooks(o: WindowHooks): { start: () => void; end: () => void } {
  let started = false;
  let ended = false;
  return {
    start: () => {
      if (started) return;
      started = true;
      o.onWindowStart?.();
    },
    end: () => {
      if (ended) return;
      ended = true;
      o.onWindowEnd?.();
    },
  };
}

/**
 * Waits out the window and makes sure both hooks ran: a timer due at the window's end can
 * still be pending after a setImmediate turn (timers run at the next loop iteration, against
 * libuv's cached clock), e.g. when the last request completed from a worker thread's message.
 */
async function endWindow(
  windowEnd: number,
  startTimer: NodeJS.Timeout,
  endTimer: NodeJS.Timeout,
  hooks: { start: () => void; end: () => void },
): Promise<void> {
  const left = windowEnd - performance.now();
  if (left > 0) await sleep(left + 1);
  await turn();
  clearTimeout(startTimer);
  clearTimeout(endTimer);
  hooks.start();
  hooks.end();
}

function assertPool(pool: readonly Feeds[]): void {
  if (pool.length === 0) throw new RangeError('the request pool is empty');
}

export async function closedLoop(submit: Submit, pool: readonly Feeds[], o: ClosedLoopOptions): Promise<LoadResult> {
  assertPool(pool);
  const latency = new Samples();
  const enqueue = new Samples();
  const errors = new ErrorTally();
  let next = 0;
  const t0 = performance.now();
  const ws = t0 + o.warmupMs;
  const we = ws + o.durationMs;
  const hooks = onceHooks(o);
  const startTimer = setTimeout(hooks.start, o.warmupMs);
  const endTimer = setTimeout(hooks.end, o.warmupMs + o.durationMs);
  const worker = async (): Promise<void> => {
    for (;;) {
      const s = performance.now();
      if (s >= we) return;
      const p = call(submit, pool[next++ % pool.length]!);
      const q = performance.now();
      try {
        await p;
        const end = performance.now();
        if (end >= ws && end < we) {
          latency.push(end - s);
          enqueue.push(q - s);
        }
      } catch (e) {
        const end = performance.now();
        if (end >= ws && end < we) errors.add(e);
        // A target that rejects at once would otherwise spin on microtasks and starve timers.
        await turn();
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  // Workers stop at the window's end by the clock; the hooks' timers may not have run yet
  // when every worker finished on a synchronous rejection.
  await endWindow(we, startTimer, endTimer, hooks);
  return {
    mode: 'closed-loop',
    windowMs: o.durationMs,
    completed: latency.length,
    completedInWindow: latency.length,
    latencyMs: latency.values().slice(),
    enqueueMs: enqueue.values().slice(),
    errors: errors.total,
    firstError: errors.first,
    errorSummary: errors.summary(),
    dropped: 0,
    incomplete: 0,
    offered: null,
    sendLagMs: null,
  };
}

export async function openLoop(submit: Submit, pool: readonly Feeds[], o: OpenLoopOptions): Promise<LoadResult> {
  assertPool(pool);
  const arrivals = o.arrivals;
  const n = arrivals.length;
  const latency = new Samples();
  const enqueue = new Samples();
  const lag = new Samples();
  const errors = new ErrorTally();
  let dropped = 0;
  let offered = 0;
  let completed = 0;
  let completedInWindow = 0;
  let outstanding = 0;
  let censored = false;
  /** Measured requests still out: scheduled time by index. */
  const open = new Map<number, number>();
  const settled = new Set<Promise<void>>();
  let wakeDrain: (() => void) | undefined;

  // A short lead so the first arrivals are not already late when the loop starts.
  const t0 = performance.now() + 2;
  const ws = t0 + o.warmupMs;
  const we = ws + o.durationMs;
  const windowEndOffset = o.warmupMs + o.durationMs;
  const hooks = onceHooks(o);
  const startTimer = setTimeout(hooks.start, Math.max(0, ws - performance.now()));
  const endTimer = setTimeout(hooks.end, Math.max(0, we - performance.now()));

  const fire = (i: number): void => {
    const offset = arrivals[i]!;
    const scheduled = t0 + offset;
    const measured = offset >= o.warmupMs && offset < windowEndOffset;
    if (measured) offered++;
    if (outstanding >= o.maxOutstanding) {
      if (measured) dropped++;
      return;
    }
    outstanding++;
    const s = performance.now();
    const p = call(submit, pool[i % pool.length]!);
    const q = performance.now();
    if (measured) {
      lag.push(s - scheduled);
      enqueue.push(q - s);
      open.set(i, scheduled);
    }
    const done = p.then(
      () => {
        const end = performance.now();
        outstanding--;
        if (end >= ws && end < we) completedInWindow++;
        if (measured && !censored) {
          open.delete(i);
          latency.push(end - scheduled);
          completed++;
        }
      },
      (e: unknown) => {
        const end = performance.now();
        outstanding--;
        if (measured && !censored) {
          open.delete(i);
          errors.add(e);
        }
        void end;
      },
    );
    settled.add(done);
    void done.then(() => {
      settled.delete(done);
      if (open.size === 0) wakeDrain?.();
    });
  };

  await new Promise<void>((resolve) => {
    let i = 0;
    const pump = (): void => {
      const now = performance.now();
      while (i < n && t0 + arrivals[i]! <= now) fire(i++);
      if (i >= n) {
        resolve();
        return;
      }
      const left = t0 + arrivals[i]! - performance.now();
      // Timers are coarse (about 1 ms); poll turns for the last stretch.
      if (left > 2) setTimeout(pump, Math.floor(left - 1.5));
      else setImmediate(pump);
    };
    pump();
  });

  // Measured requests get until drainMs after the window; the rest are censored.
  const deadline = we + o.drainMs;
  if (open.size > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - performance.now()));
      wakeDrain = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  let incomplete = 0;
  if (open.size > 0) {
    const at = performance.now();
    censored = true;
    for (const scheduled of open.values()) {
      latency.push(at - scheduled);
      incomplete++;
    }
    open.clear();
  }
  // Whatever is still out (bounded by maxOutstanding) settles before the next run starts, so
  // it does not load the next configuration.
  await Promise.all(settled);
  await endWindow(we, startTimer, endTimer, hooks);
  return {
    mode: 'open-loop',
    windowMs: o.durationMs,
    completed,
    completedInWindow,
    latencyMs: latency.values().slice(),
    enqueueMs: enqueue.values().slice(),
    errors: errors.total,
    firstError: errors.first,
    errorSummary: errors.summary(),
    dropped,
    incomplete,
    offered,
    sendLagMs: lag.values().slice(),
  };
}
