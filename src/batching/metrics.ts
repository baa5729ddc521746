/**
 * Prometheus metrics of a DynamicBatcher, through prom-client. Names follow Prometheus
 * conventions (seconds, _total); the Triton metric each corresponds to is in its help text.
 * Batchers that share a registry share metric families and are told apart by their
 * constant labels. Gauges are read at scrape time, so they cost nothing per request.
 */
import { Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import { InvalidArgumentError } from '../errors.js';

export type Outcome = 'success' | 'error' | 'timeout' | 'aborted' | 'queue_full' | 'shutting_down' | 'invalid';
export const OUTCOMES: readonly Outcome[] = ['success', 'error', 'timeout', 'aborted', 'queue_full', 'shutting_down', 'invalid'];

const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const RATIO_BUCKETS = [0, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8];

export interface MetricsConfig {
  registry?: Registry | undefined;
  prefix?: string | undefined;
  labels?: Record<string, string> | undefined;
}

interface GaugeSources {
  readonly sources: Set<() => void>;
}

// Gauge collect() callbacks are fixed when the family is created; batchers that join the
// family later register their readers here.
const gaugeSources = new WeakMap<Gauge<string>, GaugeSources>();

type Child<T> = T extends Histogram<string> ? { observe(v: number): void } : { inc(v?: number): void };

export class BatcherMetrics {
  readonly registry: Registry;
  readonly names: readonly string[];
  readonly #requests: Record<Outcome, { inc(v?: number): void }>;
  readonly #batchesOk: { inc(v?: number): void };
  readonly #batchesFailed: { inc(v?: number): void };
  readonly #queueDuration: { observe(v: number): void };
  readonly #requestDuration: { observe(v: number): void };
  readonly #computeDuration: { observe(v: number): void };
  readonly #batchSize: { observe(v: number): void };
  readonly #paddingRatio: { observe(v: number): void };
  readonly #padded: { inc(v?: number): void };
  readonly #real: { inc(v?: number): void };
  readonly #gauges: { gauge: Gauge<string>; read: () => void }[] = [];

  constructor(config: MetricsConfig, maxBatchSize: number, state: () => { queued: number; inflightBatches: number }) {
    this.registry = config.registry ?? new Registry();
    const prefix = config.prefix ?? 'tensorrt_node_batcher_';
    const labels = config.labels ?? {};
    const constNames = Object.keys(labels).sort();
    if (constNames.includes('outcome')) {
      throw new InvalidArgumentError('metrics.labels must not use the label name "outcome"; the batcher sets it');
    }
    const names: string[] = [];

    const family = <M extends Metric<string>>(
      name: string,
      labelNames: string[],
      make: (cfg: { name: string; help: string; labelNames: string[]; registers: Registry[] }) => M,
      help: string,
      kind: new (...args: never[]) => M,
    ): M => {
      const full = prefix + name;
      names.push(full);
      const existing = this.registry.getSingleMetric(full);
      if (existing !== undefined) {
        const existingLabels = [...((existing as unknown as { labelNames?: string[] }).labelNames ?? [])].sort();
        if (!(existing instanceof kind) || existingLabels.join(',') !== [...labelNames].sort().join(',')) {
          throw new InvalidArgumentError(
            `metrics: the registry already has a metric ${JSON.stringify(full)} of another kind or with other labels ` +
              `(${existingLabels.join(', ') || 'none'}; this batcher needs ${labelNames.join(', ') || 'none'}); ` +
              'use another metrics.prefix or the same metrics.labels names',
          );
        }
        return existing as M;
      }
      return make({ name: full, help, labelNames, registers: [this.registry] });
    };

    const counter = (name: string, help: string, extra: string[] = []): Counter<string> =>
      family(name, [...constNames, ...extra], (c) => new Counter(c), help, Counter);
    const histogram = (name: string, help: string, buckets: number[]): Histogram<string> =>
      family(name, constNames, (c) => new Histogram({ ...c, buckets }), help, Histogram);
    const child = <T extends Counter<string> | Histogram<string>>(m: T, extra: Record<string, string> = {}): Child<T> =>
      constNames.length === 0 && Object.keys(extra).length === 0 ? (m as unknown as Child<T>) : (m.labels({ ...labels, ...extra }) as unknown as Child<T>);

    const requests = counter(
      'requests_total',
      'Requests settled, by outcome: success, error (the batch failed), timeout, aborted, queue_full, shutting_down, invalid (Triton: nv_inference_request_success / nv_inference_request_failure)',
      ['outcome'],
    );
    this.#requests = Object.fromEntries(OUTCOMES.map((o) => [o, child(requests, { outcome: o })])) as Record<Outcome, { inc(v?: number): void }>;
    const batches = counter('batches_total', 'Batches run on the session, by outcome: success or error (Triton: nv_inference_exec_count)', ['outcome']);
    this.#batchesOk = child(batches, { outcome: 'success' });
    this.#batchesFailed = child(batches, { outcome: 'error' });
    this.#queueDuration = child(
      histogram(
        'queue_duration_seconds',
        'Time a request waited in the queue before its batch was sent (Triton: nv_inference_queue_duration_us)',
        LATENCY_BUCKETS,
      ),
    );
    this.#requestDuration = child(
      histogram('request_duration_seconds', 'Time from run() to a successful result (Triton: nv_inference_request_duration_us)', LATENCY_BUCKETS),
    );
    this.#computeDuration = child(
      histogram(
        'compute_duration_seconds',
        'Time a batch spent in session.run(), padding and splitting excluded (Triton: nv_inference_compute_infer_duration_us)',
        LATENCY_BUCKETS,
      ),
    );
    const sizeBuckets: number[] = [];
    for (let b = 1; b < maxBatchSize; b *= 2) sizeBuckets.push(b);
    sizeBuckets.push(maxBatchSize);
    this.#batchSize = child(
      histogram('batch_size', 'Samples per batch sent to the session (Triton: nv_inference_count / nv_inference_exec_count)', sizeBuckets),
    );
    this.#paddingRatio = child(
      histogram('padding_ratio', 'Per batch, padded elements / real elements of the padded inputs (no Triton equivalent)', RATIO_BUCKETS),
    );
    this.#padded = child(counter('padded_elements_total', 'Input elements added as padding'));
    this.#real = child(counter('real_elements_total', 'Input elements that came from requests, in padded inputs'));

    const gauge = (name: string, help: string, read: (g: Gauge<string>) => void): void => {
      const g = family(
        name,
        constNames,
        (c) =>
          new Gauge({
            ...c,
            collect(this: Gauge<string>) {
              for (const f of gaugeSources.get(this)?.sources ?? []) f();
            },
          }),
        help,
        Gauge,
      );
      let entry = gaugeSources.get(g);
      if (entry === undefined) gaugeSources.set(g, (entry = { sources: new Set() }));
      const f = (): void => read(g);
      entry.sources.add(f);
      this.#gauges.push({ gauge: g, read: f });
    };
    const set = (g: Gauge<string>, v: number): void => {
      if (constNames.length === 0) g.set(v);
      else g.set(labels, v);
    };
    gauge('queue_size', 'Requests waiting in the queue (Triton: nv_inference_pending_request_count)', (g) => set(g, state().queued));
    gauge('inflight_batches', 'Batches running on the session', (g) => set(g, state().inflightBatches));
    this.names = Object.freeze(names);
  }

  outcome(o: Outcome, n = 1): void {
    this.#requests[o].inc(n);
  }

  queued(seconds: number): void {
    this.#queueDuration.observe(seconds);
  }

  succeeded(seconds: number): void {
    this.#requestDuration.observe(seconds);
  }

  batch(size: number, computeSeconds: number, ok: boolean): void {
    (ok ? this.#batchesOk : this.#batchesFailed).inc();
    this.#batchSize.observe(size);
    this.#computeDuration.observe(computeSeconds);
  }

  padding(real: number, padded: number): void {
    this.#paddingRatio.observe(real > 0 ? padded / real : 0);
    if (padded > 0) this.#padded.inc(padded);
    this.#real.inc(real);
  }

  /** This batcher's metrics in Prometheus text format. */
  async text(): Promise<string> {
    // Read gauges once more so a closed batcher reports its final values.
    for (const { read } of this.#gauges) read();
    const parts = await Promise.all(this.names.map((n) => this.registry.getSingleMetricAsString(n)));
    return parts.join('\n') + '\n';
  }

  /** Stops reading this batcher's state into the gauges (after a final read). */
  detach(): void {
    for (const { gauge, read } of this.#gauges) {
      read();
      gaugeSources.get(gauge)?.sources.delete(read);
    }
  }
}
