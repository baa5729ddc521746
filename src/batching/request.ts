/**
 * The batcher's records: a queued request, the group of requests that may share a batch, and
 * a batch handed to the session. Plain classes with fixed fields so the hot path stays
 * monomorphic; the lifecycle (batcher.ts) owns every state change.
 */
import type { Feeds, Outputs } from '../session.js';
import { RequestQueue } from './queue.js';
import type { RequestOutputs } from './targets.js';

export const QUEUED = 0;
export const RUNNING = 1;
export const DONE = 2;

export const EMPTY: readonly number[] = Object.freeze([]);

export class Request {
  queue: RequestQueue<Request> | null = null;
  deadline = 0;
  state = QUEUED;
  delayOnTimeout = false;
  resolve!: (o: Outputs) => void;
  reject!: (e: unknown) => void;
  onAbort: (() => void) | null = null;
  signal: AbortSignal | undefined = undefined;
  /** BatcherRunOptions.outputs, checked: the outputs it asked for, and its tensors to fill. */
  outputs: RequestOutputs | undefined = undefined;
  group!: Group;
  constructor(
    readonly feeds: Feeds,
    readonly batch: number,
    /** Per padded dim (BatchLayout.dims), this request's length. */
    readonly lens: readonly number[],
    /** Elements of one row along the padded dims (the product of `lens`; 1 when nothing is padded). */
    readonly rowLen: number,
    /** The same with bucketed dims at their bucket's length: what one row of it costs in a batch at least. */
    readonly padRowLen: number,
    readonly level: number,
    readonly enqueuedAt: number,
  ) {}
}

export class Group {
  /** Per priority level, its FIFO, then the FIFO of its requests that timed out with 'delay'. */
  readonly queues: RequestQueue<Request>[];
  live = 0;
  activeIndex = -1;
  constructor(
    readonly key: string,
    /** Per padded dim, the bucket length, or null to pad to the longest request in the batch. */
    readonly padTo: readonly number[] | null,
    levels: number,
  ) {
    this.queues = [];
    for (let i = 0; i < levels * 2; i++) this.queues.push(new RequestQueue<Request>());
  }
}

export class Batch {
  startedAt = 0;
  /** Time spent gathering (and padding) the batch's inputs before session.run(), ms. */
  assembleMs = 0;
  size = 0;
  /** Per padded dim, the length the batch was padded to. */
  lens: readonly number[] = EMPTY;
  /** Over the padded inputs: elements that came from requests, and elements added as padding. */
  realElements = 0;
  paddedElements = 0;
  outputs: Outputs | undefined = undefined;
  error: unknown = undefined;
  /** The product of `lens` (1 when nothing is padded): the padded row length the cost model sees. */
  paddedLen = 1;
  /** The cost model's prediction of this batch's own run time (NaN before it has measured anything). */
  predictedMs = NaN;
  /** When it is predicted to finish, counting the batches it waits behind inside the session. */
  predictedEnd = 0;
  doneAt = 0;
  /** The batches running when this one was launched; cleared when it finishes. */
  ahead: Batch[] | null = null;
  constructor(
    readonly reqs: Request[],
    readonly seq: number,
  ) {}
}
