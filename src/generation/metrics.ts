/**
 * Prometheus metrics of a Generator, through prom-client. Names follow vLLM's and TGI's where
 * they have one (in the help text) and Prometheus conventions (seconds, _total): tokens/s is
 * rate(generated_tokens_total) and, for dashboards without PromQL, a gauge over the last 10 s.
 * Generators sharing a registry share metric families and are told apart by constant labels.
 * Gauges are read at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import { InvalidArgumentError } from '../errors.js';

export type GenerationOutcome = 'length' | 'stop' | 'aborted' | 'error' | 'shutting_down' | 'invalid';
const OUTCOMES: readonly GenerationOutcome[] = ['length', 'stop', 'aborted', 'error', 'shutting_down', 'invalid'];

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const OCCUPANCY_BUCKETS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];

export interface GeneratorMetricsConfig {
  registry?: Registry | undefined;
  prefix?: string | undefined;
  labels?: Record<string, string> | undefined;
}

export interface GeneratorGaugeState {
  waiting: number;
  running: number;
  kvTokensInUse: number;
  tokensPerSecond: number;
}

type Inc = { inc(v?: number): void };
type Observe = { observe(v: number): void };

// A gauge's collect() is fixed when its family is made; generators joining the family later
// register their readers here.
const gaugeReaders = new WeakMap<Gauge<string>, Set<() => void>>();

export class GeneratorMetrics {
  readonly registry: Registry;
  readonly names: readonly string[];
  readonly #requests: Record<GenerationOutcome, Inc>;
  readonly #promptTokens: Inc;
  readonly #generatedTokens: Inc;
  readonly #stepsPrefill: Inc;
  readonly #stepsDecode: Inc;
  readonly #stepsFailed: Inc;
  readonly #ttft: Observe;
  readonly #itl: Observe;
  readonly #e2e: Observe;
  readonly #prefillDuration: Observe;
  readonly #decodeDuration: Observe;
  readonly #occupancy: Observe;
  readonly #gauges: { gauge: Gauge<string>; read: () => void }[] = [];

  constructor(config: GeneratorMetricsConfig, state: () => GeneratorGaugeState) {
    this.registry = config.registry ?? new Registry();
    const prefix = config.prefix ?? 'tensorrt_node_generator_';
    const labels = config.labels ?? {};
    const constNames = Object.keys(labels).sort();
    for (const reserved of ['outcome', 'kind']) {
      if (constNames.includes(reserved)) {
        throw new InvalidArgumentError(`metrics.labels must not use the label name ${JSON.stringify(reserved)}; the Generator sets it`);
      }
    }
    const names: string[] = [];
    const family = <M extends Metric<string>>(
      name: string,
      labelNames: string[],
      help: string,
      kind: new (...a: never[]) => M,
      make: (c: { name: string; help: string; labelNames: string[]; registers: Registry[] }) => M,
    ): M => {
      const full = prefix + name;
      names.push(full);
      const existing = this.registry.getSingleMetric(full);
      if (existing !== undefined) {
        const have = [...((existing as unknown as { labelNames?: string[] }).labelNames ?? [])].sort().join(',');
        if (!(existing instanceof kind) || have !== [...labelNames].sort().join(',')) {
          throw new InvalidArgumentError(
            `metrics: the registry already has a metric ${JSON.stringify(full)} of another kind or with other labels (${have || 'none'}); ` +
              'use another metrics.prefix or the same metrics.labels names',
          );
        }
        return existing as M;
      }
      return make({ name: full, help, labelNames, registers: [this.registry] });
    };
    const counter = (name: string, help: string, extra: string[] = []): Counter<string> =>
      family(name, [...constNames, ...extra], help, Counter, (c) => new Counter(c));
    const histogram = (name: string, help: string, buckets: number[], extra: string[] = []): Histogram<string> =>
      family(name, [...constNames, ...extra], help, Histogram, (c) => new Histogram({ ...c, buckets }));
    const child = <T>(m: Counter<string> | Histogram<string>, extra: Record<string, string> = {}): T =>
      (constNames.length === 0 && Object.keys(extra).length === 0 ? m : m.labels({ ...labels, ...extra })) as unknown as T;

    const requests = counter(
      'requests_total',
      'Generations settled, by outcome: length, stop, aborted (finish reasons), error (a step failed), shutting_down, invalid (vLLM: request_success_total by finished_reason)',
      ['outcome'],
    );
    this.#requests = Object.fromEntries(OUTCOMES.map((o) => [o, child<Inc>(requests, { outcome: o })])) as Record<GenerationOutcome, Inc>;
    this.#promptTokens = child(counter('prompt_tokens_total', 'Prompt tokens prefilled (vLLM: prompt_tokens_total)'));
    this.#generatedTokens = child(counter('generated_tokens_total', 'Tokens generated; rate() of it is tokens/s (vLLM: generation_tokens_total)'));
    const steps = counter('steps_total', 'Model steps run, by kind: prefill, decode, failed', ['kind']);
    this.#stepsPrefill = child(steps, { kind: 'prefill' });
    this.#stepsDecode = child(steps, { kind: 'decode' });
    this.#stepsFailed = child(steps, { kind: 'failed' });
    this.#ttft = child(histogram('time_to_first_token_seconds', 'From generate() to the first token (vLLM: time_to_first_token_seconds)', LATENCY_BUCKETS));
    this.#itl = child(
      histogram('inter_token_latency_seconds', 'Between consecutive tokens of one generation (vLLM: time_per_output_token_seconds)', LATENCY_BUCKETS),
    );
    this.#e2e = child(histogram('request_duration_seconds', 'From generate() to its last token (vLLM: e2e_request_latency_seconds)', LATENCY_BUCKETS));
    const stepDuration = histogram('step_duration_seconds', 'One model step, feeds and token choice included, by kind: prefill or decode', LATENCY_BUCKETS, [
      'kind',
    ]);
    this.#prefillDuration = child(stepDuration, { kind: 'prefill' });
    this.#decodeDuration = child(stepDuration, { kind: 'decode' });
    this.#occupancy = child(histogram('batch_occupancy', 'Per decode step, running sequences / maxBatchSize (TGI: batch_current_size)', OCCUPANCY_BUCKETS));

    const set = (g: Gauge<string>, v: number): void => {
      if (constNames.length === 0) g.set(v);
      else g.set(labels, v);
    };
    const gauge = (name: string, help: string, value: (s: GeneratorGaugeState) => number): void => {
      const g = family(
        name,
        constNames,
        help,
        Gauge,
        (c) =>
          new Gauge({
            ...c,
            collect(this: Gauge<string>) {
              for (const read of gaugeReaders.get(this) ?? []) read();
            },
          }),
      );
      let readers = gaugeReaders.get(g);
      if (!readers) gaugeReaders.set(g, (readers = new Set()));
      const read = (): void => set(g, value(state()));
      readers.add(read);
      this.#gauges.push({ gauge: g, read });
    };
    gauge('waiting_requests', 'Requests waiting to be prefilled (vLLM: num_requests_waiting)', (s) => s.waiting);
    gauge('running_sequences', 'Sequences in the running batch (vLLM: num_requests_running)', (s) => s.running);
    gauge('kv_tokens_in_use', "Token positions the batch's KV cache holds (rows x longest row)", (s) => s.kvTokensInUse);
    gauge('tokens_per_second', 'Tokens generated per second over the last 10 s', (s) => s.tokensPerSecond);
    this.names = Object.freeze(names);
  }

  outcome(o: GenerationOutcome): void {
    this.#requests[o].inc();
  }

  prefill(promptTokens: number, seconds: number): void {
    this.#stepsPrefill.inc();
    this.#promptTokens.inc(promptTokens);
    this.#prefillDuration.observe(seconds);
  }

  decode(rows: number, maxBatchSize: number, seconds: number): void {
    this.#stepsDecode.inc();
    this.#decodeDuration.observe(seconds);
    this.#occupancy.observe(rows / maxBatchSize);
  }

  stepFailed(): void {
    this.#stepsFailed.inc();
  }

  tokens(n: number): void {
    this.#generatedTokens.inc(n);
  }

  firstToken(seconds: number): void {
    this.#ttft.observe(seconds);
  }

  interToken(seconds: number): void {
    this.#itl.observe(seconds);
  }

  finished(seconds: number): void {
    this.#e2e.observe(seconds);
  }

  async text(): Promise<string> {
    for (const { read } of this.#gauges) read();
    const parts = await Promise.all(this.names.map((n) => this.registry.getSingleMetricAsString(n)));
    return parts.join('\n') + '\n';
  }

  detach(): void {
    for (const { gauge, read } of this.#gauges) {
      read();
      gaugeReaders.get(gauge)?.delete(read);
    }
  }
}
