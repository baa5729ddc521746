/**
 * Static batching, the baseline continuous batching is measured against: a batch of requests is
 * prefilled together (left-padded to the longest prompt) and decoded step after step, every row
 * in every step, until its longest request is done, as Hugging Face's generate() does with a
 * padded batch; rows that finished early are computed and thrown away, and requests that come
 * meanwhile wait for the next batch. Greedy only: it serves the benchmarks.
 */
import { InvalidArgumentError } from '../errors.js';
import type { InferenceSession } from '../session.js';
import { decodeFeeds, lastLogits, prefillFeeds, presentCache } from './batch-cache.js';
import { detectDecoder, type DecoderIO } from './decoder-io.js';
import { argmax } from './sampling.js';

export interface StaticRequest {
  readonly prompt: ArrayLike<number>;
  readonly maxNewTokens: number;
  /** Called as each of this request's tokens is made. */
  readonly onToken?: (token: number) => void;
}

/** Runs one static batch; resolves with each request's tokens when the whole batch is done. */
export async function generateStaticBatch(session: InferenceSession, io: DecoderIO, requests: readonly StaticRequest[]): Promise<number[][]> {
  const rows = requests.length;
  if (rows === 0) return [];
  const prompts = requests.map((r) => Int32Array.from(r.prompt));
  const out: number[][] = requests.map(() => []);
  const { feeds, width } = prefillFeeds(io, prompts);
  let result = await session.run(feeds);
  let cache = presentCache(io, result, rows, width);
  const lens = new Int32Array(prompts.map((p) => p.length));
  const last = new Int32Array(rows);
  let steps = 0;
  for (const r of requests) steps = Math.max(steps, r.maxNewTokens);
  for (let step = 0; ; step++) {
    const { values, vocab } = lastLogits(io, result, rows);
    for (let r = 0; r < rows; r++) {
      const t = argmax(values, r * vocab, vocab);
      last[r] = t;
      if (out[r]!.length < requests[r]!.maxNewTokens) {
        out[r]!.push(t);
        requests[r]!.onToken?.(t);
      }
    }
    if (step + 1 >= steps) break;
    result = await session.run(decodeFeeds(io, cache, last, lens));
    for (let r = 0; r < rows; r++) lens[r]!++;
    cache = presentCache(io, result, rows, cache.width + 1);
  }
  return out;
}

/** A server of static batches: up to maxBatchSize waiting requests form the next batch once the running one is done. */
export class StaticBatchServer {
  readonly #session: InferenceSession;
  readonly #io: DecoderIO;
  readonly #maxBatch: number;
  readonly #queue: { req: StaticRequest; resolve: (t: number[]) => void; reject: (e: unknown) => void }[] = [];
  #running = false;
  batches = 0;

  constructor(session: InferenceSession, maxBatchSize: number) {
    if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
      throw new InvalidArgumentError(`maxBatchSize must be an integer >= 1, got ${maxBatchSize}`);
    }
    this.#session = session;
    this.#io = detectDecoder(session);
    this.#maxBatch = maxBatchSize;
  }

  generate(req: StaticRequest): Promise<number[]> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ req, resolve, reject });
      if (!this.#running) queueMicrotask(() => void this.#next());
    });
  }

  async #next(): Promise<void> {
    if (this.#running || this.#queue.length === 0) return;
    this.#running = true;
    const batch = this.#queue.splice(0, this.#maxBatch);
    this.batches++;
    try {
      const tokens = await generateStaticBatch(
        this.#session,
        this.#io,
        batch.map((b) => b.req),
      );
      batch.forEach((b, i) => b.resolve(tokens[i]!));
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
    this.#running = false;
    void this.#next();
  }
}
